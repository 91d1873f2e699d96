import EPTensors

/// Generated clustered activations for tests and benchmarks: `clusters` random directions (scaled to `radius`),
/// each row one of them plus uniform noise whose norm is about `noise · radius`. Two rows of one cluster are at a
/// cosine distance of about `noise² / (1 + noise²)`; rows of different clusters about 1 apart in high dimension.
/// Deterministic under the seed.
public struct SyntheticClusters: Sendable {
    /// Row width D.
    public let width: Int
    /// The cluster directions, `clusters × width`, each of norm `radius`.
    public let centers: Matrix
    /// Relative noise level.
    public let noise: Float
    /// Offset added to every row (so the calibration center is not the origin).
    public let offset: [Float]
    private let amplitude: Float
    private var generator: SeededGenerator

    /// A generator of `clusters` clusters in `width` dimensions.
    public init(width: Int, clusters: Int, radius: Float = 10, noise: Float = 0.5, offset: Float = 0, seed: UInt64) {
        self.width = width
        self.noise = noise
        generator = SeededGenerator(seed: seed)
        var centers = Matrix(rows: clusters, columns: width)
        for c in 0..<clusters {
            var norm: Float = 0
            for j in 0..<width {
                let v = 2 * generator.unitFloat() - 1
                centers[c, j] = v
                norm += v * v
            }
            let scale = radius / norm.squareRoot()
            for j in 0..<width { centers[c, j] *= scale }
        }
        self.centers = centers
        var shift = [Float](repeating: 0, count: width)
        for j in 0..<width { shift[j] = offset * (2 * generator.unitFloat() - 1) }
        self.offset = shift
        // Uniform noise on [−a, a] has variance a²/3; a = noise·radius·√(3/D) gives a noise norm ≈ noise·radius.
        amplitude = noise * radius * (3 / Float(width)).squareRoot()
    }

    /// Number of clusters.
    public var clusterCount: Int { centers.rows }

    /// The next row of cluster `cluster`, written into `row`.
    public mutating func fill(_ row: UnsafeMutablePointer<Float>, cluster: Int) {
        centers.storage.withUnsafeBufferPointer { c in
            let center = c.baseAddress! + cluster * width
            for j in 0..<width {
                row[j] = center[j] + offset[j] + amplitude * (2 * generator.unitFloat() - 1)
            }
        }
    }

    /// A batch of `rows` rows whose clusters are drawn uniformly from `0..<clusterCount`.
    public mutating func batch(rows: Int) -> Matrix {
        var m = Matrix(rows: rows, columns: width)
        m.storage.withUnsafeMutableBufferPointer { p in
            for r in 0..<rows {
                let cluster = Int(generator.uniform(below: UInt64(clusterCount)))
                fill(p.baseAddress! + r * width, cluster: cluster)
            }
        }
        return m
    }

    /// A batch whose row `r` belongs to cluster `clusters[r]`.
    public mutating func batch(clusters: [Int]) -> Matrix {
        var m = Matrix(rows: clusters.count, columns: width)
        m.storage.withUnsafeMutableBufferPointer { p in
            for (r, cluster) in clusters.enumerated() { fill(p.baseAddress! + r * width, cluster: cluster) }
        }
        return m
    }
}
