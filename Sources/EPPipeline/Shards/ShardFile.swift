import EPCore
import EPFormats
import EPStore
import EPTensors
import Foundation

/// One shard of a plan: the activations of its batches at every hook of the plan, in the plan's precision, with
/// their provenance. A safetensors file, format `ep-shard` version 1:
///
/// | tensor | dtype, shape | meaning |
/// |---|---|---|
/// | `activations.<hook>` | F16/BF16/F32 [R, D] | the rows of each hook, batch after batch, window after window |
/// | `row_window` | I64 [R] | the window (id in the build's stream) each row comes from |
/// | `row_position` | I32 [R] | its position in the window |
/// | `batch_windows` | I64 [B] | windows of each batch |
/// | `batch_rows` | I64 [B] | rows of each batch |
/// | `batch_corpus` | I64 [B, 7] | what the corpus reader had read after each batch's windows were cut: files, documents, bytes, skipped lines, repaired documents, skipped documents, skipped binary files |
/// | `batch_sha256` | U8 [B, H, 32] | SHA-256 of each batch's stored bytes of each hook |
/// | `window_id`, `token_offset`, `tokens`, `origin_offset`, `origin_utf8` | | the windows, as in `contexts.safetensors` (``ContextTable``) |
///
/// Metadata: `format` (`ep-shard`), `format_version`, `plan_id`, `index`, `dtype`, `hooks` (a JSON array),
/// `ep_version`, `rows`, `windows`, `batches`. Written atomically (a temporary sibling renamed into place), so a
/// shard at its path is complete.
public final class ShardFile {
    /// The value of the `format` metadata.
    public static let formatName = "ep-shard"
    /// The format version written and read.
    public static let formatVersion = 1

    /// The file.
    public let path: String
    /// The shard of the plan it holds.
    public let shard: ShardPlan.Shard
    /// Its windows, in order.
    public let windows: [ContextWindow]
    /// Windows, rows and corpus counts of each of its batches.
    public let batchWindows: [Int]
    public let batchRows: [Int]
    public let batchCorpus: [CorpusCounts]
    private let file: SafetensorsFile
    private let dtype: ActivationDType
    private let hooks: [String]
    private let widths: [Int]
    private let references: [RowReference]
    private let digests: [UInt8]
    /// First row of each batch (and the end).
    private let batchStarts: [Int]
    private let windowStarts: [Int]

    /// Opens shard `index` of `plan` at `path` and checks everything but the activation bytes (those are checked
    /// batch by batch as they are read): the header, the metadata (format, plan, index, precision, hooks), the
    /// shapes, the windows (ids and the plan's digest of their tokens) and the rows' provenance. Errors name the
    /// file and what is wrong.
    public init(path: String, plan: ShardPlan, index: Int) throws {
        self.path = path
        shard = plan.shards[index]
        let settings = plan.settings
        let file = try SafetensorsFile(path: path)
        self.file = file
        func fail(_ problem: String) -> PipelineError { PipelineError("\(path): \(problem)") }
        let m = file.metadata
        guard m["format"] == Self.formatName else {
            throw fail("not an ep shard (its format metadata is \(m["format"].map { "\"\($0)\"" } ?? "missing"), expected \"\(Self.formatName)\")")
        }
        guard m["format_version"] == String(Self.formatVersion) else {
            throw fail("shard format version \(m["format_version"] ?? "missing"); this ep reads version \(Self.formatVersion)")
        }
        guard let planID = m["plan_id"], planID == plan.planID else {
            throw fail("a shard of another plan (plan_id \(m["plan_id"].map { String($0.prefix(12)) + "…" } ?? "missing"), this plan's is \(plan.planID.prefix(12))…)")
        }
        guard m["index"] == String(index) else { throw fail("holds shard \(m["index"] ?? "?") of the plan, not shard \(index)") }
        guard m["dtype"] == settings.activationDType.rawValue else {
            throw fail("holds \(m["dtype"] ?? "?") activations, the plan asks for \(settings.activationDType.rawValue)")
        }
        let hooks = settings.hooks, widths = plan.model.hookWidths, dtype = settings.activationDType
        self.hooks = hooks
        self.widths = widths
        self.dtype = dtype
        guard m["hooks"] == JSONValue.array(hooks.map { .string($0) }).rendered() else {
            throw fail("holds the hooks \(m["hooks"] ?? "?"), the plan's are \(hooks.joined(separator: ", "))")
        }
        let shard = self.shard
        let r = shard.rows, b = shard.batches.count, w = Int(shard.windows.count)
        func tensor(_ name: String, _ dtype: SafetensorsDType, _ shape: [Int]) throws -> SafetensorsTensorInfo {
            guard let info = file.tensors[name] else { throw fail("no tensor '\(name)' (truncated or not written by ep shards extract)") }
            guard info.dtype == dtype, info.shape == shape else {
                throw fail("tensor '\(name)' is \(info.dtype.rawValue) \(info.shape), expected \(dtype.rawValue) \(shape) for shard \(index) of the plan")
            }
            return info
        }
        for (hook, width) in zip(hooks, widths) { _ = try tensor("activations.\(hook)", dtype.safetensorsDType, [r, width]) }
        for (name, dtype, shape) in [
            ("row_window", SafetensorsDType.int64, [r]), ("row_position", .int32, [r]), ("batch_windows", .int64, [b]), ("batch_rows", .int64, [b]),
            ("batch_corpus", .int64, [b, 7]), ("batch_sha256", .uint8, [b, hooks.count, 32]),
        ] { _ = try tensor(name, dtype, shape) }
        let windows = try ContextTable.read(from: file).windows
        self.windows = windows
        guard windows.count == w, windows.first?.id == shard.windows.lowerBound, windows.last?.id == shard.windows.upperBound - 1 else {
            throw fail("holds windows \(windows.first?.id ?? 0)..<\((windows.last?.id ?? -1) + 1), shard \(index) of the plan is windows \(shard.windows.lowerBound)..<\(shard.windows.upperBound)")
        }
        let digest = WindowDigest.of(windows)
        guard digest == shard.windowsSHA256 else {
            throw fail("its windows' tokens (SHA-256 \(digest.prefix(12))…) are not the plan's for shard \(index) (\(shard.windowsSHA256.prefix(12))…)")
        }
        let batchWindows = try file.integers("batch_windows"), batchRows = try file.integers("batch_rows")
        self.batchWindows = batchWindows
        self.batchRows = batchRows
        let windowCounts = shard.batches.map { plan.batchWindowCount($0) }
        guard batchWindows == windowCounts else { throw fail("tensor 'batch_windows' is \(batchWindows), the plan's batches hold \(windowCounts) windows") }
        var references: [RowReference] = []
        references.reserveCapacity(r)
        var starts = [0], windowStarts = [0]
        var next = 0
        for count in batchWindows {
            for window in windows[next..<(next + count)] {
                for p in settings.extraction.positions(inWindowOf: window.tokens.count) {
                    references.append(RowReference(source: window.id, position: Int32(p)))
                }
            }
            next += count
            starts.append(references.count)
            windowStarts.append(next)
        }
        guard references.count == r, zip(starts, starts.dropFirst()).map({ $1 - $0 }) == batchRows else {
            throw fail("tensor 'batch_rows' does not match the rows its windows give")
        }
        let rowWindows = try file.integers("row_window"), rowPositions = try file.integers("row_position")
        for i in 0..<r where rowWindows[i] != Int(references[i].source) || rowPositions[i] != Int(references[i].position) {
            throw fail("row \(i) is recorded as window \(rowWindows[i]), position \(rowPositions[i]); the windows give window \(references[i].source), position \(references[i].position)")
        }
        let counts = try file.integers("batch_corpus")
        batchCorpus = (0..<b).map { i in
            var c = CorpusCounts()
            (c.files, c.documents, c.bytes, c.skippedLines) = (counts[7 * i], counts[7 * i + 1], counts[7 * i + 2], counts[7 * i + 3])
            (c.repairedDocuments, c.skippedDocuments, c.skippedBinaryFiles) = (counts[7 * i + 4], counts[7 * i + 5], counts[7 * i + 6])
            return c
        }
        let digestInfo = try file.info("batch_sha256")
        digests = try file.file.readBytes(count: digestInfo.byteRange.count, at: digestInfo.byteRange.lowerBound)
        self.references = references
        batchStarts = starts
        self.windowStarts = windowStarts
    }

    /// The windows of batch `local` (counted within the shard).
    public func windows(ofBatch local: Int) -> ArraySlice<ContextWindow> { windows[windowStarts[local]..<windowStarts[local + 1]] }

    /// Batch `local` (counted within the shard) with the rows of the hooks numbered `hooks`, after checking each
    /// hook's bytes against the digest the extraction recorded.
    public func batch(_ local: Int, hooks selected: [Int]) throws -> ActivationBatch {
        let rows = batchStarts[local]..<batchStarts[local + 1]
        var activations = [Matrix?](repeating: nil, count: hooks.count)
        for h in selected {
            let d = widths[h]
            let info = try file.info("activations.\(hooks[h])")
            let size = dtype.byteCount
            var raw = [UInt8](repeating: 0, count: rows.count * d * size)
            try raw.withUnsafeMutableBytes { try file.file.read(into: $0.baseAddress!, count: $0.count, at: info.byteRange.lowerBound + rows.lowerBound * d * size) }
            var hasher = SHA256()
            hasher.update(raw)
            let expected = digests[((local * hooks.count + h) * 32)..<((local * hooks.count + h + 1) * 32)]
            guard hasher.digestBytes == Array(expected) else {
                throw PipelineError("\(path): the activations of \(hooks[h]) in batch \(shard.batches.lowerBound + local) are damaged (their SHA-256 is not the one recorded when the shard was written)")
            }
            var matrix = Matrix(rows: rows.count, columns: d)
            raw.withUnsafeBytes { source in
                matrix.storage.withUnsafeMutableBufferPointer { out in
                    guard let base = out.baseAddress, !out.isEmpty else { return }
                    switch dtype {
                    case .f32: UnsafeMutableRawPointer(base).copyMemory(from: source.baseAddress!, byteCount: source.count)
                    case .f16: HalfPrecision.convertHalf(source.baseAddress!, count: out.count, into: base)
                    case .bf16: HalfPrecision.convertBFloat16(source.baseAddress!, count: out.count, into: base)
                    }
                }
            }
            activations[h] = matrix
        }
        return ActivationBatch(hookActivations: activations, references: Array(references[rows]), windows: Array(windows(ofBatch: local)))
    }

    /// Whether `path` holds a complete shard `index` of `plan` (its metadata and windows check; the activation
    /// bytes are not read). The reason when not.
    public static func check(path: String, plan: ShardPlan, index: Int) -> String? {
        guard FileManager.default.fileExists(atPath: path) else { return "missing" }
        do {
            _ = try ShardFile(path: path, plan: plan, index: index)
            return nil
        } catch {
            return "\(error)"
        }
    }
}

extension ShardPlan {
    /// Windows of batch `batch` of the plan: `batchWindows`, but for the last batch of a plan whose corpus ended.
    public func batchWindowCount(_ batch: Int) -> Int {
        guard batch == corpus.batches - 1 else { return settings.batchWindows }
        return Int(corpus.windows) - (corpus.batches - 1) * settings.batchWindows
    }
}

/// Writes one shard (``ShardFile``'s layout): the file is laid out when the writer is made (the windows, and so the
/// rows, are known before the model runs), each batch's rows are written in place as they are extracted, and
/// ``commit()`` moves the complete file into place. Abandoned, it leaves nothing at the shard's path.
public final class ShardWriter {
    private let file: AtomicFile
    private let ranges: [String: Range<Int>]
    private let hooks: [String]
    private let widths: [Int]
    private let dtype: ActivationDType
    private let batchStarts: [Int]
    private var digests: [UInt8]
    private var written: Int = 0

    /// A writer of shard `shard` of `plan` at `path`, whose batches hold `batchWindows` windows of `windows` and
    /// after whose batches the corpus reader had read `batchCorpus`.
    public init(path: String, plan: ShardPlan, shard: ShardPlan.Shard, windows: [ContextWindow], batchWindows: [Int], batchCorpus: [CorpusCounts]) throws {
        precondition(batchWindows.count == shard.batches.count && batchCorpus.count == batchWindows.count && batchWindows.reduce(0, +) == windows.count)
        let settings = plan.settings
        hooks = settings.hooks
        widths = plan.model.hookWidths
        dtype = settings.activationDType
        var rowWindow: [Int64] = [], rowPosition: [Int32] = [], batchRows: [Int64] = []
        var starts = [0]
        var next = 0
        for count in batchWindows {
            for window in windows[next..<(next + count)] {
                for p in settings.extraction.positions(inWindowOf: window.tokens.count) {
                    rowWindow.append(window.id)
                    rowPosition.append(Int32(p))
                }
            }
            next += count
            batchRows.append(Int64(rowWindow.count - starts.last!))
            starts.append(rowWindow.count)
        }
        batchStarts = starts
        let r = rowWindow.count
        var writer = SafetensorsWriter()
        writer.metadata = [
            "format": ShardFile.formatName, "format_version": String(ShardFile.formatVersion), "plan_id": plan.planID, "index": String(shard.index),
            "dtype": dtype.rawValue, "hooks": JSONValue.array(hooks.map { .string($0) }).rendered(), "ep_version": EPVersion.current,
            "rows": String(r), "windows": String(windows.count), "batches": String(batchWindows.count),
        ]
        for (hook, width) in zip(hooks, widths) { writer.reserve("activations.\(hook)", dtype: dtype.safetensorsDType, shape: [r, width]) }
        writer.add("row_window", shape: [r], values: rowWindow)
        writer.add("row_position", shape: [r], values: rowPosition)
        writer.add("batch_windows", shape: [batchWindows.count], values: batchWindows.map(Int64.init))
        writer.add("batch_rows", shape: [batchRows.count], values: batchRows)
        let corpus: [Int64] = batchCorpus.flatMap { c in
            [c.files, c.documents, c.bytes, c.skippedLines, c.repairedDocuments, c.skippedDocuments, c.skippedBinaryFiles].map(Int64.init)
        }
        writer.add("batch_corpus", shape: [batchCorpus.count, 7], values: corpus)
        writer.reserve("batch_sha256", dtype: .uint8, shape: [batchWindows.count, hooks.count, 32])
        ContextTable(windows).add(to: &writer)
        digests = [UInt8](repeating: 0, count: batchWindows.count * hooks.count * 32)
        file = try AtomicFile(path: path)
        ranges = try writer.write(into: file)
    }

    /// Rows of the shard.
    public var rows: Int { batchStarts.last! }

    /// Writes the next batch (every hook's rows, already rounded to the plan's precision).
    public func append(_ batch: ActivationBatch) throws {
        let local = written
        precondition(local + 1 < batchStarts.count, "ShardWriter.append: more batches than the shard holds")
        let start = batchStarts[local], count = batchStarts[local + 1] - start
        precondition(batch.rowCount == count, "ShardWriter.append: batch \(local) has \(batch.rowCount) rows, the shard's has \(count)")
        let size = dtype.byteCount
        for (h, hook) in hooks.enumerated() {
            let d = widths[h]
            let matrix = batch.hookActivations[h]!
            var bytes = [UInt8](repeating: 0, count: count * d * size)
            matrix.storage.withUnsafeBufferPointer { values in
                bytes.withUnsafeMutableBytes { out in
                    guard count > 0 else { return }
                    switch dtype {
                    case .f32: out.baseAddress!.copyMemory(from: values.baseAddress!, byteCount: out.count)
                    case .f16: _ = HalfPrecision.encodeHalf(values.baseAddress!, count: values.count, into: out.baseAddress!.assumingMemoryBound(to: UInt16.self))
                    case .bf16: _ = HalfPrecision.encodeBFloat16(values.baseAddress!, count: values.count, into: out.baseAddress!.assumingMemoryBound(to: UInt16.self))
                    }
                }
            }
            try bytes.withUnsafeBytes { try file.write($0, at: ranges["activations.\(hook)"]!.lowerBound + start * d * size) }
            var hasher = SHA256()
            hasher.update(bytes)
            let at = (local * hooks.count + h) * 32
            digests.replaceSubrange(at..<(at + 32), with: hasher.digestBytes)
        }
        written += 1
    }

    /// Writes the digests and moves the complete shard into place.
    public func commit() throws {
        precondition(written == batchStarts.count - 1, "ShardWriter.commit: \(written) of \(batchStarts.count - 1) batches written")
        try digests.withUnsafeBytes { try file.write($0, at: ranges["batch_sha256"]!.lowerBound) }
        try file.commit()
    }
}
