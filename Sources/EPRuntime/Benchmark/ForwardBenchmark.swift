import EPTensors
import Foundation
import Synchronization

/// Throughput of the forward pass on batches of token windows (`ep bench forward`), with the machine's sgemm
/// speed measured in the same run for scale, and the load other processes put on the machine meanwhile.
public enum ForwardBenchmark {
    /// What to measure.
    public struct Options: Sendable {
        /// Windows per forward call (16 gives each of two cores 1,024 rows per product).
        public var windows = 16
        /// Tokens per window.
        public var windowLength = 128
        /// Timed calls per configuration (after one untimed warm-up call).
        public var repeats = 3
        /// The block whose `hook_resid_post` the early-exit run captures (nil: the middle block).
        public var earlyExitLayer: Int?
        /// Seed of the random token ids.
        public var seed: UInt64 = 1

        /// 16 windows of 128 tokens, 3 timed calls, early exit at the middle block.
        public init() {}
    }

    /// The timings of one configuration.
    public struct Measurement: Sendable {
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

        /// Tokens per second of the fastest call.
        public var bestTokensPerSecond: Double { Double(tokens) / seconds.min()! }
        /// Tokens per second of the median call.
        public var medianTokensPerSecond: Double { Double(tokens) / seconds.sorted()[seconds.count / 2] }
        /// GFLOP/s of the fastest call.
        public var bestGFLOPS: Double { flops / seconds.min()! / 1e9 }
    }

    /// Everything `ep bench forward` reports.
    public struct Report: Sendable {
        /// What was measured.
        public var options: Options
        /// Threads the model used.
        public var threads: Int
        /// The BLAS library and its kernels.
        public var blas: String
        /// Load averages before the run.
        public var loadAverages: [Double]?
        /// Cores other processes kept busy in the second before the run.
        public var foreignCoresBefore: Double?
        /// The FMA peak: `threads` threads each running independent fused multiply-add chains (no memory traffic).
        public var fmaPeak: Measurement
        /// sgemm on a projection-sized product (the MLP's gate and up projections of the whole batch) in one call
        /// on `threads` BLAS threads.
        public var sgemmMultiThreaded: Measurement
        /// The same product as `threads` concurrent single-threaded calls, as the batched forward pass runs them.
        public var sgemmConcurrent: Measurement
        /// The full model with logits at every position.
        public var full: Measurement
        /// Early exit after the chosen block's `hook_resid_post`.
        public var earlyExit: Measurement
    }

    /// Runs the benchmark on `model`.
    public static func run(model: LanguageModel, options: Options) throws -> Report {
        let c = model.config
        var generator = SeededGenerator(seed: options.seed)
        let batch = (0..<options.windows).map { _ in
            (0..<options.windowLength).map { _ in Int32.random(in: 100..<Int32(min(c.vocabularySize, 40_000)), using: &generator) }
        }
        let before = MachineLoad.sample()
        let loadAverages = MachineLoad.loadAverages()
        Thread.sleep(forTimeInterval: 1)
        let foreignBefore = before.flatMap { b in MachineLoad.sample().map { $0.foreignCores(since: b) } }

        let tokens = options.windows * options.windowLength
        let averageKeys = Double(options.windowLength + 1) / 2
        let layer = options.earlyExitLayer ?? c.layerCount / 2
        let point = HookPoint.residPost(layer: layer)
        guard (0..<c.layerCount).contains(layer) else {
            throw HookError(message: "early-exit layer \(layer) out of range 0..<\(c.layerCount)")
        }

        // The products and the forward passes take turns, round after round, so that each round's figures
        // share the machine's state (other processes, other virtual machines on the host).
        var cases = [fmaPeakCase(threads: model.threadCount)]
        cases += sgemmCases(m: tokens, k: c.modelWidth, n: 2 * c.ffnWidth, threads: model.threadCount)
        // Outputs are reused between calls, as a pipeline streaming batches would.
        var fullResult = ForwardResult(), earlyResult = ForwardResult()
        cases.append(Case(
            label: "full model + logits at every position", tokens: tokens,
            flops: Double(tokens) * c.flopsPerToken(layers: c.layerCount, logits: true, averageKeys: averageKeys)
        ) { try model.forward(batch, logits: .all, into: &fullResult) })
        cases.append(Case(
            label: "early exit at \(point.name)", tokens: tokens,
            flops: Double(tokens) * c.flopsPerToken(layers: layer + 1, logits: false, averageKeys: averageKeys)
        ) { try model.forward(batch, hooks: Hooks(captures: [point]), into: &earlyResult) })
        let measured = try measureInTurns(cases, repeats: options.repeats)
        return Report(
            options: options, threads: model.threadCount, blas: BLAS.implementationName, loadAverages: loadAverages,
            foreignCoresBefore: foreignBefore, fmaPeak: measured[0], sgemmMultiThreaded: measured[1],
            sgemmConcurrent: measured[2], full: measured[3], earlyExit: measured[4])
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

    /// `threads` threads each running 12 independent chains of 8-lane fused multiply-adds (a ← a·b + c) for
    /// `steps` steps.
    static func fmaPeakCase(threads: Int, steps: Int = 4_000_000) -> Case {
        Case(label: "FMA peak, \(threads) threads", tokens: 0, flops: Double(threads * steps * 12 * 8 * 2)) {
            let sums = Mutex<Float>(0)
            DispatchQueue.concurrentPerform(iterations: threads) { t in
                typealias V = SIMD8<Float>
                let b = V(repeating: 0.999_999), c = V(repeating: 1e-7)
                var a0 = V(repeating: Float(t)), a1 = a0 + 1, a2 = a0 + 2, a3 = a0 + 3, a4 = a0 + 4, a5 = a0 + 5
                var a6 = a0 + 6, a7 = a0 + 7, a8 = a0 + 8, a9 = a0 + 9, a10 = a0 + 10, a11 = a0 + 11
                for _ in 0..<steps {
                    a0 = c.addingProduct(a0, b); a1 = c.addingProduct(a1, b); a2 = c.addingProduct(a2, b)
                    a3 = c.addingProduct(a3, b); a4 = c.addingProduct(a4, b); a5 = c.addingProduct(a5, b)
                    a6 = c.addingProduct(a6, b); a7 = c.addingProduct(a7, b); a8 = c.addingProduct(a8, b)
                    a9 = c.addingProduct(a9, b); a10 = c.addingProduct(a10, b); a11 = c.addingProduct(a11, b)
                }
                let total = ((a0 + a1) + (a2 + a3)) + ((a4 + a5) + (a6 + a7)) + ((a8 + a9) + (a10 + a11))
                sums.withLock { $0 += total.sum() }
            }
            precondition(sums.withLock { $0 }.isFinite)
        }
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
            let previous = BLAS.threadCount
            defer { BLAS.threadCount = previous }
            BLAS.threadCount = threads
            for _ in 0..<calls {
                BLAS.gemm(.asStored, .transposed, m: m, n: n, k: k, a: a.pointer, lda: k, b: b.pointer, ldb: k, c: c.pointer, ldc: n)
            }
        }
        let split = Case(label: "sgemm \(threads) × (\(rows)×\(k)·\(k)×\(n)) concurrently, 1 BLAS thread each", tokens: m * calls, flops: flops) {
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
