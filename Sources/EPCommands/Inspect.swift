import ArgumentParser
import EPCore
import EPFormats
import EPPipeline
import EPRuntime
import EPStore
import Foundation

extension RegionOrder: ExpressibleByArgument {}

/// `ep inspect`: read a dictionary's regions on the terminal.
struct Inspect: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Show a dictionary's regions: sizes, coherence, logit lens, and their closest members in context.",
        discussion: """
            Per region: member count, coherence (‖mean of member directions‖), mean distance of the members to the \
            exemplar (± standard deviation), the logit lens of the exemplar and of the mean member direction, and the \
            closest members shown in their context windows with the member token highlighted (inverse video on a \
            terminal, [brackets] otherwise). The logit lens decodes a region's unit direction u itself: \
            logits = W_U · RMSNorm_final(u), the center not added back (as the reference implementation does); the \
            final norm removes scale, so these are the tokens the direction promotes. The model is the one recorded \
            in the dictionary unless --model is given (its SHA-256 must match for dictionaries built from text).
            """)

    @Argument(help: "Dictionary folder.")
    var dictionary: String

    @OptionGroup var model: LensModelOption

    @Option(help: "Order: size (most members first), coherence, or id.")
    var sort: RegionOrder = .size

    @Option(parsing: .unconditional, help: "Regions to show.")
    var top = 10

    @Option(parsing: .unconditionalSingleValue, help: "Show this region (repeatable); overrides --sort and --top.")
    var region: [Int] = []

    @Option(parsing: .unconditional, help: "Closest members shown in context per region.")
    var contexts = 5

    @Option(parsing: .unconditional, help: "Farthest (boundary) members shown in context per region.")
    var boundary = 0

    @Option(parsing: .unconditional, help: "Logit-lens tokens per direction.")
    var lensTokens = 8

    @Option(parsing: .unconditional, help: "Tokens shown before the member token.")
    var before = 12

    @Option(parsing: .unconditional, help: "Tokens shown after the member token.")
    var after = 4

    @Flag(help: "Print JSON.")
    var json = false

    @OptionGroup var threading: ThreadOptions

    func validate() throws {
        for (value, flag, unit) in [(top, "--top", "regions"), (lensTokens, "--lens-tokens", "tokens")] { try requirePositive(value, flag: flag, unit: unit) }
        for (value, flag) in [(contexts, "--contexts"), (boundary, "--boundary"), (before, "--before"), (after, "--after")] where value < 0 {
            throw CommandError("\(flag): expected a number ≥ 0, found \(value)")
        }
    }

    func run() throws {
        let loaded = try DictionaryStore.load(dictionary, reservoir: false)
        let manifest = loaded.manifest
        let modelName = model.model ?? manifest.build.source?.model
        let opened: OpenedModel?
        if let modelName {
            do {
                opened = try OpenedModel(modelName, threads: threading.threads)
            } catch {
                throw CommandError("\(dictionary): cannot open its model '\(modelName)' (\(error)); give one with --model")
            }
            try opened!.requireSameModel(as: manifest, dictionary: dictionary)
        } else {
            opened = nil
        }
        let reader = try RegionReader(loaded, model: opened?.model, tokenizer: opened?.tokenizer)
        let ids = region.isEmpty ? Array(reader.ordered(sort).prefix(top)) : region
        let readings = try reader.read(ids, lensTokens: lensTokens, closest: contexts, farthest: boundary, before: before, after: after)
        if json {
            print(JSONValueEncoder.value(of: readings).rendered())
            return
        }
        let terminal = isatty(1) != 0
        print(header(manifest, hasModel: opened != nil))
        for r in readings {
            print("")
            print("region \(r.id) · \(grouped(r.members)) members · coherence \(fixed(r.coherence, 3)) · mean distance \(fixed(r.meanDistance, 3)) ± \(fixed(r.distanceDeviation, 3)) · batches \(r.firstBatch)–\(r.lastBatch)")
            if !r.exemplarLens.isEmpty {
                print("  lens (exemplar): " + r.exemplarLens.map { quotedToken($0.text) }.joined(separator: " "))
                print("  lens (mean):     " + r.meanLens.map { quotedToken($0.text) }.joined(separator: " "))
            }
            for (title, list) in [("closest", r.closest), ("boundary", r.farthest)] where !list.isEmpty {
                print("  \(title):")
                for s in list { print("    \(fixed(Double(s.distance), 3))  \(line(s, terminal: terminal))") }
            }
        }
    }

    private func header(_ m: DictionaryManifest, hasModel: Bool) -> String {
        var parts = ["\(dictionary): \(grouped(m.regionCount)) regions", "θ = \(fixed(m.threshold, 4))\(m.percentile.map { " (\(percentileLabel($0)))" } ?? "")"]
        if let s = m.build.source {
            if let model = s.model { parts.append("model \(model)") }
            if let hook = s.hook { parts.append(hook) }
            if let tokens = s.tokenCount { parts.append("\(grouped(tokens)) tokens") }
        }
        parts.append("\(grouped(m.build.activationCount)) activations")
        var text = parts.joined(separator: " · ")
        if m.build.imported != nil {
            text += "\n(imported from \(m.build.imported!.source): members shown as their prompts, with the member's token position)"
            if !hasModel { text += "\n(no model: no logit lens; give --model)" }
        } else if !hasModel { text += "\n(no model: no logit lens or context text; give --model)" } else if m.build.text == nil {
            text += "\n(built from activation files: no contexts)"
        }
        return text
    }

    /// A snippet on one line: newlines and tabs made visible, the member token highlighted.
    private func line(_ s: ContextSnippet, terminal: Bool) -> String {
        if let text = s.text { return "\(visible(text))  (token \(s.position) · \(s.origin))" }
        let token = visible(s.token)
        let marked = terminal ? "\u{1B}[7m\(token)\u{1B}[0m" : "[\(token)]"
        let head = s.position > before ? "…" : "", tail = s.position + 1 + after < s.tokens.count ? "…" : ""
        return "\(head)\(visible(s.before))\(marked)\(visible(s.after))\(tail)  (\(s.origin))"
    }
}
