import EPCore
import EPFormats
import EPStore
import Foundation
import Testing

/// Files written by the ep of commit 4d9391f (`Tests/Fixtures/written-before/`, see its README) still load with
/// every field as written, and re-encoding their JSON records gives the same bytes.
@Suite struct WrittenBeforeTests {
    static let root: String = {
        var url = URL(fileURLWithPath: #filePath)
        for _ in 0..<2 { url.deleteLastPathComponent() }
        return url.appendingPathComponent("Fixtures/written-before").path
    }()

    func bytes(_ path: String) throws -> [UInt8] { Array(try Data(contentsOf: URL(fileURLWithPath: path))) }

    func text(_ value: JSONValue) -> [UInt8] { Array((value.rendered() + "\n").utf8) }

    @Test func calibrationRecord() throws {
        let path = "\(Self.root)/calibration.json"
        let record = try CalibrationRecord.read(path: path)
        let c = record.calibration
        #expect(c.center.count == 16)
        #expect(c.threshold == 0.5243991081913312)
        #expect(c.percentile == 10)
        #expect(c.method == .linear)
        #expect(c.activationCount == 3000 && c.batchCount == 12 && c.batchSize == 256)
        #expect(c.batchThresholds.count == 12 && c.batchThresholds[0] == 0.5359038770198822)
        #expect(c.center[0] == -3.886169910430908 && c.center[15] == 1.6755467653274536)
        #expect(record.calibrationTokens == 3000)
        #expect(record.created == "2026-12-05T04:19:18Z")
        #expect(record.source == ActivationSource(
            model: "conformance-small-d16", hook: "blocks.0.hook_resid_post", extractor: "activation-files", contextLength: 16,
            tokenCount: nil, activationCount: 3000, inputs: ["Tests/Fixtures/conformance/small-d16/activations.npy"]))
        #expect(text(record.json) == (try bytes(path)))

        let cached = "\(Self.root)/text-smollm2-p50-calibration.json"
        let textRecord = try CalibrationRecord.read(path: cached)
        #expect(textRecord.calibration.center.count == 576)
        #expect(textRecord.source?.extractor == "per-position")
        #expect(text(textRecord.json) == (try bytes(cached)))
    }

    @Test func dictionaryFromActivationFiles() throws {
        let folder = "\(Self.root)/activations-d16"
        let loaded = try DictionaryStore.load(folder)
        let m = loaded.manifest
        #expect(m.formatVersion == 1 && m.width == 16 && m.regionCount == 64)
        #expect(m.threshold == 0.5243991081913312 && m.percentile == 10 && m.centerNorm == 16.169132780359973)
        #expect(m.calibration.method == "linear" && m.calibration.activationCount == 3000 && m.calibration.batchCount == 12)
        #expect(m.calibration.batchSize == 256 && m.calibration.calibrationTokens == 3000)
        #expect(m.build.batchSize == 128 && m.build.seed == nil && m.build.batchCount == 24 && m.build.activationCount == 3000)
        #expect(m.build.saturated && !m.build.reservoir && m.build.newRegionRate == 0 && m.build.text == nil)
        #expect(m.build.source?.model == "conformance-small-d16" && m.build.source?.contextLength == 16)
        #expect(m.toolName == "ep" && m.toolVersion == "0.1.0" && m.created == "2026-12-05T04:19:18Z")
        #expect(m.files == [.init(name: "regions.safetensors", bytes: 34672)])
        let d = loaded.dictionary
        #expect(d.regions.count == 64)
        #expect(d.regions.memberCounts.reduce(0, +) == 3000)
        let record = try CalibrationRecord.read(path: "\(Self.root)/calibration.json")
        #expect(d.center == record.calibration.center)
        #expect(d.threshold == record.calibration.threshold)
        #expect(text(m.json) == (try bytes("\(folder)/manifest.json")))

        // Written again: the same regions file, and the same manifest but for its date.
        let out = FileManager.default.temporaryDirectory.appendingPathComponent("written-before-\(UUID().uuidString)").path
        defer { try? FileManager.default.removeItem(atPath: out) }
        var again = try DictionaryStore.write(d, calibration: m.calibration, build: m.build, to: out)
        #expect(try bytes("\(out)/regions.safetensors") == (try bytes("\(folder)/regions.safetensors")))
        again.created = m.created
        #expect(again == m)
    }

    @Test func dictionaryFromText() throws {
        let folder = "\(Self.root)/text-smollm2-p50"
        let loaded = try DictionaryStore.load(folder)
        let m = loaded.manifest
        #expect(m.width == 576 && m.regionCount == 7 && m.threshold == 1.0081035494804382 && m.percentile == 50)
        #expect(m.centerNorm == 127.55555992105127)
        let t = try #require(m.build.text)
        #expect(t.modelSHA256 == "dd96975ab78243b180e7f0a65345739c087442a7157e04bf3dacc6a449b8f37e")
        #expect(t.modelWidth == 576 && t.bosTokenID == nil && t.firstPositionExcluded && t.windowMode == "chunks")
        #expect(t.minimumWindow == 32 && t.batchWindows == 2 && t.shuffleBuffer == 4096 && t.seed == 0 && t.maxTokens == 400)
        #expect(t.saturationWindow == 1 && t.windows == 6 && t.tokens == 375 && t.status == .complete && t.stopReason == "saturated")
        #expect(t.activationDType == "f32")
        #expect(t.corpus.files == 1 && t.corpus.documents == 439 && t.corpus.bytes == 1_050_451 && t.corpus.skippedLines == 0)
        #expect(m.build.source?.tokenCount == 375 && m.build.source?.activationCount == 369)
        #expect(m.calibration.source?.tokenCount == 256 && m.calibration.calibrationTokens == 200)
        #expect(m.files.map(\.name) == ["regions.safetensors", "contexts.safetensors", "build_log.json", "build_state.json"])
        #expect(loaded.dictionary.regions.memberCounts.reduce(0, +) == 369)
        let contexts = try #require(loaded.contexts)
        #expect(contexts.windows.count > 0 && contexts.windows.allSatisfy { $0.tokens.count <= 64 })
        let log = try #require(loaded.buildLog)
        #expect(log.snapshots.map(\.regions) == [5, 7, 7] && log.snapshots.map(\.tokens) == [128, 256, 375])
        #expect(text(m.json) == (try bytes("\(folder)/manifest.json")))
        #expect(text(log.json) == (try bytes("\(folder)/build_log.json")))

        // Written again with its contexts, log and build state: the same files, and the same manifest but for its date.
        let out = FileManager.default.temporaryDirectory.appendingPathComponent("written-before-\(UUID().uuidString)").path
        defer { try? FileManager.default.removeItem(atPath: out) }
        var again = try DictionaryStore.write(
            loaded.dictionary, calibration: m.calibration, build: m.build, to: out, contexts: contexts, log: log,
            extraFiles: [("build_state.json", try bytes("\(folder)/build_state.json"))])
        for name in m.files.map(\.name) {
            #expect(try bytes("\(out)/\(name)") == (try bytes("\(folder)/\(name)")), "\(name)")
        }
        again.created = m.created
        #expect(again == m)
    }
}
