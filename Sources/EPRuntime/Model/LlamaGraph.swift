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
        var attentionNorm: FloatBuffer
        var ffnNorm: FloatBuffer
        /// Rows: the query, key, then value projections (`queryWidth + 2·kvWidth` rows of `modelWidth`).
        var qkv: FloatBuffer
        /// `modelWidth` rows of `queryWidth`.
        var output: FloatBuffer
        /// Rows: the gate, then the up projection (`2·ffnWidth` rows of `modelWidth`).
        var gateUp: FloatBuffer
        /// `modelWidth` rows of `ffnWidth`.
        var down: FloatBuffer
    }

    let embedding: FloatBuffer
    let lmHead: FloatBuffer
    let finalNorm: FloatBuffer
    let blocks: [Block]
    let rope: RopeTables

    init(gguf: GGUFFile) throws {
        let c = try TransformerConfig(llama: gguf)
        config = c
        var jobs: [(GGUFTensorInfo, UnsafeMutablePointer<Float>)] = []
        func load(_ name: String, _ dims: [Int], into buffer: FloatBuffer, at offset: Int = 0) throws {
            let tensor = try gguf.requireTensor(name)
            guard tensor.dimensions == dims else {
                throw FileFormatError(gguf.path, "tensor '\(name)' has shape \(tensor.dimensions), expected \(dims) for this configuration")
            }
            try gguf.checkDecodable(tensor)
            precondition(offset + tensor.elementCount <= buffer.count)
            jobs.append((tensor, buffer[offset]))
        }
        let d = c.modelWidth
        func buffer(_ count: Int) -> FloatBuffer { FloatBuffer(count: count) }
        embedding = buffer(c.vocabularySize * d)
        try load("token_embd.weight", [d, c.vocabularySize], into: embedding)
        if c.tiedEmbeddings {
            lmHead = embedding
        } else {
            lmHead = buffer(c.vocabularySize * d)
            try load("output.weight", [d, c.vocabularySize], into: lmHead)
        }
        finalNorm = buffer(d)
        try load("output_norm.weight", [d], into: finalNorm)
        var blocks: [Block] = []
        for l in 0..<c.layerCount {
            let p = "blk.\(l)."
            let block = Block(
                attentionNorm: buffer(d), ffnNorm: buffer(d), qkv: buffer((c.queryWidth + 2 * c.kvWidth) * d),
                output: buffer(d * c.queryWidth), gateUp: buffer(2 * c.ffnWidth * d), down: buffer(d * c.ffnWidth))
            try load(p + "attn_norm.weight", [d], into: block.attentionNorm)
            try load(p + "ffn_norm.weight", [d], into: block.ffnNorm)
            try load(p + "attn_q.weight", [d, c.queryWidth], into: block.qkv)
            try load(p + "attn_k.weight", [d, c.kvWidth], into: block.qkv, at: c.queryWidth * d)
            try load(p + "attn_v.weight", [d, c.kvWidth], into: block.qkv, at: (c.queryWidth + c.kvWidth) * d)
            try load(p + "attn_output.weight", [c.queryWidth, d], into: block.output)
            try load(p + "ffn_gate.weight", [d, c.ffnWidth], into: block.gateUp)
            try load(p + "ffn_up.weight", [d, c.ffnWidth], into: block.gateUp, at: c.ffnWidth * d)
            try load(p + "ffn_down.weight", [c.ffnWidth, d], into: block.down)
            blocks.append(block)
        }
        self.blocks = blocks
        let work = jobs.map { (tensor: $0.0, destination: SharedPointer(pointer: $0.1)) }
        DispatchQueue.concurrentPerform(iterations: work.count) { i in
            // Shapes and types were checked above, so decoding cannot fail.
            try! gguf.dequantize(work[i].tensor, into: work[i].destination.pointer)
        }
        rope = RopeTables(config: c)
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
            scores = FloatBuffer(count: Attention.scratchCount(keys: maxKeys))
        }
    }

    func run(_ group: ForwardGroup, plan: ForwardPlan) {
        let c = config
        let d = c.modelWidth, qkvWidth = c.queryWidth + 2 * c.kvWidth
        let m = group.rows
        let maxKeys = group.slices.map { $0.past + $0.tokens.count }.max() ?? 0
        let ws = Workspace(rows: m, maxKeys: maxKeys, config: c)
        let hooks = HookRunner(group: group, plan: plan)
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
            BLAS.gemm(.asStored, .transposed, m: m, n: qkvWidth, k: d, a: ws.normed.pointer, lda: d, b: block.qkv.pointer, ldb: d, c: ws.qkv.pointer, ldc: qkvWidth)
            for slice in group.slices {
                let rows = ws.qkv[slice.firstRow * qkvWidth]
                rope.apply(rows, rows: slice.tokens.count, stride: qkvWidth, firstPosition: slice.past, config: c)
                let attention = ws.attention[slice.firstRow * c.queryWidth]
                let shape = Attention.Shape(heads: c.headCount, kvHeads: c.kvHeadCount, headDim: c.headDim)
                if let cache = slice.cache {
                    let keys = cache.keys[l][slice.past * c.kvWidth], values = cache.values[l][slice.past * c.kvWidth]
                    for i in 0..<slice.tokens.count {
                        (keys + i * c.kvWidth).update(from: rows + i * qkvWidth + c.queryWidth, count: c.kvWidth)
                        (values + i * c.kvWidth).update(from: rows + i * qkvWidth + c.queryWidth + c.kvWidth, count: c.kvWidth)
                    }
                    Attention.run(
                        shape, queries: slice.tokens.count, past: slice.past, q: rows, ldq: qkvWidth,
                        k: cache.keys[l].pointer, ldk: c.kvWidth, v: cache.values[l].pointer, ldv: c.kvWidth,
                        out: attention, ldo: c.queryWidth, scratch: ws.scores.pointer)
                } else {
                    Attention.run(
                        shape, queries: slice.tokens.count, past: 0, q: rows, ldq: qkvWidth,
                        k: rows + c.queryWidth, ldk: qkvWidth, v: rows + c.queryWidth + c.kvWidth, ldv: qkvWidth,
                        out: attention, ldo: c.queryWidth, scratch: ws.scores.pointer)
                }
            }
            guard hooks.project(
                ws.attention.pointer, width: c.queryWidth, through: block.output, at: .attnOut(layer: l), into: x,
                scratch: ws.projected.pointer, rows: m, modelWidth: d)
            else { return }
            guard hooks.reach(.residMid(layer: l), x, width: d) else { return }

            VectorMath.rmsNorm(x, into: ws.normed.pointer, rows: m, width: d, stride: d, weight: block.ffnNorm.pointer, epsilon: c.rmsEpsilon)
            BLAS.gemm(.asStored, .transposed, m: m, n: 2 * c.ffnWidth, k: d, a: ws.normed.pointer, lda: d, b: block.gateUp.pointer, ldb: d, c: ws.gateUp.pointer, ldc: 2 * c.ffnWidth)
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
            BLAS.gemm(
                .asStored, .transposed, m: m, n: c.vocabularySize, k: d, a: normed, lda: d, b: lmHead.pointer, ldb: d,
                c: output + group.firstOutputRow * c.vocabularySize, ldc: c.vocabularySize)
        case .last:
            // Gather each sequence's last row (into the free projection buffer), then one product.
            let last = ws.projected.pointer
            for (i, slice) in group.slices.enumerated() {
                (last + i * d).update(from: normed + (slice.firstRow + slice.tokens.count - 1) * d, count: d)
            }
            BLAS.gemm(
                .asStored, .transposed, m: group.slices.count, n: c.vocabularySize, k: d, a: last, lda: d,
                b: lmHead.pointer, ldb: d, c: output + group.slices[0].index * c.vocabularySize, ldc: c.vocabularySize)
        }
    }
}

/// Expanded cos/sin tables of RoPE for every position of the context: per position, `headDim` cosines (each
/// pair's repeated twice) and sines as (−s, +s), with 1 and 0 beyond the rotated dimensions.
struct RopeTables: Sendable {
    let headDim: Int
    let positions: Int
    let cos: [Float]
    let sin: [Float]

    init(config c: TransformerConfig) {
        headDim = c.headDim
        positions = c.contextLength
        var cos = [Float](repeating: 1, count: positions * headDim)
        var sin = [Float](repeating: 0, count: positions * headDim)
        for i in 0..<(c.ropeDimensions / 2) {
            // θ_i = base^(−2i/n) in double precision, as the oracle (numpy) computes it.
            let frequency = Foundation.pow(c.ropeBase, -Double(2 * i) / Double(c.ropeDimensions))
            for p in 0..<positions {
                let angle = Double(p) * frequency
                let (co, si) = (Float(Foundation.cos(angle)), Float(Foundation.sin(angle)))
                cos[p * headDim + 2 * i] = co
                cos[p * headDim + 2 * i + 1] = co
                sin[p * headDim + 2 * i] = -si
                sin[p * headDim + 2 * i + 1] = si
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
                    let p = (firstPosition + i) * headDim
                    let row = qkv + i * stride
                    VectorMath.rotate(row, heads: c.headCount + c.kvHeadCount, headDim: headDim, cos: cosines.baseAddress! + p, sin: sines.baseAddress! + p)
                }
            }
        }
    }
}
