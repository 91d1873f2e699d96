import EPCore
import EPTensors
import Foundation
import Testing

@Suite struct ReadoutTests {
    /// A small dictionary over clustered data with a nonzero center.
    func dictionary() throws -> ExemplarDictionary {
        let x = clusteredData(rows: 600, clusters: 12, width: 24)
        let center = (0..<24).map { Float($0 % 5) * 0.3 }
        return try build(x, threshold: 0.3, batchSize: 200, center: center)
    }

    @Test func readoutsFollowTheAdapterFormulas() throws {
        let d = try dictionary()
        let x = clusteredData(rows: 40, seed: 99, clusters: 12, width: 24)
        let k = d.regionCount
        for basis in DirectionBasis.allCases {
            let b = basis == .exemplar ? d.regions.exemplarDirections : d.regions.meanMemberDirections
            let signed = try RegionReadout(d, basis: basis, readout: .signed).encode(x)
            let cosine = try RegionReadout(d, basis: basis, readout: .cosine).encode(x)
            #expect(try RegionReadout(d, basis: basis, readout: .signedNorm).encode(x) == cosine)
            let top2 = try RegionReadout(d, basis: basis, readout: .topk, k: 2).encode(x)
            let top2n = try RegionReadout(d, basis: basis, readout: .topkNorm, k: 2).encode(x)
            let binary = try RegionReadout(d, basis: basis, readout: .binary).encode(x)
            for r in 0..<x.rows {
                let xc = (0..<24).map { Double(x.storage[r * 24 + $0]) - Double(d.center[$0]) }
                let norm = max(xc.reduce(0) { $0 + $1 * $1 }.squareRoot(), 1e-12)
                var p = [Double](repeating: 0, count: k)
                for j in 0..<k { p[j] = (0..<24).reduce(0.0) { $0 + xc[$1] * Double(b[j * 24 + $1]) } }
                for j in 0..<k {
                    #expect(abs(Double(signed.dense!.storage[r * k + j]) - p[j]) <= 1e-4 * max(1, abs(p[j])))
                    #expect(abs(Double(cosine.dense!.storage[r * k + j]) - p[j] / norm) <= 1e-5)
                }
                let order = (0..<k).sorted { p[$0] > p[$1] }
                #expect(top2.indices[(2 * r)..<(2 * r + 2)].map(Int.init) == Array(order.prefix(2)))
                #expect(top2n.indices[(2 * r)..<(2 * r + 2)].map(Int.init) == Array(order.prefix(2)))
                #expect(abs(Double(top2.values[2 * r]) - max(p[order[0]], 0)) <= 1e-4 * max(1, abs(p[order[0]])))
                #expect(abs(Double(top2n.values[2 * r + 1]) - max(p[order[1]] / norm, 0)) <= 1e-5)
                #expect(binary.indices[r] == Int32(order[0]) && binary.values[r] == 1)
            }
        }
    }

    /// Top-1 with the exemplar basis decodes c + s·e_j back to itself (spec §10).
    @Test func exemplarIsAFixedPointOfTopOneEncodeDecode() throws {
        let d = try dictionary()
        let readout = try RegionReadout(d, basis: .exemplar, readout: .topk, k: 1)
        var x = Matrix(rows: d.regionCount, columns: 24)
        for j in 0..<d.regionCount {
            let s = Float(1 + j % 7)
            for c in 0..<24 { x.storage[j * 24 + c] = d.center[c] + s * d.regions.exemplarDirections[j * 24 + c] }
        }
        let codes = try readout.encode(x)
        #expect(codes.indices == (0..<d.regionCount).map(Int32.init))
        let back = try readout.decode(codes)
        #expect(zip(back.storage, x.storage).allSatisfy { abs($0 - $1) <= 1e-4 })
        // Dense codes decode the same way: f·W_dec + c.
        let dense = try RegionReadout(d, basis: .exemplar, readout: .signed)
        let roundTrip = try dense.decode(ReadoutCodes(dense: Matrix(rows: 1, columns: d.regionCount, storage: [Float](repeating: 0, count: d.regionCount))))
        #expect(roundTrip.storage == d.center)
    }

    @Test func rejectsBadSettings() throws {
        let d = try dictionary()
        #expect(throws: EPError.self) { try RegionReadout(d, basis: .mean, readout: .topk, k: 0) }
        #expect(throws: EPError.self) { try RegionReadout(d, basis: .mean, readout: .binary, k: 2) }
        #expect(throws: EPError.self) { try RegionReadout(d, basis: .mean, readout: .signed).encode(Matrix(rows: 1, columns: 3)) }
        let empty = try ExemplarDictionary(center: [0, 0], threshold: 0.5)
        #expect(throws: EPError.self) { try RegionReadout(empty, basis: .exemplar, readout: .topk) }
    }
}

@Suite struct LinearAssignmentTests {
    /// The best total by trying every injection of the smaller side into the larger.
    func bruteForce(_ s: [Float], rows: Int, columns: Int) -> Double {
        var best = -Double.infinity
        func extend(_ row: Int, _ used: inout [Bool], _ total: Double, _ count: Int) {
            let need = min(rows, columns)
            if count == need { best = max(best, total); return }
            if row == rows { return }
            if rows - row > need - count { extend(row + 1, &used, total, count) }
            for c in 0..<columns where !used[c] {
                used[c] = true
                extend(row + 1, &used, total + Double(s[row * columns + c]), count + 1)
                used[c] = false
            }
        }
        var used = [Bool](repeating: false, count: columns)
        extend(0, &used, 0, 0)
        return best
    }

    func total(_ s: [Float], _ assignment: [Int], columns: Int) -> Double {
        assignment.enumerated().filter { $0.element >= 0 }.reduce(0) { $0 + Double(s[$1.offset * columns + $1.element]) }
    }

    func isInjective(_ assignment: [Int], rows: Int, columns: Int) -> Bool {
        let used = assignment.filter { $0 >= 0 }
        return Set(used).count == used.count && used.count == min(rows, columns) && used.allSatisfy { $0 < columns }
    }

    @Test func matchesBruteForceOnSmallMatricesWithTies() {
        var g = SeededGenerator(seed: 21)
        for trial in 0..<60 {
            let rows = 1 + g.uniform(below: 7), columns = 1 + g.uniform(below: 7)
            let scores = (0..<(rows * columns)).map { _ in trial % 2 == 0 ? Float(g.uniform(below: 4)) : Float(g.uniform(below: 1000)) / 100 - 5 }
            let a = LinearAssignment.maximize(scores, rows: rows, columns: columns)
            #expect(isInjective(a, rows: rows, columns: columns))
            #expect(abs(total(scores, a, columns: columns) - bruteForce(scores, rows: rows, columns: columns)) < 1e-6)
        }
    }

    /// Totals from SciPy's `linear_sum_assignment(maximize=True)` on the same generated matrices (an LCG both
    /// sides compute: x ← 6364136223846793005·x + 1442695040888963407 mod 2⁶⁴, score = (x >> 33) mod 100000).
    @Test(arguments: [(120, 150, 1, 11_882_133.0), (150, 120, 2, 11_904_623), (200, 200, 3, 19_824_441), (300, 310, 4, 29_834_383)])
    func matchesSciPyTotals(rows: Int, columns: Int, seed: UInt64, expected: Double) {
        var x = seed
        let scores = (0..<(rows * columns)).map { _ -> Float in
            x = 6_364_136_223_846_793_005 &* x &+ 1_442_695_040_888_963_407
            return Float((x >> 33) % 100_000)
        }
        let a = LinearAssignment.maximize(scores, rows: rows, columns: columns)
        #expect(isInjective(a, rows: rows, columns: columns))
        #expect(total(scores, a, columns: columns) == expected)
    }
}

@Suite struct DictionaryMatchingTests {
    @Test func selfMatchIsTheIdentityAtDistanceZero() throws {
        let d = try build(clusteredData(rows: 800, clusters: 30, noise: 0.6), threshold: 0.25, batchSize: 256)
        let m = try DictionaryMatching(d, d)
        #expect(m.pairs.count == d.regionCount && m.unmatchedA.isEmpty && m.unmatchedB.isEmpty)
        #expect(m.pairs.allSatisfy { $0.a == $0.b && $0.distance == 0 })
        #expect(m.shareWithinThresholdA == 1)
    }

    @Test func matchesAcrossOrdersAndReportsTheLeftovers() throws {
        let x = clusteredData(rows: 800, clusters: 30, noise: 0.6)
        let a = try build(x, threshold: 0.25, batchSize: 256)
        let reversed = Matrix(rowArrays: (0..<x.rows).reversed().map { x.row($0) })
        let b = try build(reversed, threshold: 0.25, batchSize: 256)
        let m = try DictionaryMatching(a, b, basis: .mean)
        #expect(m.pairs.count == min(a.regionCount, b.regionCount))
        #expect(m.unmatchedA.count + m.pairs.count == a.regionCount && m.unmatchedB.count + m.pairs.count == b.regionCount)
        #expect(zip(m.pairs, m.pairs.dropFirst()).allSatisfy { $0.cosine >= $1.cosine })
        #expect(m.shareWithinThresholdA > 0.5)
        #expect(throws: EPError.widthMismatch(expected: 32, found: 24)) {
            try DictionaryMatching(a, try build(clusteredData(rows: 50, width: 24), threshold: 0.3, batchSize: 50))
        }
    }
}
