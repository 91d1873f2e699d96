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
