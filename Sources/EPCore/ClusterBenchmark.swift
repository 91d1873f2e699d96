import EPTensors

/// The workloads of `ep bench cluster`: the machine's SGEMM rate (the limit for the nearest-exemplar step), the
/// clustering throughput on generated clustered data, and calibration time. Pure computation; the caller measures
/// machine load and prints.
public enum ClusterBenchmark {
    /// SGEMM rate for one shape and thread count.
    public struct GEMMResult: Sendable {
        public var m: Int, n: Int, k: Int
        public var threads: Int
        /// Best and median GFLOP/s over the repetitions.
        public var best: Double, median: Double
    }

    /// One batch of a clustering run.
    public struct BatchTiming: Sendable {
        /// Regions before the batch (the K of its nearest-exemplar step).
        public var regionsBefore: Int
        public var rows: Int
        public var newRegions: Int
        /// Seconds in `addBatch`, in its nearest-exemplar step, and in its leader clustering.
        public var seconds: Double, nearestSeconds: Double, leaderSeconds: Double
        /// Floating-point operations of the nearest-exemplar GEMMs.
        public var nearestFlops: Double
        /// Seconds computing directions, and in statistics/references bookkeeping.
        public var directionSeconds: Double, bookkeepingSeconds: Double

        /// Achieved GFLOP/s of the nearest-exemplar step (GEMM plus row minima).
        public var nearestGFLOPS: Double { nearestSeconds > 0 ? nearestFlops / nearestSeconds / 1e9 : 0 }
        /// Share of the batch's time spent outside the nearest-exemplar step.
        public var outsideShare: Double { seconds > 0 ? 1 - nearestSeconds / seconds : 0 }
    }

    /// A clustering run: every batch, and totals over the batches selected for the headline figures.
    public struct ClusteringResult: Sendable {
        public var width: Int
        public var batches: [BatchTiming]
        /// The batches the headline figures are taken over.
        public var measured: [BatchTiming]

        public var rows: Int { measured.reduce(0) { $0 + $1.rows } }
        public var seconds: Double { measured.reduce(0) { $0 + $1.seconds } }
        public var rowsPerSecond: Double { Double(rows) / seconds }
        public var nearestGFLOPS: Double {
            measured.reduce(0) { $0 + $1.nearestFlops } / measured.reduce(0) { $0 + $1.nearestSeconds } / 1e9
        }
        public var outsideShare: Double { 1 - measured.reduce(0) { $0 + $1.nearestSeconds } / seconds }
        /// Shares of the time in direction computation and in bookkeeping.
        public var directionShare: Double { measured.reduce(0) { $0 + $1.directionSeconds } / seconds }
        public var bookkeepingShare: Double { measured.reduce(0) { $0 + $1.bookkeepingSeconds } / seconds }
        public var finalRegions: Int { (batches.last?.regionsBefore ?? 0) + (batches.last?.newRegions ?? 0) }
    }

    /// Times `C = A·Bᵀ` (`m×k` times `(n×k)ᵀ`, the nearest-exemplar shape) with `threads` BLAS threads: best and
    /// median GFLOP/s over `repetitions` runs after one warm-up. Restores the thread count.
    public static func sgemm(m: Int, n: Int, k: Int, threads: Int, repetitions: Int) -> GEMMResult {
        let saved = BLAS.threadCount
        BLAS.threadCount = threads
        defer { BLAS.threadCount = saved }
        var generator = SeededGenerator(seed: 1)
        let a = (0..<(m * k)).map { _ in generator.unitFloat() - 0.5 }
        let b = (0..<(n * k)).map { _ in generator.unitFloat() - 0.5 }
        var c = [Float](repeating: 0, count: m * n)
        let clock = ContinuousClock()
        var rates: [Double] = []
        for repetition in 0...repetitions {
            let started = clock.now
            BLAS.gemm(.asStored, .transposed, m: m, n: n, k: k, a: a, lda: k, b: b, ldb: k, c: &c, ldc: n)
            let seconds = (clock.now - started).seconds
            if repetition > 0 { rates.append(2 * Double(m) * Double(n) * Double(k) / seconds / 1e9) }
        }
        rates.sort()
        return GEMMResult(m: m, n: n, k: k, threads: threads, best: rates.last!, median: rates[rates.count / 2])
    }

    /// Clustering while K grows past `targetRegions`: the first `targetRegions` rows found one cluster each, later
    /// rows come from `1.2 × targetRegions` clusters at random (so K keeps growing slowly). Stops after
    /// `measuredBatches` batches that start with K ≥ `targetRegions`; those are the measured ones. θ = 0.5, rows
    /// of one cluster ≈ 0.2 apart.
    public static func growingClustering(
        width: Int, targetRegions: Int, measuredBatches: Int, batchSize: Int, seed: UInt64, progress: (BatchTiming) -> Void
    ) throws -> ClusteringResult {
        var data = SyntheticClusters(width: width, clusters: targetRegions + targetRegions / 5, seed: seed)
        let dictionary = try ExemplarDictionary(center: [Float](repeating: 0, count: width), threshold: 0.5)
        var batches: [BatchTiming] = []
        var founded = 0
        var generator = SeededGenerator(seed: seed &+ 1)
        while batches.filter({ $0.regionsBefore >= targetRegions }).count < measuredBatches {
            var clusters: [Int] = []
            while clusters.count < batchSize {
                if founded < targetRegions {
                    clusters.append(founded)
                    founded += 1
                } else {
                    clusters.append(Int(generator.uniform(below: UInt64(data.clusterCount))))
                }
            }
            let timing = try timedBatch(dictionary, data.batch(clusters: clusters))
            batches.append(timing)
            progress(timing)
        }
        return ClusteringResult(width: width, batches: batches, measured: batches.filter { $0.regionsBefore >= targetRegions })
    }

    /// Steady-state clustering with few regions: `clusters` clusters, `rows` rows in batches of `batchSize` (a pool
    /// of generated batches is reused). The first batch (which founds the regions) is not measured.
    public static func steadyClustering(width: Int, clusters: Int, rows: Int, batchSize: Int, seed: UInt64) throws -> ClusteringResult {
        var data = SyntheticClusters(width: width, clusters: clusters, seed: seed)
        let pool = (0..<4).map { _ in data.batch(rows: batchSize) }
        let dictionary = try ExemplarDictionary(center: [Float](repeating: 0, count: width), threshold: 0.5)
        var batches: [BatchTiming] = []
        var done = 0
        while done < rows + batchSize {
            batches.append(try timedBatch(dictionary, pool[batches.count % pool.count]))
            done += batchSize
        }
        return ClusteringResult(width: width, batches: batches, measured: Array(batches.dropFirst()))
    }

    /// Calibration of `rows` generated rows (held in memory, as ``Calibration/calibrate(batches:settings:)``
    /// takes them) in batches of `batchSize`. Returns the seconds of the calibration call alone (data generation
    /// excluded) and its result.
    public static func calibration(rows: Int, width: Int, batchSize: Int, percentile: Double, seed: UInt64) throws -> (seconds: Double, calibration: Calibration) {
        var data = SyntheticClusters(width: width, clusters: 512, offset: 3, seed: seed)
        let batches = stride(from: 0, to: rows, by: batchSize).map { data.batch(rows: min(batchSize, rows - $0)) }
        let settings = CalibrationSettings(percentile: percentile, calibrationTokens: rows, batchSize: batchSize)
        let clock = ContinuousClock()
        let started = clock.now
        let result = try Calibration.calibrate(batches: batches, settings: settings)
        return ((clock.now - started).seconds, result)
    }

    /// Floating-point operations of calibration's pairwise similarities (upper triangles only: n(n−1)·D per batch).
    public static func pairwiseFlops(rows: Int, width: Int, batchSize: Int) -> Double {
        stride(from: 0, to: rows, by: batchSize).reduce(0.0) { total, start in
            let n = Double(min(batchSize, rows - start))
            return total + n * (n - 1) * Double(width)
        }
    }

    private static func timedBatch(_ dictionary: ExemplarDictionary, _ batch: Matrix) throws -> BatchTiming {
        let before = dictionary.timings
        let regionsBefore = dictionary.regionCount
        let result = try dictionary.addBatch(batch)
        let after = dictionary.timings
        return BatchTiming(
            regionsBefore: regionsBefore, rows: batch.rows, newRegions: result.newRegions,
            seconds: after.totalSeconds - before.totalSeconds, nearestSeconds: after.nearestSeconds - before.nearestSeconds,
            leaderSeconds: after.leaderSeconds - before.leaderSeconds, nearestFlops: after.nearestFlops - before.nearestFlops,
            directionSeconds: after.directionSeconds - before.directionSeconds,
            bookkeepingSeconds: after.bookkeepingSeconds - before.bookkeepingSeconds)
    }
}
