import ArgumentParser
import EPRuntime
import Foundation

/// `ep bench tokenize MODEL --text-file F…`: single-threaded encode throughput of a model's tokenizer, with an empty
/// word cache (first pass) and a warm one (best of the later passes).
struct BenchTokenizeCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "tokenize",
        abstract: "Measure single-threaded tokenizer encode throughput (MB/s of UTF-8 text).")

    @Argument(help: "A GGUF file, or a short name (smollm2).")
    var model: String

    @Option(name: .customLong("text-file"), help: "A text file to encode; repeat for several (they are joined).")
    var textFiles: [String] = []

    @Option(help: "Pre-tokenizer to use instead of the model's (\(PreTokenizer.allCases.map(\.rawValue).joined(separator: ", "))).")
    var pre: String?

    @Option(help: "Passes with a warm cache.")
    var passes = 3

    func validate() throws {
        guard !textFiles.isEmpty else { throw ValidationError("give at least one --text-file") }
        guard passes >= 1 else { throw ValidationError("--passes must be at least 1") }
    }

    func run() throws {
        let gguf = try GGUFFile(path: ModelLocator.resolve(model))
        let override = try pre.map { try PreTokenizer(ggufName: $0) }
        let text = try textFiles.map(readText).joined(separator: "\n")
        let megabytes = Double(text.utf8.count) / 1e6

        let loadStart = DispatchTime.now()
        let tokenizer = try BPETokenizer(gguf: gguf, preTokenizer: override)
        let loadSeconds = seconds(since: loadStart)

        let coldStart = DispatchTime.now()
        let count = tokenizer.encode(text, parseSpecial: true, addSpecial: false).count
        let cold = seconds(since: coldStart)
        var warm = Double.infinity
        for _ in 0..<passes {
            let start = DispatchTime.now()
            _ = tokenizer.encode(text, parseSpecial: true, addSpecial: false)
            warm = min(warm, seconds(since: start))
        }
        print(String(format: "%@ pre-tokenizer, %.2f MB of text, %d tokens (%.2f bytes/token); tokenizer built in %.0f ms",
                     tokenizer.preTokenizer.rawValue, megabytes, count, Double(text.utf8.count) / Double(max(count, 1)), loadSeconds * 1e3))
        print(String(format: "cold cache: %.1f MB/s (%.2f M tokens/s)", megabytes / cold, Double(count) / cold / 1e6))
        print(String(format: "warm cache: %.1f MB/s (%.2f M tokens/s), best of %d", megabytes / warm, Double(count) / warm / 1e6, passes))
    }

    private func seconds(since start: DispatchTime) -> Double {
        Double(DispatchTime.now().uptimeNanoseconds - start.uptimeNanoseconds) / 1e9
    }
}
