import EPTensors

/// A set of K candidate unit directions in the centered space of an activation site — a dictionary's exemplar or
/// mean member directions — read at every position of every text with the **cosine readout** (docs/use.md):
/// `cos_k(x) = (x − c)·b_k / max(‖x − c‖, 1e-12)`.
///
/// One pass over the activations keeps what the evaluations need: per text and direction the sum and the maximum of
/// the cosine over the text's positions (region selection and max-over-positions scores), and per position the
/// direction of largest cosine (the one-hot `binary` readout, first index on ties).
public struct BasisReadout: Sendable {
    /// The name the results use for this basis (`exemplar`, `mean`).
    public let name: String
    /// The center c.
    public let center: [Float]
    /// The K unit directions, one per row (K × D).
    public let directions: Matrix
    /// Number of texts read.
    public let textCount: Int
    /// Per text (row) and direction (column): the sum of the cosine over the text's positions (texts × K).
    public let sums: [Float]
    /// Per text and direction: the largest cosine over the text's positions (texts × K).
    public let maxima: [Float]
    /// Per text: its number of positions.
    public let positionCounts: [Int]
    /// Per position (row of the activations): the direction with the largest cosine.
    public let nearest: [Int32]

    /// Reads `activations` against `directions` (K × D) around `center`.
    public init(name: String, center: [Float], directions: Matrix, activations: TextActivations) throws {
        let d = activations.width, k = directions.rows
        guard center.count == d, directions.columns == d else {
            throw EvaluationError("basis \(name): center has \(center.count) and directions \(directions.columns) dimensions, activations \(d)")
        }
        guard k > 0 else { throw EvaluationError("basis \(name): no directions") }
        let n = activations.rows.rows, texts = activations.count
        var sums = [Float](repeating: 0, count: texts * k)
        var maxima = [Float](repeating: -.infinity, count: texts * k)
        var nearest = [Int32](repeating: 0, count: n)
        let block = max(1, min(n, (1 << 21) / max(k, 1)))
        var centered = [Float](repeating: 0, count: block * d)
        var cosines = [Float](repeating: 0, count: block * k)
        var text = 0
        for first in stride(from: 0, to: n, by: block) {
            let m = min(block, n - first)
            Self.cosines(activations.rows, rows: first..<(first + m), center: center, directions: directions, centered: &centered, into: &cosines)
            cosines.withUnsafeBufferPointer { c in
                sums.withUnsafeMutableBufferPointer { s in
                    maxima.withUnsafeMutableBufferPointer { x in
                        for i in 0..<m {
                            let row = first + i
                            while row >= activations.offsets[text + 1] { text += 1 }
                            let values = c.baseAddress! + i * k
                            Kernels.add(values, into: s.baseAddress! + text * k, count: k)
                            let best = x.baseAddress! + text * k
                            for j in 0..<k where values[j] > best[j] { best[j] = values[j] }
                            nearest[row] = Int32(Kernels.firstArgMax(values, count: k).index)
                        }
                    }
                }
            }
        }
        self.name = name
        self.center = center
        self.directions = directions
        textCount = texts
        self.sums = sums
        self.maxima = maxima
        positionCounts = (0..<texts).map { activations.positions(of: $0).count }
        self.nearest = nearest
    }

    /// Number of directions K.
    public var directionCount: Int { directions.rows }

    /// The largest cosine with direction `k` over each text of `texts` (the max-over-positions score).
    public func maxima(direction k: Int, texts: [Int]) -> [Double] {
        texts.map { Double(maxima[$0 * directionCount + k]) }
    }

    /// Per text of `texts`, the share of its positions whose nearest direction is each of the K (the one-hot readout
    /// pooled by its mean): texts × K.
    public func oneHotMeans(_ texts: [Int], activations: TextActivations) -> Matrix {
        let k = directionCount
        var out = Matrix(rows: texts.count, columns: k)
        for (i, t) in texts.enumerated() {
            let range = activations.positions(of: t)
            let share = 1 / Float(range.count)
            for r in range { out.storage[i * k + Int(nearest[r])] += share }
        }
        return out
    }

    /// The signed readout `(x − c)·b_k` of each row of `x` (N × D): N × K. Applied to mean-pooled activations it is
    /// the mean over positions of the per-position signed readout, since the readout is linear.
    public func signed(_ x: Matrix) -> Matrix {
        let d = directions.columns, k = directionCount
        var centered = x
        for r in 0..<x.rows {
            for j in 0..<d { centered.storage[r * d + j] -= center[j] }
        }
        var out = Matrix(rows: x.rows, columns: k)
        guard x.rows > 0 else { return out }
        centered.storage.withUnsafeBufferPointer { a in
            directions.storage.withUnsafeBufferPointer { b in
                out.storage.withUnsafeMutableBufferPointer { c in
                    BLAS.gemm(.asStored, .transposed, m: x.rows, n: k, k: d, a: a.baseAddress!, lda: d, b: b.baseAddress!, ldb: d, c: c.baseAddress!, ldc: k)
                }
            }
        }
        return out
    }

    /// The cosine readout of `rows` of `x` against `directions` into `out` (rows.count × K), using `centered` as
    /// scratch.
    static func cosines(_ x: Matrix, rows: Range<Int>, center: [Float], directions: Matrix, centered: inout [Float], into out: inout [Float]) {
        let d = x.columns, k = directions.rows, m = rows.count
        var norms = [Float](repeating: 0, count: m)
        x.storage.withUnsafeBufferPointer { xs in
            center.withUnsafeBufferPointer { c in
                centered.withUnsafeMutableBufferPointer { o in
                    for i in 0..<m {
                        let sumSquares = Kernels.subtractAndSumSquares(xs.baseAddress! + (rows.lowerBound + i) * d, c.baseAddress!, into: o.baseAddress! + i * d, count: d)
                        norms[i] = max(sumSquares.squareRoot(), 1e-12)
                    }
                }
            }
        }
        centered.withUnsafeBufferPointer { a in
            directions.storage.withUnsafeBufferPointer { b in
                out.withUnsafeMutableBufferPointer { p in
                    BLAS.gemm(.asStored, .transposed, m: m, n: k, k: d, a: a.baseAddress!, lda: d, b: b.baseAddress!, ldb: d, c: p.baseAddress!, ldc: k)
                    for i in 0..<m { Kernels.scale(p.baseAddress! + i * k, by: 1 / norms[i], count: k) }
                }
            }
        }
    }
}
