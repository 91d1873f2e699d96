import EPCore
import EPEvals
import EPFormats

/// JSON and table of saturation curves.
///
/// JSON (`format` `ep-eval-saturation`, version 1): `curves`, each with `label`, `threshold`, `saturated`, `tokens`,
/// `regions`, `late_new_region_rate`, `growth_exponent` and `points` — one per build batch: `tokens`,
/// `activations`, `regions`, `new_regions` (ready to plot K against tokens).
public enum SaturationReportFormat {
    /// The JSON results' `format` field and the Markdown file's first line, by which ep recognises files it wrote.
    public static let formatName = "ep-eval-saturation"
    public static let markdownTitle = "# Saturation"

    /// The curves as JSON.
    public static func json(_ curves: [SaturationCurve]) -> JSONValue {
        .object(JSONObject([
            "format": .string(formatName), "format_version": .integer(1),
            "curves": .array(curves.map { c in
                .object(JSONObject([
                    "label": .string(c.label), "threshold": .number(c.threshold), "saturated": .bool(c.saturated),
                    "tokens": .integer(Int64(c.tokens)), "regions": .integer(Int64(c.regions)),
                    "late_new_region_rate": number(c.lateNewRegionRate), "growth_exponent": number(c.growthExponent),
                    "points": .array(c.points.map { p in
                        .object(JSONObject([
                            "tokens": .integer(Int64(p.tokens)), "activations": .integer(Int64(p.activations)),
                            "regions": .integer(Int64(p.regions)), "new_regions": .integer(Int64(p.newRegions)),
                        ]))
                    }),
                ]))
            }),
        ]))
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

/// JSON and tables of a ``StabilityAnalysis``.
///
/// JSON (`format` `ep-eval-stability`, version 1): `dictionaries`, `basis`, `cutoff`,
/// `mean_share_within_threshold`, `pairs` (`a`, `b`, `k_a`, `k_b`, `n_matched`, `share_within_theta_a`,
/// `share_within_theta_b`, `share_above_cutoff_a`, `cos_mean_median`, `cos_mean_p10`, `cos_exemplar_median`,
/// `cos_exemplar_p10`), `correlations` (`predictor`, `spearman`, `pearson`), `quintiles` (`lower`, `upper`,
/// `regions`, `mean_stability`, `share_within_theta`) and `regions` (`dictionary`, `region`, `members`,
/// `coherence`, `predictor` = log10(members·coherence²), `stability`, `minimum`).
public enum StabilityReportFormat {
    /// The JSON results' `format` field and the Markdown file's first line, by which ep recognises files it wrote.
    public static let formatName = "ep-eval-stability"
    public static let markdownTitle = "# Stability across seeds"

    /// The analysis as JSON; `names` label the dictionaries.
    public static func json(_ s: StabilityAnalysis, names: [String]) -> JSONValue {
        .object(JSONObject([
            "format": .string(formatName), "format_version": .integer(1),
            "dictionaries": .array(names.map { .string($0) }), "basis": .string(s.basis.rawValue), "cutoff": .number(s.cutoff),
            "mean_share_within_threshold": .number(s.meanShareWithinThreshold),
            "pairs": .array(s.pairs.map { p in
                .object(JSONObject([
                    "a": .integer(Int64(p.a)), "b": .integer(Int64(p.b)), "k_a": .integer(Int64(p.regionsA)), "k_b": .integer(Int64(p.regionsB)),
                    "n_matched": .integer(Int64(p.matched)), "share_within_theta_a": .number(p.withinThresholdA),
                    "share_within_theta_b": .number(p.withinThresholdB), "share_above_cutoff_a": .number(p.aboveCutoffA),
                    "cos_mean_median": number(p.meanCosineMedian), "cos_mean_p10": number(p.meanCosineP10),
                    "cos_exemplar_median": number(p.exemplarCosineMedian), "cos_exemplar_p10": number(p.exemplarCosineP10),
                ]))
            }),
            "correlations": .array(s.correlations.map { c in
                .object(JSONObject(["predictor": .string(c.predictor), "spearman": number(c.spearman), "pearson": number(c.pearson)]))
            }),
            "quintiles": .array(s.quintiles.map { q in
                .object(JSONObject([
                    "lower": .number(q.lower), "upper": .number(q.upper), "regions": .integer(Int64(q.regions)),
                    "mean_stability": .number(q.meanStability), "share_within_theta": .number(q.shareWithinThreshold),
                ]))
            }),
            "regions": .array(s.regions.map { r in
                .object(JSONObject([
                    "dictionary": .integer(Int64(r.dictionary)), "region": .integer(Int64(r.region)), "members": .integer(Int64(r.members)),
                    "coherence": .number(r.coherence), "predictor": .number(r.predictor), "stability": .number(r.stability), "minimum": .number(r.minimum),
                ]))
            }),
        ]))
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
