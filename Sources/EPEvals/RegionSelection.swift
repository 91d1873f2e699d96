/// Texts with binary labels: `texts[i]` (an index into a ``TextActivations``) is a positive example when
/// `labels[i]` is true.
public struct LabelledTexts: Sendable, Equatable {
    /// Text indices.
    public var texts: [Int]
    /// One label per text (`true` = shows the concept / positive class).
    public var labels: [Bool]

    /// Pairs texts with labels; the counts must agree.
    public init(texts: [Int], labels: [Bool]) throws {
        guard texts.count == labels.count else { throw EvaluationError("\(texts.count) texts but \(labels.count) labels") }
        self.texts = texts
        self.labels = labels
    }

    /// Number of positive and of negative texts.
    public var positives: Int { labels.reduce(0) { $0 + ($1 ? 1 : 0) } }
    public var negatives: Int { labels.count - positives }
}

/// How a concept's detector direction is chosen among a basis's directions on the training texts (docs/eval.md).
public enum SelectionRule: String, Sendable, CaseIterable {
    /// AxBench's EP rule: the largest token-mean cosine contrast, mean over positive texts' positions minus mean
    /// over negative texts' positions (every position inherits its text's label).
    case contrast
    /// SAE-A's rule (AxBench's `GemmaScopeSAEMaxAUC`): the largest training AUROC of the max-over-positions score.
    case maxAUROC = "max-auroc"
}

/// Choosing a concept's direction among candidate directions (docs/eval.md), on a ``BasisReadout`` of the texts.
public enum RegionSelection {
    /// Per direction: mean cosine over the positions of the positive texts minus that over the negative texts.
    public static func contrasts(_ readout: BasisReadout, _ train: LabelledTexts) throws -> [Double] {
        let k = readout.directionCount
        var positive = [Double](repeating: 0, count: k), negative = [Double](repeating: 0, count: k)
        var positivePositions = 0, negativePositions = 0
        for (t, label) in zip(train.texts, train.labels) {
            let base = t * k
            if label {
                for j in 0..<k { positive[j] += Double(readout.sums[base + j]) }
                positivePositions += readout.positionCounts[t]
            } else {
                for j in 0..<k { negative[j] += Double(readout.sums[base + j]) }
                negativePositions += readout.positionCounts[t]
            }
        }
        guard positivePositions > 0, negativePositions > 0 else {
            throw EvaluationError("region selection needs positive and negative training texts, got \(train.positives) and \(train.negatives)")
        }
        return (0..<k).map { positive[$0] / Double(positivePositions) - negative[$0] / Double(negativePositions) }
    }

    /// Per direction: the AUROC of the max-over-positions cosine on the training texts.
    public static func trainingAUROCs(_ readout: BasisReadout, _ train: LabelledTexts) throws -> [Double] {
        try (0..<readout.directionCount).map { k in
            try AUROC.score(scores: readout.maxima(direction: k, texts: train.texts), labels: train.labels)
        }
    }

    /// The direction `rule` picks (the first on ties) and its criterion value (contrast or training AUROC).
    public static func select(_ rule: SelectionRule, _ readout: BasisReadout, _ train: LabelledTexts) throws -> (direction: Int, criterion: Double) {
        let values = rule == .contrast ? try contrasts(readout, train) : try trainingAUROCs(readout, train)
        var best = 0
        for k in values.indices where values[k] > values[best] { best = k }
        return (best, values[best])
    }
}
