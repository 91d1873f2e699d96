#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif
import EPFormats
@testable import EPEvalSuite
import EPPipeline
import Foundation
import Testing

/// Runs `ep` like ``ep(_:in:environment:)`` but gives up after `seconds`: nil when it had not ended (it is killed),
/// so a command that hangs fails its test instead of hanging the suite.
func ep(_ arguments: [String], in folder: String, environment: [String: String], within seconds: Double) throws -> Run? {
    let process = Process()
    process.executableURL = URL(fileURLWithPath: epBinary)
    process.arguments = arguments
    process.currentDirectoryURL = URL(fileURLWithPath: folder)
    process.environment = ProcessInfo.processInfo.environment.merging(environment) { $1 }
    let out = folder + "/.stdout-\(UUID().uuidString)", err = folder + "/.stderr-\(UUID().uuidString)"
    FileManager.default.createFile(atPath: out, contents: nil)
    FileManager.default.createFile(atPath: err, contents: nil)
    process.standardOutput = try FileHandle(forWritingTo: URL(fileURLWithPath: out))
    process.standardError = try FileHandle(forWritingTo: URL(fileURLWithPath: err))
    try process.run()
    let deadline = Date().addingTimeInterval(seconds)
    while process.isRunning && Date() < deadline { usleep(50_000) }
    if process.isRunning {
        kill(process.processIdentifier, SIGKILL)
        process.waitUntilExit()
        return nil
    }
    return Run(status: process.terminationStatus, stdout: try String(contentsOfFile: out, encoding: .utf8), stderr: try String(contentsOfFile: err, encoding: .utf8))
}

@Suite(.serialized) struct CLIStreamingTests {
    /// `ep assign --text-file` runs the text a batch of windows at a time and prints as it goes: the table and the
    /// JSON are the same whatever the batch size; a binary text file is refused by every verb that reads one.
    @Test func textIsAssignedInBatchesAndBinaryTextFilesAreRefused() throws {
        let f = try TextFixture()
        let build = try ep(f.buildArguments(output: "d", extra: ["--max-tokens", "1500"]), in: f.folder, environment: f.environment)
        #expect(build.status == 0, "\(build.stderr)")
        var text = ""
        for i in 0..<30 { text += "def f\(i)(x, y):\n    return x * \(i) + y  # ünïcode\n" }
        try AtomicOutput.write(string: text, to: f.folder + "/long.py")
        for format in [[], ["--json"]] {
            let one = try ep(["assign", "d", "--text-file", "long.py", "--batch-windows", "1"] + format, in: f.folder, environment: f.environment)
            let all = try ep(["assign", "d", "--text-file", "long.py", "--batch-windows", "1000"] + format, in: f.folder, environment: f.environment)
            #expect(one.status == 0 && all.status == 0, "\(one.stderr)\(all.stderr)")
            #expect(one.stdout == all.stdout)
            #expect(all.stdout.contains(" 10 ") || all.stdout.contains("\"window\": 10"), "the text spans more than ten windows")
        }
        let json = try ep(["assign", "d", "--text-file", "long.py", "--json", "--batch-windows", "3"], in: f.folder, environment: f.environment)
        let fields = try JSONFields(try JSONValue.parse(Array(json.stdout.utf8), path: "stdout"), path: "stdout")
        #expect(try fields.array("tokens").count > 480)
        let table = try ep(["assign", "d", "--text-file", "long.py", "--batch-windows", "2"], in: f.folder, environment: f.environment)
        let lines = table.stdout.split(separator: "\n")
        #expect(lines.first?.hasPrefix("window  pos  token") == true && lines.last?.contains("tokens assigned at blocks.5.hook_resid_post") == true)
        let columns = Set(lines.dropFirst().dropLast().map { $0.distance(from: $0.startIndex, to: $0.firstIndex(of: "'")!) })
        #expect(columns.count == 1, "every row's token starts in the same column")

        let binary = [
            ["assign", "d", "--text-file", epBinary],
            ["encode", "d", "--text-file", epBinary, "-o", "codes.safetensors"],
            ["tokenize", "smollm2", "--text-file", epBinary],
        ]
        for arguments in binary {
            let run = try ep(arguments, in: f.folder, environment: f.environment)
            #expect(run.status != 0 && run.errorLines.last == "Error: --text-file \(epBinary): looks binary (contains NUL bytes), not text; give a UTF-8 text file", "\(arguments[0]): \(run.stderr)")
        }
        let folder = try ep(["assign", "d", "--text-file", "."], in: f.folder, environment: f.environment)
        #expect(folder.status != 0 && folder.errorLines.last == "Error: --text-file .: is a folder, not a text file")
        #expect(!listing(f.folder).contains("codes.safetensors"))
    }

    /// A FIFO in a corpus folder is skipped (the build does not wait for a writer), and a corpus that gives nothing
    /// says what was left out: by `ep build` and `ep coverage`.
    @Test func aCorpusOfOnlyBadFilesSaysWhyAndAFIFODoesNotHang() throws {
        let f = try TextFixture()
        try FileManager.default.createDirectory(atPath: f.folder + "/bad", withIntermediateDirectories: true)
        try AtomicOutput.write([0x7F, 0x45, 0x4C, 0x46, 0x00, 0x01], to: f.folder + "/bad/a.bin")
        #expect(mkfifo(f.folder + "/bad/b.fifo", 0o644) == 0)
        try AtomicOutput.write(string: "not json\n", to: f.folder + "/bad/c.jsonl")
        var arguments = f.buildArguments(output: "x")
        let corpus = arguments.firstIndex(of: "--corpus")!
        arguments[corpus + 1] = "bad"
        let build = try #require(try ep(arguments, in: f.folder, environment: f.environment, within: 60), "ep build on a folder with a FIFO did not end")
        #expect(build.status != 0)
        let why = "read 0 documents from 2 files; 1 binary file skipped (NUL bytes); 1 special file skipped (named pipes, sockets, devices, broken links); 1 JSONL line skipped (not JSON, not an object, or no text field)"
        #expect(build.errorLines.last?.contains(why) == true, "\(build.stderr)")
        #expect(!listing(f.folder).contains("x"))

        // The same folder with a good file: the build runs, and its summary counts the special file.
        try FileManager.default.copyItem(atPath: f.folder + "/corpus.jsonl", toPath: f.folder + "/bad/corpus.jsonl")
        let mixed = try #require(try ep(arguments, in: f.folder, environment: f.environment, within: 120), "ep build did not end")
        #expect(mixed.status == 0, "\(mixed.stderr)")
        #expect(mixed.stdout.contains("1 binary files skipped; 1 special files skipped (pipes, sockets, devices, broken links)"), "\(mixed.stdout)")
        try FileManager.default.removeItem(atPath: f.folder + "/bad/corpus.jsonl")

        let coverage = try #require(try ep(["coverage", "x", "--corpus", "bad"], in: f.folder, environment: f.environment, within: 60))
        #expect(coverage.status != 0 && coverage.errorLines.last == "Error: bad: no text to measure (no window of at least the minimum length): \(why) (first: bad/b.fifo: a named pipe (FIFO), not a regular file; left out)", "\(coverage.stderr)")
    }

    /// Labelled texts whose activations cannot all be held are refused before the model runs (the evaluations keep
    /// every position by design), instead of ending the process on a failed allocation.
    @Test func evaluationActivationsLargerThanMemoryAreRefused() throws {
        try TextActivationReader.requireRoom(rows: 1000, width: 576, texts: 10, memory: 4_000_000)
        let error = #expect(throws: PipelineError.self) { try TextActivationReader.requireRoom(rows: 1_000_000, width: 576, texts: 2000, memory: 1_000_000_000) }
        #expect(error?.message == "the 2000 texts give 1000000 activations of width 576 (2.3 GB), more than this machine's memory (1.0 GB); evaluate fewer texts (--max-train, --max-test, --concepts-per-file)")
        #expect(throws: PipelineError.self) { try TextActivationReader.requireRoom(rows: Int.max / 2, width: 576, texts: 1) }
    }
}
