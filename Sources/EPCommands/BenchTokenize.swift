import ArgumentParser
import EPRuntime
import Foundation

/// `ep bench tokenize MODEL --text-file F…`: single-threaded encode throughput of a model's tokenizer, with an empty
/// word cache (first pass) and a warm one (best of the later passes).
struct BenchTokenize: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "tokenize",
        abstract: "Measure single-threaded tokenizer encode throughput (MB/s of UTF-8 text).")

    @OptionGroup var model: ModelArgument

    @Option(name: .customLong("text-file"), help: "A text file to encode; repeat for several (they are joined).")
    var textFiles: [String] = []

    @Option(help: "Pre-tokenizer to use instead of a byte-level BPE GGUF model's (\(PreTokenizer.allCases.map(\.rawValue).joined(separator: ", "))).")
    var pre: String?

    @Option(parsing: .unconditional, help: "Passes with a warm cache.")
    var passes = 3

    func validate() throws {
        guard !textFiles.isEmpty else { throw ValidationError("give at least one --text-file") }
        guard passes >= 1 else { throw ValidationError("--passes must be at least 1") }
    }

    func run() throws {
        let path = try ModelLocator.resolve(model.model)
        let override = try pre.map { try PreTokenizer(ggufName: $0) }
        let text = try textFiles.map(readText).joined(separator: "\n")
        let megabytes = Double(text.utf8.count) / 1e6

        let loadStart = DispatchTime.now()
        let tokenizer: InspectableTokenizer = try override.map { try BPETokenizer(gguf: GGUFFile(path: path), preTokenizer: $0) }
            ?? makeTokenizer(modelPath: path)
        let loadSeconds = Double(DispatchTime.now().uptimeNanoseconds - loadStart.uptimeNanoseconds) / 1e9

        var count = 0
        let cold = measure { count = tokenizer.encode(text, parseSpecial: true, addSpecial: false).count }
        var warm = (cpu: Double.infinity, wall: Double.infinity)
        for _ in 0..<passes {
            let pass = measure { _ = tokenizer.encode(text, parseSpecial: true, addSpecial: false) }
            warm = (min(warm.cpu, pass.cpu), min(warm.wall, pass.wall))
        }
        print(String(format: "%@, %.2f MB of text, %d tokens (%.2f bytes/token); tokenizer built in %.0f ms",
                     tokenizer.kindDescription, megabytes, count, Double(text.utf8.count) / Double(max(count, 1)), loadSeconds * 1e3))
        for (name, time) in [("cold cache", cold), ("warm cache", warm)] {
            print(String(format: "%@: %.1f MB/s, %.2f M tokens/s by thread CPU time (%.1f MB/s by wall time)",
                         name, megabytes / time.cpu, Double(count) / time.cpu / 1e6, megabytes / time.wall))
        }
        print("warm: best of \(passes) passes; CPU time is the steadier measure on a shared machine")
    }

    /// The thread CPU time and wall time of `body`, in seconds.
    private func measure(_ body: () -> Void) -> (cpu: Double, wall: Double) {
        func cpuNow() -> Double {
            var t = timespec()
            clock_gettime(CLOCK_THREAD_CPUTIME_ID, &t)
            return Double(t.tv_sec) + Double(t.tv_nsec) / 1e9
        }
        let wall = DispatchTime.now().uptimeNanoseconds
        let cpu = cpuNow()
        body()
        return (cpuNow() - cpu, Double(DispatchTime.now().uptimeNanoseconds - wall) / 1e9)
    }
}
