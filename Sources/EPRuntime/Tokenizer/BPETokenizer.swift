import Foundation

/// A GPT-2 style byte-level BPE tokenizer (GGUF `tokenizer.ggml.model` = `gpt2`) whose ids equal Hugging Face
/// `tokenizers` for the same vocabulary, merges and pre-tokenizer.
///
/// Encoding: special tokens are cut out as literal text first (control tokens only when `parseSpecial` is set,
/// user-defined tokens always); the text between them is put in NFC where the pre-tokenizer asks for it
/// (`qwen2`), split by the `PreTokenizer`, and each piece's UTF-8 bytes are merged by rank, lowest first. Bytes
/// whose single-byte token is missing from the vocabulary are dropped, as HF and llama.cpp do. Merged pieces are
/// kept in a bounded cache shared by all calls, so a tokenizer is safe to use from several threads.
///
/// Decoding maps ids back to bytes (control and user-defined tokens as their text) and reads them as UTF-8,
/// replacing ill-formed sequences with U+FFFD.
public final class BPETokenizer: Sendable {
    /// How text is split before merging.
    public let preTokenizer: PreTokenizer
    /// The beginning-of-sequence token, if the vocabulary names one.
    public let bosID: Int32?
    /// The end-of-sequence token, if the vocabulary names one.
    public let eosID: Int32?
    /// The unknown token, if the vocabulary names one (byte-level BPE never produces it).
    public let unknownID: Int32?
    /// The padding token, if the vocabulary names one.
    public let paddingID: Int32?
    /// Whether `encode` with `addSpecial` puts `bosID` first.
    public let addsBOS: Bool
    /// Whether `encode` with `addSpecial` puts `eosID` last.
    public let addsEOS: Bool
    /// The Jinja chat template of the model (`tokenizer.chat_template`), for a chat formatter.
    public let chatTemplate: String?

    private let tokens: [String]
    private let types: [TokenType]
    /// The token of each single byte, or -1 when the vocabulary has none (such bytes are dropped).
    private let byteTokens: [Int32]
    private let merges: MergeTable
    /// Byte strings of whole vocabulary entries, for `PreTokenizer.ignoresMerges`; empty otherwise.
    private let wholePieces: [PieceKey: Int32]
    private let specials: SpecialTokenMatcher
    /// The entries, their types and the bytes each decodes to.
    private let vocabulary: TokenVocabulary
    private let cache = WordCache(capacity: 1 << 16)

    /// The number of entries in the vocabulary.
    public var vocabularySize: Int { tokens.count }

    /// Builds the tokenizer of a GGUF file from its `tokenizer.*` metadata. `preTokenizer` overrides
    /// `tokenizer.ggml.pre`. Throws a one-line message for an unsupported tokenizer model (only `gpt2` byte-level BPE
    /// is supported) or pre-tokenizer, or malformed metadata.
    public convenience init(gguf: GGUFFile, preTokenizer: PreTokenizer? = nil) throws {
        let fail = gguf.tokenizerError, strings = gguf.tokenizerStrings, id = gguf.tokenID

        guard let model = gguf.metadata["tokenizer.ggml.model"]?.string else {
            throw fail("no tokenizer (metadata 'tokenizer.ggml.model' is missing)")
        }
        guard model == "gpt2" else {
            throw fail("tokenizer model '\(model)' is not supported; supported: gpt2 (byte-level BPE)")
        }
        let pre: PreTokenizer
        if let preTokenizer {
            pre = preTokenizer
        } else {
            guard let name = gguf.metadata["tokenizer.ggml.pre"]?.string else {
                throw fail("metadata 'tokenizer.ggml.pre' is missing; supported pre-tokenizers: \(PreTokenizer.supportedNames)")
            }
            do { pre = try PreTokenizer(ggufName: name) } catch let error as TokenizerError { throw fail(error.message) }
        }
        let tokens = try strings("tokenizer.ggml.tokens")
        let types = try gguf.tokenTypes()
        do {
            try self.init(
                tokens: tokens, types: types, merges: try strings("tokenizer.ggml.merges"), preTokenizer: pre,
                bosID: id("tokenizer.ggml.bos_token_id"), eosID: id("tokenizer.ggml.eos_token_id"),
                unknownID: id("tokenizer.ggml.unknown_token_id"), paddingID: id("tokenizer.ggml.padding_token_id"),
                addsBOS: gguf.metadata["tokenizer.ggml.add_bos_token"]?.bool ?? pre.addsBOSByDefault,
                addsEOS: gguf.metadata["tokenizer.ggml.add_eos_token"]?.bool ?? false,
                chatTemplate: gguf.metadata["tokenizer.chat_template"]?.string)
        } catch let error as TokenizerError {
            throw fail(error.message)
        }
    }

    /// Builds a tokenizer from plain arrays: `tokens[id]` in the byte-level alphabet (`ByteLevel`), `types[id]`
    /// (empty means all normal), and `merges` as `"left right"` lines, highest priority first.
    public init(
        tokens: [String], types: [TokenType] = [], merges: [String], preTokenizer: PreTokenizer,
        bosID: Int32? = nil, eosID: Int32? = nil, unknownID: Int32? = nil, paddingID: Int32? = nil,
        addsBOS: Bool = false, addsEOS: Bool = false, chatTemplate: String? = nil
    ) throws {
        guard !tokens.isEmpty, tokens.count < Int(Int32.max) else { throw TokenizerError("the vocabulary has \(tokens.count) tokens") }
        guard types.isEmpty || types.count == tokens.count else {
            throw TokenizerError("\(types.count) token types for \(tokens.count) tokens")
        }
        for (name, id) in [("bos", bosID), ("eos", eosID), ("unknown", unknownID), ("padding", paddingID)] {
            if let id, id < 0 || Int(id) >= tokens.count {
                throw TokenizerError("the \(name) token id \(id) is outside the vocabulary of \(tokens.count) tokens")
            }
        }
        let types = types.isEmpty ? [TokenType](repeating: .normal, count: tokens.count) : types
        var ids: [String: Int32] = [:]
        ids.reserveCapacity(tokens.count)
        for (id, token) in tokens.enumerated() where ids[token] == nil { ids[token] = Int32(id) }

        var byteTokens = [Int32](repeating: -1, count: 256)
        for byte in 0..<256 {
            byteTokens[byte] = ids[String(Character(ByteLevel.characterForByte[byte]))] ?? -1
        }

        var table = MergeTable(count: merges.count)
        for (rank, line) in merges.enumerated() {
            let parts = line.utf8.firstIndex(of: 0x20).flatMap { space -> (Substring, Substring)? in
                space == line.utf8.startIndex ? nil : (line[..<space], line[line.utf8.index(after: space)...])
            }
            guard let (left, right) = parts, !right.isEmpty, let l = ids[String(left)], let r = ids[String(right)],
                  let merged = ids[String(left) + String(right)] else {
                throw TokenizerError("merge \(rank) \"\(line)\" is not two vocabulary entries whose concatenation is one")
            }
            table.insertIfAbsent(l, r, rank: Int32(rank), merged: merged)
        }

        var wholePieces: [PieceKey: Int32] = [:]
        let vocabulary = TokenVocabulary(pieces: tokens, types: types) { id, token in
            let mapped = ByteLevel.bytes(of: token)
            if preTokenizer.ignoresMerges, let mapped, wholePieces[PieceKey(bytes: mapped)] == nil {
                wholePieces[PieceKey(bytes: mapped)] = Int32(id)
            }
            let special = types[id] == .control || types[id] == .userDefined
            return special ? Array(token.utf8) : mapped ?? Array(token.utf8)
        }

        self.tokens = tokens
        self.types = types
        self.preTokenizer = preTokenizer
        self.bosID = bosID
        self.eosID = eosID
        self.unknownID = unknownID
        self.paddingID = paddingID
        self.addsBOS = addsBOS
        self.addsEOS = addsEOS
        self.chatTemplate = chatTemplate
        self.byteTokens = byteTokens
        self.merges = table
        self.wholePieces = wholePieces
        self.specials = SpecialTokenMatcher(tokens: tokens, types: types)
        self.vocabulary = vocabulary
    }

    // MARK: Encoding

    /// The ids of `text`, parsing special tokens and adding BOS/EOS as the model's metadata asks (what HF's
    /// `encode(text)` and llama.cpp's `llama_tokenize(add_special: true, parse_special: true)` give).
    public func encode(_ text: String) -> [Int32] {
        encode(text, parseSpecial: true, addSpecial: true)
    }

    /// The ids of `text`. With `parseSpecial` false, control tokens such as `<|im_start|>` written in the text are
    /// tokenized as ordinary text. With `addSpecial`, BOS and EOS are added when `addsBOS` / `addsEOS` say so.
    ///
    /// Bytes are taken as the UTF-8 of `text`: callers reading bytes from a file decode them with
    /// `String(decoding:as: UTF8.self)`, which turns ill-formed sequences into U+FFFD before tokenizing (as Python's
    /// `bytes.decode('utf-8', 'replace')` does for HF).
    public func encode(_ text: String, parseSpecial: Bool, addSpecial: Bool) -> [Int32] {
        var ids: [Int32] = []
        ids.reserveCapacity(text.utf8.count / 3 + 2)
        if addSpecial, addsBOS, let bosID { ids.append(bosID) }
        var text = text
        text.withUTF8 { utf8 in
            var scratch = Scratch()
            var start = 0, i = 0
            while i < utf8.count {
                if let special = specials.match(utf8, at: i, parseSpecial: parseSpecial) {
                    encodeOrdinary(utf8, start, i, into: &ids, &scratch)
                    ids.append(special.id)
                    i += special.length
                    start = i
                } else {
                    i += 1
                }
            }
            encodeOrdinary(utf8, start, utf8.count, into: &ids, &scratch)
        }
        if addSpecial, addsEOS, let eosID { ids.append(eosID) }
        return ids
    }

    /// Buffers reused across the pieces of one encode call.
    private struct Scratch {
        var ends: [Int] = []
        var merge = MergeScratch()
    }

    /// Encodes `text[lo..<hi]`, which holds no special token.
    private func encodeOrdinary(_ text: UnsafeBufferPointer<UInt8>, _ lo: Int, _ hi: Int, into ids: inout [Int32], _ scratch: inout Scratch) {
        guard lo < hi else { return }
        // Text of scalars below U+0300 (UTF-8 bytes below 0xCC) is already NFC: none of them decomposes or composes.
        if preTokenizer.normalizesToNFC, text[lo..<hi].contains(where: { $0 >= 0xCC }) {
            var normalized = String(decoding: UnsafeBufferPointer(rebasing: text[lo..<hi]), as: UTF8.self)
                .precomposedStringWithCanonicalMapping
            normalized.withUTF8 { encodePieces($0, 0, $0.count, into: &ids, &scratch) }
        } else {
            encodePieces(text, lo, hi, into: &ids, &scratch)
        }
    }

    private func encodePieces(_ text: UnsafeBufferPointer<UInt8>, _ lo: Int, _ hi: Int, into ids: inout [Int32], _ scratch: inout Scratch) {
        scratch.ends.removeAll(keepingCapacity: true)
        preTokenizer.split(text, lo, hi, into: &scratch.ends)
        var start = lo
        for end in scratch.ends {
            encodePiece(UnsafeBufferPointer(rebasing: text[start..<end]), into: &ids, &scratch.merge)
            start = end
        }
    }

    private func encodePiece(_ piece: UnsafeBufferPointer<UInt8>, into ids: inout [Int32], _ scratch: inout MergeScratch) {
        if piece.count == 1 {
            let id = byteTokens[Int(piece[0])]
            if id >= 0 { ids.append(id) }
            return
        }
        guard piece.count <= WordCache.maxPieceLength else {
            ids.append(contentsOf: scratch.merge(piece, byteTokens: byteTokens, merges: merges))
            return
        }
        let key = PieceKey(bytes: Array(piece))
        if preTokenizer.ignoresMerges, let id = wholePieces[key] {
            ids.append(id)
        } else if let cached = cache.ids(for: key) {
            ids.append(contentsOf: cached)
        } else {
            let merged = scratch.merge(piece, byteTokens: byteTokens, merges: merges)
            cache.store(merged, for: key)
            ids.append(contentsOf: merged)
        }
    }

    // MARK: Decoding

    /// The text of `ids`: special tokens as their text, ill-formed UTF-8 replaced by U+FFFD, and ids outside the
    /// vocabulary as U+FFFD.
    public func decode(_ ids: [Int32]) -> String {
        String(decoding: vocabulary.decodedBytes(ids), as: UTF8.self)
    }

    /// The bytes token `id` stands for (a special token's text), or nil for an id outside the vocabulary.
    public func tokenBytes(_ id: Int32) -> [UInt8]? { vocabulary.bytes(of: id) }

    /// The vocabulary entry of `id` as written in the model (`Ġworld` for " world"; HF's `id_to_token`), or nil for
    /// an id outside the vocabulary.
    public func tokenPiece(_ id: Int32) -> String? { vocabulary.piece(id) }

    /// The type of token `id`, or nil for an id outside the vocabulary.
    public func tokenType(_ id: Int32) -> TokenType? { vocabulary.type(id) }
}
