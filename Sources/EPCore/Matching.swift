import EPTensors

/// Optimal one-to-one assignment (the linear sum assignment problem), solved exactly by shortest augmenting paths
/// with dual potentials (Jonker–Volgenant, in Crouse's rectangular form, as SciPy's `linear_sum_assignment`).
public enum LinearAssignment {
    /// For a `rows × columns` score matrix (row-major), the assignment maximising the total score: for each row
    /// its column, or −1 for the rows left over when there are more rows than columns. Every column is used at
    /// most once; min(rows, columns) pairs are formed. O(n²·m) in the worst case; typical score matrices take far
    /// fewer steps.
    public static func maximize(_ scores: [Float], rows: Int, columns: Int) -> [Int] {
        precondition(scores.count == rows * columns, "LinearAssignment: \(scores.count) scores for \(rows)×\(columns)")
        guard rows > 0, columns > 0 else { return [Int](repeating: -1, count: rows) }
        if rows > columns {
            // Solve the transpose (rows ≤ columns), then invert.
            var transposed = [Float](repeating: 0, count: scores.count)
            for r in 0..<rows {
                for c in 0..<columns { transposed[c * rows + r] = scores[r * columns + c] }
            }
            let columnToRow = solve(transposed, rows: columns, columns: rows)
            var rowToColumn = [Int](repeating: -1, count: rows)
            for (c, r) in columnToRow.enumerated() { rowToColumn[r] = c }
            return rowToColumn
        }
        return solve(scores, rows: rows, columns: columns)
    }

    /// Minimises Σ −score with rows ≤ columns; returns each row's column.
    private static func solve(_ scores: [Float], rows nr: Int, columns nc: Int) -> [Int] {
        var u = [Double](repeating: 0, count: nr)
        var v = [Double](repeating: 0, count: nc)
        var shortest = [Double](repeating: .infinity, count: nc)
        var path = [Int](repeating: -1, count: nc)
        var columnForRow = [Int](repeating: -1, count: nr)
        var rowForColumn = [Int](repeating: -1, count: nc)
        var visitedRows = [Bool](repeating: false, count: nr)
        var visitedColumns = [Bool](repeating: false, count: nc)
        var remaining = [Int](repeating: 0, count: nc)
        scores.withUnsafeBufferPointer { s in
            for current in 0..<nr {
                var minimum = 0.0
                var remainingCount = nc
                for j in 0..<nc {
                    remaining[j] = nc - j - 1
                    shortest[j] = .infinity
                }
                for i in 0..<nr { visitedRows[i] = false }
                for j in 0..<nc { visitedColumns[j] = false }
                var i = current
                var sink = -1
                while sink == -1 {
                    visitedRows[i] = true
                    var lowest = Double.infinity
                    var lowestIndex = -1
                    let row = s.baseAddress! + i * nc
                    let base = minimum - u[i]
                    for it in 0..<remainingCount {
                        let j = remaining[it]
                        let reduced = base - Double(row[j]) - v[j]
                        if reduced < shortest[j] {
                            path[j] = i
                            shortest[j] = reduced
                        }
                        if shortest[j] < lowest || (shortest[j] == lowest && rowForColumn[j] == -1) {
                            lowest = shortest[j]
                            lowestIndex = it
                        }
                    }
                    minimum = lowest
                    let j = remaining[lowestIndex]
                    if rowForColumn[j] == -1 { sink = j } else { i = rowForColumn[j] }
                    visitedColumns[j] = true
                    remainingCount -= 1
                    remaining[lowestIndex] = remaining[remainingCount]
                }
                u[current] += minimum
                for r in 0..<nr where visitedRows[r] && r != current {
                    u[r] += minimum - shortest[columnForRow[r]]
                }
                for c in 0..<nc where visitedColumns[c] {
                    v[c] -= minimum - shortest[c]
                }
                var j = sink
                while true {
                    let r = path[j]
                    rowForColumn[j] = r
                    swap(&columnForRow[r], &j)
                    if r == current { break }
                }
            }
        }
        return columnForRow
    }
}

/// One pair of regions matched across two dictionaries.
public struct RegionPair: Sendable, Equatable {
    /// Region ids in A and in B.
    public var a: Int
    public var b: Int
    /// Cosine of their directions, and the cosine distance `1 − cos` (clamped at 0).
    public var cosine: Double
    public var distance: Double { max(0, 1 - cosine) }
}

/// The one-to-one matching of two dictionaries' regions that maximises the total cosine of their directions
/// (docs/use.md): across layers, checkpoints, seeds or models of one width. Each side's directions live in its own
/// centered space; the comparison ignores a shift between the centers, as the reference does.
public struct DictionaryMatching: Sendable {
    /// The matched pairs, by descending cosine.
    public var pairs: [RegionPair]
    /// Regions of A and of B left without a partner (the larger side has some).
    public var unmatchedA: [Int]
    public var unmatchedB: [Int]
    /// The two thresholds, to express distances in units of θ.
    public var thresholdA: Double
    public var thresholdB: Double

    /// Matches `a` and `b` on their `basis` directions. The widths must be equal.
    public init(_ a: ExemplarDictionary, _ b: ExemplarDictionary, basis: DirectionBasis = .exemplar) throws {
        guard a.width == b.width else { throw EPError.widthMismatch(expected: a.width, found: b.width) }
        let d = a.width, ka = a.regionCount, kb = b.regionCount
        let ea = basis == .exemplar ? a.regions.exemplarDirections : a.regions.meanMemberDirections
        let eb = basis == .exemplar ? b.regions.exemplarDirections : b.regions.meanMemberDirections
        var cosines = [Float](repeating: 0, count: ka * kb)
        if ka > 0 && kb > 0 {
            ea.withUnsafeBufferPointer { pa in
                eb.withUnsafeBufferPointer { pb in
                    cosines.withUnsafeMutableBufferPointer { c in
                        BLAS.gemm(.asStored, .transposed, m: ka, n: kb, k: d, a: pa.baseAddress!, lda: d, b: pb.baseAddress!, ldb: d, c: c.baseAddress!, ldc: kb)
                    }
                }
            }
        }
        let assignment = LinearAssignment.maximize(cosines, rows: ka, columns: kb)
        var pairs: [RegionPair] = []
        var usedB = [Bool](repeating: false, count: kb)
        for (i, j) in assignment.enumerated() where j >= 0 {
            // The reported cosine is recomputed in Double from the unit vectors, renormalised, so that a region
            // matched with itself has cosine 1 and distance 0.
            let cosine = ea.withUnsafeBufferPointer { pa in
                eb.withUnsafeBufferPointer { pb in
                    let x = pa.baseAddress! + i * d, y = pb.baseAddress! + j * d
                    let dot = Kernels.dotDouble(x, y, count: d)
                    let norms = (Kernels.dotDouble(x, x, count: d) * Kernels.dotDouble(y, y, count: d)).squareRoot()
                    return norms > 0 ? min(1, max(-1, dot / norms)) : 0
                }
            }
            pairs.append(RegionPair(a: i, b: j, cosine: cosine))
            usedB[j] = true
        }
        self.pairs = pairs.sorted { ($0.cosine, -$0.a) > ($1.cosine, -$1.a) }
        unmatchedA = assignment.enumerated().filter { $0.element < 0 }.map(\.offset)
        unmatchedB = (0..<kb).filter { !usedB[$0] }
        thresholdA = a.threshold
        thresholdB = b.threshold
    }

    /// The share of A's regions whose partner is within θ_A (cosine distance ≤ θ_A).
    public var shareWithinThresholdA: Double { share(within: thresholdA, of: pairs.count + unmatchedA.count) }

    /// The share of B's regions whose partner is within θ_B.
    public var shareWithinThresholdB: Double { share(within: thresholdB, of: pairs.count + unmatchedB.count) }

    private func share(within threshold: Double, of total: Int) -> Double {
        total > 0 ? Double(pairs.filter { $0.distance <= threshold }.count) / Double(total) : 0
    }
}

extension DirectionBasis: Encodable {}

/// What `ep match` reports (its `--json`): the two dictionaries, the shares matched within θ, and every pair (by
/// descending cosine) with its distance in units of each side's θ.
public struct DictionaryMatchReport: Sendable, Encodable {
    /// A matched pair.
    public struct Pair: Sendable, Encodable {
        public var a: Int
        public var b: Int
        public var cosine: Double
        public var distance: Double
        /// The cosine distance over θ_A and over θ_B.
        public var distanceOverThetaA: Double
        public var distanceOverThetaB: Double

        enum CodingKeys: String, CodingKey {
            case a, b, cosine, distance, distanceOverThetaA = "distance_over_theta_a", distanceOverThetaB = "distance_over_theta_b"
        }
    }

    /// The dictionaries, as the caller named them, and the directions compared.
    public var a: String
    public var b: String
    public var basis: DirectionBasis
    /// Their region counts and thresholds.
    public var regionCountA: Int
    public var regionCountB: Int
    public var thresholdA: Double
    public var thresholdB: Double
    /// ``DictionaryMatching/shareWithinThresholdA`` and ``DictionaryMatching/shareWithinThresholdB``.
    public var shareWithinThresholdA: Double
    public var shareWithinThresholdB: Double
    /// Seconds the matching took.
    public var seconds: Double
    public var pairs: [Pair]
    public var unmatchedA: [Int]
    public var unmatchedB: [Int]

    enum CodingKeys: String, CodingKey {
        case a, b, basis, regionCountA = "k_a", regionCountB = "k_b", thresholdA = "theta_a", thresholdB = "theta_b"
        case shareWithinThresholdA = "share_matched_within_theta_a", shareWithinThresholdB = "share_matched_within_theta_b"
        case seconds, pairs, unmatchedA = "unmatched_a", unmatchedB = "unmatched_b"
    }

    /// The report of `matching` of the dictionaries named `a` and `b` on their `basis` directions, which took
    /// `seconds`.
    public init(_ matching: DictionaryMatching, a: String, b: String, basis: DirectionBasis, seconds: Double) {
        let m = matching
        self.a = a
        self.b = b
        self.basis = basis
        // Every region of a side is in a pair or unmatched.
        regionCountA = m.pairs.count + m.unmatchedA.count
        regionCountB = m.pairs.count + m.unmatchedB.count
        thresholdA = m.thresholdA
        thresholdB = m.thresholdB
        shareWithinThresholdA = m.shareWithinThresholdA
        shareWithinThresholdB = m.shareWithinThresholdB
        self.seconds = seconds
        pairs = m.pairs.map {
            Pair(a: $0.a, b: $0.b, cosine: $0.cosine, distance: $0.distance, distanceOverThetaA: $0.distance / m.thresholdA, distanceOverThetaB: $0.distance / m.thresholdB)
        }
        unmatchedA = m.unmatchedA
        unmatchedB = m.unmatchedB
    }
}
