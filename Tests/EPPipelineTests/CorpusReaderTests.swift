import Foundation
import Testing
@testable import EPPipeline

func temporaryFolder() -> String {
    let path = NSTemporaryDirectory() + "eppipeline-\(UUID().uuidString)"
    try! FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: true)
    return path
}

func write(_ text: String, to path: String) {
    try! FileManager.default.createDirectory(atPath: (path as NSString).deletingLastPathComponent, withIntermediateDirectories: true)
    try! Data(text.utf8).write(to: URL(fileURLWithPath: path))
}

func readAll(_ reader: CorpusReader) throws -> [Document] {
    var documents: [Document] = []
    while let d = try reader.next() { documents.append(d) }
    return documents
}

@Suite struct GlobTests {
    @Test func namePatternsAndPathPatterns() throws {
        #expect(try Glob("*.py").matches("a/b/c.py"))
        #expect(try !Glob("*.py").matches("a/b/c.pyc"))
        #expect(try Glob("src/*.swift").matches("src/x.swift"))
        #expect(try !Glob("src/*.swift").matches("src/y/x.swift"))
        #expect(try Glob("src/**/*.swift").matches("src/x.swift"))
        #expect(try Glob("src/**/*.swift").matches("src/y/z/x.swift"))
        #expect(try Glob("**/test_*").matches("lib/test_a.py"))
        #expect(try Glob("file?.[tc]xt").matches("file1.txt"))
        #expect(try !Glob("file?.[!t]xt").matches("file1.txt"))
        #expect(try Glob("[a-c]*").matches("banana"))
        #expect(try !Glob("[a-c]*").matches("durian"))
        #expect(try Glob("a[b").matches("a[b"))
        #expect(throws: PipelineError.self) { try Glob("") }
    }
}

@Suite struct CorpusReaderTests {
    @Test func readsFoldersRecursivelyInSortedOrderWithGlobs() throws {
        let dir = temporaryFolder()
        write("zeta", to: dir + "/z.txt")
        write("alpha", to: dir + "/a/a.txt")
        write("code", to: dir + "/a/b.py")
        write("hidden", to: dir + "/.git/x.txt")
        write("{\"text\": \"json doc\"}\n", to: dir + "/c.jsonl")
        var options = CorpusOptions()
        var docs = try readAll(CorpusReader(paths: [dir], options: options))
        #expect(docs.map(\.text) == ["alpha", "code", "json doc", "zeta"])
        options.include = [try Glob("*.txt")]
        docs = try readAll(CorpusReader(paths: [dir], options: options))
        #expect(docs.map(\.text) == ["alpha", "zeta"])
        options.exclude = [try Glob("a/**")]
        docs = try readAll(CorpusReader(paths: [dir], options: options))
        #expect(docs.map(\.text) == ["zeta"])
    }

    @Test func jsonlBadLinesAreSkippedAndCountedOrStop() throws {
        let dir = temporaryFolder()
        write("{\"text\": \"one\"}\nnot json\n[1,2]\n{\"body\": \"x\"}\n{\"text\": 5}\n\n{\"text\": \"two\"}\n", to: dir + "/d.jsonl")
        let reader = try CorpusReader(paths: [dir + "/d.jsonl"])
        #expect(try readAll(reader).map(\.text) == ["one", "two"])
        #expect(reader.statistics.skippedLines == 4)
        #expect(reader.statistics.examples.first == dir + "/d.jsonl:2: not valid JSON; line left out")
        #expect(reader.statistics.examples.contains { $0.contains(":4: no field 'text' (fields: body;") })
        var options = CorpusOptions()
        options.badLines = .stop
        let strict = try CorpusReader(paths: [dir + "/d.jsonl"], options: options)
        #expect(try strict.next()?.text == "one")
        #expect(throws: PipelineError.self) { try strict.next() }
        options.badLines = .skip
        options.jsonlField = "body"
        #expect(try readAll(CorpusReader(paths: [dir + "/d.jsonl"], options: options)).map(\.text) == ["x"])
    }

    @Test func invalidUTF8IsReplacedSkippedOrStops() throws {
        let dir = temporaryFolder()
        try Data([0x61, 0xFF, 0x62]).write(to: URL(fileURLWithPath: dir + "/bad.txt"))
        let replacing = try CorpusReader(paths: [dir + "/bad.txt"])
        #expect(try readAll(replacing).map(\.text) == ["a\u{FFFD}b"])
        #expect(replacing.statistics.repairedDocuments == 1)
        var options = CorpusOptions()
        options.invalidUTF8 = .skip
        let skipping = try CorpusReader(paths: [dir + "/bad.txt"], options: options)
        #expect(try readAll(skipping).isEmpty)
        #expect(skipping.statistics.skippedDocuments == 1)
        options.invalidUTF8 = .stop
        #expect(throws: PipelineError.self) { try readAll(CorpusReader(paths: [dir + "/bad.txt"], options: options)) }
    }

    @Test func splitsTextIntoLinesOrParagraphs() throws {
        let dir = temporaryFolder()
        write("p1 line1\np1 line2\n\n\np2\r\n\nlast", to: dir + "/t.txt")
        var options = CorpusOptions()
        options.split = .paragraphs
        #expect(try readAll(CorpusReader(paths: [dir + "/t.txt"], options: options)).map(\.text) == ["p1 line1\np1 line2", "p2", "last"])
        options.split = .lines
        let docs = try readAll(CorpusReader(paths: [dir + "/t.txt"], options: options))
        #expect(docs.map(\.text) == ["p1 line1", "p1 line2", "p2", "last"])
        #expect(docs[2].origin == dir + "/t.txt:5")
    }

    @Test func missingInputsFailUpFrontAndBinaryFilesAreSkipped() throws {
        let dir = temporaryFolder()
        #expect(throws: PipelineError.self) { try CorpusReader(paths: [dir + "/nope.txt"]) }
        #expect(throws: PipelineError.self) { try CorpusReader(paths: []) }
        try Data([0x41, 0x00, 0x42]).write(to: URL(fileURLWithPath: dir + "/blob.bin"))
        write("text", to: dir + "/ok.txt")
        let reader = try CorpusReader(paths: [dir])
        #expect(try readAll(reader).map(\.text) == ["text"])
        #expect(reader.statistics.skippedBinaryFiles == 1)
    }
}

@Suite struct LineReaderTests {
    @Test func linesLongerThanTheBufferAndManyLines() throws {
        let dir = temporaryFolder()
        let long = String(repeating: "x", count: 300_000)
        var text = "{\"text\": \"\(long)\"}\r\n"
        for i in 0..<5000 { text += "{\"text\": \"line \(i)\"}\n" }
        write(text + "{\"text\": \"no newline at end\"}", to: dir + "/big.jsonl")
        let docs = try readAll(CorpusReader(paths: [dir + "/big.jsonl"]))
        #expect(docs.count == 5002)
        #expect(docs[0].text == long)
        #expect(docs[4000].text == "line 3999")
        #expect(docs[4000].origin == dir + "/big.jsonl:4001")
        #expect(docs.last?.text == "no newline at end")
    }
}
