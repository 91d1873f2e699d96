import Dispatch
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
    /// How stored (16-bit or block-quantized) segments are converted to fp32 for a product.
    struct Tiling: Sendable {
        /// Most weight rows (outputs) of one tile, in products of many rows. Each tile is one sgemm, which packs
        /// the tile's slice of X again: tall tiles keep that repacking small next to the multiply (a tile of n rows
        /// adds one pass over its slice of X per n outputs); the tile's columns (a slice of the inputs, in whole
        /// 256-value or block units) shrink to fit `bytes`.
        var rows = 2048
        /// Most fp32 bytes of one tile: about a quarter of a server core's share of L3, and small next to the
        /// batch's activations.
        var bytes = 8 << 20
        /// Bytes of one panel of whole rows for products of fewer than `fewRows` rows (generation steps), whose
        /// panels are read once or a few times: small enough to stay in a core's L2 cache between conversion and
        /// use.
        var smallPanelBytes = 128 << 10
        /// Below this many rows a product converts small panels of whole rows; from it on, tiles.
        var fewRows = 16

        /// The tiling every product uses.
        static let standard = Tiling()

        /// Rows and columns of the tiles (or panels) a stored segment of `outputs` rows of `k` values, in blocks of
        /// `blockSize`, is converted in for a product of `rows` rows: the segment's rows split evenly into tiles of
        /// at most ``rows``, the columns into even slices of whole 256-value (or block) units that fit ``bytes``;
        /// for fewer than ``fewRows`` rows, panels of whole rows of ``smallPanelBytes``.
        func shape(rows products: Int, outputs: Int, k: Int, blockSize: Int) -> (rows: Int, columns: Int) {
            if products < fewRows { return (min(outputs, max(8, smallPanelBytes / (4 * k))), k) }
            let rowTiles = (outputs + rows - 1) / rows
            let tileOutputs = (outputs + rowTiles - 1) / rowTiles
            let unit = max(blockSize, 256)
            let widest = max(unit, bytes / (4 * tileOutputs) / unit * unit)
            guard widest < k else { return (tileOutputs, k) }
            let columnTiles = (k + widest - 1) / widest
            let width = ((k + columnTiles - 1) / columnTiles + unit - 1) / unit * unit
            return (tileOutputs, min(width, k))
        }
    }

    /// `y[r] (+)= W · x[r]` for `rows` rows of `weight.inputs` values (rows `inputStride` apart); results go to `y`
    /// (rows `outputStride` apart), added to what is there when `accumulate`.
    ///
    /// Several rows are one sgemm per fp32 segment (one for a decoded matrix). A single row is a matrix-vector
    /// product, bound by memory bandwidth: over the quantized rows when the matrix has them, otherwise BLAS sgemv.
    /// Stored (16-bit or block-quantized) segments are converted to fp32 into scratch memory a tile at a time (see
    /// ``Tiling``: tiles of up to 2,048 rows by as many whole blocks of columns as fit 8 MB for products of many
    /// rows, small panels of whole rows for a few), each tile or panel one product, accumulated over the column
    /// slices. A tile of a product of several rows is converted on BLAS's threads.
    static func apply(
        rows: Int, x: UnsafePointer<Float>, inputStride: Int, weight: WeightMatrix, accumulate: Bool = false,
        y: UnsafeMutablePointer<Float>, outputStride: Int, tiling: Tiling = .standard
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
        let tiles = weight.segments.map { tiling.shape(rows: rows, outputs: $0.rows.count, k: k, blockSize: $0.type.blockSize) }
        let scratchCount = zip(weight.segments, tiles).map { $0.type == .f32 ? 0 : $1.rows * $1.columns }.max() ?? 0
        let scratch = scratchCount > 0 ? FloatBuffer(count: scratchCount) : nil
        let threads = rows > 1 ? BLAS.threadCount : 1
        for (segment, tile) in zip(weight.segments, tiles) {
            let out = y + segment.rows.lowerBound
            if segment.type == .f32 {
                multiply(rows: rows, x: x, inputStride: inputStride, w: segment.data.assumingMemoryBound(to: Float.self), ldw: k,
                         outputs: segment.rows.count, k: k, accumulate: accumulate, y: out, outputStride: outputStride)
                continue
            }
            let w = scratch!.pointer
            var first = 0
            while first < segment.rows.count {
                let count = min(tile.rows, segment.rows.count - first)
                var column = 0
                while column < k {
                    let width = min(tile.columns, k - column)
                    let source = segment.data + first * segment.rowBytes + column / segment.type.blockSize * segment.type.blockBytes
                    convert(segment.type, from: source, rowBytes: segment.rowBytes, rows: count, width: width, k: k, into: w, threads: threads)
                    multiply(rows: rows, x: x + column, inputStride: inputStride, w: w, ldw: width, outputs: count, k: width,
                             accumulate: accumulate || column > 0, y: out + first, outputStride: outputStride)
                    column += width
                }
                first += count
            }
        }
    }

    /// Converts `rows` rows of `width` values of a stored segment (rows `rowBytes` apart from `source`, the first
    /// value of the slice; `k` values a row) to fp32 at `destination`, rows `width` apart, split by rows over
    /// `threads` threads (BLAS's, which would otherwise wait for the conversion before the tile's sgemm). Each row
    /// is decoded by one thread the same way, so the result does not depend on the split.
    private static func convert(
        _ type: GGMLType, from source: UnsafeRawPointer, rowBytes: Int, rows: Int, width: Int, k: Int,
        into destination: UnsafeMutablePointer<Float>, threads: Int
    ) {
        let out = SharedPointer(pointer: destination)
        let data = SharedPointer(pointer: UnsafeMutableRawPointer(mutating: source).assumingMemoryBound(to: UInt8.self))
        let workers = max(1, min(threads, rows / 64))
        let decode: @Sendable (Range<Int>) -> Void = { range in
            let from = UnsafeRawPointer(data.pointer) + range.lowerBound * rowBytes, to = out.pointer + range.lowerBound * width
            if width == k {
                Dequantize.decode(type, from: from, count: range.count * k, into: to)
            } else {
                for r in 0..<range.count {
                    Dequantize.decode(type, from: from + r * rowBytes, count: width, into: to + r * width)
                }
            }
        }
        if workers == 1 { return decode(0..<rows) }
        DispatchQueue.concurrentPerform(iterations: workers) { w in
            decode(rows * w / workers..<rows * (w + 1) / workers)
        }
    }

    /// `y (+)= x · wᵀ` for fp32 `w` of `outputs` rows of `k` values, rows `ldw` apart.
    private static func multiply(
        rows: Int, x: UnsafePointer<Float>, inputStride: Int, w: UnsafePointer<Float>, ldw: Int, outputs: Int, k: Int,
        accumulate: Bool, y: UnsafeMutablePointer<Float>, outputStride: Int
    ) {
        if rows > 1 {
            BLAS.gemm(
                .asStored, .transposed, m: rows, n: outputs, k: k, a: x, lda: inputStride, b: w, ldb: ldw,
                beta: accumulate ? 1 : 0, c: y, ldc: outputStride)
        } else {
            BLAS.gemv(.asStored, rows: outputs, columns: k, a: w, lda: ldw, x: x, beta: accumulate ? 1 : 0, y: y)
        }
    }
}
