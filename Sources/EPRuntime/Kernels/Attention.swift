import EPTensors

/// Causal multi-head attention with grouped-query heads for one sequence, on row-major activations: scores and
/// the weighted sum of values are BLAS products per head and block of query rows; blocks skip the keys that the
/// causal mask hides.
enum Attention {
    /// Query rows per block: the keys a block needs end at its last row, so smaller blocks skip more of the
    /// masked upper triangle but make more, smaller products.
    static let blockRows = 32

    /// Shape of one attention call.
    struct Shape {
        var heads: Int
        var kvHeads: Int
        var headDim: Int
    }

    /// Scratch floats `run` needs for a sequence whose last query sees `keys` keys.
    static func scratchCount(keys: Int) -> Int { blockRows * keys }

    /// Attention of `queries` new rows at positions `past..<past + queries` over keys and values of positions
    /// `0..<past + queries`.
    ///
    /// Head `h` of `q` (columns `h·headDim…`, rows `ldq` apart) attends to key/value head `h / (heads / kvHeads)`
    /// of `k` and `v` (rows `ldk`, `ldv` apart); the result for head `h` goes to columns `h·headDim…` of `out`.
    /// Scores are scaled by 1/√headDim.
    static func run(
        _ shape: Shape, queries: Int, past: Int,
        q: UnsafePointer<Float>, ldq: Int, k: UnsafePointer<Float>, ldk: Int, v: UnsafePointer<Float>, ldv: Int,
        out: UnsafeMutablePointer<Float>, ldo: Int, scratch: UnsafeMutablePointer<Float>
    ) {
        let d = shape.headDim
        let group = shape.heads / shape.kvHeads
        let scale = 1 / Float(d).squareRoot()
        for h in 0..<shape.heads {
            let g = h / group
            var first = 0
            while first < queries {
                let rows = min(blockRows, queries - first)
                let keys = past + first + rows
                BLAS.gemm(
                    .asStored, .transposed, m: rows, n: keys, k: d, alpha: scale,
                    a: q + first * ldq + h * d, lda: ldq, b: k + g * d, ldb: ldk, c: scratch, ldc: keys)
                for r in 0..<rows {
                    VectorMath.maskedSoftmax(scratch + r * keys, valid: past + first + r + 1, count: keys)
                }
                BLAS.gemm(
                    .asStored, .asStored, m: rows, n: d, k: keys,
                    a: scratch, lda: keys, b: v + g * d, ldb: ldv, c: out + first * ldo + h * d, ldc: ldo)
                first += rows
            }
        }
    }
}
