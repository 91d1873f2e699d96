import EPFormats
import EPStore

/// A running SHA-256 of windows' token ids, in order: each window as its length and its ids, little-endian Int32.
/// A build's checkpoint records it over the windows consumed (`consumed_sha256`, checked by a resume); a shard plan
/// records it over each shard's windows (checked by extraction and by the merge).
public struct WindowDigest: Sendable {
    private var digest = SHA256()

    public init() {}

    /// Adds one window.
    public mutating func add(_ window: ContextWindow) {
        add(tokens: window.tokens[...])
    }

    /// Adds one window given by its token ids.
    public mutating func add(tokens: ArraySlice<Int32>) {
        var length = Int32(tokens.count).littleEndian
        withUnsafeBytes(of: &length) { digest.update($0) }
        tokens.map(\.littleEndian).withUnsafeBytes { digest.update($0) }
    }

    /// The digest of the windows added so far (64 lowercase hex digits).
    public var hexDigest: String { digest.hexDigest }

    /// The digest of `windows`.
    public static func of<S: Sequence>(_ windows: S) -> String where S.Element == ContextWindow {
        var d = WindowDigest()
        for w in windows { d.add(w) }
        return d.hexDigest
    }
}
