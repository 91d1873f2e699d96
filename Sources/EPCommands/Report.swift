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
            the site shows the numbers, charts, map and neighbours only.
            """)

    @Argument(help: "Dictionary folder.")
    var dictionary: String

    @Option(name: .shortAndLong, help: "Output folder (replaced atomically).")
    var output: String

    @Option(help: "Model for the logit lens and the context text (default: the one the dictionary was built from).")
    var model: String?

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

    @Option(parsing: .unconditional, help: "Threads (default: all active processors).")
    var threads: Int?

    func run() throws {
        for (value, flag, unit) in [(lensTokens, "--lens-tokens", "tokens"), (regionsPerChunk, "--regions-per-chunk", "regions")] {
            try requirePositive(value, flag: flag, unit: unit)
        }
        for (value, flag) in [(contexts, "--contexts"), (boundary, "--boundary"), (before, "--before"), (after, "--after"), (neighbours, "--neighbours")]
        where value < 0 {
            throw CommandError("\(flag): expected a number ≥ 0, found \(value)")
        }
        try claimOutput(output, ReportSite.outputKind, inputs: [dictionary] + modelInputs(model))
        let started = Date()
        let loaded = try DictionaryStore.load(dictionary, reservoir: false)
        let manifest = loaded.manifest
        var opened: OpenedModel?
        if let name = model {
            opened = try OpenedModel(name, threads: threads)
        } else if let name = manifest.build.source?.model {
            do {
                opened = try OpenedModel(name, threads: threads)
            } catch {
                note("cannot open the model the dictionary records, '\(name)' (\(error)): the report has no logit lens or contexts; give one with --model")
            }
        }
        if let opened {
            try opened.requireSameModel(as: manifest, dictionary: dictionary)
        }
        let reader = try RegionReader(loaded, model: opened?.model, tokenizer: opened?.tokenizer)
        let progress = ProgressLine()
        var replay: ReplayResult?
        if let opened, tokenDistances, manifest.build.text != nil, loaded.contexts != nil {
            let replayer = try ContextReplay(loaded, model: opened.model)
            replay = try replayer.run(spans(loaded)) { done, total in
                if done == 0 {
                    note("per-token distances: running \(grouped(total)) tokens of stored windows through the model again (--no-token-distances skips this)")
                }
                progress.update("per-token distances: \(grouped(done)) / \(grouped(total)) tokens")
            }
            progress.finish()
        }
        var options = ReportOptions()
        options.title = title
        options.model = model ?? manifest.build.source?.model
        options.neighbours = neighbours
        options.regionsPerChunk = regionsPerChunk
        let texts: ((Range<Int>) throws -> [RegionText])? = opened == nil ? nil : { range in
            progress.update("region pages: \(grouped(range.lowerBound)) / \(grouped(loaded.dictionary.regionCount))")
            return try reader.read(Array(range), lensTokens: lensTokens, closest: contexts, farthest: boundary, before: before, after: after)
                .map { convert($0, replay: replay) }
        }
        let result = try ReportSite.write(loaded, to: output, options: options, text: texts)
        progress.finish()
        let seconds = Date().timeIntervalSince(started)
        print("wrote \(output): \(grouped(result.files)) files, \(fixed(Double(result.bytes) / 1e6, 1)) MB for \(grouped(manifest.regionCount)) regions (\(result.chunks) data chunks) in \(fixed(seconds, 1)) s")
        if let replay { print("per-token distances: \(grouped(replay.tokens)) tokens of stored windows run through the model again") }
        print("open \(output)/index.html")
    }

    /// The spans of stored windows the region pages show: for each region, its first `contexts` closest and
    /// `boundary` farthest members with `before` tokens before and `after` after.
    private func spans(_ loaded: LoadedDictionary) -> [ContextSpan] {
        let regions = loaded.dictionary.regions
        var spans: [ContextSpan] = []
        for k in 0..<regions.count {
            for m in regions.closest.members(of: k).prefix(contexts) + regions.farthest.members(of: k).prefix(boundary) {
                guard let window = loaded.contexts?.window(id: m.reference.source) else { continue }
                let p = Int(m.reference.position)
                spans.append(ContextSpan(region: k, window: window.id, positions: shown(p, length: window.tokens.count)))
            }
        }
        return spans
    }

    /// The window positions shown around the member at `position` in a window of `length` tokens.
    private func shown(_ position: Int, length: Int) -> Range<Int> {
        max(0, position - before)..<min(length, position + 1 + after)
    }

    /// A reading as the report's plain data, with the replayed distances of its shown tokens.
    private func convert(_ r: RegionReading, replay: ReplayResult?) -> RegionText {
        func context(_ s: ContextSnippet) -> ReportContext {
            let positions = shown(s.position, length: s.tokens.count)
            let distances = replay?.spans[ContextSpan(region: r.id, window: s.window, positions: positions)]
            let tokens = positions.map { p -> ReportToken in
                let d = distances?[p - positions.lowerBound]
                return ReportToken(text: s.tokenTexts[p], distance: d?.distance, nearestRegion: d?.nearestRegion, nearestDistance: d?.nearestDistance)
            }
            return ReportContext(distance: s.distance, window: s.window, position: s.position, origin: s.origin, firstPosition: positions.lowerBound, tokens: tokens)
        }
        func lens(_ tokens: [LensToken]) -> [ReportLensToken] { tokens.map { ReportLensToken(text: $0.text, logit: $0.logit) } }
        return RegionText(
            exemplarLens: lens(r.exemplarLens), meanLens: lens(r.meanLens), closest: r.closest.map(context), boundary: r.farthest.map(context),
            sampleDistances: replay?.samples[r.id] ?? [])
    }
}
