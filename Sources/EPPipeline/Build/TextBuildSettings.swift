import EPCore
import EPFormats
import EPStore

/// Everything that decides what a build from text produces (``TextDictionaryBuilder``).
public struct TextBuildSettings: Sendable {
    /// The model as the user named it (a path or a short name), recorded in the manifest.
    public var model: String
    /// The hook points, TransformerLens style (`blocks.15.hook_resid_post`): one dictionary (per percentile) each,
    /// all from one forward pass to the deepest of them.
    public var hooks: [String]
    /// The first hook point (the only one of a single-hook build); setting it makes the build a single-hook build.
    public var hook: String {
        get { hooks[0] }
        set { hooks = [newValue] }
    }
    /// Corpus paths (files, folders, `-` for standard input), read in order.
    public var corpus: [String]
    /// How the corpus is read.
    public var corpusOptions = CorpusOptions()
    /// How documents become windows (context length, BOS, shuffle).
    public var windows = WindowSettings()
    /// Which positions become activations.
    public var extraction = ExtractionSettings()
    /// Percentiles to calibrate at: one dictionary each, all from one extraction pass. Ignored when
    /// ``givenCalibration`` is set.
    public var percentiles: [Double] = defaultPercentiles
    /// The percentiles of a build that names none.
    public static let defaultPercentiles: [Double] = [2]
    /// A calibration to use instead of calibrating (one dictionary).
    public var givenCalibration: CalibrationRecord?
    /// How each calibration batch's percentile is read.
    public var method: PercentileMethod = .linear
    /// Activations to calibrate on (calibration stops after the batch that reaches it).
    public var calibrationTokens = 200_000
    /// Windows per batch, for calibration and clustering alike (the reference uses 128 prompts per batch).
    public var batchWindows = 128
    /// Stop once this many tokens (BOS included) have been read; nil: no budget.
    public var maxTokens: Int? = 1_000_000
    /// Stop a dictionary after this many consecutive batches that found no new region (docs/build.md); 0: never.
    public var saturationWindow = 1
    /// Write the outputs every this many batches (and at the end); 0: only at the end.
    public var checkpointEvery = 10
    /// Keep a reservoir of member directions (seeded by `windows.seed`).
    public var reservoir = false
    /// Calibrate even when the cache holds a calibration.
    public var recalibrate = false
    /// Threads of the model (recorded: forward results can depend on how windows are split across threads).
    public var threads: Int
    /// The precision every activation is rounded to right after extraction (f32: none); a sharded build's
    /// activations are stored in it.
    public var activationDType: ActivationDType = .f32

    public init(model: String, hook: String, corpus: [String], threads: Int) {
        self.init(model: model, hooks: [hook], corpus: corpus, threads: threads)
    }

    /// Settings of a build of every hook of `hooks` from one forward pass.
    public init(model: String, hooks: [String], corpus: [String], threads: Int) {
        self.model = model
        self.hooks = hooks
        self.corpus = corpus
        self.threads = threads
    }

    /// Checks the settings; the error names the flag.
    public func validate() throws {
        guard !hooks.isEmpty else { throw PipelineError("--hook: give at least one hook point") }
        if let twice = hooks.enumerated().first(where: { i, h in hooks[..<i].contains(h) }) {
            throw PipelineError("--hook: \(twice.element) is given twice")
        }
        if givenCalibration != nil, hooks.count > 1 {
            throw PipelineError("--calibration: a given calibration belongs to one hook, and this build has \(hooks.count); calibrate each hook with --percentile, or build the hooks one at a time")
        }
        if givenCalibration == nil {
            guard !percentiles.isEmpty else { throw PipelineError("--percentile: give at least one percentile") }
            for p in percentiles where !(p > 0 && p < 100) {
                throw PipelineError("--percentile: expected numbers strictly between 0 and 100, found \(p)")
            }
            guard Set(percentiles).count == percentiles.count else { throw PipelineError("--percentile: a percentile is listed twice") }
        }
        guard calibrationTokens > 0 else { throw PipelineError("--calibration-tokens: expected a positive number, found \(calibrationTokens)") }
        guard batchWindows > 0 else { throw PipelineError("--batch-windows: expected a positive number, found \(batchWindows)") }
        if let maxTokens, maxTokens <= 0 { throw PipelineError("--max-tokens: expected a positive number, found \(maxTokens)") }
        guard saturationWindow >= 0 else { throw PipelineError("--saturation-window: expected a number ≥ 0, found \(saturationWindow)") }
        guard checkpointEvery >= 0 else { throw PipelineError("--checkpoint-every: expected a number of batches ≥ 0, found \(checkpointEvery)") }
        guard windows.seed <= UInt64(Int.max) else { throw PipelineError("--seed: too large") }
    }

    /// The settings a resumed build must share with the build it continues, as JSON fields (the model by hash).
    /// The token budget, the saturation window, the checkpoint cadence and the recalibration flag may change
    /// between runs (a build that stopped at its budget or at saturation continues when they allow more). A
    /// single-hook build records its `hook` (as builds always have); a build of several hooks records the set as
    /// `hooks`, sorted, so that the same hooks given in another order resume it and any other set does not.
    public func fingerprint(modelSHA256: String) -> JSONObject {
        guard case .object(let o) = JSONValueEncoder.value(of: BuildFingerprint(self, modelSHA256: modelSHA256)) else {
            preconditionFailure("a fingerprint encodes as an object")
        }
        return o
    }

    /// Fingerprint fields that are left out when they hold their default: a checkpoint without one was made with
    /// the default.
    static let optionalFingerprintFields: [String: JSONValue] = ["activation_dtype": .string(ActivationDType.f32.rawValue)]
}

/// Every setting as JSON (a shard plan records them, so that the merge runs the build the plan describes); decoding
/// reads it back to equal settings, which the shard plan's reader then checks with ``validate()``. Keys: `model`,
/// `hooks`, `corpus`, `corpus_options` (``CorpusOptions``), `windows` (``WindowSettings``), `extraction`
/// (``ExtractionSettings``), then the build's own.
extension TextBuildSettings: Codable {
    enum CodingKeys: String, CodingKey {
        case model, hooks, corpus, corpusOptions = "corpus_options", windows, extraction, percentiles
        case givenCalibration = "given_calibration", method, calibrationTokens = "calibration_tokens", batchWindows = "batch_windows"
        case maxTokens = "max_tokens", saturationWindow = "saturation_window", checkpointEvery = "checkpoint_every", reservoir
        case recalibrate, threads, activationDType = "activation_dtype"
    }

    /// The settings as JSON.
    public var json: JSONValue { JSONValueEncoder.value(of: self) }
}
