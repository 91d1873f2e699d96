#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// A file opened for positioned reads (`pread`), so several readers can stream from it without sharing a cursor
/// and without mapping it whole.
public final class ReadOnlyFile: @unchecked Sendable {
    /// The path it was opened with.
    public let path: String
    /// Its size in bytes when opened.
    public let size: Int
    /// The open file descriptor (``MappedFile`` maps through it).
    let descriptor: Int32

    /// Opens `path` for reading; throws a ``FileFormatError`` naming the file when it cannot be opened.
    public init(path: String) throws {
        self.path = path
        let fd = open(path, O_RDONLY)
        guard fd >= 0 else { throw FileFormatError(path, "cannot open: \(systemErrorMessage())") }
        var info = stat()
        guard fstat(fd, &info) == 0 else {
            close(fd)
            throw FileFormatError(path, "cannot read its size: \(systemErrorMessage())")
        }
        if (info.st_mode & S_IFMT) == S_IFDIR {
            close(fd)
            throw FileFormatError(path, "is a folder, expected a file")
        }
        descriptor = fd
        size = Int(info.st_size)
    }

    deinit { close(descriptor) }

    /// Reads exactly `count` bytes at `offset` into `buffer`; a short file is an error that says how much was
    /// expected.
    public func read(into buffer: UnsafeMutableRawPointer, count: Int, at offset: Int) throws {
        guard offset >= 0, count >= 0, offset <= size, count <= size - offset else {
            throw FileFormatError(path, "truncated: needs bytes \(offset)..<\(offset + count) but the file has \(size) bytes")
        }
        var done = 0
        while done < count {
            let n = pread(descriptor, buffer + done, count - done, off_t(offset + done))
            if n < 0 {
                if errno == EINTR { continue }
                throw FileFormatError(path, "read failed: \(systemErrorMessage())")
            }
            if n == 0 { throw FileFormatError(path, "truncated: ended after \(offset + done) bytes, expected \(offset + count)") }
            done += n
        }
    }

    /// Reads `count` bytes at `offset` into a new array.
    public func readBytes(count: Int, at offset: Int) throws -> [UInt8] {
        var bytes = [UInt8](repeating: 0, count: count)
        try bytes.withUnsafeMutableBytes { try read(into: $0.baseAddress!, count: count, at: offset) }
        return bytes
    }
}

/// The C library's message for the current `errno`.
public func systemErrorMessage() -> String {
    String(cString: strerror(errno))
}
