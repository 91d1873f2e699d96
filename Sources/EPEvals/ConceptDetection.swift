import EPTensors

/// A concept detector: a way of turning a concept's training texts into a per-position score. Every detector
/// scores a held-out text by the **maximum of its per-position score over the text's positions** (AxBench's
/// latent score) and is judged by the AUROC of those scores.
public enum ConceptMethod: Hashable, Sendable, CustomStringConvertible {
    /// A region of the basis named `basis`, chosen by `rule`; per-position score: the cosine readout of the region's
    /// direction.
    case region(basis: String, rule: SelectionRule)
    /// A region of the basis drawn at random (seeded) for each concept, scored like ``region(basis:rule:)``.
    case randomRegion(basis: String)
    /// AxBench's DiffMean on raw activations: the unit difference of the mean positive and mean negative position
    /// (every position inherits its text's label); per-position score: the projection on it.
    case diffMean
    /// A logistic-regression probe on raw activations fitted on positions labelled by their text (AxBench's
    /// linear probe, here L2 with scikit-learn's objective); per-position score: its decision function.
    case probe

    /// A stable identifier for JSON keys: `ep-exemplar-contrast`, `ep-mean-max-auroc`, `random-mean`, `diffmean`,
    /// `probe`.
    public var id: String {
        switch self {
        case let .region(basis, rule): return "ep-\(basis)-\(rule.rawValue)"
        case let .randomRegion(basis): return "random-\(basis)"
        case .diffMean: return "diffmean"
        case .probe: return "probe"
        }
    }

    /// A label for tables.
    public var description: String {
        switch self {
        case let .region(basis, rule): return "EP region, \(basis) direction, \(rule == .contrast ? "token-mean contrast" : "max-over-positions AUROC") rule"
        case let .randomRegion(basis): return "random region, \(basis) direction"
        case .diffMean: return "DiffMean on raw activations"
        case .probe: return "logistic-regression probe on raw activations"
        }
    }
}

/// How one detector did on one concept.
public struct ConceptScore: Sendable {
    /// The detector.
    public var method: ConceptMethod
    /// AUROC of its max-over-positions scores on the held-out texts.
    public var auroc: Double
    /// For region detectors: the region (direction index) used.
    public var region: Int?
    /// For selected regions: the selection criterion of that region on the training texts (contrast, or AUROC).
    public var criterion: Double?
    /// For the probe: how its solver stopped.
    public var convergence: LogisticRegression.Convergence?
}

/// Every detector's result on one concept.
public struct ConceptOutcome: Sendable {
    /// The concept.
    public var task: BinaryTask
    /// One score per method, in the report's method order.
    public var scores: [ConceptScore]

    /// The score of `method`, if it was run.
    public func score(_ method: ConceptMethod) -> ConceptScore? { scores.first { $0.method == method } }
}

/// The results of a concept-detection evaluation.
public struct ConceptDetectionReport: Sendable {
    /// The detectors, in table order.
    public var methods: [ConceptMethod]
    /// One outcome per concept, in task order.
    public var concepts: [ConceptOutcome]

    /// The mean AUROC of `method` over the concepts (AxBench's headline number).
    public func meanAUROC(_ method: ConceptMethod) -> Double {
        let values = concepts.compactMap { $0.score(method)?.auroc }
        return values.isEmpty ? .nan : values.reduce(0, +) / Double(values.count)
    }
}

/// AxBench-style concept detection (docs/eval.md) over activations extracted once: for each concept, EP regions
/// chosen on the training texts by both rules over every given basis, a random region per basis, and the raw
/// activation baselines DiffMean and a logistic-regression probe, all scored on the same held-out texts from the
/// same activations.
public enum ConceptDetection {
    /// Settings of the baselines.
    public struct Options: Sendable {
        /// The probe's settings (scikit-learn's `C = 1` by default, no standardisation).
        public var probe = LogisticRegression.Options()
        /// Seed of the random regions.
        public var seed: UInt64 = 0

        public init() {}
    }

    /// The detectors run for bases named `bases`, in table order: per basis both selection rules, then the random
    /// regions, then DiffMean and the probe.
    public static func methods(bases: [String]) -> [ConceptMethod] {
        bases.flatMap { b in SelectionRule.allCases.map { ConceptMethod.region(basis: b, rule: $0) } }
            + bases.map { ConceptMethod.randomRegion(basis: $0) } + [.diffMean, .probe]
    }

    /// Runs every detector on every task; `progress` is told how many tasks are done.
    public static func run(
        _ activations: TextActivations, tasks: [BinaryTask], bases: [BasisReadout], options: Options = Options(),
        progress: ((Int) -> Void)? = nil
    ) throws -> ConceptDetectionReport {
        var generator = SeededGenerator(seed: options.seed)
        var outcomes: [ConceptOutcome] = []
        for (done, task) in tasks.enumerated() {
            do {
                outcomes.append(try evaluate(task, activations: activations, bases: bases, options: options, generator: &generator))
            } catch {
                throw EvaluationError("concept \(task.name) (\(task.source)): \(error)")
            }
            progress?(done + 1)
        }
        return ConceptDetectionReport(methods: methods(bases: bases.map(\.name)), concepts: outcomes)
    }

    private static func evaluate(
        _ task: BinaryTask, activations: TextActivations, bases: [BasisReadout], options: Options, generator: inout SeededGenerator
    ) throws -> ConceptOutcome {
        for (split, texts) in [("training", task.train), ("held-out", task.test)] where texts.positives == 0 || texts.negatives == 0 {
            throw EvaluationError("needs positive and negative \(split) texts, got \(texts.positives) and \(texts.negatives)")
        }
        var scores: [ConceptScore] = []
        for basis in bases {
            for rule in SelectionRule.allCases {
                let (region, criterion) = try RegionSelection.select(rule, basis, task.train)
                scores.append(ConceptScore(
                    method: .region(basis: basis.name, rule: rule),
                    auroc: try AUROC.score(scores: basis.maxima(direction: region, texts: task.test.texts), labels: task.test.labels),
                    region: region, criterion: criterion))
            }
        }
        for basis in bases {
            let region = generator.uniform(below: basis.directionCount)
            scores.append(ConceptScore(
                method: .randomRegion(basis: basis.name),
                auroc: try AUROC.score(scores: basis.maxima(direction: region, texts: task.test.texts), labels: task.test.labels),
                region: region))
        }
        let (trainRows, trainOwners) = activations.stackedRows(task.train.texts)
        let (testRows, testOwners) = activations.stackedRows(task.test.texts)
        let rowLabels = trainOwners.map { task.train.labels[$0] }
        func heldOutAUROC(_ perRow: [Double]) throws -> Double {
            try AUROC.score(scores: TextActivations.maximum(of: perRow, owners: testOwners, groups: task.test.texts.count), labels: task.test.labels)
        }
        let diffMean = try DiffMean(features: trainRows, labels: rowLabels)
        scores.append(ConceptScore(method: .diffMean, auroc: try heldOutAUROC(try diffMean.scores(testRows).map(Double.init))))
        let probe = try LogisticRegression.fit(.dense(trainRows), labels: rowLabels, options: options.probe)
        scores.append(ConceptScore(method: .probe, auroc: try heldOutAUROC(try probe.decisionFunction(.dense(testRows))), convergence: probe.convergence))
        return ConceptOutcome(task: task, scores: scores)
    }
}
