import EPCore
import EPFormats

extension PercentileMethod: JSONStringEnum {}

/// The settings a resumed build must share with the build it continues (``TextBuildSettings/fingerprint(modelSHA256:)``),
/// as a build's `build_state.json` and a shard plan record them. Compared key by key: a checkpoint written before a
/// field existed lacks it (``TextBuildSettings/optionalFingerprintFields``).
struct BuildFingerprint: Encodable {
    var modelSHA256: String
    /// A single-hook build's hook (as builds always have recorded it)…
    var hook: JSONOmittedIfNil<String>
    /// … or the hooks of a build of several, sorted.
    var hooks: JSONOmittedIfNil<[String]>
    var corpus: [String]
    var jsonlField: String
    var split: CorpusOptions.DocumentSplit
    var include: [Glob]
    var exclude: [Glob]
    var standardInputIsJSONL: Bool
    var badLines: CorpusOptions.BadLinePolicy
    var invalidUTF8: CorpusOptions.InvalidUTF8Policy
    var context: Int
    var windowMode: WindowSettings.Mode
    var minimumTokens: Int
    var bos: Int32?
    var shuffleBuffer: Int
    var seed: UInt64
    var extractor: ExtractorKind
    var excludeFirstPosition: Bool
    var windowsPerForward: Int
    var threads: Int
    /// The percentiles (null when the calibration is given)…
    var percentiles: [Double]?
    /// … or the given calibration's θ (null when calibrating).
    var calibration: Double?
    var method: PercentileMethod
    var calibrationTokens: Int
    var batchWindows: Int
    var reservoir: Bool
    /// Recorded only when activations are rounded, so that checkpoints written before the setting existed resume.
    var activationDType: JSONOmittedIfNil<ActivationDType>

    enum CodingKeys: String, CodingKey {
        case modelSHA256 = "model_sha256", hook, hooks, corpus, jsonlField = "jsonl_field", split, include, exclude
        case standardInputIsJSONL = "stdin_jsonl", badLines = "bad_lines", invalidUTF8 = "invalid_utf8", context
        case windowMode = "window_mode", minimumTokens = "min_window", bos = "bos_token_id", shuffleBuffer = "shuffle_buffer", seed
        case extractor, excludeFirstPosition = "exclude_first_position", windowsPerForward = "windows_per_forward", threads
        case percentiles, calibration, method, calibrationTokens = "calibration_tokens", batchWindows = "batch_windows", reservoir
        case activationDType = "activation_dtype"
    }

    init(_ s: TextBuildSettings, modelSHA256: String) {
        self.modelSHA256 = modelSHA256
        hook = JSONOmittedIfNil(s.hooks.count == 1 ? s.hooks[0] : nil)
        hooks = JSONOmittedIfNil(s.hooks.count == 1 ? nil : s.hooks.sorted())
        corpus = s.corpus
        jsonlField = s.corpusOptions.jsonlField
        split = s.corpusOptions.split
        include = s.corpusOptions.include
        exclude = s.corpusOptions.exclude
        standardInputIsJSONL = s.corpusOptions.standardInputIsJSONL
        badLines = s.corpusOptions.badLines
        invalidUTF8 = s.corpusOptions.invalidUTF8
        context = s.windows.context
        windowMode = s.windows.mode
        minimumTokens = s.windows.minimumTokens
        bos = s.windows.bos
        shuffleBuffer = s.windows.shuffleBuffer
        seed = s.windows.seed
        extractor = s.extraction.extractor
        excludeFirstPosition = s.extraction.excludeFirstPosition
        windowsPerForward = s.extraction.windowsPerForward
        threads = s.threads
        percentiles = s.givenCalibration == nil ? s.percentiles : nil
        calibration = s.givenCalibration?.calibration.threshold
        method = s.method
        calibrationTokens = s.calibrationTokens
        batchWindows = s.batchWindows
        reservoir = s.reservoir
        activationDType = JSONOmittedIfNil(s.activationDType == .f32 ? nil : s.activationDType)
    }
}
