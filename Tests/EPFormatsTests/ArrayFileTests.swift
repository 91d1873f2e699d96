import Foundation
import Testing
@testable import EPFormats

/// A fresh temporary folder per test.
func temporaryFolder() -> String {
    let path = NSTemporaryDirectory() + "epformats-\(UUID().uuidString)"
    try! FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: true)
    return path
}

@Suite struct NPYTests {
    @Test func roundTripsFloat32AndInt64() throws {
        let dir = temporaryFolder()
        let values: [Float] = (0..<12).map { Float($0) * 0.5 - 1 }
        try NPY.write(values, shape: [3, 4], to: dir + "/a.npy")
        let (read, shape) = try NPY.readFloats(path: dir + "/a.npy")
        #expect(read == values)
        #expect(shape == [3, 4])
        try NPY.write([Int64(-3), 7, 1 << 40], shape: [3], to: dir + "/i.npy")
        let (ints, ishape) = try NPY.readIntegers(path: dir + "/i.npy")
        #expect(ints == [-3, 7, 1 << 40])
        #expect(ishape == [3])
        // The header is padded so that the data starts on a 64-byte boundary, as numpy does.
        let header = try NPY.readHeader(ReadOnlyFile(path: dir + "/a.npy"))
        #expect(header.dataOffset % 64 == 0)
    }

    @Test func rejectsTruncatedAndCorruptFiles() throws {
        let dir = temporaryFolder()
        try NPY.write([Float](repeating: 1, count: 8), shape: [2, 4], to: dir + "/a.npy")
        let bytes = try ReadOnlyFile(path: dir + "/a.npy").readBytes(count: 64 + 32, at: 0)
        try AtomicOutput.write(Array(bytes.dropLast(4)), to: dir + "/short.npy")
        #expect(throws: FileFormatError.self) { try NPY.readFloats(path: dir + "/short.npy") }
        do {
            _ = try NPY.readFloats(path: dir + "/short.npy")
        } catch let error as FileFormatError {
            #expect(error.description.contains("short.npy"))
            #expect(error.description.contains("truncated"))
        }
        var corrupt = bytes
        corrupt[1] = 0x41
        try AtomicOutput.write(corrupt, to: dir + "/magic.npy")
        #expect(throws: FileFormatError.self) { try NPY.readFloats(path: dir + "/magic.npy") }
    }
}

@Suite struct SafetensorsTests {
    @Test func roundTripsTensorsAndMetadata() throws {
        let dir = temporaryFolder()
        var writer = SafetensorsWriter()
        writer.metadata = ["format": "test", "quote": "a\"b"]
        writer.add("x", shape: [2, 3], float32: [1, 2, 3, 4, 5, 6])
        writer.add("n", shape: [2], int64: [5, -6])
        writer.add("d", shape: [1], float64: [0.25])
        try writer.write(to: dir + "/t.safetensors")
        let file = try SafetensorsFile(path: dir + "/t.safetensors")
        #expect(file.metadata == ["format": "test", "quote": "a\"b"])
        #expect(try file.floats("x") == [1, 2, 3, 4, 5, 6])
        #expect(try file.integers("n") == [5, -6])
        #expect(try file.doubles("d") == [0.25])
        #expect(try file.info("x").shape == [2, 3])
        #expect(throws: FileFormatError.self) { try file.info("missing") }
    }
}

@Suite struct AtomicOutputTests {
    @Test func failedWriteLeavesNothingBehind() throws {
        let dir = temporaryFolder()
        struct Boom: Error {}
        #expect(throws: Boom.self) { try AtomicOutput.write(to: dir + "/f") { sink in try sink.write([1, 2, 3]); throw Boom() } }
        #expect(try FileManager.default.contentsOfDirectory(atPath: dir).isEmpty)
    }

    @Test func folderIsReplacedWhole() throws {
        let dir = temporaryFolder()
        try AtomicOutput.writeFolder(at: dir + "/d") { try AtomicOutput.write(string: "one", to: $0 + "/a") }
        try AtomicOutput.writeFolder(at: dir + "/d") { try AtomicOutput.write(string: "two", to: $0 + "/b") }
        #expect(try FileManager.default.contentsOfDirectory(atPath: dir + "/d") == ["b"])
        #expect(try FileManager.default.contentsOfDirectory(atPath: dir) == ["d"])
    }
}
