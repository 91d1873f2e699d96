import EPFormats
import EPTensors
import Foundation
import Testing
@testable import EPRuntime

/// A batch runs as groups of sequences, one per thread; a single sequence as one group whose element-wise work,
/// attention (one task per key/value head) and the conversion of 16-bit tiles are split over the threads. Both give the
/// values of one thread doing everything in order.
@Suite struct ForwardThreadingTests {
    /// A Gemma-2-shaped BF16 Hugging Face folder with matrices of ≥ 128 rows (so that tile conversion is split),
    /// sliding windows shorter than the sequences and soft-capping: every per-row and per-head path of the pass.
    static func gemma2Folder() throws -> String {
        let folder = temporaryFolder() + "/gemma2-bf16"
        try FileManager.default.createDirectory(atPath: folder, withIntermediateDirectories: true)
        let (d, heads, kvHeads, headDim, ffn, vocab, blocks) = (64, 4, 2, 32, 256, 300, 2)
        let config = """
            {"model_type": "gemma2", "hidden_size": \(d), "num_hidden_layers": \(blocks), "num_attention_heads": \(heads),
             "num_key_value_heads": \(kvHeads), "head_dim": \(headDim), "intermediate_size": \(ffn), "vocab_size": \(vocab),
             "max_position_embeddings": 256, "rms_norm_eps": 1e-6, "rope_theta": 10000.0, "query_pre_attn_scalar": 32,
             "sliding_window": 6, "attn_logit_softcapping": 20.0, "final_logit_softcapping": 30.0,
             "hidden_activation": "gelu_pytorch_tanh", "tie_word_embeddings": true}
            """
        try AtomicOutput.write(string: config, to: folder + "/config.json")
        var generator = SeededGenerator(seed: 3)
        var writer = SafetensorsWriter()
        func add(_ name: String, _ shape: [Int], scale: Float) {
            let count = shape.reduce(1, *)
            var bytes: [UInt8] = []
            bytes.reserveCapacity(2 * count)
            for _ in 0..<count {
                let bits = HalfPrecision.bfloat16Bits(from: Float.random(in: -1...1, using: &generator) * scale)
                bytes += [UInt8(bits & 0xFF), UInt8(bits >> 8)]
            }
            writer.add(name, dtype: .bfloat16, shape: shape, bytes: bytes)
        }
        add("model.embed_tokens.weight", [vocab, d], scale: 1)
        add("model.norm.weight", [d], scale: 0.2)
        for l in 0..<blocks {
            let p = "model.layers.\(l)."
            for norm in ["input_layernorm", "post_attention_layernorm", "pre_feedforward_layernorm", "post_feedforward_layernorm"] {
                add(p + norm + ".weight", [d], scale: 0.2)
            }
            let s = 1 / Float(d).squareRoot()
            add(p + "self_attn.q_proj.weight", [heads * headDim, d], scale: s)
            add(p + "self_attn.k_proj.weight", [kvHeads * headDim, d], scale: s)
            add(p + "self_attn.v_proj.weight", [kvHeads * headDim, d], scale: s)
            add(p + "self_attn.o_proj.weight", [d, heads * headDim], scale: 1 / Float(heads * headDim).squareRoot())
            add(p + "mlp.gate_proj.weight", [ffn, d], scale: s)
            add(p + "mlp.up_proj.weight", [ffn, d], scale: s)
            add(p + "mlp.down_proj.weight", [d, ffn], scale: 1 / Float(ffn).squareRoot())
        }
        try writer.write(to: folder + "/model.safetensors")
        return folder
    }

    @Test func twoThreadsOnMappedBF16MatchOneThreadOnDecodedWeights() throws {
        let folder = try Self.gemma2Folder()
        let parallel = try LanguageModel(path: folder, threads: 2, storage: .mapped)
        let serial = try LanguageModel(path: folder, threads: 1, storage: .decoded)
        var generator = SeededGenerator(seed: 5)
        let batch: [[Int32]] = [40, 3, 17, 1, 25].map { n in (0..<n).map { _ in Int32.random(in: 0..<300, using: &generator) } }
        let points: [HookPoint] = [.embed, .attnOut(layer: 0), .residPost(layer: 0), .mlpOut(layer: 1), .residPost(layer: 1)]
        let a = try parallel.forward(batch, hooks: Hooks(captures: Set(points)), logits: .all)
        let b = try serial.forward(batch, hooks: Hooks(captures: Set(points)), logits: .all)
        for point in points {
            let x = a.activations[point]!, y = b.activations[point]!
            #expect(maxDifference(x, y) <= 1e-5 * maxMagnitude(y), "\(point.name)")
        }
        #expect(maxDifference(a.logits!, b.logits!) <= 1e-4 * maxMagnitude(b.logits!))
        // A second call of the same shape reuses the first call's scratch memory: same values again.
        let again = try parallel.forward(batch, hooks: Hooks(captures: Set(points)), logits: .all)
        #expect(again.logits!.storage == a.logits!.storage)
        // Each sequence alone gives its rows of the batch.
        for (i, sequence) in batch.enumerated() {
            let alone = try parallel.forward([sequence], hooks: Hooks(captures: [.residPost(layer: 1)]))
            let rows = a.rowOffsets[i]..<a.rowOffsets[i + 1]
            let batched = a.activations[.residPost(layer: 1)]!.rows(rows)
            #expect(maxDifference(alone.activations[.residPost(layer: 1)]!, batched) <= 1e-5 * maxMagnitude(batched))
        }
    }
}
