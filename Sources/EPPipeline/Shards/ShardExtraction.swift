import EPCore
import EPFormats
import EPRuntime
import EPStore
import Foundation

/// The extraction step of a sharded build: shard `index` of a plan, from the model. It replays the build's window
/// stream to the shard's first window (tokenizing, without the model), checks that the corpus still gives the
/// shard's windows (the plan's digest), runs the shard's batches through the model exactly as the build in one
/// process does (same batches, same windows per forward call, same threads, same rounding), and writes the shard
/// atomically (``ShardWriter``). Its status record (``ShardStatusRecord``) says what it is doing.
public final class ShardExtraction {
    public let run: ShardRun
    public let plan: ShardPlan
    public let shard: ShardPlan.Shard
    /// Asked between forward calls; when it says yes the extraction stops, writes no shard, records `failed` with
    /// ``interruptReason`` and throws ``Interrupted``.
    public var shouldStop: () -> Bool = { false }
    /// Why a stop was asked for (`interrupted by SIGTERM`).
    public var interruptReason: () -> String = { "interrupted" }
    /// Called after every batch.
    public var onProgress: ((_ rows: Int, _ rowsTotal: Int, _ tokens: Int, _ seconds: Double) -> Void)?
    /// Called with a line of information (where the replay stands).
    public var onNote: ((String) -> Void)?

    /// Thrown when a stop was asked for.
    public struct Interrupted: Error, CustomStringConvertible {
        public let reason: String
        public var description: String { reason }
    }

    /// What an extraction did.
    public struct Summary: Sendable {
        public var rows: Int
        public var tokens: Int
        public var windows: Int
        /// Seconds from the model opened to the shard written, and of the forward passes alone.
        public var seconds: Double
        public var extractionSeconds: Double
        /// Seconds replaying the corpus up to the shard.
        public var replaySeconds: Double
        public var bytes: Int
    }

    public init(run: ShardRun, plan: ShardPlan, index: Int) throws {
        guard plan.shards.indices.contains(index) else {
            throw PipelineError("--index \(index): the plan has shards 0…\(plan.shards.count - 1)")
        }
        self.run = run
        self.plan = plan
        shard = plan.shards[index]
    }

    /// Runs the extraction with the model `openModel` opens (with the plan's threads): the model, the path it was
    /// loaded from, and its tokenizer. Every failure is recorded in the status record before it is thrown.
    public func extract(openModel: () throws -> (model: LanguageModel, path: String, tokenizer: TextTokenizer)) throws -> Summary {
        let started = Date()
        let startedText = DictionaryManifest.timestamp(started)
        var record = ShardStatusRecord(
            planID: plan.planID, index: shard.index, state: .running, host: ShardRun.hostName, pid: Int(getpid()), started: startedText,
            updated: startedText, ended: nil, rows: 0, rowsTotal: shard.rows, seconds: 0, error: nil)
        func save(_ state: ShardStatusRecord.State, rows: Int, error: String? = nil) {
            let now = Date()
            record.state = state
            record.rows = rows
            record.updated = DictionaryManifest.timestamp(now)
            record.seconds = now.timeIntervalSince(started)
            if state != .running { record.ended = record.updated }
            record.error = error
            // A status record that cannot be written costs only `ep shards status` its detail.
            try? record.write(to: run.statusPath(shard.index))
        }
        try FileManager.default.createDirectory(atPath: run.statusFolder, withIntermediateDirectories: true)
        save(.running, rows: 0)
        do {
            let opened = try openModel()
            let summary = try extract(model: opened.model, modelPath: opened.path, tokenizer: opened.tokenizer, started: started) { rows in
                save(.running, rows: rows)
            }
            save(.done, rows: summary.rows)
            return summary
        } catch let error as Interrupted {
            save(.failed, rows: record.rows, error: error.reason)
            throw error
        } catch {
            save(.failed, rows: record.rows, error: "\(error)")
            throw error
        }
    }

    private func extract(
        model: LanguageModel, modelPath: String, tokenizer: TextTokenizer, started: Date, heartbeat: (Int) -> Void
    ) throws -> Summary {
        let settings = plan.settings
        let sha = try ModelIdentity.sha256(of: modelPath)
        guard sha == plan.model.sha256 else {
            throw PipelineError("\(modelPath): the plan was made for the model \(plan.model.name) with SHA-256 \(plan.model.sha256.prefix(12))…, and this file has \(sha.prefix(12))…; give the same model file")
        }
        guard model.threadCount == settings.threads else {
            throw PipelineError("the plan's model runs with \(settings.threads) threads (forward results can depend on how work is split across threads); this one has \(model.threadCount)")
        }
        guard model.config.modelWidth == plan.model.width else {
            throw PipelineError("\(modelPath): the model has width \(model.config.modelWidth), the plan says \(plan.model.width)")
        }
        let extractor = try ActivationExtractor(model: model, hooks: settings.hooks, settings: settings.extraction)
        for (point, width) in zip(extractor.points, plan.model.hookWidths) where model.width(of: point) != width {
            throw PipelineError("\(point.name) has width \(model.width(of: point)) in \(modelPath), the plan says \(width)")
        }
        // Replay the stream to the shard's first window, then take its windows batch by batch.
        let replayStarted = Date()
        let reader = try CorpusReader(paths: settings.corpus, options: settings.corpusOptions)
        let stream = try WindowStream(corpus: reader, settings: settings.windows) {
            tokenizer.encode($0, parseSpecial: true, addSpecial: false)
        }
        func changed(_ what: String) -> PipelineError {
            PipelineError("shard \(shard.index): the corpus (\(settings.corpus.joined(separator: ", "))) changed since the plan was made: \(what); restore it as it was, or make the plan again (ep shards plan)")
        }
        if shard.windows.lowerBound > 0 {
            onNote?("replaying the corpus to window \(shard.windows.lowerBound) (tokenizing only)")
            while stream.emitted < shard.windows.lowerBound {
                guard try stream.next() != nil else {
                    throw changed("it ended after \(stream.emitted) windows, before the shard's first window \(shard.windows.lowerBound)")
                }
            }
        }
        var windows: [ContextWindow] = []
        var batchWindows: [Int] = []
        var batchCorpus: [CorpusCounts] = []
        for b in shard.batches {
            let count = plan.batchWindowCount(b)
            for _ in 0..<count {
                guard let w = try stream.next() else {
                    throw changed("it ended after \(stream.emitted) windows, inside the shard's windows \(shard.windows.lowerBound)..<\(shard.windows.upperBound)")
                }
                windows.append(w)
            }
            batchWindows.append(count)
            batchCorpus.append(stream.corpusStatistics.counts)
        }
        let digest = WindowDigest.of(windows)
        guard digest == shard.windowsSHA256 else {
            throw changed("its windows \(shard.windows.lowerBound)..<\(shard.windows.upperBound) now have tokens with SHA-256 \(digest.prefix(12))…, the plan recorded \(shard.windowsSHA256.prefix(12))…")
        }
        let replaySeconds = Date().timeIntervalSince(replayStarted)
        let writer = try ShardWriter(
            path: run.shardPath(shard.index), plan: plan, shard: shard, windows: windows, batchWindows: batchWindows, batchCorpus: batchCorpus)
        guard writer.rows == shard.rows else {
            throw PipelineError("shard \(shard.index): its windows give \(writer.rows) rows, the plan says \(shard.rows)")
        }
        let forwardStarted = Date()
        var extractionSeconds = 0.0
        var next = 0, rows = 0, tokens = 0
        let all = Array(settings.hooks.indices)
        for count in batchWindows {
            if shouldStop() { throw Interrupted(reason: interruptReason()) }
            let part = Array(windows[next..<(next + count)])
            let t0 = Date()
            guard let batch = try ModelBatchSource.extract(part, hooks: all, extractor: extractor, settings: settings, shouldStop: shouldStop) else {
                throw Interrupted(reason: interruptReason())
            }
            extractionSeconds += Date().timeIntervalSince(t0)
            try writer.append(batch)
            next += count
            rows += batch.rowCount
            tokens += batch.tokens
            heartbeat(rows)
            onProgress?(rows, shard.rows, tokens, Date().timeIntervalSince(forwardStarted))
        }
        try writer.commit()
        let bytes = (try? FileManager.default.attributesOfItem(atPath: run.shardPath(shard.index))[.size] as? NSNumber)?.intValue ?? 0
        return Summary(
            rows: rows, tokens: tokens, windows: windows.count, seconds: Date().timeIntervalSince(started), extractionSeconds: extractionSeconds,
            replaySeconds: replaySeconds, bytes: bytes)
    }
}
