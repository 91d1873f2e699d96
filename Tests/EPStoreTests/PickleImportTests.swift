import EPCore
import EPFormats
import EPStore
import EPTensors
import Foundation
import Testing

/// `Tests/Fixtures/pickles` (copied from `../shared/fixtures/pickles/`; see its README.md).
let pickleFixtures: String = {
    var url = URL(fileURLWithPath: #filePath)
    for _ in 0..<2 { url.deleteLastPathComponent() }
    return url.appendingPathComponent("Fixtures/pickles").path
}()

let pickleNames = ["small-d32-p4", "legacy-cas-d64", "proto5-d128-finalized"]

/// The message of the `FileFormatError` `body` throws (a test failure if it throws none or another error).
func pickleError(_ body: () throws -> Void) -> String {
    do {
        try body()
    } catch let error as FileFormatError {
        return error.description
    } catch {
        Issue.record("expected a FileFormatError, got \(error)")
        return "\(error)"
    }
    Issue.record("expected an error, got none")
    return ""
}

func scratchFolder(_ name: String) throws -> String {
    let path = NSTemporaryDirectory() + "ep-pickle-\(name)-\(getpid())-\(UInt32.random(in: 0...UInt32.max))"
    try FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: true)
    return path
}

@Suite("Pickle import")
struct PickleImportTests {
    @Test("every array, prompt and query assignment of the authors' dictionary is reproduced", arguments: pickleNames)
    func fixture(_ name: String) throws {
        let expected = "\(pickleFixtures)/\(name)_expected"
        let imported = try PickleImport.read(pickle: "\(pickleFixtures)/\(name).pkl", metadata: "\(pickleFixtures)/\(name)_metadata.json")
        let d = imported.dictionary, r = d.regions
        let caseJSON = try JSONFields(try JSONValue.parse(Array(try Data(contentsOf: URL(fileURLWithPath: "\(expected)/case.json"))), path: "case.json"), path: "case.json")
        #expect(d.threshold == (try caseJSON.double("threshold")))
        #expect(r.count == (try caseJSON.integer("K")))
        #expect(d.width == (try caseJSON.integer("d")))
        #expect(imported.build.imported?.pickleProtocol == (try caseJSON.integer("protocol")))
        #expect(imported.build.imported?.pickledClass.hasPrefix((try caseJSON.bool("legacy_module")) ? "cas." : "ep.") == true)

        // Stored floats: exact, bit for bit.
        func floats(_ file: String) throws -> [Float] { try NPY.readFloats(path: "\(expected)/\(file).npy").values }
        func doubles(_ file: String) throws -> [Double] { try NPY.readDoubles(path: "\(expected)/\(file).npy").values }
        func ints(_ file: String) throws -> [Int64] { try NPY.readIntegers(path: "\(expected)/\(file).npy").values.map(Int64.init) }
        #expect(d.center.map(\.bitPattern) == (try floats("center")).map(\.bitPattern))
        #expect(r.exemplarDirections.map(\.bitPattern) == (try floats("exemplar_direction")).map(\.bitPattern))
        #expect(r.meanMemberDirections.map(\.bitPattern) == (try floats("mean_member_direction")).map(\.bitPattern))
        #expect(r.memberCounts == (try ints("member_count")))
        #expect(r.memberCoherences.map(\.bitPattern) == (try doubles("member_coherence")).map(\.bitPattern))
        #expect(r.sumDistances.map(\.bitPattern) == (try doubles("sum_dist_to_exemplar")).map(\.bitPattern))
        #expect(r.sumSquaredDistances.map(\.bitPattern) == (try doubles("sum_sq_dist_to_exemplar")).map(\.bitPattern))
        #expect(r.reservoir?.directions.map { Int64($0.count / d.width) } == (try ints("reservoir_sizes")))

        // Closest and farthest prompts: distance (exact: the pickled floats are float32 values), text, position.
        let prompts = try JSONValue.parse(Array(try Data(contentsOf: URL(fileURLWithPath: "\(expected)/prompts.json"))), path: "prompts.json")
        guard case .array(let perRegion) = prompts else { Issue.record("prompts.json is not an array"); return }
        #expect(perRegion.count == r.count)
        for (k, entry) in perRegion.enumerated() {
            let f = try JSONFields(entry, path: "prompts.json")
            for (key, table) in [("closest", r.closest), ("farthest", r.farthest)] {
                let want = try f.array(key).map { item -> (Double, String, Int) in
                    guard case .array(let t) = item, t.count == 3, case .string(let text) = t[1] else { throw FileFormatError("prompts.json", "bad entry") }
                    return (t[0].doubleValue!, text, Int(t[2].doubleValue!))
                }
                let got = table.members(of: k).map { m in
                    (Double(m.distance), imported.contexts.window(id: m.reference.source)?.text ?? "?", Int(m.reference.position))
                }
                #expect(got.count == want.count, "region \(k) \(key)")
                for (g, w) in zip(got, want) {
                    #expect(g.0 == w.0 && g.1 == w.1 && g.2 == w.2, "region \(k) \(key): got \(g), expected \(w)")
                }
            }
        }

        // The authors' assign on the query rows: ids identical, distances within 1e-6.
        let query = try NPY.readFloats(path: "\(expected)/query.npy")
        let assignment = try d.assign(Matrix(rows: query.shape[0], columns: query.shape[1], storage: query.values))
        #expect(assignment.regions == (try ints("query_ids")))
        let distances = try NPY.readFloats(path: "\(expected)/query_distances.npy").values
        let worst = zip(assignment.distances, distances).map { abs(Double($0) - Double($1)) }.max() ?? 0
        #expect(worst <= 1e-6, "largest distance difference \(worst)")
    }

    @Test("the written folder loads back with the same regions, prompts, reservoir and provenance", arguments: pickleNames)
    func roundTrip(_ name: String) throws {
        let folder = try scratchFolder(name)
        defer { try? FileManager.default.removeItem(atPath: folder) }
        let pickle = "\(pickleFixtures)/\(name).pkl"
        let summary = try PickleImport.run(pickle: pickle, metadata: "\(pickleFixtures)/\(name)_metadata.json", to: "\(folder)/dict")
        let loaded = try DictionaryStore.load("\(folder)/dict")
        let imported = try PickleImport.read(pickle: pickle, metadata: "\(pickleFixtures)/\(name)_metadata.json")
        #expect(loaded.dictionary.regions == imported.dictionary.regions)
        #expect(loaded.contexts == imported.contexts)
        #expect(loaded.manifest.build.imported == imported.build.imported)
        #expect(loaded.manifest.build.imported?.sha256 == (try SHA256.hexDigest(ofFile: pickle)))
        #expect(loaded.manifest.build.imported?.batches == "metadata")
        #expect(summary.regions == loaded.dictionary.regionCount)

        let bare = try PickleImport.run(pickle: pickle, reservoir: false, to: "\(folder)/bare")
        let loadedBare = try DictionaryStore.load("\(folder)/bare")
        #expect(loadedBare.dictionary.regions.reservoir == nil)
        #expect(bare.provenance.reservoirKept == false && bare.provenance.batches == "founders" && bare.provenance.metadata == nil)
        #expect(loadedBare.dictionary.regions.exemplarDirections == imported.dictionary.regions.exemplarDirections)
    }

    @Test("a pickle that calls os.system is refused by name and runs nothing")
    func malicious() throws {
        let folder = try scratchFolder("malicious")
        defer { try? FileManager.default.removeItem(atPath: folder) }
        let cwd = FileManager.default.currentDirectoryPath
        // The pickle runs `echo this-pickle-ran-code > ep-pickle-ran-code.txt` when unpickled by Python.
        let marker = "\(cwd)/ep-pickle-ran-code.txt"
        #expect(!FileManager.default.fileExists(atPath: marker))
        let message = pickleError { _ = try PickleImport.run(pickle: "\(pickleFixtures)/malicious.pkl", to: "\(folder)/dict") }
        #expect(message.contains("malicious.pkl: offset 45: refuses to call posix.system"))
        #expect(message.contains("nothing was run"))
        #expect(!FileManager.default.fileExists(atPath: marker))
        #expect(!FileManager.default.fileExists(atPath: "\(folder)/dict"))
    }

    @Test("a pickle cut short anywhere is a clear error naming the file and an offset")
    func truncated() throws {
        let folder = try scratchFolder("cut")
        defer { try? FileManager.default.removeItem(atPath: folder) }
        let data = try Data(contentsOf: URL(fileURLWithPath: "\(pickleFixtures)/small-d32-p4.pkl"))
        var cuts = Array(stride(from: 0, to: data.count, by: 1009)) + [1, 2, 11, 12, 50, 51, 139, 140, data.count - 1]
        cuts.sort()
        for cut in cuts {
            let path = "\(folder)/cut.pkl"
            try data.prefix(cut).write(to: URL(fileURLWithPath: path))
            let message = pickleError { _ = try PickleImport.read(pickle: path) }
            #expect(message.hasPrefix("\(path): offset "), "cut at \(cut): \(message)")
            #expect(message.contains("truncated") || message.contains("claims"), "cut at \(cut): \(message)")
        }
    }

    /// Writes `bytes` as a pickle and returns the reader's error.
    func error(of bytes: [UInt8], _ name: String) throws -> String {
        let folder = try scratchFolder(name)
        defer { try? FileManager.default.removeItem(atPath: folder) }
        let path = "\(folder)/\(name).pkl"
        try AtomicOutput.write(bytes, to: path)
        return pickleError { _ = try PickleImport.read(pickle: path) }
    }

    @Test("self-referencing, oversized, out-of-band and other hostile streams are refused with the opcode's offset")
    func hostile() throws {
        let proto: [UInt8] = [0x80, 0x04]
        // A list appended to itself through the memo.
        #expect(try error(of: proto + [0x5D, 0x94, 0x68, 0x00, 0x61, 0x2E], "self-list").contains("offset 6: APPEND adds a container to itself"))
        // A dict set into itself.
        #expect(try error(of: proto + [0x7D, 0x94, 0x4B, 0x01, 0x68, 0x00, 0x73, 0x2E], "self-dict").contains("offset 8: SETITEM puts a dict into itself"))
        // A huge length.
        let huge: [UInt8] = proto + [0x8E] + [0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0x3F] + [0x2E]
        #expect(try error(of: huge, "huge").contains("offset 2: a bytes opcode claims 4611686018427387903 bytes but only 1 remain"))
        #expect(try error(of: proto + [0x58, 0xFF, 0xFF, 0xFF, 0x7F, 0x2E], "huge-text").contains("offset 2: BINUNICODE claims"))
        #expect(try error(of: proto + [0x95] + [0, 0, 0, 0, 0, 0, 0, 1] + [0x4E, 0x2E], "huge-frame").contains("FRAME claims"))
        // A memo entry never stored.
        #expect(try error(of: proto + [0x6A, 0x10, 0x27, 0x00, 0x00, 0x2E], "memo").contains("offset 2: LONG_BINGET 10000: no such memo entry"))
        // A memo index far past the others is one entry, not a huge table.
        #expect(try error(of: proto + [0x4E, 0x72, 0x00, 0x28, 0x6B, 0xEE, 0x30, 0x6A, 0x00, 0x28, 0x6B, 0xEE, 0x6A, 0x01, 0x00, 0x00, 0x00, 0x2E], "far-memo")
            .contains("offset 14: LONG_BINGET 1: no such memo entry"))
        // Out-of-band buffers.
        #expect(try error(of: [0x80, 0x05, 0x97, 0x98, 0x2E], "buffer").contains("offset 2: NEXT_BUFFER: the pickle refers to out-of-band buffers"))
        // A GLOBAL (protocol 2 spelling) of anything else.
        #expect(try error(of: proto + Array("cbuiltins\neval\n".utf8) + [0x2E], "eval").contains("refuses to call builtins.eval"))
        #expect(try error(of: [0x80, 0x02] + Array("csubprocess\nPopen\n".utf8) + [0x2E], "popen").contains("offset 2: refuses to call subprocess.Popen"))
        // Not an EP dictionary at all.
        #expect(try error(of: proto + [0x4E, 0x2E], "none").contains("the pickle holds None, expected an EP Dictionary"))
        #expect(try error(of: [0x80, 0x01, 0x2E], "proto1").contains("pickle protocol 1 is not supported"))
        #expect(try error(of: proto + [0x30, 0x2E], "pop").contains("offset 2: POP on an empty stack"))
        #expect(try error(of: proto + [0x4E, 0x4E, 0x2E], "two").contains("STOP with 2 values"))
        #expect(try error(of: [], "empty").contains("offset 0: truncated"))
        #expect(try error(of: Array("not a pickle".utf8), "text").contains("offset 0: unknown opcode 0x6e"))
    }

    @Test("nodes beyond the reader's limit are refused")
    func limits() throws {
        var limits = PickleLimits()
        limits.maximumNodes = 1000
        let path = "\(pickleFixtures)/small-d32-p4.pkl"
        let message = pickleError { _ = try PickleImport.read(pickle: path, limits: limits) }
        #expect(message.contains("more than 1000 values"))
    }

    @Test("flipped bytes never trap: each variant imports or is refused with a FileFormatError")
    func corrupted() throws {
        let folder = try scratchFolder("flip")
        defer { try? FileManager.default.removeItem(atPath: folder) }
        let original = Array(try Data(contentsOf: URL(fileURLWithPath: "\(pickleFixtures)/small-d32-p4.pkl")))
        var generator = SeededGenerator(seed: 16)
        var refused = 0
        for _ in 0..<150 {
            var bytes = original
            for _ in 0..<3 {
                // Mostly the structure (the first 8 KiB), where opcodes are dense.
                let at = Int(generator.uniform(below: UInt64(min(8192, bytes.count))))
                bytes[at] = UInt8(truncatingIfNeeded: generator.uniform(below: 256))
            }
            let path = "\(folder)/flip.pkl"
            try AtomicOutput.write(bytes, to: path)
            do {
                _ = try PickleImport.read(pickle: path)
            } catch let e as FileFormatError {
                #expect(e.path == path)
                refused += 1
            }
        }
        #expect(refused > 0)
    }
}

/// Tiny pickles laid out as the authors' (width 2, one region, numpy int64 scalars for member_count), written by
/// `pickle.dumps` at protocols 2 (bytes as `_codecs.encode(text, 'latin1')`), 3 (`BINBYTES`) and 5 (`_frombuffer` of a
/// `BYTEARRAY8`) over stand-ins named as the authors' classes and numpy's functions (those of Fuzz/seeds.py's `pickle_seeds`,
/// its generator reseeded with 16 before each, so the three hold the same numbers).
let tinyPickles: [Int: String] = [
    2: """
        gAJjZXAuZGlzY292ZXJ5LmRpY3Rpb25hcnkKRGljdGlvbmFyeQpxACmBcQF9cQIoWAYAAABjZW50ZXJxA2NudW1weS5fY29yZS5t
        dWx0aWFycmF5Cl9yZWNvbnN0cnVjdApxBGNudW1weQpuZGFycmF5CnEFSwCFcQZjX2NvZGVjcwplbmNvZGUKcQdYAQAAAGJxCFgG
        AAAAbGF0aW4xcQmGcQpScQuHcQxScQ0oSwFLAoVxDmNudW1weQpkdHlwZQpxD1gCAAAAZjRxEImIh3ERUnESKEsDWAEAAAA8cRNO
        Tk5K/////0r/////SwB0cRRiiWgHWAsAAADCpMKpWD9Sw6hcPXEVaAmGcRZScRd0cRhiWAkAAAB0aHJlc2hvbGRxGUc/4zMzMzMz
        M1gLAAAAbWVyZ2VfY2xvc2VxGolYCgAAAHBhcnRpdGlvbnNxG11xHGNlcC5kaXNjb3ZlcnkuZGljdGlvbmFyeQpQYXJ0aXRpb24K
        cR0pgXEefXEfKFgMAAAAbWVtYmVyX2NvdW50cSBjbnVtcHkuX2NvcmUubXVsdGlhcnJheQpzY2FsYXIKcSFoD1gCAAAAaThxIomI
        h3EjUnEkaBRiaAdYCAAAAAMAAAAAAAAAcSVoCYZxJlJxJ4ZxKFJxKVgSAAAAZXhlbXBsYXJfZGlyZWN0aW9ucSpoBGgFaAZoC4dx
        K1JxLChLAUsChXEtaA9oEImIh3EuUnEvaBRiiWgHWAoAAABxDyXCv1zCrkM/cTBoCYZxMVJxMnRxM2JYFQAAAG1lYW5fbWVtYmVy
        X2RpcmVjdGlvbnE0aARoBWgGaAuHcTVScTYoSwFLAoVxN2gPaBCJiIdxOFJxOWgUYoloB1gNAAAAwqDDrl3Cv8OyM8O/PnE6aAmG
        cTtScTx0cT1iWBAAAABtZW1iZXJfY29oZXJlbmNlcT5HP+gAAAAAAABYFAAAAHN1bV9kaXN0X3RvX2V4ZW1wbGFycT9HP+AAAAAA
        AABYFwAAAHN1bV9zcV9kaXN0X3RvX2V4ZW1wbGFycUBHP8AAAAAAAABYEQAAAHNvdXJjZV9pdGVyYXRpb25zcUFjX19idWlsdGlu
        X18Kc2V0CnFCXXFDKEsASwFlhXFEUnFFWBoAAABjb25zdGl0dWVudF9zYW1wbGVfaW5kaWNlc3FGXXFHKEsASyhlWA4AAABzYW1w
        bGVfcHJvbXB0c3FIXXFJKEeAAAAAAAAAAFgIAAAAcHJvbXB0IDBxSksBh3FLR7/QAAAAAAAAWA4AAABhbm90aGVyIHByb21wdHFM
        SwCHcU1lWBAAAABib3VuZGFyeV9wcm9tcHRzcU5dcU9HP+AAAAAAAABYCgAAAGZhciBwcm9tcHRxUEsDh3FRYVgOAAAAc2FtcGxl
        X21lbWJlcnNxUl1xUyhoBGgFaAZoC4dxVFJxVShLAUsChXFWaA9oEImIh3FXUnFYaBRiiWgHWAwAAADDhcK6V8K/JsOUCT9xWWgJ
        hnFaUnFbdHFcYmgEaAVoBmgLh3FdUnFeKEsBSwKFcV9oD2gQiYiHcWBScWFoFGKJaAdYDQAAAMKtw4hjwr3ClcKafz9xYmgJhnFj
        UnFkdHFlYmVYBQAAAGxhYmVscWZOdWJhWB4AAABfbGFzdF9iYXRjaF9uZXdfcGFydGl0aW9uX3JhdGVxZ0cAAAAAAAAAAFgKAAAA
        X2V4ZW1wbGFyc3FoaARoBWgGaAuHcWlScWooSwFLAksChnFraA9oEImIh3FsUnFtaBRiiWgHWBAAAAAAAAAAAAAAAAAAAAAAAAAA
        cW5oCYZxb1JxcHRxcWJYEwAAAF9leGVtcGxhcnNfY2FwYWNpdHlxcksCdWIu
        """,
    3: """
        gANjZXAuZGlzY292ZXJ5LmRpY3Rpb25hcnkKRGljdGlvbmFyeQpxACmBcQF9cQIoWAYAAABjZW50ZXJxA2NudW1weS5fY29yZS5t
        dWx0aWFycmF5Cl9yZWNvbnN0cnVjdApxBGNudW1weQpuZGFycmF5CnEFSwCFcQZDAWJxB4dxCFJxCShLAUsChXEKY251bXB5CmR0
        eXBlCnELWAIAAABmNHEMiYiHcQ1ScQ4oSwNYAQAAADxxD05OTkr/////Sv////9LAHRxEGKJQwikqVg/UuhcPXERdHESYlgJAAAA
        dGhyZXNob2xkcRNHP+MzMzMzMzNYCwAAAG1lcmdlX2Nsb3NlcRSJWAoAAABwYXJ0aXRpb25zcRVdcRZjZXAuZGlzY292ZXJ5LmRp
        Y3Rpb25hcnkKUGFydGl0aW9uCnEXKYFxGH1xGShYDAAAAG1lbWJlcl9jb3VudHEaY251bXB5Ll9jb3JlLm11bHRpYXJyYXkKc2Nh
        bGFyCnEbaAtYAgAAAGk4cRyJiIdxHVJxHmgQYkMIAwAAAAAAAABxH4ZxIFJxIVgSAAAAZXhlbXBsYXJfZGlyZWN0aW9ucSJoBGgF
        aAZoB4dxI1JxJChLAUsChXElaAtoDImIh3EmUnEnaBBiiUMIcQ8lv1yuQz9xKHRxKWJYFQAAAG1lYW5fbWVtYmVyX2RpcmVjdGlv
        bnEqaARoBWgGaAeHcStScSwoSwFLAoVxLWgLaAyJiIdxLlJxL2gQYolDCKDuXb/yM/8+cTB0cTFiWBAAAABtZW1iZXJfY29oZXJl
        bmNlcTJHP+gAAAAAAABYFAAAAHN1bV9kaXN0X3RvX2V4ZW1wbGFycTNHP+AAAAAAAABYFwAAAHN1bV9zcV9kaXN0X3RvX2V4ZW1w
        bGFycTRHP8AAAAAAAABYEQAAAHNvdXJjZV9pdGVyYXRpb25zcTVjYnVpbHRpbnMKc2V0CnE2XXE3KEsASwFlhXE4UnE5WBoAAABj
        b25zdGl0dWVudF9zYW1wbGVfaW5kaWNlc3E6XXE7KEsASyhlWA4AAABzYW1wbGVfcHJvbXB0c3E8XXE9KEeAAAAAAAAAAFgIAAAA
        cHJvbXB0IDBxPksBh3E/R7/QAAAAAAAAWA4AAABhbm90aGVyIHByb21wdHFASwCHcUFlWBAAAABib3VuZGFyeV9wcm9tcHRzcUJd
        cUNHP+AAAAAAAABYCgAAAGZhciBwcm9tcHRxREsDh3FFYVgOAAAAc2FtcGxlX21lbWJlcnNxRl1xRyhoBGgFaAZoB4dxSFJxSShL
        AUsChXFKaAtoDImIh3FLUnFMaBBiiUMIxbpXvybUCT9xTXRxTmJoBGgFaAZoB4dxT1JxUChLAUsChXFRaAtoDImIh3FSUnFTaBBi
        iUMIrchjvZWafz9xVHRxVWJlWAUAAABsYWJlbHFWTnViYVgeAAAAX2xhc3RfYmF0Y2hfbmV3X3BhcnRpdGlvbl9yYXRlcVdHAAAA
        AAAAAABYCgAAAF9leGVtcGxhcnNxWGgEaAVoBmgHh3FZUnFaKEsBSwJLAoZxW2gLaAyJiIdxXFJxXWgQYolDEAAAAAAAAAAAAAAA
        AAAAAABxXnRxX2JYEwAAAF9leGVtcGxhcnNfY2FwYWNpdHlxYEsCdWIu
        """,
    5: """
        gAWV7wMAAAAAAACMF2VwLmRpc2NvdmVyeS5kaWN0aW9uYXJ5lIwKRGljdGlvbmFyeZSTlCmBlH2UKIwGY2VudGVylIwTbnVtcHku
        X2NvcmUubnVtZXJpY5SMC19mcm9tYnVmZmVylJOUKJYIAAAAAAAAAKSpWD9S6Fw9lIwFbnVtcHmUjAVkdHlwZZSTlIwCZjSUiYiH
        lFKUKEsDjAE8lE5OTkr/////Sv////9LAHSUYksChZSMAUOUdJRSlIwJdGhyZXNob2xklEc/4zMzMzMzM4wLbWVyZ2VfY2xvc2WU
        iYwKcGFydGl0aW9uc5RdlGgAjAlQYXJ0aXRpb26Uk5QpgZR9lCiMDG1lbWJlcl9jb3VudJSMFm51bXB5Ll9jb3JlLm11bHRpYXJy
        YXmUjAZzY2FsYXKUk5RoDIwCaTiUiYiHlFKUaBFiQwgDAAAAAAAAAJSGlFKUjBJleGVtcGxhcl9kaXJlY3Rpb26UaAgolggAAAAA
        AAAAcQ8lv1yuQz+UaAxoDYmIh5RSlGgRYksChZRoE3SUUpSMFW1lYW5fbWVtYmVyX2RpcmVjdGlvbpRoCCiWCAAAAAAAAACg7l2/
        8jP/PpRoDGgNiYiHlFKUaBFiSwKFlGgTdJRSlIwQbWVtYmVyX2NvaGVyZW5jZZRHP+gAAAAAAACMFHN1bV9kaXN0X3RvX2V4ZW1w
        bGFylEc/4AAAAAAAAIwXc3VtX3NxX2Rpc3RfdG9fZXhlbXBsYXKURz/AAAAAAAAAjBFzb3VyY2VfaXRlcmF0aW9uc5SPlChLAEsB
        kIwaY29uc3RpdHVlbnRfc2FtcGxlX2luZGljZXOUXZQoSwBLKGWMDnNhbXBsZV9wcm9tcHRzlF2UKEeAAAAAAAAAAIwIcHJvbXB0
        IDCUSwGHlEe/0AAAAAAAAIwOYW5vdGhlciBwcm9tcHSUSwCHlGWMEGJvdW5kYXJ5X3Byb21wdHOUXZRHP+AAAAAAAACMCmZhciBw
        cm9tcHSUSwOHlGGMDnNhbXBsZV9tZW1iZXJzlF2UKGgIKJYIAAAAAAAAAMW6V78m1Ak/lGgMaA2JiIeUUpRoEWJLAoWUaBN0lFKU
        aAgolggAAAAAAAAArchjvZWafz+UaAxoDYmIh5RSlGgRYksChZRoE3SUUpRljAVsYWJlbJROdWJhjB5fbGFzdF9iYXRjaF9uZXdf
        cGFydGl0aW9uX3JhdGWURwAAAAAAAAAAjApfZXhlbXBsYXJzlGgIKJYQAAAAAAAAAAAAAAAAAAAAAAAAAAAAAACUaAxoDYmIh5RS
        lGgRYksCSwKGlGgTdJRSlIwTX2V4ZW1wbGFyc19jYXBhY2l0eZRLAnViLg==
        """,
]

extension PickleImportTests {
    @Test("protocols 2, 3 and 5 (latin-1 bytes, BINBYTES, in-band buffers) and numpy scalars give the same dictionary")
    func protocols() throws {
        let folder = try scratchFolder("protocols")
        defer { try? FileManager.default.removeItem(atPath: folder) }
        var results: [ImportedPickle] = []
        for p in [2, 3, 5] {
            let bytes = Array(Data(base64Encoded: tinyPickles[p]!.replacingOccurrences(of: "\n", with: "").replacingOccurrences(of: " ", with: ""))!)
            let path = "\(folder)/tiny-p\(p).pkl"
            try AtomicOutput.write(bytes, to: path)
            let imported = try PickleImport.read(pickle: path)
            #expect(imported.build.imported?.pickleProtocol == p)
            #expect(imported.build.imported?.pickledClass == "ep.discovery.dictionary.Dictionary")
            results.append(imported)
        }
        let r = results[0].dictionary.regions
        #expect(r.count == 1 && r.width == 2 && r.memberCounts == [3] && results[0].dictionary.threshold == 0.6)
        #expect(r.reservoir?.directions.map(\.count) == [4])
        for other in results.dropFirst() {
            #expect(other.dictionary.center.map(\.bitPattern) == results[0].dictionary.center.map(\.bitPattern))
            #expect(other.dictionary.regions == r)
            #expect(other.contexts.windows.map(\.text) == results[0].contexts.windows.map(\.text))
        }
    }
}
