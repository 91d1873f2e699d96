import EPFormats
import EPTensors

/// A weight matrix of a linear layer: `outputs` rows of `inputs` fp32 values, and, when every row was decoded
/// from a block type with a fused dot-product kernel (Q4_1, Q8_0), where those rows lie in the mapped file, for
/// single-row products that read the quantized rows (≈ 7× less memory traffic than fp32 rows).
struct WeightMatrix: @unchecked Sendable {
    /// Rows decoded from one tensor.
    struct QuantizedRows {
        var rows: Range<Int>
        var type: GGMLType
        var data: UnsafeRawPointer
        var rowBytes: Int
    }

    let values: FloatBuffer
    let outputs: Int
    let inputs: Int
    /// The quantized rows, or nil when some rows have no fused kernel. The pointers are into a mapped file that
    /// the owner of the matrix keeps open.
    let quantized: [QuantizedRows]?

    /// The types whose rows `Projection` dots without decoding them first.
    static let fusedTypes: Set<GGMLType> = [.q4_1, .q8_0]

    /// The matrix made of `tensors`' rows one after the other, decoded into `values`.
    init(values: FloatBuffer, tensors: [GGUFTensorInfo], file: GGUFFile) {
        self.values = values
        inputs = tensors[0].rowLength
        outputs = tensors.reduce(0) { $0 + $1.rowCount }
        var first = 0
        var segments: [QuantizedRows] = []
        for t in tensors {
            segments.append(QuantizedRows(
                rows: first..<(first + t.rowCount), type: t.type, data: file.file.bytes + t.offset,
                rowBytes: t.rowLength / t.type.blockSize * t.type.blockBytes))
            first += t.rowCount
        }
        quantized = segments.allSatisfy { Self.fusedTypes.contains($0.type) } ? segments : nil
    }
}

/// Linear layers: `Y = X · Wᵀ` for rows of activations X and a weight matrix W stored one row per output.
enum Projection {
    /// `y[r] (+)= W · x[r]` for `rows` rows of `weight.inputs` values (rows `inputStride` apart); results go to `y`
    /// (rows `outputStride` apart), added to what is there when `accumulate`.
    ///
    /// Several rows are one sgemm. A single row is a matrix-vector product, bound by memory bandwidth: over the
    /// quantized rows when the matrix has them, otherwise BLAS sgemv over the fp32 rows.
    static func apply(
        rows: Int, x: UnsafePointer<Float>, inputStride: Int, weight: WeightMatrix, accumulate: Bool = false,
        y: UnsafeMutablePointer<Float>, outputStride: Int
    ) {
        let (n, k) = (weight.outputs, weight.inputs)
        if rows > 1 {
            BLAS.gemm(
                .asStored, .transposed, m: rows, n: n, k: k, a: x, lda: inputStride, b: weight.values.pointer, ldb: k,
                beta: accumulate ? 1 : 0, c: y, ldc: outputStride)
        } else if let segments = weight.quantized {
            let blocks = k / 32
            let sums = [Float](unsafeUninitializedCapacity: blocks) { buffer, count in
                for b in 0..<blocks { buffer[b] = VectorMath.sum(x + 32 * b, count: 32) }
                count = blocks
            }
            sums.withUnsafeBufferPointer { s in
                for segment in segments {
                    for r in segment.rows {
                        let dot = BlockDecoders.dot(
                            segment.type, row: segment.data + (r - segment.rows.lowerBound) * segment.rowBytes, x: x,
                            blockSums: s.baseAddress!, blocks: blocks)
                        y[r] = accumulate ? y[r] + dot : dot
                    }
                }
            }
        } else {
            BLAS.gemv(.asStored, rows: n, columns: k, a: weight.values.pointer, lda: k, x: x, beta: accumulate ? 1 : 0, y: y)
        }
    }
}
