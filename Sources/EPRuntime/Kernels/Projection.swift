import EPFormats
import EPTensors

/// A weight matrix of a linear layer: `outputs` rows of `inputs` values, one row per output, made of row blocks
/// (segments) each stored one way: fp32 (decoded at load, or an F32 tensor used in place in its mapped file), or a
/// 16-bit float or GGML block type left in its mapped file (the F16/BF16 weights of a Hugging Face folder, any
/// decodable tensor of a GGUF file), which ``Projection`` converts to fp32 panel by panel as it multiplies.
///
/// When every row is of a GGUF block type with a fused dot-product kernel (Q4_1, Q8_0), whether the matrix was
/// decoded or left mapped, it also records where those rows lie in the mapped file, for single-row products that
/// read the quantized rows (≈ 7× less memory traffic than fp32 rows).
struct WeightMatrix: @unchecked Sendable {
    /// Quantized rows of one GGUF tensor.
    struct QuantizedRows {
        var rows: Range<Int>
        var type: GGMLType
        var data: UnsafeRawPointer
        var rowBytes: Int
    }

    /// A block of consecutive rows stored one way: `type` is any type ``Dequantize`` decodes, rows `rowBytes`
    /// apart.
    struct Segment {
        var rows: Range<Int>
        var type: GGMLType
        var data: UnsafeRawPointer
        var rowBytes: Int
    }

    let outputs: Int
    let inputs: Int
    let segments: [Segment]
    /// The quantized rows, or nil when some rows have no fused kernel. The pointers are into a mapped file that
    /// the owner of the matrix keeps open.
    let quantized: [QuantizedRows]?
    /// The decoded storage the segments point into, if any (kept alive with the matrix).
    let storage: FloatBuffer?

    /// The types whose rows `Projection` dots without decoding them first.
    static let fusedTypes: Set<GGMLType> = [.q4_1, .q8_0]

    /// The rows of `tensors` (one after the other) as fused-kernel rows, when they all have a fused kernel.
    private static func quantizedRows(_ tensors: [WeightTensor]) -> [QuantizedRows]? {
        guard tensors.allSatisfy({ fusedTypes.contains($0.type) && !$0.transposed }) else { return nil }
        var first = 0
        var quantized: [QuantizedRows] = []
        for t in tensors {
            quantized.append(QuantizedRows(rows: first..<(first + t.rows), type: t.type, data: t.data, rowBytes: t.rowBytes))
            first += t.rows
        }
        return quantized
    }

    /// A matrix decoded into `values` (fp32, `outputs × inputs`), with the quantized source rows of `tensors`
    /// (one after the other) when they all have a fused kernel.
    init(decoded values: FloatBuffer, outputs: Int, inputs: Int, sources tensors: [WeightTensor]) {
        self.outputs = outputs
        self.inputs = inputs
        storage = values
        segments = [Segment(rows: 0..<outputs, type: .f32, data: UnsafeRawPointer(values.pointer), rowBytes: 4 * inputs)]
        quantized = Self.quantizedRows(tensors)
    }

    /// A matrix whose rows stay where `tensors` lie in their mapped files (of decodable types, not transposed, F32
    /// data 4-byte aligned).
    init(mapped tensors: [WeightTensor]) {
        inputs = tensors[0].columns
        var first = 0
        var segments: [Segment] = []
        for t in tensors {
            precondition(t.isMappable && t.columns == inputs, "WeightMatrix: tensor \(t.name) cannot be used in place")
            segments.append(Segment(rows: first..<(first + t.rows), type: t.type, data: t.data, rowBytes: t.rowBytes))
            first += t.rows
        }
        outputs = first
        self.segments = segments
        quantized = Self.quantizedRows(tensors)
        storage = nil
    }

    /// Writes row `row` as fp32 into `destination` (reading only that row of the stored data).
    func row(_ row: Int, into destination: UnsafeMutablePointer<Float>) {
        let segment = segments.first { $0.rows.contains(row) }!
        Dequantize.decode(
            segment.type, from: segment.data + (row - segment.rows.lowerBound) * segment.rowBytes, count: inputs, into: destination)
    }
}

/// Linear layers: `Y = X · Wᵀ` for rows of activations X and a weight matrix W stored one row per output.
enum Projection {
    /// Bytes of fp32 weights converted at a time from a stored (16-bit or block-quantized) segment for a product
    /// of many rows: a panel of rows, converted once and used by every row of the batch in one sgemm.
    static let panelBytes = 4 << 20
    /// The same for products of fewer than ``Projection/fewRows`` rows (generation steps), whose panels are read
    /// once or a few times: small enough to stay in a core's L2 cache between conversion and use.
    static let smallPanelBytes = 128 << 10
    /// Below this many rows a product uses ``Projection/smallPanelBytes`` panels.
    static let fewRows = 16

    /// `y[r] (+)= W · x[r]` for `rows` rows of `weight.inputs` values (rows `inputStride` apart); results go to `y`
    /// (rows `outputStride` apart), added to what is there when `accumulate`.
    ///
    /// Several rows are one sgemm per fp32 segment (one for a decoded matrix). A single row is a matrix-vector
    /// product, bound by memory bandwidth: over the quantized rows when the matrix has them, otherwise BLAS sgemv.
    /// Stored (16-bit or block-quantized) segments are converted to fp32 a panel of rows at a time into scratch
    /// memory, each panel one product.
    static func apply(
        rows: Int, x: UnsafePointer<Float>, inputStride: Int, weight: WeightMatrix, accumulate: Bool = false,
        y: UnsafeMutablePointer<Float>, outputStride: Int
    ) {
        let k = weight.inputs
        if rows == 1, let segments = weight.quantized {
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
            return
        }
        var scratch: FloatBuffer?
        let panel = max(8, (rows < fewRows ? smallPanelBytes : panelBytes) / (4 * k))
        for segment in weight.segments {
            if segment.type == .f32 {
                multiply(rows: rows, x: x, inputStride: inputStride, w: segment.data.assumingMemoryBound(to: Float.self),
                         outputs: segment.rows.count, k: k, accumulate: accumulate, y: y + segment.rows.lowerBound, outputStride: outputStride)
                continue
            }
            if scratch == nil { scratch = FloatBuffer(count: min(panel, weight.outputs) * k) }
            var first = 0
            while first < segment.rows.count {
                let count = min(panel, segment.rows.count - first)
                Dequantize.decode(segment.type, from: segment.data + first * segment.rowBytes, count: count * k, into: scratch!.pointer)
                multiply(rows: rows, x: x, inputStride: inputStride, w: scratch!.pointer, outputs: count, k: k,
                         accumulate: accumulate, y: y + segment.rows.lowerBound + first, outputStride: outputStride)
                first += count
            }
        }
    }

    /// `y (+)= x · wᵀ` for fp32 `w` of `outputs` rows of `k`.
    private static func multiply(
        rows: Int, x: UnsafePointer<Float>, inputStride: Int, w: UnsafePointer<Float>, outputs: Int, k: Int,
        accumulate: Bool, y: UnsafeMutablePointer<Float>, outputStride: Int
    ) {
        if rows > 1 {
            BLAS.gemm(
                .asStored, .transposed, m: rows, n: outputs, k: k, a: x, lda: inputStride, b: w, ldb: k,
                beta: accumulate ? 1 : 0, c: y, ldc: outputStride)
        } else {
            BLAS.gemv(.asStored, rows: outputs, columns: k, a: w, lda: k, x: x, beta: accumulate ? 1 : 0, y: y)
        }
    }
}
