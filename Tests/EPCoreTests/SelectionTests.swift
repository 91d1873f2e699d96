import EPCore
import EPTensors
import Testing

@Suite struct SelectionTests {
    /// Inputs that break naive quickselects: sorted, reversed, all equal, two values, organ pipe, sawtooth.
    static func patterns(_ n: Int) -> [(String, [Float])] {
        var generator = SeededGenerator(seed: 3)
        return [
            ("random", (0..<n).map { _ in generator.unitFloat() }),
            ("sorted", (0..<n).map(Float.init)),
            ("reversed", (0..<n).map { Float(n - $0) }),
            ("equal", [Float](repeating: 0.5, count: n)),
            ("two values", (0..<n).map { Float($0 % 2) }),
            ("organ pipe", (0..<n).map { Float(min($0, n - $0)) }),
            ("sawtooth", (0..<n).map { Float($0 % 17) }),
        ]
    }

    @Test func selectsEveryRankOfSmallInputs() {
        for n in [1, 2, 3, 31, 32, 33, 100] {
            for (name, values) in Self.patterns(n) {
                let sorted = values.sorted()
                for k in 0..<n {
                    var a = values
                    let v = a.withUnsafeMutableBufferPointer { Selection.select($0.baseAddress!, count: n, k: k) }
                    #expect(v == sorted[k], "\(name) n=\(n) k=\(k)")
                    #expect(a[..<k].allSatisfy { $0 <= v } && a[(k + 1)...].allSatisfy { $0 >= v }, "\(name) partition")
                }
            }
        }
    }

    @Test func selectsInLargeAdversarialInputs() {
        let n = 300_000
        for (name, values) in Self.patterns(n) {
            let sorted = values.sorted()
            for k in [0, 7, n / 100, n / 10, n / 2, n - 1] {
                var a = values
                let v = a.withUnsafeMutableBufferPointer { Selection.select($0.baseAddress!, count: n, k: k) }
                #expect(v == sorted[k], "\(name) k=\(k)")
            }
        }
    }

    /// Above 2^20 values the one-pass band method runs; these patterns have closed-form order statistics.
    @Test func orderStatisticsOfLargeInputs() {
        let n = (1 << 20) + 5
        var generator = SeededGenerator(seed: 4)
        var shuffled = (0..<n).map(Float.init)
        for i in stride(from: n - 1, to: 0, by: -1) { shuffled.swapAt(i, Int(generator.uniform(below: UInt64(i + 1)))) }
        let zeros = (n + 1) / 2
        let patterns: [(String, [Float], (Int) -> Float)] = [
            ("shuffled", shuffled, { Float($0) }),
            ("reversed", (0..<n).map { Float(n - 1 - $0) }, { Float($0) }),
            ("equal", [Float](repeating: 7, count: n), { _ in 7 }),
            ("two values", (0..<n).map { Float($0 % 2) }, { $0 < zeros ? 0 : 1 }),
        ]
        for (name, values, expected) in patterns {
            for k in [n / 100, n / 2, n - 1] {
                var a = values
                let (first, second) = a.withUnsafeMutableBufferPointer { Selection.orderStatistics($0.baseAddress!, count: n, k: k) }
                #expect(first == expected(k), "\(name) k=\(k)")
                #expect(second == (k + 1 < n ? expected(k + 1) : nil), "\(name) k+1=\(k + 1)")
            }
        }
    }

    @Test func percentileMatchesNumPyFormulas() {
        var generator = SeededGenerator(seed: 9)
        let values = (0..<1001).map { _ in generator.unitFloat() }
        let sorted = values.sorted().map(Double.init)
        for p in [0.5, 1, 2.5, 10, 50, 99.9] {
            // NumPy linear: h = (M − 1)·p/100, lerp between floor(h) and floor(h) + 1.
            let h = Double(values.count - 1) * (p / 100)
            let lo = Int(h.rounded(.down))
            let t = h - Double(lo)
            let expected = t >= 0.5 ? sorted[lo + 1] - (sorted[lo + 1] - sorted[lo]) * (1 - t) : sorted[lo] + (sorted[lo + 1] - sorted[lo]) * t
            var a = values
            let linear = a.withUnsafeMutableBufferPointer { Percentile.of($0.baseAddress!, count: $0.count, percentile: p, method: .linear) }
            #expect(linear == expected)
            let rank = min(max(Int((p / 100 * Double(values.count - 1)).rounded(.toNearestOrEven)) + 1, 1), values.count)
            var b = values
            let nearest = b.withUnsafeMutableBufferPointer { Percentile.of($0.baseAddress!, count: $0.count, percentile: p, method: .nearestRank) }
            #expect(nearest == sorted[rank - 1])
        }
    }

    @Test func kernelsFindFirstIndexOnTies() {
        // Similarities 1.5 and 1.2 both clamp to distance 0: the first wins, as with np.clip(...).argmin().
        var s = [Float](repeating: 0, count: 40)
        s[17] = 1.2
        s[5] = 1.5
        s[33] = 1.2
        #expect(Kernels.nearestClampedDistance(s, count: s.count) == (5, 0))
        var t = [Float](repeating: -3, count: 41)
        t[40] = 0.25
        t[39] = 0.25
        #expect(Kernels.nearestClampedDistance(t, count: t.count) == (39, 0.75))
        #expect(Kernels.firstArgMax(t, count: t.count) == (39, 0.25))
        #expect(Kernels.firstArgMax(s, count: s.count) == (5, 1.5))
        #expect(Kernels.minimum([3, 1, 2, 1], count: 4) == 1)
    }
}
