import EPCore
import EPPipeline
import EPReport
import EPRuntime
import EPStore
import EPTensors
import Foundation

/// What a server allows one request: limits that keep each job short and memory bounded.
public struct ServeLimits: Sendable, Equatable {
    /// Characters of an assigned text or a prompt.
    public var textCharacters = 4000
    /// Tokens generated per continuation.
    public var generatedTokens = 64
    /// Seconds a request may wait for and use the model.
    public var requestSeconds = 60.0
    /// Model jobs waiting or running at once (one more gets 503).
    public var queueCapacity = 8
    /// Bytes of a request body.
    public var bodyBytes = 64 * 1024

    public init() {}
}

/// One dictionary a server serves: its assigner, interventions and region reader on the shared model, and its
/// report's pages. Every method runs the model and must be called on the model's queue (``ModelQueue``).
public final class ServedDictionary: @unchecked Sendable {
    /// Its name in URLs (the folder's name).
    public let name: String
    public let loaded: LoadedDictionary
    /// The report's folder (`index.html`, `region.html`, …).
    public let reportFolder: String
    private let assigner: TextAssigner
    private let intervention: RegionIntervention
    private let reader: RegionReader
    private let tokenizer: TextTokenizer

    /// Serves `loaded` (loaded with its contexts) under `name` with `model`, whose identity the caller has
    /// checked; writes its report (regions with their logit lens and stored contexts, no per-token distances) to
    /// `reportFolder`.
    public init(name: String, loaded: LoadedDictionary, model: LanguageModel, tokenizer: TextTokenizer, reportFolder: String) throws {
        self.name = name
        self.loaded = loaded
        self.reportFolder = reportFolder
        self.tokenizer = tokenizer
        assigner = try TextAssigner(loaded, model: model, tokenizer: tokenizer)
        intervention = try RegionIntervention(loaded, model: model)
        reader = try RegionReader(loaded, model: model, tokenizer: tokenizer)
        var reading = ReportReading()
        reading.tokenDistances = false
        _ = try ReportBuilder(loaded, model: model, tokenizer: tokenizer, reading: reading).write(to: reportFolder, options: ReportOptions())
    }

    /// The dictionary's facts for `GET /api/dictionaries`.
    public var summary: DictionarySummary {
        let m = loaded.manifest
        return DictionarySummary(
            name: name, model: m.build.source?.model, hook: m.build.source?.hook, width: m.width, regions: loaded.dictionary.regionCount,
            threshold: m.threshold, tokens: m.build.activationCount, report: "/reports/\(name)/index.html")
    }

    /// Every token of `text` with its nearest region, distance, whether it is within θ and its 3 nearest regions.
    public func assign(_ text: String) throws -> AssignResponse {
        let windows = assigner.tokenize(text)
        let dictionary = loaded.dictionary
        var tokens: [AssignedToken] = []
        try assigner.activations(windows) { batch in
            let assignment = try dictionary.assign(batch.activations)
            let distances = try dictionary.distances(batch.activations)
            var rowOf: [RowReference: Int] = [:]
            for (i, r) in batch.references.enumerated() { rowOf[r] = i }
            for window in batch.windows {
                for (p, id) in window.tokens.enumerated() {
                    var token = AssignedToken(
                        piece: assigner.tokenText(id), tokenID: Int(id), window: Int(window.id - windows.firstID), position: p, region: nil,
                        distance: nil, withinThreshold: nil, nearest: [])
                    if let row = rowOf[RowReference(source: window.id, position: Int32(p))], assignment.regions[row] >= 0 {
                        let d = assignment.distances[row]
                        token.region = Int(assignment.regions[row])
                        token.distance = Double(d)
                        token.withinThreshold = d <= dictionary.thresholdFloat
                        token.nearest = Self.nearest(distances, row: row, count: 3)
                    }
                    tokens.append(token)
                }
            }
        }
        return AssignResponse(dictionary: name, threshold: loaded.manifest.threshold, tokens: tokens)
    }

    /// The `count` smallest entries of a row of distances, smallest first (ties by region).
    static func nearest(_ m: Matrix, row: Int, count: Int) -> [RegionDistance] {
        var best: [(Int, Float)] = []
        for j in 0..<m.columns {
            let v = m.storage[row * m.columns + j]
            guard best.count < count || v < best[best.count - 1].1 else { continue }
            if best.count == count { best.removeLast() }
            var i = best.count
            while i > 0 && best[i - 1].1 > v { i -= 1 }
            best.insert((j, v), at: i)
        }
        return best.map { RegionDistance(region: $0.0, distance: Double($0.1)) }
    }

    /// Region `id`'s numbers, logit lens and stored contexts.
    public func region(_ id: Int) throws -> RegionDetail {
        guard (0..<loaded.dictionary.regionCount).contains(id) else {
            throw ServeError.notFound("region \(id) does not exist: \(name) has regions 0…\(loaded.dictionary.regionCount - 1)")
        }
        let r = try reader.read([id], lensTokens: 8, closest: 5, farthest: 5, before: 16, after: 6)[0]
        func lens(_ tokens: [LensToken]) -> [LensEntry] {
            tokens.map { LensEntry(piece: $0.text, tokenID: Int($0.id), logit: Double($0.logit)) }
        }
        func contexts(_ snippets: [ContextSnippet]) -> [StoredContext] {
            snippets.map { StoredContext(distance: Double($0.distance), before: $0.before, token: $0.token, after: $0.after) }
        }
        return RegionDetail(
            dictionary: name, region: id, members: r.members, coherence: r.coherence.isFinite ? r.coherence : nil,
            meanDistance: r.meanDistance.isFinite ? r.meanDistance : nil,
            exemplarLens: lens(r.exemplarLens), meanLens: lens(r.meanLens), closest: contexts(r.closest), farthest: contexts(r.farthest),
            page: "/reports/\(name)/region.html#\(id)")
    }

    /// Baseline and intervened continuations of `request.prompt` (same seed): steering when `steer`, otherwise
    /// ablation, region-gated when the request names regions. `limits` bound the prompt and the tokens.
    public func intervene(_ request: InterventionRequest, steer: Bool, limits: ServeLimits) throws -> InterventionResponse {
        let k = loaded.dictionary.regionCount
        guard (0..<k).contains(request.region) else {
            throw ServeError.notFound("region \(request.region) does not exist: \(name) has regions 0…\(k - 1)")
        }
        let maxTokens = request.maxTokens ?? min(32, limits.generatedTokens)
        guard (1...limits.generatedTokens).contains(maxTokens) else {
            throw ServeError.badRequest("field 'max_tokens': expected 1…\(limits.generatedTokens), found \(maxTokens)")
        }
        let seed = request.seed ?? 0
        guard seed >= 0 else { throw ServeError.badRequest("field 'seed': expected an integer ≥ 0, found \(seed)") }
        let temperature = request.temperature ?? 0.8
        guard temperature.isFinite, (0...5).contains(temperature) else {
            throw ServeError.badRequest("field 'temperature': expected 0…5, found \(temperature)")
        }
        let alpha = request.alpha ?? Double(intervention.centerNorm)
        guard alpha.isFinite, abs(alpha) <= 1e4 else { throw ServeError.badRequest("field 'alpha': expected a number within ±10000, found \(alpha)") }
        let prompt = tokenizer.encode(request.prompt)
        guard !prompt.isEmpty else { throw ServeError.badRequest("field 'prompt': the prompt has no token") }
        var hooks = steer
            ? try intervention.steering(request.region, basis: .exemplar, alpha: Float(alpha))
            : try intervention.ablation(request.region, basis: .exemplar)
        if let gate = request.gateRegions {
            if let bad = gate.first(where: { !(0..<k).contains($0) }) {
                throw ServeError.badRequest("field 'gate_regions': region \(bad) does not exist: \(name) has regions 0…\(k - 1)")
            }
            guard !gate.isEmpty else { throw ServeError.badRequest("field 'gate_regions': give at least one region id") }
            hooks = try intervention.gated(hooks, to: Set(gate))
        }
        var options = GenerationOptions(maxTokens: maxTokens)
        options.sampling = SamplingOptions(temperature: Float(temperature), topK: 0, topP: 0.95, seed: UInt64(seed))
        options.stopTokens = Set([tokenizer.eosID].compactMap { $0 })
        let generated = try intervention.compare(prompt: prompt, variants: [hooks], seeds: [UInt64(seed)], options: options)[0]
        let targets = try reader.lens([try intervention.direction(request.region, basis: .exemplar)], count: 8)[0].map(\.text)
        func continuation(_ ids: [Int32]) -> Continuation {
            Continuation(text: tokenizer.decode(ids), pieces: ids.map { assigner.tokenText($0) })
        }
        return InterventionResponse(
            dictionary: name, intervention: steer ? "steer" : "ablate", region: request.region, alpha: steer ? alpha : nil, seed: seed,
            temperature: temperature, gateRegions: request.gateRegions.map { Array(Set($0)).sorted() }, targets: targets,
            baseline: continuation(generated[0]), intervened: continuation(generated[1]))
    }
}
