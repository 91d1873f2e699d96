import EPCore
import EPRuntime
import EPStore
import EPTensors

/// A token the logit lens ranks high, with its logit.
public struct LensToken: Sendable, Equatable, Encodable {
    /// The token id.
    public var id: Int32
    /// The token's text (its bytes as UTF-8, invalid sequences replaced).
    public var text: String
    /// Its logit.
    public var logit: Float

    enum CodingKeys: String, CodingKey {
        case id, text, logit
    }
}

/// A member of a region shown in its context window: the text before the member token, the token, and the text
/// after it, decoded from the window's tokens. Its JSON (in `ep inspect --json`) leaves out the window's tokens, and
/// `text` when there is none.
public struct ContextSnippet: Sendable, Equatable, Encodable {
    /// The member's distance to the region's exemplar.
    public var distance: Float
    /// The window (its id in the build's stream) and the member token's position in it.
    public var window: Int64
    public var position: Int
    /// The document the window came from.
    public var origin: String
    /// Text of the shown tokens before the member token, the member token, and after it.
    public var before: String
    public var token: String
    public var after: String
    /// The window's token ids and the text of each (for per-token displays).
    public var tokens: [Int32]
    public var tokenTexts: [String]
    /// For a text window (an imported dictionary's prompt, ``ContextWindow/text``): the whole prompt; `position`
    /// then counts tokens of the tokenizer that made the dictionary, and `before`, `token`, `after` are empty.
    public var text: String? = nil

    enum CodingKeys: String, CodingKey {
        case distance, window, position, origin, before, token, after, text
    }

    public func encode(to encoder: any Encoder) throws {
        var c = encoder.container(keyedBy: CodingKeys.self)
        try c.encode(distance, forKey: .distance)
        try c.encode(window, forKey: .window)
        try c.encode(position, forKey: .position)
        try c.encode(origin, forKey: .origin)
        try c.encode(before, forKey: .before)
        try c.encode(token, forKey: .token)
        try c.encode(after, forKey: .after)
        // Only an imported dictionary's prompt windows have a text: the key is left out otherwise (not null).
        if let text { try c.encode(text, forKey: .text) }
    }
}

/// What a reader shows of one region; its JSON is an element of `ep inspect --json`.
public struct RegionReading: Sendable, Encodable {
    public var id: Int
    public var members: Int
    public var coherence: Double
    /// Mean recorded distance of the members to the exemplar, and its standard deviation.
    public var meanDistance: Double
    public var distanceDeviation: Double
    /// Build batches that founded it and last gave it members.
    public var firstBatch: Int
    public var lastBatch: Int
    /// Logit-lens top tokens of the exemplar direction and of the mean member direction (empty without a model).
    public var exemplarLens: [LensToken]
    public var meanLens: [LensToken]
    /// Closest members (nearest first) and farthest members (farthest first) in context (empty without contexts).
    public var closest: [ContextSnippet]
    public var farthest: [ContextSnippet]

    enum CodingKeys: String, CodingKey {
        case id, members, coherence, meanDistance = "mean_distance", distanceDeviation = "distance_std"
        case firstBatch = "first_batch", lastBatch = "last_batch", exemplarLens = "lens_exemplar", meanLens = "lens_mean"
        case closest, farthest = "boundary"
    }
}

/// The order regions are listed in.
public enum RegionOrder: String, Sendable, CaseIterable {
    /// Most members first.
    case size
    /// Most coherent first.
    case coherence
    /// By id.
    case id
}

/// Reads regions of a dictionary for people: their statistics, the logit lens of their directions, and their
/// closest and farthest members shown in their context windows.
///
/// **Logit lens.** A region's exemplar and mean member directions are unit vectors in the centered space of the
/// dictionary's hook. The lens decodes the direction itself as a residual-stream vector: `logits =
/// W_U · RMSNorm_final(u)` with the final norm's weight (TransformerLens `unembed(ln_final(u))`), the center not
/// added back, as the reference implementation does (docs/inspect.md). The final RMSNorm removes scale, so this is the
/// decoding of any positive multiple of `u`: the tokens the direction itself promotes, not those of an average
/// member (which the center would dominate).
public struct RegionReader {
    /// The dictionary read.
    public let loaded: LoadedDictionary
    private let model: LanguageModel?
    private let tokenizer: TextTokenizer?

    /// A reader of `loaded`; without a model there is no logit lens, without a tokenizer no context text.
    public init(_ loaded: LoadedDictionary, model: LanguageModel?, tokenizer: TextTokenizer?) throws {
        if let model, model.config.modelWidth != loaded.dictionary.width {
            throw PipelineError("\(loaded.path): the dictionary has width \(loaded.dictionary.width) but the model's residual stream has width \(model.config.modelWidth)")
        }
        self.loaded = loaded
        self.model = model
        self.tokenizer = tokenizer
    }

    /// Region ids in `order`, ties by id.
    public func ordered(_ order: RegionOrder) -> [Int] {
        let r = loaded.dictionary.regions
        switch order {
        case .id: return Array(0..<r.count)
        case .size: return (0..<r.count).sorted { (r.memberCounts[$0], -$0) > (r.memberCounts[$1], -$1) }
        case .coherence: return (0..<r.count).sorted { (r.memberCoherences[$0], -$0) > (r.memberCoherences[$1], -$1) }
        }
    }

    /// Readings of `ids` with `lensTokens` lens tokens per direction, `closest` closest and `farthest` farthest
    /// members in context, each shown with up to `before` tokens before and `after` tokens after the member.
    public func read(_ ids: [Int], lensTokens: Int = 8, closest: Int = 5, farthest: Int = 0, before: Int = 12, after: Int = 4) throws -> [RegionReading] {
        let d = loaded.dictionary
        let r = d.regions
        for id in ids where !(0..<r.count).contains(id) {
            throw PipelineError("region \(id) does not exist: \(loaded.path) has regions 0…\(r.count - 1)")
        }
        let exemplarLens = try lens(ids.map { Array(r.exemplar($0)) }, count: lensTokens)
        let meanLens = try lens(ids.map { Array(r.meanMemberDirection($0)) }, count: lensTokens)
        return ids.enumerated().map { i, k in
            let n = Double(r.memberCounts[k])
            let mean = r.sumDistances[k] / n
            let variance = max(0, r.sumSquaredDistances[k] / n - mean * mean)
            return RegionReading(
                id: k, members: Int(r.memberCounts[k]), coherence: r.memberCoherences[k], meanDistance: mean,
                distanceDeviation: variance.squareRoot(), firstBatch: Int(r.firstBatches[k]), lastBatch: Int(r.lastBatches[k]),
                exemplarLens: exemplarLens[i], meanLens: meanLens[i],
                closest: snippets(r.closest.members(of: k).prefix(closest), before: before, after: after),
                farthest: snippets(r.farthest.members(of: k).prefix(farthest), before: before, after: after))
        }
    }

    /// The top `count` logit-lens tokens of each direction (empty lists without a model or tokenizer).
    public func lens(_ directions: [[Float]], count: Int) throws -> [[LensToken]] {
        guard let model, let tokenizer, count > 0, !directions.isEmpty else { return directions.map { _ in [] } }
        var out: [[LensToken]] = []
        let chunk = 256
        for start in stride(from: 0, to: directions.count, by: chunk) {
            let rows = Array(directions[start..<min(start + chunk, directions.count)])
            let logits = try model.logitLens(Matrix(rowArrays: rows))
            for i in 0..<rows.count {
                out.append(Self.top(logits, row: i, count: count).map { id, logit in
                    LensToken(id: id, text: String(decoding: tokenizer.tokenBytes(id) ?? [], as: UTF8.self), logit: logit)
                })
            }
        }
        return out
    }

    /// The `count` largest entries of a row, largest first (ties by id).
    static func top(_ m: Matrix, row: Int, count: Int) -> [(Int32, Float)] {
        m.storage.withUnsafeBufferPointer { p in
            let base = row * m.columns
            var best: [(Int32, Float)] = []
            for j in 0..<m.columns {
                let v = p[base + j]
                if best.count < count || v > best[best.count - 1].1 {
                    var i = best.count
                    if best.count == count { best.removeLast(); i -= 1 }
                    while i > 0 && best[i - 1].1 < v { i -= 1 }
                    best.insert((Int32(j), v), at: i)
                }
            }
            return best
        }
    }

    private func snippets<S: Sequence>(_ members: S, before: Int, after: Int) -> [ContextSnippet] where S.Element == MemberReference {
        guard let contexts = loaded.contexts else { return [] }
        return members.compactMap { m in
            guard let window = contexts.window(id: m.reference.source) else { return nil }
            let p = Int(m.reference.position)
            if let text = window.text {
                return ContextSnippet(
                    distance: m.distance, window: window.id, position: p, origin: window.origin, before: "", token: "", after: "",
                    tokens: [], tokenTexts: [], text: text)
            }
            guard let tokenizer else { return nil }
            guard p >= 0 && p < window.tokens.count else { return nil }
            func text(_ range: Range<Int>) -> String {
                String(decoding: window.tokens[range].flatMap { tokenizer.tokenBytes($0) ?? [] }, as: UTF8.self)
            }
            return ContextSnippet(
                distance: m.distance, window: window.id, position: p, origin: window.origin,
                before: text(max(0, p - before)..<p), token: text(p..<(p + 1)), after: text((p + 1)..<min(window.tokens.count, p + 1 + after)),
                tokens: window.tokens, tokenTexts: window.tokens.map { String(decoding: tokenizer.tokenBytes($0) ?? [], as: UTF8.self) })
        }
    }
}
