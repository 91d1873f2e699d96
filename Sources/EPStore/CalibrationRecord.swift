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
public struct CalibrationRecord: Sendable, Equatable, Codable {
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

    enum CodingKeys: String, CodingKey {
        case format, formatVersion = "format_version", width = "d_model", threshold, percentile, method
        case activationCount = "n_activations", batchCount = "n_batches", batchSize = "batch_size"
        case calibrationTokens = "calibration_tokens", batchThresholds = "batch_thresholds", centerNorm = "center_norm", source
        case tool, created, center
    }

    /// The record as JSON.
    public var json: JSONValue { JSONValueEncoder.value(of: self) }

    public func encode(to encoder: Encoder) throws {
        let c = calibration
        var e = encoder.container(keyedBy: CodingKeys.self)
        try e.encode(Self.formatName, forKey: .format)
        try e.encode(Self.formatVersion, forKey: .formatVersion)
        try e.encode(c.center.count, forKey: .width)
        try e.encode(c.threshold, forKey: .threshold)
        try e.encodeIfPresent(c.percentile, forKey: .percentile)
        try e.encode(c.method?.rawValue ?? "given", forKey: .method)
        try e.encode(c.activationCount, forKey: .activationCount)
        try e.encode(c.batchCount, forKey: .batchCount)
        try e.encode(c.batchSize, forKey: .batchSize)
        try e.encodeIfPresent(calibrationTokens, forKey: .calibrationTokens)
        try e.encode(c.batchThresholds, forKey: .batchThresholds)
        try e.encode(c.centerNorm, forKey: .centerNorm)
        try e.encodeIfPresent(source, forKey: .source)
        try e.encode(ToolStamp(), forKey: .tool)
        try e.encode(created, forKey: .created)
        try e.encode(c.center, forKey: .center)
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
        self = try JSONValueDecoder().decode(Self.self, from: value, path: path)
    }

    public init(from decoder: Decoder) throws {
        let f = try decoder.container(keyedBy: CodingKeys.self)
        try f.requireFormat(.format, Self.formatName, what: "an ep calibration")
        let version = try f.decode(Int.self, forKey: .formatVersion)
        guard version >= 1, version <= Self.formatVersion else {
            throw f.fieldError(.formatVersion, "this ep reads calibration format versions 1...\(Self.formatVersion), found \(version)")
        }
        let width = try f.decode(Int.self, forKey: .width)
        let center = try f.decode([Double].self, forKey: .center).map { Float($0) }
        guard center.count == width else { throw f.fieldError(.center, "expected \(width) values (d_model), found \(center.count)") }
        if let bad = center.firstIndex(where: { !$0.isFinite }) { throw f.fieldError(.center, "element \(bad) is not a finite float32") }
        let threshold = try f.decode(Double.self, forKey: .threshold)
        guard Calibration.isValidThreshold(threshold) else { throw f.fieldError(.threshold, "expected a cosine-distance threshold θ in (0, 2), found \(threshold)") }
        let methodName = try f.decode(String.self, forKey: .method)
        let method: PercentileMethod?
        if methodName == "given" {
            method = nil
        } else if let m = PercentileMethod(rawValue: methodName) {
            method = m
        } else {
            throw f.fieldError(.method, "expected \"linear\", \"nearest-rank\" or \"given\", found \"\(methodName)\"")
        }
        let calibration = Calibration(
            center: center, threshold: threshold, percentile: try f.decodeIfPresent(Double.self, forKey: .percentile), method: method,
            activationCount: try f.decode(Int.self, forKey: .activationCount), batchCount: try f.decode(Int.self, forKey: .batchCount),
            batchSize: try f.decode(Int.self, forKey: .batchSize),
            batchThresholds: try f.decodeIfPresent([Double].self, forKey: .batchThresholds) ?? [])
        self.init(
            calibration: calibration, calibrationTokens: try f.decodeIfPresent(Int.self, forKey: .calibrationTokens),
            source: try f.decodeIfPresent(ActivationSource.self, forKey: .source))
        created = try f.decode(String.self, forKey: .created)
    }
}
