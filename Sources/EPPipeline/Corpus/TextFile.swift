/// A text file given on its own (`--text-file`), read whole: a regular file or a named pipe (read to its end).
///
/// Folders, sockets and devices are refused, and so is a file that looks binary by the corpus reader's rule
/// (``CorpusReader/looksBinary(_:)``: a NUL byte among its first 8 KiB): text cut from an executable or an image
/// would only give nonsense tokens. Bytes that are not UTF-8 are replaced with U+FFFD.
public enum TextFile {
    /// The text of `path`; `flag` names the option in errors (`--text-file`).
    public static func read(_ path: String, flag: String = "--text-file") throws -> String {
        let kind = FileKind.of(path).kind
        switch kind {
        case .regular, .fifo: break
        case .missing: throw PipelineError("\(flag) \(path): no such file")
        default: throw PipelineError("\(flag) \(path): is \(kind.description), not a text file")
        }
        let reader = try LineReader(path: path)
        if CorpusReader.looksBinary(try reader.peek(CorpusReader.binaryProbeLength)) {
            throw PipelineError("\(flag) \(path): looks binary (contains NUL bytes), not text; give a UTF-8 text file")
        }
        return String(decoding: try reader.rest(), as: UTF8.self)
    }
}
