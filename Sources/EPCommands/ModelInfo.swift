import ArgumentParser
import EPRuntime
import Foundation

/// `ep model info MODEL`: architecture, sizes, tensor types and tokenizer of a GGUF file.
struct ModelInfo: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "info",
        abstract: "Show a model's architecture, sizes, tensor types and tokenizer.")

    @OptionGroup var model: ModelArgument

    func run() throws {
        let path = try ModelLocator.resolve(model.model)
        var isDirectory: ObjCBool = false
        let s = FileManager.default.fileExists(atPath: path, isDirectory: &isDirectory) && isDirectory.boolValue
            ? try ModelSummary(folder: HuggingFaceFolder(path: path)) : ModelSummary(gguf: try GGUFFile(path: path))
        print("file: \(s.path) (\(s.fileBytes) bytes, \(s.format))")
        print("architecture: \(s.architecture)" + (s.name.map { " (\($0))" } ?? ""))
        if let c = s.config {
            print("blocks: \(c.layerCount), d_model: \(c.modelWidth), heads: \(c.headCount) (key/value heads: \(c.kvHeadCount), head width: \(c.headDim)), MLP width: \(c.ffnWidth)")
            let positions = c.positionEncoding == .learned ? "learned positions"
                : "\(c.positionEncoding.rawValue), base \(c.ropeBase)" + (c.slidingRopeBase.map { " (sliding layers \($0))" } ?? "") + " over \(c.ropeDimensions) dims"
            print("vocabulary: \(c.vocabularySize), context: \(c.contextLength), \(c.norm == .rms ? "RMSNorm" : "LayerNorm") eps: \(c.rmsEpsilon), \(positions)")
            var traits = ["MLP \(c.feedForward.rawValue)", "attention scale \(c.attentionScale)"]
            if let s = c.embeddingScale { traits.append("embeddings × \(s)") }
            if c.hasQKVBias { traits.append("Q/K/V biases") }
            if c.hasOutputBiases { traits.append("output biases") }
            if c.hasQKNorm { traits.append("QK-norm") }
            if c.hasPostNorms { traits.append("post-norms") }
            if let cap = c.attentionSoftcap { traits.append("attention soft-cap \(cap)") }
            if let cap = c.finalLogitSoftcap { traits.append("final soft-cap \(cap)") }
            if let w = c.slidingWindow {
                traits.append("sliding window \(w) on blocks \(c.slidingLayers.enumerated().filter(\.element).map { String($0.offset) }.joined(separator: ","))")
            }
            print("traits: " + traits.joined(separator: ", "))
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
        if s.tokenizerModel == "llama" { tokenizer += " (SentencePiece)" }
        if let pre = s.tokenizerPreTokenizer { tokenizer += ", pre-tokenizer \(pre)" }
        if let v = s.tokenizerVocabulary { tokenizer += ", \(v) tokens" }
        if let m = s.tokenizerMerges { tokenizer += ", \(m) merges" }
        if s.hasChatTemplate { tokenizer += ", chat template" }
        print(tokenizer)
    }
}
