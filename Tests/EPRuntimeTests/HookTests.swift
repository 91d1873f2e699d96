import EPTensors
import Foundation
import Synchronization
import Testing
@testable import EPRuntime

/// "The capital of France is"
let capitalPrompt: [Int32] = [504, 3575, 282, 4649, 314]

/// Largest |a − b| over two matrices of one shape.
func maxDifference(_ a: Matrix, _ b: Matrix) -> Float {
    precondition(a.rows == b.rows && a.columns == b.columns)
    return zip(a.storage, b.storage).map { abs($0 - $1) }.max() ?? 0
}

/// Largest |x| of a matrix.
func maxMagnitude(_ a: Matrix) -> Float { a.storage.map(abs).max() ?? 0 }

@Suite struct HookNameTests {
    @Test func parsesEveryTransformerLensName() throws {
        for point in HookPoint.all(layerCount: 30) {
            #expect(try HookPoint(name: point.name, layerCount: 30) == point)
        }
        #expect(try HookPoint(name: "blocks.15.hook_resid_post", layerCount: 30) == .residPost(layer: 15))
        #expect(HookPoint.all(layerCount: 30).count == 152)
    }

    @Test(arguments: ["blocks.30.hook_resid_post", "blocks.-1.hook_resid_pre", "blocks.15.hook_resid", "resid_post", "blocks.015.hook_resid_post", "", "blocks.1.hook_attn_out.x"])
    func rejectsUnknownNamesListingTheValidOnes(name: String) {
        let error = #expect(throws: HookError.self) { try HookPoint(name: name, layerCount: 30) }
        #expect(error?.message.contains("hook_resid_post") == true)
        #expect(error?.message.contains("L in 0...29") == true)
    }

    @Test func forwardOrderIsTheComputationOrder() {
        let points = HookPoint.all(layerCount: 3)
        #expect(points == points.sorted())
        #expect(HookPoint.residPost(layer: 0) < .residPre(layer: 1))
        #expect(HookPoint.residPost(layer: 2) < .finalNormalized)
    }
}

@Suite struct HookTests {
    @Test func capturedPointsAreConsistent() throws {
        let model = try SharedModel.smolLM2()
        let layer = 7
        let points: Set<HookPoint> = [
            .embed, .residPre(layer: 0), .residPre(layer: layer), .attnOut(layer: layer), .residMid(layer: layer),
            .mlpOut(layer: layer), .residPost(layer: layer), .residPre(layer: layer + 1), .residPost(layer: 29), .finalNormalized,
        ]
        let a = try model.forward([capitalPrompt], hooks: Hooks(captures: points)).activations
        #expect(a[.embed] == a[.residPre(layer: 0)])
        #expect(a[.residPost(layer: layer)] == a[.residPre(layer: layer + 1)])
        var mid = a[.residPre(layer: layer)]!
        Kernels.add(a[.attnOut(layer: layer)]!.storage, into: &mid.storage, count: mid.storage.count)
        #expect(maxDifference(mid, a[.residMid(layer: layer)]!) <= 1e-4 * maxMagnitude(mid))
        var post = a[.residMid(layer: layer)]!
        Kernels.add(a[.mlpOut(layer: layer)]!.storage, into: &post.storage, count: post.storage.count)
        #expect(maxDifference(post, a[.residPost(layer: layer)]!) <= 1e-4 * maxMagnitude(post))
        // ln_final.hook_normalized is the last residual over its RMS: every row has mean square 1.
        let normalized = a[.finalNormalized]!
        for r in 0..<normalized.rows {
            let meanSquare = normalized.row(r).reduce(0) { $0 + Double($1) * Double($1) } / 576
            #expect(abs(meanSquare - 1) < 1e-3)
        }
        // The embedding of a token is its row of the embedding matrix (Q8_0, decoded).
        let embedding = try model.gguf!.requireTensor("token_embd.weight")
        var row = [Float](repeating: 0, count: 576)
        try row.withUnsafeMutableBufferPointer { try model.gguf!.dequantize(embedding, rows: 504..<505, into: $0.baseAddress!) }
        #expect(a[.embed]!.row(0) == row)
    }

    @Test func earlyExitSkipsLaterBlocksAndGivesTheSameValues() throws {
        let model = try SharedModel.smolLM2()
        let point = HookPoint.residPost(layer: 5)
        let calls = Mutex<[HookPoint]>([])
        var hooks = Hooks(captures: [point])
        for later in [HookPoint.residPre(layer: 6), .mlpOut(layer: 20), .finalNormalized] {
            hooks.edit(later, .custom { _ in calls.withLock { $0.append(later) } })
        }
        let early = try model.forward([capitalPrompt], hooks: hooks)
        #expect(calls.withLock { $0 }.isEmpty, "blocks after block 5 ran")
        #expect(early.logits == nil)
        let full = try model.forward([capitalPrompt], hooks: Hooks(captures: [point]), logits: .last)
        #expect(maxDifference(early.activations[point]!, full.activations[point]!) <= 1e-6 * maxMagnitude(full.activations[point]!))
        // With logits requested, every block runs.
        _ = try model.forward([capitalPrompt], hooks: hooks, logits: .last)
        #expect(calls.withLock { $0 } == [.residPre(layer: 6), .mlpOut(layer: 20), .finalNormalized])
    }

    @Test func addReplaceAndProjectOutEditTheResidualStream() throws {
        let model = try SharedModel.smolLM2()
        let point = HookPoint.residPost(layer: 10)
        let clean = try model.forward([capitalPrompt], hooks: Hooks(captures: [point, .residPost(layer: 11)]), logits: .last)
        var generator = SeededGenerator(seed: 3)
        let vector = (0..<576).map { _ in Float.random(in: -1...1, using: &generator) }

        // In one call: the residual after block 10 is resid_mid + mlp_out (to rounding: capturing mlp_out does not
        // change how the residual is computed), then the edit adds 2·vector to exactly the residual of a call
        // without the edit.
        let captures: Set<HookPoint> = [.residMid(layer: 10), .mlpOut(layer: 10), point, .residPost(layer: 11)]
        let added = try model.forward([capitalPrompt], hooks: Hooks(captures: captures, edits: [point: [.add(vector: vector, scale: 2)]]), logits: .last)
        let unedited = try model.forward([capitalPrompt], hooks: Hooks(captures: captures), logits: .last).activations[point]!
        let mid = added.activations[.residMid(layer: 10)]!, mlp = added.activations[.mlpOut(layer: 10)]!
        let edited = added.activations[point]!
        #expect(unedited == clean.activations[point]!, "capturing resid_mid and mlp_out changed the residual stream")
        var sum = mid
        Kernels.add(mlp.storage, into: &sum.storage, count: sum.storage.count)
        #expect(maxDifference(sum, unedited) <= 1e-6 * maxMagnitude(unedited))
        for r in 0..<edited.rows {
            for c in 0..<576 { #expect(edited[r, c] == unedited[r, c] + 2 * vector[c]) }
        }
        let base = clean.activations[point]!
        var shifted = base
        for r in 0..<base.rows { for c in 0..<576 { shifted[r, c] += 2 * vector[c] } }
        #expect(maxDifference(edited, shifted) <= 1e-6 * maxMagnitude(shifted))
        #expect(maxDifference(added.activations[.residPost(layer: 11)]!, clean.activations[.residPost(layer: 11)]!) > 0.1)
        #expect(maxDifference(added.logits!, clean.logits!) > 0.01)

        let replaced = try model.forward([capitalPrompt], hooks: Hooks(captures: [point], edits: [point: [.replace(vector: vector)]]))
        for r in 0..<base.rows { #expect(replaced.activations[point]!.row(r) == vector) }

        let center = (0..<576).map { _ in Float.random(in: -1...1, using: &generator) }
        let projected = try model.forward([capitalPrompt], hooks: Hooks(captures: [point], edits: [point: [.projectOut(direction: vector, center: center)]]))
        let norm = vector.reduce(0) { $0 + Double($1) * Double($1) }.squareRoot()
        for r in 0..<base.rows {
            let x = projected.activations[point]!.row(r), before = base.row(r)
            let component = zip(zip(x, center), vector).reduce(0.0) { $0 + Double($1.0.0 - $1.0.1) * Double($1.1) } / norm
            let original = zip(zip(before, center), vector).reduce(0.0) { $0 + Double($1.0.0 - $1.0.1) * Double($1.1) } / norm
            #expect(abs(component) < 1e-3 * max(1, abs(original)), "row \(r): component \(component) left of \(original)")
            // Only the direction's component changed: x − before is parallel to the direction.
            let delta = zip(x, before).map { Double($0 - $1) }
            let along = zip(delta, vector).reduce(0.0) { $0 + $1.0 * Double($1.1) } / norm
            let residual = zip(delta, vector).map { $0 - along * Double($1) / norm }.map { $0 * $0 }.reduce(0, +).squareRoot()
            #expect(residual < 1e-3 * max(1, abs(original)))
        }
    }

    @Test func editsOfWrongWidthAndUnknownPointsAreErrors() throws {
        let model = try SharedModel.smolLM2()
        #expect(throws: HookError.self) {
            try model.forward([capitalPrompt], hooks: Hooks(edits: [.residPost(layer: 1): [.add(vector: [1, 2, 3], scale: 1)]]))
        }
        #expect(throws: HookError.self) {
            try model.forward([capitalPrompt], hooks: Hooks(edits: [.residPost(layer: 1): [.projectOut(direction: [Float](repeating: 0, count: 576), center: nil)]]))
        }
        #expect(throws: HookError.self) { try model.forward([capitalPrompt], hooks: Hooks(captures: [.residPost(layer: 30)])) }
        #expect(throws: ModelInputError.self) { try model.forward([[504, 49152]]) }
        #expect(throws: ModelInputError.self) { try model.forward([[]]) }
        #expect(throws: ModelInputError.self) { try model.forward([[Int32](repeating: 504, count: 8193)]) }
    }

    @Test func batchesMatchSingleSequencesAndCustomEditsSeePositions() throws {
        let model = try SharedModel.smolLM2()
        let sequences: [[Int32]] = [capitalPrompt, [1, 4093, 198, 26843, 2, 198, 1604, 275, 24], [504, 1463, 282], capitalPrompt + [7042]]
        let point = HookPoint.residPost(layer: 12)
        let seen = Mutex<[[Int]]>([])
        let hooks = Hooks(captures: [point], edits: [.residMid(layer: 3): [.custom { rows in
            seen.withLock { $0.append(zip(rows.sequences, rows.positions).map { 1000 * $0 + $1 }) }
        }]])
        let batch = try model.forward(sequences, hooks: hooks, logits: .all)
        #expect(batch.rowOffsets == [0, 5, 14, 17, 23])
        let rows = seen.withLock { $0 }.flatMap { $0 }.sorted()
        #expect(rows == sequences.enumerated().flatMap { s in s.element.indices.map { 1000 * s.offset + $0 } })
        let last = try model.forward(sequences, logits: .last).logits!
        for (i, sequence) in sequences.enumerated() {
            let single = try model.forward([sequence], hooks: Hooks(captures: [point]), logits: .all)
            let range = batch.rowOffsets[i]..<batch.rowOffsets[i + 1]
            let fromBatch = batch.activations[point]!.rows(range)
            #expect(maxDifference(fromBatch, single.activations[point]!) <= 1e-4 * maxMagnitude(fromBatch))
            #expect(maxDifference(batch.logits!.rows(range), single.logits!) <= 1e-3)
            #expect(maxDifference(last.rows(i..<(i + 1)), single.logits!.rows((sequence.count - 1)..<sequence.count)) <= 1e-3)
        }
    }

    @Test func forwardIntoReusesOrResizesTheOutputs() throws {
        let model = try SharedModel.smolLM2()
        let point = HookPoint.residPost(layer: 3)
        let hooks = Hooks(captures: [point])
        var result = ForwardResult()
        try model.forward([capitalPrompt], hooks: hooks, logits: .all, into: &result)
        let kept = result
        let other: [Int32] = [504, 1463, 282, 260, 7510]
        try model.forward([other], hooks: hooks, logits: .all, into: &result)
        let capitalAgain = try model.forward([capitalPrompt], hooks: hooks).activations[point]!
        let otherAgain = try model.forward([other], hooks: hooks).activations[point]!
        #expect(maxDifference(kept.activations[point]!, capitalAgain) <= 1e-6 * maxMagnitude(capitalAgain), "a copy the caller kept is not overwritten")
        #expect(maxDifference(result.activations[point]!, otherAgain) <= 1e-6 * maxMagnitude(otherAgain))
        #expect(maxDifference(capitalAgain, otherAgain) > 1)
        try model.forward([capitalPrompt, other, [1, 2]], hooks: hooks, logits: .last, into: &result)
        #expect(result.rowOffsets == [0, 5, 10, 12])
        #expect(result.activations[point]?.rows == 12)
        #expect(result.logits?.rows == 3)
        try model.forward([other], hooks: Hooks(captures: [.embed]), into: &result)
        #expect(result.activations.keys.sorted() == [.embed])
        #expect(result.logits == nil)
    }

    /// One token runs as matrix-vector products over the quantized rows, several as fp32 sgemm: same results.
    @Test func singleTokensMatchBatchedRows() throws {
        let model = try SharedModel.smolLM2()
        let point = HookPoint.residPost(layer: 20)
        let one = try model.forward([[504]], hooks: Hooks(captures: [point]), logits: .all)
        let two = try model.forward([[504, 3575]], hooks: Hooks(captures: [point]), logits: .all)
        let a = one.activations[point]!, b = two.activations[point]!.rows(0..<1)
        #expect(maxDifference(a, b) <= 1e-4 * maxMagnitude(b))
        #expect(maxDifference(one.logits!, two.logits!.rows(0..<1)) <= 1e-3)
    }
}

@Suite struct LogitLensTests {
    /// The logit lens of the last block's output is the model's own logits, and it ignores a row's scale.
    @Test func lensOfTheFinalResidualIsTheModelsLogits() throws {
        let model = try SharedModel.smolLM2()
        let last = HookPoint.residPost(layer: model.config.layerCount - 1)
        let result = try model.forward([capitalPrompt], hooks: Hooks(captures: [last]), logits: .all)
        let residual = result.activations[last]!
        let lens = try model.logitLens(residual)
        let logits = result.logits!
        #expect(maxDifference(lens, logits) <= 1e-4 * maxMagnitude(logits))
        var scaled = residual
        for i in scaled.storage.indices { scaled.storage[i] *= 3 }
        #expect(maxDifference(try model.logitLens(scaled), lens) <= 1e-4 * maxMagnitude(logits))
        #expect(throws: ModelInputError.self) { try model.logitLens(Matrix(rows: 1, columns: 3)) }
    }
}
