import EPCore
import EPRuntime
import EPStore
import EPTensors
import Foundation

/// Steering and ablation with a dictionary's regions (docs/use.md), through the runtime's edit hooks at the
/// dictionary's own hook point, at every position of every forward pass (generation steps included). Directions
/// are unit vectors in the dictionary's centered space:
///
/// * steering: `x' = x + α·u` (default α = ‖c‖, the reference's recipe);
/// * ablation: `x' = c + (x − c) − ((x − c)·u)·u` (the component along u removed in centered space).
public struct RegionIntervention {
    /// The dictionary.
    public let loaded: LoadedDictionary
    /// Its hook point in the model.
    public let point: HookPoint
    private let model: LanguageModel

    /// Interventions with `loaded` on `model` (the caller checks the model's identity). A dictionary that records no
    /// hook, or one the model lacks, is an error.
    public init(_ loaded: LoadedDictionary, model: LanguageModel) throws {
        guard let hook = loaded.manifest.build.source?.hook else {
            throw PipelineError("\(loaded.path): records no hook point, so there is nowhere to intervene; build it from text, or from activation files with --hook")
        }
        point = try model.hookPoint(named: hook)
        guard model.width(of: point) == loaded.dictionary.width else {
            throw PipelineError("\(loaded.path): the dictionary has width \(loaded.dictionary.width) but \(hook) of the model has width \(model.width(of: point))")
        }
        self.loaded = loaded
        self.model = model
    }

    /// ‖c‖, the default steering strength.
    public var centerNorm: Float { Float(Calibration.norm(loaded.dictionary.center)) }

    /// Region `region`'s unit direction in `basis`.
    public func direction(_ region: Int, basis: DirectionBasis) throws -> [Float] {
        let r = loaded.dictionary.regions
        guard (0..<r.count).contains(region) else {
            throw PipelineError("region \(region) does not exist: \(loaded.path) has regions 0…\(r.count - 1)")
        }
        return Array(basis == .exemplar ? r.exemplar(region) : r.meanMemberDirection(region))
    }

    /// Hooks that add `alpha`·u at the hook point.
    public func steering(_ region: Int, basis: DirectionBasis, alpha: Float) throws -> Hooks {
        var hooks = Hooks()
        hooks.edit(point, .add(vector: try direction(region, basis: basis), scale: alpha))
        return hooks
    }

    /// Hooks that project u out in centered space at the hook point.
    public func ablation(_ region: Int, basis: DirectionBasis) throws -> Hooks {
        var hooks = Hooks()
        hooks.edit(point, .projectOut(direction: try direction(region, basis: basis), center: loaded.dictionary.center))
        return hooks
    }

    /// `hooks` with every edit at the hook point restricted to the positions whose nearest region at the hook —
    /// computed from the activation before the edit — is in `gate` (region-gated interventions): the other
    /// positions keep the activation they would have without the intervention, bit for bit. A region the
    /// dictionary lacks, or an empty gate, is an error.
    public func gated(_ hooks: Hooks, to gate: Set<Int>) throws -> Hooks {
        let k = loaded.dictionary.regions.count
        guard !gate.isEmpty else { throw PipelineError("the gate names no region: give at least one region id") }
        if let bad = gate.sorted().first(where: { !(0..<k).contains($0) }) {
            throw PipelineError("gate region \(bad) does not exist: \(loaded.path) has regions 0…\(k - 1)")
        }
        let dictionary = SharedDictionary(loaded.dictionary)
        var result = hooks
        result.edits[point] = hooks.edits[point]?.map { edit in
            .gated(edit) { rows in
                dictionary.value.nearestRegions(rows.values, rows: rows.count).map { gate.contains($0) }
            }
        }
        return result
    }

    /// Generations after `prompt`, one per seed, with no hooks and with each of `variants`, each variant with the
    /// same seed as its unsteered twin.
    public func compare(prompt: [Int32], variants: [Hooks], seeds: [UInt64], options: GenerationOptions) throws -> [[[Int32]]] {
        try seeds.map { seed in
            var o = options
            o.sampling.seed = seed
            return try ([Hooks()] + variants).map { try model.generate(prompt: prompt, options: o, hooks: $0) }
        }
    }

    /// The effect of ablating `region` on the model's next-token predictions at the positions of `texts` that the
    /// dictionary assigns to the region (held-out contexts of the region): the mean probability of `targets`
    /// (token ids, e.g. the region's logit-lens tokens) and the mean log-probability of the token that actually
    /// comes next, without and with the ablation. With `gate`, the ablation is region-gated (``gated(_:to:)``).
    public func ablationEffect(
        _ region: Int, basis: DirectionBasis, targets: Set<Int32>, windows: [ContextWindow], extraction: DictionaryExtraction,
        gate: Set<Int>? = nil
    ) throws -> AblationEffect {
        var ablated = try ablation(region, basis: basis)
        if let gate { ablated = try gated(ablated, to: gate) }
        let step = extraction.settings.windowsPerForward
        var effect = AblationEffect()
        for start in stride(from: 0, to: windows.count, by: step) {
            try measure(windows[start..<min(start + step, windows.count)], region: region, ablated: ablated, targets: targets, extraction: extraction, into: &effect)
        }
        return effect
    }

    /// ``ablationEffect(_:basis:targets:windows:extraction:gate:)`` over the windows of a corpus, read a forward
    /// call's worth at a time (memory does not grow with the corpus).
    public func ablationEffect(
        _ region: Int, basis: DirectionBasis, targets: Set<Int32>, corpus: CorpusWindows, extraction: DictionaryExtraction,
        gate: Set<Int>? = nil
    ) throws -> AblationEffect {
        var ablated = try ablation(region, basis: basis)
        if let gate { ablated = try gated(ablated, to: gate) }
        var effect = AblationEffect()
        while true {
            let group = try corpus.next(batch: extraction.settings.windowsPerForward)
            if group.isEmpty { break }
            try measure(group[...], region: region, ablated: ablated, targets: targets, extraction: extraction, into: &effect)
        }
        return effect
    }

    /// Adds one forward call's windows to `effect`.
    private func measure(
        _ group: ArraySlice<ContextWindow>, region: Int, ablated: Hooks, targets: Set<Int32>, extraction: DictionaryExtraction,
        into effect: inout AblationEffect
    ) throws {
        let settings = extraction.settings
        // The final residual is captured and only the rows that are needed go through the LM head.
        let last = HookPoint.residPost(layer: model.config.layerCount - 1)
        let batch = group.map(\.tokens)
        let plain = try model.forward(batch, hooks: Hooks(captures: [point, last]))
        let assignment = try loaded.dictionary.assign(plain.activations[point]!)
        var rows: [Int] = [], next: [Int32] = []
        for (w, window) in group.enumerated() {
            for p in settings.positions(inWindowOf: window.tokens.count) where p + 1 < window.tokens.count {
                let row = plain.rowOffsets[w] + p
                if assignment.regions[row] == region {
                    rows.append(row)
                    next.append(window.tokens[p + 1])
                }
            }
        }
        effect.windows += group.count
        guard !rows.isEmpty else { return }
        var hooks = ablated
        hooks.captures = [last]
        let edited = try model.forward(batch, hooks: hooks)
        for (residuals, isAblated) in [(plain.activations[last]!, false), (edited.activations[last]!, true)] {
            let logits = try model.logitLens(residuals.selectingRows(rows))
            for (i, token) in next.enumerated() {
                let (mass, logProbability) = logits.storage.withUnsafeBufferPointer {
                    Self.probabilities($0.baseAddress! + i * logits.columns, count: logits.columns, targets: targets, next: token)
                }
                effect.add(targetMass: mass, nextLogProbability: logProbability, ablated: isAblated)
            }
        }
    }

    /// Softmax mass of `targets` and log-probability of `next` for one row of logits (in Double).
    static func probabilities(_ logits: UnsafePointer<Float>, count: Int, targets: Set<Int32>, next: Int32) -> (Double, Double) {
        var maximum = -Float.infinity
        for i in 0..<count { maximum = max(maximum, logits[i]) }
        var total = 0.0, mass = 0.0
        for i in 0..<count {
            let e = Foundation.exp(Double(logits[i] - maximum))
            total += e
            if targets.contains(Int32(i)) { mass += e }
        }
        return (mass / total, Double(logits[Int(next)] - maximum) - Foundation.log(total))
    }
}

/// A dictionary read (never changed) by a gate on the forward call's threads.
private struct SharedDictionary: @unchecked Sendable {
    let value: ExemplarDictionary
    init(_ value: ExemplarDictionary) { self.value = value }
}

/// Means over a region's held-out positions, without and with its ablation.
public struct AblationEffect: Sendable, Equatable {
    /// Positions measured and windows read.
    public var positions = 0
    public var windows = 0
    /// Sums, without and with the ablation.
    private var targetMass = (before: 0.0, after: 0.0)
    private var nextLogProbability = (before: 0.0, after: 0.0)

    public init() {}

    mutating func add(targetMass mass: Double, nextLogProbability logProbability: Double, ablated: Bool) {
        if ablated {
            targetMass.after += mass
            nextLogProbability.after += logProbability
        } else {
            positions += 1
            targetMass.before += mass
            nextLogProbability.before += logProbability
        }
    }

    /// Mean probability of the target tokens, without and with the ablation.
    public var meanTargetProbability: (before: Double, after: Double) {
        positions > 0 ? (targetMass.before / Double(positions), targetMass.after / Double(positions)) : (.nan, .nan)
    }

    /// Mean log-probability of the actual next token, without and with the ablation.
    public var meanNextLogProbability: (before: Double, after: Double) {
        positions > 0 ? (nextLogProbability.before / Double(positions), nextLogProbability.after / Double(positions)) : (.nan, .nan)
    }

    public static func == (a: AblationEffect, b: AblationEffect) -> Bool {
        a.positions == b.positions && a.windows == b.windows && a.targetMass == b.targetMass && a.nextLogProbability == b.nextLogProbability
    }
}

/// Counts how often generated tokens are among a set of target tokens, matched by text (case and surrounding
/// spaces ignored, so ` Paris` and `paris` count alike).
public struct TargetTokens: Sendable {
    /// The normalised texts of the targets.
    public let texts: Set<String>
    private let tokenizer: TextTokenizer

    /// Targets from `tokens`' texts; empty texts are dropped.
    public init(_ tokens: [LensToken], tokenizer: TextTokenizer) {
        texts = Set(tokens.map { Self.normalised($0.text) }.filter { !$0.isEmpty })
        self.tokenizer = tokenizer
    }

    /// The token ids of the vocabulary whose normalised text is a target (for probabilities).
    public func ids(vocabularySize: Int) -> Set<Int32> {
        Set((0..<Int32(vocabularySize)).filter { texts.contains(Self.normalised(String(decoding: tokenizer.tokenBytes($0) ?? [], as: UTF8.self))) })
    }

    /// How many of `tokens` are targets.
    public func hits(in tokens: [Int32]) -> Int {
        tokens.filter { texts.contains(Self.normalised(String(decoding: tokenizer.tokenBytes($0) ?? [], as: UTF8.self))) }.count
    }

    static func normalised(_ text: String) -> String {
        text.trimmingCharacters(in: .whitespacesAndNewlines).lowercased()
    }
}
