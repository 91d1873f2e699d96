import Foundation
import EPStore
import Testing
@testable import EPPipeline

/// A stand-in tokenizer for window tests: one id per character (its scalar value).
func characterIDs(_ text: String) -> [Int32] { text.unicodeScalars.map { Int32($0.value) } }

func windows(_ texts: [String], _ settings: WindowSettings) throws -> [ContextWindow] {
    let dir = temporaryFolder()
    for (i, t) in texts.enumerated() { write(t, to: dir + "/d\(i).txt") }
    let stream = try WindowStream(corpus: CorpusReader(paths: [dir]), settings: settings, tokenize: characterIDs)
    var result: [ContextWindow] = []
    while let w = try stream.next() { result.append(w) }
    return result
}

@Suite struct WindowStreamTests {
    @Test func chunksKeepLongEnoughTailsAndPrependBOS() throws {
        var settings = WindowSettings()
        settings.context = 4
        settings.minimumTokens = 3
        settings.shuffleBuffer = 1
        settings.bos = 1
        let w = try windows(["abcdefgh"], settings)
        // 3 content tokens per window after BOS: abc, def, gh (BOS + 2 = 3 tokens ≥ 3, kept).
        #expect(w.map(\.tokens) == [[1, 97, 98, 99], [1, 100, 101, 102], [1, 103, 104]])
        #expect(w.map(\.id) == [0, 1, 2])
        settings.minimumTokens = 4
        #expect(try windows(["abcdefgh"], settings).count == 2)
    }

    @Test func prefixModeTakesOneWindowPerLongEnoughDocument() throws {
        var settings = WindowSettings()
        settings.context = 3
        settings.mode = .prefix
        settings.minimumTokens = 2
        settings.shuffleBuffer = 1
        let w = try windows(["abcdef", "xy"], settings)
        #expect(w.map(\.tokens) == [[97, 98, 99]])
    }

    @Test func shuffleIsSeededAndAPermutation() throws {
        var settings = WindowSettings()
        settings.context = 2
        settings.minimumTokens = 2
        settings.shuffleBuffer = 8
        settings.seed = 7
        let text = String(repeating: "ab", count: 20) + "cd"
        let a = try windows([text, "efghijklmnop"], settings)
        let b = try windows([text, "efghijklmnop"], settings)
        #expect(a.map(\.tokens) == b.map(\.tokens))
        settings.shuffleBuffer = 1
        let ordered = try windows([text, "efghijklmnop"], settings)
        #expect(a.map(\.tokens) != ordered.map(\.tokens))
        #expect(a.map { $0.tokens.map(String.init).joined() }.sorted() == ordered.map { $0.tokens.map(String.init).joined() }.sorted())
    }

    @Test func skippingResumesTheSameSequence() throws {
        let dir = temporaryFolder()
        write(String(repeating: "abcdefg", count: 30), to: dir + "/a.txt")
        var settings = WindowSettings()
        settings.context = 5
        settings.minimumTokens = 2
        settings.shuffleBuffer = 6
        func stream() throws -> WindowStream { try WindowStream(corpus: CorpusReader(paths: [dir]), settings: settings, tokenize: characterIDs) }
        let full = try stream()
        var all: [ContextWindow] = []
        while let w = try full.next() { all.append(w) }
        let resumed = try stream()
        try resumed.skip(17)
        var rest: [ContextWindow] = []
        while let w = try resumed.next() { rest.append(w) }
        #expect(rest == Array(all[17...]))
        #expect(throws: PipelineError.self) { try stream().skip(Int64(all.count + 1)) }
    }
}
