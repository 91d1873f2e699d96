import Foundation
import Testing
@testable import EPRuntime

@Suite struct GGUFWriterTests {
    /// The writer's bytes are those of the tests' independent byte-by-byte GGUF builder, and the reader reads back
    /// every key and tensor (sizes that are and are not multiples of the 32-byte alignment).
    @Test func writesWhatTheBuilderWritesAndTheReaderReads() throws {
        let a: [Float] = (0..<5).map { Float($0) * 0.5 - 1 }, b: [Float] = (0..<8).map { Float($0).squareRoot() }
        var writer = GGUFWriter()
        writer.set("general.architecture", .string("controlvector"))
        writer.set("controlvector.layer_count", .uint32(2))
        writer.set("some.float", .float32(1.25))
        writer.set("some.names", .array([.string("x"), .string("yz")]))
        writer.add("direction.3", dimensions: [5], values: a)
        writer.add("direction.7", dimensions: [4, 2], values: b)
        var builder = GGUFBuilder()
        builder.add("general.architecture", string: "controlvector")
        builder.add("controlvector.layer_count", uint32: 2)
        builder.add("some.float", float32: 1.25)
        builder.add("some.names", strings: ["x", "yz"])
        builder.addTensor("direction.3", dims: [5], floats: a)
        builder.addTensor("direction.7", dims: [4, 2], floats: b)
        #expect(writer.bytes() == builder.bytes())

        let path = temporaryFolder() + "/cv.gguf"
        try writer.write(to: path)
        let file = try GGUFFile(path: path)
        #expect(file.version == 3 && file.metadataKeys == ["general.architecture", "controlvector.layer_count", "some.float", "some.names"])
        #expect(try file.requireString("general.architecture") == "controlvector")
        #expect(try file.requireInteger("controlvector.layer_count") == 2)
        #expect(file.metadata["some.float"] == .float32(1.25))
        #expect(file.metadata["some.names"] == .array([.string("x"), .string("yz")]))
        for (name, dims, values) in [("direction.3", [5], a), ("direction.7", [4, 2], b)] {
            let t = try file.requireTensor(name)
            #expect(t.type == .f32 && t.dimensions == dims && t.offset % GGUFWriter.alignment == 0)
            #expect(Array(file.data(of: t).bindMemory(to: Float.self)) == values)
        }
    }

    /// Every scalar type round-trips through the reader.
    @Test func everyValueTypeRoundTrips() throws {
        let values: [GGUFValue] = [
            .uint8(7), .int8(-7), .uint16(65535), .int16(-300), .uint32(4_000_000_000), .int32(-5), .uint64(1 << 40),
            .int64(-(1 << 40)), .float32(-0.5), .float64(1e-300), .bool(true), .string("häß"), .array([.int32(1), .int32(-2)]),
        ]
        var writer = GGUFWriter()
        for (i, v) in values.enumerated() { writer.set("k\(i)", v) }
        let path = temporaryFolder() + "/values.gguf"
        try writer.write(to: path)
        let file = try GGUFFile(path: path)
        for (i, v) in values.enumerated() { #expect(file.metadata["k\(i)"] == v) }
        #expect(file.tensors.isEmpty)
    }
}
