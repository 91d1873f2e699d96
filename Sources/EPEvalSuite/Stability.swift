import EPCore
import EPEvals
import Foundation

/// How stable dictionaries built from different seeds (or stream orders) are (docs/eval.md): for every pair, the exact
/// one-to-one matching of their regions on one basis (``DictionaryMatching``), the share of regions matched
/// within θ, and the cosines of matched pairs on both bases; per region, its mean matched cosine over the other
/// dictionaries against the predictor log₁₀(members·coherence²).
public struct StabilityAnalysis: Sendable {
    /// One pair of dictionaries (an element of the stability report's `pairs`).
    public struct Pair: Sendable, Encodable {
        /// Indices of the two dictionaries.
        public var a: Int
        public var b: Int
        /// Region counts and matched pairs.
        public var regionsA: Int
        public var regionsB: Int
        public var matched: Int
        /// Share of A's (of B's) regions whose partner lies within θ_A (θ_B), on the matching basis.
        public var withinThresholdA: Double
        public var withinThresholdB: Double
        /// Share of A's regions whose partner has cosine ≥ the cutoff (the reference's `persisted_above_cutoff`
        /// over K_A).
        public var aboveCutoffA: Double
        /// Median and 10th percentile of the matched pairs' cosines between mean directions and between exemplars.
        public var meanCosineMedian: Double
        public var meanCosineP10: Double
        public var exemplarCosineMedian: Double
        public var exemplarCosineP10: Double

        enum CodingKeys: String, CodingKey {
            case a, b, regionsA = "k_a", regionsB = "k_b", matched = "n_matched", withinThresholdA = "share_within_theta_a"
            case withinThresholdB = "share_within_theta_b", aboveCutoffA = "share_above_cutoff_a", meanCosineMedian = "cos_mean_median"
            case meanCosineP10 = "cos_mean_p10", exemplarCosineMedian = "cos_exemplar_median", exemplarCosineP10 = "cos_exemplar_p10"
        }
    }

    /// One region of one dictionary (an element of the stability report's `regions`, with its `predictor`).
    public struct Region: Sendable, Encodable {
        /// The dictionary and region.
        public var dictionary: Int
        public var region: Int
        /// Its members and coherence.
        public var members: Int
        public var coherence: Double
        /// Mean and minimum, over the other dictionaries, of the cosine to its matched partner (0 for a region left
        /// unmatched by a smaller dictionary).
        public var stability: Double
        public var minimum: Double
        /// log₁₀(members · coherence²), the size·coherence² predictor.
        public var predictor: Double { Self.predictor(members: members, coherence: coherence) }

        /// log₁₀(max(members · coherence², 1e-9)).
        static func predictor(members: Int, coherence: Double) -> Double {
            log10(max(Double(members) * coherence * coherence, 1e-9))
        }

        enum CodingKeys: String, CodingKey {
            case dictionary, region, members, coherence, predictor, stability, minimum
        }

        /// The stored fields and the computed `predictor`, in `CodingKeys` order.
        public func encode(to encoder: Encoder) throws {
            var c = encoder.container(keyedBy: CodingKeys.self)
            try c.encode(dictionary, forKey: .dictionary)
            try c.encode(region, forKey: .region)
            try c.encode(members, forKey: .members)
            try c.encode(coherence, forKey: .coherence)
            try c.encode(predictor, forKey: .predictor)
            try c.encode(stability, forKey: .stability)
            try c.encode(minimum, forKey: .minimum)
        }
    }

    /// A predictor's rank and linear correlation with per-region stability.
    public struct PredictorCorrelation: Sendable, Encodable {
        /// The predictor's name, and Spearman's ρ and Pearson's r of it with stability.
        public var predictor: String
        public var spearman: Double
        public var pearson: Double

        enum CodingKeys: String, CodingKey {
            case predictor, spearman, pearson
        }
    }

    /// One fifth of the regions by predictor value, and their stability.
    public struct Quintile: Sendable, Encodable {
        /// The predictor range [lower, upper] of its regions.
        public var lower: Double
        public var upper: Double
        public var regions: Int
        public var meanStability: Double
        /// Share of its regions matched within θ of every other dictionary.
        public var shareWithinThreshold: Double

        enum CodingKeys: String, CodingKey {
            case lower, upper, regions, meanStability = "mean_stability", shareWithinThreshold = "share_within_theta"
        }
    }

    /// The basis regions were matched on.
    public let basis: DirectionBasis
    /// The cosine cutoff of ``Pair/aboveCutoffA``.
    public let cutoff: Double
    /// Every unordered pair, (0, 1), (0, 2), …
    public let pairs: [Pair]
    /// Every region of every dictionary.
    public let regions: [Region]
    /// Correlations of per-region stability with log₁₀(members·coherence²), log₁₀(members) and coherence.
    public let correlations: [PredictorCorrelation]
    /// Stability by quintile of log₁₀(members·coherence²).
    public let quintiles: [Quintile]

    /// Analyses `dictionaries` (at least two, of one width), matching on `basis`.
    public init(_ dictionaries: [ExemplarDictionary], basis: DirectionBasis = .mean, cutoff: Double = 0.7) throws {
        guard dictionaries.count >= 2 else { throw EvaluationError("stability needs at least two dictionaries, got \(dictionaries.count)") }
        var pairs: [Pair] = []
        // cosines[i][k]: region k of dictionary i's matched cosine with each other dictionary; within[i][k]: all within θ_i.
        var cosines = dictionaries.map { [[Double]](repeating: [], count: $0.regionCount) }
        var within = dictionaries.map { [Bool](repeating: true, count: $0.regionCount) }
        for i in 0..<dictionaries.count {
            for j in (i + 1)..<dictionaries.count {
                let a = dictionaries[i], b = dictionaries[j]
                let m = try DictionaryMatching(a, b, basis: basis)
                let other: DirectionBasis = basis == .mean ? .exemplar : .mean
                let otherCosines = m.pairs.map { Self.cosine(a, $0.a, b, $0.b, basis: other) }
                let meanCosines = basis == .mean ? m.pairs.map(\.cosine) : otherCosines
                let exemplarCosines = basis == .exemplar ? m.pairs.map(\.cosine) : otherCosines
                var partnerA = [Double](repeating: 0, count: a.regionCount), partnerB = [Double](repeating: 0, count: b.regionCount)
                var withinA = [Bool](repeating: false, count: a.regionCount), withinB = [Bool](repeating: false, count: b.regionCount)
                for p in m.pairs {
                    partnerA[p.a] = p.cosine
                    partnerB[p.b] = p.cosine
                    withinA[p.a] = p.distance <= a.threshold
                    withinB[p.b] = p.distance <= b.threshold
                }
                for k in 0..<a.regionCount {
                    cosines[i][k].append(partnerA[k])
                    within[i][k] = within[i][k] && withinA[k]
                }
                for k in 0..<b.regionCount {
                    cosines[j][k].append(partnerB[k])
                    within[j][k] = within[j][k] && withinB[k]
                }
                func share(_ flags: [Bool]) -> Double { flags.isEmpty ? 0 : Double(flags.filter { $0 }.count) / Double(flags.count) }
                pairs.append(Pair(
                    a: i, b: j, regionsA: a.regionCount, regionsB: b.regionCount, matched: m.pairs.count,
                    withinThresholdA: share(withinA), withinThresholdB: share(withinB),
                    aboveCutoffA: Double(m.pairs.filter { $0.cosine >= cutoff }.count) / Double(max(a.regionCount, 1)),
                    meanCosineMedian: Self.quantile(meanCosines, 0.5), meanCosineP10: Self.quantile(meanCosines, 0.1),
                    exemplarCosineMedian: Self.quantile(exemplarCosines, 0.5), exemplarCosineP10: Self.quantile(exemplarCosines, 0.1)))
            }
        }
        var regions: [Region] = []
        var stable: [Bool] = []
        for (i, d) in dictionaries.enumerated() {
            let r = d.regions
            for k in 0..<d.regionCount {
                let values = cosines[i][k]
                regions.append(Region(
                    dictionary: i, region: k, members: Int(r.memberCounts[k]), coherence: r.memberCoherences[k],
                    stability: values.reduce(0, +) / Double(values.count), minimum: values.min() ?? 0))
                stable.append(within[i][k])
            }
        }
        let stability = regions.map(\.stability)
        let predictors: [(String, [Double])] = [
            ("log10(members·coherence²)", regions.map(\.predictor)),
            ("log10(members)", regions.map { log10(Double(max($0.members, 1))) }),
            ("coherence", regions.map(\.coherence)),
        ]
        correlations = try predictors.map { name, values in
            PredictorCorrelation(predictor: name, spearman: try Correlation.spearman(values, stability), pearson: try Correlation.pearson(values, stability))
        }
        quintiles = Self.quintiles(regions.map(\.predictor), stability, stable)
        self.basis = basis
        self.cutoff = cutoff
        self.pairs = pairs
        self.regions = regions
    }

    /// Over all pairs, the mean share of regions matched within θ (both sides of each pair counted).
    public var meanShareWithinThreshold: Double {
        pairs.reduce(0) { $0 + $1.withinThresholdA + $1.withinThresholdB } / Double(2 * pairs.count)
    }

    /// The cosine between region `i` of `a` and region `j` of `b` on `basis`, in `Double`.
    static func cosine(_ a: ExemplarDictionary, _ i: Int, _ b: ExemplarDictionary, _ j: Int, basis: DirectionBasis) -> Double {
        let x = basis == .exemplar ? a.regions.exemplar(i) : a.regions.meanMemberDirection(i)
        let y = basis == .exemplar ? b.regions.exemplar(j) : b.regions.meanMemberDirection(j)
        var dot = 0.0, xx = 0.0, yy = 0.0
        for (u, v) in zip(x, y) {
            dot += Double(u) * Double(v)
            xx += Double(u) * Double(u)
            yy += Double(v) * Double(v)
        }
        return xx > 0 && yy > 0 ? min(1, max(-1, dot / (xx * yy).squareRoot())) : 0
    }

    /// NumPy's linear-interpolation quantile (NaN for no values).
    static func quantile(_ values: [Double], _ q: Double) -> Double {
        Percentile.ofSorted(values.sorted(), fraction: q)
    }

    /// Regions in five bins of the predictor, at its 0/20/40/60/80/100th percentiles (half-open bins, the last closed).
    static func quintiles(_ predictor: [Double], _ stability: [Double], _ stable: [Bool]) -> [Quintile] {
        guard !predictor.isEmpty else { return [] }
        let sorted = predictor.sorted()
        let edges = (0...5).map { Percentile.ofSorted(sorted, fraction: Double($0) / 5) }
        return (0..<5).compactMap { q in
            let members = predictor.indices.filter { i in
                predictor[i] >= edges[q] && (q == 4 ? predictor[i] <= edges[5] : predictor[i] < edges[q + 1])
            }
            guard !members.isEmpty else { return nil }
            return Quintile(
                lower: edges[q], upper: edges[q + 1], regions: members.count,
                meanStability: members.reduce(0) { $0 + stability[$1] } / Double(members.count),
                shareWithinThreshold: Double(members.filter { stable[$0] }.count) / Double(members.count))
        }
    }
}
