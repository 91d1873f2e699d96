import EPCore
import EPFormats
import EPRuntime
import EPStore
import EPTensors
import Foundation
import EPTestSupport
import Testing
@testable import EPPipeline

/// A dictionary's manifest or build log without what records when and how fast the build ran (the manifest's
/// `created`, the log's `elapsed_s`, and so the log's size in the manifest's list of files) and without the
/// manifest's entry for `build_state.json` (the resume state, which records the settings of the whole build, every
/// hook included); the rest must not depend on the hooks built alongside.
func timelessJSON(_ path: String) throws -> JSONValue {
    func strip(_ value: JSONValue) -> JSONValue {
        switch value {
        case .object(let o):
            var out = JSONObject()
            for key in o.keys where key != "created" && key != "elapsed_s" { out[key] = strip(o[key]!) }
            return .object(out)
        case .array(let list):
            return .array(list.filter { entry in
                if case .object(let o) = entry, case .string(let name)? = o["name"], ["build_state.json", "build_log.json"].contains(name) {
                    return false
                }
                return true
            }.map(strip))
        default:
            return value
        }
    }
    return strip(try JSONValue.read(path: path))
}

/// Everything of a dictionary that must be the same whichever hooks were built with it: the arrays, the contexts,
/// the reservoir byte for byte, and the manifest and build log but for their timings.
func dictionaryContents(_ folder: String) throws -> [String: String] {
    var contents = try deterministicFiles(folder).mapValues { bytes in
        var digest = SHA256()
        digest.update(bytes)
        return digest.hexDigest
    }
    for name in [DictionaryStore.manifestFile, "build_log.json"] {
        contents[name] = try timelessJSON("\(folder)/\(name)").rendered()
    }
    return contents
}

@Suite(.serialized) struct MultiHookBuildTests {
    /// Hooks given out of forward order, one of them an MLP output (whose capture must not change the residual
    /// stream that the deeper hooks read).
    static let hooks = ["blocks.5.hook_resid_post", "blocks.2.hook_mlp_out", "blocks.3.hook_resid_post"]

    /// One forward pass captures every hook with the bits that a pass capturing it alone gives; a subset of the hooks
    /// is captured on request.
    @Test func extractorOfSeveralHooksGivesEachHooksOwnRows() throws {
        let (model, _, _) = try SmolLM2.load()
        let windows = [
            ContextWindow(id: 7, tokens: [504, 3575, 282, 4649, 314, 905, 30, 11], origin: "a"),
            ContextWindow(id: 9, tokens: [19556, 905, 30], origin: "b"),
            ContextWindow(id: 4, tokens: [282, 4649, 314, 905, 30, 19556], origin: "c"),
        ]
        var settings = ExtractionSettings()
        settings.windowsPerForward = 2
        let all = try ActivationExtractor(model: model, hooks: Self.hooks, settings: settings)
        let batch = try #require(try all.extract(windows))
        for (h, hook) in Self.hooks.enumerated() {
            let alone = try #require(try ActivationExtractor(model: model, hook: hook, settings: settings).extract(windows))
            let same = batch.hookActivations[h] == alone.activations
            #expect(same, "\(hook): its rows differ from those of a pass capturing it alone")
            #expect(batch.references == alone.references)
        }
        let some = try #require(try all.extract(windows, hooks: [1]))
        let subset = some.hookActivations[0] == nil && some.hookActivations[2] == nil && some.hookActivations[1] == batch.hookActivations[1]
        #expect(subset)
        let twice = #expect(throws: PipelineError.self) { try ActivationExtractor(model: model, hooks: [Self.hooks[0], Self.hooks[0]], settings: settings) }
        #expect(twice?.message.contains("given twice") == true)
    }

    /// Each dictionary of a build of several hooks (several percentiles: `OUT/<hook>/p2`; one: `OUT/<hook>`) is the
    /// dictionary of a build of its hook alone, with saturation on (hooks saturating at different batches).
    @Test(arguments: [[10.0, 30.0], [10.0]])
    func severalHooksGiveTheDictionariesOfSingleHookBuilds(percentiles: [Double]) throws {
        let (model, path, tokenizer) = try SmolLM2.load()
        let dir = temporaryFolder()
        try SmallCorpus.write(to: dir + "/corpus.jsonl")
        var settings = try smallBuildSettings(corpus: dir + "/corpus.jsonl", percentiles: percentiles)
        settings.saturationWindow = 1
        let cache = CalibrationCache(folder: dir + "/cache")
        let labels = percentiles.map(percentileLabel)

        var multi = settings
        multi.hooks = Self.hooks
        let output = BuildOutput.of(dir + "/multi", hooks: Self.hooks, labels: labels)
        let summary = try TextDictionaryBuilder(settings: multi, model: model, modelPath: path, tokenizer: tokenizer, output: output, cache: cache).run()
        #expect(!summary.calibrationReused)
        #expect(summary.dictionaries.map(\.label) == output.layout.map(\.relative))
        var stops: [Int] = []
        for (h, hook) in Self.hooks.enumerated() {
            var single = settings
            single.hook = hook
            let alone = BuildOutput.of("\(dir)/\(h)", hooks: [hook], labels: labels)
            // A fresh cache: the single-hook build calibrates for itself.
            let result = try TextDictionaryBuilder(
                settings: single, model: model, modelPath: path, tokenizer: tokenizer, output: alone, cache: CalibrationCache(folder: "\(dir)/cache\(h)")
            ).run()
            stops.append(result.batches)
            for (i, entry) in output.layout.enumerated() where entry.hook == h {
                let mine = output.paths[i], theirs = alone.paths[i % labels.count]
                #expect(try dictionaryContents(mine) == dictionaryContents(theirs), "\(mine) vs \(theirs)")
            }
        }
        #expect(summary.batches == stops.max())
        #expect(Set(stops).count > 1, "the hooks saturate at different batches (\(stops)), so that one stops while others go on")
        if percentiles.count == 1 {
            #expect(try DictionaryStore.readManifest("\(dir)/multi/\(Self.hooks[0])").build.source?.hook == Self.hooks[0])
        }
    }

    /// A build of several hooks stopped after a few batches and resumed equals an uninterrupted one; a resume with
    /// another set of hooks is refused; a later build finds each hook's calibration in the cache, computes only the
    /// new hook's, and still gives the single-hook dictionaries.
    @Test func resumeAndCalibrationCacheWorkPerHook() throws {
        let (model, path, tokenizer) = try SmolLM2.load()
        let dir = temporaryFolder()
        try SmallCorpus.write(to: dir + "/corpus.jsonl")
        var settings = try smallBuildSettings(corpus: dir + "/corpus.jsonl", percentiles: [2, 8])
        settings.hooks = Self.hooks
        let cache = CalibrationCache(folder: dir + "/cache")
        func builder(_ s: TextBuildSettings, _ out: String, cache: CalibrationCache) throws -> TextDictionaryBuilder {
            try TextDictionaryBuilder(
                settings: s, model: model, modelPath: path, tokenizer: tokenizer, output: .of(dir + out, hooks: s.hooks, labels: ["p2", "p8"]), cache: cache)
        }
        let full = try builder(settings, "/whole", cache: cache).run()
        #expect(full.stopReason == .corpusExhausted && full.batches >= 6)

        let partial = try builder(settings, "/resumed", cache: CalibrationCache(folder: dir + "/other-cache"))
        var batches = 0
        partial.onProgress = { if $0.phase == .building { batches += 1 } }
        partial.shouldStop = { batches >= 3 }
        #expect(try partial.run().stopReason == .interrupted)
        #expect(try DictionaryStore.readManifest(dir + "/resumed/\(Self.hooks[1])/p8").build.text?.status == .interrupted)

        var fewer = settings
        fewer.hooks = Array(Self.hooks.prefix(2))
        let subset = #expect(throws: PipelineError.self) { try builder(fewer, "/resumed", cache: cache).run(resume: true) }
        #expect(subset?.message.contains("cannot resume") == true && subset?.message.contains("give the same hooks") == true)
        var other = settings
        other.hooks = [Self.hooks[0], Self.hooks[1], "blocks.4.hook_resid_post"]
        #expect(throws: PipelineError.self) { try builder(other, "/resumed", cache: cache).run(resume: true) }
        var single = settings
        single.hook = Self.hooks[0]
        let alone = #expect(throws: PipelineError.self) {
            try TextDictionaryBuilder(settings: single, model: model, modelPath: path, tokenizer: tokenizer, output: .multiple(folder: dir + "/resumed", labels: ["p2", "p8"]), cache: cache).run(resume: true)
        }
        #expect(alone?.message.contains("cannot resume") == true)

        // The same hooks in another order resume the build.
        var reordered = settings
        reordered.hooks = Self.hooks.reversed()
        let rest = try builder(reordered, "/resumed", cache: cache).run(resume: true)
        #expect(rest.resumedAtBatch == 3 && rest.batches == full.batches && rest.tokens == full.tokens)
        for hook in Self.hooks {
            for label in ["p2", "p8"] {
                #expect(try deterministicFiles("\(dir)/whole/\(hook)/\(label)") == deterministicFiles("\(dir)/resumed/\(hook)/\(label)"))
            }
        }
        #expect(try builder(settings, "/whole", cache: cache).run(resume: true).stopReason.description.hasPrefix("already complete"))

        // Hooks 0 and 1 come from the cache; the new hook is calibrated (and cached) on its own.
        var grown = settings
        grown.hooks = [Self.hooks[0], "blocks.4.hook_resid_post", Self.hooks[1]]
        var notes: [String] = []
        let mixed = try builder(grown, "/mixed", cache: cache)
        mixed.onNote = { notes.append($0) }
        #expect(try !mixed.run().calibrationReused)
        #expect(notes.filter { $0.contains("calibration: from the cache") }.count == 2)
        #expect(notes.contains { $0.hasPrefix("blocks.4.hook_resid_post: calibration: computed") })
        for p in [2.0, 8.0] {
            let key = CalibrationCache.Key(
                modelSHA256: try ModelIdentity.sha256(of: path), hook: "blocks.4.hook_resid_post", extractor: .perPosition, context: 48, bosTokenID: nil,
                excludeFirstPosition: true, method: .linear)
            #expect(cache.lookup(key, percentile: p, calibrationTokens: settings.calibrationTokens)?.source?.hook == "blocks.4.hook_resid_post")
        }
        for hook in Self.hooks.prefix(2) {
            #expect(try dictionaryContents("\(dir)/whole/\(hook)/p2") == dictionaryContents("\(dir)/mixed/\(hook)/p2"))
        }
        var all = grown
        all.hooks = [Self.hooks[1], "blocks.4.hook_resid_post"]
        let cached = try builder(all, "/cached", cache: cache)
        #expect(try cached.run().calibrationReused)
        #expect(try dictionaryContents("\(dir)/mixed/blocks.4.hook_resid_post/p8") == dictionaryContents("\(dir)/cached/blocks.4.hook_resid_post/p8"))
    }

    @Test func badMultiHookSettingsAreClearErrors() throws {
        let (model, path, tokenizer) = try SmolLM2.load()
        let dir = temporaryFolder()
        try SmallCorpus.write(to: dir + "/corpus.jsonl", documents: 6)
        var settings = try smallBuildSettings(corpus: dir + "/corpus.jsonl")
        settings.hooks = Self.hooks
        let wrongOutput = #expect(throws: PipelineError.self) {
            try TextDictionaryBuilder(settings: settings, model: model, modelPath: path, tokenizer: tokenizer, output: .single(dir + "/d"))
        }
        #expect(wrongOutput?.message.contains("a folder per hook") == true)
        settings.hooks = [Self.hooks[0], Self.hooks[0]]
        #expect(throws: PipelineError("--hook: blocks.5.hook_resid_post is given twice")) { try settings.validate() }
        settings.hooks = Self.hooks
        settings.givenCalibration = CalibrationRecord(calibration: try Calibration.given(center: [Float](repeating: 1, count: 576), threshold: 0.5), calibrationTokens: nil, source: nil)
        let given = #expect(throws: PipelineError.self) { try settings.validate() }
        #expect(given?.message.hasPrefix("--calibration: a given calibration belongs to one hook") == true)
    }
}
