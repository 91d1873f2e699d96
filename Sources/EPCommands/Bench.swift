import ArgumentParser
import EPCore
import EPTensors
import Foundation

/// `ep bench`: benchmarks (not tests). Speed claims in BENCHMARKS.md come from these commands.
struct Bench: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Measure this machine's speed on EP workloads.",
        subcommands: [BenchCluster.self, BenchForward.self, BenchTokenize.self])
}

/// `ep bench cluster`: SGEMM limit, clustering throughput and calibration time, with the machine's load.
struct BenchCluster: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "cluster",
        abstract: "SGEMM limit, nearest-exemplar GFLOP/s, clustering rows/s and calibration time, in one process.",
        discussion: """
            Measures, in this order: SGEMM GFLOP/s with 1 and 2 BLAS threads (the limit); clustering at width 2304 \
            while K grows past 20,000 (achieved GFLOP/s of the nearest-exemplar step and the share of time outside it); \
            clustering at width 576 with K ≈ 100 (rows/s of the whole addBatch); calibration of 200,000 rows at width \
            2304 in batches of 16,384. Before each phase it reports how many cores' worth of CPU other processes used.
            """)

    @Option(parsing: .unconditional, help: "Rows clustered at width 576 with K ≈ 100.")
    var steadyRows = 2_000_000

    @Option(parsing: .unconditional, help: "Target K at width 2304.")
    var targetRegions = 20_000

    @Option(parsing: .unconditional, help: "Batches measured at width 2304 once K reaches the target.")
    var measuredBatches = 2

    @Option(parsing: .unconditional, help: "Rows calibrated at width 2304.")
    var calibrationRows = 200_000

    @Option(parsing: .unconditional, help: "Wait up to this many seconds for other processes to go quiet (< 0.1 cores) before starting.")
    var waitForIdle: Double = 60

    @Option(parsing: .unconditional, help: "Seed of the generated data.")
    var seed: UInt64 = 7

    func run() throws {
        print("ep bench cluster — \(Date())")
        print("BLAS: \(BLAS.implementationName), \(MachineLoad.cpuCount) CPUs online, default BLAS threads \(BLAS.threadCount)")
        if let load = MachineLoad.loadAverages {
            print(String(format: "load average before: %.2f %.2f %.2f", load[0], load[1], load[2]))
        }
        if let idle = MachineLoad.waitForIdle(limit: 0.1, timeout: waitForIdle) {
            print(String(format: "other processes before start: %.2f cores", idle))
        } else {
            print("other processes before start: not measurable (no /proc/stat)")
        }
        let threads = max(1, min(2, MachineLoad.cpuCount))

        // 1. The limit: the best SGEMM rate over a square-ish shape and the nearest-exemplar block shape.
        var limits: [Int: Double] = [:]
        for t in Set([1, threads]).sorted() {
            let results = phase("sgemm \(t) thread(s)") {
                [(4096, 8192), (1024, 20_000)].map { ClusterBenchmark.sgemm(m: $0.0, n: $0.1, k: 2304, threads: t, repetitions: 3) }
            }
            for r in results {
                print(String(format: "  sgemm (%d×2304)·(%d×2304)ᵀ, %d thread(s): best %.1f GFLOP/s, median %.1f", r.m, r.n, t, r.best, r.median))
            }
            limits[t] = results.map(\.best).max()!
        }
        let limit = limits[threads]!
        BLAS.threadCount = threads

        // 2. Width 2304 with K growing past the target.
        let wide = try phase("clustering, width 2304, K → \(targetRegions)") {
            try ClusterBenchmark.growingClustering(
                width: 2304, targetRegions: targetRegions, measuredBatches: measuredBatches, batchSize: 16_384, seed: seed
            ) { b in
                print(String(
                    format: "  batch: K %6d → %6d, %5d rows, %6.2f s, nearest %6.2f s (%6.1f GFLOP/s), leaders %5.2f s",
                    b.regionsBefore, b.regionsBefore + b.newRegions, b.rows, b.seconds, b.nearestSeconds, b.nearestGFLOPS, b.leaderSeconds))
            }
        }
        print(String(
            format: "  measured (K ≥ %d): nearest-exemplar step %.1f GFLOP/s = %.1f%% of the %d-thread sgemm best (%.1f); %.1f%% of the time outside it; %.0f rows/s",
            targetRegions, wide.nearestGFLOPS, 100 * wide.nearestGFLOPS / limit, threads, limit, 100 * wide.outsideShare, wide.rowsPerSecond))

        // 3. Width 576 with K ≈ 100.
        let steady = try phase("clustering, width 576, K ≈ 100") {
            try ClusterBenchmark.steadyClustering(width: 576, clusters: 100, rows: steadyRows, batchSize: 16_384, seed: seed)
        }
        print(String(
            format: "  %d rows in %.2f s: %.0f rows/s (K = %d); nearest step %.1f GFLOP/s, %.1f%% of the time outside it (directions %.1f%%, bookkeeping %.1f%%)",
            steady.rows, steady.seconds, steady.rowsPerSecond, steady.finalRegions, steady.nearestGFLOPS, 100 * steady.outsideShare,
            100 * steady.directionShare, 100 * steady.bookkeepingShare))

        // 4. Calibration.
        let calibration = try phase("calibration, \(calibrationRows) rows, width 2304, batches of 16,384") {
            try ClusterBenchmark.calibration(rows: calibrationRows, width: 2304, batchSize: 16_384, percentile: 10, seed: seed)
        }
        let pairFlops = ClusterBenchmark.pairwiseFlops(rows: calibrationRows, width: 2304, batchSize: 16_384)
        print(String(
            format: "  %.2f s for %d rows in %d batches (θ = %.4f); pairwise similarities %.2e flops = %.1f GFLOP/s overall (%.1f%% of the sgemm limit); distances held per batch: %.0f MB",
            calibration.seconds, calibration.calibration.activationCount, calibration.calibration.batchCount,
            calibration.calibration.threshold, pairFlops, pairFlops / calibration.seconds / 1e9, 100 * pairFlops / calibration.seconds / 1e9 / limit,
            Double(16_384 * 16_383 / 2) * 4 / 1e6))

        print("summary:")
        print(String(format: "  sgemm limit (%d threads, best of both shapes): %.1f GFLOP/s (1 thread: %.1f)", threads, limit, limits[1]!))
        print(String(format: "  nearest-exemplar step at width 2304, K ≥ %d: %.1f GFLOP/s = %.1f%% of the limit", targetRegions, wide.nearestGFLOPS, 100 * wide.nearestGFLOPS / limit))
        print(String(format: "  width 576, K ≈ 100: %.0f rows/s", steady.rowsPerSecond))
        print(String(format: "  calibration of %d × 2304 rows (batches of 16,384): %.1f s", calibrationRows, calibration.seconds))
        if let load = MachineLoad.loadAverages {
            print(String(format: "  load average after: %.2f %.2f %.2f", load[0], load[1], load[2]))
        }
    }

    /// Runs one phase and prints how much CPU other processes took meanwhile.
    private func phase<T>(_ name: String, _ body: () throws -> T) rethrows -> T {
        print("\(name):")
        let before = MachineLoad.sample()
        let result = try body()
        let (busy, foreign) = MachineLoad.between(before, MachineLoad.sample())
        if let busy, let foreign {
            print(String(format: "  [machine busy %.0f%% of all CPUs; other processes %.2f cores]", 100 * busy, foreign))
        }
        fflush(nil)
        return result
    }
}
