/// The kind of a vocabulary entry, as the GGUF key `tokenizer.ggml.token_type` codes it (llama.cpp's
/// `llama_token_type`).
public enum TokenType: Int32, Sendable {
    case undefined = 0
    case normal = 1
    case unknown = 2
    /// A control token such as `<|im_start|>`: matched as literal text only when specials are parsed.
    case control = 3
    /// An added token that is always matched as literal text.
    case userDefined = 4
    case unused = 5
    /// A SentencePiece byte token such as `<0x0A>`.
    case byte = 6
}

extension GGUFFile {
    /// An error about this file's tokenizer metadata, naming the file.
    func tokenizerError(_ message: String) -> TokenizerError { TokenizerError("\(path): \(message)") }

    /// The strings of the array metadata `key` (`tokenizer.ggml.tokens`, `tokenizer.ggml.merges`).
    func tokenizerStrings(_ key: String) throws -> [String] {
        guard let array = metadata[key]?.array else { throw tokenizerError("missing or non-array metadata '\(key)'") }
        return try array.map { value in
            guard let s = value.string else { throw tokenizerError("metadata '\(key)' should hold strings, found \(value.typeName)") }
            return s
        }
    }

    /// The types of `tokenizer.ggml.token_type`, or none when the file has no such key.
    func tokenTypes() throws -> [TokenType] {
        guard let array = metadata["tokenizer.ggml.token_type"]?.array else { return [] }
        return try array.enumerated().map { index, value in
            guard let code = value.integer.flatMap(Int32.init(exactly:)), let type = TokenType(rawValue: code) else {
                throw tokenizerError("token \(index) has an unknown type \(value.summary) in 'tokenizer.ggml.token_type'")
            }
            return type
        }
    }

    /// The token id of the integer metadata `key` (`tokenizer.ggml.bos_token_id`), if present and in range.
    func tokenID(_ key: String) -> Int32? { metadata[key]?.integer.flatMap { Int32(exactly: $0) } }
}
