import EPFormats
import Foundation

/// Builds a tokenizer from a Hugging Face `tokenizer.json`.
///
/// Supported: a BPE model with a byte-level pre-tokenizer whose pipeline is one of ``PreTokenizer``'s families
/// (GPT-2, SmolLM, Llama 3, Qwen2) → ``BPETokenizer``; a BPE model over `▁`-marked text (normalizer `Replace(" ",
/// "▁")`, optionally with `Prepend("▁")`, or a `Metaspace` pre-tokenizer; byte fallback) or a Unigram model →
/// ``SentencePieceTokenizer``. Added tokens are matched as literal text (special ones as control tokens). BOS and
/// EOS are added when the `TemplateProcessing` post-processor puts special tokens around the text; their ids come
/// from `config.json` when it names them. Anything else is an error that lists what is supported.
public enum HuggingFaceTokenizer {
    static let gpt2Pattern = #"'s|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+"#
    static let llama3Pattern = #"(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}{1,3}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+"#
    static let qwen2Pattern = #"(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+"#

    /// The most unused ids that may lie between the vocabulary and the added tokens (they become placeholders).
    static let maximumAddedTokenGap = 1 << 16

    /// The supported pipelines, for messages.
    public static let supported = "BPE with a byte-level pre-tokenizer (GPT-2, SmolLM digits + GPT-2, Llama 3 or Qwen2 split pattern), "
        + "BPE over ▁-marked text (Replace(' ', '▁') with optional Prepend('▁'), or Metaspace; byte fallback), Unigram"

    /// The tokenizer of the `tokenizer.json` at `path`; `config` is the model's `config.json` (for BOS/EOS ids).
    public static func load(path: String, config: JSONFields? = nil) throws -> InspectableTokenizer {
        let file = try ReadOnlyFile(path: path)
        return try load(bytes: try file.readBytes(count: file.size, at: 0), path: path, config: config)
    }

    /// The tokenizer of `bytes`, the contents of the `tokenizer.json` at `path` (named in errors); `config` is the
    /// model's `config.json` (for BOS/EOS ids).
    public static func load(bytes: [UInt8], path: String, config: JSONFields? = nil) throws -> InspectableTokenizer {
        let root = try JSONFields(try JSONValue.parse(bytes, path: path), path: path)
        func fail(_ message: String) -> TokenizerError { TokenizerError("\(path): \(message) (supported: \(supported))") }
        let model = try root.object("model")
        let kind = try model.optionalString("type") ?? (model.has("merges") ? "BPE" : "")

        // Vocabulary, then added tokens at their ids.
        var tokens: [String] = []
        var scores: [Double] = []
        switch kind {
        case "BPE":
            let vocab = try model.object("vocab")
            var byID: [Int: String] = [:]
            for key in vocab.object.keys { byID[try vocab.integer(key)] = key }
            tokens = try (0..<byID.count).map { id in
                guard let t = byID[id] else { throw fail("the vocabulary has no token with id \(id)") }
                return t
            }
        case "Unigram":
            for (i, entry) in try model.array("vocab").enumerated() {
                guard case .array(let pair) = entry, pair.count == 2, case .string(let piece) = pair[0], let score = pair[1].doubleValue else {
                    throw fail("Unigram vocabulary entry \(i) is not [piece, score]")
                }
                tokens.append(piece)
                scores.append(score)
            }
        default:
            throw fail("model type '\(kind)' is not supported")
        }
        var types = [TokenType](repeating: .normal, count: tokens.count)
        var specialIDs: [String: Int32] = [:]
        let addedTokens = root.has("added_tokens") ? try root.array("added_tokens") : []
        // Ids between the vocabulary and an added token become placeholders; a gap far larger than any tokenizer
        // has would only make a small file take gigabytes.
        let idLimit = min(tokens.count + addedTokens.count + Self.maximumAddedTokenGap, 1 << 24)
        for (i, entry) in addedTokens.enumerated() {
            guard case .object(let object) = entry else { throw fail("added token \(i) is not an object") }
            let added = JSONFields(object, path: path, prefix: "added_tokens[\(i)]")
            let id = try added.integer("id"), content = try added.string("content")
            let special = try added.has("special") ? added.bool("special") : false
            guard id >= 0, id < idLimit else {
                throw fail("added token \(i) has id \(id), expected 0..<\(idLimit) (the \(tokens.count) vocabulary entries and "
                    + "\(addedTokens.count) added tokens, with at most \(Self.maximumAddedTokenGap) unused ids between)")
            }
            while tokens.count <= id {
                tokens.append("<added \(tokens.count)>")
                types.append(.unused)
                if !scores.isEmpty { scores.append(0) }
            }
            tokens[id] = content
            types[id] = special ? .control : .userDefined
            specialIDs[content] = Int32(id)
        }

        // BOS / EOS from the post-processor and config.json.
        var addsBOS = false, addsEOS = false
        var templateBOS: Int32?, templateEOS: Int32?
        if let post = try root.optionalObject("post_processor") {
            for processor in try flatten(post, key: "processors") where try processor.optionalString("type") == "TemplateProcessing" {
                let single = try processor.array("single")
                func specialID(_ value: JSONValue?) -> Int32? {
                    guard case .object(let o)? = value, case .object(let token)? = o["SpecialToken"], case .string(let name)? = token["id"] else { return nil }
                    return specialIDs[name]
                }
                if let id = specialID(single.first) { addsBOS = true; templateBOS = id }
                if single.count > 1, let id = specialID(single.last) { addsEOS = true; templateEOS = id }
            }
        }
        func configID(_ key: String) -> Int32? {
            if case .integer(let id)? = config?.object[key] { return Int32(exactly: id) }
            if case .array(let ids)? = config?.object[key], case .integer(let id)? = ids.first { return Int32(exactly: id) }
            return nil
        }
        let bosID = configID("bos_token_id") ?? templateBOS
        let eosID = configID("eos_token_id") ?? templateEOS

        let normalizers = try root.optionalObject("normalizer").map { try flatten($0, key: "normalizers") } ?? []
        let preTokenizers = try root.optionalObject("pre_tokenizer").map { try flatten($0, key: "pretokenizers") } ?? []
        let preTypes = try preTokenizers.map { try $0.string("type") }
        let normalizerTypes = try normalizers.map { try $0.string("type") }

        if preTypes.contains("ByteLevel") {
            guard kind == "BPE" else { throw fail("a byte-level pre-tokenizer with a \(kind) model") }
            let pre = try byteLevelFamily(preTokenizers, normalizerTypes: normalizerTypes, fail: fail)
            let ignoresMerges = try model.has("ignore_merges") ? model.bool("ignore_merges") : false
            guard ignoresMerges == pre.ignoresMerges else { throw fail("ignore_merges \(ignoresMerges) with the \(pre.rawValue) pre-tokenizer") }
            let merges = try mergeLines(model, fail: fail)
            do {
                return try BPETokenizer(
                    tokens: tokens, types: types, merges: merges.map { "\($0.0) \($0.1)" }, preTokenizer: pre, bosID: bosID, eosID: eosID,
                    unknownID: try model.optionalString("unk_token").flatMap { specialIDs[$0] }, addsBOS: addsBOS, addsEOS: addsEOS)
            } catch let error as TokenizerError {
                throw TokenizerError("\(path): \(error.message)")
            }
        }

        // SentencePiece-style text: ▁ for spaces.
        var prefix = SentencePieceTokenizer.SpacePrefix.never
        var prefixesSpacedText = true
        var replacesSpaces = false
        var splitsWords = false
        for n in normalizers {
            switch try n.string("type") {
            case "Prepend" where try n.string("prepend") == "\u{2581}": prefix = .always
            case "Replace":
                let pattern = try n.object("pattern")
                guard try pattern.optionalString("String") == " ", try n.string("content") == "\u{2581}" else {
                    throw fail("normalizer Replace other than ' ' → '▁'")
                }
                replacesSpaces = true
            case let other: throw fail("normalizer \(other) is not supported here")
            }
        }
        for p in preTokenizers {
            switch try p.string("type") {
            case "Metaspace":
                guard try p.optionalString("replacement") ?? "\u{2581}" == "\u{2581}" else { throw fail("Metaspace with a replacement other than '▁'") }
                replacesSpaces = true
                prefixesSpacedText = false
                splitsWords = try p.has("split") ? p.bool("split") : true
                if let scheme = try p.optionalString("prepend_scheme") {
                    guard let s = SentencePieceTokenizer.SpacePrefix(rawValue: scheme) else { throw fail("Metaspace prepend_scheme '\(scheme)'") }
                    prefix = s
                } else if try p.has("add_prefix_space") && p.bool("add_prefix_space") {
                    prefix = .always
                }
            case "Split" where replacesSpaces:
                // Gemma's Split on " " after the normaliser has replaced every space: it never matches.
                guard try p.object("pattern").optionalString("String") == " " else { throw fail("a Split pre-tokenizer with SentencePiece text") }
            case let other: throw fail("pre-tokenizer \(other) is not supported with SentencePiece text")
            }
        }
        guard replacesSpaces else { throw fail("a \(kind) model without a byte-level pre-tokenizer or ▁ for spaces") }
        let byteFallback = try model.has("byte_fallback") ? model.bool("byte_fallback") : false
        do {
            if kind == "BPE" {
                return try SentencePieceTokenizer(
                    algorithm: .bpe, tokens: tokens, types: types, merges: try mergeLines(model, fail: fail), spacePrefix: prefix,
                    prefixesSpacedText: prefixesSpacedText, splitsWords: splitsWords, bosID: bosID, eosID: eosID,
                    unknownID: try model.optionalString("unk_token").flatMap { token in tokens.firstIndex(of: token).map { Int32($0) } },
                    addsBOS: addsBOS, addsEOS: addsEOS, fusesUnknown: try model.has("fuse_unk") ? model.bool("fuse_unk") : false,
                    byteFallback: byteFallback)
            }
            return try SentencePieceTokenizer(
                algorithm: .unigram, tokens: tokens, types: types, scores: scores, spacePrefix: prefix,
                prefixesSpacedText: prefixesSpacedText, splitsWords: splitsWords, bosID: bosID, eosID: eosID,
                unknownID: try model.optionalInteger("unk_id").map { Int32($0) }, addsBOS: addsBOS, addsEOS: addsEOS,
                fusesUnknown: true, byteFallback: byteFallback)
        } catch let error as TokenizerError {
            throw TokenizerError("\(path): \(error.message)")
        }
    }

    /// `object` and, for a `Sequence`, its members (under `key`) flattened in order.
    private static func flatten(_ object: JSONFields, key: String) throws -> [JSONFields] {
        guard try object.optionalString("type") == "Sequence" else { return [object] }
        return try object.array(key).enumerated().flatMap { i, value -> [JSONFields] in
            guard case .object(let o) = value else { throw object.error(key, "element \(i) is not an object") }
            return try flatten(JSONFields(o, path: object.path, prefix: object.name("\(key)[\(i)]")), key: key)
        }
    }

    /// The merges of a BPE model, as `"a b"` strings or `["a", "b"]` pairs.
    private static func mergeLines(_ model: JSONFields, fail: (String) -> TokenizerError) throws -> [(String, String)] {
        try model.array("merges").enumerated().map { i, value in
            switch value {
            case .string(let line):
                let parts = line.split(separator: " ", maxSplits: 1, omittingEmptySubsequences: false)
                guard parts.count == 2 else { throw fail("merge \(i) \"\(line)\" is not two pieces") }
                return (String(parts[0]), String(parts[1]))
            case .array(let pair):
                guard pair.count == 2, case .string(let a) = pair[0], case .string(let b) = pair[1] else { throw fail("merge \(i) is not a pair of strings") }
                return (a, b)
            default:
                throw fail("merge \(i) is \(value.kindDescription)")
            }
        }
    }

    /// The ``PreTokenizer`` family of a byte-level pipeline, or an error.
    private static func byteLevelFamily(
        _ steps: [JSONFields], normalizerTypes: [String], fail: (String) -> TokenizerError
    ) throws -> PreTokenizer {
        var shape: [String] = []
        for step in steps {
            switch try step.string("type") {
            case "ByteLevel":
                if try step.has("add_prefix_space") && step.bool("add_prefix_space") { throw fail("ByteLevel with add_prefix_space") }
                shape.append(try step.has("use_regex") && !step.bool("use_regex") ? "bytes" : "bytes+gpt2")
            case "Digits":
                guard try step.has("individual_digits") && step.bool("individual_digits") else { throw fail("Digits without individual_digits") }
                shape.append("digits")
            case "Split":
                let regex = try step.object("pattern").optionalString("Regex") ?? ""
                switch regex {
                case gpt2Pattern: shape.append("gpt2")
                case llama3Pattern: shape.append("llama3")
                case qwen2Pattern: shape.append("qwen2")
                default: throw fail("the Split pattern \(jsonString(regex)) is not one of the known families")
                }
            case let other:
                throw fail("pre-tokenizer \(other) in a byte-level pipeline")
            }
        }
        let nfc = normalizerTypes == ["NFC"]
        guard normalizerTypes.isEmpty || nfc else { throw fail("normalizers \(normalizerTypes) in a byte-level pipeline") }
        switch (shape, nfc) {
        case (["bytes+gpt2"], false), (["gpt2", "bytes"], false): return .gpt2
        case (["digits", "bytes+gpt2"], false): return .smollm
        case (["llama3", "bytes"], false): return .llamaBPE
        case (["qwen2", "bytes"], true): return .qwen2
        default: throw fail("the byte-level pipeline \(shape)\(nfc ? " with NFC" : "")")
        }
    }
}
