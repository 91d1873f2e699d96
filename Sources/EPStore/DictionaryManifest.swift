import EPCore
import EPFormats
import Foundation

/// `manifest.json` of a dictionary folder: what the dictionary is, how it was made, and which files hold it.
///
/// Compatibility rules: readers ignore fields they do not know, so later versions add fields (text provenance,
/// context windows for references, model file hashes) without changing `format_version`. The version changes only
/// when existing fields or tensors change meaning; a reader refuses versions newer than it knows.
public struct DictionaryManifest: Sendable, Equatable {
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
    public var toolName: String
    public var toolVersion: String
    /// When it was written (ISO-8601, UTC).
    public var created: String
    /// The data files and their sizes in bytes, in order.
    public var files: [(name: String, bytes: Int)]

    public init(
        width: Int, regionCount: Int, threshold: Double, percentile: Double?, centerNorm: Double, calibration: CalibrationProvenance,
        build: BuildProvenance, files: [(name: String, bytes: Int)] = [], created: Date = Date()
    ) {
        formatVersion = Self.formatVersion
        self.width = width
        self.regionCount = regionCount
        self.threshold = threshold
        self.percentile = percentile
        self.centerNorm = centerNorm
        self.calibration = calibration
        self.build = build
        toolName = "ep"
        toolVersion = EPVersion.current
        self.created = Self.timestamp(created)
        self.files = files
    }

    public static func == (a: DictionaryManifest, b: DictionaryManifest) -> Bool {
        a.formatVersion == b.formatVersion && a.width == b.width && a.regionCount == b.regionCount && a.threshold == b.threshold
            && a.percentile == b.percentile && a.centerNorm == b.centerNorm && a.calibration == b.calibration && a.build == b.build
            && a.toolName == b.toolName && a.toolVersion == b.toolVersion && a.created == b.created
            && a.files.map(\.name) == b.files.map(\.name) && a.files.map(\.bytes) == b.files.map(\.bytes)
    }

    /// ISO-8601 UTC text of a date, to the second.
    public static func timestamp(_ date: Date) -> String {
        let formatter = ISO8601DateFormatter()
        formatter.formatOptions = [.withInternetDateTime]
        formatter.timeZone = TimeZone(identifier: "UTC")
        return formatter.string(from: date)
    }

    /// The manifest as JSON.
    public var json: JSONValue {
        .object(JSONObject([
            "format": .string(Self.formatName),
            "format_version": .integer(Int64(formatVersion)),
            "d_model": .integer(Int64(width)),
            "n_regions": .integer(Int64(regionCount)),
            "threshold": .number(threshold),
            "percentile": percentile.map { .number($0) } ?? .null,
            "center_norm": .number(centerNorm),
            "calibration": calibration.json,
            "build": build.json,
            "tool": .object(JSONObject(["name": .string(toolName), "version": .string(toolVersion)])),
            "created": .string(created),
            "files": .array(files.map { .object(JSONObject(["name": .string($0.name), "bytes": .integer(Int64($0.bytes))])) }),
        ]))
    }

    /// Reads and checks a manifest: the format name, a version this code reads, and every field's type.
    public init(json value: JSONValue, path: String) throws {
        let f = try JSONFields(value, path: path)
        let format = try f.string("format")
        guard format == Self.formatName else {
            throw f.error("format", "expected \"\(Self.formatName)\", found \"\(format)\" (not an ep dictionary)")
        }
        formatVersion = try f.integer("format_version")
        guard formatVersion >= 1 else { throw f.error("format_version", "expected a version ≥ 1, found \(formatVersion)") }
        guard formatVersion <= Self.formatVersion else {
            throw f.error("format_version", "the dictionary is format version \(formatVersion), written by a newer ep; this ep reads up to version \(Self.formatVersion)")
        }
        width = try f.integer("d_model")
        guard width > 0 else { throw f.error("d_model", "expected a positive width, found \(width)") }
        regionCount = try f.integer("n_regions")
        guard regionCount >= 0 else { throw f.error("n_regions", "expected a count ≥ 0, found \(regionCount)") }
        threshold = try f.double("threshold")
        guard threshold.isFinite, threshold > 0 else { throw f.error("threshold", "expected a finite number > 0, found \(threshold)") }
        percentile = try f.optionalDouble("percentile")
        centerNorm = try f.double("center_norm")
        calibration = try CalibrationProvenance(try f.object("calibration"))
        build = try BuildProvenance(try f.object("build"))
        let tool = try f.object("tool")
        toolName = try tool.string("name")
        toolVersion = try tool.string("version")
        created = try f.string("created")
        files = try f.array("files").enumerated().map { i, entry in
            guard case .object(let o) = entry else { throw f.error("files", "element \(i): expected an object, found \(entry.kindDescription)") }
            let e = JSONFields(o, path: path, prefix: "files[\(i)]")
            return (try e.string("name"), try e.integer("bytes"))
        }
    }
}
