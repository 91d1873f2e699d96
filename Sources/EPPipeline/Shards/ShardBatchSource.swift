import EPCore
import EPFormats
import EPStore
import Foundation

/// Batches from the shards of a plan, for the merge: batch after batch in plan order, each shard opened (and
/// checked: ``ShardFile``) when its first batch is needed, waiting for a shard that is not there yet. The merge
/// starts as soon as shard 0 exists and takes each next shard when it is complete.
public final class ShardBatchSource: TextBatchSource {
    public let plan: ShardPlan
    public let run: ShardRun
    /// Seconds to wait without a new shard before giving up (nil: wait as long as it takes).
    public var wait: Double?
    /// Seconds between looks for a missing shard.
    public var pollInterval = 0.25
    /// Seconds between repeated notes while waiting.
    public var noteInterval = 300.0
    /// Called with a line when the merge starts waiting for a shard (and every ``noteInterval`` while it waits).
    public var onNote: ((String) -> Void)?
    /// Called when the merge starts or stops waiting for a shard (its index, or nil).
    public var onWaiting: ((Int?) -> Void)?

    public private(set) var extractionSeconds = 0.0
    public var extractionLabel: String { "shard reads" }
    public private(set) var emittedWindows: Int64 = 0
    public private(set) var emittedTokens = 0
    /// The next batch of the plan to hand out.
    public private(set) var nextBatch = 0
    public private(set) var corpusStatistics = CorpusStatistics()
    private var open: ShardFile?
    private var lastProgress = Date()

    public init(plan: ShardPlan, run: ShardRun) {
        self.plan = plan
        self.run = run
    }

    public var modelSHA256: String { plan.model.sha256 }
    public var modelWidth: Int { plan.model.width }
    public var width: Int { plan.model.hookWidths[0] }
    public var explanation: String { "the plan holds \(plan.corpus.windows) windows" }

    /// The shard being read (or last read).
    public var currentShard: Int? { open?.shard.index ?? plan.shard(holding: max(nextBatch - 1, 0))?.index }

    public func next(hooks: [Int], shouldStop: () -> Bool) throws -> BatchPull {
        guard nextBatch < plan.corpus.batches else {
            if plan.corpus.exhausted { return .end }
            throw PipelineError("\(run.planPath): the build went past the plan's \(plan.corpus.batches) batches, where the plan says the build ends; the plan does not match this ep's build")
        }
        guard let file = try shardFile(holding: nextBatch, shouldStop: shouldStop) else { return .stopped }
        let started = Date()
        defer { extractionSeconds += Date().timeIntervalSince(started) }
        let local = nextBatch - file.shard.batches.lowerBound
        let batch: ActivationBatch
        do { batch = try file.batch(local, hooks: hooks) } catch { throw refusal(error, shard: file.shard.index) }
        advance(file, local: local)
        return .batch(batch)
    }

    public func skip(windows count: Int64, each: (ContextWindow) -> Void) throws {
        var remaining = count
        while remaining > 0 {
            guard nextBatch < plan.corpus.batches else {
                throw PipelineError("\(run.planPath): the checkpoint consumed \(count) windows, but the plan holds \(plan.corpus.windows)")
            }
            guard let file = try shardFile(holding: nextBatch, shouldStop: { false }) else { return }
            let local = nextBatch - file.shard.batches.lowerBound
            let windows = file.windows(ofBatch: local)
            guard windows.count <= remaining else {
                throw PipelineError("\(run.planPath): the checkpoint consumed \(count) windows, which ends inside batch \(nextBatch) of the plan")
            }
            for w in windows { each(w) }
            remaining -= Int64(windows.count)
            advance(file, local: local)
        }
    }

    private func advance(_ file: ShardFile, local: Int) {
        let windows = file.windows(ofBatch: local)
        emittedWindows += Int64(windows.count)
        emittedTokens += windows.reduce(0) { $0 + $1.tokens.count }
        corpusStatistics.counts = file.batchCorpus[local]
        nextBatch += 1
        if nextBatch == file.shard.batches.upperBound { open = nil }
    }

    /// The shard holding `batch`, opened and checked; waits for it when it is not there. Nil when `shouldStop`
    /// said yes while waiting.
    private func shardFile(holding batch: Int, shouldStop: () -> Bool) throws -> ShardFile? {
        let shard = plan.shard(holding: batch)!
        if let open, open.shard.index == shard.index { return open }
        let path = run.shardPath(shard.index)
        var lastNote: Date?
        while !FileManager.default.fileExists(atPath: path) {
            if shouldStop() { return nil }
            if let wait, Date().timeIntervalSince(lastProgress) >= wait {
                onWaiting?(nil)
                throw PipelineError(missingShardsMessage(from: shard.index))
            }
            if lastNote == nil || Date().timeIntervalSince(lastNote!) >= noteInterval {
                if lastNote == nil { onWaiting?(shard.index) }
                onNote?("waiting for shard \(shard.index) (\(path)): \(describe(shard.index))")
                lastNote = Date()
            }
            usleep(UInt32(pollInterval * 1e6))
        }
        if lastNote != nil { onWaiting?(nil) }
        let file: ShardFile
        do { file = try ShardFile(path: path, plan: plan, index: shard.index) } catch { throw refusal(error, shard: shard.index) }
        open = file
        lastProgress = Date()
        return file
    }

    /// What the status records say about shard `index`.
    private func describe(_ index: Int) -> String {
        guard let record = try? ShardStatusRecord.read(path: run.statusPath(index)), record.planID == plan.planID else { return "not started" }
        switch record.state {
        case .running: return "extracting on \(record.host) (pid \(record.pid)), \(record.rows) of \(record.rowsTotal) rows"
        case .failed: return "its last extraction failed: \(record.error ?? "no reason recorded")"
        case .done: return "extracted, but the file is gone"
        }
    }

    private func missingShardsMessage(from first: Int) -> String {
        let missing = plan.shards[first...].filter { !FileManager.default.fileExists(atPath: run.shardPath($0.index)) }.map(\.index)
        let listed = missing.prefix(8).map { "\($0) (\(describe($0)))" }.joined(separator: "; ")
        let more = missing.count > 8 ? "; and \(missing.count - 8) more" : ""
        return "\(run.folder): no new shard for \(Int(wait ?? 0)) s (--wait); missing shard\(missing.count == 1 ? "" : "s") \(listed)\(more); extract \(missing.count == 1 ? "it" : "them") (ep shards extract \(run.folder) --index I) and run the merge again with --resume"
    }

    /// The error for a shard that cannot be used, with what to do.
    private func refusal(_ error: Error, shard index: Int) -> PipelineError {
        PipelineError("\(error); remove it and extract it again (ep shards extract \(run.folder) --index \(index)), then continue the merge with --resume")
    }
}
