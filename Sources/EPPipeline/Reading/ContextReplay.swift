import EPCore
import EPRuntime
import EPStore
import EPTensors

/// A span of a stored context window shown on a region's page: the positions whose distances to the region are
/// wanted.
public struct ContextSpan: Sendable, Hashable {
    /// The region.
    public var region: Int
    /// The window (its id in the build's stream) and the positions.
    public var window: Int64
    public var positions: Range<Int>

    public init(region: Int, window: Int64, positions: Range<Int>) {
        self.region = region
        self.window = window
        self.positions = positions
    }
}

/// What the dictionary says about one token of a replayed window.
public struct TokenDistance: Sendable, Equatable {
    /// The distance of its activation to the exemplar of the span's region.
    public var distance: Float
    /// Its nearest region and the distance to that region's exemplar.
    public var nearestRegion: Int
    public var nearestDistance: Float
}

/// The outcome of a replay.
public struct ReplayResult: Sendable {
    /// Per span, one entry per position: nil where the dictionary's extraction takes no activation (position 0
    /// when it was left out of the build).
    public var spans: [ContextSpan: [TokenDistance?]]
    /// Per region, the distances of the replayed activations whose nearest region it is (only positions the
    /// dictionary's extraction takes, in windows replayed to their end for the final-position extractor).
    public var samples: [[Float]]
    /// Tokens run through the model.
    public var tokens: Int
}

/// Runs stored context windows of a dictionary built from text through its model again, to give every shown token
/// its distance to the region whose page shows it and its nearest region.
///
/// Each window is run once, cut after the last position any span needs (the model is causal, so the activations
/// of the kept positions do not change), with the hook, BOS and position-0 rule of the build. Distances are
/// EPCore's clamped cosine distances to the exemplars (``ExemplarDictionary/distances(_:)``), from activations of
/// a different forward batch than the build's, so a member token's distance equals its recorded one to float
/// rounding (about 1e-6).
public final class ContextReplay {
    /// The dictionary.
    public let loaded: LoadedDictionary
    private let extraction: DictionaryExtraction
    private let extractor: ActivationExtractor

    /// A replay of `loaded`'s windows through `model` (the caller checks it is the dictionary's model); an error
    /// when the dictionary was not built from text or stores no context windows.
    public init(_ loaded: LoadedDictionary, model: LanguageModel) throws {
        extraction = try DictionaryExtraction(manifest: loaded.manifest, path: loaded.path)
        guard loaded.contexts != nil else { throw PipelineError("\(loaded.path): stores no context windows to replay") }
        var settings = extraction.settings
        settings.extractor = .perPosition
        extractor = try ActivationExtractor(model: model, hook: extraction.hook, settings: settings)
        guard extractor.width == loaded.dictionary.width else {
            throw PipelineError("\(loaded.path): the dictionary has width \(loaded.dictionary.width) but \(extraction.hook) has width \(extractor.width)")
        }
        self.loaded = loaded
    }

    /// Replays the windows of `spans` (spans of windows the dictionary does not store are left out), calling
    /// `progress(tokens done, tokens in all)` before the first group of windows and after each.
    public func run(_ spans: [ContextSpan], progress: (Int, Int) -> Void = { _, _ in }) throws -> ReplayResult {
        let contexts = loaded.contexts!
        let dictionary = loaded.dictionary
        var spansByWindow: [Int64: [ContextSpan]] = [:]
        for span in Set(spans) where contexts.window(id: span.window) != nil { spansByWindow[span.window, default: []].append(span) }
        let windows = spansByWindow.keys.sorted().map { id -> ContextWindow in
            let window = contexts.window(id: id)!
            let end = min(window.tokens.count, spansByWindow[id]!.map(\.positions.upperBound).max()!)
            return ContextWindow(id: id, tokens: Array(window.tokens.prefix(end)), origin: window.origin)
        }
        let total = windows.reduce(0) { $0 + $1.tokens.count }
        var result = ReplayResult(spans: [:], samples: Array(repeating: [], count: dictionary.regionCount), tokens: 0)
        for span in spansByWindow.values.joined() { result.spans[span] = Array(repeating: nil, count: span.positions.count) }
        let sampled = extraction.settings
        progress(0, total)
        let groupSize = 64
        for start in stride(from: 0, to: windows.count, by: groupSize) {
            let group = Array(windows[start..<min(windows.count, start + groupSize)])
            guard let batch = try extractor.extract(group) else { break }
            let blockRows = 1024
            for first in stride(from: 0, to: batch.references.count, by: blockRows) {
                let rows = first..<min(batch.references.count, first + blockRows)
                let distances = try dictionary.distances(batch.activations.rows(rows))
                let k = distances.columns
                distances.storage.withUnsafeBufferPointer { d in
                    for (r, reference) in zip(rows, batch.references[rows]) {
                        let row = d.baseAddress! + (r - first) * k
                        var nearest = 0
                        for j in 1..<max(1, k) where row[j] < row[nearest] { nearest = j }
                        let p = Int(reference.position)
                        let fullLength = contexts.window(id: reference.source)!.tokens.count
                        if k > 0, sampled.positions(inWindowOf: fullLength).contains(p) { result.samples[nearest].append(row[nearest]) }
                        for span in spansByWindow[reference.source]! where span.positions.contains(p) && k > 0 {
                            result.spans[span]![p - span.positions.lowerBound] = TokenDistance(
                                distance: row[span.region], nearestRegion: nearest, nearestDistance: row[nearest])
                        }
                    }
                }
            }
            result.tokens += group.reduce(0) { $0 + $1.tokens.count }
            progress(result.tokens, total)
        }
        return result
    }
}
