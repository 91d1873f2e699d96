import EPFormats
import Foundation

/// A SentencePiece-style tokenizer: spaces become `▁` (U+2581), and the text is cut into vocabulary pieces by BPE
/// over Unicode characters (merges from a `tokenizer.json`, or derived from the pieces' scores for a GGUF
/// `tokenizer.ggml.model = llama` vocabulary, as Hugging Face's SentencePiece converter derives them) or by Unigram
/// (the Viterbi path of highest total score). Characters without a piece become byte tokens (`<0x0A>`) when the
/// vocabulary has them (byte fallback), else the unknown token. Ids equal Hugging Face `tokenizers` for the same
/// model.
///
/// Encoding: special tokens are cut out as literal text first (control tokens only when `parseSpecial` is set,
/// user-defined tokens always); each piece of text between them gets the `▁` prefix the model asks for, has its
/// spaces replaced by `▁`, is split before each `▁` when the model splits words (Metaspace `split`), and is
/// tokenized. Decoding maps byte tokens to their bytes, `▁` to a space, and drops the leading space the prefix added.
public final class SentencePieceTokenizer: Sendable {
    /// How pieces are found.
    public enum Algorithm: String, Sendable {
        /// Merge adjacent pieces by rank, lowest first (leftmost among equals).
        case bpe = "BPE"
        /// The segmentation of highest total score (Viterbi).
        case unigram = "Unigram"
    }

    /// Where a `▁` is put in front of the text.
    public enum SpacePrefix: String, Sendable {
        /// Never.
        case never
        /// Before the first piece of text of an input only.
        case first
        /// Before every piece of text between special tokens.
        case always
    }

    /// The segmentation algorithm.
    public let algorithm: Algorithm
    /// The `▁` prefix rule.
    public let spacePrefix: SpacePrefix
    /// Whether text is split before each `▁` before segmentation (HF Metaspace `split: true`).
    public let splitsWords: Bool
    /// Whether the prefix is added even to text that starts with a space (HF `Prepend` normalizer: yes; HF
    /// `Metaspace`: no).
    public let prefixesSpacedText: Bool
    /// The beginning-of-sequence token, if the vocabulary names one.
    public let bosID: Int32?
    /// The end-of-sequence token, if the vocabulary names one.
    public let eosID: Int32?
    /// The unknown token, if the vocabulary names one.
    public let unknownID: Int32?
    /// Whether `encode` with `addSpecial` puts `bosID` first.
    public let addsBOS: Bool
    /// Whether `encode` with `addSpecial` puts `eosID` last.
    public let addsEOS: Bool

    private let tokens: [String]
    private let types: [TokenType]
    /// Pieces by their UTF-8 bytes.
    private let pieceIDs: [PieceKey: Int32]
    /// Single-character pieces by their scalar value (the first symbols of BPE).
    private let characterIDs: [UInt32: Int32]
    /// The `<0xXX>` token of each byte, or -1.
    private let byteTokens: [Int32]
    private let merges: MergeTable
    /// Unigram scores by id (in Double, as HF sums them), the longest piece in scalars, and the score of an unknown
    /// character.
    private let scores: [Double]
    private let longestPiece: Int
    private let unknownScore: Double
    /// Whether consecutive unknown characters become one unknown token (HF `fuse_unk`).
    private let fusesUnknown: Bool
    private let specials: SpecialTokenMatcher
    /// The entries, their types and the bytes each decodes to.
    private let vocabulary: TokenVocabulary

    /// The number of entries in the vocabulary.
    public var vocabularySize: Int { tokens.count }

    /// Builds a tokenizer from plain arrays: `tokens[id]` with `▁` for spaces and `<0xXX>` byte tokens, `types[id]`
    /// (empty: byte tokens recognised by their form, all others normal), for BPE `merges` as (left, right) pairs
    /// highest priority first — or nil to derive them from `scores` — and for Unigram the `scores`.
    public init(
        algorithm: Algorithm, tokens: [String], types: [TokenType] = [], scores: [Double] = [], merges: [(String, String)]? = nil,
        spacePrefix: SpacePrefix, prefixesSpacedText: Bool = true, splitsWords: Bool = false, bosID: Int32? = nil, eosID: Int32? = nil, unknownID: Int32? = nil,
        addsBOS: Bool = false, addsEOS: Bool = false, fusesUnknown: Bool = true, byteFallback: Bool = true
    ) throws {
        guard !tokens.isEmpty, tokens.count < Int(Int32.max) else { throw TokenizerError("the vocabulary has \(tokens.count) tokens") }
        guard types.isEmpty || types.count == tokens.count else { throw TokenizerError("\(types.count) token types for \(tokens.count) tokens") }
        guard scores.isEmpty || scores.count == tokens.count else { throw TokenizerError("\(scores.count) scores for \(tokens.count) tokens") }
        if algorithm == .unigram, let bad = scores.firstIndex(where: { !$0.isFinite }) {
            throw TokenizerError("token \(bad) has the score \(scores[bad]), expected a finite number")
        }
        for (name, id) in [("bos", bosID), ("eos", eosID), ("unknown", unknownID)] {
            if let id, id < 0 || Int(id) >= tokens.count {
                throw TokenizerError("the \(name) token id \(id) is outside the vocabulary of \(tokens.count) tokens")
            }
        }
        var pieceIDs: [PieceKey: Int32] = [:]
        pieceIDs.reserveCapacity(tokens.count)
        var byteTokens = [Int32](repeating: -1, count: 256)
        var resolvedTypes: [TokenType] = []
        resolvedTypes.reserveCapacity(tokens.count)
        var longest = 1
        for (id, token) in tokens.enumerated() {
            let key = PieceKey(bytes: Array(token.utf8))
            if pieceIDs[key] == nil { pieceIDs[key] = Int32(id) }
            var type = types.isEmpty ? TokenType.normal : types[id]
            if let byte = Self.byteValue(token), type == .normal || type == .byte {
                if byteFallback && byteTokens[Int(byte)] < 0 { byteTokens[Int(byte)] = Int32(id) }
                type = .byte
            }
            resolvedTypes.append(type)
            longest = max(longest, token.unicodeScalars.count)
        }

        var table = MergeTable(count: merges?.count ?? tokens.count)
        if algorithm == .bpe {
            if let merges {
                for (rank, (left, right)) in merges.enumerated() {
                    guard let l = pieceIDs[PieceKey(bytes: Array(left.utf8))], let r = pieceIDs[PieceKey(bytes: Array(right.utf8))],
                          let merged = pieceIDs[PieceKey(bytes: Array((left + right).utf8))] else {
                        throw TokenizerError("merge \(rank) \"\(left) \(right)\" is not two vocabulary entries whose concatenation is one")
                    }
                    table.insertIfAbsent(l, r, rank: Int32(rank), merged: merged)
                }
            } else {
                guard scores.count == tokens.count else { throw TokenizerError("a BPE vocabulary without merges needs a score per token") }
                table = Self.mergesFromScores(tokens: tokens, scores: scores, ids: pieceIDs)
            }
        }

        let vocabulary = TokenVocabulary(pieces: tokens, types: resolvedTypes) { id, token in
            switch resolvedTypes[id] {
            case .byte where Self.byteValue(token) != nil: [Self.byteValue(token)!]
            case .control, .userDefined, .unknown: Array(token.utf8)
            default: Array(token.replacingOccurrences(of: "\u{2581}", with: " ").utf8)
            }
        }

        self.algorithm = algorithm
        self.spacePrefix = spacePrefix
        self.splitsWords = splitsWords
        self.prefixesSpacedText = prefixesSpacedText
        self.bosID = bosID
        self.eosID = eosID
        self.unknownID = unknownID
        self.addsBOS = addsBOS
        self.addsEOS = addsEOS
        self.tokens = tokens
        self.types = resolvedTypes
        self.pieceIDs = pieceIDs
        var characterIDs: [UInt32: Int32] = [:]
        for (id, token) in tokens.enumerated() {
            let scalars = token.unicodeScalars
            if scalars.count == 1, characterIDs[scalars.first!.value] == nil { characterIDs[scalars.first!.value] = Int32(id) }
        }
        self.characterIDs = characterIDs
        self.byteTokens = byteTokens
        self.merges = table
        self.scores = scores
        longestPiece = longest
        unknownScore = (scores.min() ?? 0) - 10
        self.fusesUnknown = fusesUnknown
        specials = SpecialTokenMatcher(tokens: tokens, types: resolvedTypes)
        self.vocabulary = vocabulary
    }

    /// The byte of a `<0xXX>` piece, or nil.
    static func byteValue(_ token: String) -> UInt8? {
        let u = Array(token.utf8)
        guard u.count == 6, u[0] == 0x3C, u[1] == 0x30, u[2] == 0x78, u[5] == 0x3E else { return nil }
        return UInt8(String(decoding: u[3..<5], as: UTF8.self), radix: 16)
    }

    /// BPE merges of a SentencePiece vocabulary, as Hugging Face's converter derives them: every split of every
    /// piece into two pieces is a merge, ranked by the merged piece's score (highest first), then by the merged
    /// piece's id, then by the ids of the left and right parts.
    static func mergesFromScores(tokens: [String], scores: [Double], ids: [PieceKey: Int32]) -> MergeTable {
        var candidates: [(score: Double, merged: Int32, left: Int32, right: Int32)] = []
        for (id, token) in tokens.enumerated() {
            let bytes = Array(token.utf8)
            guard bytes.count > 1 else { continue }
            for cut in 1..<bytes.count where bytes[cut] & 0xC0 != 0x80 {
                guard let l = ids[PieceKey(bytes: Array(bytes[..<cut]))], let r = ids[PieceKey(bytes: Array(bytes[cut...]))] else { continue }
                candidates.append((scores[id], Int32(id), l, r))
            }
        }
        candidates.sort { a, b in
            if a.score != b.score { return a.score > b.score }
            if a.merged != b.merged { return a.merged < b.merged }
            return (a.left, a.right) < (b.left, b.right)
        }
        var table = MergeTable(count: candidates.count)
        for (rank, c) in candidates.enumerated() { table.insertIfAbsent(c.left, c.right, rank: Int32(rank), merged: c.merged) }
        return table
    }

    // MARK: Encoding

    /// The ids of `text`, parsing special tokens and adding BOS/EOS as the model asks.
    public func encode(_ text: String) -> [Int32] {
        encode(text, parseSpecial: true, addSpecial: true)
    }

    /// The ids of `text`. With `parseSpecial` false, control tokens written in the text are tokenized as ordinary
    /// text. With `addSpecial`, BOS and EOS are added when `addsBOS` / `addsEOS` say so.
    public func encode(_ text: String, parseSpecial: Bool, addSpecial: Bool) -> [Int32] {
        var ids: [Int32] = []
        if addSpecial, addsBOS, let bosID { ids.append(bosID) }
        var text = text
        text.withUTF8 { utf8 in
            var start = 0, i = 0
            while i < utf8.count {
                if let special = specials.match(utf8, at: i, parseSpecial: parseSpecial) {
                    encodeSegment(utf8, start, i, first: start == 0, into: &ids)
                    ids.append(special.id)
                    i += special.length
                    start = i
                } else {
                    i += 1
                }
            }
            encodeSegment(utf8, start, utf8.count, first: start == 0, into: &ids)
        }
        if addSpecial, addsEOS, let eosID { ids.append(eosID) }
        return ids
    }

    /// Normalises and tokenizes `text[lo..<hi]`, which holds no special token.
    private func encodeSegment(_ text: UnsafeBufferPointer<UInt8>, _ lo: Int, _ hi: Int, first: Bool, into ids: inout [Int32]) {
        guard lo < hi else { return }
        var normalized: [UInt8] = []
        normalized.reserveCapacity(hi - lo + 3)
        if spacePrefix == .always || (spacePrefix == .first && first), prefixesSpacedText || text[lo] != 0x20 {
            normalized += [0xE2, 0x96, 0x81]
        }
        for b in text[lo..<hi] {
            if b == 0x20 { normalized += [0xE2, 0x96, 0x81] } else { normalized.append(b) }
        }
        guard splitsWords else { return encodePiece(normalized[...], into: &ids) }
        var start = 0, i = 0
        while i < normalized.count {
            if i > start, i + 2 < normalized.count, normalized[i] == 0xE2, normalized[i + 1] == 0x96, normalized[i + 2] == 0x81 {
                encodePiece(normalized[start..<i], into: &ids)
                start = i
            }
            i += 1
        }
        encodePiece(normalized[start...], into: &ids)
    }

    /// The scalars of a piece as (byte offset, byte length) pairs.
    private static func scalarBounds(_ piece: ArraySlice<UInt8>) -> [(start: Int, length: Int)] {
        var bounds: [(Int, Int)] = []
        var i = piece.startIndex
        while i < piece.endIndex {
            let b = piece[i]
            let n = b < 0x80 ? 1 : b < 0xE0 ? 2 : b < 0xF0 ? 3 : 4
            bounds.append((i, min(n, piece.endIndex - i)))
            i += n
        }
        return bounds
    }

    private func encodePiece(_ piece: ArraySlice<UInt8>, into ids: inout [Int32]) {
        guard !piece.isEmpty else { return }
        switch algorithm {
        case .bpe: encodeBPE(piece, into: &ids)
        case .unigram: encodeUnigram(piece, into: &ids)
        }
    }

    /// Appends the tokens of an unknown character: its byte tokens when they all exist, else the unknown token
    /// (fused with a preceding one when `fusesUnknown`).
    private func appendUnknown(_ bytes: ArraySlice<UInt8>, to symbols: inout [Int32], previousWasUnknown: inout Bool) {
        let fallback = bytes.map { byteTokens[Int($0)] }
        if !fallback.isEmpty, fallback.allSatisfy({ $0 >= 0 }) {
            symbols += fallback
            previousWasUnknown = false
        } else if let unknownID {
            if !(fusesUnknown && previousWasUnknown) { symbols.append(unknownID) }
            previousWasUnknown = true
        }
    }

    private func encodeBPE(_ piece: ArraySlice<UInt8>, into ids: inout [Int32]) {
        var symbols: [Int32] = []
        var previousWasUnknown = false
        for (start, length) in Self.scalarBounds(piece) {
            let bytes = piece[start..<(start + length)]
            var value = UInt32(bytes.first!)
            if length > 1 {
                value &= UInt32(0xFF >> (length + 1))
                for b in bytes.dropFirst() { value = value << 6 | UInt32(b & 0x3F) }
            }
            if let id = characterIDs[value] {
                symbols.append(id)
                previousWasUnknown = false
            } else {
                appendUnknown(bytes, to: &symbols, previousWasUnknown: &previousWasUnknown)
            }
        }
        var scratch = MergeScratch()
        ids += scratch.merge(symbols: symbols, merges: merges)
    }

    /// Viterbi over the scalars of `piece`: at each position, every vocabulary piece that starts there (shorter
    /// first; the first of equal scores wins), and an unknown-character step when no single-character piece does.
    private func encodeUnigram(_ piece: ArraySlice<UInt8>, into ids: inout [Int32]) {
        let bounds = Self.scalarBounds(piece)
        let n = bounds.count
        var best = [Double](repeating: -.infinity, count: n + 1)
        var from = [Int](repeating: -1, count: n + 1)
        var token = [Int32](repeating: -1, count: n + 1)
        best[0] = 0
        // Every position is expanded once reached, whatever its score: sums of very negative scores may reach
        // -infinity, and the end must still be reached.
        for i in 0..<n where i == 0 || from[i] >= 0 {
            var hasSingle = false
            for length in 1...min(longestPiece, n - i) {
                let lo = bounds[i].start, hi = bounds[i + length - 1].start + bounds[i + length - 1].length
                guard let id = pieceIDs[PieceKey(bytes: Array(piece[lo..<hi]))] else { continue }
                if length == 1 { hasSingle = true }
                let score = best[i] + scores[Int(id)]
                if from[i + length] < 0 || score > best[i + length] {
                    best[i + length] = score
                    from[i + length] = i
                    token[i + length] = id
                }
            }
            if !hasSingle {
                let score = best[i] + unknownScore
                if from[i + 1] < 0 || score > best[i + 1] {
                    best[i + 1] = score
                    from[i + 1] = i
                    token[i + 1] = -1
                }
            }
        }
        var path: [(start: Int, end: Int, id: Int32)] = []
        var end = n
        while end > 0 {
            path.append((from[end], end, token[end]))
            end = from[end]
        }
        var symbols: [Int32] = []
        var previousWasUnknown = false
        for step in path.reversed() {
            if step.id >= 0 {
                symbols.append(step.id)
                previousWasUnknown = false
            } else {
                let lo = bounds[step.start].start, hi = bounds[step.end - 1].start + bounds[step.end - 1].length
                appendUnknown(piece[lo..<hi], to: &symbols, previousWasUnknown: &previousWasUnknown)
            }
        }
        ids += symbols
    }

    // MARK: Decoding

    /// The text of `ids`: byte tokens as their bytes, `▁` as spaces (less the one the prefix added at the start),
    /// special tokens as their text, ill-formed UTF-8 replaced by U+FFFD, and ids outside the vocabulary as U+FFFD.
    public func decode(_ ids: [Int32]) -> String {
        var bytes = vocabulary.decodedBytes(ids)
        if spacePrefix != .never, let firstID = ids.first, vocabulary.type(firstID) == .normal, bytes.first == 0x20 {
            bytes.removeFirst()
        }
        return String(decoding: bytes, as: UTF8.self)
    }

    /// The bytes token `id` stands for (`▁` as a space, a byte token as its byte, a special token's text), or nil
    /// for an id outside the vocabulary.
    public func tokenBytes(_ id: Int32) -> [UInt8]? { vocabulary.bytes(of: id) }

    /// The vocabulary entry of `id` as written in the model (`▁world`), or nil for an id outside the vocabulary.
    public func tokenPiece(_ id: Int32) -> String? { vocabulary.piece(id) }

    /// The type of token `id`, or nil for an id outside the vocabulary.
    public func tokenType(_ id: Int32) -> TokenType? { vocabulary.type(id) }
}


extension SentencePieceTokenizer {
    /// Builds the tokenizer of a GGUF file whose `tokenizer.ggml.model` is `llama` (SentencePiece, as Gemma and
    /// Llama 2 files have): tokens, scores (BPE merges are derived from them), token types, BOS/EOS/unknown ids,
    /// `add_bos_token`, `add_eos_token` and `add_space_prefix` (default true, as llama.cpp).
    public convenience init(gguf: GGUFFile) throws {
        let fail = gguf.tokenizerError, id = gguf.tokenID
        guard let model = gguf.metadata["tokenizer.ggml.model"]?.string, model == "llama" else {
            throw fail("not a SentencePiece vocabulary (tokenizer.ggml.model must be 'llama')")
        }
        let tokens = try gguf.tokenizerStrings("tokenizer.ggml.tokens")
        guard let scoreValues = gguf.metadata["tokenizer.ggml.scores"]?.array, scoreValues.count == tokens.count else {
            throw fail("metadata 'tokenizer.ggml.scores' is missing or does not have one score per token")
        }
        let scores = try scoreValues.map { value in
            guard let d = value.double else { throw fail("metadata 'tokenizer.ggml.scores' should hold numbers, found \(value.typeName)") }
            return d
        }
        let types = try gguf.tokenTypes()
        do {
            try self.init(
                algorithm: .bpe, tokens: tokens, types: types, scores: scores, merges: nil,
                spacePrefix: gguf.metadata["tokenizer.ggml.add_space_prefix"]?.bool ?? true ? .always : .never,
                bosID: id("tokenizer.ggml.bos_token_id"), eosID: id("tokenizer.ggml.eos_token_id"),
                unknownID: id("tokenizer.ggml.unknown_token_id"),
                addsBOS: gguf.metadata["tokenizer.ggml.add_bos_token"]?.bool ?? true,
                addsEOS: gguf.metadata["tokenizer.ggml.add_eos_token"]?.bool ?? false)
        } catch let error as TokenizerError {
            throw fail(error.message)
        }
    }
}
