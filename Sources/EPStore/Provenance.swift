import EPCore
import EPFormats
import Foundation

/// Where a set of activations came from. Fields a source does not have are `nil` (an activation file knows no
/// model or hook unless the user says so).
public struct ActivationSource: Sendable, Equatable, Codable {
    /// The model (e.g. a Hugging Face id or a GGUF file name).
    public var model: String?
    /// The hook point, TransformerLens style (e.g. `blocks.12.hook_resid_post`).
    public var hook: String?
    /// How activations were extracted (`per-position`, `final-position`, or `activation-files`).
    public var extractor: String?
    /// Context length in tokens.
    public var contextLength: Int?
    /// Tokens read, BOS included, when known.
    public var tokenCount: Int?
    /// Activation rows.
    public var activationCount: Int
    /// Input files (activation files, or corpora).
    public var inputs: [String]

    public init(
        model: String? = nil, hook: String? = nil, extractor: String? = nil, contextLength: Int? = nil, tokenCount: Int? = nil,
        activationCount: Int, inputs: [String] = []
    ) {
        self.model = model
        self.hook = hook
        self.extractor = extractor
        self.contextLength = contextLength
        self.tokenCount = tokenCount
        self.activationCount = activationCount
        self.inputs = inputs
    }

    enum CodingKeys: String, CodingKey {
        case model, hook, extractor, contextLength = "context_length", tokenCount = "n_tokens", activationCount = "n_activations", inputs
    }

    public init(from decoder: Decoder) throws {
        let c = try decoder.container(keyedBy: CodingKeys.self)
        model = try c.decodeIfPresent(String.self, forKey: .model)
        hook = try c.decodeIfPresent(String.self, forKey: .hook)
        extractor = try c.decodeIfPresent(String.self, forKey: .extractor)
        contextLength = try c.decodeIfPresent(Int.self, forKey: .contextLength)
        tokenCount = try c.decodeIfPresent(Int.self, forKey: .tokenCount)
        activationCount = try c.decode(Int.self, forKey: .activationCount)
        inputs = try c.decodeIfPresent([String].self, forKey: .inputs) ?? []
    }
}

/// How a dictionary's center and threshold were obtained.
public struct CalibrationProvenance: Sendable, Equatable, Codable {
    /// `linear` or `nearest-rank` (calibrated at a percentile), or `given` (center and θ supplied directly).
    public var method: String
    /// The percentile, when calibrated.
    public var percentile: Double?
    /// Rows used.
    public var activationCount: Int
    /// Calibration batches.
    public var batchCount: Int
    /// Rows per calibration batch.
    public var batchSize: Int
    /// Rows requested (calibration stops after the batch that reaches it).
    public var calibrationTokens: Int?
    /// The data it was computed from.
    public var source: ActivationSource?

    public init(
        method: String, percentile: Double?, activationCount: Int, batchCount: Int, batchSize: Int, calibrationTokens: Int?,
        source: ActivationSource?
    ) {
        self.method = method
        self.percentile = percentile
        self.activationCount = activationCount
        self.batchCount = batchCount
        self.batchSize = batchSize
        self.calibrationTokens = calibrationTokens
        self.source = source
    }

    /// The provenance of `calibration` (method `given` when it was supplied directly).
    public init(_ calibration: Calibration, calibrationTokens: Int?, source: ActivationSource?) {
        self.init(
            method: calibration.method?.rawValue ?? "given", percentile: calibration.percentile,
            activationCount: calibration.activationCount, batchCount: calibration.batchCount, batchSize: calibration.batchSize,
            calibrationTokens: calibrationTokens, source: source)
    }

    enum CodingKeys: String, CodingKey {
        case method, percentile, activationCount = "n_activations", batchCount = "n_batches", batchSize = "batch_size"
        case calibrationTokens = "calibration_tokens", source
    }
}

/// How a dictionary was built.
public struct BuildProvenance: Sendable, Equatable, Codable {
    /// Rows per `addBatch`.
    public var batchSize: Int
    /// Seed of the member reservoir, when there is one.
    public var seed: Int?
    /// Non-empty batches added.
    public var batchCount: Int
    /// Rows added.
    public var activationCount: Int
    /// Whether the reference's saturation rule (window 1) held at the end: the last batch created no region.
    public var saturated: Bool
    /// Whether `reservoir.safetensors` holds member samples.
    public var reservoir: Bool
    /// The last batch's new-region rate.
    public var newRegionRate: Double?
    /// The data it was built from.
    public var source: ActivationSource?
    /// For a build from text: the model's identity, the extraction settings and the progress (nil for activation
    /// files).
    public var text: TextProvenance?
    /// For a dictionary imported from the authors' pickle (`ep import`): where it came from (nil otherwise).
    public var imported: ImportProvenance?

    public init(
        batchSize: Int, seed: Int?, batchCount: Int, activationCount: Int, saturated: Bool, reservoir: Bool, newRegionRate: Double?,
        source: ActivationSource?, text: TextProvenance? = nil
    ) {
        self.batchSize = batchSize
        self.seed = seed
        self.batchCount = batchCount
        self.activationCount = activationCount
        self.saturated = saturated
        self.reservoir = reservoir
        self.newRegionRate = newRegionRate
        self.source = source
        self.text = text
    }

    enum CodingKeys: String, CodingKey {
        case batchSize = "batch_size", seed, batchCount = "n_batches", activationCount = "n_activations", saturated, reservoir
        case newRegionRate = "new_region_rate", source, text, imported
    }

    /// As synthesized, but `imported` is written only for an imported dictionary (files of other builds keep the
    /// bytes they had before imports existed).
    public func encode(to encoder: Encoder) throws {
        var c = encoder.container(keyedBy: CodingKeys.self)
        try c.encode(batchSize, forKey: .batchSize)
        try c.encodeIfPresent(seed, forKey: .seed)
        try c.encode(batchCount, forKey: .batchCount)
        try c.encode(activationCount, forKey: .activationCount)
        try c.encode(saturated, forKey: .saturated)
        try c.encode(reservoir, forKey: .reservoir)
        try c.encodeIfPresent(newRegionRate, forKey: .newRegionRate)
        try c.encodeIfPresent(source, forKey: .source)
        try c.encodeIfPresent(text, forKey: .text)
        if let imported { try c.encode(imported, forKey: .imported) }
    }
}

/// Counts of what a corpus reader read, left out or repaired during a build from text.
public struct CorpusCounts: Sendable, Equatable, Codable {
    /// Files opened (standard input counts as one).
    public var files = 0
    /// Documents read.
    public var documents = 0
    /// Bytes of text read.
    public var bytes = 0
    /// JSONL lines left out (not JSON, not an object, text field missing or not a string).
    public var skippedLines = 0
    /// Documents whose invalid UTF-8 was replaced with U+FFFD.
    public var repairedDocuments = 0
    /// Documents left out for invalid UTF-8.
    public var skippedDocuments = 0
    /// Files of folders left out because they look binary.
    public var skippedBinaryFiles = 0

    public init() {}

    enum CodingKeys: String, CodingKey {
        case files, documents, bytes, skippedLines = "skipped_lines", repairedDocuments = "repaired_documents"
        case skippedDocuments = "skipped_documents", skippedBinaryFiles = "skipped_binary_files"
    }
}

/// How a dictionary was built from text by running a model (`build.text` in the manifest): what identifies the
/// model, how documents became windows and windows became activations, and how far the build got. Commands that
/// run the model again for a dictionary (assign text, inspect, steer) check the model and the extraction settings
/// against it.
public struct TextProvenance: Sendable, Equatable, Codable {
    /// Where a build stands.
    public enum Status: String, Sendable, CaseIterable, Codable {
        /// Still running: this is a checkpoint (`--resume` continues it).
        case inProgress = "in-progress"
        /// Stopped by the user (Ctrl-C) at a batch boundary; `--resume` continues it.
        case interrupted
        /// Finished: the token budget, saturation or the end of the corpus stopped it.
        case complete
    }

    /// SHA-256 of the model file (the GGUF) or, for a model folder, of its config and weight files in order.
    public var modelSHA256: String
    /// Width of the model's residual stream.
    public var modelWidth: Int
    /// The token prepended to every window, or nil when none is (the model's tokenizer asks for none).
    public var bosTokenID: Int?
    /// Whether position 0 of every window was left out of calibration and build (its residual is an attention
    /// sink on many models).
    public var firstPositionExcluded: Bool
    /// How documents were cut: `chunks` (consecutive windows) or `prefix` (the first window of each document).
    public var windowMode: String
    /// The shortest window kept in `chunks` mode (tokens, BOS included).
    public var minimumWindow: Int
    /// Windows per clustering batch.
    public var batchWindows: Int
    /// Windows held in the seeded shuffle buffer (1: corpus order).
    public var shuffleBuffer: Int
    /// Seed of the shuffle (and of the member reservoir).
    public var seed: Int
    /// The token budget (nil: none).
    public var maxTokens: Int?
    /// Batches without a new region that stop the build (0: never).
    public var saturationWindow: Int
    /// Windows consumed from the stream.
    public var windows: Int
    /// Tokens consumed (BOS included).
    public var tokens: Int
    /// What the corpus reader read.
    public var corpus: CorpusCounts
    /// Where the build stands.
    public var status: Status
    /// Why it stopped: `token budget`, `saturated`, `corpus exhausted` or `interrupted`; nil while in progress.
    public var stopReason: String?
    /// The precision every activation was rounded to right after extraction: `f32` (not rounded), `f16` or
    /// `bf16` (a sharded build stores activations in that precision). Written only when not `f32`.
    public var activationDType: String = "f32"

    public init(
        modelSHA256: String, modelWidth: Int, bosTokenID: Int?, firstPositionExcluded: Bool, windowMode: String, minimumWindow: Int,
        batchWindows: Int, shuffleBuffer: Int, seed: Int, maxTokens: Int?, saturationWindow: Int, windows: Int, tokens: Int,
        corpus: CorpusCounts, status: Status, stopReason: String?
    ) {
        self.modelSHA256 = modelSHA256
        self.modelWidth = modelWidth
        self.bosTokenID = bosTokenID
        self.firstPositionExcluded = firstPositionExcluded
        self.windowMode = windowMode
        self.minimumWindow = minimumWindow
        self.batchWindows = batchWindows
        self.shuffleBuffer = shuffleBuffer
        self.seed = seed
        self.maxTokens = maxTokens
        self.saturationWindow = saturationWindow
        self.windows = windows
        self.tokens = tokens
        self.corpus = corpus
        self.status = status
        self.stopReason = stopReason
    }

    enum CodingKeys: String, CodingKey {
        case modelSHA256 = "model_sha256", modelWidth = "model_width", bosTokenID = "bos_token_id"
        case firstPositionExcluded = "first_position_excluded", windowMode = "window_mode", minimumWindow = "min_window"
        case batchWindows = "batch_windows", shuffleBuffer = "shuffle_buffer", seed, maxTokens = "max_tokens"
        case saturationWindow = "saturation_window", windows, tokens, corpus, status, stopReason = "stop_reason"
        case activationDType = "activation_dtype"
    }

    public func encode(to encoder: Encoder) throws {
        var c = encoder.container(keyedBy: CodingKeys.self)
        try c.encode(modelSHA256, forKey: .modelSHA256)
        try c.encode(modelWidth, forKey: .modelWidth)
        try c.encodeIfPresent(bosTokenID, forKey: .bosTokenID)
        try c.encode(firstPositionExcluded, forKey: .firstPositionExcluded)
        try c.encode(windowMode, forKey: .windowMode)
        try c.encode(minimumWindow, forKey: .minimumWindow)
        try c.encode(batchWindows, forKey: .batchWindows)
        try c.encode(shuffleBuffer, forKey: .shuffleBuffer)
        try c.encode(seed, forKey: .seed)
        try c.encodeIfPresent(maxTokens, forKey: .maxTokens)
        try c.encode(saturationWindow, forKey: .saturationWindow)
        try c.encode(windows, forKey: .windows)
        try c.encode(tokens, forKey: .tokens)
        try c.encode(corpus, forKey: .corpus)
        try c.encode(status, forKey: .status)
        try c.encodeIfPresent(stopReason, forKey: .stopReason)
        // Written only when not f32, so that dictionaries of unrounded builds read as before.
        if activationDType != "f32" { try c.encode(activationDType, forKey: .activationDType) }
    }

    public init(from decoder: Decoder) throws {
        let c = try decoder.container(keyedBy: CodingKeys.self)
        modelSHA256 = try c.decode(String.self, forKey: .modelSHA256)
        modelWidth = try c.decode(Int.self, forKey: .modelWidth)
        bosTokenID = try c.decodeIfPresent(Int.self, forKey: .bosTokenID)
        firstPositionExcluded = try c.decode(Bool.self, forKey: .firstPositionExcluded)
        windowMode = try c.decode(String.self, forKey: .windowMode)
        minimumWindow = try c.decode(Int.self, forKey: .minimumWindow)
        batchWindows = try c.decode(Int.self, forKey: .batchWindows)
        shuffleBuffer = try c.decode(Int.self, forKey: .shuffleBuffer)
        seed = try c.decode(Int.self, forKey: .seed)
        maxTokens = try c.decodeIfPresent(Int.self, forKey: .maxTokens)
        saturationWindow = try c.decode(Int.self, forKey: .saturationWindow)
        windows = try c.decode(Int.self, forKey: .windows)
        tokens = try c.decode(Int.self, forKey: .tokens)
        corpus = try c.decode(CorpusCounts.self, forKey: .corpus)
        let status = try c.decode(String.self, forKey: .status)
        guard let parsed = Status(rawValue: status) else {
            throw c.fieldError(.status, "expected one of \(Status.allCases.map(\.rawValue).joined(separator: ", ")), found \"\(status)\"")
        }
        self.status = parsed
        stopReason = try c.decodeIfPresent(String.self, forKey: .stopReason)
        activationDType = try c.decodeIfPresent(String.self, forKey: .activationDType) ?? "f32"
        guard ["f32", "f16", "bf16"].contains(activationDType) else {
            throw c.fieldError(.activationDType, "expected \"f32\", \"f16\" or \"bf16\", found \"\(activationDType)\"")
        }
    }
}

/// Where an imported dictionary came from (`build.imported` in the manifest): the authors' pickle, its hash, how
/// it was pickled, and the metadata JSON their build script wrote beside it.
public struct ImportProvenance: Sendable, Equatable, Codable {
    /// The pickle as given on the command line.
    public var source: String
    /// SHA-256 of the pickle file.
    public var sha256: String
    /// Its size in bytes.
    public var bytes: Int
    /// The pickle protocol (2–5).
    public var pickleProtocol: Int
    /// The class the pickle holds: `ep.discovery.dictionary.Dictionary` or the pre-rename
    /// `cas.discovery.dictionary.ConceptLibrary`.
    public var pickledClass: String
    /// Whether the pickle's member vectors (`sample_members`) were kept as the reservoir.
    public var reservoirKept: Bool
    /// How the batch history was made: `metadata` (batches of `discovery_config.batch_size` rows over
    /// `discovery.n_activations` rows) or `founders` (batch boundaries placed after each batch's last founder row,
    /// when no metadata gives the batch size).
    public var batches: String
    /// The metadata JSON file, when one was given, its SHA-256 and the fields read from it.
    public var metadataFile: String?
    public var metadataSHA256: String?
    public var metadata: PickleMetadata?

    public init(
        source: String, sha256: String, bytes: Int, pickleProtocol: Int, pickledClass: String, reservoirKept: Bool, batches: String,
        metadataFile: String?, metadataSHA256: String?, metadata: PickleMetadata?
    ) {
        self.source = source
        self.sha256 = sha256
        self.bytes = bytes
        self.pickleProtocol = pickleProtocol
        self.pickledClass = pickledClass
        self.reservoirKept = reservoirKept
        self.batches = batches
        self.metadataFile = metadataFile
        self.metadataSHA256 = metadataSHA256
        self.metadata = metadata
    }

    enum CodingKeys: String, CodingKey {
        case source, sha256, bytes
        case pickleProtocol = "pickle_protocol"
        case pickledClass = "pickled_class"
        case reservoirKept = "reservoir_kept"
        case batches
        case metadataFile = "metadata_file"
        case metadataSHA256 = "metadata_sha256"
        case metadata
    }

}

/// The fields `ep import` reads from the metadata JSON the authors' build script writes beside a pickle
/// (`NAME_metadata.json`); absent fields are nil.
public struct PickleMetadata: Sendable, Equatable, Codable {
    public struct Discovery: Sendable, Equatable, Codable {
        public var regionCount: Int?
        public var threshold: Double?
        public var activationCount: Int?

        public init(regionCount: Int? = nil, threshold: Double? = nil, activationCount: Int? = nil) {
            self.regionCount = regionCount
            self.threshold = threshold
            self.activationCount = activationCount
        }

        enum CodingKeys: String, CodingKey {
            case regionCount = "n_partitions"
            case threshold
            case activationCount = "n_activations"
        }
    }

    public struct Configuration: Sendable, Equatable, Codable {
        public var percentile: Double?
        public var batchSize: Int?
        public var seed: Int?

        public init(percentile: Double? = nil, batchSize: Int? = nil, seed: Int? = nil) {
            self.percentile = percentile
            self.batchSize = batchSize
            self.seed = seed
        }

        enum CodingKeys: String, CodingKey {
            case percentile
            case batchSize = "batch_size"
            case seed
        }
    }

    public var discovery: Discovery?
    public var configuration: Configuration?

    public init(discovery: Discovery? = nil, configuration: Configuration? = nil) {
        self.discovery = discovery
        self.configuration = configuration
    }

    enum CodingKeys: String, CodingKey {
        case discovery
        case configuration = "discovery_config"
    }
}
