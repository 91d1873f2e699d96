import EPTensors
import Synchronization
import Testing
@testable import EPRuntime

/// Index of the largest value.
func argmax(_ values: [Float]) -> Int32 {
    Int32(values.indices.max { values[$0] < values[$1] }!)
}

@Suite struct GenerationTests {
    @Test func greedyGenerationWithTheCacheMatchesFullForwardPasses() throws {
        let model = try SharedModel.smolLM2()
        let generated = try model.generate(prompt: capitalPrompt, options: GenerationOptions(maxTokens: 6))
        #expect(generated.first == 7042, "' Paris' after 'The capital of France is'")
        var sequence = capitalPrompt
        for token in generated {
            let logits = try model.forward([sequence], logits: .last).logits!
            #expect(argmax(logits.row(0)) == token)
            sequence.append(token)
        }
    }

    @Test func sessionsContinueWhereTheyLeftOff() throws {
        let model = try SharedModel.smolLM2()
        let tokens: [Int32] = capitalPrompt + [7042, 30, 378, 3575, 282, 4649]
        let point = HookPoint.residPost(layer: 20)
        let whole = try model.forward([tokens], hooks: Hooks(captures: [point]), logits: .all)
        let session = InferenceSession(model: model, hooks: Hooks(captures: [point]))
        var rows: [Float] = [], logits: [Float] = []
        for chunk in [Array(tokens[0..<4]), Array(tokens[4..<5]), Array(tokens[5...])] {
            let part = try session.append(chunk, logits: .all)
            rows += part.activations[point]!.storage
            logits += part.logits!.storage
        }
        #expect(session.tokens == tokens)
        let incremental = Matrix(rows: tokens.count, columns: 576, storage: rows)
        #expect(maxDifference(incremental, whole.activations[point]!) <= 1e-4 * maxMagnitude(incremental))
        #expect(maxDifference(Matrix(rows: tokens.count, columns: 49152, storage: logits), whole.logits!) <= 2e-3)
    }

    @Test func editsApplyAtEveryGenerationStep() throws {
        let model = try SharedModel.smolLM2()
        let positions = Mutex<[Int]>([])
        var hooks = Hooks()
        hooks.edit(.residPre(layer: 4), .custom { rows in positions.withLock { $0 += rows.positions } })
        let plain = try model.generate(prompt: capitalPrompt, options: GenerationOptions(maxTokens: 4), hooks: hooks)
        #expect(positions.withLock { $0 } == Array(0..<(capitalPrompt.count + plain.count - 1)))
        // A large steering vector changes what is generated.
        var generator = SeededGenerator(seed: 11)
        let direction = (0..<576).map { _ in Float.random(in: -1...1, using: &generator) }
        hooks.edit(.residPost(layer: 8), .add(vector: direction, scale: 40))
        let steered = try model.generate(prompt: capitalPrompt, options: GenerationOptions(maxTokens: 4), hooks: hooks)
        #expect(steered != plain)
    }

    @Test func samplingIsSeededAndFiltersCandidates() throws {
        let model = try SharedModel.smolLM2()
        func run(_ sampling: SamplingOptions) throws -> [Int32] {
            try model.generate(prompt: capitalPrompt, options: GenerationOptions(maxTokens: 5, sampling: sampling))
        }
        let greedy = try run(SamplingOptions())
        #expect(try run(SamplingOptions(temperature: 1, topK: 1, seed: 5)) == greedy)
        #expect(try run(SamplingOptions(temperature: 1, topP: 1e-6, seed: 5)) == greedy)
        let hot = SamplingOptions(temperature: 1.5, topK: 50, topP: 0.95, seed: 42)
        #expect(try run(hot) == run(hot))
        let draws = try (0..<4).map { try run(SamplingOptions(temperature: 1.5, seed: UInt64($0))) }
        #expect(Set(draws).count > 1)
    }

    @Test func samplerFollowsTheSoftmax() {
        // Logits ln(1), ln(2), ln(3), ln(4), and a very unlikely fifth token: probabilities 0.1, 0.2, 0.3, 0.4.
        let logits: [Float] = [0, 0.6931472, 1.0986123, 1.3862944, -50]
        var sampler = TokenSampler(SamplingOptions(temperature: 1, seed: 9))
        var counts = [Int](repeating: 0, count: 5)
        for _ in 0..<20_000 { counts[Int(sampler.sample(logits[...]))] += 1 }
        for (i, p) in [0.1, 0.2, 0.3, 0.4].enumerated() {
            #expect(abs(Double(counts[i]) / 20_000 - p) < 0.015, "token \(i): \(counts[i])")
        }
        #expect(counts[4] == 0)
        var topTwo = TokenSampler(SamplingOptions(temperature: 1, topK: 2, seed: 9))
        #expect((0..<200).allSatisfy { _ in topTwo.sample(logits[...]) >= 2 })
        var nucleus = TokenSampler(SamplingOptions(temperature: 1, topP: 0.65, seed: 9))
        #expect((0..<200).allSatisfy { _ in nucleus.sample(logits[...]) >= 2 })
        #expect(TokenSampler.largest(3, of: [5, 1, 9, 7, 3, 9][...]) == [2, 5, 3])
    }
}
