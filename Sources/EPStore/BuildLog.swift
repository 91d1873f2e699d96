import EPFormats

/// The state of a build after one batch: one point of a saturation curve.
public struct BuildSnapshot: Sendable, Equatable, Codable {
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

    enum CodingKeys: String, CodingKey {
        case batch, tokens, activations, regions, batchActivations = "batch_activations", newRegions = "new_regions"
        case newRegionRate = "new_region_rate", elapsedSeconds = "elapsed_s"
    }

    public func encode(to encoder: Encoder) throws {
        var c = encoder.container(keyedBy: CodingKeys.self)
        try c.encode(batch, forKey: .batch)
        try c.encode(tokens, forKey: .tokens)
        try c.encode(activations, forKey: .activations)
        try c.encode(regions, forKey: .regions)
        try c.encode(batchActivations, forKey: .batchActivations)
        try c.encode(newRegions, forKey: .newRegions)
        try c.encode(newRegionRate, forKey: .newRegionRate)
        try c.encode(elapsedSeconds, forKey: .elapsedSeconds)
    }

    /// The rate is derived: read files' `new_region_rate` is not read back.
    public init(from decoder: Decoder) throws {
        let c = try decoder.container(keyedBy: CodingKeys.self)
        self.init(
            batch: try c.decode(Int.self, forKey: .batch), tokens: try c.decode(Int.self, forKey: .tokens),
            activations: try c.decode(Int.self, forKey: .activations), regions: try c.decode(Int.self, forKey: .regions),
            batchActivations: try c.decode(Int.self, forKey: .batchActivations), newRegions: try c.decode(Int.self, forKey: .newRegions),
            elapsedSeconds: try c.decode(Double.self, forKey: .elapsedSeconds))
    }
}

/// The snapshots of a build, one per batch, stored as `build_log.json`:
/// `{"format": "ep-build-log", "format_version": 1, "snapshots": [{"batch", "tokens", "activations", "regions",
/// "batch_activations", "new_regions", "new_region_rate", "elapsed_s"}, …]}` — the data of a saturation curve
/// (regions against tokens) and of the new-region rate over the build.
public struct BuildLog: Sendable, Equatable, Codable {
    /// The `format` field.
    public static let formatName = "ep-build-log"
    /// The snapshots, in batch order.
    public var snapshots: [BuildSnapshot]

    public init(snapshots: [BuildSnapshot] = []) {
        self.snapshots = snapshots
    }

    enum CodingKeys: String, CodingKey {
        case format, formatVersion = "format_version", snapshots
    }

    /// The log as JSON.
    public var json: JSONValue { JSONValueEncoder.value(of: self) }

    public func encode(to encoder: Encoder) throws {
        var c = encoder.container(keyedBy: CodingKeys.self)
        try c.encode(Self.formatName, forKey: .format)
        try c.encode(1, forKey: .formatVersion)
        try c.encode(snapshots, forKey: .snapshots)
    }

    public init(from decoder: Decoder) throws {
        let c = try decoder.container(keyedBy: CodingKeys.self)
        guard try c.decode(String.self, forKey: .format) == Self.formatName else { throw c.fieldError(.format, "expected \"\(Self.formatName)\"") }
        snapshots = try c.decode([BuildSnapshot].self, forKey: .snapshots)
    }

    /// Reads and checks a log written by ``json``.
    public static func read(path: String) throws -> BuildLog {
        try JSONValueDecoder().decode(BuildLog.self, path: path)
    }
}
