import ArgumentParser
import EPCore
import EPFormats
import EPPipeline
import EPReport
import EPStore
import Foundation

/// `ep report`: the dictionary browser, a static HTML site that opens from `file://`.
struct Report: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Write a dictionary browser: a static HTML site (regions table, charts, 3-D map, a page per region).",
        discussion: """
            The site opens from file:// with no network: open SITE/index.html. With the dictionary's model (the \
            one it records, or --model) region pages show the logit lens of the exemplar and mean directions and, \
            for dictionaries built from text, the closest and boundary members in context; the model runs the \
            shown windows again so that every token's distance to the region shows on hover (--no-token-distances \
            skips that step, which costs about as much as reading those windows during the build). Without a model \
            the site shows the numbers, charts, map and neighbours only — and, for a dictionary imported with ep import, \
            the closest and boundary members as the authors' prompts.
            """)

    @Argument(help: "Dictionary folder.")
    var dictionary: String

    @Option(name: .shortAndLong, help: "Output folder (replaced atomically).")
    var output: String

    @OptionGroup var model: LensModelOption

    @Option(parsing: .unconditional, help: "Closest members shown in context per region.")
    var contexts = 5

    @Option(parsing: .unconditional, help: "Farthest (boundary) members shown in context per region.")
    var boundary = 5

    @Option(parsing: .unconditional, help: "Tokens shown before the member token.")
    var before = 20

    @Option(parsing: .unconditional, help: "Tokens shown after the member token.")
    var after = 8

    @Option(parsing: .unconditional, help: "Logit-lens tokens per direction.")
    var lensTokens = 8

    @Option(parsing: .unconditional, help: "Nearest regions listed per region.")
    var neighbours = 8

    @Option(parsing: .unconditional, help: "Regions per data file (a region page loads one).")
    var regionsPerChunk = 100

    @Flag(inversion: .prefixedNo, help: "Run the shown context windows through the model again for per-token distances.")
    var tokenDistances = true

    @Option(help: "Page title (default: the dictionary's name, model and hook).")
    var title: String?

    @OptionGroup var threading: ThreadOptions

    func validate() throws {
        for (value, flag, unit) in [(lensTokens, "--lens-tokens", "tokens"), (regionsPerChunk, "--regions-per-chunk", "regions")] {
            try requirePositive(value, flag: flag, unit: unit)
        }
        for (value, flag) in [(contexts, "--contexts"), (boundary, "--boundary"), (before, "--before"), (after, "--after"), (neighbours, "--neighbours")]
        where value < 0 {
            throw CommandError("\(flag): expected a number ≥ 0, found \(value)")
        }
    }

    func run() throws {
        try claimOutput(output, ReportSite.outputKind, inputs: [dictionary] + modelInputs(model.model))
        let started = Date()
        let loaded = try DictionaryStore.load(dictionary, reservoir: false)
        let manifest = loaded.manifest
        var opened: OpenedModel?
        if let name = model.model {
            opened = try OpenedModel(name, threads: threading.threads)
        } else if let name = manifest.build.source?.model {
            do {
                opened = try OpenedModel(name, threads: threading.threads)
            } catch {
                note("cannot open the model the dictionary records, '\(name)' (\(error)): the report has no logit lens or contexts; give one with --model")
            }
        }
        if let opened {
            try opened.requireSameModel(as: manifest, dictionary: dictionary)
        }
        var reading = ReportReading()
        (reading.lensTokens, reading.closest, reading.boundary, reading.before, reading.after) = (lensTokens, contexts, boundary, before, after)
        reading.tokenDistances = tokenDistances
        var options = ReportOptions()
        options.title = title
        options.model = model.model ?? manifest.build.source?.model
        options.neighbours = neighbours
        options.regionsPerChunk = regionsPerChunk
        let progress = ProgressLine()
        var replaying = false
        let built = try ReportBuilder(loaded, model: opened?.model, tokenizer: opened?.tokenizer, reading: reading).write(to: output, options: options) { step in
            switch step {
            case .replay(let done, let total):
                if done == 0 {
                    note("per-token distances: running \(grouped(total)) tokens of stored windows through the model again (--no-token-distances skips this)")
                }
                replaying = true
                progress.update("per-token distances: \(grouped(done)) / \(grouped(total)) tokens")
            case .regionPages(let done, let total):
                if replaying { progress.finish() }
                replaying = false
                progress.update("region pages: \(grouped(done)) / \(grouped(total))")
            }
        }
        let result = built.result
        progress.finish()
        let seconds = Date().timeIntervalSince(started)
        print("wrote \(output): \(grouped(result.files)) files, \(fixed(Double(result.bytes) / 1e6, 1)) MB for \(grouped(manifest.regionCount)) regions (\(result.chunks) data chunks) in \(fixed(seconds, 1)) s")
        if let tokens = built.replayedTokens { print("per-token distances: \(grouped(tokens)) tokens of stored windows run through the model again") }
        print("open \(output)/index.html")
    }
}
