import ArgumentParser
import EPRuntime
import Foundation

/// `ep model info MODEL`: architecture, sizes, tensor types and tokenizer of a GGUF file.
struct ModelInfo: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "info",
        abstract: "Show a model's architecture, sizes, tensor types and tokenizer.")

    @Argument(help: "A GGUF file, a Hugging Face folder, or a short name (\(ModelLocator.shortNameList)).")
    var model: String

    func run() throws {
        let s = ModelSummary(gguf: try GGUFFile(path: try ModelLocator.resolve(model)))
        print("file: \(s.path) (\(s.fileBytes) bytes, GGUF v\(s.version))")
        print("architecture: \(s.architecture)" + (s.name.map { " (\($0))" } ?? ""))
        if let c = s.config {
            print("blocks: \(c.layerCount), d_model: \(c.modelWidth), heads: \(c.headCount) (key/value heads: \(c.kvHeadCount), head width: \(c.headDim)), MLP width: \(c.ffnWidth)")
            print("vocabulary: \(c.vocabularySize), context: \(c.contextLength), RMSNorm eps: \(c.rmsEpsilon), RoPE base: \(c.ropeBase) over \(c.ropeDimensions) dims")
            print("parameters: \(c.parameterCount)" + (c.tiedEmbeddings ? " (embeddings tied to the LM head)" : ""))
            print("hook points: hook_embed, blocks.{0...\(c.layerCount - 1)}.{hook_resid_pre,hook_attn_out,hook_resid_mid,hook_mlp_out,hook_resid_post}, ln_final.hook_normalized")
        } else if let problem = s.configProblem {
            print("not runnable: \(problem)")
        }
        print("tensors: \(s.tensorCount), \(s.elementCount) elements")
        for t in s.tensorTypes {
            print("  \(t.type): \(t.count) tensors, \(t.bytes) bytes\(t.type.isDequantizable ? "" : " (not decodable by this runtime)")")
        }
        var tokenizer = "tokenizer: \(s.tokenizerModel ?? "none")"
        if s.tokenizerModel == "gpt2" { tokenizer += " (byte-level BPE)" }
        if let pre = s.tokenizerPreTokenizer { tokenizer += ", pre-tokenizer \(pre)" }
        if let v = s.tokenizerVocabulary { tokenizer += ", \(v) tokens" }
        if let m = s.tokenizerMerges { tokenizer += ", \(m) merges" }
        if s.hasChatTemplate { tokenizer += ", chat template" }
        print(tokenizer)
    }
}
