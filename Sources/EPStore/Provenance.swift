import EPCore
import EPFormats

/// Where a set of activations came from. Fields a source does not have are `nil` (an activation file knows no
/// model or hook unless the user says so).
public struct ActivationSource: Sendable, Equatable {
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

    var json: JSONValue {
        .object(JSONObject([
            "model": model.map { .string($0) } ?? .null,
            "hook": hook.map { .string($0) } ?? .null,
            "extractor": extractor.map { .string($0) } ?? .null,
            "context_length": contextLength.map { .integer(Int64($0)) } ?? .null,
            "n_tokens": tokenCount.map { .integer(Int64($0)) } ?? .null,
            "n_activations": .integer(Int64(activationCount)),
            "inputs": .array(inputs.map { .string($0) }),
        ]))
    }

    init(_ f: JSONFields) throws {
        model = try f.optionalString("model")
        hook = try f.optionalString("hook")
        extractor = try f.optionalString("extractor")
        contextLength = try f.optionalInteger("context_length")
        tokenCount = try f.optionalInteger("n_tokens")
        activationCount = try f.integer("n_activations")
        inputs = f.has("inputs") ? try f.strings("inputs") : []
    }
}

/// How a dictionary's center and threshold were obtained.
public struct CalibrationProvenance: Sendable, Equatable {
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

    var json: JSONValue {
        .object(JSONObject([
            "method": .string(method),
            "percentile": percentile.map { .number($0) } ?? .null,
            "n_activations": .integer(Int64(activationCount)),
            "n_batches": .integer(Int64(batchCount)),
            "batch_size": .integer(Int64(batchSize)),
            "calibration_tokens": calibrationTokens.map { .integer(Int64($0)) } ?? .null,
            "source": source?.json ?? .null,
        ]))
    }

    init(_ f: JSONFields) throws {
        method = try f.string("method")
        percentile = try f.optionalDouble("percentile")
        activationCount = try f.integer("n_activations")
        batchCount = try f.integer("n_batches")
        batchSize = try f.integer("batch_size")
        calibrationTokens = try f.optionalInteger("calibration_tokens")
        source = try f.optionalObject("source").map(ActivationSource.init)
    }
}

/// How a dictionary was built.
public struct BuildProvenance: Sendable, Equatable {
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

    public init(
        batchSize: Int, seed: Int?, batchCount: Int, activationCount: Int, saturated: Bool, reservoir: Bool, newRegionRate: Double?,
        source: ActivationSource?
    ) {
        self.batchSize = batchSize
        self.seed = seed
        self.batchCount = batchCount
        self.activationCount = activationCount
        self.saturated = saturated
        self.reservoir = reservoir
        self.newRegionRate = newRegionRate
        self.source = source
    }

    var json: JSONValue {
        .object(JSONObject([
            "batch_size": .integer(Int64(batchSize)),
            "seed": seed.map { .integer(Int64($0)) } ?? .null,
            "n_batches": .integer(Int64(batchCount)),
            "n_activations": .integer(Int64(activationCount)),
            "saturated": .bool(saturated),
            "reservoir": .bool(reservoir),
            "new_region_rate": newRegionRate.map { .number($0) } ?? .null,
            "source": source?.json ?? .null,
        ]))
    }

    init(_ f: JSONFields) throws {
        batchSize = try f.integer("batch_size")
        seed = try f.optionalInteger("seed")
        batchCount = try f.integer("n_batches")
        activationCount = try f.integer("n_activations")
        saturated = try f.bool("saturated")
        reservoir = try f.bool("reservoir")
        newRegionRate = try f.optionalDouble("new_region_rate")
        source = try f.optionalObject("source").map(ActivationSource.init)
    }
}
