/// Area under the ROC curve for binary labels, computed exactly as scikit-learn's `roc_auc_score` does.
///
/// The value is the Mann–Whitney statistic with average ranks for tied scores,
/// `(R⁺ − P(P+1)/2) / (P·N)` where `R⁺` is the sum of the (1-based, tie-averaged) ranks of the `P` positives among
/// all `P + N` scores. This equals the trapezoidal area under the ROC curve that scikit-learn integrates, ties
/// included (a run of tied scores is one diagonal segment of the curve, worth half a concordant pair per tied
/// positive–negative pair). Ranks are summed in `Double`, so the result is exact up to the final division for any
/// realistic number of scores.
public enum AUROC {
    /// The ROC AUC of `scores` against `labels` (`true` = positive).
    ///
    /// Throws ``AUROCError`` when the arrays differ in length, when there is only one class (scikit-learn raises
    /// "Only one class present in y_true"), or when a score is NaN or infinite.
    public static func score<S: BinaryFloatingPoint>(scores: [S], labels: [Bool]) throws -> Double {
        guard scores.count == labels.count else {
            throw AUROCError.countMismatch(scores: scores.count, labels: labels.count)
        }
        if let bad = scores.firstIndex(where: { !$0.isFinite }) {
            throw AUROCError.nonFiniteScore(index: bad)
        }
        let positives = labels.reduce(0) { $0 + ($1 ? 1 : 0) }
        let negatives = labels.count - positives
        guard positives > 0, negatives > 0 else {
            throw AUROCError.singleClass(positives: positives, negatives: negatives)
        }
        let order = scores.indices.sorted { scores[$0] < scores[$1] }
        var positiveRankSum = 0.0
        var start = 0
        while start < order.count {
            var end = start + 1
            while end < order.count && scores[order[end]] == scores[order[start]] { end += 1 }
            // Ranks start + 1 … end share their mean.
            let meanRank = Double(start + 1 + end) / 2
            var tiedPositives = 0
            for k in start..<end where labels[order[k]] { tiedPositives += 1 }
            positiveRankSum += meanRank * Double(tiedPositives)
            start = end
        }
        let p = Double(positives), n = Double(negatives)
        return (positiveRankSum - p * (p + 1) / 2) / (p * n)
    }

    /// The mean of per-concept AUROCs (AxBench's headline number).
    ///
    /// Throws ``AUROCError/noConcepts`` for an empty list.
    public static func mean(of concepts: [ConceptAUROC]) throws -> Double {
        guard !concepts.isEmpty else { throw AUROCError.noConcepts }
        return concepts.reduce(0.0) { $0 + $1.auroc } / Double(concepts.count)
    }
}

/// The AUROC of one concept's detector on its held-out examples.
public struct ConceptAUROC: Sendable, Equatable {
    /// The concept's name.
    public let concept: String
    /// ROC AUC of the detector's scores against the concept labels.
    public let auroc: Double
    /// Number of positive examples scored.
    public let positives: Int
    /// Number of negative examples scored.
    public let negatives: Int

    /// Scores one concept: `labels[i]` says whether example `i` shows the concept.
    public init<S: BinaryFloatingPoint>(concept: String, scores: [S], labels: [Bool]) throws {
        do {
            auroc = try AUROC.score(scores: scores, labels: labels)
        } catch let error as AUROCError {
            throw AUROCError.inConcept(concept, error)
        }
        self.concept = concept
        positives = labels.reduce(0) { $0 + ($1 ? 1 : 0) }
        negatives = labels.count - positives
    }
}

/// Why an AUROC could not be computed.
public indirect enum AUROCError: Error, Equatable, CustomStringConvertible {
    /// Scores and labels have different lengths.
    case countMismatch(scores: Int, labels: Int)
    /// Only one class is present, so the ROC curve is undefined.
    case singleClass(positives: Int, negatives: Int)
    /// The score at `index` is NaN or infinite.
    case nonFiniteScore(index: Int)
    /// A mean over concepts was asked for with no concepts.
    case noConcepts
    /// An error while scoring the named concept.
    case inConcept(String, AUROCError)

    public var description: String {
        switch self {
        case let .countMismatch(scores, labels):
            return "AUROC: \(scores) scores but \(labels) labels"
        case let .singleClass(positives, negatives):
            return "AUROC: needs both classes, got \(positives) positives and \(negatives) negatives"
        case let .nonFiniteScore(index):
            return "AUROC: score \(index) is not finite"
        case .noConcepts:
            return "AUROC: no concepts to average"
        case let .inConcept(concept, error):
            return "concept \(concept): \(error)"
        }
    }
}
