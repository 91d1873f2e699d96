#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// What an output path holds, as far as the kind of output about to be written there can tell.
public enum OutputRecognition: Sendable, Equatable {
    /// An output of this kind that ep wrote: it may be replaced.
    case ours
    /// A file ep cannot tell it wrote (a format with no writer mark, such as `.npy`): replaced only with `--force`.
    case unmarkedFile(String)
    /// Something else (a folder holding other files, an output of another kind, …): never replaced.
    case foreign(String)
}

/// A kind of output a command writes (a dictionary folder, a report, a calibration record, an `.npy` file, …), with
/// the test that recognises an existing output of the same kind written by ep.
///
/// The rule every output follows (``OutputGuard``): a path may be replaced only by an output of the same kind that
/// ep wrote there before, never when it is, contains or lies inside an input of the same command, and a folder only
/// when it holds nothing but what ep wrote.
public struct OutputKind: Sendable {
    /// What is written, for messages: "dictionary", "report", "calibration record", ….
    public var name: String
    /// Whether the output is a folder (otherwise a file).
    public var isFolder: Bool
    /// Tells what the existing `path` (of the right shape: a folder for folder kinds, a regular file for file
    /// kinds) holds.
    public var recognise: @Sendable (_ path: String) -> OutputRecognition

    public init(name: String, isFolder: Bool, recognise: @escaping @Sendable (_ path: String) -> OutputRecognition) {
        self.name = name
        self.isFolder = isFolder
        self.recognise = recognise
    }

    /// A file in a format that carries no writer mark (`.npy`): an existing file is replaced only with `--force`.
    public static func unmarkedFile(_ name: String, format: String) -> OutputKind {
        OutputKind(name: name, isFolder: false) { _ in
            .unmarkedFile("exists, and ep cannot tell that it wrote it (\(format) files carry no writer mark)")
        }
    }

    /// A JSON file whose top-level `format` field is `format`.
    public static func json(_ name: String, format: String) -> OutputKind {
        OutputKind(name: name, isFolder: false) { path in
            guard let value = try? JSONValue.read(path: path), case .object(let object) = value,
                case .string(let found)? = object["format"]
            else { return .unmarkedFile("exists and is not a JSON file written by ep") }
            return found == format ? .ours : .unmarkedFile("holds an ep output of another kind (format \"\(found)\"), not a \(name)")
        }
    }

    /// A text file whose first line is one of `firstLines`.
    public static func text(_ name: String, firstLines: Set<String>) -> OutputKind {
        OutputKind(name: name, isFolder: false) { path in
            guard let line = firstLine(of: path), firstLines.contains(line) else {
                return .unmarkedFile("exists and does not start as a \(name) written by ep does")
            }
            return .ours
        }
    }

    /// A `.npz` archive whose ZIP comment is `mark` (``NPZWriter/comment``).
    public static func npz(_ name: String, mark: String) -> OutputKind {
        OutputKind(name: name, isFolder: false) { path in
            guard let comment = NPZWriter.comment(ofFile: path) else { return .unmarkedFile("exists and is not a .npz archive written by ep") }
            return comment == mark ? .ours : .unmarkedFile("is a .npz archive of another kind (\(comment.isEmpty ? "no ep mark" : comment)), not a \(name)")
        }
    }

    /// A `.safetensors` file whose metadata has `key` = `value`.
    public static func safetensors(_ name: String, key: String, value: String) -> OutputKind {
        OutputKind(name: name, isFolder: false) { path in
            guard let file = try? SafetensorsFile(path: path), file.metadata[key] == value else {
                return .unmarkedFile("exists and is not a \(name) written by ep")
            }
            return .ours
        }
    }

    /// A folder whose top-level entries are all in `entries` and which `check` accepts (given the folder).
    public static func folder(
        _ name: String, entries: Set<String>, check: @escaping @Sendable (_ folder: String) -> Bool = { _ in true }
    ) -> OutputKind {
        OutputKind(name: name, isFolder: true) { path in
            let listed = OutputGuard.entries(of: path)
            let others = listed.filter { !entries.contains($0) }
            if !others.isEmpty { return .foreign("holds \(OutputGuard.describe(others)) that ep did not write as a \(name)") }
            if listed.isEmpty { return .ours }
            return check(path) ? .ours : .foreign("is not a \(name) written by ep")
        }
    }

    private static func firstLine(of path: String) -> String? {
        guard let file = try? ReadOnlyFile(path: path), let prefix = try? file.readBytes(count: min(file.size, 4096), at: 0) else { return nil }
        let line = prefix.prefix { $0 != UInt8(ascii: "\n") }
        return String(validating: Array(line), as: UTF8.self)
    }
}

/// An output path claimed by this process: checked against the rule of ``OutputKind``, locked against other ep
/// processes (``OutputGuard``), and cleared of the temporary siblings an interrupted write left behind. The lock is
/// released when the claim is released or the process ends.
public final class OutputClaim: @unchecked Sendable {
    /// The output path (as given, without trailing slashes).
    public let path: String
    /// The kind written there.
    public let kind: OutputKind
    /// Whether something was at the path when it was claimed.
    public let existed: Bool
    /// Temporary siblings of earlier, interrupted writes that were removed.
    public let removedTemporaries: [String]
    /// The process id of an earlier writer that ended without releasing its lock (killed), if one did.
    public let staleLockHolder: Int32?
    private let lock: OutputLock

    fileprivate init(path: String, kind: OutputKind, existed: Bool, removedTemporaries: [String], lock: OutputLock) {
        self.path = path
        self.kind = kind
        self.existed = existed
        self.removedTemporaries = removedTemporaries
        self.staleLockHolder = lock.staleHolder
        self.lock = lock
    }

    /// Releases the lock now (it is released on deinit otherwise).
    public func release() { lock.release() }
}

/// The checks every command runs on its outputs before any work, so that no output ever costs a user data:
///
/// 1. An output path must be given (not empty), and the folder that will hold it must exist or be creatable and
///    writable.
/// 2. It must not be, contain or lie inside an input of the same command (compared after resolving symbolic links,
///    and by file identity, so a hard link or another spelling of the path is caught), nor be the path of another
///    output of the same command.
/// 3. If something exists there, it must be an output of the same kind that ep wrote (``OutputKind/recognise``): a
///    dictionary is replaced only by a dictionary, a report by a report; a folder holding anything else is never
///    replaced. A file ep cannot recognise (an `.npy`) is replaced only with `force`, and never when it is an input.
///    A symbolic link at the output path is refused.
/// 4. The output is locked: a second ep process claiming it fails at once, naming the holder's process id. The lock
///    is a `flock(2)` on the hidden sibling `.NAME.lock`, released by the kernel when its holder ends however it
///    ends, so the lock of a killed process is stale and taken over.
/// 5. With the lock held, temporary siblings (`.NAME.tmp-PID-N`) left by an interrupted write are removed.
public enum OutputGuard {
    /// Claims `outputs` (path and kind) for a command whose inputs are `inputs` (files or folders; `-` and empty
    /// strings are ignored). Throws, naming the path and what is in the way, before anything is written.
    public static func claim(_ outputs: [(path: String, kind: OutputKind)], inputs: [String], force: Bool = false) throws -> [OutputClaim] {
        var claims: [OutputClaim] = []
        var resolvedOutputs: [(given: String, resolved: String)] = []
        let resolvedInputs = inputs.filter { !$0.isEmpty && $0 != "-" }.map { ($0, resolve($0)) }
        for (given, kind) in outputs {
            let path = try normalised(given, kind: kind)
            try AtomicOutput.prepareParent(of: path)
            let resolved = resolve(path)
            for (other, otherResolved) in resolvedOutputs where otherResolved == resolved {
                throw FileFormatError(path, "is also given as another output of this command (\(other)); give each output its own path")
            }
            for (input, inputResolved) in resolvedInputs {
                if inputResolved == resolved || sameFile(input, path) {
                    throw FileFormatError(path, "is an input of this command\(input == given ? "" : " (\(input))"); refusing to write the \(kind.name) over it")
                }
                if inputResolved.hasPrefix(resolved + "/") {
                    throw FileFormatError(path, "contains an input of this command (\(input)); refusing to replace it with the \(kind.name)")
                }
                if resolved.hasPrefix(inputResolved + "/") {
                    throw FileFormatError(path, "lies inside the input folder \(input); write the \(kind.name) elsewhere")
                }
            }
            let lock = try OutputLock(path: path)
            let existed = try check(path, kind: kind, force: force)
            let removed = removeTemporaries(of: path)
            claims.append(OutputClaim(path: path, kind: kind, existed: existed, removedTemporaries: removed, lock: lock))
            resolvedOutputs.append((path, resolved))
        }
        return claims
    }

    /// Whether `error` is a claim's refusal because another ep process holds the output's lock (the output is being
    /// written now: a runner may try again later).
    public static func isBusy(_ error: Error) -> Bool {
        (error as? FileFormatError)?.problem.hasPrefix(busyProblem) == true
    }

    static let busyProblem = "is being written by another ep process"

    /// Claims one output.
    public static func claim(_ path: String, kind: OutputKind, inputs: [String], force: Bool = false) throws -> OutputClaim {
        try claim([(path, kind)], inputs: inputs, force: force)[0]
    }

    /// The path without trailing slashes; an empty path is an error.
    static func normalised(_ given: String, kind: OutputKind) throws -> String {
        var path = given
        while path.count > 1 && path.hasSuffix("/") { path.removeLast() }
        guard !path.isEmpty else { throw FileFormatError("-o ''", "an empty output path; give the \(kind.name) a path") }
        let name = path.split(separator: "/").last.map(String.init) ?? path
        guard name != "." && name != ".." && path != "/" else {
            throw FileFormatError(given, "names a folder by . or ..; give the \(kind.name) a path of its own")
        }
        return path
    }

    /// Checks what is at `path` against `kind`; returns whether something is there.
    private static func check(_ path: String, kind: OutputKind, force: Bool) throws -> Bool {
        var info = stat()
        guard lstat(path, &info) == 0 else { return false }
        let type = info.st_mode & S_IFMT
        if type == S_IFLNK {
            throw FileFormatError(path, "is a symbolic link; give the real path of the \(kind.name) (ep replaces outputs and would replace the link)")
        }
        if kind.isFolder {
            guard type == S_IFDIR else {
                throw FileFormatError(path, "exists and is not a folder; refusing to replace it with the \(kind.name) folder")
            }
        } else {
            guard type == S_IFREG else {
                throw FileFormatError(path, "exists and is not a regular file (\(type == S_IFDIR ? "a folder" : "a special file")); refusing to replace it with the \(kind.name)")
            }
        }
        switch kind.recognise(path) {
        case .ours:
            return true
        case .unmarkedFile(let what):
            if force { return true }
            throw FileFormatError(path, "\(what); remove it, choose another path, or give --force to replace it with the \(kind.name)")
        case .foreign(let what):
            throw FileFormatError(path, "\(what); refusing to replace it with the \(kind.name) — remove it or choose another path")
        }
    }

    /// The absolute path with symbolic links resolved (of the longest existing prefix, the rest appended).
    static func resolve(_ path: String) -> String {
        var absolute = path
        if !absolute.hasPrefix("/") {
            var buffer = [CChar](repeating: 0, count: Int(PATH_MAX) + 1)
            if getcwd(&buffer, buffer.count) != nil {
                let cwd = String(decoding: buffer.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self)
                absolute = cwd + "/" + path
            }
        }
        var components = absolute.split(separator: "/").map(String.init)
        var rest: [String] = []
        while true {
            let prefix = "/" + components.joined(separator: "/")
            if let real = realpath(prefix, nil) {
                let head = String(cString: real)
                free(real)
                return clean(head + (rest.isEmpty ? "" : "/" + rest.reversed().joined(separator: "/")))
            }
            guard let last = components.popLast() else { return clean(absolute) }
            rest.append(last)
        }
    }

    /// `path` with `.` and `..` components and repeated slashes removed.
    private static func clean(_ path: String) -> String {
        var out: [Substring] = []
        for part in path.split(separator: "/") {
            if part == "." { continue }
            if part == ".." { _ = out.popLast(); continue }
            out.append(part)
        }
        return "/" + out.joined(separator: "/")
    }

    /// Whether two existing paths are the same file (device and inode).
    private static func sameFile(_ a: String, _ b: String) -> Bool {
        var x = stat(), y = stat()
        guard stat(a, &x) == 0, stat(b, &y) == 0 else { return false }
        return x.st_dev == y.st_dev && x.st_ino == y.st_ino
    }

    /// The names in folder `path` (without `.` and `..`), sorted.
    public static func entries(of path: String) -> [String] {
        guard let dir = opendir(path) else { return [] }
        defer { closedir(dir) }
        var names: [String] = []
        while let entry = readdir(dir) {
            let name = withUnsafePointer(to: entry.pointee.d_name) {
                $0.withMemoryRebound(to: CChar.self, capacity: 256) { String(cString: $0) }
            }
            if name != "." && name != ".." { names.append(name) }
        }
        return names.sorted()
    }

    /// A short list of names for a message: `notes.txt`, `a, b and 3 more`.
    public static func describe(_ names: [String]) -> String {
        let shown = names.prefix(3).joined(separator: ", ")
        return names.count > 3 ? "\(shown) and \(names.count - 3) more" : shown
    }

    /// Whether `name` is a temporary sibling that ``AtomicOutput`` made for the output named `output`
    /// (`.output.tmp-PID-N`, possibly nested: `..output.tmp-PID-N.tmp-PID-M`).
    static func isTemporary(_ name: String, of output: String) -> Bool {
        guard name.hasPrefix(".") else { return false }
        let stripped = name.drop { $0 == "." }
        guard stripped.hasPrefix(output + ".tmp-") else { return false }
        let tail = stripped.dropFirst(output.count + 5).split(separator: ".", maxSplits: 1)[0]
        let parts = tail.split(separator: "-", omittingEmptySubsequences: false)
        return parts.count == 2 && parts.allSatisfy { !$0.isEmpty && $0.allSatisfy(\.isASCII) && $0.allSatisfy(\.isNumber) }
    }

    /// Removes the temporary siblings of `path` that an interrupted write left; returns their names.
    private static func removeTemporaries(of path: String) -> [String] {
        let slash = path.lastIndex(of: "/")
        let parent = slash.map { String(path[..<$0]) }.map { $0.isEmpty ? "/" : $0 } ?? "."
        let name = slash.map { String(path[path.index(after: $0)...]) } ?? path
        var removed: [String] = []
        for entry in entries(of: parent) where isTemporary(entry, of: name) {
            if (try? AtomicOutput.removeTree(parent + "/" + entry)) != nil { removed.append(entry) }
        }
        return removed
    }
}

/// The outputs of one command, written to temporary siblings and moved into place together at ``commit()``: either
/// all appear, or — when a move fails — those already moved are put back, so a command never leaves half of its
/// outputs (a dictionary without its assignments file). Each output is written to ``stage(_:)``'s path with its
/// usual writer; uncommitted temporaries are removed when the transaction is released.
public final class OutputTransaction {
    private var staged: [(path: String, temporary: String)] = []
    private var committed = false
    /// Moves a finished output into place: swaps it with what is there (`exchange`) or renames it. (A seam for
    /// the tests, which make a move fail.)
    var move: (_ from: String, _ to: String, _ exchange: Bool) throws -> Void = { from, to, exchange in
        if exchange {
            try AtomicOutput.exchange(from, to)
        } else if rename(from, to) != 0 {
            throw FileFormatError(to, "cannot move the finished output into place: \(systemErrorMessage())")
        }
    }

    public init() {}

    /// The temporary path to write `claim`'s output to.
    public func stage(_ claim: OutputClaim) -> String {
        let temporary = AtomicOutput.temporarySibling(of: claim.path)
        staged.append((claim.path, temporary))
        return temporary
    }

    /// Moves every staged output into place (replacing what was there), in the order staged; if one cannot be
    /// moved, the ones before it are restored and the error is thrown. Outputs that were not written (no file at
    /// the staged path) are an error.
    public func commit() throws {
        precondition(!committed, "OutputTransaction.commit: already committed")
        committed = true
        var moved: [(path: String, temporary: String, exchanged: Bool)] = []
        do {
            for (path, temporary) in staged {
                var info = stat()
                guard lstat(temporary, &info) == 0 else { throw FileFormatError(path, "was not written (nothing at \(temporary))") }
            }
            for (path, temporary) in staged {
                var info = stat()
                let exists = lstat(path, &info) == 0
                try move(temporary, path, exists)
                moved.append((path, temporary, exists))
            }
        } catch {
            for m in moved.reversed() {
                if m.exchanged { try? AtomicOutput.exchange(m.temporary, m.path) } else { rename(m.path, m.temporary) }
            }
            for (_, temporary) in staged { try? AtomicOutput.removeTree(temporary) }
            throw error
        }
        // The temporaries now hold the replaced outputs, if any.
        for (_, temporary) in staged { try? AtomicOutput.removeTree(temporary) }
    }

    deinit {
        if !committed { for (_, temporary) in staged { try? AtomicOutput.removeTree(temporary) } }
    }
}

/// An exclusive `flock(2)` on `.NAME.lock` beside an output, holding the holder's process id.
final class OutputLock: @unchecked Sendable {
    let lockPath: String
    private var descriptor: Int32
    /// The process id found in a lock file that could be locked: a holder that ended without releasing it.
    let staleHolder: Int32?

    init(path: String) throws {
        let slash = path.lastIndex(of: "/")
        let directory = slash.map { String(path[...$0]) } ?? ""
        let name = slash.map { String(path[path.index(after: $0)...]) } ?? path
        lockPath = "\(directory).\(name).lock"
        while true {
            let fd = open(lockPath, O_RDWR | O_CREAT | O_CLOEXEC, 0o644)
            guard fd >= 0 else { throw FileFormatError(path, "cannot create the lock file \(lockPath): \(systemErrorMessage())") }
            if flock(fd, LOCK_EX | LOCK_NB) != 0 {
                let reason = errno
                let holder = Self.readPID(fd)
                close(fd)
                if reason == EWOULDBLOCK {
                    throw FileFormatError(
                        path, "\(OutputGuard.busyProblem)\(holder.map { " (pid \($0))" } ?? ""); wait for it to finish or stop it (lock \(lockPath))")
                }
                throw FileFormatError(path, "cannot lock \(lockPath): \(String(cString: strerror(reason)))")
            }
            // The holder before us may have removed the file between our open and our lock: lock the file that is
            // at the path now.
            var held = stat(), current = stat()
            if fstat(fd, &held) != 0 || stat(lockPath, &current) != 0 || held.st_ino != current.st_ino || held.st_dev != current.st_dev {
                close(fd)
                continue
            }
            let previous = Self.readPID(fd)
            descriptor = fd
            staleHolder = previous.flatMap { $0 == getpid() ? nil : $0 }
            let text = Array("\(getpid())\n".utf8)
            _ = ftruncate(fd, 0)
            _ = text.withUnsafeBytes { pwrite(fd, $0.baseAddress, $0.count, 0) }
            return
        }
    }

    private static func readPID(_ fd: Int32) -> Int32? {
        var buffer = [UInt8](repeating: 0, count: 32)
        let n = buffer.withUnsafeMutableBytes { pread(fd, $0.baseAddress, 31, 0) }
        guard n > 0 else { return nil }
        return Int32(String(decoding: buffer.prefix(n).filter { $0 >= UInt8(ascii: "0") && $0 <= UInt8(ascii: "9") }, as: UTF8.self))
    }

    /// Removes the lock file and releases the lock.
    func release() {
        guard descriptor >= 0 else { return }
        unlink(lockPath)
        close(descriptor)
        descriptor = -1
    }

    deinit { release() }
}
