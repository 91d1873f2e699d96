import EPTensors

/// Causal multi-head attention with grouped-query heads for one sequence, on row-major activations.
///
/// For each key/value head, the query heads that share it are stacked position by position (row `i·group + j`
/// is position `i` of the group's `j`-th query head), so scores and the weighted sum of values are two BLAS
/// products per block of positions; a block needs only the keys up to its last position, which skips most of the
/// masked upper triangle.
enum Attention {
    /// Positions per block: smaller blocks skip more of the masked triangle but make more, smaller products
    /// (16 took the fewest instructions for 128-token windows of SmolLM2, measured with callgrind: 4.59 M per
    /// window and layer, against 4.66 M for 8, 4.81 M for 32 and 5.45 M for 64).
    static let blockPositions = 16

    /// Shape of one attention call.
    struct Shape {
        var heads: Int
        var kvHeads: Int
        var headDim: Int

        var group: Int { heads / kvHeads }

        /// The attention shape of a model.
        init(_ c: TransformerConfig) {
            heads = c.headCount
            kvHeads = c.kvHeadCount
            headDim = c.headDim
        }
    }

    /// Scratch floats `run` needs for a sequence whose last query sees `keys` keys.
    static func scratchCount(_ shape: Shape, keys: Int) -> Int {
        blockPositions * shape.group * (paddedKeys(keys) + 2 * shape.headDim)
    }

    /// Row stride of the scores: whole vectors for the softmax.
    static func paddedKeys(_ keys: Int) -> Int { (keys + 7) / 8 * 8 }

    /// Attention of `queries` new rows at positions `past..<past + queries` over keys and values of positions
    /// `0..<past + queries`.
    ///
    /// Head `h` of `q` (columns `h·headDim…`, rows `ldq` apart) attends to key/value head `h / group` of `k` and
    /// `v` (rows `ldk`, `ldv` apart); the result for head `h` goes to columns `h·headDim…` of `out`. Scores are
    /// scaled by 1/√headDim.
    static func run(
        _ shape: Shape, queries: Int, past: Int,
        q: UnsafePointer<Float>, ldq: Int, k: UnsafePointer<Float>, ldk: Int, v: UnsafePointer<Float>, ldv: Int,
        out: UnsafeMutablePointer<Float>, ldo: Int, scratch: UnsafeMutablePointer<Float>
    ) {
        let d = shape.headDim, group = shape.group, width = group * d
        let scale = 1 / Float(d).squareRoot()
        let stackedQueries = scratch, stackedOutput = scratch + blockPositions * width
        let scores = stackedOutput + blockPositions * width
        for g in 0..<shape.kvHeads {
            var first = 0
            while first < queries {
                let positions = min(blockPositions, queries - first)
                let rows = positions * group
                let keys = past + first + positions, stride = paddedKeys(keys)
                for i in 0..<positions {
                    (stackedQueries + i * width).update(from: q + (first + i) * ldq + g * width, count: width)
                }
                BLAS.gemm(
                    .asStored, .transposed, m: rows, n: keys, k: d, alpha: scale,
                    a: stackedQueries, lda: d, b: k + g * d, ldb: ldk, c: scores, ldc: stride)
                for r in 0..<rows {
                    VectorMath.maskedSoftmax(scores + r * stride, valid: past + first + r / group + 1, count: keys)
                }
                BLAS.gemm(
                    .asStored, .asStored, m: rows, n: d, k: keys,
                    a: scores, lda: stride, b: v + g * d, ldb: ldv, c: stackedOutput, ldc: d)
                for i in 0..<positions {
                    (out + (first + i) * ldo + g * width).update(from: stackedOutput + i * width, count: width)
                }
                first += positions
            }
        }
    }
}
