import EPCore
import EPFormats
import EPRuntime
import EPStore
import Foundation

/// Makes shard plans: runs the build's window stream over the corpus (tokenizing, no model) to where the build in
/// one process would stop, and cuts the batches into shards.
public enum ShardPlanner {
    /// What the planner reports while it reads the corpus.
    public struct Progress: Sendable {
        public var windows: Int64
        public var tokens: Int
        public var batches: Int
    }

    /// The plan of the build `settings` describes, from `model` (identity and widths) and its `tokenizer`, in
    /// `shards` shards. `arguments` and `workingDirectory` are recorded. Memory: the token ids of the planned
    /// windows (4 bytes a token), to digest each shard's windows once the shards are cut.
    public static func plan(
        settings: TextBuildSettings, model: ShardPlan.Model, tokenizer: TextTokenizer, shards count: Int, arguments: [String],
        workingDirectory: String, progress: ((Progress) -> Void)? = nil
    ) throws -> ShardPlan {
        try settings.validate()
        guard count > 0 else { throw PipelineError("--shards: expected a positive number of shards, found \(count)") }
        if settings.corpus.contains("-") {
            throw PipelineError("--corpus -: a sharded build reads the corpus again in every extraction step, and standard input cannot be read twice; save it to a file and give that")
        }
        guard model.hookWidths.count == settings.hooks.count else { throw PipelineError("the plan needs the width of every hook") }
        let reader = try CorpusReader(paths: settings.corpus, options: settings.corpusOptions)
        let stream = try WindowStream(corpus: reader, settings: settings.windows) {
            tokenizer.encode($0, parseSpecial: true, addSpecial: false)
        }
        /// Per batch: windows, tokens, rows.
        var batches: [(windows: Int, tokens: Int, rows: Int)] = []
        /// Every planned window's token ids, one after the other, and where each window ends.
        var ids: [Int32] = []
        var ends: [Int] = []
        var all = WindowDigest()
        var tokens = 0, rows = 0, calibrationRows = 0
        var calibrationBatches: Int?
        var budgetBatches: Int?
        var exhausted = false
        let calibrating = settings.givenCalibration == nil
        while true {
            var batch = (windows: 0, tokens: 0, rows: 0)
            while batch.windows < settings.batchWindows, let w = try stream.next() {
                batch.windows += 1
                batch.tokens += w.tokens.count
                batch.rows += settings.extraction.positions(inWindowOf: w.tokens.count).count
                ids += w.tokens
                ends.append(ids.count)
                all.add(w)
            }
            if batch.windows == 0 {
                exhausted = true
                break
            }
            batches.append(batch)
            tokens += batch.tokens
            rows += batch.rows
            progress?(Progress(windows: stream.emitted, tokens: tokens, batches: batches.count))
            if calibrating && calibrationBatches == nil {
                calibrationRows += batch.rows
                if calibrationRows >= settings.calibrationTokens { calibrationBatches = batches.count }
            }
            if budgetBatches == nil, let maxTokens = settings.maxTokens, tokens >= maxTokens { budgetBatches = batches.count }
            // The build stops at the budget, but takes every batch its calibration needs first.
            if budgetBatches != nil && (!calibrating || calibrationBatches != nil) { break }
            if batch.windows < settings.batchWindows {
                // The corpus ended inside this batch; the next pull finds nothing.
                exhausted = true
                break
            }
        }
        guard !batches.isEmpty else {
            throw PipelineError("\(settings.corpus.joined(separator: ", ")): the corpus gave no window; \(stream.explanation)")
        }
        guard rows > 0 else {
            throw PipelineError("\(settings.corpus.joined(separator: ", ")): the corpus gave no activations (\(stream.corpusStatistics.documents) documents, \(stream.emitted) windows); \(stream.explanation)")
        }
        if calibrating {
            let available = calibrationBatches.map { b in batches.prefix(b).reduce(0) { $0 + $1.rows } } ?? rows
            guard available >= 2 else {
                throw PipelineError("\(settings.corpus.joined(separator: ", ")): the corpus gave \(available) activation\(available == 1 ? "" : "s") (\(stream.emitted) windows from \(stream.corpusStatistics.documents) documents); calibration needs at least 2; \(stream.explanation)")
            }
        }
        guard count <= batches.count else {
            throw PipelineError("--shards \(count): the plan has \(batches.count) batch\(batches.count == 1 ? "" : "es") of --batch-windows \(settings.batchWindows) windows, and a shard holds whole batches; give at most \(batches.count) shards")
        }
        let cuts = balancedCuts(tokens: batches.map(\.tokens), parts: count)
        var shards: [ShardPlan.Shard] = []
        var window = 0
        for i in 0..<count {
            let range = cuts[i]..<cuts[i + 1]
            let part = batches[range]
            let windowCount = part.reduce(0) { $0 + $1.windows }
            var digest = WindowDigest()
            for w in window..<(window + windowCount) {
                digest.add(tokens: ids[(w == 0 ? 0 : ends[w - 1])..<ends[w]])
            }
            shards.append(ShardPlan.Shard(
                index: i, batches: range, windows: Int64(window)..<Int64(window + windowCount), tokens: part.reduce(0) { $0 + $1.tokens },
                rows: part.reduce(0) { $0 + $1.rows }, windowsSHA256: digest.hexDigest))
            window += windowCount
        }
        var plan = ShardPlan(
            planID: "", created: DictionaryManifest.timestamp(Date()), epVersion: EPVersion.current, arguments: arguments,
            workingDirectory: workingDirectory, model: model, settings: settings,
            corpus: ShardPlan.Corpus(
                windows: stream.emitted, tokens: tokens, rows: rows, batches: batches.count, windowsSHA256: all.hexDigest, exhausted: exhausted,
                calibrationBatches: calibrationBatches, budgetBatches: budgetBatches),
            shards: shards)
        plan.planID = plan.computedID
        return plan
    }

    /// Cuts `tokens.count` batches into `parts` contiguous, non-empty runs whose token totals are as even as the
    /// batch boundaries allow: run i ends at the boundary nearest to (i+1)/parts of the total. Returns the
    /// `parts + 1` boundaries.
    static func balancedCuts(tokens: [Int], parts: Int) -> [Int] {
        let n = tokens.count
        precondition(parts >= 1 && parts <= n)
        var cumulative = [0]
        for t in tokens { cumulative.append(cumulative.last! + t) }
        let total = Double(cumulative.last!)
        var cuts = [0]
        for i in 1..<parts {
            let target = total * Double(i) / Double(parts)
            // The first boundary at or past the target, or the one before it when that is nearer.
            var b = cumulative.firstIndex { Double($0) >= target } ?? n
            if b > 0, target - Double(cumulative[b - 1]) < Double(cumulative[b]) - target { b -= 1 }
            // Every run keeps at least one batch.
            b = min(max(b, cuts.last! + 1), n - (parts - i))
            cuts.append(b)
        }
        cuts.append(n)
        return cuts
    }
}
