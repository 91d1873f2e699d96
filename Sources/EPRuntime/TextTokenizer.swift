/// Text ↔ token ids for a model. The runtime itself works on token ids only; the `ep` verbs that take text
/// reach a tokenizer through ``makeTokenizer(gguf:)``.
public protocol TextTokenizer: Sendable {
    /// The ids of `text`, with control tokens written literally in the text (`<|im_start|>`) parsed as single
    /// tokens, and nothing prepended or appended that the model's metadata does not ask for.
    func encode(_ text: String) -> [Int32]
    /// The ids of `text`. With `parseSpecial` false, control tokens written in the text are tokenized as ordinary
    /// text; with `addSpecial`, BOS (and EOS) are added when ``addsBOS`` (and the metadata) say so.
    func encode(_ text: String, parseSpecial: Bool, addSpecial: Bool) -> [Int32]
    /// The bytes token `id` stands for (a special token's text), or nil for an id outside the vocabulary; a token
    /// may hold part of a UTF-8 character.
    func tokenBytes(_ id: Int32) -> [UInt8]?
    /// The text of `ids` (control tokens rendered as their text); invalid UTF-8 is replaced, not an error.
    func decode(_ ids: [Int32]) -> String
    /// The beginning-of-sequence id, if the model has one.
    var bosID: Int32? { get }
    /// Whether the model expects BOS first (`tokenizer.ggml.add_bos_token`, or the tokenizer family's default).
    var addsBOS: Bool { get }
    /// The end-of-sequence id (generation stops there), if the model has one.
    var eosID: Int32? { get }
}

/// Turns generated tokens into text as they come, for printing: each call returns the text that is new and
/// settled. A token can end in the middle of a UTF-8 character (decoded as U+FFFD until the next token completes
/// it), so trailing U+FFFD characters are held back until later tokens or ``finish()`` settle them.
public struct StreamingDecoder {
    private let tokenizer: TextTokenizer
    private var tokens: [Int32] = []
    private var printed: [Unicode.Scalar] = []

    /// A decoder for `tokenizer`'s ids.
    public init(_ tokenizer: TextTokenizer) { self.tokenizer = tokenizer }

    /// Adds `token`; returns the newly settled text (often empty while a character is incomplete).
    public mutating func append(_ token: Int32) -> String {
        tokens.append(token)
        var scalars = Array(tokenizer.decode(tokens).unicodeScalars)
        while scalars.count > printed.count, scalars.last == "\u{FFFD}" { scalars.removeLast() }
        return emit(scalars)
    }

    /// The text not returned yet, held-back replacement characters included.
    public mutating func finish() -> String {
        emit(Array(tokenizer.decode(tokens).unicodeScalars))
    }

    private mutating func emit(_ scalars: [Unicode.Scalar]) -> String {
        // Decoding more tokens only extends the text, except where a held-back character settled differently.
        var common = 0
        while common < min(printed.count, scalars.count), printed[common] == scalars[common] { common += 1 }
        guard common == printed.count else { return "" }
        var text = String.UnicodeScalarView()
        text.append(contentsOf: scalars[common...])
        printed = scalars
        return String(text)
    }
}
