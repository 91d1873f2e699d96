import EPTensors
import Testing
@testable import EPReport

/// Random rows in `[-1, 1)` from a seeded generator.
func randomRows(_ n: Int, _ d: Int, seed: UInt64) -> [Float] {
    var g = SeededGenerator(seed: seed)
    return (0..<(n * d)).map { _ in 2 * g.unitFloat() - 1 }
}

/// Each row of `values` (`n` × `d`) divided by its norm.
func unitRows(_ values: [Float], _ n: Int, _ d: Int) -> [Float] {
    var out = values
    for i in 0..<n {
        let norm = (0..<d).reduce(Float(0)) { $0 + values[i * d + $1] * values[i * d + $1] }.squareRoot()
        for j in 0..<d { out[i * d + j] /= norm }
    }
    return out
}

@Suite struct ReportGeometryTests {
    /// Rows spread along three known orthogonal axes with standard deviations 10, 5 and 2 (plus small noise):
    /// the components are those axes, in that order, and their variances those of the data.
    @Test func principalComponentsRecoverKnownAxes() {
        let n = 3000, d = 40
        var g = SeededGenerator(seed: 9)
        let axes = (0..<3).map { _ in (0..<d).map { _ in Double(2 * g.unitFloat() - 1) } }
        // Gram–Schmidt the axes.
        var basis: [[Double]] = []
        for a in axes {
            var v = a
            for b in basis {
                let dot = zip(v, b).reduce(0) { $0 + $1.0 * $1.1 }
                v = zip(v, b).map { $0 - dot * $1 }
            }
            let norm = v.reduce(0) { $0 + $1 * $1 }.squareRoot()
            basis.append(v.map { $0 / norm })
        }
        let spreads = [10.0, 5.0, 2.0]
        var rows = [Float](repeating: 0, count: n * d)
        var coefficients = [[Double]](repeating: [0, 0, 0], count: n)
        for i in 0..<n {
            for k in 0..<3 {
                // Uniform on [-√3, √3]·s has standard deviation s.
                coefficients[i][k] = (2 * Double(g.unitFloat()) - 1) * 3.0.squareRoot() * spreads[k]
            }
            for j in 0..<d {
                var v = 1.0 + 0.05 * Double(2 * g.unitFloat() - 1)
                for k in 0..<3 { v += coefficients[i][k] * basis[k][j] }
                rows[i * d + j] = Float(v)
            }
        }
        let pca = PrincipalComponents(rows, rows: n, width: d, count: 3)
        #expect(pca.components.count == 3)
        for k in 0..<3 {
            let cosine = zip(pca.components[k], basis[k]).reduce(0.0) { $0 + Double($1.0) * $1.1 }
            #expect(abs(cosine) > 0.9999, "component \(k): |cos| = \(abs(cosine))")
            let sampleVariance = coefficients.reduce(0.0) { $0 + $1[k] * $1[k] } / Double(n)
            #expect(abs(pca.variances[k] / sampleVariance - 1) < 0.01, "variance \(k): \(pca.variances[k]) vs \(sampleVariance)")
        }
        #expect(pca.explainedRatios[0] > pca.explainedRatios[1] && pca.explainedRatios[1] > pca.explainedRatios[2])
        #expect(pca.explainedRatios.reduce(0, +) > 0.99)
        // Signs are fixed: the largest-magnitude entry of each component is positive.
        for c in pca.components { #expect(c.max { abs($0) < abs($1) }! > 0) }
        // Projections are the centred rows' coordinates: they reproduce the known coefficients up to sign.
        let projected = pca.project(rows, rows: n)
        for k in 0..<3 {
            let sign = zip(pca.components[k], basis[k]).reduce(0.0) { $0 + Double($1.0) * $1.1 } > 0 ? 1.0 : -1.0
            let meanCoefficient = coefficients.reduce(0.0) { $0 + $1[k] } / Double(n)
            for i in stride(from: 0, to: n, by: 97) {
                #expect(abs(Double(projected[i * 3 + k]) - sign * (coefficients[i][k] - meanCoefficient)) < 0.15)
            }
        }
    }

    /// On a small random matrix the subspace iteration agrees with a full Jacobi eigendecomposition.
    @Test func principalComponentsMatchAFullEigendecomposition() {
        let n = 200, d = 12
        let rows = randomRows(n, d, seed: 4)
        let pca = PrincipalComponents(rows, rows: n, width: d, count: 3)
        var mean = [Double](repeating: 0, count: d)
        for i in 0..<n { for j in 0..<d { mean[j] += Double(rows[i * d + j]) / Double(n) } }
        var covariance = [Double](repeating: 0, count: d * d)
        for i in 0..<n {
            for a in 0..<d {
                for b in 0..<d { covariance[a * d + b] += (Double(rows[i * d + a]) - mean[a]) * (Double(rows[i * d + b]) - mean[b]) / Double(n) }
            }
        }
        let (values, vectors) = PrincipalComponents.symmetricEigen(covariance, size: d)
        let order = values.indices.sorted { values[$0] > values[$1] }
        #expect(abs(pca.totalVariance - values.reduce(0, +)) < 1e-4)
        for k in 0..<3 {
            let e = order[k]
            #expect(abs(pca.variances[k] - values[e]) < 1e-4 * values[order[0]], "eigenvalue \(k)")
            let cosine = (0..<d).reduce(0.0) { $0 + Double(pca.components[k][$1]) * vectors[$1 * d + e] }
            #expect(abs(cosine) > 0.999, "eigenvector \(k): |cos| = \(abs(cosine))")
        }
    }

    @Test func principalComponentsOfTooFewRows() {
        let one = PrincipalComponents([1, 2, 3], rows: 1, width: 3, count: 3)
        #expect(one.components.count == 1 && one.mean == [1, 2, 3])
        #expect(one.project([1, 2, 3], rows: 1) == [0])
        let none = PrincipalComponents([], rows: 0, width: 3, count: 3)
        #expect(none.components.isEmpty && none.project([], rows: 0).isEmpty)
    }

    /// Neighbours and the pair histogram equal a brute-force computation (ties broken by id).
    @Test func neighboursMatchBruteForce() {
        let k = 157, d = 9, n = 5
        var e = unitRows(randomRows(k, d, seed: 12), k, d)
        // Region 7 duplicates region 3: a tie at distance 0 for region 3's and 7's neighbours.
        for j in 0..<d { e[7 * d + j] = e[3 * d + j] }
        let result = ExemplarNeighbours(exemplars: e, regions: k, width: d, count: n, pairBins: 50)
        var table = [Float](repeating: 0, count: k * k)
        for a in 0..<k {
            for b in 0..<k {
                var dot: Float = 0
                for j in 0..<d { dot += e[a * d + j] * e[b * d + j] }
                table[a * k + b] = 1 - min(max(dot, -1), 1)
            }
        }
        func distance(_ a: Int, _ b: Int) -> Float { table[a * k + b] }
        var histogram = [Int](repeating: 0, count: 50)
        for i in 0..<k {
            let expected = (0..<k).filter { $0 != i }.sorted { (distance(i, $0), $0) < (distance(i, $1), $1) }.prefix(n)
            let found = result.neighbours(of: i)
            #expect(found.map(\.id) == Array(expected), "region \(i)")
            for (f, j) in zip(found, expected) { #expect(abs(f.distance - distance(i, j)) < 1e-5) }
            for j in (i + 1)..<k { histogram[min(49, Int(distance(i, j) / 2 * 50))] += 1 }
        }
        #expect(result.neighbours(of: 3).first?.id == 7 && result.neighbours(of: 7).first?.id == 3)
        #expect(result.pairHistogram.reduce(0, +) == k * (k - 1) / 2)
        // Bin edges may differ by one ulp of a distance between BLAS and this loop: compare within one count per bin.
        #expect(zip(result.pairHistogram, histogram).allSatisfy { abs($0 - $1) <= 1 })
        let lonely = ExemplarNeighbours(exemplars: [1, 0], regions: 1, width: 2, count: 3)
        #expect(lonely.neighbours(of: 0).isEmpty && lonely.pairHistogram.reduce(0, +) == 0)
    }

    /// Non-finite exemplars (which loading refuses) give NaN distances that are left out of the histogram; nothing
    /// traps (this used to convert NaN to Int).
    @Test func nonFiniteExemplarsDoNotTrap() {
        let k = 6, d = 4
        var e = unitRows(randomRows(k, d, seed: 3), k, d)
        e[2 * d + 1] = .nan
        e[4 * d] = .infinity
        let result = ExemplarNeighbours(exemplars: e, regions: k, width: d, count: 2, pairBins: 10)
        #expect(result.pairHistogram.reduce(0, +) < k * (k - 1) / 2)
        #expect(ExemplarNeighbours.bin(ofDistance: .nan, bins: 10) == nil)
        #expect(ExemplarNeighbours.bin(ofDistance: 2, bins: 10) == 9 && ExemplarNeighbours.bin(ofDistance: -1, bins: 10) == 0)
        #expect(ExemplarNeighbours.bin(ofDistance: .infinity, bins: 10) == 9 && ExemplarNeighbours.bin(ofDistance: 0.999, bins: 10) == 4)
        // A sample histogram whose bin width is far below the values' scale: positions beyond Int's range.
        #expect(ReportSite.histogram([1, 1e300, -5, .nan], lower: 0, upper: 1e-300, bins: 4) == [1, 0, 0, 2])
    }
}
