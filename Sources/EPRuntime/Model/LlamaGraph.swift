import EPFormats
import EPTensors
import Foundation

/// The `llama` architecture (SmolLM2, Llama 2/3-style files without RoPE scaling): pre-norm blocks with RMSNorm,
/// RoPE on adjacent pairs (the GGUF converter permutes Q/K rows for it), grouped-query attention, SwiGLU MLP,
/// optional tied embeddings. Weights are decoded to fp32 once, at load.
///
/// Per block, with x the residual stream of M stacked rows:
/// `qkv = rms(x)·w_attn · [Wq; Wk; Wv]ᵀ` (one GEMM), RoPE on q and k, attention per sequence,
/// `x += attn · Woᵀ`, `gu = rms(x)·w_ffn · [Wgate; Wup]ᵀ` (one GEMM), `x += (silu(g) ⊙ u) · Wdownᵀ`.
final class LlamaGraph: TransformerGraph {
    let config: TransformerConfig

    /// One block's weights, each matrix row-major with one row per output.
    struct Block {
        let attentionNorm: FloatBuffer
        let ffnNorm: FloatBuffer
        /// Rows: the query, key, then value projections (`queryWidth + 2·kvWidth` rows of `modelWidth`).
        let qkv: WeightMatrix
        /// `modelWidth` rows of `queryWidth`.
        let output: WeightMatrix
        /// Rows: the gate, then the up projection (`2·ffnWidth` rows of `modelWidth`).
        let gateUp: WeightMatrix
        /// `modelWidth` rows of `ffnWidth`.
        let down: WeightMatrix
    }

    /// The file, kept open: single-row products read its quantized rows.
    let file: GGUFFile
    let embedding: FloatBuffer
    let lmHead: WeightMatrix
    let finalNorm: FloatBuffer
    let blocks: [Block]

    init(gguf: GGUFFile) throws {
        let c = try TransformerConfig(llama: gguf)
        config = c
        file = gguf
        let d = c.modelWidth
        func tensor(_ name: String, _ dims: [Int]) throws -> GGUFTensorInfo {
            let tensor = try gguf.requireTensor(name)
            guard tensor.dimensions == dims else {
                throw FileFormatError(gguf.path, "tensor '\(name)' has shape \(tensor.dimensions), expected \(dims) for this configuration")
            }
            try gguf.checkDecodable(tensor)
            return tensor
        }
        // Every tensor is checked before anything is allocated: the sizes come from the file's metadata.
        let embeddingTensor = try tensor("token_embd.weight", [d, c.vocabularySize])
        let outputTensor = c.tiedEmbeddings ? nil : try tensor("output.weight", [d, c.vocabularySize])
        let finalNormTensor = try tensor("output_norm.weight", [d])
        let blockTensors = try (0..<c.layerCount).map { l in
            let p = "blk.\(l)."
            return try [
                tensor(p + "attn_norm.weight", [d]), tensor(p + "ffn_norm.weight", [d]),
                tensor(p + "attn_q.weight", [d, c.queryWidth]), tensor(p + "attn_k.weight", [d, c.kvWidth]),
                tensor(p + "attn_v.weight", [d, c.kvWidth]), tensor(p + "attn_output.weight", [c.queryWidth, d]),
                tensor(p + "ffn_gate.weight", [d, c.ffnWidth]), tensor(p + "ffn_up.weight", [d, c.ffnWidth]),
                tensor(p + "ffn_down.weight", [c.ffnWidth, d]),
            ]
        }
        var jobs: [(tensor: GGUFTensorInfo, destination: SharedPointer<Float>)] = []
        /// A buffer for the tensors' rows one after the other, queued for decoding.
        func decoded(_ tensors: [GGUFTensorInfo]) -> FloatBuffer {
            let buffer = FloatBuffer(count: tensors.reduce(0) { $0 + $1.elementCount })
            var offset = 0
            for t in tensors {
                jobs.append((t, SharedPointer(pointer: buffer[offset])))
                offset += t.elementCount
            }
            return buffer
        }
        func matrix(_ tensors: [GGUFTensorInfo]) -> WeightMatrix {
            WeightMatrix(values: decoded(tensors), tensors: tensors, file: gguf)
        }
        let embedding = decoded([embeddingTensor])
        self.embedding = embedding
        lmHead = outputTensor.map { matrix([$0]) } ?? WeightMatrix(values: embedding, tensors: [embeddingTensor], file: gguf)
        finalNorm = decoded([finalNormTensor])
        blocks = blockTensors.map { t in
            Block(
                attentionNorm: decoded([t[0]]), ffnNorm: decoded([t[1]]), qkv: matrix([t[2], t[3], t[4]]),
                output: matrix([t[5]]), gateUp: matrix([t[6], t[7]]), down: matrix([t[8]]))
        }
        let work = jobs
        DispatchQueue.concurrentPerform(iterations: work.count) { i in
            // Shapes and types were checked above, so decoding cannot fail.
            try! gguf.dequantize(work[i].tensor, into: work[i].destination.pointer)
        }
    }

    /// Scratch buffers of one group.
    private struct Workspace {
        let x, normed, qkv, attention, projected, gateUp, hidden, scores: FloatBuffer

        init(rows: Int, maxKeys: Int, config c: TransformerConfig) {
            x = FloatBuffer(count: rows * c.modelWidth)
            normed = FloatBuffer(count: rows * c.modelWidth)
            qkv = FloatBuffer(count: rows * (c.queryWidth + 2 * c.kvWidth))
            attention = FloatBuffer(count: rows * c.queryWidth)
            projected = FloatBuffer(count: rows * c.modelWidth)
            gateUp = FloatBuffer(count: rows * 2 * c.ffnWidth)
            hidden = FloatBuffer(count: rows * c.ffnWidth)
            scores = FloatBuffer(count: Attention.scratchCount(Attention.Shape(c), keys: maxKeys))
        }
    }

    func run(_ group: ForwardGroup, plan: ForwardPlan) {
        let c = config
        let d = c.modelWidth, qkvWidth = c.queryWidth + 2 * c.kvWidth
        let m = group.rows
        let maxKeys = group.slices.map { $0.past + $0.tokens.count }.max() ?? 0
        let ws = Workspace(rows: m, maxKeys: maxKeys, config: c)
        let hooks = HookRunner(group: group, plan: plan)
        let firstPosition = group.slices.map(\.past).min() ?? 0
        let rope = RopeTables(config: c, positions: firstPosition..<maxKeys)
        let attentionShape = Attention.Shape(c)
        let x = ws.x.pointer

        for slice in group.slices {
            for (i, token) in slice.tokens.enumerated() {
                (x + (slice.firstRow + i) * d).update(from: embedding[Int(token) * d], count: d)
            }
        }
        guard hooks.reach(.embed, x, width: d) else { return }

        for l in 0..<plan.layersToRun(c.layerCount) {
            let block = blocks[l]
            guard hooks.reach(.residPre(layer: l), x, width: d) else { return }

            VectorMath.rmsNorm(x, into: ws.normed.pointer, rows: m, width: d, stride: d, weight: block.attentionNorm.pointer, epsilon: c.rmsEpsilon)
            Projection.apply(
                rows: m, x: ws.normed.pointer, inputStride: d, weight: block.qkv, y: ws.qkv.pointer, outputStride: qkvWidth)
            for slice in group.slices {
                let rows = ws.qkv[slice.firstRow * qkvWidth]
                rope.apply(rows, rows: slice.tokens.count, stride: qkvWidth, firstPosition: slice.past, config: c)
                // Keys and values: this call's rows, or (generation) the cache, after appending this call's rows.
                var (k, ldk) = (UnsafePointer(rows + c.queryWidth), qkvWidth)
                var (v, ldv) = (UnsafePointer(rows + c.queryWidth + c.kvWidth), qkvWidth)
                if let cache = slice.cache {
                    let keys = cache.keys[l], values = cache.values[l]
                    for i in 0..<slice.tokens.count {
                        keys[(slice.past + i) * c.kvWidth].update(from: k + i * ldk, count: c.kvWidth)
                        values[(slice.past + i) * c.kvWidth].update(from: v + i * ldv, count: c.kvWidth)
                    }
                    (k, ldk, v, ldv) = (UnsafePointer(keys.pointer), c.kvWidth, UnsafePointer(values.pointer), c.kvWidth)
                }
                Attention.run(
                    attentionShape, queries: slice.tokens.count, past: slice.past, q: rows, ldq: qkvWidth, k: k, ldk: ldk,
                    v: v, ldv: ldv, out: ws.attention[slice.firstRow * c.queryWidth], ldo: c.queryWidth,
                    scratch: ws.scores.pointer)
            }
            guard hooks.project(
                ws.attention.pointer, width: c.queryWidth, through: block.output, at: .attnOut(layer: l), into: x,
                scratch: ws.projected.pointer, rows: m, modelWidth: d)
            else { return }
            guard hooks.reach(.residMid(layer: l), x, width: d) else { return }

            VectorMath.rmsNorm(x, into: ws.normed.pointer, rows: m, width: d, stride: d, weight: block.ffnNorm.pointer, epsilon: c.rmsEpsilon)
            Projection.apply(
                rows: m, x: ws.normed.pointer, inputStride: d, weight: block.gateUp, y: ws.gateUp.pointer,
                outputStride: 2 * c.ffnWidth)
            VectorMath.swiGLU(ws.gateUp.pointer, into: ws.hidden.pointer, rows: m, width: c.ffnWidth)
            guard hooks.project(
                ws.hidden.pointer, width: c.ffnWidth, through: block.down, at: .mlpOut(layer: l), into: x,
                scratch: ws.projected.pointer, rows: m, modelWidth: d)
            else { return }
            guard hooks.reach(.residPost(layer: l), x, width: d) else { return }
        }

        let normed = ws.normed.pointer
        VectorMath.rmsNorm(x, into: normed, rows: m, width: d, stride: d, weight: nil, epsilon: c.rmsEpsilon)
        guard hooks.reach(.finalNormalized, normed, width: d), let output = plan.logitOutput else { return }
        VectorMath.multiplyRows(normed, rows: m, width: d, stride: d, by: finalNorm.pointer)
        switch plan.logits {
        case .none:
            return
        case .all:
            Projection.apply(
                rows: m, x: normed, inputStride: d, weight: lmHead, y: output + group.firstOutputRow * c.vocabularySize,
                outputStride: c.vocabularySize)
        case .last:
            // Gather each sequence's last row (into the free projection buffer), then one product.
            let last = ws.projected.pointer
            for (i, slice) in group.slices.enumerated() {
                (last + i * d).update(from: normed + (slice.firstRow + slice.tokens.count - 1) * d, count: d)
            }
            Projection.apply(
                rows: group.slices.count, x: last, inputStride: d, weight: lmHead,
                y: output + group.slices[0].index * c.vocabularySize, outputStride: c.vocabularySize)
        }
    }
}

extension LlamaGraph {
    func unembed(_ x: UnsafePointer<Float>, rows: Int, into logits: UnsafeMutablePointer<Float>) {
        let d = config.modelWidth
        let normed = FloatBuffer(count: rows * d)
        VectorMath.rmsNorm(x, into: normed.pointer, rows: rows, width: d, stride: d, weight: finalNorm.pointer, epsilon: config.rmsEpsilon)
        Projection.apply(rows: rows, x: normed.pointer, inputStride: d, weight: lmHead, y: logits, outputStride: config.vocabularySize)
    }
}

/// Expanded cos/sin tables of RoPE for a range of positions: per position, `headDim` cosines (each pair's
/// repeated twice) and sines as (−s, +s), with 1 and 0 beyond the rotated dimensions.
struct RopeTables {
    let headDim: Int
    let positions: Range<Int>
    let cos: [Float]
    let sin: [Float]

    init(config c: TransformerConfig, positions: Range<Int>) {
        headDim = c.headDim
        self.positions = positions
        var cos = [Float](repeating: 1, count: positions.count * headDim)
        var sin = [Float](repeating: 0, count: positions.count * headDim)
        for i in 0..<(c.ropeDimensions / 2) {
            // θ_i = base^(−2i/n) in double precision, as the oracle (numpy) computes it.
            let frequency = Foundation.pow(c.ropeBase, -Double(2 * i) / Double(c.ropeDimensions))
            for (row, p) in positions.enumerated() {
                let angle = Double(p) * frequency
                let (co, si) = (Float(Foundation.cos(angle)), Float(Foundation.sin(angle)))
                cos[row * headDim + 2 * i] = co
                cos[row * headDim + 2 * i + 1] = co
                sin[row * headDim + 2 * i] = -si
                sin[row * headDim + 2 * i + 1] = si
            }
        }
        self.cos = cos
        self.sin = sin
    }

    /// Rotates the query and key heads of `rows` rows of a fused q|k|v buffer (rows `stride` apart), row `i` at
    /// position `firstPosition + i`.
    func apply(_ qkv: UnsafeMutablePointer<Float>, rows: Int, stride: Int, firstPosition: Int, config c: TransformerConfig) {
        cos.withUnsafeBufferPointer { cosines in
            sin.withUnsafeBufferPointer { sines in
                for i in 0..<rows {
                    let p = (firstPosition + i - positions.lowerBound) * headDim
                    VectorMath.rotate(
                        qkv + i * stride, heads: c.headCount + c.kvHeadCount, headDim: headDim,
                        cos: cosines.baseAddress! + p, sin: sines.baseAddress! + p)
                }
            }
        }
    }
}
