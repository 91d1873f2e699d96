import EPTensors
import EPFormats
import Testing
@testable import EPRuntime

@Suite struct DequantizeTests {
    /// Every decodable type against the values gguf-py decodes from the same bytes
    /// (scripts/oracle/make_quant_goldens.py), bit for bit.
    @Test(arguments: GGMLType.dequantizable)
    func matchesGGUFPyBitForBit(type: GGMLType) throws {
        let gguf = try GGUFFile(path: goldensFolder + "/quants.gguf")
        let expected = try SafetensorsFile(path: goldensFolder + "/quants_expected.safetensors")
        let tensor = try gguf.requireTensor(type.description)
        #expect(tensor.type == type)
        #expect(tensor.dimensions == [512, 2])
        let decoded = try gguf.floats(tensor)
        let reference = try expected.floats(type.description)
        #expect(decoded.count == reference.count)
        let mismatches = zip(decoded, reference).filter { $0.bitPattern != $1.bitPattern }.count
        #expect(mismatches == 0, "\(type): \(mismatches) of \(decoded.count) values differ from gguf-py")
    }

    @Test func decodesRowRanges() throws {
        let gguf = try GGUFFile(path: goldensFolder + "/quants.gguf")
        for type in [GGMLType.q4_1, .q6_K, .f16] {
            let tensor = try gguf.requireTensor(type.description)
            let all = try gguf.floats(tensor)
            var row = [Float](repeating: .nan, count: 512)
            try row.withUnsafeMutableBufferPointer { try gguf.dequantize(tensor, rows: 1..<2, into: $0.baseAddress!) }
            #expect(row == Array(all[512...]))
            #expect(throws: FileFormatError.self) {
                try row.withUnsafeMutableBufferPointer { try gguf.dequantize(tensor, rows: 1..<3, into: $0.baseAddress!) }
            }
        }
    }

    @Test func unsupportedTypeIsAClearError() throws {
        var builder = GGUFBuilder()
        builder.addTensor("w", dims: [256], typeID: GGMLType.q2_K.rawValue, data: [UInt8](repeating: 0, count: 84))
        let gguf = try GGUFFile(path: try builder.write(to: temporaryFolder()))
        let error = try #require(throws: FileFormatError.self) { try gguf.floats(gguf.requireTensor("w")) }
        #expect(error.problem.contains("Q2_K"))
        #expect(error.problem.contains("supported: F32, F16, BF16, Q8_0, Q4_0, Q4_1, Q5_0, Q5_1, Q4_K, Q5_K, Q6_K"))
    }

    /// The fused dot products of single-row steps agree with decoding the row and summing in double precision.
    @Test(arguments: [GGMLType.q4_1, .q8_0])
    func fusedDotProductsMatchDecodedRows(type: GGMLType) throws {
        let gguf = try GGUFFile(path: goldensFolder + "/quants.gguf")
        let tensor = try gguf.requireTensor(type.description)
        let decoded = try gguf.floats(tensor)
        var generator = SeededGenerator(seed: 8)
        let x = (0..<512).map { _ in Float.random(in: -2...2, using: &generator) }
        let sums = (0..<16).map { b in x[(32 * b)..<(32 * b + 32)].reduce(0, +) }
        let rowBytes = 512 / 32 * type.blockBytes
        for row in 0..<2 {
            let fused = BlockDecoders.dot(type, row: gguf.file.bytes + tensor.offset + row * rowBytes, x: x, blockSums: sums, blocks: 16)
            let reference = (0..<512).reduce(0.0) { $0 + Double(decoded[512 * row + $1]) * Double(x[$1]) }
            let scale = (0..<512).reduce(0.0) { $0 + abs(Double(decoded[512 * row + $1]) * Double(x[$1])) }
            #expect(abs(Double(fused) - reference) <= 1e-6 * scale, "\(type) row \(row): \(fused) vs \(reference)")
        }
    }
}
