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

    /// Shape and variant of one attention call.
    struct Shape {
        var heads: Int
        var kvHeads: Int
        var headDim: Int
        /// Factor of the scores.
        var scale: Float
        /// Scores become `cap · tanh(score / cap)` before the softmax (Gemma 2).
        var softcap: Float?
        /// A query at position p sees only keys p − window + 1 … p (sliding-window layers).
        var window: Int?

        var group: Int { heads / kvHeads }

        /// The attention shape of a model's block `layer`.
        init(_ c: TransformerConfig, layer: Int) {
            heads = c.headCount
            kvHeads = c.kvHeadCount
            headDim = c.headDim
            scale = c.attentionScale
            softcap = c.attentionSoftcap
            window = c.slidingLayers[layer] ? c.slidingWindow : nil
        }
    }

    /// Scratch floats `run` needs for a sequence whose last query sees `keys` keys.
    static func scratchCount(_ shape: Shape, keys: Int) -> Int {
        blockPositions * shape.group * (paddedKeys(keys) + 2 * shape.headDim)
    }

    /// Row stride of the scores: whole vectors for the softmax, plus one (a windowed row starts mid-vector).
    static func paddedKeys(_ keys: Int) -> Int { (keys + 15) / 8 * 8 }

    /// Attention of `queries` new rows at positions `past..<past + queries` over keys and values of positions
    /// `0..<past + queries`, for the query heads of key/value heads `kvHeads` (all by default).
    ///
    /// Head `h` of `q` (columns `h·headDim…`, rows `ldq` apart) attends to key/value head `h / group` of `k` and
    /// `v` (rows `ldk`, `ldv` apart); the result for head `h` goes to columns `h·headDim…` of `out`. Scores are
    /// scaled by `shape.scale`, soft-capped when the shape says so, and limited to the window of sliding layers.
    /// The heads of different key/value heads are independent: calls for disjoint `kvHeads` may run at once, each
    /// with its own `scratch` (``scratchCount(_:keys:)`` floats).
    static func run(
        _ shape: Shape, queries: Int, past: Int,
        q: UnsafePointer<Float>, ldq: Int, k: UnsafePointer<Float>, ldk: Int, v: UnsafePointer<Float>, ldv: Int,
        out: UnsafeMutablePointer<Float>, ldo: Int, scratch: UnsafeMutablePointer<Float>, kvHeads: Range<Int>? = nil
    ) {
        let d = shape.headDim, group = shape.group, width = group * d
        let scale = shape.scale
        let stackedQueries = scratch, stackedOutput = scratch + blockPositions * width
        let scores = stackedOutput + blockPositions * width
        for g in kvHeads ?? 0..<shape.kvHeads {
            var first = 0
            while first < queries {
                let positions = min(blockPositions, queries - first)
                let rows = positions * group
                let end = past + first + positions
                // Keys before `low` are outside every window of the block.
                let low = shape.window.map { max(0, past + first - $0 + 1) } ?? 0
                let keys = end - low, stride = paddedKeys(keys)
                for i in 0..<positions {
                    (stackedQueries + i * width).update(from: q + (first + i) * ldq + g * width, count: width)
                }
                BLAS.gemm(
                    .asStored, .transposed, m: rows, n: keys, k: d, alpha: scale,
                    a: stackedQueries, lda: d, b: k + low * ldk + g * d, ldb: ldk, c: scores, ldc: stride)
                for r in 0..<rows {
                    let row = scores + r * stride
                    let position = past + first + r / group
                    let valid = position + 1 - low
                    if let cap = shape.softcap { VectorMath.softcap(row, count: valid, cap: cap) }
                    let start = shape.window.map { max(0, position - $0 + 1 - low) } ?? 0
                    VectorMath.maskedSoftmax(row + start, valid: valid - start, count: keys - start)
                    row.update(repeating: 0, count: start)
                }
                BLAS.gemm(
                    .asStored, .asStored, m: rows, n: d, k: keys,
                    a: scores, lda: stride, b: v + low * ldv + g * d, ldb: ldv, c: stackedOutput, ldc: d)
                for i in 0..<positions {
                    (out + (first + i) * ldo + g * width).update(from: stackedOutput + i * width, count: width)
                }
                first += positions
            }
        }
    }
}
