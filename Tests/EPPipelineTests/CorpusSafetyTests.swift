#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif
import Foundation
import Testing
@testable import EPPipeline

/// What a body run on another thread gave, or nil while it runs.
private final class Outcome<T>: @unchecked Sendable {
    private let lock = NSLock()
    private var value: Result<T, Error>?
    func set(_ v: Result<T, Error>) { lock.withLock { value = v } }
    var result: Result<T, Error>? { lock.withLock { value } }
}

/// Runs `body` on another thread and waits at most `seconds` for it: nil when it did not finish (it would hang),
/// so a regression fails the test instead of hanging the suite. `unblock` is called on a timeout to let the
/// thread finish (a FIFO opened for writing and closed).
func finishing<T>(within seconds: Double, unblock: () -> Void = {}, _ body: @escaping @Sendable () throws -> T) -> Result<T, Error>? {
    let outcome = Outcome<T>()
    let done = DispatchSemaphore(value: 0)
    Thread.detachNewThread {
        outcome.set(Result { try body() })
        done.signal()
    }
    if done.wait(timeout: .now() + seconds) == .timedOut {
        unblock()
        return nil
    }
    return outcome.result
}

/// Opens `fifo` for reading and writing and closes it, so a reader blocked opening it goes on (and then sees its end).
func release(_ fifo: String) {
    let fd = open(fifo, O_RDWR | O_NONBLOCK)
    if fd >= 0 { close(fd) }
}

@Suite struct CorpusSafetyTests {
    /// A named pipe in a folder has no writer: reading it would wait forever. The walk leaves it out and counts it.
    @Test func aFIFOInAFolderIsSkippedAndCounted() throws {
        let dir = temporaryFolder()
        write("some text", to: dir + "/a.txt")
        #expect(mkfifo(dir + "/b.fifo", 0o644) == 0)
        let outcome = finishing(within: 10, unblock: { release(dir + "/b.fifo") }) {
            let reader = try CorpusReader(paths: [dir])
            return (try readAll(reader).map(\.text), reader.statistics)
        }
        let (texts, statistics) = try #require(outcome, "reading a folder holding a FIFO did not finish within 10 s").get()
        #expect(texts == ["some text"])
        #expect(statistics.skippedSpecialFiles == 1 && statistics.files == 1)
        #expect(statistics.examples == ["\(dir)/b.fifo: a named pipe (FIFO), not a regular file; left out"])
        #expect(statistics.explanation().contains("1 special file skipped"))
    }

    /// A FIFO named on its own is a stream, read to its end like standard input; a device is refused.
    @Test func aFIFOGivenByNameIsReadAndADeviceIsRefused() throws {
        let dir = temporaryFolder()
        let fifo = dir + "/stream.txt"
        #expect(mkfifo(fifo, 0o644) == 0)
        Thread.detachNewThread {
            guard let writer = FileHandle(forWritingAtPath: fifo) else { return }
            writer.write(Data("first\nsecond\n".utf8))
            try? writer.close()
        }
        let outcome = finishing(within: 10, unblock: { release(fifo) }) {
            var options = CorpusOptions()
            options.split = .lines
            return try readAll(CorpusReader(paths: [fifo], options: options)).map(\.text)
        }
        #expect(try #require(outcome, "reading a FIFO given by name did not finish").get() == ["first", "second"])
        let device = #expect(throws: PipelineError.self) { try CorpusReader(paths: ["/dev/null"]) }
        #expect(device?.message == "/dev/null: is a character device, not a text file, a .jsonl file or a folder (give - to read standard input)")
    }

    /// Links are followed to files and folders, each folder is entered once (a cycle ends), and broken links and
    /// link loops are counted with the special files.
    @Test func symbolicLinkCyclesEndAndLinksToFilesAreFollowed() throws {
        let dir = temporaryFolder()
        write("alpha", to: dir + "/a.txt")
        write("beta", to: dir + "/sub/b.txt")
        try FileManager.default.createSymbolicLink(atPath: dir + "/sub/up", withDestinationPath: "..")
        try FileManager.default.createSymbolicLink(atPath: dir + "/sub/again", withDestinationPath: ".")
        try FileManager.default.createSymbolicLink(atPath: dir + "/link.txt", withDestinationPath: "sub/b.txt")
        try FileManager.default.createSymbolicLink(atPath: dir + "/broken.txt", withDestinationPath: "nowhere.txt")
        try FileManager.default.createSymbolicLink(atPath: dir + "/self.txt", withDestinationPath: "self.txt")
        let outcome = finishing(within: 10) {
            let reader = try CorpusReader(paths: [dir])
            return (try readAll(reader).map(\.origin), reader.statistics)
        }
        let (origins, statistics) = try #require(outcome, "walking a folder with a link cycle did not finish").get()
        #expect(origins == [dir + "/a.txt", dir + "/link.txt", dir + "/sub/b.txt"])
        #expect(statistics.skippedSpecialFiles == 2)
        #expect(statistics.examples.contains("\(dir)/broken.txt: a broken symbolic link, not a regular file; left out"))
        #expect(try CorpusReader(paths: [dir]).files(inFolder: dir) == [dir + "/a.txt", dir + "/link.txt", dir + "/sub/b.txt"])
    }

    /// Binary files are left out whatever the split, by the one detector; a binary `--text-file` is an error.
    @Test func binaryFilesAreSkippedInEverySplitAndRefusedAsTextFiles() throws {
        let dir = temporaryFolder()
        var bytes = Array("line one\nline two\n".utf8)
        bytes.insert(0, at: 4)
        try Data(bytes).write(to: URL(fileURLWithPath: dir + "/blob.txt"))
        write("fine\n", to: dir + "/ok.txt")
        for split in CorpusOptions.DocumentSplit.allCases {
            var options = CorpusOptions()
            options.split = split
            let reader = try CorpusReader(paths: [dir], options: options)
            #expect(try readAll(reader).map(\.text) == [split == .file ? "fine\n" : "fine"])
            #expect(reader.statistics.skippedBinaryFiles == 1)
        }
        #expect(CorpusReader.looksBinary(bytes) && !CorpusReader.looksBinary(Array("text".utf8)))
        #expect(!CorpusReader.looksBinary(Array(repeating: UInt8(0x61), count: 8192) + [0]))
        let binary = #expect(throws: PipelineError.self) { try TextFile.read(dir + "/blob.txt") }
        #expect(binary?.message == "--text-file \(dir)/blob.txt: looks binary (contains NUL bytes), not text; give a UTF-8 text file")
        #expect(try TextFile.read(dir + "/ok.txt") == "fine\n")
        let folder = #expect(throws: PipelineError.self) { try TextFile.read(dir) }
        #expect(folder?.message == "--text-file \(dir): is a folder, not a text file")
        #expect(throws: PipelineError("--text-file \(dir)/none.txt: no such file")) { try TextFile.read(dir + "/none.txt") }
    }

    /// A corpus that gives nothing says why: every reason something was left out, with the first example.
    @Test func anAllBadCorpusExplainsWhatWasLeftOut() throws {
        let dir = temporaryFolder()
        try Data([0x41, 0x00]).write(to: URL(fileURLWithPath: dir + "/a.bin"))
        write("not json\n{\"body\": 1}\n", to: dir + "/b.jsonl")
        write("excluded", to: dir + "/c.md")
        write("hidden", to: dir + "/.d.txt")
        try Data([0x61, 0xFF]).write(to: URL(fileURLWithPath: dir + "/e.txt"))
        #expect(mkfifo(dir + "/f.fifo", 0o644) == 0)
        var options = CorpusOptions()
        options.exclude = [try Glob("*.md")]
        options.invalidUTF8 = .skip
        let reader = try CorpusReader(paths: [dir], options: options)
        #expect(try readAll(reader).isEmpty)
        #expect(reader.statistics.explanation(tooShort: 0) == "read 0 documents from 3 files; 1 binary file skipped (NUL bytes); "
            + "1 special file skipped (named pipes, sockets, devices, broken links); 2 JSONL lines skipped (not JSON, not an object, "
            + "or no text field); 1 document with invalid UTF-8 skipped; 1 file excluded by --include/--exclude; 1 hidden file or "
            + "folder left out (first: \(dir)/f.fifo: a named pipe (FIFO), not a regular file; left out)")
        var settings = WindowSettings()
        settings.context = 8
        settings.minimumTokens = 4
        write("ab", to: dir + "/short/s.txt")
        let stream = try WindowStream(corpus: CorpusReader(paths: [dir + "/short"]), settings: settings, tokenize: characterIDs)
        #expect(try stream.next() == nil)
        #expect(stream.explanation == "read 1 document from 1 file; 1 document too short for a window")
    }
}
