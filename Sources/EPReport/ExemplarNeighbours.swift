import EPTensors

/// Every region's nearest regions by the cosine distance between exemplars, `1 − clamp(e_i·e_j, −1, 1)` (the
/// distance of EPCore's nearest-inter metric), and a histogram of the distances of all pairs.
///
/// Similarities come from BLAS in row blocks of at most 4 M entries, so memory stays small for any K; the work is
/// K²·D multiply-adds (0.3 s for K = 5,000 at D = 576 on two cores).
public struct ExemplarNeighbours: Sendable {
    /// Neighbours kept per region.
    public let count: Int
    /// Regions.
    public let regions: Int
    /// Neighbour ids, `regions` × `count`, nearest first (ties by id), −1 where a region has fewer neighbours.
    public let ids: [Int32]
    /// Their distances (NaN where the id is −1).
    public let distances: [Float]
    /// Counts of the distances of all pairs i < j in `pairBins` equal bins over [0, 2] (pairs whose distance is NaN
    /// are not counted).
    public let pairHistogram: [Int]

    /// The `count` nearest regions of each of the `regions` unit rows of `exemplars` (`regions` × `width`).
    public init(exemplars: [Float], regions k: Int, width d: Int, count n: Int, pairBins: Int = 100) {
        precondition(exemplars.count == k * d, "ExemplarNeighbours: expected \(k) × \(d) values, found \(exemplars.count)")
        count = n
        regions = k
        var ids = [Int32](repeating: -1, count: k * n)
        var distances = [Float](repeating: .nan, count: k * n)
        var histogram = [Int](repeating: 0, count: pairBins)
        let blockRows = max(1, min(k, (1 << 22) / max(k, 1)))
        var block = [Float](repeating: 0, count: blockRows * k)
        var first = 0
        while first < k {
            let rows = min(blockRows, k - first)
            exemplars.withUnsafeBufferPointer { e in
                block.withUnsafeMutableBufferPointer { s in
                    BLAS.gemm(.asStored, .transposed, m: rows, n: k, k: d, a: e.baseAddress! + first * d, lda: d, b: e.baseAddress!, ldb: d, c: s.baseAddress!, ldc: k)
                }
            }
            ids.withUnsafeMutableBufferPointer { idOut in
                distances.withUnsafeMutableBufferPointer { distanceOut in
                    block.withUnsafeBufferPointer { similarities in
                        Parallel.forEachRange(count: rows, minimumPerWorker: 16) { range, _ in
                            for r in range {
                                let i = first + r
                                Self.nearest(row: similarities.baseAddress! + r * k, regions: k, excluding: i, count: n) { slot, j, distance in
                                    idOut[i * n + slot] = Int32(j)
                                    distanceOut[i * n + slot] = distance
                                }
                            }
                        }
                    }
                }
            }
            for r in 0..<rows {
                let i = first + r
                for j in (i + 1)..<max(i + 1, k) {
                    if let bin = Self.bin(ofDistance: 1 - min(max(block[r * k + j], -1), 1), bins: pairBins) { histogram[bin] += 1 }
                }
            }
            first += rows
        }
        self.ids = ids
        self.distances = distances
        pairHistogram = histogram
    }

    /// The neighbours of `region`, nearest first.
    public func neighbours(of region: Int) -> [(id: Int, distance: Float)] {
        (0..<count).compactMap { slot in
            let id = ids[region * count + slot]
            return id < 0 ? nil : (Int(id), distances[region * count + slot])
        }
    }

    /// The bin of `distance` among `bins` equal bins over [0, 2] (values outside go to the end bins); `nil` for NaN,
    /// which only non-finite exemplars give (loading refuses those). Never converts a value that could trap.
    static func bin(ofDistance distance: Float, bins: Int) -> Int? {
        guard !distance.isNaN, bins > 0 else { return nil }
        let position = distance / 2 * Float(bins)
        guard position >= 0 else { return 0 }
        return position < Float(bins) ? Int(position) : bins - 1
    }

    /// Selects the `count` smallest distances of one row of similarities (skipping `excluding`) and reports them
    /// nearest first through `store(slot, region, distance)`.
    private static func nearest(
        row: UnsafePointer<Float>, regions k: Int, excluding skipped: Int, count n: Int, store: (Int, Int, Float) -> Void
    ) {
        guard n > 0 else { return }
        var best: [(distance: Float, id: Int)] = []
        best.reserveCapacity(n + 1)
        for j in 0..<k where j != skipped {
            let distance = 1 - min(max(row[j], -1), 1)
            if best.count == n, distance >= best[n - 1].distance { continue }
            var at = best.count
            while at > 0 && best[at - 1].distance > distance { at -= 1 }
            best.insert((distance, j), at: at)
            if best.count > n { best.removeLast() }
        }
        for (slot, entry) in best.enumerated() { store(slot, entry.id, entry.distance) }
    }
}
