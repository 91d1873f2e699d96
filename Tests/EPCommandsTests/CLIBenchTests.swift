import EPFormats
import Foundation
import Testing

/// `ep bench forward` on a tiny Hugging Face folder: the early exit alone, as JSON, on given token windows.
@Suite struct CLIBenchTests {
    @Test func benchForwardRunsGivenWindowsAndPrintsJSON() throws {
        let folder = NSTemporaryDirectory() + "ep-cli-bench-\(UUID().uuidString)"
        try FileManager.default.createDirectory(atPath: folder, withIntermediateDirectories: true)
        let llama = CLIModelTests.goldens + "/hf/llama"
        try NPY.write([Int32](5..<15), shape: [2, 5], to: folder + "/ids.npy")
        let run = try ep(["bench", "forward", llama, "--tokens-file", "ids.npy", "--layer", "1", "--repeats", "2", "--early-exit-only", "--json"], in: folder)
        #expect(run.status == 0, "\(run.stderr)")
        let report = try JSONFields(try JSONValue.parse(Array(run.stdout.utf8), path: "stdout"), path: "stdout")
        #expect(try report.integer("windows") == 2 && report.integer("window_length") == 5)
        #expect(try report.string("early_exit_hook") == "blocks.1.hook_resid_post")
        let early = try #require(try report.optionalObject("early_exit"))
        #expect(try early.integer("tokens") == 10 && early.array("seconds").count == 2)
        #expect(!report.has("full") || report.object["full"] == .null)
        #expect(try report.integer("peak_resident_bytes") > 0)

        let text = try ep(["bench", "forward", llama, "--windows", "2", "--window-length", "4", "--repeats", "1", "--layer", "0"], in: folder)
        #expect(text.status == 0, "\(text.stderr)")
        #expect(text.stdout.contains("full model + logits at every position") && text.stdout.contains("of the faster sgemm of the same round"))
        #expect(text.stdout.contains("peak resident memory") && !text.stdout.contains("FMA"))

        try NPY.write([Int32]([5, 6, 9000]), shape: [1, 3], to: folder + "/bad.npy")
        let bad = try ep(["bench", "forward", llama, "--tokens-file", "bad.npy"], in: folder)
        #expect(bad.status != 0 && bad.errorLines.last == "Error: --tokens-file bad.npy: token id 9000 is outside the vocabulary 0..<601")
        let zero = try ep(["bench", "forward", llama, "--windows", "0"], in: folder)
        #expect(zero.status != 0 && zero.errorLines.last == "Error: --windows: expected a positive number of windows, found 0")
    }
}
