import EPTensors

/// The text-level features a probe reads (each pooled by the mean over the text's positions, as SAEBench does).
public enum ProbeFeatureKind: String, Sendable, CaseIterable {
    /// The raw activations (D features).
    case raw
    /// The one-hot region readout: at each position 1 for the region of largest cosine and 0 elsewhere (ℓ₀ = 1),
    /// so a text's feature k is the share of its positions in region k (K features).
    case oneHot = "one-hot"
    /// The signed readout `(x − c)·b_k` of every region (dense, K features; the reference's SAEBench readout).
    case signed
}

/// A probe's held-out accuracy on the k features chosen on the training texts.
public struct TopKAccuracy: Sendable, Equatable {
    /// Features kept.
    public var k: Int
    /// Held-out accuracy of the probe on them.
    public var accuracy: Double
    /// The features kept (column indices, largest class-mean difference first).
    public var features: [Int]
}

/// Probe accuracies on one feature set of one task.
public struct FeatureSetAccuracy: Sendable {
    /// Which features.
    public var kind: ProbeFeatureKind
    /// The basis of region features (nil for raw activations).
    public var basis: String?
    /// Number of features.
    public var width: Int
    /// Held-out accuracy of the probe on all features.
    public var all: Double
    /// How the solver of the all-feature probe stopped.
    public var convergence: LogisticRegression.Convergence
    /// Held-out accuracy on the top k features, for each k asked for.
    public var topK: [TopKAccuracy]

    /// The top-k accuracy for `k`, if computed.
    public func accuracy(k: Int) -> Double? { topK.first { $0.k == k }?.accuracy }
}

/// Every probe's result on one task.
public struct ProbingOutcome: Sendable {
    /// The task.
    public var task: BinaryTask
    /// Raw activations, then for each basis its one-hot and signed readouts.
    public var featureSets: [FeatureSetAccuracy]

    /// The feature set of `kind` over `basis` (nil for raw).
    public func features(_ kind: ProbeFeatureKind, basis: String? = nil) -> FeatureSetAccuracy? {
        featureSets.first { $0.kind == kind && $0.basis == basis }
    }

    /// One-hot accuracy over raw-activation accuracy, both with all features (the paper's retention ratio).
    public func retention(basis: String) -> Double? {
        guard let oneHot = features(.oneHot, basis: basis), let raw = features(.raw) else { return nil }
        return oneHot.all / raw.all
    }

    /// One-hot top-k accuracy over raw top-k accuracy (SAEBench's `sae_top_k` over `llm_top_k`).
    public func topKRetention(basis: String, k: Int) -> Double? {
        guard let oneHot = features(.oneHot, basis: basis)?.accuracy(k: k), let raw = features(.raw)?.accuracy(k: k) else { return nil }
        return oneHot / raw
    }
}

/// SAEBench-style sparse probing (docs/eval.md): per task, text-level features are each text's positions pooled by
/// their mean; a logistic-regression probe (scikit-learn's objective, `C = 1`, no standardisation, as SAEBench's
/// `train_sklearn_probe`) is fitted on the training texts with all features and with the top k features by the
/// absolute difference of the class means on the training texts (SAEBench's `get_top_k_mean_diff_mask`; ties to
/// the lower index), and its accuracy is measured on the held-out texts.
public enum SparseProbing {
    /// The probes' settings.
    public struct Options: Sendable {
        /// Numbers of features kept (SAEBench: 1, 2, 5, …).
        public var ks: [Int] = [1, 2, 5]
        /// Probe settings.
        public var probe = LogisticRegression.Options()

        public init() {}
    }

    /// Runs raw, one-hot and signed probes for every task and basis; `progress` is told how many tasks are done.
    public static func run(
        _ activations: TextActivations, tasks: [BinaryTask], bases: [BasisReadout], options: Options = Options(),
        progress: ((Int) -> Void)? = nil
    ) throws -> [ProbingOutcome] {
        guard options.ks.allSatisfy({ $0 > 0 }) else { throw EvaluationError("probe: every k must be positive, got \(options.ks)") }
        var outcomes: [ProbingOutcome] = []
        for (done, task) in tasks.enumerated() {
            do {
                for (split, texts) in [("training", task.train), ("held-out", task.test)] where texts.positives == 0 || texts.negatives == 0 {
                    throw EvaluationError("needs texts of both classes in the \(split) split, got \(texts.positives) positive and \(texts.negatives) negative")
                }
                let rawTrain = activations.meanPooled(task.train.texts), rawTest = activations.meanPooled(task.test.texts)
                var sets = [try probe(.raw, basis: nil, rawTrain, rawTest, task, options)]
                for basis in bases {
                    sets.append(try probe(.oneHot, basis: basis.name, basis.oneHotMeans(task.train.texts, activations: activations),
                                          basis.oneHotMeans(task.test.texts, activations: activations), task, options))
                    sets.append(try probe(.signed, basis: basis.name, basis.signed(rawTrain), basis.signed(rawTest), task, options))
                }
                outcomes.append(ProbingOutcome(task: task, featureSets: sets))
            } catch {
                throw EvaluationError("probing task \(task.name) (\(task.source)): \(error)")
            }
            progress?(done + 1)
        }
        return outcomes
    }

    /// The `k` columns of `features` with the largest |mean over positive rows − mean over negative rows|, largest
    /// first, the lower index first on ties (means accumulated in `Double`).
    public static func topFeatures(_ features: Matrix, labels: [Bool], k: Int) -> [Int] {
        let d = features.columns
        var positive = [Double](repeating: 0, count: d), negative = [Double](repeating: 0, count: d)
        var positives = 0
        for i in 0..<features.rows {
            if labels[i] { positives += 1 }
            for j in 0..<d {
                let v = Double(features.storage[i * d + j])
                if labels[i] { positive[j] += v } else { negative[j] += v }
            }
        }
        let negatives = features.rows - positives
        let difference = (0..<d).map { abs(positive[$0] / Double(max(positives, 1)) - negative[$0] / Double(max(negatives, 1))) }
        return Array((0..<d).sorted { (difference[$0], -$0) > (difference[$1], -$1) }.prefix(k))
    }

    /// The given columns of `features`, in that order.
    static func columns(_ features: Matrix, _ selected: [Int]) -> Matrix {
        var out = Matrix(rows: features.rows, columns: selected.count)
        for i in 0..<features.rows {
            for (c, j) in selected.enumerated() { out.storage[i * selected.count + c] = features.storage[i * features.columns + j] }
        }
        return out
    }

    private static func probe(
        _ kind: ProbeFeatureKind, basis: String?, _ train: Matrix, _ test: Matrix, _ task: BinaryTask, _ options: Options
    ) throws -> FeatureSetAccuracy {
        let all = try LogisticRegression.fit(.dense(train), labels: task.train.labels, options: options.probe)
        let topK = try options.ks.map { k -> TopKAccuracy in
            let selected = topFeatures(train, labels: task.train.labels, k: min(k, train.columns))
            let model = try LogisticRegression.fit(.dense(columns(train, selected)), labels: task.train.labels, options: options.probe)
            return TopKAccuracy(k: k, accuracy: try model.accuracy(.dense(columns(test, selected)), labels: task.test.labels), features: selected)
        }
        return FeatureSetAccuracy(
            kind: kind, basis: basis, width: train.columns, all: try all.accuracy(.dense(test), labels: task.test.labels),
            convergence: all.convergence, topK: topK)
    }
}
