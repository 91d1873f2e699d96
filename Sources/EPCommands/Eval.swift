import ArgumentParser
import EPCore
import EPEvalSuite
import EPEvals
import EPFormats
import EPStore
import Foundation

/// `ep eval`: evaluations of dictionaries against labelled data and against each other.
struct Eval: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "eval",
        abstract: "Evaluate dictionaries: concept detection, sparse probing, saturation, stability across seeds.",
        subcommands: [EvalConcepts.self, EvalProbe.self, EvalSaturation.self, EvalStability.self])
}

/// Where results go, shared by the `ep eval` verbs.
struct ResultOutputs: ParsableArguments {
    @Flag(help: "Print the results as JSON instead of tables.")
    var json = false

    @Option(name: [.short, .customLong("output")], help: "Also write the results as JSON to this file.")
    var output: String?

    @Option(help: "Also write the tables as Markdown to this file.")
    var markdown: String?

    /// Claims the files asked for, before any work: JSON results whose `format` field is `format`, and Markdown
    /// whose first line is `title` (by which ep recognises files it wrote).
    func claim(format: String, title: String, inputs: [String]) throws -> [OutputClaim] {
        var files: [(String, OutputKind)] = []
        if let output { files.append((output, .json("JSON results", format: format))) }
        if let markdown { files.append((markdown, .text("Markdown results", firstLines: [title]))) }
        return try claimOutputs(files, inputs: inputs)
    }

    /// Writes the files claimed (together: both or neither), then prints `json` or `tables`.
    func emit(_ claims: [OutputClaim], json value: JSONValue, markdown text: String, tables: () -> String) throws {
        let transaction = OutputTransaction()
        var next = claims.makeIterator()
        if output != nil { try AtomicOutput.write(string: value.rendered() + "\n", to: transaction.stage(next.next()!)) }
        if markdown != nil { try AtomicOutput.write(string: text, to: transaction.stage(next.next()!)) }
        try transaction.commit()
        print(json ? value.rendered() : tables())
    }
}

/// The labelled data and the dictionary of `ep eval concepts` and `ep eval probe`.
struct LabelledEvaluationArguments: ParsableArguments {
    @Argument(help: "Dictionary folder (built from text).")
    var dictionary: String

    @OptionGroup var model: DictionaryModelOption

    @Option(name: .customLong("data"), help: "Labelled JSONL file (text, label 1/0 or a class, optional split and concept). Repeat for several.")
    var data: [String] = []

    @Option(parsing: .unconditional, help: "Use only the first N concepts of each file, in name order.")
    var conceptsPerFile: Int?

    @Option(parsing: .unconditional, help: "At most N training texts of each class per task (a seeded sample).")
    var maxTrain: Int?

    @Option(parsing: .unconditional, help: "At most N held-out texts of each class per task (a seeded sample).")
    var maxTest: Int?

    @Option(parsing: .unconditional, help: "Held-out fraction for examples without a split (a seeded stratified split).")
    var testFraction = 1.0 / 3

    @Option(parsing: .unconditional, help: "Seed of splits, samples and random regions.")
    var seed: UInt64 = 0

    @Option(name: .customLong("probe-c"), parsing: .unconditional, help: "Inverse L2 regularisation C of the logistic-regression probes (scikit-learn's C).")
    var probeC = 1.0

    @OptionGroup var threading: ThreadOptions

    /// The files and folders read (which no output may touch).
    var inputs: [String] { [dictionary] + data + modelInputs(model.model) }

    func validate() throws {
        guard !data.isEmpty else { throw CommandError("give --data FILE.jsonl (repeatable)") }
        guard probeC > 0, probeC.isFinite else { throw CommandError("--probe-c: expected a positive number, found \(probeC)") }
        for (flag, value) in [("--concepts-per-file", conceptsPerFile), ("--max-train", maxTrain), ("--max-test", maxTest)] {
            if let value, value <= 0 { throw CommandError("\(flag): expected a positive number, found \(value)") }
        }
        guard testFraction > 0, testFraction < 1 else { throw CommandError("--test-fraction: expected a number strictly between 0 and 1, found \(testFraction)") }
    }

    /// Loads the dictionary, the model and the data, and runs the texts through the model once.
    func evaluate() throws -> (LoadedDictionary, String, DictionaryEvaluation) {
        let loaded = try DictionaryStore.load(dictionary, reservoir: false, contexts: false)
        var limits = EvaluationData.Limits()
        limits.conceptsPerFile = conceptsPerFile
        limits.trainPerClass = maxTrain
        limits.testPerClass = maxTest
        limits.testFraction = testFraction
        limits.seed = seed
        let datasets = try data.map { try LabelledDataset(contentsOf: $0) }
        let evaluationData = try EvaluationData(datasets: datasets, limits: limits)
        for line in evaluationData.leftOut { note(line) }
        let opened = try model.open(for: loaded.manifest, dictionary: dictionary, threads: threading.threads)
        let reader = try TextActivationReader(loaded, model: opened.model, tokenizer: opened.tokenizer)
        let progress = ProgressLine()
        reader.onProgress = { done, total in progress.update("extracting: \(grouped(done))/\(grouped(total)) texts") }
        let evaluation = try DictionaryEvaluation(evaluationData, reader: reader)
        progress.finish()
        return (loaded, opened.name, evaluation)
    }

    /// Probe settings from the flags.
    var probeOptions: LogisticRegression.Options { LogisticRegression.Options(inverseRegularization: probeC) }
}

/// `ep eval concepts`: AxBench-style concept detection.
struct EvalConcepts: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "concepts",
        abstract: "Concept detection (AxBench style): per concept, choose a region on the training texts and score held-out texts; mean AUROC against baselines.",
        discussion: """
            The texts of every --data file are run through the model once, as the dictionary's build extracted \
            activations (hook, window, BOS, position 0), and every detector reads those activations and the same \
            splits. A file whose rows name a concept gives one task per concept (label 1: shows it, 0: does not); a \
            file without concepts is one task. Labels other than 1/0 (class names or numbers) make one-vs-rest tasks, \
            one per class, named label=CLASS (docs/eval.md). Detectors: EP regions over the exemplar and the mean directions, each \
            chosen by the token-mean cosine contrast (AxBench's EP rule) and by the training AUROC of the \
            max-over-positions score (SAE-A's rule); a random region per basis; DiffMean and an L2 logistic-regression \
            probe on raw activations, both fitted on positions that inherit their text's label. Every detector scores \
            a text by the maximum over its positions of its per-position score (for regions: the cosine of the \
            centered activation with the region's unit direction). Prints the mean AUROC per detector and the AUROC \
            per concept.
            """)

    @OptionGroup var arguments: LabelledEvaluationArguments
    @OptionGroup var outputs: ResultOutputs

    func run() throws {
        let claims = try outputs.claim(format: ConceptReportFormat.formatName, title: ConceptReportFormat.markdownTitle, inputs: arguments.inputs)
        let (loaded, model, evaluation) = try arguments.evaluate()
        var options = ConceptDetection.Options()
        options.probe = arguments.probeOptions
        options.seed = arguments.seed
        let progress = ProgressLine()
        let total = evaluation.data.tasks.count
        let report = try evaluation.concepts(options: options) { done in progress.update("concepts: \(done)/\(total)") }
        progress.finish()
        let context = EvaluationContext(loaded, model: model, datasets: arguments.data, evaluation: evaluation)
        try outputs.emit(
            claims, json: ConceptReportFormat.json(report, context: context, options: options),
            markdown: ConceptReportFormat.markdown(report, context: context)) {
                let summary = ConceptReportFormat.summary(report), perConcept = ConceptReportFormat.perConcept(report)
                return [context.headline, "", alignedColumns([summary.header] + summary.rows, rightAligned: [1, 2, 3, 4]), "",
                        alignedColumns([perConcept.header] + perConcept.rows, rightAligned: Set(2..<perConcept.header.count))].joined(separator: "\n")
            }
    }
}

/// `ep eval probe`: SAEBench-style sparse probing.
struct EvalProbe: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "probe",
        abstract: "Sparse probing (SAEBench style): probe accuracy on raw activations, one-hot regions and top-k signed readouts; retention ratio.",
        discussion: """
            Each text's features are the mean over its positions of: the raw activation (D), the one-hot region \
            readout (K: the share of its positions nearest, by cosine, to each region's direction; ℓ₀ = 1 at every \
            position), and the signed readout (x − c)·b of every region (K). An L2 logistic-regression probe \
            (scikit-learn's objective, C = --probe-c) is fitted on the training texts with all features and with the \
            top k (--k) features by class-mean difference, and scored on the held-out texts. Retention = one-hot \
            accuracy / raw accuracy. One table per basis (exemplar, mean directions). Tasks come from the --data files \
            as for ep eval concepts: 1/0 labels make one binary task per file or concept, other labels one \
            one-vs-rest task per class, named label=CLASS (docs/eval.md).
            """)

    @OptionGroup var arguments: LabelledEvaluationArguments
    @OptionGroup var outputs: ResultOutputs

    @Option(parsing: .unconditional, help: "Numbers of features kept by the top-k probes (comma-separated).")
    var k = CommaSeparated<Int>(argument: "1,2,5")

    /// The numbers of features of --k.
    func ks() throws -> [Int] { try k.values("--k", expected: "positive integers separated by commas", where: { $0 > 0 }) }

    func validate() throws { _ = try ks() }

    func run() throws {
        let ks = try ks()
        let claims = try outputs.claim(format: ProbeReportFormat.formatName, title: ProbeReportFormat.markdownTitle, inputs: arguments.inputs)
        let (loaded, model, evaluation) = try arguments.evaluate()
        var options = SparseProbing.Options()
        options.ks = ks
        options.probe = arguments.probeOptions
        let progress = ProgressLine()
        let total = evaluation.data.tasks.count
        let outcomes = try evaluation.probes(options: options) { done in progress.update("probing: \(done)/\(total) tasks") }
        progress.finish()
        let context = EvaluationContext(loaded, model: model, datasets: arguments.data, evaluation: evaluation)
        let bases = evaluation.bases.map(\.name)
        try outputs.emit(
            claims, json: ProbeReportFormat.json(outcomes, context: context, options: options, bases: bases),
            markdown: ProbeReportFormat.markdown(outcomes, context: context, bases: bases, ks: ks)) {
                var lines = [context.headline]
                for b in bases {
                    let table = ProbeReportFormat.table(outcomes, basis: b, ks: ks)
                    lines += ["", "\(b) directions:", alignedColumns([table.header] + table.rows, rightAligned: Set(1..<table.header.count))]
                }
                return lines.joined(separator: "\n")
            }
    }
}
