/// An error about a file's contents or its use, naming the file and saying what was expected.
///
/// Its description is written for the person at the terminal: `acts.npy: expected a 2-D array, found shape (5,)`.
public struct FileFormatError: Error, CustomStringConvertible, Sendable, Equatable {
    /// The file (or folder) concerned.
    public let path: String
    /// What is wrong, and what was expected.
    public let problem: String

    public init(_ path: String, _ problem: String) {
        self.path = path
        self.problem = problem
    }

    public var description: String { "\(path): \(problem)" }
}
