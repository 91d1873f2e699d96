/// A problem with a pipeline input (a corpus argument or its contents, a model, a dictionary to continue) or a
/// setting, worded for the terminal: it names the file, line or flag and says what was expected.
public struct PipelineError: Error, CustomStringConvertible, Sendable, Equatable {
    /// The message.
    public let message: String

    public init(_ message: String) { self.message = message }

    public var description: String { message }
}
