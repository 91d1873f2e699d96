import EPCore
import EPRuntime
import EPStore
import EPTensors
import Foundation
import Testing
@testable import EPPipeline

/// Region-gated interventions on a real dictionary (SmolLM2, layer 5, built from the test corpus): positions outside
/// the gate keep their baseline activations at the hook bit for bit; positions inside get exactly the ungated edit.
@Suite(.serialized) struct GatedInterventionTests {
    static let prompts = [
        "The river carefully examines the old bridge. def f(x, y):\n    return x * 3 + y\n- item 4: the red door costs 12 dollars",
        "My grandmother never forgets the morning news, and this function quietly returns a list of numbers.",
    ]

    /// The hook's activations of `batch` with `hooks` (edits applied before the capture sees them).
    static func activations(_ model: LanguageModel, _ batch: [[Int32]], _ hooks: Hooks, at point: HookPoint) throws -> Matrix {
        var h = hooks
        h.captures = [point]
        return try model.forward(batch, hooks: h).activations[point]!
    }

    @Test func positionsOutsideTheGateKeepTheirBaselineActivationsBitForBit() throws {
        let (model, _, tokenizer) = try SmolLM2.load()
        let (_, loaded, _) = try StreamingReadTests.fixture()
        let intervention = try RegionIntervention(loaded, model: model)
        let point = intervention.point
        let batch = Self.prompts.map { tokenizer.encode($0) }
        let baseline = try Self.activations(model, batch, Hooks(), at: point)
        let nearest = try loaded.dictionary.assign(baseline).regions.map(Int.init)
        // The gate: the two most frequent nearest regions, so that some positions fall inside and some outside.
        let counts = Dictionary(nearest.map { ($0, 1) }, uniquingKeysWith: +)
        let gate = Set(counts.sorted { ($0.value, $1.key) > ($1.value, $0.key) }.prefix(2).map(\.key))
        let inside = nearest.indices.filter { gate.contains(nearest[$0]) }
        try #require(!inside.isEmpty && inside.count < nearest.count, "the gate must split the positions")
        let width = baseline.columns
        func row(_ m: Matrix, _ r: Int) -> [UInt32] { m.storage[r * width..<(r + 1) * width].map(\.bitPattern) }

        let region = nearest[inside[0]]
        for (name, hooks) in [
            ("steering", try intervention.steering(region, basis: .exemplar, alpha: 2 * intervention.centerNorm)),
            ("ablation", try intervention.ablation(region, basis: .mean)),
        ] {
            let ungated = try Self.activations(model, batch, hooks, at: point)
            let gated = try Self.activations(model, batch, try intervention.gated(hooks, to: gate), at: point)
            var changed = 0
            for r in 0..<nearest.count {
                if gate.contains(nearest[r]) {
                    #expect(row(gated, r) == row(ungated, r), "\(name): row \(r) inside the gate gets the ungated edit exactly")
                    if row(gated, r) != row(baseline, r) { changed += 1 }
                } else {
                    #expect(row(gated, r) == row(baseline, r), "\(name): row \(r) outside the gate keeps its baseline bits")
                }
            }
            #expect(changed == inside.count, "\(name): every row inside the gate is edited")
        }
    }

    @Test func aGateOfEveryRegionIsTheUngatedInterventionAndBadGatesAreErrors() throws {
        let (model, _, tokenizer) = try SmolLM2.load()
        let (_, loaded, _) = try StreamingReadTests.fixture()
        let intervention = try RegionIntervention(loaded, model: model)
        let k = loaded.dictionary.regions.count
        let steering = try intervention.steering(0, basis: .exemplar, alpha: intervention.centerNorm)
        var options = GenerationOptions(maxTokens: 12)
        options.sampling = SamplingOptions(temperature: 0.8, topK: 0, topP: 0.95, seed: 5)
        let prompt = tokenizer.encode(Self.prompts[1])
        let all = try intervention.compare(prompt: prompt, variants: [steering, try intervention.gated(steering, to: Set(0..<k))], seeds: [5, 6], options: options)
        for row in all { #expect(row[1] == row[2], "a gate of every region steers every position (generation steps included)") }
        // A gate of one region that no position of the prompt is nearest to leaves the prompt's activations as they are.
        let plain = try Self.activations(model, [prompt], Hooks(), at: intervention.point)
        let used = Set(try loaded.dictionary.assign(plain).regions.map(Int.init))
        if let unused = (0..<k).first(where: { !used.contains($0) }) {
            let edited = try Self.activations(model, [prompt], try intervention.gated(steering, to: [unused]), at: intervention.point)
            #expect(edited.storage.map(\.bitPattern) == plain.storage.map(\.bitPattern))
        }
        let empty = #expect(throws: PipelineError.self) { try intervention.gated(steering, to: []) }
        #expect(empty?.message == "the gate names no region: give at least one region id")
        let missing = #expect(throws: PipelineError.self) { try intervention.gated(steering, to: [1, k + 3]) }
        #expect(missing?.message == "gate region \(k + 3) does not exist: \(loaded.path) has regions 0…\(k - 1)")
    }
}
