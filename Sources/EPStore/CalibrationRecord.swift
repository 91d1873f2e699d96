import EPCore
import EPFormats
import Foundation

/// A calibration saved as one JSON file (`ep calibrate -o CALIB.json`), format `ep-calibration` version 1:
///
/// ```json
/// { "format": "ep-calibration", "format_version": 1, "d_model": 576,
///   "threshold": 0.4517, "percentile": 1.0, "method": "linear",
///   "n_activations": 6144, "n_batches": 6, "batch_size": 1024, "calibration_tokens": 6144,
///   "batch_thresholds": [...], "center_norm": 99.0, "source": {...},
///   "tool": {"name": "ep", "version": "0.1.0"}, "created": "2026-11-25T15:00:00Z",
///   "center": [ D numbers ] }
/// ```
///
/// The center is a list of numbers, each the exact decimal value of a float32 (so `np.float32(x)` recovers it
/// bit for bit). Readers ignore unknown fields.
public struct CalibrationRecord: Sendable, Equatable {
    /// The value of the `format` field.
    public static let formatName = "ep-calibration"
    /// The format version written and the newest one read.
    public static let formatVersion = 1

    /// The calibration.
    public var calibration: Calibration
    /// Rows requested.
    public var calibrationTokens: Int?
    /// The data it was computed from.
    public var source: ActivationSource?
    /// When it was written (ISO-8601, UTC).
    public var created: String

    public init(calibration: Calibration, calibrationTokens: Int?, source: ActivationSource?, created: Date = Date()) {
        self.calibration = calibration
        self.calibrationTokens = calibrationTokens
        self.source = source
        self.created = DictionaryManifest.timestamp(created)
    }

    /// The provenance to put in a dictionary built from this calibration.
    public var provenance: CalibrationProvenance {
        CalibrationProvenance(calibration, calibrationTokens: calibrationTokens, source: source)
    }

    /// The record as JSON.
    public var json: JSONValue {
        let c = calibration
        return .object(JSONObject([
            "format": .string(Self.formatName),
            "format_version": .integer(Int64(Self.formatVersion)),
            "d_model": .integer(Int64(c.center.count)),
            "threshold": .number(c.threshold),
            "percentile": c.percentile.map { .number($0) } ?? .null,
            "method": .string(c.method?.rawValue ?? "given"),
            "n_activations": .integer(Int64(c.activationCount)),
            "n_batches": .integer(Int64(c.batchCount)),
            "batch_size": .integer(Int64(c.batchSize)),
            "calibration_tokens": calibrationTokens.map { .integer(Int64($0)) } ?? .null,
            "batch_thresholds": .array(c.batchThresholds.map { .number($0) }),
            "center_norm": .number(c.centerNorm),
            "source": source?.json ?? .null,
            "tool": .object(JSONObject(["name": .string("ep"), "version": .string(EPVersion.current)])),
            "created": .string(created),
            "center": .array(c.center.map { .number(Double($0)) }),
        ]))
    }

    /// Writes the record to `path` atomically.
    public func write(to path: String) throws {
        try AtomicOutput.write(string: json.rendered() + "\n", to: path)
    }

    /// Reads and checks a record: format, version, field types, a finite center of `d_model` values, θ in (0, 2).
    public static func read(path: String) throws -> CalibrationRecord {
        try CalibrationRecord(json: try JSONValue.read(path: path), path: path)
    }

    /// Checks and reads a record held as JSON, e.g. inside another file; errors name `path`.
    public static func parse(_ value: JSONValue, path: String) throws -> CalibrationRecord {
        try CalibrationRecord(json: value, path: path)
    }

    /// Checks a record parsed from the file at `path` (named in errors), as ``read(path:)`` does.
    public init(json value: JSONValue, path: String) throws {
        let f = try JSONFields(value, path: path)
        let format = try f.string("format")
        guard format == Self.formatName else { throw f.error("format", "expected \"\(Self.formatName)\", found \"\(format)\" (not an ep calibration)") }
        let version = try f.integer("format_version")
        guard version >= 1, version <= Self.formatVersion else {
            throw f.error("format_version", "this ep reads calibration format versions 1...\(Self.formatVersion), found \(version)")
        }
        let width = try f.integer("d_model")
        let center = try f.doubles("center").map { Float($0) }
        guard center.count == width else { throw f.error("center", "expected \(width) values (d_model), found \(center.count)") }
        if let bad = center.firstIndex(where: { !$0.isFinite }) { throw f.error("center", "element \(bad) is not a finite float32") }
        let threshold = try f.double("threshold")
        guard Calibration.isValidThreshold(threshold) else { throw f.error("threshold", "expected a cosine-distance threshold θ in (0, 2), found \(threshold)") }
        let methodName = try f.string("method")
        let method: PercentileMethod?
        if methodName == "given" {
            method = nil
        } else if let m = PercentileMethod(rawValue: methodName) {
            method = m
        } else {
            throw f.error("method", "expected \"linear\", \"nearest-rank\" or \"given\", found \"\(methodName)\"")
        }
        let calibration = Calibration(
            center: center, threshold: threshold, percentile: try f.optionalDouble("percentile"), method: method,
            activationCount: try f.integer("n_activations"), batchCount: try f.integer("n_batches"), batchSize: try f.integer("batch_size"),
            batchThresholds: f.has("batch_thresholds") ? try f.doubles("batch_thresholds") : [])
        self.init(
            calibration: calibration, calibrationTokens: try f.optionalInteger("calibration_tokens"),
            source: try f.optionalObject("source").map(ActivationSource.init))
        created = try f.string("created")
    }
}
