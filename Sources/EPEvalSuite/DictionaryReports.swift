import EPCore
import EPEvals
import EPFormats

/// The JSON results of `ep eval saturation` (`format` `ep-eval-saturation`, version 1, written by
/// ``SaturationReportFormat/json(_:)``): one curve per dictionary or domain, ready to plot K against tokens.
public struct SaturationReportRecord: Encodable {
    /// The curves, in the order given.
    public var curves: [Curve]

    enum CodingKeys: String, CodingKey {
        case curves
    }

    /// One curve.
    public struct Curve: Encodable {
        /// What the curve is of, θ, and whether the build stopped at saturation.
        public var label: String
        public var threshold: Double
        public var saturated: Bool
        /// Tokens read and regions K at the end.
        public var tokens: Int
        public var regions: Int
        /// New regions per activation over the last quarter (null when undefined).
        public var lateNewRegionRate: Double?
        /// The growth exponent b of K ∝ N^b over the second half (null with fewer than three snapshots there).
        public var growthExponent: Double?
        /// One point per build batch.
        public var points: [Point]

        enum CodingKeys: String, CodingKey {
            case label, threshold, saturated, tokens, regions, lateNewRegionRate = "late_new_region_rate"
            case growthExponent = "growth_exponent", points
        }
    }

    /// The state after one build batch.
    public struct Point: Encodable {
        /// Tokens and activations read so far, regions K, and the regions this batch founded.
        public var tokens: Int
        public var activations: Int
        public var regions: Int
        public var newRegions: Int

        enum CodingKeys: String, CodingKey {
            case tokens, activations, regions, newRegions = "new_regions"
        }
    }

    /// The record of `curves`.
    public init(_ curves: [SaturationCurve]) {
        self.curves = curves.map { c in
            Curve(
                label: c.label, threshold: c.threshold, saturated: c.saturated, tokens: c.tokens, regions: c.regions,
                lateNewRegionRate: c.lateNewRegionRate, growthExponent: c.growthExponent,
                points: c.points.map { Point(tokens: $0.tokens, activations: $0.activations, regions: $0.regions, newRegions: $0.newRegions) })
        }
    }
}

/// JSON and table of saturation curves; the JSON is a ``SaturationReportRecord``.
public enum SaturationReportFormat {
    /// The JSON results' `format` field and the Markdown file's first line, by which ep recognises files it wrote.
    public static let formatName = "ep-eval-saturation"
    public static let markdownTitle = "# Saturation"

    /// The curves as JSON: `format`, `format_version` 1, then the ``SaturationReportRecord``.
    public static func json(_ curves: [SaturationCurve]) -> JSONValue {
        JSONValueEncoder.value(of: JSONRecordFile(format: formatName, version: 1, record: SaturationReportRecord(curves)))
    }

    /// One row per curve.
    public static func table(_ curves: [SaturationCurve]) -> ResultTable {
        ResultTable(
            header: ["curve", "θ", "tokens", "K", "K at ¼", "K at ½", "late new-region rate", "growth exponent", "saturated"],
            rows: curves.map { c in
                [c.label, decimals(c.threshold, 4), String(c.tokens), String(c.regions),
                 c.regions(atTokens: c.tokens / 4).map(String.init) ?? "–", c.regions(atTokens: c.tokens / 2).map(String.init) ?? "–",
                 c.lateNewRegionRate.map { decimals($0, 4) } ?? "–", c.growthExponent.map { decimals($0, 3) } ?? "–", c.saturated ? "yes" : "no"]
            })
    }
}

/// The JSON results of `ep eval stability` (`format` `ep-eval-stability`, version 1, written by
/// ``StabilityReportFormat/json(_:names:)``). Pairs, correlations, quintiles and regions are the
/// ``StabilityAnalysis``' own records (their fields and keys are described there); NaN is written as null.
public struct StabilityReportRecord: Encodable {
    /// The dictionaries' names, in the order the pairs' and regions' indices count.
    public var dictionaries: [String]
    /// The basis regions were matched on, and the cosine cutoff of `share_above_cutoff_a`.
    public var basis: String
    public var cutoff: Double
    /// Over all pairs, the mean share of regions matched within θ.
    public var meanShareWithinThreshold: Double
    /// Every unordered pair, (0, 1), (0, 2), …
    public var pairs: [StabilityAnalysis.Pair]
    /// Correlations of per-region stability with the predictors.
    public var correlations: [StabilityAnalysis.PredictorCorrelation]
    /// Stability by quintile of log10(members·coherence²).
    public var quintiles: [StabilityAnalysis.Quintile]
    /// Every region of every dictionary.
    public var regions: [StabilityAnalysis.Region]

    enum CodingKeys: String, CodingKey {
        case dictionaries, basis, cutoff, meanShareWithinThreshold = "mean_share_within_threshold", pairs, correlations, quintiles, regions
    }

    /// The record of `analysis`; `names` label the dictionaries.
    public init(_ analysis: StabilityAnalysis, names: [String]) {
        dictionaries = names
        basis = analysis.basis.rawValue
        cutoff = analysis.cutoff
        meanShareWithinThreshold = analysis.meanShareWithinThreshold
        pairs = analysis.pairs
        correlations = analysis.correlations
        quintiles = analysis.quintiles
        regions = analysis.regions
    }
}

/// JSON and tables of a ``StabilityAnalysis``; the JSON is a ``StabilityReportRecord``.
public enum StabilityReportFormat {
    /// The JSON results' `format` field and the Markdown file's first line, by which ep recognises files it wrote.
    public static let formatName = "ep-eval-stability"
    public static let markdownTitle = "# Stability across seeds"

    /// The analysis as JSON: `format`, `format_version` 1, then the ``StabilityReportRecord``; `names` label the
    /// dictionaries.
    public static func json(_ s: StabilityAnalysis, names: [String]) -> JSONValue {
        JSONValueEncoder.value(of: JSONRecordFile(format: formatName, version: 1, record: StabilityReportRecord(s, names: names)))
    }

    /// The pairs, the correlations and the quintiles.
    public static func tables(_ s: StabilityAnalysis, names: [String]) -> [ResultTable] {
        let pairs = ResultTable(
            header: ["pair", "K_a", "K_b", "within θ (a)", "within θ (b)", "cos ≥ \(decimals(s.cutoff, 2)) (a)",
                     "cos mean median", "cos mean p10", "cos exemplar median", "cos exemplar p10"],
            rows: s.pairs.map { p in
                ["\(names[p.a]) ↔ \(names[p.b])", String(p.regionsA), String(p.regionsB), percent(p.withinThresholdA), percent(p.withinThresholdB),
                 percent(p.aboveCutoffA), decimals(p.meanCosineMedian, 3), decimals(p.meanCosineP10, 3),
                 decimals(p.exemplarCosineMedian, 3), decimals(p.exemplarCosineP10, 3)]
            })
        let correlations = ResultTable(
            header: ["predictor of region stability", "Spearman ρ", "Pearson r"],
            rows: s.correlations.map { [$0.predictor, decimals($0.spearman, 3), decimals($0.pearson, 3)] })
        let quintiles = ResultTable(
            header: ["log10(members·coherence²)", "regions", "mean stability", "within θ of every other"],
            rows: s.quintiles.map { ["\(decimals($0.lower, 2)) – \(decimals($0.upper, 2))", String($0.regions), decimals($0.meanStability, 3), percent($0.shareWithinThreshold)] })
        return [pairs, correlations, quintiles]
    }

    static func percent(_ x: Double) -> String { decimals(100 * x, 1) + " %" }
}
