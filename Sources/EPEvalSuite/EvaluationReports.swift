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

/// What was evaluated: the dictionary, the model and hook, the data, and the extraction's size and time.
public struct EvaluationContext: Sendable {
    /// The dictionary's folder, the model as named, and the hook.
    public var dictionary: String
    public var model: String
    public var hook: String
    /// Region count K, θ and the calibration percentile.
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
    public var json: JSONValue {
        .object(JSONObject([
            "dictionary": .string(dictionary), "model": .string(model), "hook": .string(hook),
            "n_regions": .integer(Int64(regions)), "threshold": .number(threshold), "percentile": percentile.map { .number($0) } ?? .null,
            "datasets": .array(datasets.map { .string($0) }), "n_tasks": .integer(Int64(tasks)), "n_texts": .integer(Int64(texts)),
            "n_texts_dropped": .integer(Int64(droppedTexts)), "n_tokens": .integer(Int64(tokens)),
            "n_activations": .integer(Int64(activations)), "extraction_seconds": .number(extractionSeconds),
        ]))
    }

    /// One line for the top of a table.
    public var headline: String {
        let p = percentile.map { String(format: " (p%g)", $0) } ?? ""
        return "\(dictionary): \(regions) regions, θ = \(String(format: "%.4f", threshold))\(p), \(model) \(hook); \(tasks) tasks, "
            + "\(texts) texts, \(tokens) tokens, \(activations) activations\(droppedTexts > 0 ? "; \(droppedTexts) texts gave no activation and were left out" : "")"
    }
}

/// Text of a number with `digits` decimals ("–" for NaN).
func decimals(_ x: Double, _ digits: Int) -> String { x.isFinite ? String(format: "%.\(digits)f", x) : "–" }

/// JSON of an optional number.
func number(_ x: Double?) -> JSONValue { x.map { $0.isFinite ? .number($0) : .null } ?? .null }

/// JSON and tables of a ``ConceptDetectionReport``.
///
/// JSON (`format` `ep-eval-concepts`, version 1): `context` (``EvaluationContext/json``), `protocol` (readout, text
/// score, probe C, random seed), `methods` (`id`, `label`, `kind` `ep`/`random`/`baseline`, `basis`, `rule`,
/// `mean_auroc`) and `concepts` (`concept`, `source`, `n_train_positive`, `n_train_negative`, `n_test_positive`,
/// `n_test_negative`, and `scores` keyed by method id: `auroc`, with `region` and `criterion` for EP regions,
/// `region` for random ones, `converged` and `iterations` for the probe).
public enum ConceptReportFormat {
    /// The JSON results' `format` field and the Markdown file's first line, by which ep recognises files it wrote.
    public static let formatName = "ep-eval-concepts"
    public static let markdownTitle = "# Concept detection (AUROC)"

    /// The report as JSON.
    public static func json(_ report: ConceptDetectionReport, context: EvaluationContext, options: ConceptDetection.Options) -> JSONValue {
        .object(JSONObject([
            "format": .string(formatName), "format_version": .integer(1),
            "context": context.json,
            "protocol": .object(JSONObject([
                "readout": .string("cosine of the centered activation with the region's unit direction"),
                "text_score": .string("maximum over the text's positions"),
                "selection_rules": .array(SelectionRule.allCases.map { .string($0.rawValue) }),
                "probe_C": .number(options.probe.inverseRegularization), "random_seed": .integer(Int64(options.seed)),
            ])),
            "methods": .array(report.methods.map { m in
                var o = JSONObject(["id": .string(m.id), "label": .string(m.description)])
                switch m {
                case let .region(basis, rule):
                    o["kind"] = .string("ep"); o["basis"] = .string(basis); o["rule"] = .string(rule.rawValue)
                case let .randomRegion(basis):
                    o["kind"] = .string("random"); o["basis"] = .string(basis)
                case .diffMean, .probe:
                    o["kind"] = .string("baseline")
                }
                o["mean_auroc"] = number(report.meanAUROC(m))
                return .object(o)
            }),
            "concepts": .array(report.concepts.map { c in
                var scores = JSONObject()
                for s in c.scores {
                    var o = JSONObject(["auroc": number(s.auroc)])
                    if let region = s.region { o["region"] = .integer(Int64(region)) }
                    if let criterion = s.criterion { o["criterion"] = number(criterion) }
                    if let convergence = s.convergence {
                        o["converged"] = .bool(convergence.converged); o["iterations"] = .integer(Int64(convergence.iterations))
                    }
                    scores[s.method.id] = .object(o)
                }
                return .object(JSONObject([
                    "concept": .string(c.task.name), "source": .string(c.task.source),
                    "n_train_positive": .integer(Int64(c.task.train.positives)), "n_train_negative": .integer(Int64(c.task.train.negatives)),
                    "n_test_positive": .integer(Int64(c.task.test.positives)), "n_test_negative": .integer(Int64(c.task.test.negatives)),
                    "scores": .object(scores),
                ]))
            }),
        ]))
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

/// JSON and tables of sparse-probing outcomes.
///
/// JSON (`format` `ep-eval-probe`, version 1): `context`, `protocol` (pooling, probe, top-k rule, ks), `tasks`
/// (`task`, `source`, class counts, `feature_sets`: `features` `raw`/`one-hot`/`signed`, `basis` (null for raw),
/// `width`, `accuracy` (all features), `converged`, `top_k`: [{`k`, `accuracy`, `features`}]; `retention` and
/// `top_1_retention` keyed by basis) and `mean` (the same accuracies averaged over tasks).
public enum ProbeReportFormat {
    /// The JSON results' `format` field and the Markdown file's first line, by which ep recognises files it wrote.
    public static let formatName = "ep-eval-probe"
    public static let markdownTitle = "# Sparse probing (accuracy)"

    /// The outcomes as JSON.
    public static func json(_ outcomes: [ProbingOutcome], context: EvaluationContext, options: SparseProbing.Options, bases: [String]) -> JSONValue {
        func set(_ f: FeatureSetAccuracy) -> JSONValue {
            .object(JSONObject([
                "features": .string(f.kind.rawValue), "basis": f.basis.map { .string($0) } ?? .null, "width": .integer(Int64(f.width)),
                "accuracy": number(f.all), "converged": .bool(f.convergence.converged),
                "top_k": .array(f.topK.map { t in
                    .object(JSONObject(["k": .integer(Int64(t.k)), "accuracy": number(t.accuracy), "features": .array(t.features.map { .integer(Int64($0)) })]))
                }),
            ]))
        }
        var mean = JSONObject()
        for (kind, basis) in featureSets(bases) {
            var o = JSONObject(["all": number(average(outcomes) { $0.features(kind, basis: basis)?.all })])
            for k in options.ks { o["top_\(k)"] = number(average(outcomes) { $0.features(kind, basis: basis)?.accuracy(k: k) }) }
            mean[basis.map { "\(kind.rawValue)-\($0)" } ?? kind.rawValue] = .object(o)
        }
        for b in bases {
            mean["retention-\(b)"] = number(average(outcomes) { $0.retention(basis: b) })
            mean["top_1_retention-\(b)"] = number(average(outcomes) { $0.topKRetention(basis: b, k: 1) })
        }
        return .object(JSONObject([
            "format": .string(formatName), "format_version": .integer(1),
            "context": context.json,
            "protocol": .object(JSONObject([
                "pooling": .string("mean over the text's positions"),
                "probe": .string("L2 logistic regression, C = \(options.probe.inverseRegularization), intercept, no standardisation"),
                "top_k_rule": .string("largest |mean(positive) − mean(negative)| on the training texts"),
                "ks": .array(options.ks.map { .integer(Int64($0)) }),
            ])),
            "tasks": .array(outcomes.map { o in
                var retention = JSONObject(), topOne = JSONObject()
                for b in bases {
                    retention[b] = number(o.retention(basis: b))
                    topOne[b] = number(o.topKRetention(basis: b, k: 1))
                }
                return .object(JSONObject([
                    "task": .string(o.task.name), "source": .string(o.task.source),
                    "n_train_positive": .integer(Int64(o.task.train.positives)), "n_train_negative": .integer(Int64(o.task.train.negatives)),
                    "n_test_positive": .integer(Int64(o.task.test.positives)), "n_test_negative": .integer(Int64(o.task.test.negatives)),
                    "feature_sets": .array(o.featureSets.map(set)),
                    "retention": .object(retention), "top_1_retention": .object(topOne),
                ]))
            }),
            "mean": .object(mean),
        ]))
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
