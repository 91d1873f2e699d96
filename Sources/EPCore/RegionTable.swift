/// The state of every region of a dictionary, column by column (region `k` is index `k` of every array; matrices
/// are `count × width` row-major). This is what a dictionary file stores and what a dictionary is restored from.
public struct RegionTable: Sendable, Equatable {
    /// Row width D.
    public var width: Int
    /// Number of regions K.
    public var count: Int
    /// The founder's centered unit direction of each region (the exemplar); never changes.
    public var exemplarDirections: [Float]
    /// The unit spherical mean of each region's member directions.
    public var meanMemberDirections: [Float]
    /// Members ever assigned, founder included.
    public var memberCounts: [Int64]
    /// ‖mean of member directions‖ ∈ [0, 1].
    public var memberCoherences: [Double]
    /// Σ of members' recorded distances to the exemplar (the founder contributes 0).
    public var sumDistances: [Double]
    /// Σ of squared recorded distances.
    public var sumSquaredDistances: [Double]
    /// Global stream row index of each region's founder.
    public var exemplarRows: [Int64]
    /// Index of the batch that created the region.
    public var firstBatches: [Int64]
    /// Index of the last batch that gave the region members.
    public var lastBatches: [Int64]
    /// Number of batches that gave the region members (the size of the reference's `source_iterations`).
    public var batchCounts: [Int64]
    /// The 10 closest members of each region.
    public var closest: ReferenceTable
    /// The 10 farthest members of each region.
    public var farthest: ReferenceTable
    /// The optional member reservoir.
    public var reservoir: MemberReservoir?

    /// An empty table for `width`-wide directions.
    public init(width: Int) {
        self.width = width
        count = 0
        exemplarDirections = []
        meanMemberDirections = []
        memberCounts = []
        memberCoherences = []
        sumDistances = []
        sumSquaredDistances = []
        exemplarRows = []
        firstBatches = []
        lastBatches = []
        batchCounts = []
        closest = ReferenceTable(kind: .closest)
        farthest = ReferenceTable(kind: .farthest)
        reservoir = nil
    }

    /// Checks that every array has K (or K·D) entries and that counts are positive.
    public func validate() throws {
        func check(_ name: String, _ n: Int, _ expected: Int) throws {
            guard n == expected else { throw EPError.inconsistentState("\(name) has \(n) entries, expected \(expected)") }
        }
        try check("exemplar directions", exemplarDirections.count, count * width)
        try check("mean member directions", meanMemberDirections.count, count * width)
        try check("member counts", memberCounts.count, count)
        try check("member coherences", memberCoherences.count, count)
        try check("distance sums", sumDistances.count, count)
        try check("squared distance sums", sumSquaredDistances.count, count)
        try check("exemplar rows", exemplarRows.count, count)
        try check("first batches", firstBatches.count, count)
        try check("last batches", lastBatches.count, count)
        try check("batch counts", batchCounts.count, count)
        try check("closest references", closest.regionCount, count)
        try check("farthest references", farthest.regionCount, count)
        if let reservoir { try check("reservoir regions", reservoir.regionCount, count) }
        if let bad = memberCounts.firstIndex(where: { $0 < 1 }) {
            throw EPError.inconsistentState("region \(bad) has member count \(memberCounts[bad]), expected at least 1")
        }
    }

    /// Row `k` of the exemplar directions.
    public func exemplar(_ k: Int) -> ArraySlice<Float> { exemplarDirections[k * width ..< (k + 1) * width] }

    /// Row `k` of the mean member directions.
    public func meanMemberDirection(_ k: Int) -> ArraySlice<Float> { meanMemberDirections[k * width ..< (k + 1) * width] }
}

/// One batch's outcome, as recorded for saturation monitoring.
public struct BatchRecord: Sendable, Equatable {
    /// Rows in the batch.
    public var rows: Int
    /// Regions it created.
    public var newRegions: Int

    public init(rows: Int, newRegions: Int) {
        self.rows = rows
        self.newRegions = newRegions
    }

    /// The fraction of the batch's rows that founded regions.
    public var newRegionRate: Double { rows > 0 ? Double(newRegions) / Double(rows) : 0 }
}

/// The outcome of ``ExemplarDictionary/addBatch(_:references:)`` for each row of the batch.
public struct BatchAssignment: Sendable, Equatable {
    /// The region each row joined or founded.
    public var regions: [Int]
    /// Each row's cosine distance to that region's exemplar at assignment time (0 for founders).
    public var distances: [Float]
    /// Regions the batch created.
    public var newRegions: Int
}

/// Nearest regions of rows (read-only inference, docs/method.md).
public struct Assignment: Sendable, Equatable {
    /// The nearest region of each row; −1 when the dictionary is empty.
    public var regions: [Int64]
    /// The clamped cosine distance to that region's exemplar; +∞ when the dictionary is empty.
    public var distances: [Float]
}

/// Time spent in the parts of ``ExemplarDictionary/addBatch(_:references:)``, for benchmarks and progress.
public struct ClusteringTimings: Sendable, Equatable {
    /// Rows clustered.
    public var rows: Int = 0
    /// Seconds in the whole of `addBatch`.
    public var totalSeconds: Double = 0
    /// Seconds in the nearest-exemplar step (the `U·Eᵀ` GEMM blocks and the row minima). With a small exemplar
    /// table this pass also computes the directions and member sums of its rows, on cache-hot chunks.
    public var nearestSeconds: Double = 0
    /// Floating-point operations of the nearest-exemplar GEMMs (2·rows·K·D).
    public var nearestFlops: Double = 0
    /// Seconds in the leader clustering of unmatched rows.
    public var leaderSeconds: Double = 0
    /// Seconds computing centered unit directions (apart from the small-table pass).
    public var directionSeconds: Double = 0
    /// Seconds updating region statistics, closest/farthest members and reservoirs.
    public var bookkeepingSeconds: Double = 0

    public init() {}
}
