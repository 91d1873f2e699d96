import EPCore
import EPPipeline
import EPRuntime
import EPStore
import Foundation

/// What the region pages of a report read with the model: logit-lens tokens, members shown in context and the
/// tokens around them.
public struct ReportReading: Sendable {
    /// Logit-lens tokens per direction.
    public var lensTokens = 8
    /// Closest and farthest (boundary) members shown in context per region.
    public var closest = 5
    public var boundary = 5
    /// Tokens shown before and after the member token.
    public var before = 20
    public var after = 8
    /// Whether the shown windows run through the model again for per-token distances.
    public var tokenDistances = true

    public init() {}
}

/// Where the writing of a report is.
public enum ReportProgress: Sendable {
    /// Per-token distances: tokens of stored windows run through the model again so far, of `total`.
    case replay(done: Int, total: Int)
    /// Region pages: the first region of the chunk being read, of `total` regions.
    case regionPages(done: Int, total: Int)
}

/// What ``ReportBuilder/write(to:options:progress:)`` wrote.
public struct ReportBuild: Sendable {
    public var result: ReportResult
    /// Tokens of stored windows run through the model again for per-token distances (nil when none were).
    public var replayedTokens: Int?
}

/// The library side of `ep report`: the site of a dictionary and, with its model, what the model says about
/// each region (logit lens, members in context, per-token distances when the dictionary was built from text).
public struct ReportBuilder {
    public let loaded: LoadedDictionary
    public let model: LanguageModel?
    public let tokenizer: TextTokenizer?
    public var reading: ReportReading

    public init(_ loaded: LoadedDictionary, model: LanguageModel?, tokenizer: TextTokenizer?, reading: ReportReading = ReportReading()) {
        self.loaded = loaded
        self.model = model
        self.tokenizer = tokenizer
        self.reading = reading
    }

    /// Writes the site at `path` (replaced atomically).
    public func write(to path: String, options: ReportOptions, progress: @escaping (ReportProgress) -> Void = { _ in }) throws -> ReportBuild {
        let reader = try RegionReader(loaded, model: model, tokenizer: tokenizer)
        var replay: ReplayResult?
        if let model, reading.tokenDistances, loaded.manifest.build.text != nil, loaded.contexts != nil {
            let replayer = try ContextReplay(loaded, model: model)
            replay = try replayer.run(spans()) { done, total in progress(.replay(done: done, total: total)) }
        }
        let textWindows = loaded.contexts?.windows.contains { $0.text != nil } ?? false
        let texts: ((Range<Int>) throws -> [RegionText])? = model == nil && !textWindows ? nil : { [reading] range in
            progress(.regionPages(done: range.lowerBound, total: loaded.dictionary.regionCount))
            return try reader.read(
                Array(range), lensTokens: reading.lensTokens, closest: reading.closest, farthest: reading.boundary, before: reading.before,
                after: reading.after
            ).map { convert($0, replay: replay) }
        }
        let result = try ReportSite.write(loaded, to: path, options: options, text: texts)
        return ReportBuild(result: result, replayedTokens: replay?.tokens)
    }

    /// The spans of stored windows the region pages show: for each region, its first `closest` closest and
    /// `boundary` farthest members with `before` tokens before and `after` after.
    private func spans() -> [ContextSpan] {
        let regions = loaded.dictionary.regions
        var spans: [ContextSpan] = []
        for k in 0..<regions.count {
            for m in regions.closest.members(of: k).prefix(reading.closest) + regions.farthest.members(of: k).prefix(reading.boundary) {
                guard let window = loaded.contexts?.window(id: m.reference.source) else { continue }
                let p = Int(m.reference.position)
                spans.append(ContextSpan(region: k, window: window.id, positions: shown(p, length: window.tokens.count)))
            }
        }
        return spans
    }

    /// The window positions shown around the member at `position` in a window of `length` tokens.
    private func shown(_ position: Int, length: Int) -> Range<Int> {
        max(0, position - reading.before)..<min(length, position + 1 + reading.after)
    }

    /// A reading as the report's plain data, with the replayed distances of its shown tokens.
    private func convert(_ r: RegionReading, replay: ReplayResult?) -> RegionText {
        func context(_ s: ContextSnippet) -> ReportContext {
            if let text = s.text {
                // A text window (an imported prompt): the prompt as one piece, shown as the member.
                return ReportContext(
                    distance: s.distance, window: s.window, position: s.position, origin: s.origin, firstPosition: s.position,
                    tokens: [ReportToken(text: text, distance: nil, nearestRegion: nil, nearestDistance: nil)])
            }
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
