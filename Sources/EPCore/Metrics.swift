#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif
import EPTensors

/// The intrinsic evaluation metrics (docs/method.md; the reference's `evaluate_dictionary`), under the reference's key names and in
/// its order. Keys that the reference leaves out are absent; NaN where it reports NaN.
public struct IntrinsicMetrics: Sendable, Equatable {
    /// The metrics in order.
    public private(set) var entries: [(name: String, value: Double)] = []

    /// The value of `name`, if present.
    public subscript(name: String) -> Double? { entries.first { $0.name == name }?.value }

    /// Keys whose values are counts (printed as integers).
    public static let integerKeys: Set<String> = ["n_partitions", "n_partitions_nontrivial", "total_members", "max_members"]

    mutating func set(_ name: String, _ value: Double) { entries.append((name, value)) }

    public static func == (a: IntrinsicMetrics, b: IntrinsicMetrics) -> Bool {
        a.entries.count == b.entries.count
            && zip(a.entries, b.entries).allSatisfy { $0.name == $1.name && ($0.value == $1.value || ($0.value.isNaN && $1.value.isNaN)) }
    }
}

extension IntrinsicMetrics: Encodable {
    private struct Key: CodingKey {
        let stringValue: String
        init(stringValue: String) { self.stringValue = stringValue }
        init?(intValue: Int) { nil }
        var intValue: Int? { nil }
    }

    /// An object of the metrics in order: the counts (``integerKeys``) as integers, the others as numbers.
    public func encode(to encoder: Encoder) throws {
        var c = encoder.container(keyedBy: Key.self)
        for (name, value) in entries {
            if Self.integerKeys.contains(name) { try c.encode(Int64(value), forKey: Key(stringValue: name)) }
            else { try c.encode(value, forKey: Key(stringValue: name)) }
        }
    }
}

/// The distance distributions (docs/method.md) over regions with at least `minMembers` members.
public struct DistanceDistributions: Sendable, Equatable {
    /// Mean recorded distance to the exemplar, per qualifying region.
    public var intra: [Double]
    /// Cosine distances between every pair of qualifying exemplars (i < j, condensed order), as SciPy's
    /// `pdist(metric="cosine")`: `1 − e_i·e_j / (‖e_i‖‖e_j‖)`.
    public var inter: [Float]
    /// Per qualifying region, `min_{j≠i} 1 − clamp(e_i·e_j, −1, 1)`.
    public var nearestInter: [Double]

    public init(intra: [Double], inter: [Float], nearestInter: [Double]) {
        self.intra = intra
        self.inter = inter
        self.nearestInter = nearestInter
    }
}

extension ExemplarDictionary {
    /// The intrinsic metrics (docs/method.md) over regions with at least `minMembers` members.
    public func intrinsicMetrics(minMembers: Int = 2) -> IntrinsicMetrics {
        regions.intrinsicMetrics(threshold: threshold, minMembers: minMembers)
    }

    /// The distance distributions (docs/method.md) (three empty arrays when fewer than 2 regions qualify).
    public func distanceDistributions(minMembers: Int = 2) -> DistanceDistributions {
        regions.distanceDistributions(minMembers: minMembers)
    }
}

extension RegionTable {
    /// The intrinsic metrics (docs/method.md) for a dictionary with threshold `threshold`.
    public func intrinsicMetrics(threshold: Double, minMembers: Int = 2) -> IntrinsicMetrics {
        var metrics = IntrinsicMetrics()
        metrics.set("n_partitions", Double(count))
        guard count > 0 else { return metrics }
        let nontrivial = (0..<count).filter { memberCounts[$0] >= Int64(minMembers) }
        let total = memberCounts.reduce(0, +)
        metrics.set("n_partitions_nontrivial", Double(nontrivial.count))
        metrics.set("total_members", Double(total))
        metrics.set("threshold", threshold)
        guard !nontrivial.isEmpty else { return metrics }

        let counts = nontrivial.map { Double(memberCounts[$0]) }
        let covered = counts.reduce(0, +)
        metrics.set("coverage", covered / Double(total))
        let mean = covered / Double(counts.count)
        metrics.set("mean_members", mean)
        metrics.set("median_members", Self.median(counts))
        metrics.set("max_members", counts.max()!)
        metrics.set("std_members", (counts.reduce(0) { $0 + ($1 - mean) * ($1 - mean) } / Double(counts.count)).squareRoot())
        metrics.set("gini", Self.gini(counts))
        let entropy = -counts.reduce(0.0) { h, m in let p = m / covered; return h + p * log(p + 1e-12) }
        let effective = exp(entropy)
        metrics.set("effective_partitions", effective)
        metrics.set("partition_utilisation", effective / Double(nontrivial.count))
        let intra = nontrivial.map { sumDistances[$0] / Double(memberCounts[$0]) }
        metrics.set("mean_intra_dist", intra.reduce(0, +) / Double(intra.count))
        metrics.set("median_intra_dist", Self.median(intra))

        guard nontrivial.count >= 2 else {
            for key in ["mean_nearest_inter_dist", "separation_ratio", "silhouette", "max_exemplar_similarity", "mean_exemplar_similarity"] {
                metrics.set(key, .nan)
            }
            return metrics
        }
        var maxSimilarity = -Double.infinity
        var sumSimilarity = 0.0
        let nearest = exemplarPairs(nontrivial) { cosine in
            maxSimilarity = max(maxSimilarity, cosine)
            sumSimilarity += cosine
        }
        let meanNearest = nearest.reduce(0, +) / Double(nearest.count)
        metrics.set("mean_nearest_inter_dist", meanNearest)
        metrics.set("median_nearest_inter_dist", Self.median(nearest))
        if threshold > 0 { metrics.set("separation_ratio", meanNearest / threshold) }
        let silhouette = zip(nearest, intra).reduce(0.0) { $0 + ($1.0 - $1.1) / max($1.0, $1.1) } / Double(intra.count)
        metrics.set("silhouette", silhouette)
        metrics.set("max_exemplar_similarity", maxSimilarity)
        let pairs = Double(nontrivial.count) * Double(nontrivial.count - 1) / 2
        metrics.set("mean_exemplar_similarity", sumSimilarity / pairs)
        return metrics
    }

    /// The distance distributions (docs/method.md).
    public func distanceDistributions(minMembers: Int = 2) -> DistanceDistributions {
        let nontrivial = (0..<count).filter { memberCounts[$0] >= Int64(minMembers) }
        guard nontrivial.count >= 2 else { return DistanceDistributions(intra: [], inter: [], nearestInter: []) }
        let intra = nontrivial.map { sumDistances[$0] / Double(memberCounts[$0]) }
        var inter: [Float] = []
        inter.reserveCapacity(nontrivial.count * (nontrivial.count - 1) / 2)
        let nearest = exemplarPairs(nontrivial) { cosine in inter.append(Float(1 - cosine)) }
        return DistanceDistributions(intra: intra, inter: inter, nearestInter: nearest)
    }

    /// Walks every pair i < j of the exemplars of `selected` (in condensed order) with their cosine similarity
    /// `e_i·e_j / (‖e_i‖‖e_j‖)` in `Double` (NaN for a zero exemplar, as SciPy gives), and returns each selected
    /// region's nearest-exemplar distance `min_{j≠i} 1 − clamp(e_i·e_j, −1, 1)`. Similarities come from BLAS in
    /// row blocks.
    func exemplarPairs(_ selected: [Int], _ visit: (Double) -> Void) -> [Double] {
        let m = selected.count
        let d = width
        var e = [Float](repeating: 0, count: m * d)
        for (i, k) in selected.enumerated() {
            for t in 0..<d { e[i * d + t] = exemplarDirections[k * d + t] }
        }
        let norms = (0..<m).map { i in e.withUnsafeBufferPointer { Kernels.dotDouble($0.baseAddress! + i * d, $0.baseAddress! + i * d, count: d).squareRoot() } }
        var nearest = [Double](repeating: .infinity, count: m)
        let blockRows = max(1, min(m, (1 << 22) / m))
        var block = [Float](repeating: 0, count: blockRows * m)
        var first = 0
        while first < m {
            let rows = min(blockRows, m - first)
            e.withUnsafeBufferPointer { p in
                block.withUnsafeMutableBufferPointer { s in
                    BLAS.gemm(.asStored, .transposed, m: rows, n: m, k: d, a: p.baseAddress! + first * d, lda: d, b: p.baseAddress!, ldb: d, c: s.baseAddress!, ldc: m)
                }
            }
            for r in 0..<rows {
                let i = first + r
                for j in 0..<m where j != i {
                    let s = block[r * m + j]
                    nearest[i] = min(nearest[i], 1 - Double(min(max(s, -1), 1)))
                    if j > i { visit(Double(s) / (norms[i] * norms[j])) }
                }
            }
            first += rows
        }
        return nearest
    }

    /// NumPy's median (mean of the two middle values for an even count).
    static func median(_ values: [Double]) -> Double {
        let sorted = values.sorted()
        let n = sorted.count
        return n % 2 == 1 ? sorted[n / 2] : (sorted[n / 2 - 1] + sorted[n / 2]) / 2
    }

    /// The reference's Gini coefficient: `2·Σ i·a_i / (n·Σa) − (n + 1)/n` over ascending `a` (0 when Σa = 0).
    static func gini(_ values: [Double]) -> Double {
        let sorted = values.sorted()
        let n = Double(sorted.count)
        let total = sorted.reduce(0, +)
        guard n > 0, total > 0 else { return 0 }
        let weighted = sorted.enumerated().reduce(0.0) { $0 + Double($1.offset + 1) * $1.element }
        return 2 * weighted / (n * total) - (n + 1) / n
    }
}
