import EPCore
import EPFormats
import EPRuntime
import EPStore
import EPTestSupport
import Foundation
import Testing
@testable import EPPipeline

/// Text read batch by batch gives what one batch of the whole text gives, token for token.
@Suite(.serialized) struct StreamingReadTests {
    /// A small dictionary of the test corpus (SmolLM2, layer 5, 48-token windows) and a text of many windows.
    static func fixture() throws -> (dir: String, loaded: LoadedDictionary, text: String) {
        let (model, path, tokenizer) = try SmolLM2.load()
        let dir = temporaryFolder()
        try SmallCorpus.write(to: dir + "/corpus.jsonl")
        var settings = try smallBuildSettings(corpus: dir + "/corpus.jsonl")
        settings.maxTokens = 700
        _ = try TextDictionaryBuilder(
            settings: settings, model: model, modelPath: path, tokenizer: tokenizer, output: .single(dir + "/d"), cache: CalibrationCache(folder: dir + "/cache")
        ).run()
        let documents = try readAll(CorpusReader(paths: [dir + "/corpus.jsonl"]))
        return (dir, try DictionaryStore.load(dir + "/d", reservoir: false, contexts: false), documents.map(\.text).joined(separator: "\n"))
    }

    @Test func multiBatchAssignmentEqualsSingleBatch() throws {
        let (model, _, tokenizer) = try SmolLM2.load()
        let (_, loaded, text) = try Self.fixture()
        let assigner = try TextAssigner(loaded, model: model, tokenizer: tokenizer)
        let windows = assigner.tokenize(text)
        #expect(windows.count > 40)
        var single: [[TokenAssignment]] = []
        try assigner.assign(windows, batchWindows: windows.count) { single.append($0) }
        #expect(single.count == 1 && single[0].count == windows.tokenCount)
        #expect(try assigner.assign(text) == single[0])
        for batchWindows in [16, 7, 1] {
            var batches: [[TokenAssignment]] = []
            try assigner.assign(windows, batchWindows: batchWindows) { batches.append($0) }
            #expect(batches.count == (windows.count + batchWindows - 1) / batchWindows)
            #expect(Array(batches.joined()) == single[0], "batches of \(batchWindows) windows")
            // The JSON written batch by batch is the whole report's.
            var stream = TextAssignmentReport.JSONStream(threshold: loaded.dictionary.threshold, hook: "blocks.5.hook_resid_post")
            let streamed = stream.opening + batches.map { stream.rows($0) }.joined() + stream.closing()
            let whole = TextAssignmentReport(threshold: loaded.dictionary.threshold, hook: "blocks.5.hook_resid_post", tokens: single[0])
            #expect(streamed == JSONValueEncoder.value(of: whole).rendered(), "JSON in batches of \(batchWindows) windows")
        }
        let none = TextAssignmentReport.JSONStream(threshold: 0.25, hook: "h")
        #expect(none.opening + none.closing() == JSONValueEncoder.value(of: TextAssignmentReport(threshold: 0.25, hook: "h", tokens: [])).rendered())
        // The per-token listing without the model matches the assignment's tokens.
        var listed: [(Int, Int, Int32)] = []
        windows.forEachToken { listed.append(($0, $1, $2)) }
        #expect(listed.map(\.0) == single[0].map(\.window) && listed.map(\.1) == single[0].map(\.position) && listed.map(\.2) == single[0].map(\.tokenID))
        #expect(windows.all == assigner.windows(tokenizer.encode(text, parseSpecial: true, addSpecial: false)))
        #expect(throws: PipelineError.self) { try assigner.assign(windows, batchWindows: 0) { _ in } }
    }

    @Test func coverageAndAblationStreamTheCorpusToTheSameResults() throws {
        let (model, _, tokenizer) = try SmolLM2.load()
        let (dir, loaded, _) = try Self.fixture()
        let meter = try CoverageMeter(loaded, model: model, tokenizer: tokenizer)
        let whole = try meter.measure(corpus: [dir + "/corpus.jsonl"], options: CorpusOptions(), maxTokens: nil, batchWindows: 1000)
        let batched = try meter.measure(corpus: [dir + "/corpus.jsonl"], options: CorpusOptions(), maxTokens: nil, batchWindows: 3)
        #expect(whole.0 == batched.0 && whole.1 == batched.1)
        #expect(whole.0.count > 0 && whole.1.count == 12)
        write("", to: dir + "/empty/a.txt")
        try Data([0, 1, 2]).write(to: URL(fileURLWithPath: dir + "/empty/b.txt"))
        let empty = #expect(throws: PipelineError.self) { try meter.measure(corpus: [dir + "/empty"], options: CorpusOptions(), maxTokens: nil) }
        #expect(empty?.message == "\(dir)/empty: no text to measure (no window of at least the minimum length): read 0 documents from 2 files; 1 binary file skipped (NUL bytes) (first: \(dir)/empty/b.txt: looks binary (contains NUL bytes); left out)")

        let extraction = try DictionaryExtraction(manifest: loaded.manifest, path: loaded.path)
        let intervention = try RegionIntervention(loaded, model: model)
        let targets: Set<Int32> = [13, 28, 260]
        let (windows, _) = try extraction.windows(corpus: [dir + "/corpus.jsonl"], options: CorpusOptions(), tokenizer: tokenizer, maxTokens: 600)
        let held = try intervention.ablationEffect(0, basis: .exemplar, targets: targets, windows: windows, extraction: extraction)
        let reader = try extraction.windowReader(corpus: [dir + "/corpus.jsonl"], options: CorpusOptions(), tokenizer: tokenizer, maxTokens: 600)
        let streamed = try intervention.ablationEffect(0, basis: .exemplar, targets: targets, corpus: reader, extraction: extraction)
        #expect(held == streamed && streamed.windows == windows.count && reader.tokenCount >= 600)
    }
}
