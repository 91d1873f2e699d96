import ArgumentParser
import EPCore
import EPFormats
import EPPipeline
import EPStore
import Foundation

/// `ep coverage`: how much of a corpus falls within a dictionary's regions.
struct Coverage: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Measure how well a dictionary covers corpora: within-θ rate and nearest-distance quantiles, per corpus and per document.",
        discussion: """
            Each --corpus is measured on its own (a row of the table): its text is cut into windows and run through \
            the model as the dictionary's build did, and every extracted activation's distance to its nearest exemplar \
            is recorded. Within-θ rate = share of activations no farther than θ; mean, median, p90 and p99 of the \
            distance (the continuous out-of-distribution score). --random-tokens N adds N windows of uniformly random \
            token ids as a row. --documents K lists the K documents of all corpora that fall farthest outside the \
            dictionary (highest mean distance). In-distribution text should be mostly within θ; random tokens and \
            languages or domains the build corpus lacks, less. The corpus is read and run --batch-windows windows at \
            a time; what is kept grows by 4 bytes an activation (every nearest distance, for the exact quantiles) \
            and one entry a document. A corpus that gives no window is an error saying what was read and what was \
            left out (binary files, pipes and devices in folders, bad JSONL lines, invalid UTF-8, --include/--exclude).
            """)

    @Argument(help: "Dictionary folder (built from text).")
    var dictionary: String

    @OptionGroup var corpus: CorpusArguments

    @OptionGroup var model: DictionaryModelOption

    @Option(parsing: .unconditional, help: "Tokens read from each corpus (0: all).")
    var maxTokens = 100_000

    @Option(parsing: .unconditional, help: "Also measure this many windows of uniformly random token ids (seeded by --seed).")
    var randomTokens = 0

    @Option(parsing: .unconditional, help: "Windows run through the model per batch.")
    var batchWindows = CoverageMeter.defaultBatchWindows

    @Option(parsing: .unconditional, help: "Seed of the random token windows.")
    var seed: UInt64 = 0

    @Option(parsing: .unconditional, help: "Documents listed by how far outside the dictionary they fall.")
    var documents = 10

    @Flag(help: "Print JSON (statistics per corpus and every document's score).")
    var json = false

    @OptionGroup var threading: ThreadOptions

    func validate() throws {
        guard !corpus.paths.isEmpty || randomTokens > 0 else { throw CommandError("give --corpus PATH (repeatable) and/or --random-tokens N") }
        guard maxTokens >= 0, randomTokens >= 0, documents >= 0 else { throw CommandError("--max-tokens, --random-tokens and --documents must be ≥ 0") }
        try requirePositive(batchWindows, flag: "--batch-windows")
    }

    func run() throws {
        let loaded = try DictionaryStore.load(dictionary, reservoir: false, contexts: false)
        let opened = try model.open(for: loaded.manifest, dictionary: dictionary, threads: threading.threads)
        let meter = try CoverageMeter(loaded, model: opened.model, tokenizer: opened.tokenizer)
        var results: [(name: String, statistics: CoverageStatistics)] = []
        var perDocument: [DocumentCoverage] = []
        let options = try corpus.options()
        for path in corpus.paths {
            let (statistics, docs) = try meter.measure(corpus: [path], options: options, maxTokens: maxTokens == 0 ? nil : maxTokens, batchWindows: batchWindows)
            results.append((path, statistics))
            perDocument += docs
            if let read = meter.lastCorpusStatistics, !read.leftOut.isEmpty {
                FileHandle.standardError.write(Data("\(path): \(read.leftOut.joined(separator: "; "))\n".utf8))
            }
        }
        if randomTokens > 0 {
            results.append(("random tokens (\(randomTokens) windows)", try meter.measureRandomTokens(windows: randomTokens, seed: seed)))
        }
        let report = CoverageReport(dictionary: dictionary, threshold: loaded.dictionary.threshold, corpora: results, documents: perDocument)
        if json {
            print(JSONValueEncoder.value(of: report).rendered())
            return
        }
        let m = loaded.manifest
        print("\(dictionary): \(grouped(m.regionCount)) regions, θ = \(fixed(m.threshold, 4))\(m.percentile.map { " (\(percentileLabel($0)))" } ?? ""), \(meter.extraction.hook)")
        var rows = [["corpus", "activations", "within θ", "mean", "median", "p90", "p99"]]
        for (name, s) in report.corpora.entries {
            rows.append([name, grouped(s.count), "\(fixed(100 * s.withinThresholdRate, 1)) %", fixed(s.mean, 4), fixed(s.median, 4), fixed(s.p90, 4), fixed(s.p99, 4)])
        }
        print(alignedColumns(rows, rightAligned: [1, 2, 3, 4, 5, 6]))
        if documents > 0 && !report.documents.isEmpty {
            print("\ndocuments farthest outside the dictionary (mean nearest distance):")
            print(alignedColumns([["document", "activations", "mean distance", "within θ"]] + report.documents.prefix(documents).map {
                [$0.origin, grouped($0.activations), fixed($0.meanDistance, 4), "\(fixed(100 * $0.withinThresholdRate, 1)) %"]
            }, rightAligned: [1, 2, 3]))
        }
    }
}
