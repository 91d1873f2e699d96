import EPFormats
import Foundation

/// The identity of a model on disk: the SHA-256 of its file (a GGUF) or, for a model folder, of the names and
/// hashes of its files in name order. Dictionaries record it, calibration caches are keyed by it, and commands
/// that run a model for a dictionary check it. Hashes are cached by path, size and modification time under the
/// ep cache folder, so a large model is hashed once.
public enum ModelIdentity {
    /// The SHA-256 identity of the model at `path`.
    public static func sha256(of path: String) throws -> String {
        var isFolder: ObjCBool = false
        guard FileManager.default.fileExists(atPath: path, isDirectory: &isFolder) else { throw PipelineError("\(path): no such model file or folder") }
        guard isFolder.boolValue else { return try cachedFileHash(path) }
        let names = try FileManager.default.contentsOfDirectory(atPath: path).filter { !$0.hasPrefix(".") }.sorted()
        var hasher = SHA256()
        for name in names {
            var sub: ObjCBool = false
            guard FileManager.default.fileExists(atPath: path + "/" + name, isDirectory: &sub), !sub.boolValue else { continue }
            hasher.update(Array("\(name)\0\(try cachedFileHash(path + "/" + name))\n".utf8))
        }
        return hasher.hexDigest
    }

    /// The folder of ep's caches: `$EP_CACHE_DIR`, else `$XDG_CACHE_HOME/ep`, else `~/.cache/ep`.
    public static var cacheFolder: String {
        let environment = ProcessInfo.processInfo.environment
        if let folder = environment["EP_CACHE_DIR"], !folder.isEmpty { return folder }
        if let xdg = environment["XDG_CACHE_HOME"], !xdg.isEmpty { return xdg + "/ep" }
        return NSHomeDirectory() + "/.cache/ep"
    }

    private static func cachedFileHash(_ path: String) throws -> String {
        let absolute = URL(fileURLWithPath: path).standardizedFileURL.path
        let attributes = try FileManager.default.attributesOfItem(atPath: absolute)
        let size = (attributes[.size] as? NSNumber)?.int64Value ?? -1
        let modified = (attributes[.modificationDate] as? Date)?.timeIntervalSince1970 ?? 0
        let key = "\(absolute)|\(size)|\(modified)"
        let cachePath = cacheFolder + "/model-hashes/" + {
            var h = SHA256()
            h.update(Array(key.utf8))
            return h.hexDigest
        }()
        if let cached = try? String(contentsOfFile: cachePath, encoding: .utf8), cached.count == 64 { return cached }
        let digest = try SHA256.hexDigest(ofFile: absolute)
        // The cache is an optimisation: a folder that cannot be written only costs hashing again next time.
        if (try? FileManager.default.createDirectory(atPath: cacheFolder + "/model-hashes", withIntermediateDirectories: true)) != nil {
            try? AtomicOutput.write(string: digest, to: cachePath)
        }
        return digest
    }
}
