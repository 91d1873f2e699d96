import EPFormats
import EPTensors
import Testing
@testable import EPRuntime

@Suite struct ModelInfoTests {
    @Test func summarizesSmolLM2() throws {
        let summary = ModelSummary(gguf: try GGUFFile(path: try requireSmolLM2()))
        #expect(summary.architecture == "llama")
        #expect(summary.config?.layerCount == 30)
        #expect(summary.config?.kvHeadCount == 3)
        #expect(summary.config?.tiedEmbeddings == true)
        #expect(summary.config?.parameterCount == 134_515_008)
        #expect(summary.elementCount == 134_515_008)
        #expect(summary.tensorTypes.map { "\($0.type) \($0.count)" } == ["Q4_1 210", "Q8_0 1", "F32 61"])
        #expect(summary.tokenizerModel == "gpt2")
        #expect(summary.tokenizerPreTokenizer == "smollm")
        #expect(summary.tokenizerVocabulary == 49152)
        #expect(summary.tokenizerMerges == 48900)
        #expect(summary.hasChatTemplate)
    }

    @Test func unsupportedArchitecturesStillSummarize() throws {
        var b = GGUFBuilder()
        b.add("general.architecture", string: "mamba")
        let summary = ModelSummary(gguf: try GGUFFile(path: try b.write(to: temporaryFolder())))
        #expect(summary.config == nil)
        #expect(summary.configProblem?.contains("supported: llama") == true)
    }

    @Test func rendersTheChatMLTemplateWithItsDefaultSystemTurn() throws {
        let template = try ChatTemplate(gguf: GGUFFile(path: try requireSmolLM2()))
        #expect(template.defaultSystemMessage == "You are a helpful AI assistant named SmolLM, trained by Hugging Face")
        #expect(template.render(user: "Hi") == """
            <|im_start|>system
            You are a helpful AI assistant named SmolLM, trained by Hugging Face<|im_end|>
            <|im_start|>user
            Hi<|im_end|>
            <|im_start|>assistant

            """)
        var b = GGUFBuilder()
        b.add("tokenizer.chat_template", string: "{{ bos_token }}{% for m in messages %}[INST] {{ m.content }}{% endfor %}")
        #expect(throws: ModelInputError.self) { try ChatTemplate(gguf: GGUFFile(path: b.write(to: temporaryFolder()))) }
        let gemma = try ChatTemplate(template: "{{ bos_token }}{% for message in messages %}{{ '<start_of_turn>' + role + '\\n' }}{% endfor %}")
        #expect(gemma.family == .gemma)
        #expect(gemma.render(user: "Hi") == "<start_of_turn>user\nHi<end_of_turn>\n<start_of_turn>model\n")
    }

    @Test func readsTokenIDFiles() throws {
        let folder = temporaryFolder()
        try NPY.write([Int64(1), 2, 3, 4, 5, 6], shape: [2, 3], to: folder + "/b.npy")
        let (batch, shape) = try TokenIDs.read(path: folder + "/b.npy")
        #expect(batch == [[1, 2, 3], [4, 5, 6]])
        #expect(shape == [2, 3])
        try TokenIDs.write(batch, shape: shape, to: folder + "/c.npy")
        #expect(try TokenIDs.read(path: folder + "/c.npy").sequences == batch)
        try NPY.write([Int32(7), 8], shape: [2], to: folder + "/one.npy")
        #expect(try TokenIDs.read(path: folder + "/one.npy").sequences == [[7, 8]])
        try NPY.write([Int64(1) << 40], shape: [1], to: folder + "/big.npy")
        #expect(throws: FileFormatError.self) { try TokenIDs.read(path: folder + "/big.npy") }
        try NPY.write([Int32](repeating: 1, count: 8), shape: [2, 2, 2], to: folder + "/cube.npy")
        #expect(throws: FileFormatError.self) { try TokenIDs.read(path: folder + "/cube.npy") }
        try NPY.write([Float(1)], shape: [1], to: folder + "/float.npy")
        #expect(throws: FileFormatError.self) { try TokenIDs.read(path: folder + "/float.npy") }
    }

    @Test func machineLoadIsReadable() throws {
        let before = try #require(MachineLoad.sample())
        var x: Double = 0
        for i in 0..<1_000_000 { x += Double(i).squareRoot() }
        let after = try #require(MachineLoad.sample())
        #expect(x > 0)
        #expect(after.ownSeconds >= before.ownSeconds)
        #expect(after.foreignCores(since: before) >= 0)
        #expect(MachineLoad.loadAverages()?.count == 3)
    }
}
