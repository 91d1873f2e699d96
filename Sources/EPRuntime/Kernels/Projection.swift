import EPTensors

/// Linear layers: `Y = X · Wᵀ` for rows of activations X and a weight matrix W stored one row per output.
enum Projection {
    /// `y[r] (+)= W · x[r]` for `rows` rows of `inputs` values (rows `inputStride` apart) and the `outputs`×`inputs`
    /// row-major `weight`; results go to `y` (rows `outputStride` apart), added to what is there when `accumulate`.
    /// A single row is a matrix-vector product: sgemm would pack all of W for it.
    static func apply(
        rows: Int, inputs: Int, outputs: Int, x: UnsafePointer<Float>, inputStride: Int, weight: UnsafePointer<Float>,
        accumulate: Bool = false, y: UnsafeMutablePointer<Float>, outputStride: Int
    ) {
        if rows == 1 {
            BLAS.gemv(.asStored, rows: outputs, columns: inputs, a: weight, lda: inputs, x: x, beta: accumulate ? 1 : 0, y: y)
        } else {
            BLAS.gemm(
                .asStored, .transposed, m: rows, n: outputs, k: inputs, a: x, lda: inputStride, b: weight, ldb: inputs,
                beta: accumulate ? 1 : 0, c: y, ldc: outputStride)
        }
    }
}
