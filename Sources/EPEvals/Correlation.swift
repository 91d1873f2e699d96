/// Correlation coefficients between two samples, as SciPy computes them.
public enum Correlation {
    /// Pearson's r (`scipy.stats.pearsonr`), accumulated in `Double` around the means; NaN when a sample is
    /// constant or there are fewer than two pairs.
    public static func pearson(_ x: [Double], _ y: [Double]) throws -> Double {
        guard x.count == y.count else { throw EvaluationError("correlation: \(x.count) values against \(y.count)") }
        guard x.count >= 2 else { return .nan }
        let n = Double(x.count)
        let mx = x.reduce(0, +) / n, my = y.reduce(0, +) / n
        var sxy = 0.0, sxx = 0.0, syy = 0.0
        for (a, b) in zip(x, y) {
            sxy += (a - mx) * (b - my)
            sxx += (a - mx) * (a - mx)
            syy += (b - my) * (b - my)
        }
        guard sxx > 0, syy > 0 else { return .nan }
        return max(-1, min(1, sxy / (sxx * syy).squareRoot()))
    }

    /// Spearman's ρ (`scipy.stats.spearmanr`): Pearson's r of the ranks, tied values sharing their mean rank.
    public static func spearman(_ x: [Double], _ y: [Double]) throws -> Double {
        guard x.count == y.count else { throw EvaluationError("correlation: \(x.count) values against \(y.count)") }
        return try pearson(ranks(x), ranks(y))
    }

    /// The 1-based ranks of `values`, ties given their mean rank (`scipy.stats.rankdata`, method `average`).
    public static func ranks(_ values: [Double]) -> [Double] {
        let order = values.indices.sorted { values[$0] < values[$1] }
        var result = [Double](repeating: 0, count: values.count)
        var start = 0
        while start < order.count {
            var end = start + 1
            while end < order.count && values[order[end]] == values[order[start]] { end += 1 }
            let rank = Double(start + 1 + end) / 2
            for i in start..<end { result[order[i]] = rank }
            start = end
        }
        return result
    }
}
