/// A problem with a corpus argument or its contents, worded for the terminal: it names the file (and line) and
/// says what was expected.
public struct CorpusError: Error, CustomStringConvertible, Sendable {
    /// The message.
    public let message: String

    public init(_ message: String) { self.message = message }

    public var description: String { message }
}
