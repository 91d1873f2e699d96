import ArgumentParser
import EPCore
import EPEvalSuite
import EPEvals
import EPFormats
import EPPipeline
import EPStore
import Foundation

/// `ep eval saturation`: growth of the region count against tokens, per build or per domain.
struct EvalSaturation: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "saturation",
        abstract: "Saturation curves: regions K against tokens read, from dictionaries' build logs and/or fresh per-domain streams with a shared calibration.",
        discussion: """
            Each DICT gives the curve its build recorded (build_log.json). Each --domain corpus (LABEL=PATH, or PATH \
            labelled by its file name) is streamed into a new dictionary under --builds FOLDER with the calibration \
            (center and θ), hook, extraction, window and BOS of --calibration-from DICT, so every domain's curve shares \
            one θ (docs/eval.md). Reported per curve: tokens read, final K, K at a quarter and half of the tokens, the \
            late new-region rate (new regions per activation over the last quarter), the growth exponent b of \
            K ∝ N^b over the second half (0: saturated), and whether the build stopped at saturation.
            """)

    @Argument(help: "Dictionaries whose build logs to read.")
    var dictionaries: [String] = []

    @Option(name: .customLong("domain"), help: "A domain corpus to stream: LABEL=PATH or PATH (repeatable).")
    var domains: [String] = []

    @Option(help: "With --domain: the dictionary whose calibration, hook and extraction every domain build shares.")
    var calibrationFrom: String?

    @Option(help: "With --domain: folder for the domain dictionaries (one sub-folder per label, replaced if present).")
    var builds: String?

    @Option(help: "Model for the domain builds (default: the one --calibration-from records; its SHA-256 must match).")
    var model: String?

    @Option(parsing: .unconditional, help: "Tokens per domain.")
    var maxTokens = 50_000

    @Option(parsing: .unconditional, help: "Windows per build batch (one curve point per batch).")
    var batchWindows = 32

    @Option(parsing: .unconditional, help: "Stop a domain after this many batches without a new region (1, the reference's rule; 0: read --max-tokens).")
    var saturationWindow = 1

    @Option(parsing: .unconditional, help: "Seed of the domain streams' window shuffle.")
    var seed: UInt64 = 0

    @OptionGroup var threading: ThreadOptions

    @OptionGroup var outputs: ResultOutputs

    func validate() throws {
        guard !dictionaries.isEmpty || !domains.isEmpty else { throw CommandError("give dictionaries (DICT...) and/or --domain corpora") }
        if !domains.isEmpty {
            guard calibrationFrom != nil else { throw CommandError("--domain needs --calibration-from DICT (the shared calibration, hook and extraction)") }
            guard builds != nil else { throw CommandError("--domain needs --builds FOLDER for the domain dictionaries") }
            guard maxTokens > 0 else { throw CommandError("--max-tokens: expected a positive number, found \(maxTokens)") }
            guard batchWindows > 0 else { throw CommandError("--batch-windows: expected a positive number, found \(batchWindows)") }
            guard saturationWindow >= 0 else { throw CommandError("--saturation-window: expected a number ≥ 0, found \(saturationWindow)") }
        }
    }

    func run() throws {
        let domainPaths = domains.map { spec in spec.firstIndex(of: "=").map { String(spec[spec.index(after: $0)...]) } ?? spec }
        let inputs = dictionaries + domainPaths + [calibrationFrom].compactMap { $0 } + modelInputs(model)
        let claims = try outputs.claim(format: SaturationReportFormat.formatName, title: SaturationReportFormat.markdownTitle, inputs: inputs)
        if let builds, !domains.isEmpty { try claimOutput(builds, DictionaryStore.collectionKind, inputs: inputs) }
        var curves = try dictionaries.map { path -> SaturationCurve in
            let loaded = try DictionaryStore.load(path, reservoir: false, contexts: false)
            guard let log = loaded.buildLog else { throw CommandError("\(path): has no build_log.json (only builds from text record one)") }
            return SaturationCurve(label: path, threshold: loaded.dictionary.threshold, log: log, saturated: loaded.manifest.build.saturated)
        }
        if !domains.isEmpty {
            // validate() saw both.
            let calibrationFrom = calibrationFrom!, builds = builds!
            let list = try domains.map { spec -> (label: String, corpus: String) in
                if let equals = spec.firstIndex(of: "="), equals != spec.startIndex {
                    return (String(spec[..<equals]), String(spec[spec.index(after: equals)...]))
                }
                let name = URL(fileURLWithPath: spec).deletingPathExtension().lastPathComponent
                guard !name.isEmpty else { throw CommandError("--domain \(spec): give LABEL=PATH") }
                return (name, spec)
            }
            let reference = try DictionaryStore.load(calibrationFrom, reservoir: false, contexts: false)
            let opened = try OpenedModel(for: reference.manifest, dictionary: calibrationFrom, model: model, threads: threading.threads)
            var streams = SaturationStreams(reference: reference, modelName: opened.name, model: opened.model, modelPath: opened.path, tokenizer: opened.tokenizer)
            let progress = ProgressLine()
            streams.onProgress = { label, p in
                progress.update("\(label): \(grouped(p.tokens)) tokens, \(grouped(p.dictionaries.first?.regions ?? 0)) regions")
            }
            var settings = SaturationStreams.Settings()
            settings.maxTokens = maxTokens
            settings.batchWindows = batchWindows
            settings.saturationWindow = saturationWindow
            settings.seed = seed
            curves += try streams.run(domains: list, settings: settings, output: builds)
            progress.finish()
        }
        let table = SaturationReportFormat.table(curves)
        try outputs.emit(claims, json: SaturationReportFormat.json(curves), markdown: "\(SaturationReportFormat.markdownTitle)\n\n\(table.markdown)\n") {
            alignedColumns([table.header] + table.rows, rightAligned: Set(1..<table.header.count))
        }
    }
}

/// `ep eval stability`: how much of a dictionary another seed reproduces.
struct EvalStability: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "stability",
        abstract: "Stability across seeds: share of regions matched one to one within θ, matched cosines, and per-region stability against size·coherence².",
        discussion: """
            For every pair of dictionaries (built with different seeds or stream orders, at one width), the exact \
            one-to-one matching of their regions on --basis directions: the share of each side's regions whose partner \
            lies within its θ, the share with cosine ≥ --cutoff, and the median and 10th percentile of the matched \
            pairs' cosines between mean directions and between exemplars (docs/eval.md). Per region, its stability is \
            its mean matched cosine over the other dictionaries; its Spearman and Pearson correlations with \
            log10(members·coherence²), log10(members) and coherence, and its mean by quintile of log10(members·coherence²), \
            are printed (docs/eval.md).
            """)

    @Argument(help: "Dictionaries (at least two, of one width).")
    var dictionaries: [String]

    @Option(help: "Directions the matching maximises the cosine of: mean (the reference's default) or exemplar.")
    var basis: DirectionBasis = .mean

    @Option(parsing: .unconditional, help: "Cosine counted as a persisted match.")
    var cutoff = 0.7

    @OptionGroup var outputs: ResultOutputs

    func validate() throws {
        guard dictionaries.count >= 2 else { throw CommandError("give at least two dictionaries to compare") }
        guard cutoff >= -1, cutoff <= 1 else { throw CommandError("--cutoff: expected a cosine in [-1, 1], found \(cutoff)") }
    }

    func run() throws {
        let claims = try outputs.claim(format: StabilityReportFormat.formatName, title: StabilityReportFormat.markdownTitle, inputs: dictionaries)
        let loaded = try dictionaries.map { try DictionaryStore.load($0, reservoir: false, contexts: false) }
        for (path, d) in zip(dictionaries, loaded) where d.dictionary.width != loaded[0].dictionary.width {
            throw CommandError("\(path) has width \(d.dictionary.width) but \(dictionaries[0]) has \(loaded[0].dictionary.width): directions of different widths cannot be matched")
        }
        let analysis = try StabilityAnalysis(loaded.map(\.dictionary), basis: basis, cutoff: cutoff)
        let tables = StabilityReportFormat.tables(analysis, names: dictionaries)
        try outputs.emit(
            claims, json: StabilityReportFormat.json(analysis, names: dictionaries),
            markdown: StabilityReportFormat.markdownTitle + "\n\n" + tables.map(\.markdown).joined(separator: "\n\n") + "\n") {
                var lines = ["\(dictionaries.count) dictionaries, matched on \(basis.rawValue) directions; mean share of regions matched within θ: \(fixed(100 * analysis.meanShareWithinThreshold, 1)) %"]
                for table in tables {
                    lines += ["", alignedColumns([table.header] + table.rows, rightAligned: Set(1..<table.header.count))]
                }
                return lines.joined(separator: "\n")
            }
    }
}
