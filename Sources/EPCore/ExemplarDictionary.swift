import EPTensors

/// An Exemplar Partitioning dictionary: a center, a threshold θ and an ordered list of regions (Voronoi cells
/// around exemplar directions), built by streaming leader clustering (docs/method.md).
///
/// Comparisons follow the reference's NumPy 2 code exactly: distances are `Float`, a row matches an exemplar when
/// `clamp(1 − u·e, 0, 2) ≤ Float(θ)` and joins an earlier leader of its batch when `u·ℓ ≥ Float(1 − θ)`; ties go to
/// the first index. The heavy steps are BLAS GEMMs in bounded row blocks; nothing allocates per row.
///
/// A dictionary is a reference type and not thread-safe; use it from one task at a time.
public final class ExemplarDictionary {
    /// Row width D.
    public let width: Int
    /// The calibration center c.
    public let center: [Float]
    /// The cosine-distance threshold θ.
    public let threshold: Double
    /// θ rounded to `Float`, the value every distance comparison uses.
    public let thresholdFloat: Float
    /// `1 − θ` computed in `Double`, then rounded to `Float`: the similarity a follower needs to join a leader.
    public let leaderSimilarity: Float

    /// The regions' state (a snapshot; arrays are shared copy-on-write).
    public private(set) var regions: RegionTable
    /// Every non-empty batch added so far: rows and regions created.
    public private(set) var batchHistory: [BatchRecord] = []
    /// Rows added so far; the next row's global index.
    public private(set) var rowsSeen: Int64 = 0
    /// Where the time of `addBatch` went.
    public private(set) var timings = ClusteringTimings()

    private let units: RowBuffer
    private let gathered: RowBuffer
    private let partitionSums: [MemberSums]
    private let mergedSum: RowBuffer
    private let partitionSimilarities = (0..<memberPartitions).map { _ in RowBuffer(width: 1) }
    private let leaderSimilarities = RowBuffer(width: 1)
    private let blockSimilarities = RowBuffer(width: 1)
    private var partitionBadRows = [Int](repeating: Int.max, count: memberPartitions)
    private var nearestIndex: [Int] = []
    private var nearestDistance: [Float] = []

    /// The fixed number of contiguous row partitions a batch's member sums are formed over (see ``MemberSums``);
    /// also the units of parallel work of the small-table nearest-exemplar pass.
    static let memberPartitions = 4
    /// Bound on the similarity block of the nearest-exemplar step, in floats (64 MB).
    static let similarityBudget = 1 << 24
    /// Unmatched rows per block of the leader clustering.
    static let leaderBlockRows = 512

    /// An empty dictionary. `reservoirSeed` enables the member reservoir (see ``MemberReservoir``).
    public init(center: [Float], threshold: Double, reservoirSeed: UInt64? = nil) throws {
        try Calibration.validate(center: center, threshold: threshold)
        width = center.count
        self.center = center
        self.threshold = threshold
        thresholdFloat = Float(threshold)
        leaderSimilarity = Float(1.0 - threshold)
        regions = RegionTable(width: center.count)
        if let reservoirSeed { regions.reservoir = MemberReservoir(width: center.count, seed: reservoirSeed) }
        units = RowBuffer(width: width)
        gathered = RowBuffer(width: width)
        partitionSums = (0..<Self.memberPartitions).map { _ in MemberSums(width: center.count) }
        mergedSum = RowBuffer(width: width, capacity: 1)
        mergedSum.resize(rows: 1)
    }

    /// An empty dictionary from a calibration.
    public convenience init(calibration: Calibration, reservoirSeed: UInt64? = nil) throws {
        try self.init(center: calibration.center, threshold: calibration.threshold, reservoirSeed: reservoirSeed)
    }

    /// A dictionary restored from saved state (to inspect, assign with, or continue building).
    public convenience init(center: [Float], threshold: Double, regions: RegionTable, batchHistory: [BatchRecord], rowsSeen: Int64) throws {
        try self.init(center: center, threshold: threshold)
        guard regions.width == width else { throw EPError.widthMismatch(expected: width, found: regions.width) }
        try regions.validate()
        guard batchHistory.reduce(0, { $0 + Int64($1.rows) }) == rowsSeen else {
            throw EPError.inconsistentState("the batch history covers \(batchHistory.reduce(0) { $0 + $1.rows }) rows but \(rowsSeen) rows were seen")
        }
        self.regions = regions
        self.batchHistory = batchHistory
        self.rowsSeen = rowsSeen
    }

    /// Number of regions K.
    public var regionCount: Int { regions.count }

    /// The fraction of the most recent non-empty batch's rows that founded regions (nil before any batch).
    public var newRegionRate: Double? { batchHistory.last?.newRegionRate }

    /// Whether the reference's saturation rule (docs/build.md) would stop here: at least `window` batches have
    /// passed since the last batch that created a region.
    public func isSaturated(window: Int = 1) -> Bool {
        let lastNew = batchHistory.lastIndex { $0.newRegions > 0 } ?? 0
        return batchHistory.count - lastNew > window
    }

    // MARK: building

    /// Why row `row` of `x` has no direction (not finite, or at the center).
    private func problem(row: Int, of x: Matrix) -> EPError {
        x.storage.withUnsafeBufferPointer { p in
            center.withUnsafeBufferPointer { Directions.problem(row: row, of: p.baseAddress!, width: width, center: $0.baseAddress!) }
        }
    }

    /// Adds one batch of raw activations (`n × D`) by the leader clustering (docs/method.md) and returns each
    /// row's region and distance. `references` gives each row's provenance for the closest/farthest members; by
    /// default a row's source is its global row index and its position 0. An empty batch changes nothing; a batch
    /// with a non-finite row is refused whole, leaving the dictionary as it was.
    @discardableResult
    public func addBatch(_ x: Matrix, references: BatchReferences? = nil) throws -> BatchAssignment {
        let clock = ContinuousClock()
        let started = clock.now
        let n = x.rows
        guard x.columns == width else { throw EPError.widthMismatch(expected: width, found: x.columns) }
        if let references, references.count != n {
            throw EPError.invalidSetting(name: "row references", value: "\(references.count) entries", expected: "one per row (\(n))")
        }
        guard n > 0 else { return BatchAssignment(regions: [], distances: [], newRegions: 0) }
        let d = width
        let batch = Int64(batchHistory.count)
        let firstRow = rowsSeen
        let regionsBefore = regions.count
        units.resize(rows: n)

        // Step 2: an empty dictionary is founded by row 0.
        var start = 0
        if regions.count == 0 {
            let bad = x.storage.withUnsafeBufferPointer { p in
                center.withUnsafeBufferPointer { Directions.centeredUnit(p.baseAddress!, rows: 1, width: d, center: $0.baseAddress!, into: units.base) }
            }
            if bad != nil { throw problem(row: 0, of: x) }
            regions.createRegion(from: units.row(0), row: firstRow, batch: batch)
            start = 1
        }
        for sums in partitionSums { sums.reset(regionCount: regions.count) }

        // Step 3: directions and the nearest existing exemplar of every other row; members' sums are gathered on
        // the way (see ``MemberSums``).
        var regionOf = [Int](repeating: -1, count: n)
        var distance = [Float](repeating: 0, count: n)
        if start == 1 { regionOf[0] = 0 }
        var unmatched: [Int] = []
        if start < n {
            if nearestIndex.count < n {
                nearestIndex = [Int](repeating: 0, count: n)
                nearestDistance = [Float](repeating: 0, count: n)
            }
            let bad = x.storage.withUnsafeBufferPointer { p in
                nearestPass(p.baseAddress!, rows: start..<n, clock: clock)
            }
            if let bad {
                // Nothing has changed yet except, for an empty dictionary, the region founded by row 0.
                if regionsBefore == 0 { regions.keepRegions([false]) }
                throw problem(row: bad, of: x)
            }
            let theta = thresholdFloat
            nearestIndex.withUnsafeBufferPointer { index in
                nearestDistance.withUnsafeBufferPointer { dist in
                    for row in start..<n {
                        if dist[row] <= theta {
                            regionOf[row] = index[row]
                            distance[row] = dist[row]
                        } else {
                            unmatched.append(row)
                        }
                    }
                }
            }
        }

        // Step 4: record matched rows, one region at a time in ascending order.
        let recordStarted = clock.now
        recordPartitionSums(batch: batch)
        timings.bookkeepingSeconds += (clock.now - recordStarted).seconds

        // Steps 5–7: leader clustering of the unmatched rows, in row order, then their followers.
        if !unmatched.isEmpty {
            let leaderStarted = clock.now
            let followers = clusterLeaders(unmatched, regionOf: &regionOf, distance: &distance, firstRow: firstRow, batch: batch)
            let sums = partitionSums[0]
            sums.reset(regionCount: regions.count)
            for row in followers { sums.add(region: regionOf[row], unit: units.row(row), distance: distance[row]) }
            recordPartitionSums(batch: batch)
            timings.leaderSeconds += (clock.now - leaderStarted).seconds
        }

        // Provenance of the closest and farthest members, then the optional reservoir, both in row order.
        let referencesStarted = clock.now
        regions.offerReferences(regionOf: regionOf, distances: distance, references: references, firstRow: firstRow)
        if regions.reservoir != nil { regions.offerToReservoir(regionOf: regionOf, units: units) }
        timings.bookkeepingSeconds += (clock.now - referencesStarted).seconds

        let created = regions.count - regionsBefore
        rowsSeen += Int64(n)
        batchHistory.append(BatchRecord(rows: n, newRegions: created))
        timings.rows += n
        timings.totalSeconds += (clock.now - started).seconds
        return BatchAssignment(regions: regionOf, distances: distance, newRegions: created)
    }

    /// Directions of `rows` of `x` into ``units``, their nearest exemplars into ``nearestIndex`` /
    /// ``nearestDistance``, and the member sums of the rows within θ into ``partitionSums``. Returns the first
    /// row whose direction is not finite, if any (the caller then discards everything).
    ///
    /// With a small exemplar table (K·D < ``rowParallelLimit``) each of the fixed row partitions is processed as
    /// one task (directions, single-threaded GEMM and arg-min on cache-sized chunks, member sums), on all cores.
    /// With a large table, one multi-threaded GEMM per row block uses every core instead.
    private func nearestPass(_ x: UnsafePointer<Float>, rows: Range<Int>, clock: ContinuousClock) -> Int? {
        let d = width, k = regions.count, theta = thresholdFloat
        let partitions = Self.memberPartitions
        let bounds = (0...partitions).map { rows.lowerBound + rows.count * $0 / partitions }
        for p in 0..<partitions { partitionBadRows[p] = Int.max }
        var started = clock.now
        let units = self.units, sums = partitionSums, scratch = partitionSimilarities
        let small = k * d < Self.rowParallelLimit
        regions.exemplarDirections.withUnsafeBufferPointer { e in
            center.withUnsafeBufferPointer { c in
                nearestIndex.withUnsafeMutableBufferPointer { index in
                    nearestDistance.withUnsafeMutableBufferPointer { dist in
                        partitionBadRows.withUnsafeMutableBufferPointer { badRows in
                            let e = e.baseAddress!, c = c.baseAddress!, index = index.baseAddress!, dist = dist.baseAddress!
                            let badRows = badRows.baseAddress!
                            if small {
                                Parallel.withSingleThreadedBLAS {
                                    Parallel.forEach(iterations: partitions) { p in
                                        var chunk = bounds[p]
                                        while chunk < bounds[p + 1] {
                                            let m = min(Self.fusedChunkRows, bounds[p + 1] - chunk)
                                            if let bad = Directions.centeredUnitOnOneThread(x + chunk * d, rows: m, width: d, center: c, into: units.row(chunk)) {
                                                badRows[p] = chunk + bad
                                                return
                                            }
                                            Self.nearestBlocks(
                                                units: units.row(chunk), rows: m, width: d, exemplars: e, count: k, scratch: scratch[p],
                                                indices: index + chunk, distances: dist + chunk)
                                            for row in chunk..<(chunk + m) where dist[row] <= theta {
                                                sums[p].add(region: index[row], unit: units.row(row), distance: dist[row])
                                            }
                                            chunk += m
                                        }
                                    }
                                }
                                timings.nearestSeconds += (clock.now - started).seconds
                            } else {
                                if let bad = Directions.centeredUnit(x + rows.lowerBound * d, rows: rows.count, width: d, center: c, into: units.row(rows.lowerBound)) {
                                    badRows[0] = rows.lowerBound + bad
                                    return
                                }
                                timings.directionSeconds += (clock.now - started).seconds
                                started = clock.now
                                Self.nearestBlocks(
                                    units: units.row(rows.lowerBound), rows: rows.count, width: d, exemplars: e, count: k, scratch: scratch[0],
                                    indices: index + rows.lowerBound, distances: dist + rows.lowerBound)
                                timings.nearestSeconds += (clock.now - started).seconds
                                started = clock.now
                                Parallel.forEach(iterations: partitions) { p in
                                    for row in bounds[p]..<bounds[p + 1] where dist[row] <= theta {
                                        sums[p].add(region: index[row], unit: units.row(row), distance: dist[row])
                                    }
                                }
                                timings.bookkeepingSeconds += (clock.now - started).seconds
                            }
                        }
                    }
                }
            }
        }
        timings.nearestFlops += 2 * Double(rows.count) * Double(k) * Double(d)
        let bad = partitionBadRows.min()!
        return bad == Int.max ? nil : bad
    }

    /// Rows per chunk of the small-table pass (their directions stay in cache for the GEMM and the sums).
    static let fusedChunkRows = 256

    /// `record_membership` (docs/method.md) for every region with members in ``partitionSums``, in ascending region
    /// order, each with the partitions' sums added in partition order.
    private func recordPartitionSums(batch: Int64) {
        var touched = Set<Int>()
        for sums in partitionSums { touched.formUnion(sums.regions) }
        let d = width
        for region in touched.sorted() {
            let total = mergedSum.base
            total.update(repeating: 0, count: d)
            var members = 0, distanceSum = 0.0, squareSum = 0.0
            for sums in partitionSums {
                guard let slot = sums.slot(of: region) else { continue }
                Kernels.add(sums.sums.row(slot), into: total, count: d)
                members += sums.counts[slot]
                distanceSum += sums.distanceSums[slot]
                squareSum += sums.squareSums[slot]
            }
            regions.recordMembership(
                region: region, memberSum: total, members: members, distanceSum: distanceSum, squaredDistanceSum: squareSum, batch: batch)
        }
        for sums in partitionSums { sums.reset(regionCount: regions.count) }
    }

    /// The mini leader clustering (docs/method.md) over `unmatched` (row indices in order). Leaders become
    /// regions at once (in leader order, as step 6 spawns them); the followers' rows are returned in row order for
    /// recording.
    ///
    /// Rows are taken in blocks: a block's similarities to the leaders of earlier blocks come from one GEMM, its
    /// similarities among themselves from another, then the block is walked row by row.
    private func clusterLeaders(
        _ unmatched: [Int], regionOf: inout [Int], distance: inout [Float], firstRow: Int64, batch: Int64
    ) -> [Int] {
        let d = width
        let firstLeader = regions.count
        var followers: [Int] = []
        var blockLeaders: [(position: Int, region: Int)] = []
        var blockStart = 0
        while blockStart < unmatched.count {
            let m = min(Self.leaderBlockRows, unmatched.count - blockStart)
            gathered.resize(rows: m)
            for j in 0..<m { gathered.row(j).update(from: units.row(unmatched[blockStart + j]), count: d) }
            let earlier = regions.count - firstLeader
            if earlier > 0 {
                leaderSimilarities.resize(rows: m * earlier)
                regions.exemplarDirections.withUnsafeBufferPointer { e in
                    BLAS.gemm(
                        .asStored, .transposed, m: m, n: earlier, k: d, a: gathered.base, lda: d,
                        b: e.baseAddress! + firstLeader * d, ldb: d, c: leaderSimilarities.base, ldc: earlier)
                }
            }
            blockSimilarities.resize(rows: m * m)
            BLAS.gemm(.asStored, .transposed, m: m, n: m, k: d, a: gathered.base, lda: d, b: gathered.base, ldb: d, c: blockSimilarities.base, ldc: m)
            blockLeaders.removeAll(keepingCapacity: true)
            for j in 0..<m {
                var best = -Float.infinity
                var bestRegion = -1
                if earlier > 0 {
                    let (index, value) = Kernels.firstArgMax(leaderSimilarities.base + j * earlier, count: earlier)
                    best = value
                    bestRegion = firstLeader + index
                }
                let row = blockSimilarities.base + j * m
                for leader in blockLeaders where row[leader.position] > best {
                    best = row[leader.position]
                    bestRegion = leader.region
                }
                let r = unmatched[blockStart + j]
                if bestRegion >= 0 && best >= leaderSimilarity {
                    regionOf[r] = bestRegion
                    distance[r] = max(0, 1 - best)
                    followers.append(r)
                } else {
                    let region = regions.count
                    regions.createRegion(from: gathered.row(j), row: firstRow + Int64(r), batch: batch)
                    regionOf[r] = region
                    blockLeaders.append((j, region))
                }
            }
            blockStart += m
        }
        return followers
    }

    /// For each of `rows` unit rows, the first index and value of the smallest clamped distance to the `count`
    /// exemplars (read-only inference): with a small table each worker takes a share of the rows with
    /// single-threaded BLAS, with a large one multi-threaded GEMMs run block by block. `scratch` holds one
    /// similarity buffer per worker (``Parallel/workerCount``).
    static func nearest(
        units: UnsafePointer<Float>, rows: Int, width d: Int, exemplars: UnsafePointer<Float>, count k: Int,
        scratch: [RowBuffer], indices: UnsafeMutablePointer<Int>, distances: UnsafeMutablePointer<Float>
    ) {
        guard k * d < rowParallelLimit, Parallel.workerCount > 1 else {
            nearestBlocks(units: units, rows: rows, width: d, exemplars: exemplars, count: k, scratch: scratch[0], indices: indices, distances: distances)
            return
        }
        Parallel.withSingleThreadedBLAS {
            Parallel.forEachRange(count: rows, minimumPerWorker: 256) { range, worker in
                let first = range.lowerBound
                nearestBlocks(
                    units: units + first * d, rows: range.count, width: d, exemplars: exemplars, count: k, scratch: scratch[worker],
                    indices: indices + first, distances: distances + first)
            }
        }
    }

    /// Exemplar tables smaller than this many floats (K·D) take the row-parallel path of ``nearest``.
    static let rowParallelLimit = 1 << 21

    /// The nearest-exemplar step on one thread's rows: blocks of at most 2048 rows whose similarity buffer stays
    /// within ``similarityBudget`` floats (but at least 256 rows).
    static func nearestBlocks(
        units: UnsafePointer<Float>, rows: Int, width d: Int, exemplars: UnsafePointer<Float>, count k: Int,
        scratch: RowBuffer, indices: UnsafeMutablePointer<Int>, distances: UnsafeMutablePointer<Float>
    ) {
        let blockRows = min(rows, 2048, max(256, similarityBudget / max(k, 1)))
        scratch.resize(rows: blockRows * k)
        var first = 0
        while first < rows {
            let m = min(blockRows, rows - first)
            BLAS.gemm(.asStored, .transposed, m: m, n: k, k: d, a: units + first * d, lda: d, b: exemplars, ldb: d, c: scratch.base, ldc: k)
            for i in 0..<m {
                let (index, value) = Kernels.nearestClampedDistance(scratch.base + i * k, count: k)
                indices[first + i] = index
                distances[first + i] = value
            }
            first += m
        }
    }

    // MARK: finalize

    /// Drops the regions with fewer than `minMembers` members, keeping the order of the others (docs/method.md). If
    /// none would survive, all are dropped. Region ids change; earlier assignments no longer apply.
    public func finalize(minMembers: Int = 1) {
        let keep = regions.memberCounts.map { $0 >= Int64(minMembers) }
        guard keep.contains(false) else { return }
        regions.keepRegions(keep)
    }

    // MARK: read-only inference

    /// The nearest region and its clamped distance for every row of `x` (docs/method.md); region −1 and distance +∞
    /// when the dictionary is empty. Does not change the dictionary.
    public func assign(_ x: Matrix) throws -> Assignment {
        guard x.columns == width else { throw EPError.widthMismatch(expected: width, found: x.columns) }
        let n = x.rows
        let k = regions.count
        var indices = [Int](repeating: -1, count: n)
        var result = [Float](repeating: .infinity, count: n)
        let blockRows = 4096
        let blockUnits = RowBuffer(width: width, capacity: min(n, blockRows))
        let scratch = (0..<Parallel.workerCount).map { _ in RowBuffer(width: 1) }
        try x.storage.withUnsafeBufferPointer { p in
            try center.withUnsafeBufferPointer { c in
                try regions.exemplarDirections.withUnsafeBufferPointer { e in
                    try indices.withUnsafeMutableBufferPointer { index in
                        try result.withUnsafeMutableBufferPointer { dist in
                            var first = 0
                            while first < n {
                                let m = min(blockRows, n - first)
                                blockUnits.resize(rows: m)
                                if let bad = Directions.centeredUnit(p.baseAddress! + first * width, rows: m, width: width, center: c.baseAddress!, into: blockUnits.base) {
                                    throw problem(row: first + bad, of: x)
                                }
                                if k > 0 {
                                    Self.nearest(
                                        units: blockUnits.base, rows: m, width: width, exemplars: e.baseAddress!, count: k, scratch: scratch,
                                        indices: index.baseAddress! + first, distances: dist.baseAddress! + first)
                                }
                                first += m
                            }
                        }
                    }
                }
            }
        }
        return Assignment(regions: indices.map(Int64.init), distances: result)
    }

    /// The nearest region of each of the `rows` rows at `x` (−1 for a row with no direction: at the center or not
    /// finite, and for every row when the dictionary is empty), computed on the calling thread: no worker is
    /// started and no lock taken (BLAS runs at the thread count already set). For code that runs inside a model's
    /// forward call, such as the gate of a region-gated intervention, where ``assign(_:)`` (which may change the
    /// BLAS thread count) cannot. The regions are ``assign(_:)``'s but for exact ties in the last bits.
    public func nearestRegions(_ x: UnsafePointer<Float>, rows: Int) -> [Int] {
        let k = regions.count
        var indices = [Int](repeating: -1, count: rows)
        guard k > 0, rows > 0 else { return indices }
        var units = [Float](repeating: 0, count: rows * width)
        var distances = [Float](repeating: .infinity, count: rows)
        var valid = [Bool](repeating: true, count: rows)
        let scratch = RowBuffer(width: 1)
        center.withUnsafeBufferPointer { c in
            units.withUnsafeMutableBufferPointer { u in
                for r in 0..<rows where Directions.centeredUnitOnOneThread(x + r * width, rows: 1, width: width, center: c.baseAddress!, into: u.baseAddress! + r * width) != nil {
                    valid[r] = false
                    (u.baseAddress! + r * width).update(repeating: 0, count: width)
                }
            }
        }
        units.withUnsafeBufferPointer { u in
            regions.exemplarDirections.withUnsafeBufferPointer { e in
                indices.withUnsafeMutableBufferPointer { index in
                    distances.withUnsafeMutableBufferPointer { d in
                        Self.nearestBlocks(
                            units: u.baseAddress!, rows: rows, width: width, exemplars: e.baseAddress!, count: k, scratch: scratch,
                            indices: index.baseAddress!, distances: d.baseAddress!)
                    }
                }
            }
        }
        for r in 0..<rows where !valid[r] { indices[r] = -1 }
        return indices
    }

    /// The full `N × K` matrix of clamped cosine distances from the rows of `x` to every exemplar (docs/method.md);
    /// `N × 0` when the dictionary is empty.
    public func distances(_ x: Matrix) throws -> Matrix {
        guard x.columns == width else { throw EPError.widthMismatch(expected: width, found: x.columns) }
        let n = x.rows
        let k = regions.count
        var out = Matrix(rows: n, columns: k)
        var u = [Float](repeating: 0, count: n * width)
        let bad = x.storage.withUnsafeBufferPointer { p in
            center.withUnsafeBufferPointer { c in
                u.withUnsafeMutableBufferPointer { Directions.centeredUnit(p.baseAddress!, rows: n, width: width, center: c.baseAddress!, into: $0.baseAddress!) }
            }
        }
        if let bad { throw problem(row: bad, of: x) }
        guard k > 0, n > 0 else { return out }
        regions.exemplarDirections.withUnsafeBufferPointer { e in
            out.storage.withUnsafeMutableBufferPointer { s in
                BLAS.gemm(.asStored, .transposed, m: n, n: k, k: width, a: u, lda: width, b: e.baseAddress!, ldb: width, c: s.baseAddress!, ldc: k)
                Kernels.clampedCosineDistances(s.baseAddress!, count: n * k)
            }
        }
        return out
    }
}

extension Duration {
    /// The duration in seconds as a `Double`.
    var seconds: Double { Double(components.seconds) + Double(components.attoseconds) * 1e-18 }
}

// MARK: region bookkeeping

extension RegionTable {
    /// `create_partition` (docs/method.md): a region founded by the unit row `u` (global row `row`) in `batch`.
    mutating func createRegion(from u: UnsafePointer<Float>, row: Int64, batch: Int64) {
        let direction = UnsafeBufferPointer(start: u, count: width)
        exemplarDirections.append(contentsOf: direction)
        meanMemberDirections.append(contentsOf: direction)
        memberCounts.append(1)
        memberCoherences.append(1)
        sumDistances.append(0)
        sumSquaredDistances.append(0)
        exemplarRows.append(row)
        firstBatches.append(batch)
        lastBatches.append(batch)
        batchCounts.append(1)
        closest.appendRegion()
        farthest.appendRegion()
        reservoir?.appendRegion()
        count += 1
    }

    /// `record_membership` (docs/method.md) of `members` new members whose directions sum to `memberSum` (which is
    /// overwritten): the running sum of member directions is rebuilt as `coherence · n · mean`, the new members'
    /// sum is added, and mean and coherence are recomputed, in `Float` as the reference does.
    mutating func recordMembership(
        region r: Int, memberSum: UnsafeMutablePointer<Float>, members: Int, distanceSum: Double, squaredDistanceSum: Double, batch: Int64
    ) {
        let d = width
        let previous = memberCounts[r]
        let total = previous + Int64(members)
        let scale = Float(memberCoherences[r]) * Float(previous)
        meanMemberDirections.withUnsafeMutableBufferPointer { means in
            let mean = means.baseAddress! + r * d
            Kernels.axpy(scale, mean, memberSum, count: d)
            Kernels.divide(memberSum, by: Float(total), into: memberSum, count: d)
            let coherence = Kernels.sumOfSquares(memberSum, count: d).squareRoot()
            Kernels.divide(memberSum, by: coherence + 1e-12, into: mean, count: d)
            memberCoherences[r] = Double(coherence)
        }
        memberCounts[r] = total
        sumDistances[r] += distanceSum
        sumSquaredDistances[r] += squaredDistanceSum
        if lastBatches[r] != batch {
            lastBatches[r] = batch
            batchCounts[r] += 1
        }
    }

    /// Offers every row of a batch, in row order, to its region's closest and farthest members.
    mutating func offerReferences(regionOf: [Int], distances: [Float], references: BatchReferences?, firstRow: Int64) {
        for i in regionOf.indices {
            let reference = references?[i] ?? RowReference(source: firstRow + Int64(i), position: 0)
            closest.offer(region: regionOf[i], distance: distances[i], reference: reference)
            farthest.offer(region: regionOf[i], distance: distances[i], reference: reference)
        }
    }

    /// Offers every row of a batch, in row order, to its region's reservoir, numbering each region's members in
    /// stream order (the counts are already post-batch, so each region's batch members are subtracted first).
    mutating func offerToReservoir(regionOf: [Int], units: RowBuffer) {
        guard reservoir != nil else { return }
        var inBatch = [Int64](repeating: 0, count: count)
        for r in regionOf { inBatch[r] += 1 }
        var seen = [Int64](repeating: 0, count: count)
        for (i, r) in regionOf.enumerated() {
            seen[r] += 1
            reservoir!.offer(region: r, memberNumber: memberCounts[r] - inBatch[r] + seen[r], direction: units.row(i))
        }
    }

    /// Keeps only the regions whose `keep` flag is set, in order.
    mutating func keepRegions(_ keep: [Bool]) {
        let kept = keep.indices.filter { keep[$0] }
        func rows(_ m: [Float]) -> [Float] { kept.flatMap { m[$0 * width ..< ($0 + 1) * width] } }
        exemplarDirections = rows(exemplarDirections)
        meanMemberDirections = rows(meanMemberDirections)
        memberCounts = kept.map { memberCounts[$0] }
        memberCoherences = kept.map { memberCoherences[$0] }
        sumDistances = kept.map { sumDistances[$0] }
        sumSquaredDistances = kept.map { sumSquaredDistances[$0] }
        exemplarRows = kept.map { exemplarRows[$0] }
        firstBatches = kept.map { firstBatches[$0] }
        lastBatches = kept.map { lastBatches[$0] }
        batchCounts = kept.map { batchCounts[$0] }
        closest.keepRegions(keep)
        farthest.keepRegions(keep)
        reservoir?.keepRegions(keep)
        count = kept.count
    }
}
