import EPFormats

/// A context window cut from a corpus: the token ids fed to the model in one sequence, and where they came from.
/// Region references (``RowReference``) point into windows by `id` and position.
public struct ContextWindow: Sendable, Equatable {
    /// Position of the window in the build's stream (0, 1, 2, …), the source id of its rows' references.
    public var id: Int64
    /// Token ids, BOS first when the build prepended one.
    public var tokens: [Int32]
    /// The document it came from (`file`, `file:line`).
    public var origin: String
    /// The window as text, for windows whose tokens are not stored: the prompts of a dictionary imported from the
    /// authors' pickles (``PickleImport``), whose positions count tokens of a tokenizer ep may not have. Nil for
    /// windows of token ids.
    public var text: String?

    public init(id: Int64, tokens: [Int32], origin: String, text: String? = nil) {
        self.id = id
        self.tokens = tokens
        self.origin = origin
        self.text = text
    }
}

/// The context windows a dictionary's closest and farthest member references point into, so that a region's
/// members can be shown as text with the member token highlighted. Stored as `contexts.safetensors`:
///
/// | tensor | dtype, shape | meaning |
/// |---|---|---|
/// | `window_id` | I64 [W] | window ids, ascending |
/// | `token_offset` | I64 [W+1] | window w's tokens are `tokens[token_offset[w] ..< token_offset[w+1]]` |
/// | `tokens` | I32 [T] | token ids of all windows, one after the other |
/// | `origin_offset` | I64 [W+1] | window w's origin is the UTF-8 text `origin_utf8[origin_offset[w] ..< origin_offset[w+1]]` |
/// | `origin_utf8` | U8 [B] | origins (`file:line`) as UTF-8, one after the other |
/// | `text_offset` | I64 [W+1] | only when some window is text (imported dictionaries): window w's text is `text_utf8[text_offset[w] ..< text_offset[w+1]]`; a window with tokens has an empty range |
/// | `text_utf8` | U8 [C] | the texts as UTF-8, one after the other |
///
/// A window is a text window when the file has the text tensors and the window has no tokens.
public struct ContextTable: Sendable, Equatable {
    /// The windows, by ascending id.
    public private(set) var windows: [ContextWindow]
    private var index: [Int64: Int]

    /// A table of `windows` (sorted by id here; ids must be distinct).
    public init(_ windows: [ContextWindow]) {
        self.windows = windows.sorted { $0.id < $1.id }
        index = Dictionary(self.windows.enumerated().map { ($1.id, $0) }, uniquingKeysWith: { first, _ in first })
    }

    /// The window with `id`, if the table holds it.
    public func window(id: Int64) -> ContextWindow? { index[id].map { windows[$0] } }

    /// Total tokens held.
    public var tokenCount: Int { windows.reduce(0) { $0 + $1.tokens.count } }

    /// Writes the table as a safetensors file and returns its size in bytes.
    @discardableResult
    public func write(to path: String) throws -> Int {
        var writer = SafetensorsWriter()
        add(to: &writer)
        return try writer.write(to: path)
    }

    /// Adds the table's five tensors to `writer` (a file holding other tensors too, such as a shard).
    public func add(to writer: inout SafetensorsWriter) {
        var tokenOffsets: [Int64] = [0], originOffsets: [Int64] = [0], textOffsets: [Int64] = [0]
        var tokens: [Int32] = [], origins: [UInt8] = [], texts: [UInt8] = []
        tokens.reserveCapacity(tokenCount)
        for w in windows {
            tokens += w.tokens
            origins += Array(w.origin.utf8)
            if w.tokens.isEmpty, let text = w.text { texts += Array(text.utf8) }
            tokenOffsets.append(Int64(tokens.count))
            originOffsets.append(Int64(origins.count))
            textOffsets.append(Int64(texts.count))
        }
        writer.add("window_id", shape: [windows.count], values: windows.map(\.id))
        writer.add("token_offset", shape: [windows.count + 1], values: tokenOffsets)
        writer.add("tokens", shape: [tokens.count], values: tokens)
        writer.add("origin_offset", shape: [windows.count + 1], values: originOffsets)
        writer.add("origin_utf8", dtype: .uint8, shape: [origins.count], bytes: origins)
        if windows.contains(where: { $0.text != nil && $0.tokens.isEmpty }) {
            writer.add("text_offset", shape: [windows.count + 1], values: textOffsets)
            writer.add("text_utf8", dtype: .uint8, shape: [texts.count], bytes: texts)
        }
    }

    /// Reads and checks a table written by ``write(to:)``.
    public static func read(path: String) throws -> ContextTable {
        try read(from: try SafetensorsFile(path: path))
    }

    /// Reads and checks the table's tensors in an open file (``add(to:)``).
    public static func read(from st: SafetensorsFile) throws -> ContextTable {
        let path = st.path
        func tensor(_ name: String, _ dtype: SafetensorsDType) throws -> SafetensorsTensorInfo {
            guard let info = st.tensors[name] else { throw FileFormatError(path, "missing tensor '\(name)' (expected \(dtype.rawValue))") }
            guard info.dtype == dtype, info.shape.count == 1 else {
                throw FileFormatError(path, "tensor '\(name)': expected a 1-D \(dtype.rawValue) tensor, found \(info.dtype.rawValue) \(info.shape)")
            }
            return info
        }
        let w = try tensor("window_id", .int64).shape[0]
        for (name, dtype) in [("token_offset", SafetensorsDType.int64), ("origin_offset", .int64)] {
            let info = try tensor(name, dtype)
            guard info.shape == [w + 1] else { throw FileFormatError(path, "tensor '\(name)': expected I64 [\(w + 1)], found \(info.shape)") }
        }
        let ids = try st.integers("window_id").map(Int64.init)
        let tokenOffsets = try st.integers("token_offset")
        let originOffsets = try st.integers("origin_offset")
        let tokenCount = try tensor("tokens", .int32).shape[0]
        let originCount = try tensor("origin_utf8", .uint8).shape[0]
        for (name, offsets, total) in [("token_offset", tokenOffsets, tokenCount), ("origin_offset", originOffsets, originCount)] {
            guard offsets.first == 0, offsets.last == total, zip(offsets, offsets.dropFirst()).allSatisfy({ $0 <= $1 }) else {
                throw FileFormatError(path, "tensor '\(name)': expected increasing offsets from 0 to \(total)")
            }
        }
        guard zip(ids, ids.dropFirst()).allSatisfy({ $0 < $1 }) else { throw FileFormatError(path, "tensor 'window_id': ids are not strictly increasing") }
        let tokens = try st.integers("tokens").map { Int32(truncatingIfNeeded: $0) }
        let origins = try st.integers("origin_utf8").map { UInt8(truncatingIfNeeded: $0) }
        var textOffsets: [Int]?, texts: [UInt8] = []
        if st.tensors["text_offset"] != nil || st.tensors["text_utf8"] != nil {
            let info = try tensor("text_offset", .int64)
            guard info.shape == [w + 1] else { throw FileFormatError(path, "tensor 'text_offset': expected I64 [\(w + 1)], found \(info.shape)") }
            let offsets = try st.integers("text_offset")
            let count = try tensor("text_utf8", .uint8).shape[0]
            guard offsets.first == 0, offsets.last == count, zip(offsets, offsets.dropFirst()).allSatisfy({ $0 <= $1 }) else {
                throw FileFormatError(path, "tensor 'text_offset': expected increasing offsets from 0 to \(count)")
            }
            textOffsets = offsets
            texts = try st.integers("text_utf8").map { UInt8(truncatingIfNeeded: $0) }
        }
        return ContextTable((0..<w).map { i in
            let windowTokens = Array(tokens[tokenOffsets[i]..<tokenOffsets[i + 1]])
            let text = textOffsets.flatMap { o in windowTokens.isEmpty ? String(decoding: texts[o[i]..<o[i + 1]], as: UTF8.self) : nil }
            return ContextWindow(
                id: ids[i], tokens: windowTokens,
                origin: String(decoding: origins[originOffsets[i]..<originOffsets[i + 1]], as: UTF8.self), text: text)
        })
    }
}
