import EPFormats
import EPTensors
import Foundation
import Testing
@testable import EPRuntime

/// The random-weight Hugging Face folders of scripts/oracle/make_tiny_models.py (one per architecture, each with its
/// own weight layout and tokenizer kind) against the numpy fp32 oracle and HF `tokenizers`.
@Suite struct HuggingFaceModelTests {
    static let architectures = ["llama", "qwen2", "gemma2", "gemma3", "gpt2"]

    static func folder(_ arch: String) -> String { goldensFolder + "/hf/" + arch }

    /// Largest per-row ‖a − b‖ / ‖b‖ over the rows of two equally shaped matrices.
    static func maxRowError(_ a: Matrix, _ b: Matrix) -> Double {
        (0..<b.rows).map { r in
            let x = a.row(r), y = b.row(r)
            let diff = zip(x, y).map { Double($0 - $1) * Double($0 - $1) }.reduce(0, +)
            return (diff / y.map { Double($0) * Double($0) }.reduce(0, +)).squareRoot()
        }.max() ?? 0
    }

    /// Residuals at every captured point and logits at every position within 1e-4 relative error of the oracle,
    /// with the weights decoded to fp32 and with them left mapped (16-bit ones converted panel by panel).
    @Test(arguments: architectures, [WeightStorage.decoded, .mapped])
    func matchesTheFP32Oracle(arch: String, storage: WeightStorage) throws {
        let model = try LanguageModel(path: Self.folder(arch), threads: 2, storage: storage)
        #expect(model.config.architecture.rawValue == arch)
        try expectMatchesOracle(model, golden: try SafetensorsFile(path: Self.folder(arch) + "/oracle.safetensors"), label: "hf \(arch) \(storage)")
    }

    /// Every tensor a folder holds maps to a runtime name and back, so a message about a missing tensor names it as
    /// the folder would; a folder without one is refused naming it that way, not by its GGUF name.
    @Test(arguments: architectures)
    func missingTensorsAreNamedAsTheFolderNamesThem(arch: String) throws {
        let architecture = try #require(ModelArchitecture(rawValue: arch))
        let shards = try FileManager.default.contentsOfDirectory(atPath: Self.folder(arch)).filter { $0.hasPrefix("model") && $0.hasSuffix(".safetensors") }
        var names: [String] = []
        for shard in shards { names += try SafetensorsFile(path: Self.folder(arch) + "/" + shard).tensorNames }
        for name in names {
            guard let gguf = HuggingFaceNames.ggufName(name, architecture: architecture) else { continue }
            let back = try #require(HuggingFaceNames.huggingFaceName(ofGGUF: gguf.name, architecture: architecture, folderPrefix: HuggingFaceNames.modelPrefix(of: name)))
            #expect(back == name || (name.hasSuffix("lm_head.weight") && back == "lm_head.weight"), "\(name) → \(gguf.name) → \(back)")
        }
        // A copy of the folder whose first shard lacks its first layer's attention norm.
        let copy = NSTemporaryDirectory() + "ep-hf-missing-\(arch)-\(UUID().uuidString)"
        try FileManager.default.copyItem(atPath: Self.folder(arch), toPath: copy)
        var removed: String?
        for shard in shards {
            let file = try SafetensorsFile(path: copy + "/" + shard)
            guard let victim = file.tensorNames.first(where: { HuggingFaceNames.ggufName($0, architecture: architecture)?.name == "blk.0.attn_norm.weight" }) else { continue }
            var writer = SafetensorsWriter()
            for name in file.tensorNames where name != victim {
                let info = try file.info(name)
                writer.add(name, dtype: info.dtype, shape: info.shape, bytes: try file.file.readBytes(count: info.byteRange.count, at: info.byteRange.lowerBound))
            }
            try writer.write(to: copy + "/" + shard)
            removed = victim
        }
        let victim = try #require(removed)
        if FileManager.default.fileExists(atPath: copy + "/model.safetensors.index.json") {
            let index = try String(contentsOfFile: copy + "/model.safetensors.index.json", encoding: .utf8)
            try index.components(separatedBy: "\n").filter { !$0.contains("\"\(victim)\"") }.joined(separator: "\n")
                .write(toFile: copy + "/model.safetensors.index.json", atomically: true, encoding: .utf8)
        }
        do {
            _ = try LanguageModel(path: copy, threads: 1)
            Issue.record("a folder without \(victim) loaded")
        } catch {
            #expect("\(error)".contains("missing tensor '\(victim)'"), "\(error)")
        }
    }

    /// KV-cache generation steps, early exit, a replacing edit and the logit lens give what one full pass gives.
    @Test(arguments: architectures)
    func cacheHooksAndLogitLensAgreeWithTheFullPass(arch: String) throws {
        let model = try LanguageModel(path: Self.folder(arch), threads: 1)
        let golden = try SafetensorsFile(path: Self.folder(arch) + "/oracle.safetensors")
        let tokens = try golden.integers("random.tokens").map { Int32($0) }
        let last = HookPoint.residPost(layer: model.config.layerCount - 1), middle = HookPoint.residPost(layer: 1)
        let full = try model.forward([tokens], hooks: Hooks(captures: [middle, last]), logits: .all)

        let session = InferenceSession(model: model)
        _ = try session.append(Array(tokens[..<12]))
        var steps: [[Float]] = []
        for t in tokens[12...] { steps.append(try session.append([t]).logits!.row(0)) }
        for (i, row) in steps.enumerated() {
            let diff = zip(row, full.logits!.row(12 + i)).map { abs($0 - $1) }.max()!
            #expect(diff <= 1e-5, "\(arch) step \(i): \(diff)")
        }

        #expect(try model.activations([tokens], at: middle) == full.activations[middle]!)
        // Writing each position's own value back changes nothing; putting position 0's value everywhere does.
        let captured = full.activations[middle]!
        var sameValues = Hooks()
        sameValues.edit(middle, .custom { rows in
            for i in 0..<rows.count {
                for j in 0..<rows.width { rows.values[i * rows.width + j] = captured[rows.positions[i], j] }
            }
        })
        #expect(try model.forward([tokens], hooks: sameValues, logits: .all).logits! == full.logits!)
        var replaced = Hooks()
        replaced.edit(middle, .replace(vector: captured.row(0)))
        let edited = try model.forward([tokens], hooks: replaced, logits: .last).logits!
        #expect(edited.row(0) != full.logits!.row(tokens.count - 1))

        var lens = try model.logitLens(full.activations[last]!)
        if let cap = model.config.finalLogitSoftcap {
            lens.storage.withUnsafeMutableBufferPointer { VectorMath.softcap($0.baseAddress!, count: $0.count, cap: cap) }
        }
        let error = Self.maxRowError(lens, full.logits!)
        #expect(error <= 1e-5, "\(arch) logit lens: \(error)")
    }

    /// Ids and decoded text equal HF `tokenizers` on the whole tokenizer corpus, for the tokenizer.json kind of each
    /// folder (SentencePiece BPE with and without prefix, Unigram, byte-level BPE with the Qwen2 and GPT-2 pipelines).
    @Test(arguments: architectures)
    func tokenizerMatchesHuggingFace(arch: String) throws {
        struct Golden: Decodable {
            struct Case: Decodable {
                let name: String
                let text: String?
                let utf8_hex: String?
                let parse_special: Bool
                let ids: [Int32]
                let decoded: String
                let ids_with_special: [Int32]?
            }
            let cases: [Case]
        }
        let tokenizer = try makeTokenizer(modelPath: Self.folder(arch))
        let golden = try JSONDecoder().decode(Golden.self, from: Data(contentsOf: URL(fileURLWithPath: Self.folder(arch) + "/tokenizer_goldens.json")))
        #expect(golden.cases.count >= 300)
        var mismatches = 0
        for c in golden.cases {
            let input: String
            if let text = c.text {
                input = text
            } else {
                let hex = Array(c.utf8_hex!.utf8)
                input = String(decoding: stride(from: 0, to: hex.count, by: 2).map { UInt8(String(decoding: hex[$0..<$0 + 2], as: UTF8.self), radix: 16)! }, as: UTF8.self)
            }
            let ids = tokenizer.encode(input, parseSpecial: c.parse_special, addSpecial: false)
            if ids != c.ids { mismatches += 1 }
            #expect(ids == c.ids, "\(arch) \(c.name): \(input.debugDescription)")
            #expect(tokenizer.decode(c.ids).unicodeScalars.elementsEqual(c.decoded.unicodeScalars), "\(arch) \(c.name) decode")
            if let withSpecial = c.ids_with_special {
                #expect(tokenizer.encode(input, parseSpecial: true, addSpecial: true) == withSpecial, "\(arch) \(c.name) with BOS/EOS")
            }
        }
        print("hf \(arch) tokenizer (\(tokenizer.kindDescription)): \(golden.cases.count - mismatches) of \(golden.cases.count) cases equal to HF")
    }

    @Test func unsupportedArchitecturesAndTokenizersSaySoAndListTheSupportedOnes() throws {
        let folder = temporaryFolder()
        try Data(#"{"model_type": "mamba", "hidden_size": 8}"#.utf8).write(to: URL(fileURLWithPath: folder + "/config.json"))
        try Data().write(to: URL(fileURLWithPath: folder + "/model.safetensors"))
        #expect {
            try LanguageModel(path: folder)
        } throws: { "\($0)".contains("unsupported model_type 'mamba'") && "\($0)".contains("qwen2, gemma2, gemma3") }
        try Data(#"{"model": {"type": "WordPiece", "vocab": {"a": 0}}}"#.utf8).write(to: URL(fileURLWithPath: folder + "/tokenizer.json"))
        #expect {
            try HuggingFaceTokenizer.load(path: folder + "/tokenizer.json")
        } throws: { "\($0)".contains("model type 'WordPiece' is not supported") && "\($0)".contains("Unigram") }
        var b = GGUFBuilder()
        b.add("tokenizer.ggml.model", string: "bert")
        #expect {
            try makeTokenizer(gguf: GGUFFile(path: b.write(to: folder)))
        } throws: { "\($0)".contains("tokenizer model 'bert' is not supported; supported: gpt2 (byte-level BPE), llama (SentencePiece)") }
    }
}

/// The same random weights as GGUF files (scripts/oracle/make_tiny_models.py, written with gguf-py's names and keys)
/// against the numpy oracle run on those files, and against the Hugging Face folders where the two formats mean the
/// same model (Gemma's GGUF conventions differ: llama.cpp's attention scale and sliding-window periods).
@Suite struct GGUFArchitectureTests {
    @Test(arguments: HuggingFaceModelTests.architectures)
    func matchesTheFP32Oracle(arch: String) throws {
        let model = try LanguageModel(path: goldensFolder + "/gguf/\(arch).gguf", threads: 2)
        #expect(model.config.architecture.rawValue == arch)
        try expectMatchesOracle(model, golden: try SafetensorsFile(path: goldensFolder + "/gguf/\(arch)_oracle.safetensors"), label: "gguf \(arch)")
    }

    @Test(arguments: ["llama", "qwen2", "gpt2"])
    func sameModelAsTheHuggingFaceFolder(arch: String) throws {
        let gguf = try LanguageModel(path: goldensFolder + "/gguf/\(arch).gguf", threads: 1)
        let hf = try LanguageModel(path: HuggingFaceModelTests.folder(arch), threads: 1, storage: .decoded)
        let tokens = try SafetensorsFile(path: goldensFolder + "/gguf/\(arch)_oracle.safetensors").integers("random.tokens").map { Int32($0) }
        let point = HookPoint.residPost(layer: 2)
        let a = try gguf.forward([tokens], hooks: Hooks(captures: [point]), logits: .all)
        let b = try hf.forward([tokens], hooks: Hooks(captures: [point]), logits: .all)
        // Qwen2's folder holds F16 weights; its GGUF the same values widened to F32.
        #expect(HuggingFaceModelTests.maxRowError(a.activations[point]!, b.activations[point]!) <= 1e-5)
        #expect(HuggingFaceModelTests.maxRowError(a.logits!, b.logits!) <= 1e-5)
    }
}

/// Checks `model`'s activations at every hook point the golden file records, and its logits, on the file's `text` and
/// `random` prompts: per-row relative error ≤ 1e-4 against the numpy fp32 oracle; prints the worst errors.
func expectMatchesOracle(_ model: LanguageModel, golden: SafetensorsFile, label: String) throws {
    for prompt in ["text", "random"] {
        let tokens = try golden.integers(prompt + ".tokens").map { Int32($0) }
        let keys = golden.tensorNames.filter { $0.hasPrefix(prompt + ".") && $0.contains("hook") }
        let points = try keys.map { try model.hookPoint(named: String($0.dropFirst(prompt.count + 1))) }
        let result = try model.forward([tokens], hooks: Hooks(captures: Set(points)), logits: .all)
        var worst = 0.0
        for (key, point) in zip(keys, points) {
            let reference = Matrix(rows: tokens.count, columns: model.config.modelWidth, storage: try golden.floats(key))
            let error = HuggingFaceModelTests.maxRowError(result.activations[point]!, reference)
            worst = max(worst, error)
            #expect(error <= 1e-4, "\(label) \(key): relative error \(error)")
        }
        let logits = Matrix(rows: tokens.count, columns: model.config.vocabularySize, storage: try golden.floats(prompt + ".logits"))
        let error = HuggingFaceModelTests.maxRowError(result.logits!, logits)
        print("\(label) \(prompt): activations max per-row relative error \(String(format: "%.2e", worst)), logits \(String(format: "%.2e", error))")
        #expect(error <= 1e-4, "\(label) \(prompt) logits: relative error \(error)")
    }
}
