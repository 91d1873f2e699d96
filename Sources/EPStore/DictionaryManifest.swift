import EPCore
import EPFormats
import Foundation

/// `manifest.json` of a dictionary folder: what the dictionary is, how it was made, and which files hold it.
///
/// Compatibility rules: readers ignore fields they do not know, so later versions add fields (text provenance,
/// context windows for references, model file hashes) without changing `format_version`. The version changes only
/// when existing fields or tensors change meaning; a reader refuses versions newer than it knows.
public struct DictionaryManifest: Sendable, Equatable, Codable {
    /// The value of the `format` field.
    public static let formatName = "exemplar-partitioning-dictionary"
    /// The newest format version this code reads and the one it writes.
    public static let formatVersion = 1

    /// The format version the folder was written in.
    public var formatVersion: Int
    /// Row width D (`d_model`).
    public var width: Int
    /// Number of regions K.
    public var regionCount: Int
    /// The threshold θ.
    public var threshold: Double
    /// The calibration percentile, when θ was calibrated.
    public var percentile: Double?
    /// ‖center‖.
    public var centerNorm: Double
    /// How center and θ were obtained.
    public var calibration: CalibrationProvenance
    /// How the regions were built.
    public var build: BuildProvenance
    /// The program that wrote it and its version.
    public var tool: ToolStamp
    /// When it was written (ISO-8601, UTC).
    public var created: String
    /// The data files and their sizes in bytes, in order.
    public var files: [FileEntry]

    /// A data file of the folder and its size.
    public struct FileEntry: Sendable, Equatable, Codable {
        public var name: String
        public var bytes: Int
        public init(name: String, bytes: Int) {
            self.name = name
            self.bytes = bytes
        }
    }

    /// The program that wrote it.
    public var toolName: String { tool.name }
    /// Its version.
    public var toolVersion: String { tool.version }

    enum CodingKeys: String, CodingKey {
        case format, formatVersion = "format_version", width = "d_model", regionCount = "n_regions", threshold, percentile
        case centerNorm = "center_norm", calibration, build, tool, created, files
    }

    public init(
        width: Int, regionCount: Int, threshold: Double, percentile: Double?, centerNorm: Double, calibration: CalibrationProvenance,
        build: BuildProvenance, files: [FileEntry] = [], created: Date = Date()
    ) {
        formatVersion = Self.formatVersion
        self.width = width
        self.regionCount = regionCount
        self.threshold = threshold
        self.percentile = percentile
        self.centerNorm = centerNorm
        self.calibration = calibration
        self.build = build
        tool = ToolStamp()
        self.created = Self.timestamp(created)
        self.files = files
    }

    /// ISO-8601 UTC text of a date, to the second.
    public static func timestamp(_ date: Date) -> String {
        let formatter = ISO8601DateFormatter()
        formatter.formatOptions = [.withInternetDateTime]
        formatter.timeZone = TimeZone(identifier: "UTC")
        return formatter.string(from: date)
    }

    /// The manifest as JSON.
    public var json: JSONValue { JSONValueEncoder.value(of: self) }

    public func encode(to encoder: Encoder) throws {
        var c = encoder.container(keyedBy: CodingKeys.self)
        try c.encode(Self.formatName, forKey: .format)
        try c.encode(formatVersion, forKey: .formatVersion)
        try c.encode(width, forKey: .width)
        try c.encode(regionCount, forKey: .regionCount)
        try c.encode(threshold, forKey: .threshold)
        try c.encodeIfPresent(percentile, forKey: .percentile)
        try c.encode(centerNorm, forKey: .centerNorm)
        try c.encode(calibration, forKey: .calibration)
        try c.encode(build, forKey: .build)
        try c.encode(tool, forKey: .tool)
        try c.encode(created, forKey: .created)
        try c.encode(files, forKey: .files)
    }

    /// Reads and checks a manifest: the format name, a version this code reads, and every field's type.
    public init(json value: JSONValue, path: String) throws {
        self = try JSONValueDecoder().decode(Self.self, from: value, path: path)
    }

    public init(from decoder: Decoder) throws {
        let c = try decoder.container(keyedBy: CodingKeys.self)
        try c.requireFormat(.format, Self.formatName, what: "an ep dictionary")
        formatVersion = try c.decode(Int.self, forKey: .formatVersion)
        guard formatVersion >= 1 else { throw c.fieldError(.formatVersion, "expected a version ≥ 1, found \(formatVersion)") }
        guard formatVersion <= Self.formatVersion else {
            throw c.fieldError(.formatVersion, "the dictionary is format version \(formatVersion), written by a newer ep; this ep reads up to version \(Self.formatVersion)")
        }
        width = try c.decode(Int.self, forKey: .width)
        guard width > 0 else { throw c.fieldError(.width, "expected a positive width, found \(width)") }
        regionCount = try c.decode(Int.self, forKey: .regionCount)
        guard regionCount >= 0 else { throw c.fieldError(.regionCount, "expected a count ≥ 0, found \(regionCount)") }
        threshold = try c.decode(Double.self, forKey: .threshold)
        guard threshold.isFinite, threshold > 0 else { throw c.fieldError(.threshold, "expected a finite number > 0, found \(threshold)") }
        percentile = try c.decodeIfPresent(Double.self, forKey: .percentile)
        centerNorm = try c.decode(Double.self, forKey: .centerNorm)
        calibration = try c.decode(CalibrationProvenance.self, forKey: .calibration)
        build = try c.decode(BuildProvenance.self, forKey: .build)
        tool = try c.decode(ToolStamp.self, forKey: .tool)
        created = try c.decode(String.self, forKey: .created)
        files = try c.decode([FileEntry].self, forKey: .files)
    }
}

/// The program that wrote a file and its version (`"tool": {"name": "ep", "version": "0.1.0"}`).
public struct ToolStamp: Sendable, Equatable, Codable {
    public var name: String
    public var version: String

    /// This program.
    public init() {
        name = "ep"
        version = EPVersion.current
    }
}
