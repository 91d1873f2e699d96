import EPCore
import EPEvals
import EPFormats
import EPStore
import Foundation

/// A table of text cells with a header row, rendered as Markdown (for files and the README) or kept as rows (for
/// aligned terminal columns).
public struct ResultTable: Sendable, Equatable {
    /// Column titles.
    public var header: [String]
    /// Body rows, each as long as the header.
    public var rows: [[String]]

    public init(header: [String], rows: [[String]]) {
        self.header = header
        self.rows = rows
    }

    /// GitHub-flavoured Markdown; columns after the first are right-aligned (they hold numbers).
    public var markdown: String {
        func line(_ cells: [String]) -> String { "| " + cells.map { $0.replacingOccurrences(of: "|", with: "\\|") }.joined(separator: " | ") + " |" }
        let rule = "|" + header.indices.map { $0 == 0 ? "---|" : "---:|" }.joined()
        return ([line(header), rule] + rows.map(line)).joined(separator: "\n")
    }
}

/// What was evaluated: the dictionary, the model and hook, the data, and the extraction's size and time; the
/// `context` object of the `ep eval concepts` and `ep eval probe` JSON.
public struct EvaluationContext: Sendable, Encodable {
    /// The dictionary's folder, the model as named, and the hook.
    public var dictionary: String
    public var model: String
    public var hook: String
    /// Region count K, θ and the calibration percentile (null for a dictionary built with a given θ).
    public var regions: Int
    public var threshold: Double
    public var percentile: Double?
    /// The dataset files, the tasks drawn from them, and the distinct texts evaluated.
    public var datasets: [String]
    public var tasks: Int
    public var texts: Int
    /// Texts left out because they gave no activation.
    public var droppedTexts: Int
    /// Tokens run through the model and activations kept.
    public var tokens: Int
    public var activations: Int
    /// Seconds spent extracting the activations and reading them against the bases.
    public var extractionSeconds: Double

    enum CodingKeys: String, CodingKey {
        case dictionary, model, hook, regions = "n_regions", threshold, percentile, datasets, tasks = "n_tasks", texts = "n_texts"
        case droppedTexts = "n_texts_dropped", tokens = "n_tokens", activations = "n_activations", extractionSeconds = "extraction_seconds"
    }

    /// The context of `evaluation` of the dictionary `loaded` (read with model `model`) on `datasets`.
    public init(_ loaded: LoadedDictionary, model: String, datasets: [String], evaluation: DictionaryEvaluation) {
        dictionary = loaded.path
        self.model = model
        hook = loaded.manifest.build.source?.hook ?? "?"
        regions = loaded.dictionary.regionCount
        threshold = loaded.dictionary.threshold
        percentile = loaded.manifest.percentile
        self.datasets = datasets
        tasks = evaluation.data.tasks.count
        texts = evaluation.data.texts.count
        droppedTexts = evaluation.droppedTexts
        tokens = evaluation.tokens
        activations = evaluation.activations.rows.rows
        extractionSeconds = evaluation.extractionSeconds + evaluation.readoutSeconds
    }

    /// The context as JSON.
    public var json: JSONValue { JSONValueEncoder.value(of: self) }

    /// One line for the top of a table.
    public var headline: String {
        let p = percentile.map { String(format: " (p%g)", $0) } ?? ""
        return "\(dictionary): \(regions) regions, θ = \(String(format: "%.4f", threshold))\(p), \(model) \(hook); \(tasks) tasks, "
            + "\(texts) texts, \(tokens) tokens, \(activations) activations\(droppedTexts > 0 ? "; \(droppedTexts) texts gave no activation and were left out" : "")"
    }
}

/// Text of a number with `digits` decimals ("–" for NaN).
func decimals(_ x: Double, _ digits: Int) -> String { x.isFinite ? String(format: "%.\(digits)f", x) : "–" }

/// The JSON results of `ep eval concepts` (`format` `ep-eval-concepts`, version 1, written by
/// ``ConceptReportFormat/json(_:context:options:)``). Numbers that are NaN (an AUROC without both classes) are
/// written as null.
public struct ConceptReportRecord: Encodable {
    /// What was evaluated.
    public var context: EvaluationContext
    /// How texts are scored and regions chosen (`protocol`).
    public var scoring: Scoring
    /// The detectors, in table order.
    public var methods: [Method]
    /// One entry per concept, in task order.
    public var concepts: [Concept]

    enum CodingKeys: String, CodingKey {
        case context, scoring = "protocol", methods, concepts
    }

    /// How texts are scored and regions chosen.
    public struct Scoring: Encodable {
        /// The per-position score of a region.
        public var readout = "cosine of the centered activation with the region's unit direction"
        /// How a text's score comes from its positions' scores.
        public var textScore = "maximum over the text's positions"
        /// The rules by which EP regions are chosen on the training texts.
        public var selectionRules = SelectionRule.allCases.map(\.rawValue)
        /// The probe's inverse regularization C.
        public var probeC: Double
        /// Seed of the random regions.
        public var randomSeed: UInt64

        enum CodingKeys: String, CodingKey {
            case readout, textScore = "text_score", selectionRules = "selection_rules", probeC = "probe_C", randomSeed = "random_seed"
        }
    }

    /// One detector.
    public struct Method: Encodable {
        /// Its identifier (``ConceptMethod/id``, the key of its scores) and its label for tables.
        public var id: String
        public var label: String
        /// `ep` (an EP region chosen by a rule), `random` (a random region) or `baseline` (DiffMean, the probe).
        public var kind: String
        /// The basis of region detectors (left out for baselines).
        public var basis: String?
        /// The selection rule of EP regions (left out for the others).
        public var rule: String?
        /// Its mean AUROC over the concepts.
        public var meanAUROC: Double

        enum CodingKeys: String, CodingKey {
            case id, label, kind, basis, rule, meanAUROC = "mean_auroc"
        }

        public func encode(to encoder: Encoder) throws {
            var c = encoder.container(keyedBy: CodingKeys.self)
            try c.encode(id, forKey: .id)
            try c.encode(label, forKey: .label)
            try c.encode(kind, forKey: .kind)
            if let basis { try c.encode(basis, forKey: .basis) }
            if let rule { try c.encode(rule, forKey: .rule) }
            try c.encode(meanAUROC, forKey: .meanAUROC)
        }
    }

    /// One concept: its task's class counts and every detector's score on it.
    public struct Concept: Encodable {
        /// The concept's name and the file it came from.
        public var concept: String
        public var source: String
        /// Training and held-out texts per class.
        public var trainPositives: Int
        public var trainNegatives: Int
        public var testPositives: Int
        public var testNegatives: Int
        /// Scores keyed by method id, in method order.
        var scores: JSONOrderedObject<Score>

        enum CodingKeys: String, CodingKey {
            case concept, source, trainPositives = "n_train_positive", trainNegatives = "n_train_negative"
            case testPositives = "n_test_positive", testNegatives = "n_test_negative", scores
        }
    }

    /// One detector's result on one concept; the fields after `auroc` are written only for the detectors that have them.
    public struct Score: Encodable {
        /// AUROC on the held-out texts.
        public var auroc: Double
        /// The region used (EP and random regions).
        public var region: Int?
        /// The selection criterion of the region on the training texts (EP regions).
        public var criterion: Double?
        /// Whether the probe's solver converged, and its iterations (the probe).
        public var converged: Bool?
        public var iterations: Int?

        enum CodingKeys: String, CodingKey {
            case auroc, region, criterion, converged, iterations
        }

        public func encode(to encoder: Encoder) throws {
            var c = encoder.container(keyedBy: CodingKeys.self)
            try c.encode(auroc, forKey: .auroc)
            if let region { try c.encode(region, forKey: .region) }
            if let criterion { try c.encode(criterion, forKey: .criterion) }
            if let converged { try c.encode(converged, forKey: .converged) }
            if let iterations { try c.encode(iterations, forKey: .iterations) }
        }
    }

    /// The record of `report` in `context`, run with `options`.
    public init(_ report: ConceptDetectionReport, context: EvaluationContext, options: ConceptDetection.Options) {
        self.context = context
        scoring = Scoring(probeC: options.probe.inverseRegularization, randomSeed: options.seed)
        methods = report.methods.map { m in
            var method = Method(id: m.id, label: m.description, kind: "baseline", meanAUROC: report.meanAUROC(m))
            switch m {
            case let .region(basis, rule): (method.kind, method.basis, method.rule) = ("ep", basis, rule.rawValue)
            case let .randomRegion(basis): (method.kind, method.basis) = ("random", basis)
            case .diffMean, .probe: break
            }
            return method
        }
        concepts = report.concepts.map { c in
            Concept(
                concept: c.task.name, source: c.task.source,
                trainPositives: c.task.train.positives, trainNegatives: c.task.train.negatives,
                testPositives: c.task.test.positives, testNegatives: c.task.test.negatives,
                scores: JSONOrderedObject(c.scores.map { s in
                    (s.method.id, Score(auroc: s.auroc, region: s.region, criterion: s.criterion,
                                        converged: s.convergence?.converged, iterations: s.convergence?.iterations))
                }))
        }
    }
}

/// JSON and tables of a ``ConceptDetectionReport``; the JSON is a ``ConceptReportRecord``.
public enum ConceptReportFormat {
    /// The JSON results' `format` field and the Markdown file's first line, by which ep recognises files it wrote.
    public static let formatName = "ep-eval-concepts"
    public static let markdownTitle = "# Concept detection (AUROC)"

    /// The report as JSON: `format`, `format_version` 1, then the ``ConceptReportRecord``.
    public static func json(_ report: ConceptDetectionReport, context: EvaluationContext, options: ConceptDetection.Options) -> JSONValue {
        JSONValueEncoder.value(of: JSONRecordFile(format: formatName, version: 1, record: ConceptReportRecord(report, context: context, options: options)))
    }

    /// Mean AUROC per detector, with the number of concepts on which it beats or ties each baseline.
    public static func summary(_ report: ConceptDetectionReport) -> ResultTable {
        let sources = Set(report.concepts.map(\.task.source)).count
        return ResultTable(
            header: ["detector", "mean AUROC", "median", "min", "concepts (\(sources) source\(sources == 1 ? "" : "s"))"],
            rows: report.methods.map { m in
                let values = report.concepts.compactMap { $0.score(m)?.auroc }.sorted()
                return [m.description, decimals(report.meanAUROC(m), 3), decimals(Percentile.ofSorted(values, fraction: 0.5), 3),
                        decimals(values.first ?? .nan, 3), String(values.count)]
            })
    }

    /// AUROC of every detector on every concept.
    public static func perConcept(_ report: ConceptDetectionReport) -> ResultTable {
        ResultTable(
            header: ["concept", "source", "test +/−"] + report.methods.map(shortLabel),
            rows: report.concepts.map { c in
                [c.task.name, sourceName(c.task.source), "\(c.task.test.positives)/\(c.task.test.negatives)"]
                    + report.methods.map { m in c.score(m).map { decimals($0.auroc, 3) } ?? "–" }
            })
    }

    /// The Markdown file: the headline, the summary and the per-concept table.
    public static func markdown(_ report: ConceptDetectionReport, context: EvaluationContext) -> String {
        """
        \(markdownTitle)

        \(context.headline)

        Score of a text: the maximum over its positions of the detector's per-position score (EP regions and random \
        regions: the cosine of the centered activation with the region's unit direction). Regions are chosen on the \
        training texts; AUROC on the held-out texts.

        \(summary(report).markdown)

        \(perConcept(report).markdown)

        """
    }

    /// A column title for a method.
    static func shortLabel(_ m: ConceptMethod) -> String {
        switch m {
        case let .region(basis, rule): return "EP \(basis) \(rule == .contrast ? "contrast" : "max-AUROC")"
        case let .randomRegion(basis): return "random \(basis)"
        case .diffMean: return "DiffMean"
        case .probe: return "probe"
        }
    }
}

/// The file name of a dataset path, without `.jsonl`.
func sourceName(_ path: String) -> String {
    let name = String(path.split(separator: "/").last ?? Substring(path))
    return name.hasSuffix(".jsonl") ? String(name.dropLast(6)) : name
}

/// The JSON results of `ep eval probe` (`format` `ep-eval-probe`, version 1, written by
/// ``ProbeReportFormat/json(_:context:options:bases:)``). Accuracies and ratios that are undefined are written as null.
public struct ProbeReportRecord: Encodable {
    /// What was evaluated.
    public var context: EvaluationContext
    /// How texts become features and probes are fitted (`protocol`).
    public var probing: Probing
    /// One entry per task, in task order.
    public var tasks: [TaskResult]
    /// The accuracies averaged over the tasks (the tasks where they are defined): per feature set (`raw`,
    /// `one-hot-BASIS`, `signed-BASIS`) an object of `all` and `top_K` per k, then per basis `retention-BASIS` and
    /// `top_1_retention-BASIS`.
    var mean: JSONOrderedObject<Mean>

    enum CodingKeys: String, CodingKey {
        case context, probing = "protocol", tasks, mean
    }

    /// How texts become features and probes are fitted.
    public struct Probing: Encodable {
        /// How a text's positions are pooled.
        public var pooling = "mean over the text's positions"
        /// The probe and its settings.
        public var probe: String
        /// How the top k features are chosen, and the ks.
        public var topKRule = "largest |mean(positive) − mean(negative)| on the training texts"
        public var ks: [Int]

        enum CodingKeys: String, CodingKey {
            case pooling, probe, topKRule = "top_k_rule", ks
        }
    }

    /// One task: its class counts, every feature set's accuracies and the retention ratios.
    public struct TaskResult: Encodable {
        /// The task's name and the file it came from.
        public var task: String
        public var source: String
        /// Training and held-out texts per class.
        public var trainPositives: Int
        public var trainNegatives: Int
        public var testPositives: Int
        public var testNegatives: Int
        /// Raw activations, then per basis its one-hot and signed readouts.
        public var featureSets: [FeatureSet]
        /// One-hot accuracy over raw accuracy (all features, and the top 1), keyed by basis.
        var retention: JSONOrderedObject<Double?>
        var topOneRetention: JSONOrderedObject<Double?>

        enum CodingKeys: String, CodingKey {
            case task, source, trainPositives = "n_train_positive", trainNegatives = "n_train_negative"
            case testPositives = "n_test_positive", testNegatives = "n_test_negative", featureSets = "feature_sets"
            case retention, topOneRetention = "top_1_retention"
        }
    }

    /// The probes on one feature set of one task.
    public struct FeatureSet: Encodable {
        /// Which features (`raw`, `one-hot`, `signed`) and their basis (null for raw activations).
        public var features: String
        public var basis: String?
        /// Number of features.
        public var width: Int
        /// Held-out accuracy with all features, and whether that probe's solver converged.
        public var accuracy: Double
        public var converged: Bool
        /// The top-k probes, one per k.
        public var topK: [TopK]

        enum CodingKeys: String, CodingKey {
            case features, basis, width, accuracy, converged, topK = "top_k"
        }
    }

    /// A probe on the k features chosen on the training texts.
    public struct TopK: Encodable {
        /// k, the held-out accuracy, and the features kept (largest class-mean difference first).
        public var k: Int
        public var accuracy: Double
        public var features: [Int]

        enum CodingKeys: String, CodingKey {
            case k, accuracy, features
        }
    }

    /// An entry of `mean`: a feature set's accuracies (`all`, then `top_K` per k) or a ratio.
    enum Mean: Encodable {
        case accuracies(JSONOrderedObject<Double?>)
        case ratio(Double?)

        func encode(to encoder: Encoder) throws {
            var c = encoder.singleValueContainer()
            switch self {
            case .accuracies(let fields): try c.encode(fields)
            case .ratio(let value): try c.encode(value)
            }
        }
    }

    /// The record of `outcomes` in `context`, probed with `options` on the bases named `bases`.
    public init(_ outcomes: [ProbingOutcome], context: EvaluationContext, options: SparseProbing.Options, bases: [String]) {
        self.context = context
        probing = Probing(
            probe: "L2 logistic regression, C = \(options.probe.inverseRegularization), intercept, no standardisation", ks: options.ks)
        tasks = outcomes.map { o in
            TaskResult(
                task: o.task.name, source: o.task.source,
                trainPositives: o.task.train.positives, trainNegatives: o.task.train.negatives,
                testPositives: o.task.test.positives, testNegatives: o.task.test.negatives,
                featureSets: o.featureSets.map { f in
                    FeatureSet(
                        features: f.kind.rawValue, basis: f.basis, width: f.width, accuracy: f.all, converged: f.convergence.converged,
                        topK: f.topK.map { TopK(k: $0.k, accuracy: $0.accuracy, features: $0.features) })
                },
                retention: JSONOrderedObject(bases.map { ($0, o.retention(basis: $0)) }),
                topOneRetention: JSONOrderedObject(bases.map { ($0, o.topKRetention(basis: $0, k: 1)) }))
        }
        var mean: [(String, Mean)] = ProbeReportFormat.featureSets(bases).map { kind, basis in
            let all = ProbeReportFormat.average(outcomes) { $0.features(kind, basis: basis)?.all }
            let topK = options.ks.map { k in ("top_\(k)", ProbeReportFormat.average(outcomes) { $0.features(kind, basis: basis)?.accuracy(k: k) }) }
            return (basis.map { "\(kind.rawValue)-\($0)" } ?? kind.rawValue, .accuracies(JSONOrderedObject([("all", all)] + topK)))
        }
        for b in bases {
            mean.append(("retention-\(b)", .ratio(ProbeReportFormat.average(outcomes) { $0.retention(basis: b) })))
            mean.append(("top_1_retention-\(b)", .ratio(ProbeReportFormat.average(outcomes) { $0.topKRetention(basis: b, k: 1) })))
        }
        self.mean = JSONOrderedObject(mean)
    }
}

/// JSON and tables of sparse-probing outcomes; the JSON is a ``ProbeReportRecord``.
public enum ProbeReportFormat {
    /// The JSON results' `format` field and the Markdown file's first line, by which ep recognises files it wrote.
    public static let formatName = "ep-eval-probe"
    public static let markdownTitle = "# Sparse probing (accuracy)"

    /// The outcomes as JSON: `format`, `format_version` 1, then the ``ProbeReportRecord``.
    public static func json(_ outcomes: [ProbingOutcome], context: EvaluationContext, options: SparseProbing.Options, bases: [String]) -> JSONValue {
        JSONValueEncoder.value(of: JSONRecordFile(
            format: formatName, version: 1, record: ProbeReportRecord(outcomes, context: context, options: options, bases: bases)))
    }

    /// One table per basis: raw, one-hot and signed accuracies per task, the retention ratios, and the mean row.
    public static func table(_ outcomes: [ProbingOutcome], basis: String, ks: [Int]) -> ResultTable {
        let firstK = ks.first ?? 1
        var header = ["task", "test", "raw (D)", "raw top-\(firstK)", "one-hot (K)", "one-hot top-\(firstK)", "retention", "top-\(firstK) retention"]
        header += ks.map { "signed top-\($0)" } + ["signed (K)"]
        func row(_ name: String, _ test: String, _ group: [ProbingOutcome]) -> [String] {
            func cell(_ f: (ProbingOutcome) -> Double?) -> String { decimals(average(group, f) ?? .nan, 3) }
            var cells = [name, test,
                         cell { $0.features(.raw)?.all }, cell { $0.features(.raw)?.accuracy(k: firstK) },
                         cell { $0.features(.oneHot, basis: basis)?.all }, cell { $0.features(.oneHot, basis: basis)?.accuracy(k: firstK) },
                         cell { $0.retention(basis: basis) }, cell { $0.topKRetention(basis: basis, k: firstK) }]
            cells += ks.map { k in cell { $0.features(.signed, basis: basis)?.accuracy(k: k) } }
            cells.append(cell { $0.features(.signed, basis: basis)?.all })
            return cells
        }
        var rows = outcomes.map { o in row(o.task.name, String(o.task.test.texts.count), [o]) }
        if outcomes.count > 1 { rows.append(row("mean", "", outcomes)) }
        return ResultTable(header: header, rows: rows)
    }

    /// The Markdown file: the headline and one table per basis.
    public static func markdown(_ outcomes: [ProbingOutcome], context: EvaluationContext, bases: [String], ks: [Int]) -> String {
        var text = """
            \(markdownTitle)

            \(context.headline)

            Features of a text: the mean over its positions of the raw activation (D), of the one-hot region readout \
            (K; ℓ₀ = 1 at every position), or of the signed readout (x − c)·b (K). L2 logistic regression (C = 1); \
            top-k: the k features with the largest class-mean difference on the training texts. Retention: one-hot \
            accuracy over raw accuracy.

            """
        for b in bases {
            text += "\n## \(b) directions\n\n\(table(outcomes, basis: b, ks: ks).markdown)\n"
        }
        return text
    }

    /// Raw, then per basis one-hot and signed.
    static func featureSets(_ bases: [String]) -> [(ProbeFeatureKind, String?)] {
        [(.raw, nil)] + bases.flatMap { [(ProbeFeatureKind.oneHot, Optional($0)), (.signed, Optional($0))] }
    }

    /// The mean of the defined values of `f` over `outcomes` (nil when none is).
    static func average(_ outcomes: [ProbingOutcome], _ f: (ProbingOutcome) -> Double?) -> Double? {
        let values = outcomes.compactMap(f)
        return values.isEmpty ? nil : values.reduce(0, +) / Double(values.count)
    }
}
