import EPCore
import EPFormats
import EPStore
import EPTensors
import EPTestSupport
import Foundation
import Testing

/// A small built dictionary with a reservoir.
func sampleDictionary(seed: UInt64? = 5) throws -> ExemplarDictionary {
    var data = SyntheticClusters(width: 16, clusters: 10, noise: 0.5, offset: 1, seed: 21)
    let x = data.batch(rows: 700)
    let calibration = try Calibration.calibrate(batches: [x.rows(0..<350), x.rows(350..<700)], settings: CalibrationSettings(percentile: 5, batchSize: 350))
    let dictionary = try ExemplarDictionary(calibration: calibration, reservoirSeed: seed)
    for start in stride(from: 0, to: 700, by: 100) {
        let refs = (start..<(start + 100)).map { RowReference(source: Int64($0 / 10), position: Int32($0 % 10)) }
        try dictionary.addBatch(x.rows(start..<(start + 100)), references: refs)
    }
    return dictionary
}

func provenance(_ d: ExemplarDictionary) -> (CalibrationProvenance, BuildProvenance) {
    let source = ActivationSource(model: "m", hook: "blocks.3.hook_resid_post", extractor: "per-position", contextLength: 64, tokenCount: 800, activationCount: 700, inputs: ["a.npy"])
    return (
        CalibrationProvenance(method: "linear", percentile: 5, activationCount: 700, batchCount: 2, batchSize: 350, calibrationTokens: 200_000, source: source),
        BuildProvenance(batchSize: 100, seed: 5, batchCount: 7, activationCount: 700, saturated: d.isSaturated(), reservoir: true, newRegionRate: d.newRegionRate, source: source)
    )
}

/// Runs `body` and returns the message of the `FileFormatError` it throws.
func failure(_ body: () throws -> Void) -> String {
    do {
        try body()
        return "(no error)"
    } catch {
        return "\(error)"
    }
}

@Suite struct DictionaryStoreTests {
    @Test func roundTripsEverything() throws {
        let folder = makeTemporaryFolder() + "/dict"
        let d = try sampleDictionary()
        let (c, b) = provenance(d)
        let written = try DictionaryStore.write(d, calibration: c, build: b, to: folder)
        let loaded = try DictionaryStore.load(folder)
        #expect(loaded.manifest == written)
        #expect(loaded.manifest.calibration == c && loaded.manifest.build == b)
        #expect(loaded.dictionary.regions == d.regions)
        #expect(loaded.dictionary.center == d.center && loaded.dictionary.threshold == d.threshold)
        #expect(loaded.dictionary.batchHistory == d.batchHistory && loaded.dictionary.rowsSeen == 700)
        #expect(written.files.map(\.name) == ["regions.safetensors", "reservoir.safetensors"])
        #expect(try FileManager.default.contentsOfDirectory(atPath: folder).sorted() == ["manifest.json", "regions.safetensors", "reservoir.safetensors"])
        // Without the reservoir, everything else is the same.
        let light = try DictionaryStore.load(folder, reservoir: false)
        #expect(light.dictionary.regions.reservoir == nil && light.dictionary.regions.exemplarRows == d.regions.exemplarRows)
        // A restored dictionary continues exactly like the original (reservoir generator included).
        var more = SyntheticClusters(width: 16, clusters: 10, noise: 0.5, offset: 1, seed: 77)
        let next = more.batch(rows: 100)
        try d.addBatch(next)
        try loaded.dictionary.addBatch(next)
        #expect(loaded.dictionary.regions == d.regions)
    }

    @Test func ignoresUnknownManifestFields() throws {
        let folder = makeTemporaryFolder() + "/dict"
        let d = try sampleDictionary(seed: nil)
        let (c, b) = provenance(d)
        try DictionaryStore.write(d, calibration: c, build: b, to: folder)
        let path = folder + "/manifest.json"
        guard case .object(var object) = try JSONValue.read(path: path) else { Issue.record("manifest is not an object"); return }
        object["text_provenance"] = .object(JSONObject(["corpus": .string("pile")]))
        object["model_file_sha256"] = .string("abc")
        try AtomicOutput.write(string: JSONValue.object(object).rendered(), to: path)
        #expect(try DictionaryStore.load(folder).dictionary.regionCount == d.regionCount)
    }

    @Test func loadingSaysExactlyWhatIsWrong() throws {
        let d = try sampleDictionary(seed: nil)
        let (c, b) = provenance(d)
        func fresh() throws -> String {
            let folder = makeTemporaryFolder() + "/dict"
            try DictionaryStore.write(d, calibration: c, build: b, to: folder)
            return folder
        }
        func editManifest(_ folder: String, _ edit: (inout JSONObject) -> Void) throws {
            guard case .object(var object) = try JSONValue.read(path: folder + "/manifest.json") else { return }
            edit(&object)
            try AtomicOutput.write(string: JSONValue.object(object).rendered(), to: folder + "/manifest.json")
        }
        var folder = try fresh()
        try editManifest(folder) { $0["format_version"] = .integer(2) }
        #expect(failure { _ = try DictionaryStore.load(folder) }.contains("manifest.json: field 'format_version': the dictionary is format version 2, written by a newer ep"))

        folder = try fresh()
        try editManifest(folder) { $0["format"] = .string("something-else") }
        #expect(failure { _ = try DictionaryStore.load(folder) }.contains("field 'format': expected \"exemplar-partitioning-dictionary\""))

        folder = try fresh()
        try editManifest(folder) { $0["threshold"] = .string("0.5") }
        #expect(failure { _ = try DictionaryStore.load(folder) }.contains("field 'threshold': expected a number, found the string \"0.5\""))

        folder = try fresh()
        try editManifest(folder) {
            guard case .object(var build) = $0["build"]! else { return }
            build["n_batches"] = nil
            $0["build"] = .object(build)
        }
        #expect(failure { _ = try DictionaryStore.load(folder) }.contains("missing field 'build.n_batches'"))

        folder = try fresh()
        try editManifest(folder) { $0["n_regions"] = .integer(Int64(d.regionCount + 1)) }
        #expect(failure { _ = try DictionaryStore.load(folder) }.contains("regions.safetensors: tensor 'exemplar_direction': expected F32 [\(d.regionCount + 1), 16], found F32 [\(d.regionCount), 16]"))

        // A truncated tensor file: its size no longer matches the manifest.
        folder = try fresh()
        var regions = folder + "/regions.safetensors"
        let bytes = try ReadOnlyFile(path: regions).readBytes(count: 1000, at: 0)
        try AtomicOutput.write(bytes, to: regions)
        #expect(failure { _ = try DictionaryStore.load(folder) }.contains("regions.safetensors: has 1000 bytes but manifest.json says"))

        // A tensor with the wrong dtype (rewritten consistently, with the manifest's size updated).
        folder = try fresh()
        regions = folder + "/regions.safetensors"
        let original = try SafetensorsFile(path: regions)
        var writer = SafetensorsWriter()
        for name in original.tensorNames where name != "member_count" {
            let info = original.tensors[name]!
            writer.add(name, dtype: info.dtype, shape: info.shape, bytes: try original.file.readBytes(count: info.byteRange.count, at: info.byteRange.lowerBound))
        }
        writer.add("member_count", shape: [d.regionCount], int32: d.regions.memberCounts.map(Int32.init))
        let size = try writer.write(to: regions)
        try editManifest(folder) { $0["files"] = .array([.object(JSONObject(["name": .string("regions.safetensors"), "bytes": .integer(Int64(size))]))]) }
        #expect(failure { _ = try DictionaryStore.load(folder) }.contains("regions.safetensors: tensor 'member_count': expected I64 [\(d.regionCount)], found I32 [\(d.regionCount)]"))

        #expect(failure { _ = try DictionaryStore.load(makeTemporaryFolder()) }.contains("not a dictionary folder"))
        #expect(failure { _ = try DictionaryStore.load("/nonexistent/dict") }.contains("no such dictionary folder"))
    }

    @Test func writingReplacesAFolderWhole() throws {
        let folder = makeTemporaryFolder() + "/dict"
        let d = try sampleDictionary(seed: 3)
        let (c, b) = provenance(d)
        try DictionaryStore.write(d, calibration: c, build: b, to: folder)
        let light = try sampleDictionary(seed: nil)
        try DictionaryStore.write(light, calibration: c, build: b, to: folder)
        #expect(try FileManager.default.contentsOfDirectory(atPath: folder).sorted() == ["manifest.json", "regions.safetensors"])
        #expect(try FileManager.default.contentsOfDirectory(atPath: (folder as NSString).deletingLastPathComponent) == ["dict"])
    }
}

@Suite struct CalibrationRecordTests {
    @Test func roundTripsTheCenterBitForBit() throws {
        let path = makeTemporaryFolder() + "/calib.json"
        let center: [Float] = [0.1, -.greatestFiniteMagnitude, .leastNonzeroMagnitude, 123.456, 0]
        let calibration = Calibration(center: center, threshold: 0.4517172127827858, percentile: 1, method: .linear, activationCount: 6144, batchCount: 6, batchSize: 1024, batchThresholds: [0.45, 0.4534])
        let record = CalibrationRecord(calibration: calibration, calibrationTokens: 6000, source: ActivationSource(activationCount: 6144, inputs: ["x.npy"]))
        try record.write(to: path)
        let read = try CalibrationRecord.read(path: path)
        #expect(read == record)
        #expect(read.calibration.center.map(\.bitPattern) == center.map(\.bitPattern))
    }

    @Test func rejectsBadRecords() throws {
        let path = makeTemporaryFolder() + "/calib.json"
        func write(_ text: String) throws { try AtomicOutput.write(string: text, to: path) }
        try write(#"{"format": "ep-calibration", "format_version": 1, "d_model": 3, "center": [1, 2], "threshold": 0.5}"#)
        #expect(failure { _ = try CalibrationRecord.read(path: path) }.contains("field 'center': expected 3 values (d_model), found 2"))
        try write(#"{"format": "ep-calibration", "format_version": 1, "d_model": 2, "center": [1, 2], "threshold": -0.5}"#)
        #expect(failure { _ = try CalibrationRecord.read(path: path) }.contains("field 'threshold': expected a cosine-distance threshold θ in (0, 2), found -0.5"))
        try write(#"{"format": "ep-calibration", "format_version": 1, "d_model": 2, "center": [1, 2], "threshold": 3}"#)
        #expect(failure { _ = try CalibrationRecord.read(path: path) }.contains("field 'threshold': expected a cosine-distance threshold θ in (0, 2), found 3.0"))
        try write(#"{"format": "ep-calibration", "format_version": 1, "d_model": 2, "center": [1, 2], "threshold": 0}"#)
        #expect(failure { _ = try CalibrationRecord.read(path: path) }.contains("field 'threshold': expected a cosine-distance threshold θ in (0, 2), found 0.0"))
        try write(#"{"format": "ep-calibration", "format_version": 1, "d_model": 2, "center": [1, 2], "threshold": 0.5"#)
        #expect(failure { _ = try CalibrationRecord.read(path: path) }.contains("invalid JSON"))
        try write(#"{"format": "other"}"#)
        #expect(failure { _ = try CalibrationRecord.read(path: path) }.contains("not an ep calibration"))
    }
}
