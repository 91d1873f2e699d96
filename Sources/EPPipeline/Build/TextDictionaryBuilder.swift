import EPCore
import EPFormats
import EPRuntime
import EPStore
import EPTensors
import Foundation

/// Where a build from text writes: one dictionary folder; (several percentiles) a folder holding one dictionary per
/// percentile (`OUT/p1`, `OUT/p2`, …); or (several hooks) a folder holding, per hook, what a build of that hook alone
/// would write there: `OUT/<hook>` is the dictionary with one percentile, `OUT/<hook>/p1`, `OUT/<hook>/p2`, … with
/// several. The root is replaced atomically at every checkpoint, so it always holds a consistent, usable state.
public enum BuildOutput: Sendable, Equatable {
    case single(String)
    case multiple(folder: String, labels: [String])
    case hooks(folder: String, hooks: [String], labels: [String])

    /// Every dictionary, in order (hook after hook, percentiles in order within a hook): the index of its hook and
    /// its folder inside ``root`` (empty for ``single(_:)``).
    public var layout: [(hook: Int, relative: String)] {
        switch self {
        case .single: [(0, "")]
        case .multiple(_, let labels): labels.map { (0, $0) }
        case .hooks(_, let hooks, let labels):
            hooks.indices.flatMap { h in labels.count == 1 ? [(h, hooks[h])] : labels.map { (h, "\(hooks[h])/\($0)") } }
        }
    }

    /// The dictionary folders, in order.
    public var paths: [String] {
        layout.map { $0.relative.isEmpty ? root : "\(root)/\($0.relative)" }
    }

    /// The folder replaced as a whole.
    public var root: String {
        switch self {
        case .single(let path): path
        case .multiple(let folder, _), .hooks(let folder, _, _): folder
        }
    }

    /// The output of a build of `hooks` with the dictionaries `labels` (percentile labels, or `given`) at `path`:
    /// one dictionary, a folder of percentiles, or a folder of hooks.
    public static func of(_ path: String, hooks: [String], labels: [String]) -> BuildOutput {
        if hooks.count > 1 { return .hooks(folder: path, hooks: hooks, labels: labels) }
        return labels.count == 1 ? .single(path) : .multiple(folder: path, labels: labels)
    }
}

/// What a build reports after every batch (and during calibration).
public struct BuildProgress: Sendable {
    /// What the build is doing.
    public enum Phase: Sendable { case calibrating, building }

    public var phase: Phase
    /// Tokens read into batches so far (BOS included); while calibrating, tokens read for the calibration.
    public var tokens: Int
    /// The budget, if any.
    public var maxTokens: Int?
    /// Activations clustered so far.
    public var activations: Int
    /// Calibration activations gathered so far and wanted (calibrating only).
    public var calibrationRows: Int
    public var calibrationTarget: Int
    /// Seconds of this run (a resumed build counts from the resume).
    public var seconds: Double
    /// Tokens this run has read from the corpus (and run through the model), for the rate.
    public var tokensThisRun: Int
    /// Per dictionary: its label (`p2`; `<hook>/p2` or `<hook>` in a build of several hooks), regions, last batch's
    /// new-region rate and whether it stopped (saturated).
    public var dictionaries: [(label: String, regions: Int, newRegionRate: Double?, saturated: Bool)]
}

/// Why a build from text stopped. Its text (``description``) is what `ep build` prints and what a manifest records
/// as `stop_reason`.
public enum BuildStopReason: Sendable, Equatable, CustomStringConvertible {
    case tokenBudget, saturated, corpusExhausted, interrupted
    /// A resumed build that had already ended for good: each dictionary's label and why it ended.
    case alreadyComplete(String)

    public var description: String {
        switch self {
        case .tokenBudget: "token budget"
        case .saturated: "saturated"
        case .corpusExhausted: "corpus exhausted"
        case .interrupted: "interrupted"
        case .alreadyComplete(let endings): "already complete (\(endings))"
        }
    }
}

/// Where the calibration of a hook in a build from text came from.
public enum CalibrationOrigin: Sendable, Equatable {
    /// A calibration record given in the settings.
    case given
    /// The calibration cache.
    case cached
    /// Computed in this run, on the first batches.
    case computed
    /// The dictionaries of the build being resumed.
    case resumed
}

/// What a finished (or stopped) build did.
public struct TextBuildSummary: Sendable {
    /// Per dictionary: label, folder, regions, θ, status.
    public var dictionaries: [(label: String, path: String, regions: Int, threshold: Double, saturated: Bool)]
    /// Why the build stopped.
    public var stopReason: BuildStopReason
    /// Totals over the whole build (a resumed build included).
    public var tokens: Int
    public var windows: Int
    public var activations: Int
    public var batches: Int
    /// The batch the build resumed at, when it was resumed.
    public var resumedAtBatch: Int?
    /// Where the calibration of each hook came from (in a resumed build, ``CalibrationOrigin/resumed``).
    public var calibrationOrigins: [CalibrationOrigin]
    /// Whether the calibration came from the cache (or a given record) rather than being computed in this run (of
    /// every hook, in a build of several).
    public var calibrationReused: Bool { !calibrationOrigins.contains(.computed) }
    /// Seconds of this run, and where they went.
    public var seconds: Double
    public var extractionSeconds: Double
    /// What `extractionSeconds` went to: "model forward" (a build) or "shard reads" (a merge of shards).
    public var extractionLabel: String
    public var calibrationSeconds: Double
    public var clusteringSeconds: Double
    public var writingSeconds: Double
    /// Tokens this run read.
    public var tokensThisRun: Int
    /// What the corpus reader read, left out and repaired in this run.
    public var corpus: CorpusStatistics
}

/// Builds EP dictionaries from text: tokenize a corpus into windows, run the model to the hook point, calibrate
/// (or take the calibration from the cache), then stream batches of activations through the leader clustering of
/// every requested percentile until the token budget, saturation, or the end of the corpus.
///
/// Several hooks share one forward pass to the deepest of them; each hook has its own calibration and its own
/// dictionaries. A hook whose dictionaries have all saturated is no longer captured (the pass then stops at the
/// deepest hook still needed); the build ends when every dictionary has. Each dictionary is byte for byte the one
/// a build of its hook alone (same settings) writes: the windows and batches do not depend on the hooks, and the
/// model's values at a hook do not depend on what else it captures.
///
/// Deterministic for a given model, corpus and settings: the windows, their order (a seeded shuffle buffer), the
/// batches and the clustering do not depend on whether the calibration was cached or on where a build was
/// interrupted. Checkpoints write the outputs atomically every few batches; ``run()`` with `resume` continues
/// from the last one and gives the same dictionaries as an uninterrupted build. Memory is bounded by the
/// dictionaries, the context windows their references point into, and one batch per hook (plus, while a hook is
/// calibrated, the calibration batches of every hook, which are clustered once the calibration is known).
/// How a long build from text reports and is stopped: the text builder, and the merge of a plan's shards.
public protocol BuildObserving: AnyObject {
    /// Asked between forward calls; true stops the build with a resumable dictionary.
    var shouldStop: () -> Bool { get set }
    var onProgress: ((BuildProgress) -> Void)? { get set }
    var onNote: ((String) -> Void)? { get set }
}

public final class TextDictionaryBuilder: BuildObserving {
    /// The settings in force.
    public let settings: TextBuildSettings
    /// Where the dictionaries go.
    public let output: BuildOutput
    /// Called after every batch and during calibration.
    public var onProgress: ((BuildProgress) -> Void)?
    /// Asked between forward calls; when it says yes the build stops at the last complete batch and writes a
    /// usable, resumable state.
    public var shouldStop: () -> Bool = { false }
    /// Called once with a line saying where the calibration came from (cache, given, computed).
    public var onNote: ((String) -> Void)?

    /// Opens the source of the batches (when the build runs).
    private let makeSource: () throws -> TextBatchSource
    private let cache: CalibrationCache

    /// The state-file name inside each dictionary folder.
    static let stateFile = "build_state.json"

    /// A builder for `model` (loaded from `modelPath`) with its `tokenizer`: the batches come from the model
    /// (``ModelBatchSource``).
    public convenience init(
        settings: TextBuildSettings, model: LanguageModel, modelPath: String, tokenizer: TextTokenizer, output: BuildOutput,
        cache: CalibrationCache = CalibrationCache()
    ) throws {
        try self.init(
            settings: settings, output: output, cache: cache,
            source: { try ModelBatchSource(settings: settings, model: model, modelPath: modelPath, tokenizer: tokenizer) })
    }

    /// A builder whose batches come from the source `source` opens when the build runs (it must give the batches
    /// of these settings: ``ModelBatchSource``, or the shards of a plan of them, ``ShardBatchSource``).
    public init(
        settings: TextBuildSettings, output: BuildOutput, cache: CalibrationCache = CalibrationCache(),
        source: @escaping () throws -> TextBatchSource
    ) throws {
        try settings.validate()
        let labels = settings.givenCalibration == nil ? settings.percentiles.map(percentileLabel) : ["given"]
        if case .hooks(_, let hooks, _) = output {
            guard hooks == settings.hooks else {
                throw PipelineError("\(output.root): the output holds the hooks \(hooks.joined(separator: ", ")) but the build is of \(settings.hooks.joined(separator: ", "))")
            }
        } else if settings.hooks.count > 1 {
            throw PipelineError("\(output.root): a build of \(settings.hooks.count) hooks writes a folder per hook (BuildOutput.hooks)")
        }
        guard output.paths.count == labels.count * settings.hooks.count else {
            throw PipelineError("\(output.root): \(labels.count * settings.hooks.count) dictionaries to write but \(output.paths.count) output folders")
        }
        self.settings = settings
        self.output = output
        self.makeSource = source
        self.cache = cache
    }

    /// One dictionary being built.
    private final class Target {
        let label: String
        /// The index of its hook in the settings' hooks.
        let hook: Int
        let path: String
        /// Its folder inside the output's root (empty for a single dictionary).
        let relative: String
        let dictionary: ExemplarDictionary
        let calibration: CalibrationProvenance
        var log: BuildLog
        var tokens = 0
        var windows = 0
        var saturated = false
        /// The corpus counts when it saturated (what a build of it alone, which stops there, records).
        var corpusAtSaturation: CorpusCounts?

        init(label: String, hook: Int, path: String, relative: String, dictionary: ExemplarDictionary, calibration: CalibrationProvenance, log: BuildLog) {
            self.label = label
            self.hook = hook
            self.path = path
            self.relative = relative
            self.dictionary = dictionary
            self.calibration = calibration
            self.log = log
        }
    }

    /// The label of dictionary `i` of the output layout: its percentile label, with its hook in a build of several.
    private func label(_ i: Int, labels: [String]) -> String {
        guard case .hooks = output else { return labels[i] }
        return output.layout[i].relative
    }

    /// Progress over the whole build, saved with every checkpoint.
    private struct Totals {
        var windows = 0
        var tokens = 0
        var activations = 0
        var batches = 0
        var elapsedBefore = 0.0
        /// SHA-256 of the token ids of every window consumed so far, in order (each window as its length and its
        /// ids, little-endian Int32): a resumed build checks that the corpus still gives these windows.
        var consumed = ConsumedWindows()
    }

    typealias ConsumedWindows = WindowDigest

    /// The state of one run of a build: the source of its batches, the dictionaries being built, the totals, the
    /// context windows their references point into, the calibration batches still to cluster and where the time went.
    private final class BuildState {
        let source: TextBatchSource
        let clock: Date
        let fingerprint: JSONObject
        var totals = Totals()
        var targets: [Target] = []
        var contexts: [Int64: ContextWindow] = [:]
        /// Batches read for the calibration, clustered before any other.
        var held: [ActivationBatch] = []
        var times = BuildTimes()
        /// Where each hook's calibration came from.
        var origins: [CalibrationOrigin]
        var resumedAt: Int?
        /// Stream tokens skipped to resume (not read by this run's model).
        var skippedTokens = 0
        var stopped = false
        /// When clustering began in this run, and the batches clustered since the last checkpoint.
        var runStarted = Date()
        var sinceCheckpoint = 0

        init(source: TextBatchSource, clock: Date, fingerprint: JSONObject, hooks: Int) {
            self.origins = Array(repeating: .resumed, count: hooks)
            self.source = source
            self.clock = clock
            self.fingerprint = fingerprint
        }

        var modelSHA256: String { source.modelSHA256 }
        var tokensThisRun: Int { source.emittedTokens - skippedTokens }
    }

    /// Where the seconds of a run went.
    private struct BuildTimes {
        var extraction = 0.0
        var calibration = 0.0
        var clustering = 0.0
        var writing = 0.0
    }

    /// Runs the build (or, with `resume`, continues the one in the output folder) and writes the dictionaries.
    public func run(resume: Bool = false) throws -> TextBuildSummary {
        let clock = Date()
        try AtomicOutput.prepareParent(of: output.root)
        let source = try makeSource()
        let state = BuildState(source: source, clock: clock, fingerprint: settings.fingerprint(modelSHA256: source.modelSHA256), hooks: settings.hooks.count)
        if resume, let restored = try restore(fingerprint: state.fingerprint) {
            if let finished = try resumeRun(state, from: restored) {
                return summary(state, stopReason: .alreadyComplete(finished), tokensThisRun: 0)
            }
        } else {
            try calibrate(state)
        }
        let stopReason = try addBatches(state)
        if stopReason == .corpusExhausted, state.totals.batches == 0 {
            throw PipelineError("\(settings.corpus.joined(separator: ", ")): the corpus gave no activations (\(source.corpusStatistics.documents) documents, \(source.emittedWindows) windows); \(source.explanation)")
        }
        try checkpoint(state, final: stopReason)
        return summary(state, stopReason: stopReason, tokensThisRun: state.tokensThisRun)
    }

    /// Reports progress.
    private func progress(_ s: BuildState, _ phase: BuildProgress.Phase, calibrationRows: Int = 0, calibrationTokens: Int = 0) {
        onProgress?(BuildProgress(
            phase: phase, tokens: phase == .calibrating ? calibrationTokens : s.totals.tokens, maxTokens: settings.maxTokens, activations: s.totals.activations,
            calibrationRows: calibrationRows, calibrationTarget: settings.calibrationTokens,
            seconds: Date().timeIntervalSince(s.clock), tokensThisRun: s.tokensThisRun,
            dictionaries: s.targets.map { ($0.label, $0.dictionary.regionCount, $0.dictionary.newRegionRate, $0.saturated) }))
    }

    /// The next batch of windows from the source, extracted at every hook that a dictionary still growing needs
    /// (all of them while calibrating); nil at the end of the corpus or on a stop.
    private func nextBatch(_ s: BuildState) throws -> ActivationBatch? {
        let needed = s.targets.isEmpty ? Array(settings.hooks.indices) : Set(s.targets.filter { !$0.saturated }.map(\.hook)).sorted()
        let before = s.source.extractionSeconds
        defer { s.times.extraction += s.source.extractionSeconds - before }
        switch try s.source.next(hooks: needed, shouldStop: shouldStop) {
        case .batch(let batch): return batch
        case .end: return nil
        case .stopped:
            s.stopped = true
            return nil
        }
    }

    /// Restore: takes over the saved build and skips the windows it consumed, checking that the corpus still gives
    /// them. Returns why the saved build ended when it is not to be continued.
    private func resumeRun(_ s: BuildState, from restored: Restored) throws -> String? {
        (s.targets, s.totals, s.contexts) = (restored.targets, restored.totals, restored.contexts)
        s.resumedAt = s.totals.batches
        if let finished = restored.finished { return finished }
        var replayed = ConsumedWindows()
        try s.source.skip(windows: Int64(s.totals.windows)) { replayed.add($0) }
        if let saved = restored.consumedDigest {
            guard replayed.hexDigest == saved else {
                throw PipelineError("\(output.root): cannot resume: the corpus changed since the build was saved — its first \(s.totals.windows) windows, which the build consumed, now differ (SHA-256 of their tokens \(replayed.hexDigest.prefix(12))…, saved \(saved.prefix(12))…); restore the corpus as it was, or start afresh without --resume")
            }
        } else {
            onNote?("resume: the checkpoint predates input fingerprints, so ep cannot check that the corpus is unchanged")
        }
        s.totals.consumed = replayed
        s.skippedTokens = s.source.emittedTokens
        return nil
    }

    /// Calibrate: the calibration of every hook (given, from the cache, or computed on the first batches, which are
    /// then held to be clustered first), and a new dictionary per output folder.
    private func calibrate(_ s: BuildState) throws {
        let calibrationStarted = Date()
        let hooks = settings.hooks
        let source = s.source
        /// Per hook, the calibration of each of its dictionaries.
        var calibrations: [[(Calibration, CalibrationProvenance)]?] = Array(repeating: nil, count: hooks.count)
        /// Says which hook a note is about, in a build of several.
        func about(_ h: Int) -> String { hooks.count > 1 ? "\(hooks[h]): " : "" }
        if let given = settings.givenCalibration {
            try check(given, width: source.width)
            calibrations = [[(given.calibration, given.provenance)]]
            s.origins = [.given]
            onNote?("calibration: given (θ = \(given.calibration.threshold))")
        } else {
            let keys = hooks.map { hook in
                CalibrationCache.Key(
                    modelSHA256: s.modelSHA256, hook: hook, extractor: settings.extraction.extractor, context: settings.windows.context,
                    bosTokenID: settings.windows.bos, excludeFirstPosition: settings.extraction.excludeFirstPosition, method: settings.method,
                    activationDType: settings.activationDType)
            }
            for h in hooks.indices where !settings.recalibrate {
                let cached = settings.percentiles.compactMap { cache.lookup(keys[h], percentile: $0, calibrationTokens: settings.calibrationTokens) }
                if cached.count == settings.percentiles.count, cached.allSatisfy({ $0.calibration.center.count == source.width }) {
                    calibrations[h] = cached.map { ($0.calibration, $0.provenance) }
                    s.origins[h] = .cached
                    onNote?("\(about(h))calibration: from the cache (\(cache.folder)), computed on \(cached[0].calibration.activationCount) activations of \(cached[0].source?.inputs.joined(separator: ", ") ?? "an unrecorded corpus")")
                }
            }
            // The hooks without a cached calibration are calibrated together, on the first batches; those batches
            // are held (every hook's rows) and clustered once the calibrations are known.
            let missing = hooks.indices.filter { calibrations[$0] == nil }
            if !missing.isEmpty {
                let computed = try computeCalibrations(s, hooks: missing)
                for (h, record) in zip(missing, computed.records) {
                    var notCached: String?
                    s.origins[h] = .computed
                    calibrations[h] = record.map { record in
                        if let reason = cache.store(record, key: keys[h]) { notCached = reason }
                        return (record.calibration, record.provenance)
                    }
                    onNote?("\(about(h))calibration: computed on \(computed.rowCount) activations in \(s.held.count) batches; \(notCached.map { "not cached: \($0)" } ?? "cached in \(cache.folder)")")
                }
            }
        }
        s.times.calibration = Date().timeIntervalSince(calibrationStarted) - s.times.extraction
        let labels = settings.givenCalibration == nil ? settings.percentiles.map(percentileLabel) : ["given"]
        s.targets = try output.layout.enumerated().map { i, entry in
            let calibration = calibrations[entry.hook]![i % labels.count]
            return Target(
                label: label(i, labels: labels), hook: entry.hook, path: output.paths[i], relative: entry.relative,
                dictionary: try ExemplarDictionary(calibration: calibration.0, reservoirSeed: settings.reservoir ? settings.windows.seed : nil),
                calibration: calibration.1, log: BuildLog())
        }
    }

    /// Checks that a given calibration fits this build: its width, and (made from text) the same hook, extractor
    /// and context.
    private func check(_ given: CalibrationRecord, width: Int) throws {
        guard given.calibration.center.count == width else {
            throw PipelineError("the calibration has width \(given.calibration.center.count) but \(settings.hook) of \(settings.model) has width \(width)")
        }
        if let source = given.source, source.extractor != "activation-files" {
            let mismatches = [
                source.hook.flatMap { $0 == settings.hook ? nil : "hook \($0) (this build: \(settings.hook))" },
                source.extractor.flatMap { $0 == settings.extraction.extractor.rawValue ? nil : "extractor \($0) (this build: \(settings.extraction.extractor.rawValue))" },
                source.contextLength.flatMap { $0 == settings.windows.context ? nil : "context \($0) (this build: \(settings.windows.context))" },
            ].compactMap { $0 }
            guard mismatches.isEmpty else {
                throw PipelineError("the given calibration was made with \(mismatches.joined(separator: ", ")); calibration and build must use the same hook, extractor and context")
            }
        }
    }

    /// Both passes of the calibration of `hooks` (indices into the settings' hooks) over the first batches, which
    /// stay held in `s`: per hook, one calibration record per percentile; and the rows they were computed on.
    private func computeCalibrations(_ s: BuildState, hooks missing: [Int]) throws -> (records: [[CalibrationRecord]], rowCount: Int) {
        let width = s.source.width
        let calibrationSettings = CalibrationSettings(
            percentile: settings.percentiles[0], calibrationTokens: settings.calibrationTokens, batchSize: settings.batchWindows,
            method: settings.method)
        // Every hook gives the same number of rows per batch, so the estimators complete together.
        var centers = missing.map { _ in CenterEstimator(width: width, settings: calibrationSettings) }
        var tokens = 0
        while !centers[0].isComplete, let batch = try nextBatch(s) {
            for (j, h) in missing.enumerated() { try centers[j].add(batch.hookActivations[h]!) }
            s.held.append(batch)
            tokens += batch.tokens
            progress(s, .calibrating, calibrationRows: centers[0].rowCount, calibrationTokens: tokens)
        }
        if s.stopped { throw PipelineError("stopped during calibration; nothing was written") }
        let rowCount = centers[0].rowCount
        guard rowCount >= 2 else {
            throw PipelineError("\(settings.corpus.joined(separator: ", ")): the corpus gave \(rowCount) activation\(rowCount == 1 ? "" : "s") (\(s.source.emittedWindows) windows from \(s.source.corpusStatistics.documents) documents); calibration needs at least 2; \(s.source.explanation)")
        }
        let records = try missing.enumerated().map { j, h in
            var thresholds = try ThresholdEstimator(
                center: try centers[j].center(), settings: calibrationSettings, additionalPercentiles: Array(settings.percentiles.dropFirst()))
            for batch in s.held { try thresholds.add(batch.hookActivations[h]!) }
            let source = ActivationSource(
                model: settings.model, hook: settings.hooks[h], extractor: settings.extraction.extractor.rawValue,
                contextLength: settings.windows.context, tokenCount: tokens, activationCount: rowCount, inputs: settings.corpus)
            return try thresholds.finishAll(batchRowCounts: centers[j].batchRowCounts).map { c in
                CalibrationRecord(calibration: c, calibrationTokens: settings.calibrationTokens, source: source)
            }
        }
        return (records, rowCount)
    }

    /// Add: clusters the held calibration batches, then batches from the source, into every dictionary still
    /// growing, with a checkpoint every `checkpointEvery` batches, until the build stops; says why it stopped.
    private func addBatches(_ s: BuildState) throws -> BuildStopReason {
        s.runStarted = Date()
        while true {
            if shouldStop() {
                s.stopped = true
            }
            if s.stopped { return .interrupted }
            if s.targets.allSatisfy(\.saturated) { return .saturated }
            let next = s.held.isEmpty ? try nextBatch(s) : s.held.removeFirst()
            guard let batch = next else { return s.stopped ? .interrupted : .corpusExhausted }
            try add(batch, to: s)
            if let maxTokens = settings.maxTokens, s.totals.tokens >= maxTokens { return .tokenBudget }
            if settings.checkpointEvery > 0, s.sinceCheckpoint >= settings.checkpointEvery {
                try checkpoint(s, final: nil)
            }
        }
    }

    /// Clusters one batch into every dictionary still growing and updates the totals, the context windows kept
    /// and the saturation of each dictionary.
    private func add(_ batch: ActivationBatch, to s: BuildState) throws {
        s.totals.tokens += batch.tokens
        s.totals.windows += batch.windows.count
        for w in batch.windows { s.totals.consumed.add(w) }
        guard batch.rowCount > 0 else { return }
        let started = Date()
        for t in s.targets where !t.saturated {
            // A dictionary that was growing when the batch was extracted had its hook captured (a dictionary
            // never stops being saturated within a run).
            let rows = batch.hookActivations[t.hook]!
            let before = t.dictionary.regionCount
            _ = try t.dictionary.addBatch(rows, references: batch.references)
            t.tokens = s.totals.tokens
            t.windows = s.totals.windows
            t.log.snapshots.append(BuildSnapshot(
                batch: t.dictionary.batchHistory.count, tokens: s.totals.tokens, activations: Int(t.dictionary.rowsSeen),
                regions: t.dictionary.regionCount, batchActivations: rows.rows,
                newRegions: t.dictionary.regionCount - before,
                elapsedSeconds: s.totals.elapsedBefore + Date().timeIntervalSince(s.runStarted)))
        }
        s.times.clustering += Date().timeIntervalSince(started)
        s.totals.activations += batch.rowCount
        s.totals.batches += 1
        for w in batch.windows { s.contexts[w.id] = w }
        s.contexts = referenced(s.contexts, by: s.targets)
        for t in s.targets where settings.saturationWindow > 0 && !t.saturated {
            t.saturated = t.dictionary.isSaturated(window: settings.saturationWindow)
            if t.saturated { t.corpusAtSaturation = s.source.corpusStatistics.counts }
        }
        progress(s, .building)
        s.sinceCheckpoint += 1
    }

    /// Checkpoint: writes every dictionary with the state to resume from; `final`: the build ended, for this
    /// reason (the elapsed time of this run is then added to the totals for good).
    private func checkpoint(_ s: BuildState, final stopReason: BuildStopReason?) throws {
        let started = Date()
        var totals = s.totals
        totals.elapsedBefore += started.timeIntervalSince(s.runStarted)
        let status: TextProvenance.Status = stopReason.map { $0 == .interrupted ? .interrupted : .complete } ?? .inProgress
        try write(s.targets, contexts: s.contexts, totals: totals, modelSHA256: s.modelSHA256, fingerprint: s.fingerprint, status: status, stopReason: stopReason, source: s.source)
        if stopReason != nil { s.totals = totals }
        s.times.writing += Date().timeIntervalSince(started)
        s.sinceCheckpoint = 0
    }

    private func summary(_ s: BuildState, stopReason: BuildStopReason, tokensThisRun: Int) -> TextBuildSummary {
        TextBuildSummary(
            dictionaries: s.targets.map { ($0.label, $0.path, $0.dictionary.regionCount, $0.dictionary.threshold, $0.saturated) },
            stopReason: stopReason, tokens: s.totals.tokens, windows: s.totals.windows, activations: s.totals.activations,
            batches: s.totals.batches, resumedAtBatch: s.resumedAt, calibrationOrigins: s.origins, seconds: Date().timeIntervalSince(s.clock),
            extractionSeconds: s.times.extraction, extractionLabel: s.source.extractionLabel, calibrationSeconds: s.times.calibration,
            clusteringSeconds: s.times.clustering, writingSeconds: s.times.writing, tokensThisRun: tokensThisRun, corpus: s.source.corpusStatistics)
    }

    /// The windows of `contexts` that some target's closest or farthest members point into.
    private func referenced(_ contexts: [Int64: ContextWindow], by targets: [Target]) -> [Int64: ContextWindow] {
        var keep = Set<Int64>()
        for t in targets { keep.formUnion(Self.referencedSources(t.dictionary)) }
        return contexts.filter { keep.contains($0.key) }
    }

    private static func referencedSources(_ dictionary: ExemplarDictionary) -> Set<Int64> {
        var ids = Set<Int64>()
        let regions = dictionary.regions
        for table in [regions.closest, regions.farthest] {
            for k in 0..<table.regionCount {
                for m in table.members(of: k) { ids.insert(m.reference.source) }
            }
        }
        return ids
    }

    /// Writes every target (atomically as a whole) with its manifest, context windows, log and resume state.
    private func write(
        _ targets: [Target], contexts: [Int64: ContextWindow], totals: Totals, modelSHA256 modelSHA: String, fingerprint: JSONObject,
        status: TextProvenance.Status, stopReason: BuildStopReason?, source: TextBatchSource
    ) throws {
        let corpus = source.corpusStatistics.counts
        func writeTarget(_ t: Target, to path: String) throws {
            let d = t.dictionary
            var text = TextProvenance(
                modelSHA256: modelSHA, modelWidth: source.modelWidth, bosTokenID: settings.windows.bos.map(Int.init),
                firstPositionExcluded: settings.extraction.excludeFirstPosition, windowMode: settings.windows.mode.rawValue,
                minimumWindow: settings.windows.minimumTokens, batchWindows: settings.batchWindows, shuffleBuffer: settings.windows.shuffleBuffer,
                seed: Int(settings.windows.seed), maxTokens: settings.maxTokens, saturationWindow: settings.saturationWindow,
                windows: t.windows, tokens: t.tokens, corpus: t.corpusAtSaturation ?? corpus, status: status,
                stopReason: stopReason.map { (t.saturated && $0 != .interrupted ? .saturated : $0).description })
            text.activationDType = settings.activationDType.rawValue
            let source = ActivationSource(
                model: settings.model, hook: settings.hooks[t.hook], extractor: settings.extraction.extractor.rawValue,
                contextLength: settings.windows.context, tokenCount: t.tokens, activationCount: Int(d.rowsSeen), inputs: settings.corpus)
            let build = BuildProvenance(
                batchSize: settings.batchWindows, seed: Int(settings.windows.seed), batchCount: d.batchHistory.count,
                activationCount: Int(d.rowsSeen), saturated: settings.saturationWindow > 0 && d.isSaturated(window: settings.saturationWindow),
                reservoir: settings.reservoir, newRegionRate: d.newRegionRate, source: source, text: text)
            let own = Self.referencedSources(d)
            let table = ContextTable(contexts.values.filter { own.contains($0.id) })
            let state = BuildStateFile(
                label: t.label, settings: .object(fingerprint), windows: totals.windows, tokens: totals.tokens,
                activations: totals.activations, batches: totals.batches, dictionaryWindows: t.windows,
                dictionaryTokens: t.tokens, elapsed: totals.elapsedBefore, consumedSHA256: totals.consumed.hexDigest)
            try DictionaryStore.write(
                d, calibration: t.calibration, build: build, to: path, contexts: table, log: t.log,
                extraFiles: [(Self.stateFile, Array((state.fileJSON.rendered() + "\n").utf8))])
        }
        switch output {
        case .single(let path):
            try writeTarget(targets[0], to: path)
        case .multiple(let folder, _), .hooks(let folder, _, _):
            try AtomicOutput.writeFolder(at: folder) { temporary in
                for t in targets {
                    if let slash = t.relative.lastIndex(of: "/") {
                        try FileManager.default.createDirectory(atPath: "\(temporary)/\(t.relative[..<slash])", withIntermediateDirectories: true)
                    }
                    try writeTarget(t, to: "\(temporary)/\(t.relative)")
                }
            }
        }
    }

    /// What a resumed build starts from.
    private struct Restored {
        var targets: [Target]
        var totals: Totals
        var contexts: [Int64: ContextWindow]
        /// Why the saved build ended, when it ended for good (it is then not continued). A build that ended at
        /// its token budget continues when the budget has been raised.
        var finished: String?
        /// The digest of the windows the saved build consumed (nil in checkpoints written before it was recorded).
        var consumedDigest: String?
    }

    /// The targets, totals and context windows saved in the output folder, after checking that they belong to a
    /// build with these settings; nil when there is nothing to resume (no output yet).
    private func restore(fingerprint: JSONObject) throws -> Restored? {
        guard FileManager.default.fileExists(atPath: output.root) else { return nil }
        var targets: [Target] = []
        var totals: Totals?
        var contexts: [Int64: ContextWindow] = [:]
        var endings: [String] = []
        var complete = true
        var consumedDigest: String?
        if case .hooks(let folder, let hooks, _) = output {
            let found = OutputGuard.entries(of: folder).filter { !$0.hasPrefix(".") }
            guard Set(found) == Set(hooks) else {
                throw PipelineError("\(folder): cannot resume: it holds the dictionaries of \(found.isEmpty ? "no hook" : found.joined(separator: ", ")), and this build is of \(hooks.joined(separator: ", ")); give the same hooks, or start afresh without --resume")
            }
        }
        let labels = settings.givenCalibration == nil ? settings.percentiles.map(percentileLabel) : ["given"]
        for (i, path) in output.paths.enumerated() {
            let statePath = "\(path)/\(Self.stateFile)"
            guard FileManager.default.fileExists(atPath: statePath) else {
                throw PipelineError("\(path): cannot resume: no \(Self.stateFile) (not written by a build from text, or by a different set of percentiles or hooks)")
            }
            let f = try JSONValueDecoder().decodeRecord(BuildStateFile.self, path: statePath, format: BuildStateFile.format)
            guard case .object(let saved) = f.settings else { throw FileFormatError(statePath, "field 'settings': expected an object, found \(f.settings.kindDescription)") }
            let defaults = TextBuildSettings.optionalFingerprintFields
            let keys = fingerprint.keys + defaults.keys.sorted().filter { saved[$0] != nil && fingerprint[$0] == nil }
            func value(_ object: JSONObject, _ key: String) -> JSONValue? { object[key] ?? defaults[key] }
            let differences = keys.filter { value(saved, $0) != value(fingerprint, $0) }
            if !differences.isEmpty {
                let listed = differences.map { "\($0): \(value(saved, $0)?.rendered() ?? "absent") → \(value(fingerprint, $0)?.rendered() ?? "absent")" }
                throw PipelineError("\(path): cannot resume: the build was made with other settings (\(listed.joined(separator: "; "))); give the same model, corpus and flags, or start afresh without --resume")
            }
            let these = Totals(windows: f.windows, tokens: f.tokens, activations: f.activations, batches: f.batches, elapsedBefore: f.elapsed)
            if let totals, totals.windows != these.windows || totals.batches != these.batches {
                throw PipelineError("\(output.root): cannot resume: its dictionaries were saved at different points of the build")
            }
            totals = these
            if let digest = f.consumedSHA256 {
                if let consumedDigest, consumedDigest != digest {
                    throw PipelineError("\(output.root): cannot resume: its dictionaries were saved at different points of the build")
                }
                consumedDigest = digest
            }
            let loaded = try DictionaryStore.load(path)
            let entry = output.layout[i]
            let hook = settings.hooks[entry.hook]
            if let built = loaded.manifest.build.source?.hook, built != hook {
                throw PipelineError("\(path): cannot resume: it holds a dictionary of \(built), not of \(hook)")
            }
            let target = Target(
                label: label(i, labels: labels), hook: entry.hook, path: path, relative: entry.relative, dictionary: loaded.dictionary,
                calibration: loaded.manifest.calibration, log: loaded.buildLog ?? BuildLog())
            target.windows = f.dictionaryWindows
            target.tokens = f.dictionaryTokens
            target.saturated = settings.saturationWindow > 0 && loaded.dictionary.isSaturated(window: settings.saturationWindow)
            if target.saturated { target.corpusAtSaturation = loaded.manifest.build.text?.corpus }
            targets.append(target)
            for w in loaded.contexts?.windows ?? [] { contexts[w.id] = w }
            if let text = loaded.manifest.build.text, text.status == .complete, let reason = text.stopReason {
                endings.append(reason)
            } else {
                complete = false
            }
        }
        // A complete build continues when the corpus has more and the (new) budget and saturation window allow it.
        let budgetLeft = settings.maxTokens.map { $0 > totals!.tokens } ?? true
        let continues = !complete || (!endings.contains(BuildStopReason.corpusExhausted.description) && budgetLeft && targets.contains { !$0.saturated })
        let finished = zip(targets, endings).map { "\($0.label): \($1)" }.joined(separator: ", ")
        return Restored(targets: targets, totals: totals!, contexts: contexts, finished: continues ? nil : finished, consumedDigest: consumedDigest)
    }
}
