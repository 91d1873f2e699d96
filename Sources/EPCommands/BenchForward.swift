import ArgumentParser
import EPFormats
import EPRuntime
import Foundation

/// `ep bench forward`: forward-pass tokens/s on batches of windows, with the machine's sgemm speed for scale.
struct BenchForward: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "forward",
        abstract: "Tokens/s of the forward pass: full model with logits at every position, and early exit at the middle block.",
        discussion: """
            Each round times, in turn, the sgemm of the MLP's gate and up projections for the whole batch (on all \
            threads in one call, and as one single-threaded call per thread on a share of the rows), the full model \
            with logits at every position, and the early exit; shares of sgemm compare within a round. The peak \
            resident memory is the process's when the run ends (with --early-exit-only: that of loading the model \
            and the early exit alone).
            """)

    @Argument(help: "A GGUF file, a Hugging Face folder, or a short name (\(ModelLocator.shortNameList)).")
    var model = "smollm2"

    @Option(parsing: .unconditional, help: "Windows per forward call.")
    var windows = ForwardBenchmark.Options().windows

    @Option(parsing: .unconditional, help: "Tokens per window.")
    var windowLength = ForwardBenchmark.Options().windowLength

    @Option(parsing: .unconditional, help: "Token ids to run instead of random windows: an int32/int64 .npy of shape (B, T), B windows per call.")
    var tokensFile: String?

    @Option(parsing: .unconditional, help: "Timed calls per configuration (after one warm-up call).")
    var repeats = ForwardBenchmark.Options().repeats

    @Option(parsing: .unconditional, help: "Block whose hook_resid_post the early-exit run captures (default: the middle block).")
    var layer: Int?

    @OptionGroup var threading: ThreadOptions

    @Flag(help: "Time only the early exit (no sgemm, no full model): its peak memory is then the early exit's.")
    var earlyExitOnly = false

    @Flag(help: "Print the measurements as one JSON object (every call's seconds) instead of text.")
    var json = false

    func validate() throws {
        try requirePositive(repeats, flag: "--repeats", unit: "calls")
        if tokensFile == nil {
            try requirePositive(windows, flag: "--windows", unit: "windows")
            try requirePositive(windowLength, flag: "--window-length", unit: "tokens")
        }
    }

    func run() throws {
        let path = try ModelLocator.resolve(model)
        let start = Date()
        let lm = try LanguageModel(path: path, threads: threading.threads)
        let loadSeconds = Date().timeIntervalSince(start)
        var options = ForwardBenchmark.Options()
        options.windows = windows
        options.windowLength = windowLength
        options.repeats = repeats
        options.earlyExitLayer = layer
        options.includeFull = !earlyExitOnly
        options.includeSGEMM = !earlyExitOnly
        if let tokensFile {
            let batch = try TokenIDs.read(path: tokensFile).sequences
            for (i, window) in batch.enumerated() {
                guard !window.isEmpty, window.count <= lm.config.contextLength else {
                    throw CommandError("--tokens-file \(tokensFile): window \(i) has \(window.count) tokens; expected 1 to \(lm.config.contextLength) (the context length)")
                }
                if let bad = window.first(where: { $0 < 0 || Int($0) >= lm.config.vocabularySize }) {
                    throw CommandError("--tokens-file \(tokensFile): token id \(bad) is outside the vocabulary 0..<\(lm.config.vocabularySize)")
                }
            }
            options.batch = batch
        }
        let report = try ForwardBenchmark.run(model: lm, options: options)
        if json {
            print(JSONValueEncoder.value(of: ForwardBenchmark.Record(report, path: path, model: lm, loadSeconds: loadSeconds)).rendered())
            return
        }
        print("model: \(path) (\(lm.config.architecture.rawValue), \(lm.config.layerCount) blocks), loaded in \(String(format: "%.2f", loadSeconds)) s")
        print("machine: \(ProcessInfo.processInfo.activeProcessorCount) cores, \(report.threads) threads, \(report.blas)")
        if let l = report.loadAverages { print("load averages before: \(l.map { String(format: "%.2f", $0) }.joined(separator: " "))") }
        if let f = report.foreignCoresBefore { print("other processes in the second before: \(String(format: "%.2f", f)) cores busy") }
        print("windows: \(report.windows) × \(report.windowLength) tokens per call, \(repeats) timed calls each (best / median)")
        for m in [report.sgemmMultiThreaded, report.sgemmConcurrent].compactMap({ $0 }) {
            print("  \(m.label): \(gflops(m))")
        }
        for m in [report.full, report.earlyExit].compactMap({ $0 }) {
            let rate = String(format: "%.0f / %.0f tokens/s", m.bestTokensPerSecond, m.medianTokensPerSecond)
            let perToken = String(format: "%.0f MFLOP per token", m.flops / Double(m.tokens) / 1e6)
            var line = "  \(m.label): \(rate) (\(perToken)), \(gflops(m))"
            // Each round times the sgemm just before the forward pass: compare within rounds.
            if let sgemm = report.sgemmBest {
                let ratios = m.shares(of: sgemm)
                line += String(format: "; %.0f%% / %.0f%% of the faster sgemm of the same round", 100 * ratios.last!, 100 * ratios[ratios.count / 2])
            }
            print(line + "; other processes \(load(m))")
        }
        if let bytes = report.peakResidentBytes {
            print(String(format: "peak resident memory: %.2f GB", Double(bytes) / 1e9))
        }
    }

    private func gflops(_ m: ForwardBenchmark.Measurement) -> String {
        String(format: "%.1f / %.1f GFLOP/s", m.bestGFLOPS, m.medianGFLOPS)
    }

    private func load(_ m: ForwardBenchmark.Measurement) -> String {
        guard let worst = m.foreignCores.max() else { return "unknown" }
        return String(format: "≤ %.2f cores busy", worst)
    }
}
