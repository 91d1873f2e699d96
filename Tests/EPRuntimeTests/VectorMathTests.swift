import EPTensors
import Foundation
import Testing
@testable import EPRuntime

@Suite struct VectorMathTests {
    @Test func expIsWithinTwoUlpsOfTheC_Library() {
        var worst: Double = 0
        var x: Float = -87
        while x < 88 {
            let got = Double(VectorMath.exp(x)), want = Foundation.exp(Double(x))
            worst = max(worst, abs(got - want) / want)
            x += 0.0137
        }
        #expect(worst < 2.5e-7, "largest relative error \(worst)")
        #expect(VectorMath.exp(0) == 1)
        #expect(VectorMath.exp(-200) < 1e-37)
        #expect(VectorMath.exp(100).isFinite && VectorMath.exp(100) > 2e38)
    }

    @Test func maskedSoftmaxMatchesAReferenceForEveryLength() {
        var generator = SeededGenerator(seed: 4)
        for count in 1...27 {
            for valid in 1...count {
                let padded = (valid + 7) / 8 * 8
                var row = (0..<max(count, padded)).map { _ in Float.random(in: -20...20, using: &generator) }
                let input = Array(row[0..<valid])
                let top = input.max()!
                let weights = input.map { Foundation.exp(Double($0 - top)) }
                let total = weights.reduce(0, +)
                row.withUnsafeMutableBufferPointer { VectorMath.maskedSoftmax($0.baseAddress!, valid: valid, count: count) }
                for i in 0..<valid { #expect(abs(Double(row[i]) - weights[i] / total) < 1e-6, "count \(count) valid \(valid) index \(i)") }
                #expect(row[valid..<count].allSatisfy { $0 == 0 })
            }
        }
    }

    @Test func swiGLUAndRMSNormMatchScalarReferences() {
        var generator = SeededGenerator(seed: 5)
        let rows = 3, width = 21
        let gu = (0..<(rows * 2 * width)).map { _ in Float.random(in: -12...12, using: &generator) }
        var out = [Float](repeating: .nan, count: rows * width)
        VectorMath.swiGLU(gu, into: &out, rows: rows, width: width)
        for r in 0..<rows {
            for j in 0..<width {
                let g = Double(gu[2 * width * r + j]), u = Double(gu[2 * width * r + width + j])
                #expect(abs(Double(out[r * width + j]) - g / (1 + Foundation.exp(-g)) * u) < 1e-5 * max(1, abs(g * u)))
            }
        }
        let x = (0..<(rows * width)).map { _ in Float.random(in: -3...3, using: &generator) }
        let w = (0..<width).map { _ in Float.random(in: 0.5...2, using: &generator) }
        var normed = [Float](repeating: .nan, count: rows * width)
        VectorMath.rmsNorm(x, into: &normed, rows: rows, width: width, stride: width, weight: w, epsilon: 1e-5)
        for r in 0..<rows {
            let meanSquare = x[(r * width)..<((r + 1) * width)].reduce(0) { $0 + Double($1) * Double($1) } / Double(width)
            for j in 0..<width {
                let want = Double(x[r * width + j]) / (meanSquare + 1e-5).squareRoot() * Double(w[j])
                #expect(abs(Double(normed[r * width + j]) - want) < 1e-5 * max(1, abs(want)))
            }
        }
    }

    @Test func ropeRotatesAdjacentPairs() throws {
        var generator = SeededGenerator(seed: 6)
        let headDim = 12, heads = 2
        let config = try TransformerConfig(gguf: GGUFFile(path: ModelLoadingTests.llamaMetadata().withEmbedding().write(to: temporaryFolder())))
        var c = config
        c.headDim = headDim
        c.ropeDimensions = 8
        c.headCount = 1
        c.kvHeadCount = 1
        let tables = try #require(RopeTables(config: c, base: c.ropeBase, positions: 5..<9))
        let original = (0..<(heads * headDim)).map { _ in Float.random(in: -1...1, using: &generator) }
        var x = original
        x.withUnsafeMutableBufferPointer { tables.apply($0.baseAddress!, rows: 1, stride: heads * headDim, firstPosition: 7) }
        for h in 0..<heads {
            for i in 0..<(headDim / 2) {
                let a = Double(original[h * headDim + 2 * i]), b = Double(original[h * headDim + 2 * i + 1])
                let angle = i < 4 ? 7 * Foundation.pow(c.ropeBase, -Double(2 * i) / 8) : 0
                #expect(abs(Double(x[h * headDim + 2 * i]) - (a * Foundation.cos(angle) - b * Foundation.sin(angle))) < 1e-6)
                #expect(abs(Double(x[h * headDim + 2 * i + 1]) - (a * Foundation.sin(angle) + b * Foundation.cos(angle))) < 1e-6)
            }
        }
    }
}

extension VectorMathTests {
    @Test func ropeRotatesHalvesNEOXStyle() throws {
        var generator = SeededGenerator(seed: 7)
        let headDim = 12, heads = 2
        var c = try TransformerConfig(gguf: GGUFFile(path: ModelLoadingTests.llamaMetadata().withEmbedding().write(to: temporaryFolder())))
        c.headDim = headDim
        c.ropeDimensions = 8
        c.headCount = 1
        c.kvHeadCount = 1
        c.positionEncoding = .ropeHalves
        let tables = try #require(RopeTables(config: c, base: 500, positions: 5..<9))
        let original = (0..<(heads * headDim)).map { _ in Float.random(in: -1...1, using: &generator) }
        var x = original
        x.withUnsafeMutableBufferPointer { tables.apply($0.baseAddress!, rows: 1, stride: heads * headDim, firstPosition: 6) }
        for h in 0..<heads {
            for i in 0..<4 {
                let a = Double(original[h * headDim + i]), b = Double(original[h * headDim + i + 4])
                let angle = 6 * Foundation.pow(500, -Double(2 * i) / 8)
                #expect(abs(Double(x[h * headDim + i]) - (a * Foundation.cos(angle) - b * Foundation.sin(angle))) < 1e-6)
                #expect(abs(Double(x[h * headDim + i + 4]) - (a * Foundation.sin(angle) + b * Foundation.cos(angle))) < 1e-6)
            }
            for j in 8..<headDim { #expect(x[h * headDim + j] == original[h * headDim + j]) }
        }
    }

    @Test func geluTanhAndSoftcapMatchTheirFormulas() {
        let values: [Float] = (-40...40).map { Float($0) / 4 } + [0, 1e-3, -1e-3, 30, -30]
        var gelu = values
        gelu.withUnsafeMutableBufferPointer { VectorMath.geluTanh($0.baseAddress!, count: $0.count) }
        var capped = values
        capped.withUnsafeMutableBufferPointer { VectorMath.softcap($0.baseAddress!, count: $0.count, cap: 5) }
        for (i, v) in values.enumerated() {
            let x = Double(v)
            let want = 0.5 * x * (1 + Foundation.tanh(0.7978845608028654 * (x + 0.044715 * x * x * x)))
            #expect(abs(Double(gelu[i]) - want) <= 2e-6 * max(1, abs(want)), "gelu(\(v))")
            #expect(abs(Double(capped[i]) - 5 * Foundation.tanh(x / 5)) <= 2e-6 * 5, "softcap(\(v))")
        }
    }

    @Test func layerNormCentersAndScales() {
        let x: [Float] = [1, 2, 3, 4, 10, -2, 0.5, 7]
        let w: [Float] = [1, 2, 1, 0.5, 1, 1, 3, 1], b: [Float] = [0, 1, 0, 0, -1, 0, 0, 2]
        var out = [Float](repeating: 0, count: 8)
        x.withUnsafeBufferPointer { xp in
            out.withUnsafeMutableBufferPointer { op in
                VectorMath.layerNorm(xp.baseAddress!, into: op.baseAddress!, rows: 1, width: 8, stride: 8, weight: w, bias: b, epsilon: 1e-5)
            }
        }
        let mean = x.reduce(0) { $0 + Double($1) } / 8
        let variance = x.reduce(0) { $0 + (Double($1) - mean) * (Double($1) - mean) } / 8
        for i in 0..<8 {
            let want = (Double(x[i]) - mean) / (variance + 1e-5).squareRoot() * Double(w[i]) + Double(b[i])
            #expect(abs(Double(out[i]) - want) < 1e-5)
        }
    }
}

extension GGUFBuilder {
    /// The builder with a small token embedding (enough for `TransformerConfig`).
    func withEmbedding() -> GGUFBuilder {
        var b = self
        b.addTensor("token_embd.weight", dims: [8, 10], floats: [Float](repeating: 0.1, count: 80))
        return b
    }
}
