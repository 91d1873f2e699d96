#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif
import EPFormats

/// What a path names, symbolic links followed (`stat`, not `lstat`).
enum FileKind: Equatable {
    case regular
    case folder
    /// A named pipe: a stream that ends when its writer closes it (read like standard input).
    case fifo
    case socket
    case characterDevice
    case blockDevice
    /// A symbolic link whose target does not exist (or a link loop).
    case brokenLink
    /// Nothing at the path.
    case missing
    /// `stat` failed for another reason (the message says why).
    case unreadable(String)

    /// The kind of `path`, and for a folder its device and inode (to recognise it when a link leads back to it).
    static func of(_ path: String) -> (kind: FileKind, identity: FileIdentity?) {
        var status = stat()
        guard stat(path, &status) == 0 else {
            let error = errno
            if error == ENOENT || error == ELOOP {
                var link = stat()
                return (lstat(path, &link) == 0 ? .brokenLink : .missing, nil)
            }
            return (.unreadable(String(cString: strerror(error))), nil)
        }
        let identity = FileIdentity(device: UInt64(status.st_dev), inode: UInt64(status.st_ino))
        switch status.st_mode & S_IFMT {
        case S_IFREG: return (.regular, identity)
        case S_IFDIR: return (.folder, identity)
        case S_IFIFO: return (.fifo, identity)
        case S_IFSOCK: return (.socket, identity)
        case S_IFCHR: return (.characterDevice, identity)
        case S_IFBLK: return (.blockDevice, identity)
        default: return (.unreadable("not a file, folder, pipe, socket or device"), identity)
        }
    }

    /// The kind in words, for messages ("a named pipe (FIFO)").
    var description: String {
        switch self {
        case .regular: return "a file"
        case .folder: return "a folder"
        case .fifo: return "a named pipe (FIFO)"
        case .socket: return "a socket"
        case .characterDevice: return "a character device"
        case .blockDevice: return "a block device"
        case .brokenLink: return "a broken symbolic link"
        case .missing: return "missing"
        case .unreadable(let why): return "unreadable (\(why))"
        }
    }
}

/// A file's device and inode: what makes it the same file whatever path reaches it.
struct FileIdentity: Hashable {
    var device: UInt64
    var inode: UInt64
}

/// The regular files under a folder, found by a walk that follows symbolic links (to files and to folders) but
/// enters every folder once, so a link cycle ends, and takes regular files only: named pipes, sockets, devices and
/// broken links are left out and counted (reading a FIFO would wait for a writer forever).
struct FolderWalk {
    /// Paths relative to the folder, sorted.
    var files: [String] = []
    /// Paths relative to the folder that are not regular files (pipes, sockets, devices, broken links), with
    /// what they are.
    var special: [(path: String, kind: FileKind)] = []
    /// Files the include and exclude globs left out.
    var excluded = 0
    /// Hidden files and folders (names starting with `.`) left out.
    var hidden = 0
    /// Folders reached again through a symbolic link (a cycle or a second link), not read again.
    var revisitedFolders: [String] = []

    /// Walks `folder` (which must be a readable folder); files are kept when `include` is empty or one of its
    /// globs matches, and no glob of `exclude` does. A subfolder that cannot be listed is an error naming it.
    init(_ folder: String, include: [Glob], exclude: [Glob]) throws {
        var visited: Set<FileIdentity> = []
        if let identity = FileKind.of(folder).identity { visited.insert(identity) }
        var pending: [String] = [""]
        while let relativeFolder = pending.popLast() {
            let full = relativeFolder.isEmpty ? folder : folder + "/" + relativeFolder
            for name in try Self.entries(of: full) {
                if name.hasPrefix(".") {
                    hidden += 1
                    continue
                }
                let relative = relativeFolder.isEmpty ? name : relativeFolder + "/" + name
                let (kind, identity) = FileKind.of(folder + "/" + relative)
                switch kind {
                case .regular:
                    if !include.isEmpty && !include.contains(where: { $0.matches(relative) }) || exclude.contains(where: { $0.matches(relative) }) {
                        excluded += 1
                    } else {
                        files.append(relative)
                    }
                case .folder:
                    if let identity, !visited.insert(identity).inserted {
                        revisitedFolders.append(relative)
                    } else {
                        pending.append(relative)
                    }
                case .unreadable(let why):
                    throw PipelineError("\(folder)/\(relative): cannot be read: \(why)")
                case .missing:
                    continue  // removed while the folder was walked
                default:
                    special.append((relative, kind))
                }
            }
        }
        files.sort()
        special.sort { $0.path < $1.path }
    }

    /// The names in a folder (`.` and `..` left out).
    private static func entries(of folder: String) throws -> [String] {
        guard let directory = opendir(folder) else {
            throw PipelineError("\(folder): folder cannot be read: \(String(cString: strerror(errno)))")
        }
        defer { closedir(directory) }
        var names: [String] = []
        while let entry = readdir(directory) {
            let name = withUnsafeBytes(of: entry.pointee.d_name) { raw in
                String(decoding: raw.prefix(while: { $0 != 0 }), as: UTF8.self)
            }
            if name != "." && name != ".." { names.append(name) }
        }
        return names
    }
}
