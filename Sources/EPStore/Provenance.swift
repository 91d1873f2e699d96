import EPCore
import EPFormats
import Foundation

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

    var json: JSONValue {
        let value = JSONValue.object(JSONObject([
            "batch_size": .integer(Int64(batchSize)),
            "seed": seed.map { .integer(Int64($0)) } ?? .null,
            "n_batches": .integer(Int64(batchCount)),
            "n_activations": .integer(Int64(activationCount)),
            "saturated": .bool(saturated),
            "reservoir": .bool(reservoir),
            "new_region_rate": newRegionRate.map { .number($0) } ?? .null,
            "source": source?.json ?? .null,
            "text": text?.json ?? .null,
        ]))
        if let imported, case .object(var o) = value {
            o["imported"] = imported.json
            return .object(o)
        }
        return value
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
        text = try f.optionalObject("text").map(TextProvenance.init)
        imported = f.has("imported") ? try ImportProvenance(json: try f.value("imported"), path: f.path, field: f.name("imported")) : nil
    }
}

/// Counts of what a corpus reader read, left out or repaired during a build from text.
public struct CorpusCounts: Sendable, Equatable {
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

    var json: JSONValue {
        .object(JSONObject([
            "files": .integer(Int64(files)), "documents": .integer(Int64(documents)), "bytes": .integer(Int64(bytes)),
            "skipped_lines": .integer(Int64(skippedLines)), "repaired_documents": .integer(Int64(repairedDocuments)),
            "skipped_documents": .integer(Int64(skippedDocuments)), "skipped_binary_files": .integer(Int64(skippedBinaryFiles)),
        ]))
    }

    init(_ f: JSONFields) throws {
        files = try f.integer("files")
        documents = try f.integer("documents")
        bytes = try f.integer("bytes")
        skippedLines = try f.integer("skipped_lines")
        repairedDocuments = try f.integer("repaired_documents")
        skippedDocuments = try f.integer("skipped_documents")
        skippedBinaryFiles = try f.integer("skipped_binary_files")
    }
}

/// How a dictionary was built from text by running a model (`build.text` in the manifest): what identifies the
/// model, how documents became windows and windows became activations, and how far the build got. Commands that
/// run the model again for a dictionary (assign text, inspect, steer) check the model and the extraction settings
/// against it.
public struct TextProvenance: Sendable, Equatable {
    /// Where a build stands.
    public enum Status: String, Sendable, CaseIterable {
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

    var json: JSONValue {
        let value = JSONValue.object(JSONObject([
            "model_sha256": .string(modelSHA256),
            "model_width": .integer(Int64(modelWidth)),
            "bos_token_id": bosTokenID.map { .integer(Int64($0)) } ?? .null,
            "first_position_excluded": .bool(firstPositionExcluded),
            "window_mode": .string(windowMode),
            "min_window": .integer(Int64(minimumWindow)),
            "batch_windows": .integer(Int64(batchWindows)),
            "shuffle_buffer": .integer(Int64(shuffleBuffer)),
            "seed": .integer(Int64(seed)),
            "max_tokens": maxTokens.map { .integer(Int64($0)) } ?? .null,
            "saturation_window": .integer(Int64(saturationWindow)),
            "windows": .integer(Int64(windows)),
            "tokens": .integer(Int64(tokens)),
            "corpus": corpus.json,
            "status": .string(status.rawValue),
            "stop_reason": stopReason.map { .string($0) } ?? .null,
        ]))
        if activationDType != "f32", case .object(var o) = value {
            o["activation_dtype"] = .string(activationDType)
            return .object(o)
        }
        return value
    }

    init(_ f: JSONFields) throws {
        modelSHA256 = try f.string("model_sha256")
        modelWidth = try f.integer("model_width")
        bosTokenID = try f.optionalInteger("bos_token_id")
        firstPositionExcluded = try f.bool("first_position_excluded")
        windowMode = try f.string("window_mode")
        minimumWindow = try f.integer("min_window")
        batchWindows = try f.integer("batch_windows")
        shuffleBuffer = try f.integer("shuffle_buffer")
        seed = try f.integer("seed")
        maxTokens = try f.optionalInteger("max_tokens")
        saturationWindow = try f.integer("saturation_window")
        windows = try f.integer("windows")
        tokens = try f.integer("tokens")
        corpus = try CorpusCounts(try f.object("corpus"))
        let status = try f.string("status")
        guard let parsed = Status(rawValue: status) else {
            throw f.error("status", "expected one of \(Status.allCases.map(\.rawValue).joined(separator: ", ")), found \"\(status)\"")
        }
        self.status = parsed
        stopReason = try f.optionalString("stop_reason")
        activationDType = try f.optionalString("activation_dtype") ?? "f32"
        guard ["f32", "f16", "bf16"].contains(activationDType) else {
            throw f.error("activation_dtype", "expected \"f32\", \"f16\" or \"bf16\", found \"\(activationDType)\"")
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

    var json: JSONValue { codableJSON(self) }

    init(json: JSONValue, path: String, field: String) throws {
        self = try decodeCodable(ImportProvenance.self, from: json, path: path, field: field)
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

/// A Codable value as a ``JSONValue`` (keys sorted, so the text is stable).
func codableJSON<T: Encodable>(_ value: T) -> JSONValue {
    let encoder = JSONEncoder()
    encoder.outputFormatting = [.sortedKeys]
    // Encoding plain structs of numbers and strings cannot fail, and the encoder's output is JSON.
    let data = try! encoder.encode(value)
    return try! JSONValue.parse(Array(data), path: "(encoded \(T.self))")
}

/// A Codable value decoded from a ``JSONValue`` read from `path`; errors name the file and the field.
func decodeCodable<T: Decodable>(_ type: T.Type, from value: JSONValue, path: String, field: String) throws -> T {
    do {
        return try JSONDecoder().decode(T.self, from: Data(value.rendered().utf8))
    } catch let DecodingError.keyNotFound(key, context) {
        let at = (context.codingPath.map(\.stringValue) + [key.stringValue]).joined(separator: ".")
        throw FileFormatError(path, "missing field '\(field).\(at)'")
    } catch let DecodingError.typeMismatch(type, context) {
        let at = context.codingPath.map(\.stringValue).joined(separator: ".")
        throw FileFormatError(path, "field '\(field)\(at.isEmpty ? "" : ".")\(at)': expected \(type)")
    } catch let DecodingError.valueNotFound(type, context) {
        let at = context.codingPath.map(\.stringValue).joined(separator: ".")
        throw FileFormatError(path, "field '\(field)\(at.isEmpty ? "" : ".")\(at)': expected \(type), found null")
    } catch {
        throw FileFormatError(path, "field '\(field)': \(error)")
    }
}
