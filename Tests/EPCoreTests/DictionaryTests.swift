import EPCore
import EPTensors
import Foundation
import Testing

/// Clustered data: 6 clusters in 32 dimensions, offset from the origin.
func clusteredData(rows: Int, seed: UInt64 = 11, clusters: Int = 6, width: Int = 32, noise: Float = 0.4) -> Matrix {
    var data = SyntheticClusters(width: width, clusters: clusters, noise: noise, offset: 2, seed: seed)
    return data.batch(rows: rows)
}

func build(_ x: Matrix, threshold: Double, batchSize: Int, seed: UInt64? = nil, center: [Float]? = nil) throws -> ExemplarDictionary {
    let dictionary = try ExemplarDictionary(center: center ?? [Float](repeating: 0, count: x.columns), threshold: threshold, reservoirSeed: seed)
    for start in stride(from: 0, to: x.rows, by: batchSize) {
        try dictionary.addBatch(x.rows(start..<min(x.rows, start + batchSize)))
    }
    return dictionary
}

/// `dir(x)` in Double, for checks.
func direction(_ x: [Float], _ c: [Float]) -> [Double] {
    let d = zip(x, c).map { Double($0) - Double($1) }
    let n = d.reduce(0) { $0 + $1 * $1 }.squareRoot()
    return d.map { $0 / n }
}

@Suite struct LeaderClusteringTests {
    @Test func exemplarSetDoesNotDependOnBatching() throws {
        let x = clusteredData(rows: 900, clusters: 40, noise: 0.6)
        let reference = try build(x, threshold: 0.3, batchSize: 900).regions.exemplarRows
        #expect(reference.count > 40)
        for size in [1, 7, 64, 128, 333] {
            let regions = try build(x, threshold: 0.3, batchSize: size).regions
            #expect(regions.exemplarRows == reference, "batch size \(size)")
            #expect(regions.memberCounts.reduce(0, +) == 900)
        }
    }

    @Test func regionsSatisfyTheInvariants() throws {
        let x = clusteredData(rows: 1500, clusters: 30, noise: 0.7)
        let dictionary = try build(x, threshold: 0.25, batchSize: 200)
        let r = dictionary.regions
        let d = r.width
        #expect(r.memberCounts.reduce(0, +) == 1500)
        for k in 0..<r.count {
            let e = Array(r.exemplar(k)), m = Array(r.meanMemberDirection(k))
            #expect(abs(e.reduce(0) { $0 + $1 * $1 } - 1) < 1e-5)
            #expect(abs(m.reduce(0) { $0 + $1 * $1 } - 1) < 1e-5)
            #expect(r.memberCoherences[k] >= 0 && r.memberCoherences[k] <= 1 + 1e-6)
            #expect(r.sumDistances[k] >= 0 && r.sumSquaredDistances[k] >= 0)
            #expect(r.firstBatches[k] <= r.lastBatches[k] && r.batchCounts[k] >= 1)
        }
        // Every pair of exemplars is farther apart than θ (in the Float comparison the clustering uses).
        for i in 0..<r.count {
            for j in (i + 1)..<r.count {
                var dot: Float = 0
                for t in 0..<d { dot += r.exemplarDirections[i * d + t] * r.exemplarDirections[j * d + t] }
                #expect(min(max(1 - dot, 0), 2) > dictionary.thresholdFloat)
            }
        }
        // Region 0's exemplar is dir(x₀).
        let expected = direction(x.row(0), [Float](repeating: 0, count: d))
        #expect(zip(r.exemplar(0), expected).allSatisfy { abs(Double($0) - $1) < 1e-6 })
    }

    @Test func meanAndCoherenceAreTheNormalisedSumOfMemberDirections() throws {
        let x = clusteredData(rows: 30, clusters: 1, noise: 0.3)
        let dictionary = try ExemplarDictionary(center: [Float](repeating: 0, count: 32), threshold: 1.5)
        for range in [0..<7, 7..<19, 19..<30] { try dictionary.addBatch(x.rows(range)) }
        let r = dictionary.regions
        #expect(r.count == 1 && r.memberCounts == [30])
        var sum = [Double](repeating: 0, count: 32)
        for i in 0..<30 { for (t, v) in direction(x.row(i), [Float](repeating: 0, count: 32)).enumerated() { sum[t] += v } }
        let mean = sum.map { $0 / 30 }
        let coherence = mean.reduce(0) { $0 + $1 * $1 }.squareRoot()
        #expect(abs(r.memberCoherences[0] - coherence) < 1e-5)
        #expect(zip(r.meanMemberDirections, mean.map { $0 / coherence }).allSatisfy { abs(Double($0) - $1) < 1e-5 })
        #expect(r.batchCounts == [3] && r.firstBatches == [0] && r.lastBatches == [2])
    }

    /// Hand-built geometry on the axes, where every similarity is exact: inclusive thresholds, in-batch leaders,
    /// matched rows not joining closer new leaders, first-index ties.
    @Test func leaderSemanticsFollowTheReference() throws {
        func row(_ values: [Float]) -> [Float] { values + [Float](repeating: 0, count: 4 - values.count) }
        let e1 = row([1]), e2 = row([0, 1]), e3 = row([0, 0, 1])
        // θ = 1: e2 is at distance exactly 1 from e1, so it joins (inclusive).
        let inclusive = try ExemplarDictionary(center: [0, 0, 0, 0], threshold: 1)
        let a = try inclusive.addBatch(Matrix(rowArrays: [e1, e2]))
        #expect(a.regions == [0, 0] && a.distances == [0, 1] && inclusive.regionCount == 1)
        // θ just below 1: e2 founds its own region; e3 ties between e1 and e2 (both at distance 1 > θ) and founds a
        // third; the second e2 joins the in-batch leader e2 at distance 0.
        let strict = try ExemplarDictionary(center: [0, 0, 0, 0], threshold: 0.999)
        let b = try strict.addBatch(Matrix(rowArrays: [e1, e2, e3, e2]))
        #expect(b.regions == [0, 1, 2, 1] && b.newRegions == 3)
        // Old exemplars first: in the next batch e4 founds region 3; (0.1, 0, 0, 1) is within θ of the old e1
        // (distance 0.90) and joins region 0 although the new leader e4 is much closer (0.005); (0, 0, 0, 2) is
        // within θ of no old exemplar and follows the leader e4.
        let c = try strict.addBatch(Matrix(rowArrays: [row([0, 0, 0, 1]), row([0.1, 0, 0, 1]), row([0, 0, 0, 2])]))
        #expect(c.regions == [3, 0, 3] && c.newRegions == 1 && c.distances[2] == 0)
        // Ties between equally near leaders go to the first one: (e1 + e2) is equally near both.
        let tie = try ExemplarDictionary(center: [0, 0, 0, 0], threshold: 0.5)
        let t = try tie.addBatch(Matrix(rowArrays: [e1, e2, row([1, 1])]))
        #expect(t.regions == [0, 1, 0])
        #expect(tie.batchHistory.map(\.newRegions) == [2])
    }

    @Test func assignIsTheArgMinOfDistances() throws {
        let x = clusteredData(rows: 600, clusters: 12)
        let dictionary = try build(x, threshold: 0.2, batchSize: 100)
        let probe = clusteredData(rows: 50, seed: 99, clusters: 12)
        let assignment = try dictionary.assign(probe)
        let distances = try dictionary.distances(probe)
        #expect(distances.rows == 50 && distances.columns == dictionary.regionCount)
        for i in 0..<50 {
            let row = distances.row(i)
            let best = row.indices.min { row[$0] < row[$1] }!
            #expect(assignment.regions[i] == Int64(best))
            #expect(assignment.distances[i] == row[best])
        }
        let empty = try ExemplarDictionary(center: [Float](repeating: 0, count: 32), threshold: 0.2)
        let none = try empty.assign(probe)
        #expect(none.regions == [Int64](repeating: -1, count: 50) && none.distances.allSatisfy { $0 == .infinity })
        #expect(try empty.distances(probe).columns == 0)
    }

    @Test func sameSeedSameDictionaryIncludingReservoir() throws {
        let x = clusteredData(rows: 2000, clusters: 3, noise: 0.5)
        let a = try build(x, threshold: 0.6, batchSize: 256, seed: 42).regions
        let b = try build(x, threshold: 0.6, batchSize: 256, seed: 42).regions
        let c = try build(x, threshold: 0.6, batchSize: 256, seed: 43).regions
        #expect(a == b)
        #expect(a.reservoir != nil && a.reservoir != c.reservoir)
        let reservoir = try #require(a.reservoir)
        for k in 0..<a.count {
            #expect(reservoir.directions[k].count == min(30, Int(a.memberCounts[k])) * 32)
        }
    }

    @Test func reservoirIsUniformOverMembers() throws {
        // One region of 300 members fed in batches of 50; member i is (1, i/1000), so a kept direction tells its
        // row. Each member should be kept with probability 30/300: count how often the first and the last 100 are
        // kept over many seeds.
        let x = Matrix(rowArrays: (0..<300).map { [1, Float($0) / 1000] })
        var early = 0, late = 0
        for seed in 0..<200 {
            let r = try build(x, threshold: 1.9, batchSize: 50, seed: UInt64(seed)).regions
            let kept = r.reservoir!.directions[0]
            #expect(kept.count == 60)
            for s in 0..<30 {
                let index = Int((1000 * kept[2 * s + 1] / kept[2 * s]).rounded())
                if index < 100 { early += 1 } else if index >= 200 { late += 1 }
            }
        }
        // Expected 2000 each (200 seeds × 30 × 1/3); a binomial standard deviation is about 40.
        #expect(abs(early - 2000) < 250 && abs(late - 2000) < 250)
    }

    @Test func closestAndFarthestMembersKeepTheExtremesWithOlderEntriesOnTies() throws {
        // One region founded by e1; members at chosen angles give exact known distances; some distances repeat.
        let angles: [Double] = [0, 0.5, 0.9, 0.1, 0.5, 1.2, 0.3, 0.05, 0.7, 0.05, 1.0, 0.2, 1.2, 0.4, 0.6, 0.05, 0.8, 1.1, 0.15, 0.5]
        let rows = angles.map { [Float(cos($0)), Float(sin($0))] }
        let dictionary = try ExemplarDictionary(center: [0, 0], threshold: 1.9)
        var distances: [Float] = []
        for (i, r) in rows.enumerated() {
            let out = try dictionary.addBatch(Matrix(rowArrays: [r]), references: [RowReference(source: Int64(100 + i), position: Int32(i))])
            distances.append(out.distances[0])
        }
        // Reference semantics, simulated on plain arrays: keep 10; a newcomer replaces the worst kept entry only if
        // strictly better; among entries tied for worst, the one with the smallest (source, position) leaves.
        func simulate(closest: Bool) -> Set<Int> {
            var kept: [Int] = []
            for i in distances.indices {
                if kept.count < 10 { kept.append(i); continue }
                let worst = kept.min { a, b in
                    if distances[a] != distances[b] { return closest ? distances[a] > distances[b] : distances[a] < distances[b] }
                    return a < b
                }!
                if closest ? distances[i] < distances[worst] : distances[i] > distances[worst] { kept[kept.firstIndex(of: worst)!] = i }
            }
            return Set(kept)
        }
        let closest = dictionary.regions.closest.members(of: 0)
        let farthest = dictionary.regions.farthest.members(of: 0)
        #expect(Set(closest.map { Int($0.reference.source) - 100 }) == simulate(closest: true))
        #expect(Set(farthest.map { Int($0.reference.source) - 100 }) == simulate(closest: false))
        #expect(closest.allSatisfy { Int($0.reference.position) == Int($0.reference.source) - 100 })
        #expect(closest.map(\.distance) == closest.map(\.distance).sorted())
        #expect(farthest.map(\.distance) == farthest.map(\.distance).sorted(by: >))
        #expect(closest.first?.reference == RowReference(source: 100, position: 0) && closest.first?.distance == 0)
    }

    @Test func finalizeDropsSmallRegions() throws {
        let x = clusteredData(rows: 800, clusters: 20, noise: 0.8)
        let dictionary = try build(x, threshold: 0.3, batchSize: 100, seed: 1)
        let before = dictionary.regionCount
        dictionary.finalize(minMembers: 10)
        #expect(dictionary.regionCount <= before)
        #expect(dictionary.regions.memberCounts.allSatisfy { $0 >= 10 })
        try dictionary.regions.validate()
        dictionary.finalize(minMembers: 1_000_000)
        #expect(dictionary.regionCount == 0)
        try dictionary.regions.validate()
    }

    @Test func newRegionRateAndSaturation() throws {
        let x = clusteredData(rows: 400, clusters: 2, noise: 0.1)
        let dictionary = try ExemplarDictionary(center: [Float](repeating: 0, count: 32), threshold: 0.5)
        try dictionary.addBatch(x.rows(0..<200))
        #expect(!dictionary.isSaturated())
        #expect(dictionary.newRegionRate == Double(dictionary.regionCount) / 200)
        try dictionary.addBatch(x.rows(200..<400))
        #expect(dictionary.newRegionRate == 0 && dictionary.isSaturated(window: 1) && !dictionary.isSaturated(window: 2))
        try dictionary.addBatch(Matrix(rows: 0, columns: 32))
        #expect(dictionary.batchHistory.count == 2 && dictionary.rowsSeen == 400)
    }

    @Test func rejectsBadInput() throws {
        #expect(throws: EPError.invalidThreshold(0)) { try ExemplarDictionary(center: [0, 0], threshold: 0) }
        #expect(throws: EPError.invalidThreshold(-1)) { try ExemplarDictionary(center: [0, 0], threshold: -1) }
        #expect(throws: EPError.self) { try ExemplarDictionary(center: [0, 0], threshold: .nan) }
        #expect(throws: EPError.self) { try ExemplarDictionary(center: [], threshold: 0.5) }
        let dictionary = try ExemplarDictionary(center: [0, 0], threshold: 0.5)
        #expect(throws: EPError.widthMismatch(expected: 2, found: 3)) { try dictionary.addBatch(Matrix(rows: 1, columns: 3)) }
        #expect(throws: EPError.nonFiniteValue(row: 1)) { try dictionary.addBatch(Matrix(rowArrays: [[1, 0], [.nan, 1]])) }
        #expect(throws: EPError.nonFiniteValue(row: 0)) { try dictionary.assign(Matrix(rowArrays: [[.infinity, 0]])) }
        #expect(dictionary.regionCount == 0 && dictionary.rowsSeen == 0)
        // A refused batch leaves a non-empty dictionary exactly as it was.
        try dictionary.addBatch(Matrix(rowArrays: [[1, 0], [0, 1]]))
        let regions = dictionary.regions
        #expect(throws: EPError.nonFiniteValue(row: 2)) { try dictionary.addBatch(Matrix(rowArrays: [[1, 0.1], [0.1, 1], [1, .nan]])) }
        #expect(dictionary.regions == regions && dictionary.rowsSeen == 2 && dictionary.batchHistory.count == 1)
        // A row at the center (or denormally close to it) has no direction: refused, not a zero exemplar.
        #expect(throws: EPError.noDirection(row: 1, norm: 0)) { try dictionary.addBatch(Matrix(rowArrays: [[1, 0.2], [0, 0]])) }
        #expect(throws: EPError.noDirection(row: 0, norm: 0)) { try dictionary.assign(Matrix(rowArrays: [[0, 0]])) }
        #expect(throws: EPError.self) { try dictionary.distances(Matrix(rowArrays: [[1e-42, 0]])) }
        #expect(dictionary.regions == regions && dictionary.rowsSeen == 2)
        let fresh = try ExemplarDictionary(center: [0.5, 0.5], threshold: 0.5)
        #expect(throws: EPError.noDirection(row: 0, norm: 0)) { try fresh.addBatch(Matrix(rowArrays: [[0.5, 0.5], [1, 0]])) }
        #expect(fresh.regionCount == 0)
    }
}
