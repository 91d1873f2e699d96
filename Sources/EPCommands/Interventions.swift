import ArgumentParser
import EPCore
import EPFormats
import EPPipeline
import EPRuntime
import EPStore
import Foundation

extension DirectionBasis: ExpressibleByArgument {}

/// What `ep steer` and `ep ablate` share: the dictionary and its model, the region, and how to generate.
struct InterventionArguments: ParsableArguments {
    @Argument(help: "Dictionary folder (built from text, or from activation files with --hook).")
    var dictionary: String

    @OptionGroup var model: DictionaryModelOption

    @Option(parsing: .unconditional, help: "The region whose direction is used.")
    var region: Int

    @Option(help: "Direction: exemplar (the founding activation's) or mean (the members' mean).")
    var basis: DirectionBasis = .exemplar

    @Option(help: "Prompt to continue.")
    var prompt: String?

    @Flag(help: "Wrap the prompt in the model's chat template as a user turn.")
    var chat = false

    @Option(parsing: .unconditional, help: "Tokens to generate per continuation.")
    var maxTokens = 40

    @Option(parsing: .unconditional, help: "Sampling temperature (0: greedy).")
    var temperature: Float = 0.8

    @Option(parsing: .unconditional, help: "Sample within the smallest set of tokens whose probabilities reach p.")
    var topP: Float = 0.95

    @Option(parsing: .unconditional, help: "Seed of the first continuation; continuations i use seed + i.")
    var seed: UInt64 = 0

    @Option(parsing: .unconditional, help: "Continuations per setting (the same seeds for every setting).")
    var seeds = 1

    @Option(parsing: .unconditional, help: "Logit-lens tokens of the direction taken as the region's target tokens.")
    var lensTokens = 8

    @Option(help: "Intervene only at positions whose nearest region at the hook, before the intervention, is one of these region ids (comma-separated): region-gated.")
    var gateRegions: CommaSeparated<Int>?

    @Flag(name: .customLong("print-ids"), help: "Print each continuation's token ids instead of its text (to compare with another engine).")
    var printIDs = false

    @OptionGroup var threading: ThreadOptions

    /// The gate of --gate-regions, if given.
    func gate() throws -> Set<Int>? {
        guard let gateRegions else { return nil }
        return Set(try gateRegions.values("--gate-regions", expected: "comma-separated region ids (integers ≥ 0)", where: { $0 >= 0 }))
    }

    /// `hooks` gated by --gate-regions when given.
    func gated(_ hooks: Hooks, _ intervention: RegionIntervention) throws -> Hooks {
        guard let gate = try gate() else { return hooks }
        do { return try intervention.gated(hooks, to: gate) } catch let e as PipelineError { throw CommandError("--gate-regions: \(e.message)") }
    }

    func validate() throws {
        _ = try gate()
        try requirePositive(maxTokens, flag: "--max-tokens", unit: "tokens")
        try requirePositive(seeds, flag: "--seeds", unit: "seeds")
        try requirePositive(lensTokens, flag: "--lens-tokens", unit: "tokens")
        guard temperature >= 0, topP > 0, topP <= 1 else { throw CommandError("need --temperature ≥ 0 and 0 < --top-p ≤ 1") }
        if seeds > 1 && temperature == 0 { throw CommandError("--seeds \(seeds) with --temperature 0: greedy continuations do not depend on the seed") }
    }

    /// The opened dictionary, model, intervention and target tokens.
    func open() throws -> (LoadedDictionary, OpenedModel, RegionIntervention, [LensToken], TargetTokens) {
        let loaded = try DictionaryStore.load(dictionary, reservoir: false, contexts: false)
        let opened = try model.open(for: loaded.manifest, dictionary: dictionary, threads: threading.threads)
        let intervention = try RegionIntervention(loaded, model: opened.model)
        let reader = try RegionReader(loaded, model: opened.model, tokenizer: opened.tokenizer)
        let lens = try reader.lens([try intervention.direction(region, basis: basis)], count: lensTokens)[0]
        return (loaded, opened, intervention, lens, TargetTokens(lens, tokenizer: opened.tokenizer))
    }

    /// The prompt's token ids (chat template applied when asked).
    func promptIDs(_ opened: OpenedModel) throws -> [Int32] {
        guard let prompt else { throw CommandError("give --prompt") }
        return opened.tokenizer.encode(chat ? try ChatTemplate(model: opened.model).render(user: prompt) : prompt)
    }

    /// Generation settings.
    func options(_ opened: OpenedModel) -> GenerationOptions {
        var o = GenerationOptions(maxTokens: maxTokens)
        o.sampling = SamplingOptions(temperature: temperature, topK: 0, topP: topP, seed: seed)
        o.stopTokens = Set([opened.tokenizer.eosID].compactMap { $0 })
        return o
    }

    /// Prints the continuations side by side (one line per setting under each seed) and, over several seeds, how
    /// often each setting's continuations contain target tokens.
    func report(_ generations: [[[Int32]]], labels: [String], opened: OpenedModel, targets: TargetTokens) {
        let width = labels.map(\.count).max() ?? 0
        for (i, row) in generations.enumerated() {
            print("seed \(seed + UInt64(i))")
            for (label, tokens) in zip(labels, row) {
                let text = printIDs ? tokens.map(String.init).joined(separator: " ") : visible(opened.tokenizer.decode(tokens))
                print("  \(label.padding(toLength: width, withPad: " ", startingAt: 0))  \(text)")
            }
        }
        guard generations.count > 1 else { return }
        var rows = [["setting", "continuations with a target token", "target tokens per 100 generated"]]
        for (s, label) in labels.enumerated() {
            let continuations = generations.map { $0[s] }
            let withTarget = continuations.filter { targets.hits(in: $0) > 0 }.count
            let hits = continuations.reduce(0) { $0 + targets.hits(in: $1) }
            let generated = continuations.reduce(0) { $0 + $1.count }
            rows.append([label, "\(withTarget)/\(continuations.count)", fixed(100 * Double(hits) / Double(max(generated, 1)), 2)])
        }
        print("")
        print(alignedColumns(rows, rightAligned: [1, 2]))
    }

    /// The header line naming the region, the direction and the targets.
    func header(_ intervention: RegionIntervention, lens: [LensToken]) -> String {
        let gated = (try? gate()).flatMap { $0 }.map { "; only at positions nearest to region " + $0.sorted().map(String.init).joined(separator: ", ") } ?? ""
        return "region \(region) (\(basis.rawValue) direction) at \(intervention.point.name)\(gated); target tokens (its logit lens): "
            + lens.map { quotedToken($0.text) }.joined(separator: " ")
    }
}

/// `ep steer`: generations with a region's direction added at the dictionary's hook.
struct Steer: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Continue a prompt with and without a region's direction added at the dictionary's hook.",
        discussion: """
            At every position of every forward pass (prompt and generated tokens) the hook's activation becomes \
            x + α·u, u the region's unit direction (--basis). α defaults to ‖c‖, the norm of the dictionary's center \
            (the reference's recipe: 0.5‖c‖ gentle, 2–3‖c‖ a hard override). Each seed gives an unsteered and a steered \
            continuation with the same sampling seed; with --seeds N, a table counts how many continuations contain \
            the region's target tokens (the logit lens of u). --sweep a,b,c compares several α at once. With \
            --gate-regions a,b only the positions whose nearest region at the hook, computed before the edit, is \
            one of a, b are steered; every other position keeps its activation there bit for bit.
            """)

    @OptionGroup var arguments: InterventionArguments

    @Option(parsing: .unconditional, help: "Steering strength α (default ‖c‖).")
    var alpha: Float?

    @Option(parsing: .unconditional, help: "Several strengths, comma-separated (replaces --alpha).")
    var sweep: CommaSeparated<Float>?

    /// The strengths of --sweep, if given.
    func sweepValues() throws -> [Float]? { try sweep?.values("--sweep", expected: "comma-separated numbers", where: \.isFinite) }

    func validate() throws { _ = try sweepValues() }

    func run() throws {
        let (_, opened, intervention, lens, targets) = try arguments.open()
        let alphas = try sweepValues() ?? [alpha ?? intervention.centerNorm]
        print(arguments.header(intervention, lens: lens))
        print("‖c‖ = \(fixed(Double(intervention.centerNorm), 1))")
        let hooks = try alphas.map { try arguments.gated(try intervention.steering(arguments.region, basis: arguments.basis, alpha: $0), intervention) }
        let generations = try intervention.compare(
            prompt: try arguments.promptIDs(opened), variants: hooks, seeds: (0..<arguments.seeds).map { arguments.seed + UInt64($0) },
            options: arguments.options(opened))
        arguments.report(generations, labels: ["unsteered"] + alphas.map { "α = \(fixed(Double($0), 1))" }, opened: opened, targets: targets)
    }
}

/// `ep ablate`: generations, and next-token predictions on held-out contexts, with a region's direction removed.
struct Ablate: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Remove a region's direction at the dictionary's hook: continuations side by side, or its effect on held-out contexts.",
        discussion: """
            At every position of every forward pass the hook's activation becomes c + (x − c) − ((x − c)·u)·u: the \
            component along the region's unit direction u is removed in the dictionary's centered space. With \
            --prompt, continuations without and with the ablation (same seeds). With --corpus, the corpus is cut \
            into windows as the dictionary's build cut them, the positions the dictionary assigns to the region are \
            found, and the model's next-token predictions there are compared without and with the ablation: the mean \
            probability of the region's target tokens (the logit lens of u) and the mean log-probability of the token \
            that actually follows. The corpus is read a forward call's windows at a time (memory does not grow with \
            --corpus-tokens); a corpus that gives no window is an error saying what was read and left out. With \
            --gate-regions a,b the ablation applies only at positions whose nearest region at the hook, computed \
            before the edit, is one of a, b.
            """)

    @OptionGroup var arguments: InterventionArguments

    @OptionGroup(title: "Held-out contexts") var corpus: CorpusArguments

    @Option(parsing: .unconditional, help: "With --corpus: tokens of the corpus to read.")
    var corpusTokens = 100_000

    func validate() throws {
        guard arguments.prompt != nil || !corpus.paths.isEmpty else { throw CommandError("give --prompt, --corpus, or both") }
        if !corpus.paths.isEmpty { try requirePositive(corpusTokens, flag: "--corpus-tokens", unit: "tokens") }
    }

    func run() throws {
        let (loaded, opened, intervention, lens, targets) = try arguments.open()
        print(arguments.header(intervention, lens: lens))
        if arguments.prompt != nil {
            let hooks = try arguments.gated(try intervention.ablation(arguments.region, basis: arguments.basis), intervention)
            let generations = try intervention.compare(
                prompt: try arguments.promptIDs(opened), variants: [hooks], seeds: (0..<arguments.seeds).map { arguments.seed + UInt64($0) },
                options: arguments.options(opened))
            arguments.report(generations, labels: ["unablated", "ablated"], opened: opened, targets: targets)
        }
        guard !corpus.paths.isEmpty else { return }
        let extraction = try DictionaryExtraction(manifest: loaded.manifest, path: arguments.dictionary)
        let windows = try extraction.windowReader(corpus: corpus.paths, options: try corpus.options(), tokenizer: opened.tokenizer, maxTokens: corpusTokens)
        let effect = try intervention.ablationEffect(
            arguments.region, basis: arguments.basis, targets: targets.ids(vocabularySize: opened.model.config.vocabularySize),
            corpus: windows, extraction: extraction, gate: try arguments.gate())
        guard effect.windows > 0 else {
            throw CommandError("\(corpus.paths.joined(separator: ", ")): no held-out context (no window of at least the minimum length): \(windows.explanation)")
        }
        let mass = effect.meanTargetProbability, next = effect.meanNextLogProbability
        print("held-out contexts: \(effect.positions) positions of region \(arguments.region) in \(effect.windows) windows of \(corpus.paths.joined(separator: ", "))")
        guard effect.positions > 0 else {
            print("no position of the corpus falls in region \(arguments.region); give more text (--corpus-tokens) or another corpus")
            return
        }
        print("  mean P(target tokens) at the next position: \(fixed(mass.before, 5)) → \(fixed(mass.after, 5)) with the ablation (\(fixed(100 * (mass.after - mass.before) / mass.before, 1)) %)")
        print("  mean log P(actual next token):             \(fixed(next.before, 4)) → \(fixed(next.after, 4))")
    }
}
