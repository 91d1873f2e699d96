import EPCore
import EPTensors
import Foundation
import Testing

@Suite struct CalibrationTests {
    /// The spec's formulas in Double on all rows (center) and per batch with a full sort (θ).
    static func expected(_ batches: [Matrix], percentile p: Double) -> (center: [Double], theta: Double) {
        let d = batches[0].columns
        var sum = [Double](repeating: 0, count: d), unitSum = sum
        var n = 0.0
        for b in batches {
            for i in 0..<b.rows {
                let row = b.row(i).map(Double.init)
                let norm = row.reduce(0) { $0 + $1 * $1 }.squareRoot()
                for t in 0..<d { sum[t] += row[t]; unitSum[t] += row[t] / norm }
                n += 1
            }
        }
        let dr = unitSum.map { $0 / n }
        let dn = dr.reduce(0) { $0 + $1 * $1 }.squareRoot()
        let dir = dr.map { $0 / dn }
        let s = zip(sum, dir).reduce(0) { $0 + $1.0 / n * $1.1 }
        let center = dir.map { s * $0 }
        var thresholds: [Double] = []
        for b in batches where b.rows >= 2 {
            let u = (0..<b.rows).map { i -> [Double] in
                let v = zip(b.row(i), center).map { Double($0) - $1 }
                let norm = v.reduce(0) { $0 + $1 * $1 }.squareRoot()
                return v.map { $0 / norm }
            }
            var distances: [Double] = []
            for i in 0..<b.rows { for j in (i + 1)..<b.rows { distances.append(1 - zip(u[i], u[j]).reduce(0) { $0 + $1.0 * $1.1 }) } }
            distances.sort()
            let h = Double(distances.count - 1) * p / 100
            let lo = Int(h.rounded(.down))
            let hi = min(lo + 1, distances.count - 1)
            thresholds.append(distances[lo] + (distances[hi] - distances[lo]) * (h - Double(lo)))
        }
        return (center, thresholds.reduce(0, +) / Double(thresholds.count))
    }

    @Test func matchesTheFormulasAndStopsAfterTheBatchThatReachesTheTarget() throws {
        let x = clusteredData(rows: 500, clusters: 8, width: 24)
        let batches = stride(from: 0, to: 500, by: 100).map { x.rows($0..<($0 + 100)) }
        let settings = CalibrationSettings(percentile: 5, calibrationTokens: 250, batchSize: 100)
        let c = try Calibration.calibrate(batches: batches, settings: settings)
        #expect(c.activationCount == 300 && c.batchCount == 3 && c.batchThresholds.count == 3)
        let (center, theta) = Self.expected(Array(batches.prefix(3)), percentile: 5)
        let norm = center.reduce(0) { $0 + $1 * $1 }.squareRoot()
        #expect(zip(c.center, center).allSatisfy { abs(Double($0) - $1) <= 1e-5 * norm })
        #expect(abs(c.threshold - theta) < 1e-5)
        #expect(abs(c.centerNorm - norm) < 1e-5 * norm)
    }

    /// Several percentiles read from one pass give exactly what separate calibrations give.
    @Test func severalPercentilesFromOnePass() throws {
        let x = clusteredData(rows: 300, clusters: 6, width: 20)
        let batches = stride(from: 0, to: 300, by: 100).map { x.rows($0..<($0 + 100)) }
        let settings = CalibrationSettings(percentile: 2, calibrationTokens: 300, batchSize: 100)
        var center = CenterEstimator(width: 20, settings: settings)
        for b in batches { try center.add(b) }
        var estimator = try ThresholdEstimator(center: try center.center(), settings: settings, additionalPercentiles: [1, 8, 50])
        for b in batches { try estimator.add(b) }
        let all = try estimator.finishAll(batchRowCounts: center.batchRowCounts)
        #expect(all.map(\.percentile) == [2, 1, 8, 50])
        for c in all {
            var alone = settings
            alone.percentile = c.percentile!
            #expect(try Calibration.calibrate(batches: batches, settings: alone) == c)
        }
        #expect(throws: EPError.self) { try ThresholdEstimator(center: try center.center(), settings: settings, additionalPercentiles: [100]) }
    }

    @Test func nearestRankAndSmallBatches() throws {
        let x = clusteredData(rows: 201, clusters: 5, width: 16)
        // The last batch has one row: it is used for the center but has no pairs, so it is skipped for θ.
        let batches = [x.rows(0..<100), x.rows(100..<200), x.rows(200..<201)]
        let linear = try Calibration.calibrate(batches: batches, settings: CalibrationSettings(percentile: 10, calibrationTokens: 1000, batchSize: 100))
        let nearest = try Calibration.calibrate(
            batches: batches, settings: CalibrationSettings(percentile: 10, calibrationTokens: 1000, batchSize: 100, method: .nearestRank))
        #expect(linear.activationCount == 201 && linear.batchThresholds.count == 2)
        #expect(abs(linear.threshold - nearest.threshold) < 0.01 && linear.threshold != nearest.threshold)
        #expect(nearest.method == .nearestRank)
    }

    @Test func rejectsBadSettingsAndData() throws {
        let x = clusteredData(rows: 10, clusters: 2, width: 8)
        for p in [0.0, 100, -1, 150, .nan] {
            #expect(throws: EPError.self) { try Calibration.calibrate(batches: [x], settings: CalibrationSettings(percentile: p)) }
        }
        #expect(throws: EPError.noActivations) { try Calibration.calibrate(batches: [Matrix](), settings: CalibrationSettings(percentile: 10)) }
        let singles = (0..<3).map { x.rows($0..<($0 + 1)) }
        #expect(throws: EPError.calibrationBatchesTooSmall(largest: 1)) {
            try Calibration.calibrate(batches: singles, settings: CalibrationSettings(percentile: 10))
        }
        var bad = x.rows(0..<5)
        bad[3, 2] = .infinity
        #expect(throws: EPError.nonFiniteValue(row: 13)) {
            try Calibration.calibrate(batches: [x, bad], settings: CalibrationSettings(percentile: 10))
        }
        #expect(throws: EPError.widthMismatch(expected: 8, found: 4)) {
            try Calibration.calibrate(batches: [x, Matrix(rows: 2, columns: 4)], settings: CalibrationSettings(percentile: 10))
        }
        #expect(throws: EPError.invalidThreshold(0)) { try Calibration.given(center: [1, 2], threshold: 0) }
    }

    @Test func thetaMustBeBetweenZeroAndTwo() throws {
        for theta in [0, -0.1, 2, 3, .infinity, .nan] {
            #expect(!Calibration.isValidThreshold(theta), "\(theta)")
            #expect(throws: EPError.self) { try Calibration.given(center: [1, 2], threshold: theta) }
            #expect(throws: EPError.self) { try ExemplarDictionary(center: [1, 2], threshold: theta) }
        }
        for theta in [1e-9, 0.5, 1.999] { #expect(Calibration.isValidThreshold(theta)) }
        #expect(EPError.invalidThreshold(3).description.contains("in (0, 2)"))
    }

    @Test func rowsWithoutADirectionAreRefused() throws {
        // All-zero rows: the center is 0 and no row has a direction (the reference would report θ = 1).
        let zeros = Matrix(rows: 10, columns: 8)
        #expect(throws: EPError.noDirection(row: 0, norm: 0)) {
            try Calibration.calibrate(batches: [zeros], settings: CalibrationSettings(percentile: 10))
        }
        // Denormal rows: their squares vanish in Float, so their directions would be garbage.
        let tiny = Matrix(rows: 10, columns: 8, storage: [Float](repeating: .leastNonzeroMagnitude, count: 80))
        #expect {
            try Calibration.calibrate(batches: [tiny], settings: CalibrationSettings(percentile: 10))
        } throws: { error in
            guard case EPError.noDirection(let row, let norm) = error else { return false }
            return row == 0 && norm < Calibration.directionFloor
        }
        // One row equal to the center, in the second batch: counted from the start of the stream.
        let x = clusteredData(rows: 10, clusters: 2, width: 8)
        let center = [Float](repeating: 0.25, count: 8)
        var threshold = try ThresholdEstimator(center: center, settings: CalibrationSettings(percentile: 10))
        try threshold.add(x)
        var second = x.rows(0..<5)
        for j in 0..<8 { second[3, j] = center[j] }
        #expect(throws: EPError.noDirection(row: 13, norm: 0)) { try threshold.add(second) }
        #expect(EPError.noDirection(row: 13, norm: 0).description.contains("row 13 has no direction"))
    }
}

@Suite struct MetricsTests {
    /// Four regions in 2-D with hand-chosen counts, distance sums and exemplars.
    static func table() throws -> RegionTable {
        var t = RegionTable(width: 2)
        t.count = 4
        t.exemplarDirections = [1, 0, 0, 1, -1, 0, 0.6, 0.8]
        t.meanMemberDirections = t.exemplarDirections
        t.memberCounts = [5, 3, 1, 2]
        t.memberCoherences = [1, 1, 1, 1]
        t.sumDistances = [1.0, 0.6, 0, 0.2]
        t.sumSquaredDistances = [0.3, 0.2, 0, 0.03]
        t.exemplarRows = [0, 1, 2, 3]
        t.firstBatches = [0, 0, 0, 0]
        t.lastBatches = [0, 0, 0, 0]
        t.batchCounts = [1, 1, 1, 1]
        for _ in 0..<4 {
            try t.closest.appendRegion(members: [])
            try t.farthest.appendRegion(members: [])
        }
        try t.validate()
        return t
    }

    @Test func valuesMatchHandComputation() throws {
        let m = try Self.table().intrinsicMetrics(threshold: 0.1, minMembers: 2)
        let p = [0.5, 0.3, 0.2]
        let entropy = -p.reduce(0) { $0 + $1 * log($1 + 1e-12) }
        let expected: [(String, Double)] = [
            ("n_partitions", 4), ("n_partitions_nontrivial", 3), ("total_members", 11), ("threshold", 0.1),
            ("coverage", 10.0 / 11), ("mean_members", 10.0 / 3), ("median_members", 3), ("max_members", 5),
            ("std_members", (14.0 / 9).squareRoot()), ("gini", 0.2), ("effective_partitions", exp(entropy)),
            ("partition_utilisation", exp(entropy) / 3), ("mean_intra_dist", 0.5 / 3), ("median_intra_dist", 0.2),
            ("mean_nearest_inter_dist", 0.8 / 3), ("median_nearest_inter_dist", 0.2), ("separation_ratio", 8.0 / 3),
            ("silhouette", 1.0 / 3), ("max_exemplar_similarity", 0.8), ("mean_exemplar_similarity", 1.4 / 3),
        ]
        #expect(m.entries.map(\.name) == expected.map(\.0))
        for (name, value) in expected {
            #expect(abs(m[name]! - value) < 1e-6, "\(name): \(m[name]!) vs \(value)")
        }
        let distributions = try Self.table().distanceDistributions(minMembers: 2)
        #expect(distributions.intra.count == 3 && distributions.inter.count == 3 && distributions.nearestInter.count == 3)
        #expect(zip(distributions.inter, [1.0, 0.4, 0.2]).allSatisfy { abs(Double($0) - $1) < 1e-6 })
    }

    @Test func degenerateCasesFollowTheReference() throws {
        #expect(RegionTable(width: 3).intrinsicMetrics(threshold: 0.5).entries.map(\.name) == ["n_partitions"])
        let table = try Self.table()
        let none = table.intrinsicMetrics(threshold: 0.1, minMembers: 100)
        #expect(none.entries.map(\.name) == ["n_partitions", "n_partitions_nontrivial", "total_members", "threshold"])
        let one = table.intrinsicMetrics(threshold: 0.1, minMembers: 4)
        #expect(one["mean_nearest_inter_dist"]!.isNaN && one["silhouette"]!.isNaN && one["max_exemplar_similarity"]!.isNaN)
        #expect(one["median_nearest_inter_dist"] == nil && one["coverage"] == 5.0 / 11)
        #expect(table.distanceDistributions(minMembers: 4) == DistanceDistributions(intra: [], inter: [], nearestInter: []))
    }
}
