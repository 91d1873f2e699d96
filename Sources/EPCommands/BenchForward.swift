import ArgumentParser
import EPRuntime
import Foundation

/// `ep bench forward`: forward-pass tokens/s on batches of windows, with the machine's sgemm speed for scale.
struct BenchForward: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "forward",
        abstract: "Tokens/s of the forward pass: full model with logits at every position, and early exit at the middle block.")

    @Argument(help: "A GGUF file, a Hugging Face folder, or a short name (\(ModelLocator.shortNameList)).")
    var model = "smollm2"

    @Option(parsing: .unconditional, help: "Windows per forward call.")
    var windows = ForwardBenchmark.Options().windows

    @Option(parsing: .unconditional, help: "Tokens per window.")
    var windowLength = ForwardBenchmark.Options().windowLength

    @Option(parsing: .unconditional, help: "Timed calls per configuration (after one warm-up call).")
    var repeats = ForwardBenchmark.Options().repeats

    @Option(parsing: .unconditional, help: "Block whose hook_resid_post the early-exit run captures (default: the middle block).")
    var layer: Int?

    @Option(parsing: .unconditional, help: "Threads (default: all active processors).")
    var threads: Int?

    func run() throws {
        let path = try ModelLocator.resolve(model)
        let start = Date()
        try requireThreads(threads)
        let lm = try LanguageModel(path: path, threads: threads)
        print("model: \(path) (\(lm.config.architecture.rawValue), \(lm.config.layerCount) blocks), loaded in \(String(format: "%.2f", Date().timeIntervalSince(start))) s")
        var options = ForwardBenchmark.Options()
        options.windows = windows
        options.windowLength = windowLength
        options.repeats = repeats
        options.earlyExitLayer = layer
        let report = try ForwardBenchmark.run(model: lm, options: options)
        print("machine: \(ProcessInfo.processInfo.activeProcessorCount) cores, \(report.threads) threads, \(report.blas)")
        if let l = report.loadAverages { print("load averages before: \(l.map { String(format: "%.2f", $0) }.joined(separator: " "))") }
        if let f = report.foreignCoresBefore { print("other processes in the second before: \(String(format: "%.2f", f)) cores busy") }
        print("windows: \(windows) × \(windowLength) tokens per call, \(repeats) timed calls each (best / median)")
        for m in [report.fmaPeak, report.sgemmMultiThreaded, report.sgemmConcurrent] {
            print("  \(m.label): \(gflops(m))")
        }
        let sgemm = report.sgemmConcurrent
        for m in [report.full, report.earlyExit] {
            let rate = String(format: "%.0f / %.0f tokens/s", m.bestTokensPerSecond, m.medianTokensPerSecond)
            let perToken = String(format: "%.0f MFLOP per token", m.flops / Double(m.tokens) / 1e6)
            // Each round times the FMA peak and the sgemm just before the forward pass: compare within rounds.
            func share(_ reference: ForwardBenchmark.Measurement) -> String {
                let ratios = zip(m.seconds, reference.seconds).map { (m.flops / $0) / (reference.flops / $1) }.sorted()
                return String(format: "%.0f%% / %.0f%%", 100 * ratios.last!, 100 * ratios[ratios.count / 2])
            }
            print("  \(m.label): \(rate) (\(perToken)), \(gflops(m)); \(share(sgemm)) of the concurrent sgemm and \(share(report.fmaPeak)) of the FMA peak of the same round; other processes \(load(m))")
        }
    }

    private func gflops(_ m: ForwardBenchmark.Measurement) -> String {
        let median = m.flops / m.seconds.sorted()[m.seconds.count / 2] / 1e9
        return String(format: "%.1f / %.1f GFLOP/s", m.bestGFLOPS, median)
    }

    private func load(_ m: ForwardBenchmark.Measurement) -> String {
        guard let worst = m.foreignCores.max() else { return "unknown" }
        return String(format: "≤ %.2f cores busy", worst)
    }
}
