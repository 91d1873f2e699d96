import EPCore
import EPFormats
import EPRuntime
import EPStore
import Foundation

/// What a batch source hands the builder on request.
public enum BatchPull {
    /// The next batch.
    case batch(ActivationBatch)
    /// No batch is left (the end of the corpus).
    case end
    /// A stop was asked for (``TextDictionaryBuilder/shouldStop``) before the batch was complete.
    case stopped
}

/// Where a build from text gets its batches of activations: the windows of the build's stream, in order,
/// `batchWindows` at a time, with each hook's rows and the rows' references. ``TextDictionaryBuilder`` does the
/// rest (calibration, clustering, saturation, checkpoints, resume, writing) the same way whatever the source, so
/// two sources that give the same batches give the same dictionaries.
///
/// Two sources: ``ModelBatchSource`` runs the model over the corpus (a build in one process), and
/// ``ShardBatchSource`` reads the shards of a plan (``ShardPlan``) that extraction steps wrote.
public protocol TextBatchSource: AnyObject {
    /// SHA-256 identity of the model (``ModelIdentity``).
    var modelSHA256: String { get }
    /// Width of the model's residual stream (recorded in the text provenance).
    var modelWidth: Int { get }
    /// Width of the rows of every hook.
    var width: Int { get }
    /// The next batch of windows, with the rows of the hooks numbered `hooks` (indices into the settings' hooks;
    /// the others may be nil). `shouldStop` is asked while the batch is made.
    func next(hooks: [Int], shouldStop: () -> Bool) throws -> BatchPull
    /// Skips `count` windows from the start (a resumed build), handing each to `each` in order.
    func skip(windows count: Int64, each: (ContextWindow) -> Void) throws
    /// What the corpus reader had read when the last window handed out (or skipped) was cut.
    var corpusStatistics: CorpusStatistics { get }
    /// Windows handed out or skipped so far.
    var emittedWindows: Int64 { get }
    /// Tokens of those windows (BOS included).
    var emittedTokens: Int { get }
    /// Seconds spent making batches' activations (the forward passes, or reading shards).
    var extractionSeconds: Double { get }
    /// What those seconds were spent on, for the closing report: "model forward" or "shard reads".
    var extractionLabel: String { get }
    /// Why the source gave few or no windows, for errors.
    var explanation: String { get }
}

/// Batches from the model: the corpus is tokenized and cut into windows (``WindowStream``), each batch of windows
/// runs through the model to the deepest hook needed (``ActivationExtractor``), and the rows are rounded to the
/// settings' activation precision.
public final class ModelBatchSource: TextBatchSource {
    public let modelSHA256: String
    public let modelWidth: Int
    public private(set) var extractionSeconds = 0.0
    public var extractionLabel: String { "model forward" }
    private let settings: TextBuildSettings
    private let extractor: ActivationExtractor
    private let stream: WindowStream

    /// A source for `settings` from `model` (loaded from `modelPath`, hashed here) and its `tokenizer`.
    public init(settings: TextBuildSettings, model: LanguageModel, modelPath: String, tokenizer: TextTokenizer) throws {
        modelSHA256 = try ModelIdentity.sha256(of: modelPath)
        modelWidth = model.config.modelWidth
        self.settings = settings
        extractor = try ActivationExtractor(model: model, hooks: settings.hooks, settings: settings.extraction)
        let reader = try CorpusReader(paths: settings.corpus, options: settings.corpusOptions)
        stream = try WindowStream(corpus: reader, settings: settings.windows) {
            tokenizer.encode($0, parseSpecial: true, addSpecial: false)
        }
    }

    public var width: Int { extractor.width }
    public var corpusStatistics: CorpusStatistics { stream.corpusStatistics }
    public var emittedWindows: Int64 { stream.emitted }
    public var emittedTokens: Int { stream.emittedTokens }
    public var explanation: String { stream.explanation }

    public func next(hooks: [Int], shouldStop: () -> Bool) throws -> BatchPull {
        var windows: [ContextWindow] = []
        while windows.count < settings.batchWindows, let w = try stream.next() { windows.append(w) }
        guard !windows.isEmpty else { return .end }
        let started = Date()
        defer { extractionSeconds += Date().timeIntervalSince(started) }
        guard let batch = try Self.extract(windows, hooks: hooks, extractor: extractor, settings: settings, shouldStop: shouldStop) else { return .stopped }
        return .batch(batch)
    }

    public func skip(windows count: Int64, each: (ContextWindow) -> Void) throws {
        try stream.skip(count, each: each)
    }

    /// The activations of `windows` at the hooks numbered `hooks`, rounded to the settings' precision; nil when
    /// `shouldStop` said yes. The one extraction of a build and of a shard.
    static func extract(
        _ windows: [ContextWindow], hooks: [Int], extractor: ActivationExtractor, settings: TextBuildSettings, shouldStop: () -> Bool
    ) throws -> ActivationBatch? {
        guard var batch = try extractor.extract(windows, hooks: hooks, shouldStop: shouldStop) else { return nil }
        try settings.activationDType.round(&batch, hooks: settings.hooks)
        return batch
    }
}
