import EPFormats

/// The state of a build after one batch: one point of a saturation curve.
public struct BuildSnapshot: Sendable, Equatable {
    /// Batches added so far (1 after the first).
    public var batch: Int
    /// Tokens read so far (BOS included; for activation files, rows).
    public var tokens: Int
    /// Activations clustered so far.
    public var activations: Int
    /// Regions after the batch.
    public var regions: Int
    /// Activations in the batch.
    public var batchActivations: Int
    /// Regions the batch founded.
    public var newRegions: Int
    /// Seconds since the build started (excluding time before a resume).
    public var elapsedSeconds: Double

    public init(batch: Int, tokens: Int, activations: Int, regions: Int, batchActivations: Int, newRegions: Int, elapsedSeconds: Double) {
        self.batch = batch
        self.tokens = tokens
        self.activations = activations
        self.regions = regions
        self.batchActivations = batchActivations
        self.newRegions = newRegions
        self.elapsedSeconds = elapsedSeconds
    }

    /// The fraction of the batch's activations that founded regions.
    public var newRegionRate: Double { batchActivations > 0 ? Double(newRegions) / Double(batchActivations) : 0 }
}

/// The snapshots of a build, one per batch, stored as `build_log.json`:
/// `{"format": "ep-build-log", "format_version": 1, "snapshots": [{"batch", "tokens", "activations", "regions",
/// "batch_activations", "new_regions", "new_region_rate", "elapsed_s"}, …]}` — the data of a saturation curve
/// (regions against tokens) and of the new-region rate over the build.
public struct BuildLog: Sendable, Equatable {
    /// The `format` field.
    public static let formatName = "ep-build-log"
    /// The snapshots, in batch order.
    public var snapshots: [BuildSnapshot]

    public init(snapshots: [BuildSnapshot] = []) {
        self.snapshots = snapshots
    }

    /// The log as JSON.
    public var json: JSONValue {
        .object(JSONObject([
            "format": .string(Self.formatName),
            "format_version": .integer(1),
            "snapshots": .array(snapshots.map { s in
                .object(JSONObject([
                    "batch": .integer(Int64(s.batch)), "tokens": .integer(Int64(s.tokens)),
                    "activations": .integer(Int64(s.activations)), "regions": .integer(Int64(s.regions)),
                    "batch_activations": .integer(Int64(s.batchActivations)), "new_regions": .integer(Int64(s.newRegions)),
                    "new_region_rate": .number(s.newRegionRate), "elapsed_s": .number(s.elapsedSeconds),
                ]))
            }),
        ]))
    }

    /// Reads and checks a log written by ``json``.
    public static func read(path: String) throws -> BuildLog {
        let f = try JSONFields(try JSONValue.read(path: path), path: path)
        guard try f.string("format") == formatName else { throw f.error("format", "expected \"\(formatName)\"") }
        let snapshots = try f.array("snapshots").enumerated().map { i, entry -> BuildSnapshot in
            guard case .object(let o) = entry else { throw f.error("snapshots", "element \(i): expected an object, found \(entry.kindDescription)") }
            let s = JSONFields(o, path: path, prefix: "snapshots[\(i)]")
            return BuildSnapshot(
                batch: try s.integer("batch"), tokens: try s.integer("tokens"), activations: try s.integer("activations"),
                regions: try s.integer("regions"), batchActivations: try s.integer("batch_activations"),
                newRegions: try s.integer("new_regions"), elapsedSeconds: try s.double("elapsed_s"))
        }
        return BuildLog(snapshots: snapshots)
    }
}
