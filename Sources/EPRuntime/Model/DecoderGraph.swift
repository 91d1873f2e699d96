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

    /// Normalises `rows` rows of `x` into `out` (which may be `x`) with `norm`'s weight and bias, or with none, on
    /// up to `threads` threads.
    private func normalize(_ x: UnsafePointer<Float>, into out: UnsafeMutablePointer<Float>, rows: Int, _ norm: Norm?, threads: Int = 1) {
        let c = config, d = c.modelWidth
        let (input, output) = (SharedPointer(pointer: UnsafeMutablePointer(mutating: x)), SharedPointer(pointer: out))
        Self.parallel(rows, threads: threads) { range in
            let x = UnsafePointer(input.pointer) + range.lowerBound * d, out = output.pointer + range.lowerBound * d
            switch c.norm {
            case .rms:
                VectorMath.rmsNorm(x, into: out, rows: range.count, width: d, stride: d, weight: norm?.weight.pointer, epsilon: c.rmsEpsilon)
            case .layer:
                VectorMath.layerNorm(
                    x, into: out, rows: range.count, width: d, stride: d, weight: norm?.weight.pointer, bias: norm?.bias?.pointer,
                    epsilon: c.rmsEpsilon)
            }
        }
    }

    /// Runs `body` on contiguous ranges that split `0..<count` into one per thread (fewer when a range would have
    /// fewer than `minimum` items), concurrently; returns when all are done. Each item is processed by exactly one
    /// call, so results do not depend on the split.
    static func parallel(_ count: Int, threads: Int, minimum: Int = 4, _ body: (Range<Int>) -> Void) {
        let workers = max(1, min(threads, count / max(1, minimum)))
        if workers == 1 {
            if count > 0 { body(0..<count) }
            return
        }
        withoutActuallyEscaping(body) { escapable in
            let shared = UncheckedBody(body: escapable)
            DispatchQueue.concurrentPerform(iterations: workers) { w in
                shared.body(count * w / workers..<count * (w + 1) / workers)
            }
        }
    }

    /// A closure handed to worker threads that touch disjoint data.
    private struct UncheckedBody: @unchecked Sendable {
        let body: (Range<Int>) -> Void
    }

    /// Scratch buffers of one group: the activations of `rows` rows, and attention scratch for `workers` threads
    /// whose queries see up to `maxKeys` keys.
    private final class Workspace: @unchecked Sendable {
        let rows, maxKeys, workers: Int
        let x, normed, qkv, attention, projected, gateUp, hidden, scores: FloatBuffer
        /// Floats of attention scratch per worker.
        let scoresPerWorker: Int

        init(rows: Int, maxKeys: Int, workers: Int, config c: TransformerConfig) {
            (self.rows, self.maxKeys, self.workers) = (rows, maxKeys, workers)
            x = FloatBuffer(count: rows * c.modelWidth)
            normed = FloatBuffer(count: rows * c.modelWidth)
            qkv = FloatBuffer(count: rows * (c.queryWidth + 2 * c.kvWidth))
            attention = FloatBuffer(count: rows * c.queryWidth)
            projected = FloatBuffer(count: rows * c.modelWidth)
            gateUp = FloatBuffer(count: rows * (c.isGated ? 2 : 1) * c.ffnWidth)
            hidden = FloatBuffer(count: c.isGated ? rows * c.ffnWidth : 0)
            scoresPerWorker = Attention.scratchCount(Attention.Shape(c, layer: 0), keys: maxKeys)
            scores = FloatBuffer(count: workers * scoresPerWorker)
        }

        /// Whether this workspace serves a call of `rows` rows, `maxKeys` keys and `workers` threads without holding
        /// much more memory than the call needs.
        func fits(rows: Int, maxKeys: Int, workers: Int) -> Bool {
            self.rows >= rows && self.rows <= 2 * rows + 64 && self.maxKeys >= maxKeys && self.workers >= workers
        }
    }

    /// Workspaces of earlier calls, for the next calls of a stream of equally shaped batches (fresh memory for every
    /// call costs page faults: a few per cent of a small model's pass).
    private final class WorkspacePool: @unchecked Sendable {
        private let lock = NSLock()
        private var spares: [Workspace] = []

        func take(rows: Int, maxKeys: Int, workers: Int, config: TransformerConfig) -> Workspace {
            lock.lock()
            if let i = spares.firstIndex(where: { $0.fits(rows: rows, maxKeys: maxKeys, workers: workers) }) {
                defer { lock.unlock() }
                return spares.remove(at: i)
            }
            lock.unlock()
            return Workspace(rows: rows, maxKeys: maxKeys, workers: workers, config: config)
        }

        /// Keeps `workspace` for a later call, with at most three others (the latest: one per group of a call).
        func give(_ workspace: Workspace) {
            lock.lock()
            defer { lock.unlock() }
            spares.append(workspace)
            if spares.count > 4 { spares.removeFirst(spares.count - 4) }
        }
    }

    private let workspaces = WorkspacePool()

    func run(_ group: ForwardGroup, plan: ForwardPlan) {
        let c = config
        let d = c.modelWidth, qkvWidth = c.queryWidth + 2 * c.kvWidth
        let m = group.rows
        let threads = group.threads
        let maxKeys = group.slices.map { $0.past + $0.tokens.count }.max() ?? 0
        let ws = workspaces.take(rows: m, maxKeys: maxKeys, workers: threads, config: c)
        defer { workspaces.give(ws) }
        let hooks = HookRunner(group: group, plan: plan)
        let firstPosition = group.slices.map(\.past).min() ?? 0
        let rope = RopeTables(config: c, base: c.ropeBase, positions: firstPosition..<maxKeys)
        let slidingRope = c.slidingRopeBase.map { RopeTables(config: c, base: $0, positions: firstPosition..<maxKeys) }
        let x = ws.x.pointer
        // Per row: its slice and position.
        var rowSlice = [Int](), rowPosition = [Int]()
        rowSlice.reserveCapacity(m)
        rowPosition.reserveCapacity(m)
        for (s, slice) in group.slices.enumerated() {
            for i in 0..<slice.tokens.count {
                rowSlice.append(s)
                rowPosition.append(slice.past + i)
            }
        }
        let scratchRows = SharedPointer(pointer: ws.normed.pointer), xRows = SharedPointer(pointer: x)
        Self.parallel(m, threads: threads, minimum: 16) { range in
            for r in range {
                let slice = group.slices[rowSlice[r]], row = xRows.pointer + r * d
                let i = rowPosition[r] - slice.past
                embedding.row(Int(slice.tokens[i]), into: row)
                if let scale = c.embeddingScale { Kernels.scale(row, by: scale, count: d) }
                if let positions {
                    let scratch = scratchRows.pointer + r * d
                    positions.row(rowPosition[r], into: scratch)
                    Kernels.add(scratch, into: row, count: d)
                }
            }
        }
        guard hooks.reach(.embed, x, width: d) else { return }

        let qkvRows = SharedPointer(pointer: ws.qkv.pointer), attentionRows = SharedPointer(pointer: ws.attention.pointer)
        let scores = SharedPointer(pointer: ws.scores.pointer)
        for l in 0..<plan.layersToRun(c.layerCount) {
            let block = blocks[l]
            guard hooks.reach(.residPre(layer: l), x, width: d) else { return }

            normalize(x, into: ws.normed.pointer, rows: m, block.attentionNorm, threads: threads)
            Projection.apply(
                rows: m, x: ws.normed.pointer, inputStride: d, weight: block.qkv, y: ws.qkv.pointer, outputStride: qkvWidth)
            let layerRope = c.slidingLayers[l] ? slidingRope ?? rope : rope
            // Per row: bias, per-head norms of queries and keys (Gemma 3), RoPE.
            Self.parallel(m, threads: threads, minimum: 16) { range in
                let rows = qkvRows.pointer + range.lowerBound * qkvWidth
                if let bias = block.qkvBias {
                    VectorMath.addRows(rows, rows: range.count, width: qkvWidth, stride: qkvWidth, bias: bias.pointer)
                }
                if let queryNorm = block.queryNorm, let keyNorm = block.keyNorm {
                    for r in 0..<range.count {
                        let q = rows + r * qkvWidth
                        VectorMath.rmsNorm(q, into: q, rows: c.headCount, width: c.headDim, stride: c.headDim, weight: queryNorm.pointer, epsilon: c.rmsEpsilon)
                        let k = q + c.queryWidth
                        VectorMath.rmsNorm(k, into: k, rows: c.kvHeadCount, width: c.headDim, stride: c.headDim, weight: keyNorm.pointer, epsilon: c.rmsEpsilon)
                    }
                }
                if let layerRope {
                    for r in range {
                        layerRope.apply(qkvRows.pointer + r * qkvWidth, rows: 1, stride: qkvWidth, firstPosition: rowPosition[r])
                    }
                }
            }
            // Keys and values of each slice: this call's rows, or (generation) the cache, after appending them.
            var keyValues: [(k: SharedPointer<Float>, ldk: Int, v: SharedPointer<Float>, ldv: Int)] = []
            for slice in group.slices {
                let rows = ws.qkv[slice.firstRow * qkvWidth]
                if let cache = slice.cache {
                    let keys = cache.keys[l], values = cache.values[l]
                    for i in 0..<slice.tokens.count {
                        keys[(slice.past + i) * c.kvWidth].update(from: rows + c.queryWidth + i * qkvWidth, count: c.kvWidth)
                        values[(slice.past + i) * c.kvWidth].update(from: rows + c.queryWidth + c.kvWidth + i * qkvWidth, count: c.kvWidth)
                    }
                    keyValues.append((SharedPointer(pointer: keys.pointer), c.kvWidth, SharedPointer(pointer: values.pointer), c.kvWidth))
                } else {
                    keyValues.append((SharedPointer(pointer: rows + c.queryWidth), qkvWidth, SharedPointer(pointer: rows + c.queryWidth + c.kvWidth), qkvWidth))
                }
            }
            // One task per slice and key/value head; each worker takes every `workers`-th task with its own scratch,
            // BLAS on one thread meanwhile (the workers are the threads).
            let attentionShape = Attention.Shape(c, layer: l)
            let tasks = group.slices.count * c.kvHeadCount
            let workers = min(threads, tasks)
            let attend = { (worker: Int) in
                for task in stride(from: worker, to: tasks, by: workers) {
                    let (s, g) = task.quotientAndRemainder(dividingBy: c.kvHeadCount)
                    let slice = group.slices[s], kv = keyValues[s]
                    Attention.run(
                        attentionShape, queries: slice.tokens.count, past: slice.past,
                        q: qkvRows.pointer + slice.firstRow * qkvWidth, ldq: qkvWidth, k: kv.k.pointer, ldk: kv.ldk,
                        v: kv.v.pointer, ldv: kv.ldv, out: attentionRows.pointer + slice.firstRow * c.queryWidth, ldo: c.queryWidth,
                        scratch: scores.pointer + worker * ws.scoresPerWorker, kvHeads: g..<(g + 1))
                }
            }
            if workers > 1 {
                Parallel.withSingleThreadedBLAS { Self.parallel(workers, threads: workers, minimum: 1) { attend($0.lowerBound) } }
            } else {
                attend(0)
            }
            let finishAttention = block.postAttentionNorm.map { norm in { self.normalize($0, into: $0, rows: m, norm, threads: threads) } }
            guard hooks.project(
                ws.attention.pointer, width: c.queryWidth, through: block.output, bias: block.outputBias?.pointer,
                finish: finishAttention, at: .attnOut(layer: l), into: x, scratch: ws.projected.pointer, rows: m, modelWidth: d)
            else { return }
            guard hooks.reach(.residMid(layer: l), x, width: d) else { return }

            normalize(x, into: ws.normed.pointer, rows: m, block.ffnNorm, threads: threads)
            let upWidth = (c.isGated ? 2 : 1) * c.ffnWidth
            Projection.apply(
                rows: m, x: ws.normed.pointer, inputStride: d, weight: block.up, y: ws.gateUp.pointer, outputStride: upWidth)
            let gateUp = SharedPointer(pointer: ws.gateUp.pointer), hiddenRows = SharedPointer(pointer: ws.hidden.pointer)
            let f = c.ffnWidth
            Self.parallel(m, threads: threads, minimum: 8) { range in
                let r0 = range.lowerBound
                switch c.feedForward {
                case .swiGLU:
                    VectorMath.swiGLU(gateUp.pointer + r0 * 2 * f, into: hiddenRows.pointer + r0 * f, rows: range.count, width: f)
                case .geluTanhGated:
                    VectorMath.geluTanhGated(gateUp.pointer + r0 * 2 * f, into: hiddenRows.pointer + r0 * f, rows: range.count, width: f)
                case .geluTanh:
                    if let bias = block.upBias {
                        VectorMath.addRows(gateUp.pointer + r0 * f, rows: range.count, width: f, stride: f, bias: bias.pointer)
                    }
                    VectorMath.geluTanh(gateUp.pointer + r0 * f, count: range.count * f)
                }
            }
            let hidden = c.feedForward == .geluTanh ? ws.gateUp.pointer : ws.hidden.pointer
            let finishMLP = block.postFFNNorm.map { norm in { self.normalize($0, into: $0, rows: m, norm, threads: threads) } }
            guard hooks.project(
                hidden, width: c.ffnWidth, through: block.down, bias: block.downBias?.pointer,
                finish: finishMLP, at: .mlpOut(layer: l), into: x, scratch: ws.projected.pointer, rows: m, modelWidth: d)
            else { return }
            guard hooks.reach(.residPost(layer: l), x, width: d) else { return }
        }

        let normed = ws.normed.pointer
        normalize(x, into: normed, rows: m, nil, threads: threads)
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
