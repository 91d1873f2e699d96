import EPTensors
import Foundation
import Testing
@testable import EPFormats

@Suite struct JSONTests {
    @Test func parsesRendersAndKeepsOrder() throws {
        let text = #"{"b": 1, "a": [1.5, -2e-3, null, true, "x\"\u00e9"], "c": {"d": 9007199254740993, "e": NaN}}"#
        let value = try JSONValue.parse(Array(text.utf8), path: "t.json")
        guard case .object(let o) = value else { Issue.record("not an object"); return }
        #expect(o.keys == ["b", "a", "c"])
        let f = try JSONFields(value, path: "t.json")
        #expect(try f.integer("b") == 1)
        #expect(try f.object("c").integer("d") == 9_007_199_254_740_993)
        #expect(try f.object("c").double("e").isNaN)
        #expect(try f.array("a")[4] == .string("x\"é"))
        let again = try JSONValue.parse(Array(value.rendered().utf8), path: "t.json")
        #expect(again.rendered() == value.rendered())
        #expect(JSONValue.number(0.1).rendered() == "0.1" && JSONValue.number(.infinity).rendered() == "null")
    }

    @Test func errorsNameFileFieldAndKind() throws {
        let f = try JSONFields(try JSONValue.parse(Array(#"{"x": "s", "o": {"n": [1, "a"]}}"#.utf8), path: "m.json"), path: "m.json")
        #expect(throws: FileFormatError("m.json", "field 'x': expected a number, found the string \"s\"")) { try f.double("x") }
        #expect(throws: FileFormatError("m.json", "missing field 'y'")) { try f.string("y") }
        #expect(throws: FileFormatError("m.json", "field 'o.n': element 1: expected a number, found the string \"a\"")) { try f.object("o").doubles("n") }
        #expect(throws: FileFormatError.self) { try JSONValue.parse(Array("{\"a\": }".utf8), path: "bad.json") }
    }

    /// The serve API's settings of the bridge: nil optionals left out, compact text, non-finite numbers found.
    @Test func compactTextAndOmittedNilOptionals() throws {
        struct Record: Codable, Equatable {
            var name: String
            var note: String?
            var values: [Double]
            var inner: [String: Int]?
        }
        let record = Record(name: "a\"b", note: nil, values: [1, 0.5], inner: nil)
        let omitted = try JSONValueEncoder(omitsNilOptionals: true).encode(record)
        #expect(omitted.compactText == #"{"name":"a\"b","values":[1.0,0.5]}"#)
        #expect(try JSONValueEncoder().encode(record).compactText == #"{"name":"a\"b","note":null,"values":[1.0,0.5],"inner":null}"#)
        #expect(try JSONValueDecoder().decode(Record.self, from: omitted) == record)
        #expect(!omitted.containsNonFiniteNumber)
        #expect(JSONValue.array([.object(JSONObject(["x": .number(.nan)]))]).containsNonFiniteNumber)
    }

    /// Keys that are data keep their order; a repeated key keeps its first place and its last value, as JSONObject.
    @Test func orderedObjectKeepsTheGivenOrder() throws {
        let o = JSONOrderedObject([(key: "b", value: [1.5]), (key: "a", value: []), (key: "b", value: [2])])
        #expect(try JSONValueEncoder().encode(o).compactText == #"{"b":[2.0],"a":[]}"#)
        #expect(o["b"] == [2] && o["c"] == nil)
        var object = JSONObject()
        for (k, v) in o.entries { object[k] = .array(v.map { .number($0) }) }
        #expect(try JSONValueEncoder().encode(o) == .object(object))
        #expect(try JSONValueEncoder().encode(JSONOrderedObject<Int>()).rendered() == "{}")
    }
}

@Suite struct ArchiveTests {
    @Test func crc32MatchesTheStandardCheckValue() {
        var crc = CRC32()
        crc.update(Array("123456789".utf8))
        #expect(crc.value == 0xCBF4_3926)
    }

    @Test func npzIsAStoredZipOfNpyMembers() throws {
        let path = NSTemporaryDirectory() + "ep-\(UUID().uuidString).npz"
        var npz = NPZWriter()
        npz.add("ids", [Int64(3), -1, 7], shape: [3])
        npz.add("flags", [true, false], shape: [2])
        try npz.write(to: path)
        let bytes = try ReadOnlyFile(path: path).readBytes(count: ReadOnlyFile(path: path).size, at: 0)
        func u32(_ at: Int) -> UInt32 { (0..<4).reduce(0) { $0 | UInt32(bytes[at + $1]) << (8 * UInt32($1)) } }
        func u16(_ at: Int) -> Int { Int(bytes[at]) | Int(bytes[at + 1]) << 8 }
        #expect(u32(0) == 0x0403_4B50)
        let end = bytes.count - 22
        #expect(u32(end) == 0x0605_4B50 && u16(end + 10) == 2)
        // The first member: name, then the .npy bytes, whose CRC the header states.
        let nameLength = u16(26)
        #expect(String(decoding: bytes[30..<(30 + nameLength)], as: UTF8.self) == "ids.npy")
        let size = Int(u32(22))
        let member = Array(bytes[(30 + nameLength)..<(30 + nameLength + size)])
        var crc = CRC32()
        crc.update(member)
        #expect(crc.value == u32(14))
        #expect(Array(member.prefix(6)) == [0x93, 0x4E, 0x55, 0x4D, 0x50, 0x59])
    }

    @Test func streamedNpyAppearsOnlyWhenComplete() throws {
        let folder = NSTemporaryDirectory() + "ep-\(UUID().uuidString)"
        try FileManager.default.createDirectory(atPath: folder, withIntermediateDirectories: true)
        do {
            let writer = try NPYStreamWriter<Int64>(path: folder + "/a.npy", count: 5)
            try writer.append([1, 2])
            #expect(throws: FileFormatError.self) { try writer.commit() }
        }
        #expect(try FileManager.default.contentsOfDirectory(atPath: folder).isEmpty)
        let writer = try NPYStreamWriter<Int64>(path: folder + "/a.npy", count: 5)
        try writer.append([1, 2])
        try writer.append([3, 4, 5])
        try writer.commit()
        #expect(try NPY.readIntegers(path: folder + "/a.npy").values == [1, 2, 3, 4, 5])
    }
}

@Suite struct ActivationStreamTests {
    @Test func batchesSpanFilesAndConvertEncodings() throws {
        let folder = NSTemporaryDirectory() + "ep-\(UUID().uuidString)"
        try FileManager.default.createDirectory(atPath: folder, withIntermediateDirectories: true)
        let a: [Float] = (0..<15).map { Float($0) * 0.5 }
        try NPY.write(a, shape: [5, 3], to: folder + "/a.npy")
        let b: [Float] = (0..<12).map { -Float($0) }
        let halves = b.map { HalfPrecision.halfBits(from: $0) }
        try halves.withUnsafeBytes { try AtomicOutput.write(NPY.encode(elementType: .float16, shape: [4, 3], data: $0), to: folder + "/b.npy") }
        var st = SafetensorsWriter()
        st.add("x", dtype: .bfloat16, shape: [2, 3], bytes: [Float](repeating: 2, count: 6).flatMap { v -> [UInt8] in
            let bits = HalfPrecision.bfloat16Bits(from: v)
            return [UInt8(bits & 0xFF), UInt8(bits >> 8)]
        })
        try st.write(to: folder + "/c.safetensors")
        let stream = try ActivationStream(paths: [folder + "/a.npy", folder + "/b.npy", folder + "/c.safetensors"])
        #expect(stream.totalRows == 11 && stream.width == 3)
        var batch = Matrix(rows: 0, columns: 3)
        var all: [Float] = []
        var sizes: [Int] = []
        while try stream.next(into: &batch, maxRows: 4) {
            all += batch.storage
            sizes.append(batch.rows)
        }
        #expect(sizes == [4, 4, 3])
        #expect(all == a + b + [Float](repeating: 2, count: 6))
        #expect(stream.location(ofRow: 6).row == 1 && stream.location(ofRow: 6).file.path.hasSuffix("b.npy"))
        stream.rewind()
        #expect(try stream.next(into: &batch, maxRows: 100) && batch.rows == 11)
    }
}

@Suite struct SHA256Tests {
    /// FIPS 180-4 examples, a message spanning several blocks fed in uneven pieces, and a file.
    @Test func knownDigests() throws {
        func digest(_ text: String) -> String {
            var h = SHA256()
            h.update(Array(text.utf8))
            return h.hexDigest
        }
        #expect(digest("") == "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855")
        #expect(digest("abc") == "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad")
        #expect(digest("abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq") == "248d6a61d20638b8e5c026930c3e6039a33ce45964ff2167f6ecedd419db06c1")
        let million = [UInt8](repeating: UInt8(ascii: "a"), count: 1_000_000)
        var pieces = SHA256()
        var offset = 0
        for size in [1, 63, 64, 65, 1000, 998_807] {
            pieces.update(Array(million[offset..<offset + size]))
            offset += size
        }
        #expect(offset == million.count)
        #expect(pieces.hexDigest == "cdc76e5c9914fb9281a1c7e284d73e67f1809a48a497200e046d39ccc7112cd0")
        let path = NSTemporaryDirectory() + "sha-\(UUID().uuidString)"
        try AtomicOutput.write(million, to: path)
        defer { try? FileManager.default.removeItem(atPath: path) }
        #expect(try SHA256.hexDigest(ofFile: path) == pieces.hexDigest)
    }
}
