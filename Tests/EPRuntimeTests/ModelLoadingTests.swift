import EPTensors
import EPFormats
import Foundation
import Testing
@testable import EPRuntime

@Suite struct ModelLoadingTests {
    /// A llama-architecture file with metadata only (no tensors yet).
    static func llamaMetadata(architecture: String = "llama", blocks: UInt32 = 1, kvHeads: UInt32 = 1) -> GGUFBuilder {
        var b = GGUFBuilder()
        b.add("general.architecture", string: architecture)
        b.add("\(architecture).block_count", uint32: blocks)
        b.add("\(architecture).embedding_length", uint32: 8)
        b.add("\(architecture).feed_forward_length", uint32: 16)
        b.add("\(architecture).attention.head_count", uint32: 2)
        b.add("\(architecture).attention.head_count_kv", uint32: kvHeads)
        b.add("\(architecture).context_length", uint32: 64)
        b.add("\(architecture).attention.layer_norm_rms_epsilon", float32: 1e-5)
        return b
    }

    static func problem(_ builder: GGUFBuilder) -> String {
        do {
            _ = try LanguageModel(path: try builder.write(to: temporaryFolder()))
            return "loaded"
        } catch {
            return "\(error)"
        }
    }

    @Test func unknownArchitectureListsTheSupportedOnes() {
        #expect(Self.problem(Self.llamaMetadata(architecture: "mamba")).contains("unsupported model architecture 'mamba' (supported: llama, qwen2, gemma2, gemma3, gpt2)"))
        var noArchitecture = GGUFBuilder()
        noArchitecture.add("general.name", string: "x")
        #expect(Self.problem(noArchitecture).contains("missing metadata key 'general.architecture'"))
    }

    @Test func missingAndMisshapenTensorsAreNamed() {
        var b = Self.llamaMetadata()
        #expect(Self.problem(b).contains("missing tensor 'token_embd.weight'"))
        b.addTensor("token_embd.weight", dims: [8, 10], floats: [Float](repeating: 0.1, count: 80))
        #expect(Self.problem(b).contains("missing tensor 'output_norm.weight'"))
        b.addTensor("output_norm.weight", dims: [8], floats: [Float](repeating: 1, count: 8))
        #expect(Self.problem(b).contains("missing tensor 'blk.0.attn_norm.weight'"))
        b.addTensor("blk.0.attn_norm.weight", dims: [7], floats: [Float](repeating: 1, count: 7))
        #expect(Self.problem(b).contains("tensor 'blk.0.attn_norm.weight' has 1 × 7 values, expected 1 × 8"))
        var huge = Self.llamaMetadata()
        huge.add("llama.vocab_size", uint32: 1)
        huge.add("llama.rope.scaling.type", string: "yarn")
        huge.addTensor("token_embd.weight", dims: [8, 10], floats: [Float](repeating: 0.1, count: 80))
        #expect(Self.problem(huge).contains("RoPE scaling 'yarn' is not supported"))
        var badHeads = Self.llamaMetadata(kvHeads: 3)
        badHeads.addTensor("token_embd.weight", dims: [8, 10], floats: [Float](repeating: 0.1, count: 80))
        #expect(Self.problem(badHeads).contains("2 query heads are not a multiple of 3 key/value heads"))
    }

    /// A complete tiny model (random weights) runs, and its per-sequence results do not depend on batching.
    @Test func aTinySyntheticModelRuns() throws {
        var b = Self.llamaMetadata(blocks: 2)
        var generator = SeededGenerator(seed: 1)
        func random(_ n: Int) -> [Float] { (0..<n).map { _ in Float.random(in: -0.5...0.5, using: &generator) } }
        b.addTensor("token_embd.weight", dims: [8, 10], floats: random(80))
        b.addTensor("output_norm.weight", dims: [8], floats: random(8))
        for l in 0..<2 {
            let p = "blk.\(l)."
            b.addTensor(p + "attn_norm.weight", dims: [8], floats: random(8))
            b.addTensor(p + "ffn_norm.weight", dims: [8], floats: random(8))
            b.addTensor(p + "attn_q.weight", dims: [8, 8], floats: random(64))
            b.addTensor(p + "attn_k.weight", dims: [8, 4], floats: random(32))
            b.addTensor(p + "attn_v.weight", dims: [8, 4], floats: random(32))
            b.addTensor(p + "attn_output.weight", dims: [8, 8], floats: random(64))
            b.addTensor(p + "ffn_gate.weight", dims: [8, 16], floats: random(128))
            b.addTensor(p + "ffn_up.weight", dims: [8, 16], floats: random(128))
            b.addTensor(p + "ffn_down.weight", dims: [16, 8], floats: random(128))
        }
        let model = try LanguageModel(path: try b.write(to: temporaryFolder()), threads: 2)
        #expect(model.config.headDim == 4)
        #expect(model.config.tiedEmbeddings)
        let batch: [[Int32]] = [[1, 2, 3], [4, 5, 6, 7, 8, 9, 0], [9]]
        let together = try model.forward(batch, hooks: Hooks(captures: [.residPost(layer: 1)]), logits: .all)
        #expect(together.logits!.storage.allSatisfy { $0.isFinite })
        for (i, sequence) in batch.enumerated() {
            let alone = try model.forward([sequence], hooks: Hooks(captures: [.residPost(layer: 1)]), logits: .all)
            let rows = together.rowOffsets[i]..<together.rowOffsets[i + 1]
            #expect(maxDifference(together.logits!.rows(rows), alone.logits!) <= 1e-5)
        }
        #expect(throws: ModelInputError.self) { try model.forward([[10]]) }
        #expect(throws: ModelInputError.self) { try model.generate(prompt: [Int32](repeating: 1, count: 65)) }
        // The context (64) ends generation: positions 60…63 are fed back, the 5th token predicts position 64.
        #expect(try model.generate(prompt: [Int32](repeating: 1, count: 60), options: GenerationOptions(maxTokens: 10)).count == 5)
    }
}
