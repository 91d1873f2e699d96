import EPTensors
import Foundation

/// Throughput of the forward pass on batches of token windows (`ep bench forward`), with the machine's sgemm
/// speed measured in the same rounds for scale, the load other processes put on the machine meanwhile, and the
/// process's peak resident memory.
public enum ForwardBenchmark {
    /// What to measure.
    public struct Options: Sendable {
        /// Windows per forward call (16 gives each of two cores 1,024 rows per product).
        public var windows = 16
        /// Tokens per window.
        public var windowLength = 128
        /// The windows to run instead of random ones (each at most the context length); `windows` and
        /// `windowLength` are then ignored.
        public var batch: [[Int32]]?
        /// Timed calls per configuration (after one untimed warm-up call).
        public var repeats = 3
        /// The block whose `hook_resid_post` the early-exit run captures (nil: the middle block).
        public var earlyExitLayer: Int?
        /// Whether to time the full model with logits at every position.
        public var includeFull = true
        /// Whether to time the sgemm reference products.
        public var includeSGEMM = true
        /// Seed of the random token ids.
        public var seed: UInt64 = 1

        /// 16 windows of 128 tokens, 3 timed calls, early exit at the middle block, the full model and the sgemm
        /// references.
        public init() {}
    }

    /// The timings of one configuration.
    public struct Measurement: Sendable, Encodable {
        /// What ran.
        public var label: String
        /// Tokens per call.
        public var tokens: Int
        /// Floating-point operations per call.
        public var flops: Double
        /// Seconds of each timed call.
        public var seconds: [Double]
        /// Cores other processes kept busy during each timed call.
        public var foreignCores: [Double]

        enum CodingKeys: String, CodingKey {
            case label, tokens, flops, seconds, foreignCores = "other_cores_busy"
        }

        /// Tokens per second of the fastest call.
        public var bestTokensPerSecond: Double { Double(tokens) / seconds.min()! }
        /// Tokens per second of the median call.
        public var medianTokensPerSecond: Double { Double(tokens) / medianSeconds }
        /// The median of the calls' seconds (the upper median for an even count).
        public var medianSeconds: Double { seconds.sorted()[seconds.count / 2] }
        /// GFLOP/s of the fastest call.
        public var bestGFLOPS: Double { flops / seconds.min()! / 1e9 }
        /// GFLOP/s of the median call.
        public var medianGFLOPS: Double { flops / medianSeconds / 1e9 }

        /// This measurement's rate as a fraction of `reference`'s in each round (calls paired in order), sorted.
        public func shares(of reference: Measurement) -> [Double] {
            zip(seconds, reference.seconds).map { (flops / $0) / (reference.flops / $1) }.sorted()
        }
    }

    /// Everything `ep bench forward` reports.
    public struct Report: Sendable {
        /// What was measured.
        public var options: Options
        /// Windows per call and tokens per window (of `options.batch` when given).
        public var windows: Int
        public var windowLength: Int
        /// Threads the model used.
        public var threads: Int
        /// The BLAS library and its kernels.
        public var blas: String
        /// Load averages before the run.
        public var loadAverages: [Double]?
        /// Cores other processes kept busy in the second before the run.
        public var foreignCoresBefore: Double?
        /// sgemm on a projection-sized product (the MLP's gate and up projections of the whole batch) in one call
        /// on `threads` BLAS threads.
        public var sgemmMultiThreaded: Measurement?
        /// The same product as `threads` concurrent single-threaded calls of a share of the rows each.
        public var sgemmConcurrent: Measurement?
        /// The full model with logits at every position.
        public var full: Measurement?
        /// Early exit after the chosen block's `hook_resid_post`.
        public var earlyExit: Measurement
        /// The hook point of the early exit.
        public var earlyExitPoint: HookPoint
        /// The process's peak resident memory (bytes) when the run ended, or nil where the system does not say.
        public var peakResidentBytes: Int?

        /// Per round, the faster of the two sgemm measurements' GFLOP/s (nil without sgemm).
        public var sgemmBest: Measurement? {
            guard let one = sgemmMultiThreaded, let split = sgemmConcurrent else { return nil }
            var best = one
            best.label = "the faster sgemm of the round"
            best.seconds = zip(one.seconds, split.seconds).map { min($0, $1) }
            return best
        }
    }

    /// What `ep bench forward --json` prints: the model and the machine, then every measurement with each call's
    /// seconds and the other processes' load (nil measurements as null).
    public struct Record: Sendable, Encodable {
        /// The model's path, architecture and blocks, and the seconds loading it took.
        public var model: String
        public var architecture: String
        public var blocks: Int
        public var loadSeconds: Double
        /// The machine's cores, the threads the model used, and the BLAS library.
        public var cores: Int
        public var threads: Int
        public var blas: String
        public var loadAverages: [Double]?
        public var windows: Int
        public var windowLength: Int
        public var earlyExitHook: String
        public var sgemmMultiThreaded: Measurement?
        public var sgemmConcurrent: Measurement?
        public var full: Measurement?
        public var earlyExit: Measurement
        public var peakResidentBytes: Int?

        enum CodingKeys: String, CodingKey {
            case model, architecture, blocks, loadSeconds = "load_seconds", cores, threads, blas, loadAverages = "load_averages"
            case windows, windowLength = "window_length", earlyExitHook = "early_exit_hook", sgemmMultiThreaded = "sgemm_multithreaded"
            case sgemmConcurrent = "sgemm_concurrent", full, earlyExit = "early_exit", peakResidentBytes = "peak_resident_bytes"
        }

        /// The record of `report`, run on `model` (loaded from `path` in `loadSeconds`) on this machine.
        public init(_ report: Report, path: String, model: LanguageModel, loadSeconds: Double) {
            self.model = path
            architecture = model.config.architecture.rawValue
            blocks = model.config.layerCount
            self.loadSeconds = loadSeconds
            cores = ProcessInfo.processInfo.activeProcessorCount
            threads = report.threads
            blas = report.blas
            loadAverages = report.loadAverages
            windows = report.windows
            windowLength = report.windowLength
            earlyExitHook = report.earlyExitPoint.name
            sgemmMultiThreaded = report.sgemmMultiThreaded
            sgemmConcurrent = report.sgemmConcurrent
            full = report.full
            earlyExit = report.earlyExit
            peakResidentBytes = report.peakResidentBytes
        }
    }

    /// Runs the benchmark on `model`.
    public static func run(model: LanguageModel, options: Options) throws -> Report {
        let c = model.config
        var generator = SeededGenerator(seed: options.seed)
        let batch = options.batch ?? (0..<options.windows).map { _ in
            (0..<options.windowLength).map { _ in Int32.random(in: 100..<Int32(min(c.vocabularySize, 40_000)), using: &generator) }
        }
        guard !batch.isEmpty, let longest = batch.map(\.count).max(), longest > 0 else {
            throw ModelInputError(message: "bench forward: no tokens to run")
        }
        let before = MachineLoad.sample()
        let loadAverages = MachineLoad.loadAverages()
        Thread.sleep(forTimeInterval: 1)
        let foreignBefore = before.flatMap { b in MachineLoad.sample().map { $0.foreignCores(since: b) } }

        let tokens = batch.reduce(0) { $0 + $1.count }
        // Mean number of keys a query sees, over every token of the batch (causal attention).
        let averageKeys = batch.reduce(0.0) { $0 + Double($1.count) * Double($1.count + 1) / 2 } / Double(tokens)
        let layer = options.earlyExitLayer ?? c.layerCount / 2
        let point = HookPoint.residPost(layer: layer)
        guard (0..<c.layerCount).contains(layer) else {
            throw HookError(message: "early-exit layer \(layer) out of range 0..<\(c.layerCount)")
        }

        // The products and the forward passes take turns, round after round, so that each round's figures
        // share the machine's state (other processes, other virtual machines on the host).
        var cases: [Case] = []
        if options.includeSGEMM {
            cases += sgemmCases(m: tokens, k: c.modelWidth, n: (c.isGated ? 2 : 1) * c.ffnWidth, threads: model.threadCount)
        }
        // Outputs are reused between calls, as a pipeline streaming batches would.
        var fullResult = ForwardResult(), earlyResult = ForwardResult()
        if options.includeFull {
            cases.append(Case(
                label: "full model + logits at every position", tokens: tokens,
                flops: Double(tokens) * c.flopsPerToken(layers: c.layerCount, logits: true, averageKeys: averageKeys)
            ) { try model.forward(batch, logits: .all, into: &fullResult) })
        }
        cases.append(Case(
            label: "early exit at \(point.name)", tokens: tokens,
            flops: Double(tokens) * c.flopsPerToken(layers: layer + 1, logits: false, averageKeys: averageKeys)
        ) { try model.forward(batch, hooks: Hooks(captures: [point]), into: &earlyResult) })
        var measured = try measureInTurns(cases, repeats: options.repeats)
        let early = measured.removeLast()
        let full = options.includeFull ? measured.removeLast() : nil
        return Report(
            options: options, windows: batch.count, windowLength: longest, threads: model.threadCount,
            blas: BLAS.implementationName, loadAverages: loadAverages, foreignCoresBefore: foreignBefore,
            sgemmMultiThreaded: options.includeSGEMM ? measured[0] : nil, sgemmConcurrent: options.includeSGEMM ? measured[1] : nil,
            full: full, earlyExit: early, earlyExitPoint: point, peakResidentBytes: peakResidentBytes())
    }

    /// The process's peak resident memory in bytes (`getrusage`), or nil where it is not available.
    public static func peakResidentBytes() -> Int? {
        var usage = rusage()
        #if os(Linux)
        guard getrusage(RUSAGE_SELF.rawValue, &usage) == 0 else { return nil }
        return usage.ru_maxrss * 1024
        #else
        guard getrusage(RUSAGE_SELF, &usage) == 0 else { return nil }
        return usage.ru_maxrss
        #endif
    }

    /// One timed configuration.
    struct Case {
        var label: String
        var tokens: Int
        var flops: Double
        var body: () throws -> Void
    }

    /// Runs every case once untimed, then `repeats` rounds that time each case once.
    static func measureInTurns(_ cases: [Case], repeats: Int) throws -> [Measurement] {
        for c in cases { try c.body() }
        var results = cases.map { Measurement(label: $0.label, tokens: $0.tokens, flops: $0.flops, seconds: [], foreignCores: []) }
        for _ in 0..<max(1, repeats) {
            for (i, c) in cases.enumerated() {
                let load = MachineLoad.sample()
                let start = DispatchTime.now().uptimeNanoseconds
                try c.body()
                results[i].seconds.append(Double(DispatchTime.now().uptimeNanoseconds - start) / 1e9)
                if let load, let now = MachineLoad.sample() { results[i].foreignCores.append(now.foreignCores(since: load)) }
            }
        }
        return results
    }

    /// Products `C = A·Bᵀ` with A m×k and B n×k (the MLP's gate and up projections of the whole batch), repeated
    /// `calls` times per timing: on `threads` BLAS threads, and as `threads` concurrent single-threaded products
    /// of m/threads rows each.
    static func sgemmCases(m: Int, k: Int, n: Int, threads: Int, calls: Int = 4) -> [Case] {
        let a = FloatBuffer(count: m * k), b = FloatBuffer(count: n * k), c = FloatBuffer(count: m * n)
        var generator = SeededGenerator(seed: 7)
        for i in 0..<(m * k) { a.pointer[i] = Float.random(in: -1...1, using: &generator) }
        for i in 0..<(n * k) { b.pointer[i] = Float.random(in: -1...1, using: &generator) }
        let flops = 2 * Double(m) * Double(n) * Double(k) * Double(calls)
        let rows = m / threads
        let one = Case(label: "sgemm \(m)×\(k)·\(k)×\(n), \(threads) BLAS threads", tokens: m * calls, flops: flops) {
            BLAS.threadCountLock.lock()
            defer { BLAS.threadCountLock.unlock() }
            let previous = BLAS.threadCount
            defer { BLAS.threadCount = previous }
            BLAS.threadCount = threads
            for _ in 0..<calls {
                BLAS.gemm(.asStored, .transposed, m: m, n: n, k: k, a: a.pointer, lda: k, b: b.pointer, ldb: k, c: c.pointer, ldc: n)
            }
        }
        let split = Case(label: "sgemm \(threads) × (\(rows)×\(k)·\(k)×\(n)) concurrently, 1 BLAS thread each", tokens: m * calls, flops: flops) {
            BLAS.threadCountLock.lock()
            defer { BLAS.threadCountLock.unlock() }
            let previous = BLAS.threadCount
            defer { BLAS.threadCount = previous }
            BLAS.threadCount = 1
            let shared = (a: SharedPointer(pointer: a.pointer), b: SharedPointer(pointer: b.pointer), c: SharedPointer(pointer: c.pointer))
            DispatchQueue.concurrentPerform(iterations: threads) { t in
                for _ in 0..<calls {
                    BLAS.gemm(
                        .asStored, .transposed, m: rows, n: n, k: k, a: shared.a.pointer + t * rows * k, lda: k,
                        b: shared.b.pointer, ldb: k, c: shared.c.pointer + t * rows * n, ldc: n)
                }
            }
        }
        return [one, split]
    }
}
