import EPFormats
import EPTensors
import Foundation

/// The forward pass of every supported architecture (``ModelArchitecture``): one pre-norm decoder block whose
/// variants come from the traits of ``TransformerConfig``. Matrices are decoded to fp32 at load, or (large models,
/// see ``WeightStorage``) left mapped in their stored type and converted panel by panel in each product (``WeightMatrix``).
///
/// Per block, with x the residual stream of M stacked rows and `norm` RMSNorm (LayerNorm for GPT-2):
/// `qkv = norm(x) · [Wq; Wk; Wv]ᵀ (+ b)` (one GEMM), per-head RMSNorm of q and k (Gemma 3), RoPE on q and k
/// (adjacent pairs for GGUF `llama`, NEOX halves otherwise; none for GPT-2's learned positions), attention per
/// sequence (scaled, soft-capped for Gemma 2, windowed on sliding layers), `x += post(attn · Woᵀ (+ b))`,
/// `h = norm(x) · [Wgate; Wup]ᵀ` (one GEMM; GPT-2 has no gate), `x += post(act(h) · Wdownᵀ (+ b))`, where `post`
/// is Gemma's post-norm (identity otherwise) and `act` SwiGLU, GELU-tanh gated, or GELU-tanh.
final class DecoderGraph: TransformerGraph {
    let config: TransformerConfig

    /// A norm's weight, and its bias for LayerNorm.
    struct Norm {
        let weight: FloatBuffer
        let bias: FloatBuffer?
    }

    /// One block's weights, each matrix row-major with one row per output.
    struct Block {
        let attentionNorm: Norm
        /// Rows: the query, key, then value projections (`queryWidth + 2·kvWidth` rows of `modelWidth`).
        let qkv: WeightMatrix
        let qkvBias: FloatBuffer?
        /// Per-head RMSNorm weights of queries and keys (Gemma 3).
        let queryNorm: FloatBuffer?
        let keyNorm: FloatBuffer?
        /// `modelWidth` rows of `queryWidth`.
        let output: WeightMatrix
        let outputBias: FloatBuffer?
        let postAttentionNorm: Norm?
        let ffnNorm: Norm
        /// Rows: the gate, then the up projection (`2·ffnWidth` rows of `modelWidth`); only the up projection when
        /// the MLP has no gate.
        let up: WeightMatrix
        let upBias: FloatBuffer?
        /// `modelWidth` rows of `ffnWidth`.
        let down: WeightMatrix
        let downBias: FloatBuffer?
        let postFFNNorm: Norm?
    }

    /// The tensors' files, kept open: mapped matrices and single-row products read them.
    let weights: ModelWeights
    let embedding: WeightMatrix
    /// Learned position embeddings (GPT-2).
    let positions: WeightMatrix?
    let lmHead: WeightMatrix
    let finalNorm: Norm
    let blocks: [Block]

    init(config c: TransformerConfig, weights: ModelWeights) throws {
        config = c
        self.weights = weights
        let d = c.modelWidth, qkvWidth = c.queryWidth + 2 * c.kvWidth
        var loader = WeightLoader(weights)
        func tensor(_ name: String, _ rows: Int, _ columns: Int) throws -> WeightTensor {
            try weights.require(name, rows: rows, columns: columns)
        }
        func vector(_ name: String, _ count: Int) throws -> FloatBuffer {
            loader.decoded([try tensor(name, 1, count)])
        }
        func norm(_ name: String) throws -> Norm {
            Norm(weight: try vector(name + ".weight", d), bias: c.norm == .layer ? try vector(name + ".bias", d) : nil)
        }
        embedding = loader.matrix([try tensor("token_embd.weight", c.vocabularySize, d)])
        positions = c.positionEncoding == .learned ? loader.matrix([try tensor("position_embd.weight", c.contextLength, d)]) : nil
        lmHead = c.tiedEmbeddings ? embedding : loader.matrix([try tensor("output.weight", c.vocabularySize, d)])
        finalNorm = try norm("output_norm")
        blocks = try (0..<c.layerCount).map { l in
            let p = "blk.\(l)."
            let attentionNorm = try norm(p + "attn_norm")
            let fused = weights.has(p + "attn_qkv.weight")
            let qkv = fused
                ? [try tensor(p + "attn_qkv.weight", qkvWidth, d)]
                : [try tensor(p + "attn_q.weight", c.queryWidth, d), try tensor(p + "attn_k.weight", c.kvWidth, d),
                   try tensor(p + "attn_v.weight", c.kvWidth, d)]
            var qkvBias: FloatBuffer?
            if c.hasQKVBias {
                qkvBias = fused
                    ? try vector(p + "attn_qkv.bias", qkvWidth)
                    : loader.decoded([try tensor(p + "attn_q.bias", 1, c.queryWidth), try tensor(p + "attn_k.bias", 1, c.kvWidth),
                                      try tensor(p + "attn_v.bias", 1, c.kvWidth)])
            }
            let up = c.isGated
                ? [try tensor(p + "ffn_gate.weight", c.ffnWidth, d), try tensor(p + "ffn_up.weight", c.ffnWidth, d)]
                : [try tensor(p + "ffn_up.weight", c.ffnWidth, d)]
            return Block(
                attentionNorm: attentionNorm, qkv: loader.matrix(qkv), qkvBias: qkvBias,
                queryNorm: c.hasQKNorm ? try vector(p + "attn_q_norm.weight", c.headDim) : nil,
                keyNorm: c.hasQKNorm ? try vector(p + "attn_k_norm.weight", c.headDim) : nil,
                output: loader.matrix([try tensor(p + "attn_output.weight", d, c.queryWidth)]),
                outputBias: c.hasOutputBiases ? try vector(p + "attn_output.bias", d) : nil,
                postAttentionNorm: c.hasPostNorms ? try norm(p + "post_attention_norm") : nil,
                ffnNorm: try norm(p + "ffn_norm"), up: loader.matrix(up),
                upBias: c.hasOutputBiases ? try vector(p + "ffn_up.bias", c.ffnWidth) : nil,
                down: loader.matrix([try tensor(p + "ffn_down.weight", d, c.ffnWidth)]),
                downBias: c.hasOutputBiases ? try vector(p + "ffn_down.bias", d) : nil,
                postFFNNorm: c.hasPostNorms ? try norm(p + "post_ffw_norm") : nil)
        }
        loader.decodeAll()
    }

    /// Normalises `rows` rows of `x` into `out` (which may be `x`) with `norm`'s weight and bias, or with none.
    private func normalize(_ x: UnsafePointer<Float>, into out: UnsafeMutablePointer<Float>, rows: Int, _ norm: Norm?) {
        let d = config.modelWidth
        switch config.norm {
        case .rms:
            VectorMath.rmsNorm(x, into: out, rows: rows, width: d, stride: d, weight: norm?.weight.pointer, epsilon: config.rmsEpsilon)
        case .layer:
            VectorMath.layerNorm(
                x, into: out, rows: rows, width: d, stride: d, weight: norm?.weight.pointer, bias: norm?.bias?.pointer,
                epsilon: config.rmsEpsilon)
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
            gateUp = FloatBuffer(count: rows * (c.isGated ? 2 : 1) * c.ffnWidth)
            hidden = FloatBuffer(count: c.isGated ? rows * c.ffnWidth : 0)
            let shape = Attention.Shape(c, layer: 0)
            scores = FloatBuffer(count: Attention.scratchCount(shape, keys: maxKeys))
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
        let rope = RopeTables(config: c, base: c.ropeBase, positions: firstPosition..<maxKeys)
        let slidingRope = c.slidingRopeBase.map { RopeTables(config: c, base: $0, positions: firstPosition..<maxKeys) }
        let x = ws.x.pointer

        for slice in group.slices {
            for (i, token) in slice.tokens.enumerated() {
                let row = x + (slice.firstRow + i) * d
                embedding.row(Int(token), into: row)
                if let scale = c.embeddingScale { Kernels.scale(row, by: scale, count: d) }
                if let positions {
                    positions.row(slice.past + i, into: ws.normed.pointer)
                    Kernels.add(ws.normed.pointer, into: row, count: d)
                }
            }
        }
        guard hooks.reach(.embed, x, width: d) else { return }

        for l in 0..<plan.layersToRun(c.layerCount) {
            let block = blocks[l]
            guard hooks.reach(.residPre(layer: l), x, width: d) else { return }

            normalize(x, into: ws.normed.pointer, rows: m, block.attentionNorm)
            Projection.apply(
                rows: m, x: ws.normed.pointer, inputStride: d, weight: block.qkv, y: ws.qkv.pointer, outputStride: qkvWidth)
            if let bias = block.qkvBias {
                VectorMath.addRows(ws.qkv.pointer, rows: m, width: qkvWidth, stride: qkvWidth, bias: bias.pointer)
            }
            if let queryNorm = block.queryNorm, let keyNorm = block.keyNorm {
                for r in 0..<m {
                    let q = ws.qkv[r * qkvWidth]
                    VectorMath.rmsNorm(q, into: q, rows: c.headCount, width: c.headDim, stride: c.headDim, weight: queryNorm.pointer, epsilon: c.rmsEpsilon)
                    let k = q + c.queryWidth
                    VectorMath.rmsNorm(k, into: k, rows: c.kvHeadCount, width: c.headDim, stride: c.headDim, weight: keyNorm.pointer, epsilon: c.rmsEpsilon)
                }
            }
            let layerRope = c.slidingLayers[l] ? slidingRope ?? rope : rope
            let attentionShape = Attention.Shape(c, layer: l)
            for slice in group.slices {
                let rows = ws.qkv[slice.firstRow * qkvWidth]
                layerRope?.apply(rows, rows: slice.tokens.count, stride: qkvWidth, firstPosition: slice.past)
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
                ws.attention.pointer, width: c.queryWidth, through: block.output, bias: block.outputBias?.pointer,
                finish: block.postAttentionNorm.map { norm in { self.normalize($0, into: $0, rows: m, norm) } },
                at: .attnOut(layer: l), into: x, scratch: ws.projected.pointer, rows: m, modelWidth: d)
            else { return }
            guard hooks.reach(.residMid(layer: l), x, width: d) else { return }

            normalize(x, into: ws.normed.pointer, rows: m, block.ffnNorm)
            let upWidth = (c.isGated ? 2 : 1) * c.ffnWidth
            Projection.apply(
                rows: m, x: ws.normed.pointer, inputStride: d, weight: block.up, y: ws.gateUp.pointer, outputStride: upWidth)
            let hidden: UnsafeMutablePointer<Float>
            switch c.feedForward {
            case .swiGLU:
                VectorMath.swiGLU(ws.gateUp.pointer, into: ws.hidden.pointer, rows: m, width: c.ffnWidth)
                hidden = ws.hidden.pointer
            case .geluTanhGated:
                VectorMath.geluTanhGated(ws.gateUp.pointer, into: ws.hidden.pointer, rows: m, width: c.ffnWidth)
                hidden = ws.hidden.pointer
            case .geluTanh:
                if let bias = block.upBias {
                    VectorMath.addRows(ws.gateUp.pointer, rows: m, width: c.ffnWidth, stride: c.ffnWidth, bias: bias.pointer)
                }
                VectorMath.geluTanh(ws.gateUp.pointer, count: m * c.ffnWidth)
                hidden = ws.gateUp.pointer
            }
            guard hooks.project(
                hidden, width: c.ffnWidth, through: block.down, bias: block.downBias?.pointer,
                finish: block.postFFNNorm.map { norm in { self.normalize($0, into: $0, rows: m, norm) } },
                at: .mlpOut(layer: l), into: x, scratch: ws.projected.pointer, rows: m, modelWidth: d)
            else { return }
            guard hooks.reach(.residPost(layer: l), x, width: d) else { return }
        }

        let normed = ws.normed.pointer
        normalize(x, into: normed, rows: m, nil)
        guard hooks.reach(.finalNormalized, normed, width: d), let output = plan.logitOutput else { return }
        VectorMath.multiplyRows(normed, rows: m, width: d, stride: d, by: finalNorm.weight.pointer)
        if let bias = finalNorm.bias { VectorMath.addRows(normed, rows: m, width: d, stride: d, bias: bias.pointer) }
        let logits: UnsafeMutablePointer<Float>, logitRows: Int
        switch plan.logits {
        case .none:
            return
        case .all:
            logits = output + group.firstOutputRow * c.vocabularySize
            logitRows = m
            Projection.apply(rows: m, x: normed, inputStride: d, weight: lmHead, y: logits, outputStride: c.vocabularySize)
        case .last:
            // Gather each sequence's last row (into the free projection buffer), then one product.
            let last = ws.projected.pointer
            for (i, slice) in group.slices.enumerated() {
                (last + i * d).update(from: normed + (slice.firstRow + slice.tokens.count - 1) * d, count: d)
            }
            logits = output + group.slices[0].index * c.vocabularySize
            logitRows = group.slices.count
            Projection.apply(rows: logitRows, x: last, inputStride: d, weight: lmHead, y: logits, outputStride: c.vocabularySize)
        }
        if let cap = c.finalLogitSoftcap { VectorMath.softcap(logits, count: logitRows * c.vocabularySize, cap: cap) }
    }

    /// The final norm with its weight (and bias), then the LM head. Gemma 2's final-logit soft-capping is not
    /// applied: the logit lens reads the head's raw scores (capping only squashes them, keeping their order).
    func unembed(_ x: UnsafePointer<Float>, rows: Int, into logits: UnsafeMutablePointer<Float>) {
        let d = config.modelWidth
        let normed = FloatBuffer(count: rows * d)
        normalize(x, into: normed.pointer, rows: rows, finalNorm)
        Projection.apply(rows: rows, x: normed.pointer, inputStride: d, weight: lmHead, y: logits, outputStride: config.vocabularySize)
    }
}

/// Cosine and sine tables of RoPE for a range of positions and one frequency base, in the layout of the model's
/// pairing: for adjacent pairs, per position `headDim` cosines (each pair's repeated twice) and sines as (−s, +s),
/// with 1 and 0 beyond the rotated dimensions; for NEOX halves, per position `ropeDimensions / 2` cosines and sines.
struct RopeTables {
    let config: TransformerConfig
    let positions: Range<Int>
    /// Table entries per position.
    let width: Int
    let cos: [Float]
    let sin: [Float]

    /// The tables of `config`'s RoPE with base `base`, or nil for a model without RoPE.
    init?(config c: TransformerConfig, base: Double, positions: Range<Int>) {
        guard c.positionEncoding != .learned else { return nil }
        config = c
        self.positions = positions
        let pairs = c.ropeDimensions / 2
        let halves = c.positionEncoding == .ropeHalves
        width = halves ? pairs : c.headDim
        var cos = [Float](repeating: 1, count: positions.count * width)
        var sin = [Float](repeating: 0, count: positions.count * width)
        for i in 0..<pairs {
            // θ_i = base^(−2i/n) in double precision, as the oracle (numpy) computes it.
            let frequency = Foundation.pow(base, -Double(2 * i) / Double(c.ropeDimensions))
            for (row, p) in positions.enumerated() {
                let angle = Double(p) * frequency
                let (co, si) = (Float(Foundation.cos(angle)), Float(Foundation.sin(angle)))
                if halves {
                    cos[row * width + i] = co
                    sin[row * width + i] = si
                } else {
                    cos[row * width + 2 * i] = co
                    cos[row * width + 2 * i + 1] = co
                    sin[row * width + 2 * i] = -si
                    sin[row * width + 2 * i + 1] = si
                }
            }
        }
        self.cos = cos
        self.sin = sin
    }

    /// Rotates the query and key heads of `rows` rows of a fused q|k|v buffer (rows `stride` apart), row `i` at
    /// position `firstPosition + i`.
    func apply(_ qkv: UnsafeMutablePointer<Float>, rows: Int, stride: Int, firstPosition: Int) {
        let c = config
        cos.withUnsafeBufferPointer { cosines in
            sin.withUnsafeBufferPointer { sines in
                for i in 0..<rows {
                    let p = (firstPosition + i - positions.lowerBound) * width
                    if c.positionEncoding == .ropeHalves {
                        VectorMath.rotateHalves(
                            qkv + i * stride, heads: c.headCount + c.kvHeadCount, headDim: c.headDim, half: width,
                            cos: cosines.baseAddress! + p, sin: sines.baseAddress! + p)
                    } else {
                        VectorMath.rotate(
                            qkv + i * stride, heads: c.headCount + c.kvHeadCount, headDim: c.headDim,
                            cos: cosines.baseAddress! + p, sin: sines.baseAddress! + p)
                    }
                }
            }
        }
    }
}
