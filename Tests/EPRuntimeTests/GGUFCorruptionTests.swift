import EPTensors
import EPFormats
import Foundation
import Testing
@testable import EPRuntime

#if canImport(Glibc)
import Glibc
#endif

/// Opens `path` as GGUF: a valid file reads, anything else must be a ``FileFormatError`` (a trap would end the
/// test run). Returns whether the file was rejected.
@discardableResult
func openRejectingOrReading(_ path: String, _ context: @autoclosure () -> String) -> Bool {
    do {
        _ = try GGUFFile(path: path)
        return false
    } catch is FileFormatError {
        return true
    } catch {
        Issue.record("\(context()): unexpected error type \(type(of: error)): \(error)")
        return true
    }
}

/// Writes `bytes` at `offset` of the file at `path`, in place.
func patch(_ path: String, at offset: Int, _ bytes: [UInt8]) {
    let fd = open(path, O_WRONLY)
    precondition(fd >= 0)
    _ = bytes.withUnsafeBytes { pwrite(fd, $0.baseAddress, bytes.count, off_t(offset)) }
    close(fd)
}

@Suite struct GGUFCorruptionTests {
    private static func le<T: FixedWidthInteger>(_ v: T) -> [UInt8] { withUnsafeBytes(of: v.littleEndian) { Array($0) } }

    /// A small GGUF with metadata of every value type (a nested array too) and three tensors; its last tensor ends
    /// exactly at the end of the file.
    static func synthetic() -> GGUFBuilder {
        var b = GGUFBuilder()
        b.add("general.architecture", string: "llama")
        b.add("u8", typeID: 0, bytes: [7])
        b.add("i8", typeID: 1, bytes: [0xF9])
        b.add("u16", typeID: 2, bytes: le(UInt16(700)))
        b.add("i16", typeID: 3, bytes: le(Int16(-700)))
        b.add("u32", uint32: 70_000)
        b.add("i32", typeID: 5, bytes: le(Int32(-70_000)))
        b.add("f32", float32: 0.5)
        b.add("bool", typeID: 7, bytes: [1])
        b.add("u64", typeID: 10, bytes: le(UInt64(1) << 40))
        b.add("i64", typeID: 11, bytes: le(Int64(-1) << 40))
        b.add("f64", typeID: 12, bytes: le(Double(0.25).bitPattern))
        b.add("tokens", strings: ["a", "bc", "<|im_start|>"])
        b.add("nested", typeID: 9, bytes: le(UInt32(9)) + le(UInt64(2)) + (0..<2).flatMap { _ in le(UInt32(5)) + le(UInt64(2)) + le(Int32(1)) + le(Int32(2)) })
        b.addTensor("a", dims: [8, 2], floats: (0..<16).map(Float.init))
        b.addTensor("q", dims: [32], typeID: GGMLType.q8_0.rawValue, data: [0, 0x3C] + (0..<32).map { UInt8($0) })
        b.addTensor("h", dims: [16], typeID: GGMLType.f16.rawValue, data: (0..<16).flatMap { _ in le(UInt16(0x3C00)) })
        return b
    }

    @Test func readsTheSyntheticFile() throws {
        let gguf = try GGUFFile(path: try Self.synthetic().write(to: temporaryFolder()))
        #expect(gguf.metadata["i16"] == .int16(-700))
        #expect(gguf.metadata["i64"] == .int64(-1 << 40))
        #expect(gguf.metadata["nested"]?.array?.count == 2)
        #expect(try gguf.floats(gguf.requireTensor("q")) == (0..<32).map(Float.init))
        #expect(try gguf.floats(gguf.requireTensor("h")) == [Float](repeating: 1, count: 16))
        #expect(gguf.dataOffset + 64 + 64 + 32 == gguf.file.count)
    }

    @Test func namedCorruptionsAreClearErrors() throws {
        let folder = temporaryFolder()
        let good = Self.synthetic().bytes()
        func problem(_ bytes: [UInt8]) -> String {
            let path = folder + "/bad.gguf"
            try! AtomicOutput.write(bytes, to: path)
            do {
                _ = try GGUFFile(path: path)
                return "opened"
            } catch let error as FileFormatError {
                return error.problem
            } catch {
                return "unexpected \(error)"
            }
        }
        func replacing(_ offset: Int, _ bytes: [UInt8]) -> [UInt8] {
            var b = good
            b.replaceSubrange(offset..<(offset + bytes.count), with: bytes)
            return b
        }
        #expect(problem(replacing(0, Array("GGUX".utf8))).contains("bad magic"))
        #expect(problem(replacing(4, Self.le(UInt32(4)))).contains("unsupported GGUF version 4"))
        #expect(problem(replacing(4, Self.le(UInt32(3).byteSwapped))).contains("big-endian"))
        #expect(problem(replacing(8, Self.le(UInt64.max))).contains("tensor count"))
        #expect(problem(replacing(16, Self.le(UInt64(1) << 60))).contains("metadata count"))
        #expect(problem(Array(good.prefix(40))).contains("truncated header"))
        #expect(problem(Array(good.dropLast(1))).contains("truncated"))
        #expect(problem([]).contains("not a GGUF file"))

        func tensorFile(dims: [Int], typeID: UInt32, offsetShift: UInt64 = 0, dataBytes: Int = 64) -> [UInt8] {
            var b = GGUFBuilder()
            b.addTensor("t", dims: dims, typeID: typeID, data: [UInt8](repeating: 0, count: dataBytes))
            var bytes = b.bytes()
            if offsetShift != 0 {
                // The tensor's offset is the last 8 bytes of its info, just before the padding to the data.
                let infoEnd = 24 + 8 + 1 + 4 + 8 * dims.count + 4 + 8
                bytes.replaceSubrange((infoEnd - 8)..<infoEnd, with: Self.le(offsetShift))
            }
            return bytes
        }
        #expect(tensorFile(dims: [16], typeID: 0).count == 128)
        #expect(problem(tensorFile(dims: [16], typeID: 0)) == "opened")
        #expect(problem(tensorFile(dims: [16], typeID: 99)).contains("unknown tensor type id 99"))
        #expect(problem(tensorFile(dims: [16], typeID: 0, offsetShift: 1 << 62)).contains("beyond the end"))
        #expect(problem(tensorFile(dims: [16], typeID: 0, offsetShift: 4)).contains("not aligned"))
        #expect(problem(tensorFile(dims: [16], typeID: 0, offsetShift: 32)).contains("truncated"))
        #expect(problem(tensorFile(dims: [1 << 34, 1 << 34], typeID: 0)).contains("overflows"))
        #expect(problem(tensorFile(dims: [Int(Int32.max) * 16, 2], typeID: 0)).contains("truncated"))
        #expect(problem(tensorFile(dims: [Int(Int32.max) * 17], typeID: 0)).contains("out of range"))
        #expect(problem(tensorFile(dims: [0], typeID: 0)).contains("out of range"))
        #expect(problem(tensorFile(dims: [33], typeID: GGMLType.q8_0.rawValue)).contains("not a multiple"))
    }

    @Test func everyTruncationIsRejected() throws {
        let folder = temporaryFolder()
        let bytes = Self.synthetic().bytes()
        for n in 0..<bytes.count {
            let path = folder + "/t\(n).gguf"
            try AtomicOutput.write(Array(bytes.prefix(n)), to: path)
            #expect(openRejectingOrReading(path, "truncated at \(n)"), "a file cut at \(n) of \(bytes.count) bytes opened")
            try FileManager.default.removeItem(atPath: path)
        }
    }

    @Test func byteFlipsInTheHeaderNeverCrash() throws {
        let folder = temporaryFolder()
        let bytes = Self.synthetic().bytes()
        let headerEnd = try GGUFFile(path: try Self.synthetic().write(to: folder)).dataOffset
        let path = folder + "/flip.gguf"
        try AtomicOutput.write(bytes, to: path)
        var generator = SeededGenerator(seed: 2024)
        var rejected = 0
        for offset in 0..<headerEnd {
            for value in [UInt8(0xFF), 0x00, 0x80, UInt8.random(in: 1...254, using: &generator)] where value != bytes[offset] {
                patch(path, at: offset, [value])
                if openRejectingOrReading(path, "byte \(offset) set to \(value)") { rejected += 1 }
                patch(path, at: offset, [bytes[offset]])
            }
        }
        #expect(rejected > headerEnd)
    }

    /// The real model's header on a sparse copy (tensor data reads as zeros): truncations at many points are
    /// rejected; byte flips in the key/value and tensor-info regions are rejected or read, never a crash.
    @Test func corruptionsOfTheRealHeader() throws {
        let model = try requireSmolLM2()
        let original = try GGUFFile(path: model)
        let header = Array(original.file.buffer.prefix(original.dataOffset))
        let size = original.file.count
        let folder = temporaryFolder()
        let path = folder + "/model.gguf"
        func writeCopy(length: Int) throws {
            try AtomicOutput.write(header, to: path)
            #expect(truncate(path, off_t(length)) == 0)
        }
        try writeCopy(length: size)
        #expect(try GGUFFile(path: path).tensors == original.tensors)

        var generator = SeededGenerator(seed: 7)
        for _ in 0..<30 {
            let n = Int.random(in: 0..<size, using: &generator)
            try writeCopy(length: n)
            #expect(openRejectingOrReading(path, "cut at \(n)"), "the model cut at \(n) of \(size) bytes opened")
        }
        try writeCopy(length: size)
        let regions = [0..<4096, (original.dataOffset - 16384)..<original.dataOffset]
        for i in 0..<120 {
            let offset = Int.random(in: regions[i % 2], using: &generator)
            let value = UInt8.random(in: 0...255, using: &generator)
            patch(path, at: offset, [value])
            openRejectingOrReading(path, "byte \(offset) set to \(value)")
            patch(path, at: offset, [header[offset]])
        }
    }
}
