import EPCore
import EPFormats
import EPStore
import Foundation

/// The merge step of a sharded build: the builder of a build in one process (``TextDictionaryBuilder``), with the
/// plan's settings, fed by the plan's shards (``ShardBatchSource``) instead of the model. Calibration, clustering,
/// saturation, checkpoints and resume are the builder's, so the merged dictionary is the one `ep build` writes with
/// the same settings. The merge needs no model: the model's identity and widths come from the plan. Its status
/// record (``MergeStatusRecord``) says what it is doing.
public final class ShardMerge: BuildObserving {
    public let run: ShardRun
    public let plan: ShardPlan
    public let output: BuildOutput
    public let source: ShardBatchSource
    /// Asked between batches (and while waiting for a shard): stops at the last complete batch with a usable,
    /// resumable dictionary, as a build does.
    public var shouldStop: () -> Bool = { false }
    public var onProgress: ((BuildProgress) -> Void)?
    public var onNote: ((String) -> Void)?
    private let cache: CalibrationCache

    /// The merge of `plan` (in `run`) into `output` (a path: one dictionary, or the folder a build of the plan's
    /// hooks and percentiles writes).
    public init(run: ShardRun, plan: ShardPlan, output path: String, cache: CalibrationCache = CalibrationCache()) {
        self.run = run
        self.plan = plan
        let labels = plan.settings.givenCalibration == nil ? plan.settings.percentiles.map(percentileLabel) : ["given"]
        output = BuildOutput.of(path, hooks: plan.settings.hooks, labels: labels)
        source = ShardBatchSource(plan: plan, run: run)
        self.cache = cache
    }

    /// Runs (or, with `resume`, continues) the merge and writes the dictionaries.
    public func merge(resume: Bool) throws -> TextBuildSummary {
        let started = Date()
        let startedText = DictionaryManifest.timestamp(started)
        let absolute = output.root.hasPrefix("/") ? output.root : FileManager.default.currentDirectoryPath + "/" + output.root
        var record = MergeStatusRecord(
            planID: plan.planID, output: absolute, state: .running, host: ShardRun.hostName, pid: Int(getpid()), started: startedText,
            updated: startedText, batches: 0, batchesPlanned: plan.corpus.batches, shard: nil, waitingFor: nil, rows: 0, seconds: 0,
            stopReason: nil, error: nil)
        var lastSaved = Date.distantPast
        func save(_ state: MergeStatusRecord.State, force: Bool = true) {
            let now = Date()
            guard force || now.timeIntervalSince(lastSaved) >= 1 else { return }
            lastSaved = now
            record.state = state
            record.updated = DictionaryManifest.timestamp(now)
            record.seconds = now.timeIntervalSince(started)
            record.batches = source.nextBatch
            record.shard = source.currentShard
            // A status record that cannot be written costs only `ep shards status` its detail.
            try? record.write(to: run.mergeStatusPath)
        }
        try FileManager.default.createDirectory(atPath: run.statusFolder, withIntermediateDirectories: true)
        save(.running)
        source.onNote = { [weak self] line in self?.onNote?(line) }
        source.onWaiting = { index in
            record.waitingFor = index
            save(index == nil ? .running : .waiting)
        }
        let builder = try TextDictionaryBuilder(settings: plan.settings, output: output, cache: cache) { [source] in source }
        builder.shouldStop = shouldStop
        builder.onNote = onNote
        builder.onProgress = { [weak self] p in
            record.rows = p.activations
            save(.running, force: false)
            self?.onProgress?(p)
        }
        do {
            let summary = try builder.run(resume: resume)
            record.stopReason = summary.stopReason.description
            save(summary.stopReason == .interrupted ? .interrupted : .done)
            return summary
        } catch {
            record.error = "\(error)"
            save(.failed)
            throw error
        }
    }

    /// The shards the merge did not read because the build stopped before them (saturation, or a calibration
    /// from the cache that needed fewer batches than the plan holds).
    public var unreadShards: [Int] {
        plan.shards.filter { $0.batches.lowerBound >= source.nextBatch }.map(\.index)
    }
}
