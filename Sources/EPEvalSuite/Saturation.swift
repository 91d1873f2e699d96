import EPCore
import EPEvals
import EPPipeline
import EPRuntime
import EPStore
import Foundation

/// The growth of a dictionary's region count K against the tokens it has read (docs/eval.md), from its build log.
public struct SaturationCurve: Sendable {
    /// What the curve is of (a domain, a dictionary's folder).
    public var label: String
    /// θ of the dictionary (curves compared side by side should share it).
    public var threshold: Double
    /// One snapshot per build batch.
    public var points: [BuildSnapshot]
    /// Whether the build stopped at saturation (its last `window` batches founded no region).
    public var saturated: Bool

    /// A curve from a build's `log`.
    public init(label: String, threshold: Double, log: BuildLog, saturated: Bool) {
        self.label = label
        self.threshold = threshold
        points = log.snapshots
        self.saturated = saturated
    }

    /// Tokens and regions at the end.
    public var tokens: Int { points.last?.tokens ?? 0 }
    public var regions: Int { points.last?.regions ?? 0 }

    /// K after the last batch that ended at or before `tokens` tokens (nil before the first batch).
    public func regions(atTokens tokens: Int) -> Int? { points.last { $0.tokens <= tokens }?.regions }

    /// New regions per activation over the last quarter of the activations read (the late new-region rate).
    public var lateNewRegionRate: Double? {
        guard let last = points.last, last.activations > 0 else { return nil }
        let start = Double(last.activations) * 0.75
        let late = points.filter { Double($0.activations) > start }
        let activations = late.reduce(0) { $0 + $1.batchActivations }
        return activations > 0 ? Double(late.reduce(0) { $0 + $1.newRegions }) / Double(activations) : nil
    }

    /// The growth exponent b of K ∝ N^b: the least-squares slope of log K against log N (N activations) over the
    /// snapshots of the second half of the activations; near 0 when K has saturated, 1 when every activation founds
    /// a region. Nil with fewer than three such snapshots.
    public var growthExponent: Double? {
        guard let last = points.last else { return nil }
        let tail = points.filter { $0.activations * 2 >= last.activations && $0.activations > 0 && $0.regions > 0 }
        guard tail.count >= 3 else { return nil }
        let x = tail.map { log(Double($0.activations)) }, y = tail.map { log(Double($0.regions)) }
        let mx = x.reduce(0, +) / Double(x.count), my = y.reduce(0, +) / Double(y.count)
        let sxx = x.reduce(0) { $0 + ($1 - mx) * ($1 - mx) }
        guard sxx > 0 else { return nil }
        return zip(x, y).reduce(0) { $0 + ($1.0 - mx) * ($1.1 - my) } / sxx
    }
}

/// Saturation per domain from fresh streams (docs/eval.md): one dictionary per domain corpus, every one with the
/// calibration (center and θ), hook, extraction, window length and BOS of one reference dictionary, so that their
/// curves share θ and differ only by the text they read.
public struct SaturationStreams {
    /// How the domain builds run.
    public struct Settings: Sendable {
        /// Token budget per domain.
        public var maxTokens = 50_000
        /// Windows per batch: one curve point per batch (the reference's saturation runs use 32 prompts).
        public var batchWindows = 32
        /// Stop a domain after this many consecutive batches without a new region (the reference's rule: 1); 0:
        /// read the whole budget.
        public var saturationWindow = 1
        /// Seed of each domain's window shuffle.
        public var seed: UInt64 = 0

        public init() {}
    }

    /// The reference dictionary.
    public let reference: LoadedDictionary
    /// The model, as the reference records it (a name or path), and its loaded form.
    public let modelName: String
    private let model: LanguageModel
    private let modelPath: String
    private let tokenizer: TextTokenizer
    /// Called with a line of progress per batch.
    public var onProgress: ((String, BuildProgress) -> Void)?

    /// Streams that follow `reference`, built with `model` (loaded from `modelPath`; the caller checks its identity).
    public init(reference: LoadedDictionary, modelName: String, model: LanguageModel, modelPath: String, tokenizer: TextTokenizer) {
        self.reference = reference
        self.modelName = modelName
        self.model = model
        self.modelPath = modelPath
        self.tokenizer = tokenizer
    }

    /// Builds one dictionary per domain into `output/<label>` and returns their curves, in domain order.
    public func run(domains: [(label: String, corpus: String)], settings: Settings, output: String) throws -> [SaturationCurve] {
        guard !domains.isEmpty else { throw PipelineError("saturation: give at least one domain corpus") }
        guard Set(domains.map(\.label)).count == domains.count else { throw PipelineError("saturation: two domains share a label") }
        let extraction = try DictionaryExtraction(manifest: reference.manifest, path: reference.path)
        let d = reference.dictionary
        let calibration = CalibrationRecord(
            calibration: try Calibration.given(center: d.center, threshold: d.threshold), calibrationTokens: nil,
            source: reference.manifest.calibration.source)
        var curves: [SaturationCurve] = []
        for domain in domains {
            var s = TextBuildSettings(model: modelName, hook: extraction.hook, corpus: [domain.corpus], threads: model.threadCount)
            s.windows.context = extraction.context
            s.windows.bos = extraction.bosTokenID
            s.windows.seed = settings.seed
            s.extraction = extraction.settings
            s.givenCalibration = calibration
            s.batchWindows = settings.batchWindows
            s.maxTokens = settings.maxTokens
            s.saturationWindow = settings.saturationWindow
            s.checkpointEvery = 0
            let path = "\(output)/\(domain.label)"
            let builder = try TextDictionaryBuilder(settings: s, model: model, modelPath: modelPath, tokenizer: tokenizer, output: .single(path))
            builder.onProgress = { progress in onProgress?(domain.label, progress) }
            let summary = try builder.run()
            let built = try DictionaryStore.load(path, reservoir: false, contexts: false)
            guard let log = built.buildLog else { throw PipelineError("\(path): the build wrote no build_log.json") }
            curves.append(SaturationCurve(label: domain.label, threshold: built.dictionary.threshold, log: log, saturated: summary.dictionaries.first?.saturated ?? false))
        }
        return curves
    }
}
