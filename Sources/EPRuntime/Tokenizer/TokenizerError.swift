/// A tokenizer that cannot be built (unsupported model or pre-tokenizer, malformed vocabulary), with the message to show.
public struct TokenizerError: Error, CustomStringConvertible, Sendable {
    /// What went wrong, in one line.
    public let message: String

    public init(_ message: String) { self.message = message }

    public var description: String { message }
}
