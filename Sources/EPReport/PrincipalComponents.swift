import EPTensors

/// The leading principal components of a set of rows (PCA as scikit-learn's default: mean-centred, no
/// whitening), for the report's 3-D map of exemplar directions (docs/report.md).
///
/// The covariance `XᵀX / n` of the centred rows comes from one BLAS product; its leading eigenvectors from a
/// block power (subspace) iteration with a few extra vectors, finished by a Rayleigh–Ritz step, until every
/// wanted Ritz pair has a residual below 1e-6 of the largest eigenvalue (or 3,000 iterations). The start is
/// seeded, so results are reproducible. Each component's sign is fixed so that its largest-magnitude entry is
/// positive (eigenvectors have no sign of their own).
public struct PrincipalComponents: Sendable {
    /// Row width.
    public let width: Int
    /// Mean of the rows.
    public let mean: [Float]
    /// The components, largest variance first: unit vectors of `width` values each.
    public let components: [[Float]]
    /// Variance of the rows along each component (eigenvalues of the covariance, divided by n as NumPy's
    /// population variance).
    public let variances: [Double]
    /// Total variance (trace of the covariance).
    public let totalVariance: Double

    /// The fraction of the total variance each component explains.
    public var explainedRatios: [Double] { variances.map { totalVariance > 0 ? $0 / totalVariance : 0 } }

    /// The first `count` components of the `rows` × `width` row-major matrix `values` (fewer when there are
    /// fewer rows or columns).
    public init(_ values: [Float], rows n: Int, width d: Int, count: Int = 3, seed: UInt64 = 0) {
        precondition(values.count == n * d, "PrincipalComponents: expected \(n) × \(d) values, found \(values.count)")
        width = d
        var mean = [Float](repeating: 0, count: d)
        var sums = [Double](repeating: 0, count: d)
        for i in 0..<n {
            for j in 0..<d { sums[j] += Double(values[i * d + j]) }
        }
        for j in 0..<d { mean[j] = n > 0 ? Float(sums[j] / Double(n)) : 0 }
        self.mean = mean
        let wanted = max(0, min(count, d, n))
        guard wanted > 0 else {
            components = []
            variances = []
            totalVariance = 0
            return
        }
        var centred = values
        for i in 0..<n {
            for j in 0..<d { centred[i * d + j] -= mean[j] }
        }
        var covariance = [Float](repeating: 0, count: d * d)
        centred.withUnsafeBufferPointer { x in
            covariance.withUnsafeMutableBufferPointer { c in
                BLAS.gemm(
                    .transposed, .asStored, m: d, n: d, k: n, alpha: 1 / Float(n), a: x.baseAddress!, lda: d, b: x.baseAddress!, ldb: d,
                    c: c.baseAddress!, ldc: d)
            }
        }
        totalVariance = (0..<d).reduce(0.0) { $0 + Double(covariance[$1 * d + $1]) }
        let (vectors, values) = Self.leadingEigenpairs(covariance, size: d, count: wanted, seed: seed)
        components = vectors.map { v in
            let largest = v.indices.max { abs(v[$0]) < abs(v[$1]) }!
            return v[largest] < 0 ? v.map { Float(-$0) } : v.map { Float($0) }
        }
        variances = values
    }

    /// The coordinates of the `rows` × `width` matrix `values` on the components: `rows` × `components.count`
    /// values, row-major.
    public func project(_ values: [Float], rows n: Int) -> [Float] {
        precondition(values.count == n * width, "PrincipalComponents.project: expected \(n) × \(width) values, found \(values.count)")
        let m = components.count
        var out = [Float](repeating: 0, count: n * m)
        guard n > 0, m > 0 else { return out }
        var centred = values
        for i in 0..<n {
            for j in 0..<width { centred[i * width + j] -= mean[j] }
        }
        let basis = Array(components.joined())
        centred.withUnsafeBufferPointer { x in
            basis.withUnsafeBufferPointer { b in
                out.withUnsafeMutableBufferPointer { o in
                    BLAS.gemm(.asStored, .transposed, m: n, n: m, k: width, a: x.baseAddress!, lda: width, b: b.baseAddress!, ldb: width, c: o.baseAddress!, ldc: m)
                }
            }
        }
        return out
    }

    /// The `count` eigenpairs of largest eigenvalue of the symmetric `size` × `size` matrix `a`, largest first.
    static func leadingEigenpairs(_ a: [Float], size d: Int, count: Int, seed: UInt64) -> (vectors: [[Double]], values: [Double]) {
        let block = min(d, count + 4)
        var generator = SeededGenerator(seed: seed)
        // q: d × block, row-major (q[i * block + j] is entry i of vector j).
        var q = [Float](repeating: 0, count: d * block)
        for i in 0..<(d * block) { q[i] = 2 * generator.unitFloat() - 1 }
        orthonormalise(&q, rows: d, columns: block)
        var z = [Float](repeating: 0, count: d * block)
        let scale = (0..<d).reduce(0.0) { max($0, abs(Double(a[$1 * d + $1]))) }
        var ritz = RitzPairs(vectors: [], values: [], residuals: [])
        for iteration in 1...3000 {
            multiply(a, q, into: &z, size: d, columns: block)
            if iteration % 10 == 0 || iteration == 3000 {
                ritz = rayleighRitz(q: q, aq: z, size: d, block: block)
                if ritz.residuals.prefix(count).allSatisfy({ $0 <= 1e-6 * scale }) { break }
            }
            q = z
            orthonormalise(&q, rows: d, columns: block)
        }
        return (Array(ritz.vectors.prefix(count)), Array(ritz.values.prefix(count)))
    }

    /// `z = a · q` for the `d` × `d` matrix `a` and the `d` × `columns` matrix `q`.
    private static func multiply(_ a: [Float], _ q: [Float], into z: inout [Float], size d: Int, columns: Int) {
        a.withUnsafeBufferPointer { pa in
            q.withUnsafeBufferPointer { pq in
                z.withUnsafeMutableBufferPointer { pz in
                    BLAS.gemm(.asStored, .asStored, m: d, n: columns, k: d, a: pa.baseAddress!, lda: d, b: pq.baseAddress!, ldb: columns, c: pz.baseAddress!, ldc: columns)
                }
            }
        }
    }

    /// Modified Gram–Schmidt on the columns of the `rows` × `columns` matrix `q`, in `Double`; a column that
    /// vanishes is replaced by a unit vector orthogonal to the others.
    static func orthonormalise(_ q: inout [Float], rows d: Int, columns: Int) {
        var columnsD = (0..<columns).map { j in (0..<d).map { Double(q[$0 * columns + j]) } }
        for j in 0..<columns {
            for attempt in 0...d {
                for k in 0..<j {
                    var dot = 0.0
                    for i in 0..<d { dot += columnsD[k][i] * columnsD[j][i] }
                    for i in 0..<d { columnsD[j][i] -= dot * columnsD[k][i] }
                }
                let norm = columnsD[j].reduce(0) { $0 + $1 * $1 }.squareRoot()
                if norm > 1e-20 {
                    for i in 0..<d { columnsD[j][i] /= norm }
                    break
                }
                columnsD[j] = (0..<d).map { $0 == (j + attempt) % d ? 1 : 0 }
            }
        }
        for j in 0..<columns {
            for i in 0..<d { q[i * columns + j] = Float(columnsD[j][i]) }
        }
    }

    /// Ritz vectors (unit, `Double`), their Ritz values and residual norms ‖A v − λ v‖, largest value first.
    struct RitzPairs {
        var vectors: [[Double]]
        var values: [Double]
        var residuals: [Double]
    }

    /// The Ritz pairs of the subspace spanned by the orthonormal columns of `q`, given `aq = a · q`: the
    /// eigenpairs `(λ, y)` of `qᵀ a q`, with `v = q·y` and the residual `‖(a q)·y − λ v‖`.
    private static func rayleighRitz(q: [Float], aq: [Float], size d: Int, block: Int) -> RitzPairs {
        var t = [Double](repeating: 0, count: block * block)
        for r in 0..<block {
            for c in 0..<block {
                var s = 0.0
                for i in 0..<d { s += Double(q[i * block + r]) * Double(aq[i * block + c]) }
                t[r * block + c] = s
            }
        }
        for r in 0..<block {
            for c in (r + 1)..<block {
                let m = (t[r * block + c] + t[c * block + r]) / 2
                t[r * block + c] = m
                t[c * block + r] = m
            }
        }
        let (values, small) = symmetricEigen(t, size: block)
        var pairs = RitzPairs(vectors: [], values: [], residuals: [])
        for k in values.indices.sorted(by: { values[$0] > values[$1] }) {
            var v = [Double](repeating: 0, count: d)
            var residual = 0.0
            for i in 0..<d {
                var s = 0.0, av = 0.0
                for j in 0..<block {
                    s += Double(q[i * block + j]) * small[j * block + k]
                    av += Double(aq[i * block + j]) * small[j * block + k]
                }
                v[i] = s
                residual += (av - values[k] * s) * (av - values[k] * s)
            }
            pairs.vectors.append(v)
            pairs.values.append(values[k])
            pairs.residuals.append(residual.squareRoot())
        }
        return pairs
    }

    /// Eigenvalues and eigenvectors (columns of the returned row-major matrix) of a small symmetric matrix, by
    /// cyclic Jacobi rotations.
    static func symmetricEigen(_ matrix: [Double], size n: Int) -> (values: [Double], vectors: [Double]) {
        var a = matrix
        var v = [Double](repeating: 0, count: n * n)
        for i in 0..<n { v[i * n + i] = 1 }
        for _ in 0..<100 {
            var off = 0.0
            for p in 0..<n {
                for q in (p + 1)..<n { off += a[p * n + q] * a[p * n + q] }
            }
            if off < 1e-30 { break }
            for p in 0..<n {
                for q in (p + 1)..<n where a[p * n + q] != 0 {
                    let theta = (a[q * n + q] - a[p * n + p]) / (2 * a[p * n + q])
                    let t = (theta >= 0 ? 1.0 : -1.0) / (abs(theta) + (theta * theta + 1).squareRoot())
                    let c = 1 / (t * t + 1).squareRoot(), s = t * c
                    for k in 0..<n {
                        let akp = a[k * n + p], akq = a[k * n + q]
                        a[k * n + p] = c * akp - s * akq
                        a[k * n + q] = s * akp + c * akq
                    }
                    for k in 0..<n {
                        let apk = a[p * n + k], aqk = a[q * n + k]
                        a[p * n + k] = c * apk - s * aqk
                        a[q * n + k] = s * apk + c * aqk
                    }
                    for k in 0..<n {
                        let vkp = v[k * n + p], vkq = v[k * n + q]
                        v[k * n + p] = c * vkp - s * vkq
                        v[k * n + q] = s * vkp + c * vkq
                    }
                }
            }
        }
        return ((0..<n).map { a[$0 * n + $0] }, v)
    }
}
