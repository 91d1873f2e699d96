/// Text ↔ token ids for a model. The runtime itself works on token ids only; the `ep` verbs that take text
/// reach a tokenizer through ``makeTokenizer(gguf:)``.
public protocol TextTokenizer: Sendable {
    /// The ids of `text`, with control tokens written literally in the text (`<|im_start|>`) parsed as single
    /// tokens, and nothing prepended or appended that the model's metadata does not ask for.
    func encode(_ text: String) -> [Int32]
    /// The text of `ids` (control tokens rendered as their text); invalid UTF-8 is replaced, not an error.
    func decode(_ ids: [Int32]) -> String
    /// The beginning-of-sequence id, if the model has one.
    var bosID: Int32? { get }
    /// The end-of-sequence id (generation stops there), if the model has one.
    var eosID: Int32? { get }
}
