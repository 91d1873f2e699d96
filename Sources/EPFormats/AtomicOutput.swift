#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// Writes files and folders so that readers see either the old version or the complete new one, never a partial
/// write: the content goes to a temporary sibling, is flushed to disk, and is then renamed into place.
public enum AtomicOutput {
    /// Writes `bytes` to `path` atomically.
    public static func write(_ bytes: [UInt8], to path: String) throws {
        try write(to: path) { sink in try sink.write(bytes) }
    }

    /// Writes the UTF-8 text `string` to `path` atomically.
    public static func write(string: String, to path: String) throws {
        try write(Array(string.utf8), to: path)
    }

    /// Creates a temporary sibling of `path`, lets `body` fill it through a ``FileSink``, flushes it and renames
    /// it over `path`. If `body` throws, the temporary file is removed and `path` is untouched.
    public static func write(to path: String, _ body: (FileSink) throws -> Void) throws {
        let file = try AtomicFile(path: path)
        try body(file.sink)
        try file.commit()
    }

    /// Builds a folder atomically: `body` fills a new temporary folder, which then replaces `path` in one step
    /// (an atomic exchange where the system offers one), and the previous folder, if any, is removed.
    ///
    /// If `body` throws, the temporary folder is removed and `path` is untouched.
    public static func writeFolder(at path: String, _ body: (_ folder: String) throws -> Void) throws {
        var info = stat()
        let exists = lstat(path, &info) == 0
        if exists && (info.st_mode & S_IFMT) != S_IFDIR {
            throw FileFormatError(path, "exists and is not a folder; refusing to replace it")
        }
        let temporary = temporarySibling(of: path)
        guard mkdir(temporary, 0o755) == 0 else {
            throw FileFormatError(path, "cannot create \(temporary): \(systemErrorMessage())")
        }
        do {
            try body(temporary)
            if exists {
                try exchange(temporary, path)
                try removeTree(temporary)
            } else {
                guard rename(temporary, path) == 0 else {
                    throw FileFormatError(path, "cannot move the finished folder into place: \(systemErrorMessage())")
                }
            }
        } catch {
            try? removeTree(temporary)
            throw error
        }
    }

    /// Creates the folders above `path` that are missing and checks that the folder that will hold `path` can be
    /// written, so that a long computation does not fail only when it saves its result.
    public static func prepareParent(of path: String) throws {
        let slash = path.lastIndex(of: "/")
        let parent = slash.map { String(path[..<$0]) }.map { $0.isEmpty ? "/" : $0 } ?? "."
        var info = stat()
        if stat(parent, &info) != 0 {
            var partial = parent.hasPrefix("/") ? "" : "."
            for component in parent.split(separator: "/") {
                partial += "/" + component
                if stat(partial, &info) != 0 && mkdir(partial, 0o755) != 0 && errno != EEXIST {
                    throw FileFormatError(path, "cannot create the folder \(partial): \(systemErrorMessage())")
                }
            }
        } else if (info.st_mode & S_IFMT) != S_IFDIR {
            throw FileFormatError(path, "\(parent) is not a folder")
        }
        guard access(parent, W_OK) == 0 else { throw FileFormatError(path, "the folder \(parent) cannot be written: \(systemErrorMessage())") }
    }

    /// Removes a file or a folder tree; a missing path is not an error.
    public static func removeTree(_ path: String) throws {
        var info = stat()
        guard lstat(path, &info) == 0 else { return }
        if (info.st_mode & S_IFMT) == S_IFDIR {
            guard let dir = opendir(path) else { throw FileFormatError(path, "cannot list: \(systemErrorMessage())") }
            var names: [String] = []
            while let entry = readdir(dir) {
                let name = withUnsafePointer(to: entry.pointee.d_name) {
                    $0.withMemoryRebound(to: CChar.self, capacity: 256) { String(cString: $0) }
                }
                if name != "." && name != ".." { names.append(name) }
            }
            closedir(dir)
            for name in names { try removeTree(path + "/" + name) }
            guard rmdir(path) == 0 else { throw FileFormatError(path, "cannot remove: \(systemErrorMessage())") }
        } else {
            guard unlink(path) == 0 else { throw FileFormatError(path, "cannot remove: \(systemErrorMessage())") }
        }
    }

    nonisolated(unsafe) private static var counter = 0

    static func temporarySibling(of given: String) -> String {
        counter += 1
        // `-o dict/` names the folder `dict`: its temporary is `.dict.tmp-…` beside it, not `dict/..tmp-…` inside.
        var path = given
        while path.count > 1 && path.hasSuffix("/") { path.removeLast() }
        let slash = path.lastIndex(of: "/")
        let directory = slash.map { String(path[...$0]) } ?? ""
        let name = slash.map { String(path[path.index(after: $0)...]) } ?? path
        return "\(directory).\(name).tmp-\(getpid())-\(counter)"
    }

    /// Swaps two paths atomically (Linux `renameat2(RENAME_EXCHANGE)`, Darwin `renamex_np(RENAME_SWAP)`).
    static func exchange(_ a: String, _ b: String) throws {
        #if canImport(Darwin)
        guard renamex_np(a, b, UInt32(RENAME_SWAP)) == 0 else {
            throw FileFormatError(b, "cannot swap in the new folder: \(systemErrorMessage())")
        }
        #else
        typealias RenameAt2 = @convention(c) (Int32, UnsafePointer<CChar>, Int32, UnsafePointer<CChar>, UInt32) -> Int32
        let renameExchange: UInt32 = 2
        if let symbol = dlsym(UnsafeMutableRawPointer(bitPattern: 0), "renameat2") {
            let renameat2 = unsafeBitCast(symbol, to: RenameAt2.self)
            if renameat2(AT_FDCWD, a, AT_FDCWD, b, renameExchange) == 0 { return }
            if errno != EINVAL && errno != ENOSYS {
                throw FileFormatError(b, "cannot swap in the new folder: \(systemErrorMessage())")
            }
        }
        // No atomic exchange on this system or file system: move the old folder aside, then the new one in.
        let aside = temporarySibling(of: b)
        guard rename(b, aside) == 0 else { throw FileFormatError(b, "cannot move the old folder aside: \(systemErrorMessage())") }
        guard rename(a, b) == 0 else {
            rename(aside, b)
            throw FileFormatError(b, "cannot move the new folder into place: \(systemErrorMessage())")
        }
        guard rename(aside, a) == 0 else { throw FileFormatError(b, "cannot clean up \(aside): \(systemErrorMessage())") }
        #endif
    }
}

/// A file written in place of `path` that appears there only when ``commit()`` succeeds: the content goes to a
/// temporary sibling, which is flushed to disk and renamed over `path`. Abandoned (deinitialised without a commit,
/// e.g. because an error was thrown) it is removed, leaving `path` untouched. For outputs streamed while a long
/// computation runs.
public final class AtomicFile {
    /// The final path.
    public let path: String
    /// Where to write the content.
    public let sink: FileSink
    private let temporary: String
    private let descriptor: Int32
    private var finished = false

    /// Creates the temporary sibling of `path`.
    public init(path: String) throws {
        self.path = path
        temporary = AtomicOutput.temporarySibling(of: path)
        descriptor = open(temporary, O_WRONLY | O_CREAT | O_EXCL, 0o644)
        guard descriptor >= 0 else { throw FileFormatError(path, "cannot create \(temporary): \(systemErrorMessage())") }
        sink = FileSink(descriptor: descriptor, path: path)
    }

    /// Writes `raw` at byte `offset` of the temporary file (a positioned write that bypasses ``sink``'s buffer; the
    /// file grows as needed). For files laid out in advance and filled out of order.
    public func write(_ raw: UnsafeRawBufferPointer, at offset: Int) throws {
        precondition(!finished, "AtomicFile.write(at:): already finished")
        var done = 0
        while done < raw.count {
            let n = pwrite(descriptor, raw.baseAddress! + done, raw.count - done, off_t(offset + done))
            if n < 0 {
                if errno == EINTR { continue }
                throw FileFormatError(path, "write failed: \(systemErrorMessage())")
            }
            done += n
        }
    }

    /// Flushes the content to disk and moves it into place.
    public func commit() throws {
        precondition(!finished, "AtomicFile.commit: already finished")
        finished = true
        do {
            try sink.flush()
            guard fsync(descriptor) == 0 else { throw FileFormatError(path, "cannot flush to disk: \(systemErrorMessage())") }
        } catch {
            close(descriptor)
            unlink(temporary)
            throw error
        }
        close(descriptor)
        guard rename(temporary, path) == 0 else {
            let message = systemErrorMessage()
            unlink(temporary)
            throw FileFormatError(path, "cannot move the finished file into place: \(message)")
        }
    }

    deinit {
        if !finished {
            close(descriptor)
            unlink(temporary)
        }
    }
}

/// A buffered writer over an open file descriptor, used through ``AtomicFile`` and ``AtomicOutput``.
public final class FileSink {
    private let descriptor: Int32
    private let path: String
    private var buffer: [UInt8] = []
    private static let bufferLimit = 1 << 20

    init(descriptor: Int32, path: String) {
        self.descriptor = descriptor
        self.path = path
        buffer.reserveCapacity(Self.bufferLimit)
    }

    /// Appends bytes.
    public func write<C: Collection>(_ bytes: C) throws where C.Element == UInt8 {
        if buffer.count + bytes.count > Self.bufferLimit { try flush() }
        if bytes.count > Self.bufferLimit {
            let array = Array(bytes)
            try array.withUnsafeBytes { try writeAll($0) }
        } else {
            buffer.append(contentsOf: bytes)
        }
    }

    /// Appends raw memory (e.g. a `[Float]`'s bytes).
    public func write(_ raw: UnsafeRawBufferPointer) throws {
        if buffer.count + raw.count > Self.bufferLimit { try flush() }
        if raw.count > Self.bufferLimit {
            try writeAll(raw)
        } else {
            buffer.append(contentsOf: raw)
        }
    }

    /// Appends the bytes of a string in UTF-8.
    public func write(string: String) throws { try write(Array(string.utf8)) }

    /// Writes out buffered bytes.
    public func flush() throws {
        if buffer.isEmpty { return }
        try buffer.withUnsafeBytes { try writeAll($0) }
        buffer.removeAll(keepingCapacity: true)
    }

    private func writeAll(_ raw: UnsafeRawBufferPointer) throws {
        var done = 0
        while done < raw.count {
            let n = systemWrite(descriptor, raw.baseAddress! + done, raw.count - done)
            if n < 0 {
                if errno == EINTR { continue }
                throw FileFormatError(path, "write failed: \(systemErrorMessage())")
            }
            done += n
        }
    }
}

@inline(__always)
private func systemWrite(_ fd: Int32, _ p: UnsafeRawPointer, _ n: Int) -> Int {
    write(fd, p, n)
}
