import EPCore
import EPRuntime
import EPStore
import EPTensors

/// How a dictionary's activations were extracted from text, read from its manifest: the hook, the extractor,
/// the window length, the BOS token and whether position 0 was left out. Text assigned to a dictionary is
/// windowed and extracted the same way.
public struct DictionaryExtraction: Sendable, Equatable {
    public var hook: String
    public var extractor: ExtractorKind
    public var context: Int
    public var bosTokenID: Int32?
    public var excludeFirstPosition: Bool

    /// The extraction of the dictionary at `path` with manifest `manifest`; an error when it was not built from
    /// text (it then records no extraction).
    public init(manifest: DictionaryManifest, path: String) throws {
        guard let text = manifest.build.text, let source = manifest.build.source, let hook = source.hook,
            let name = source.extractor, let extractor = ExtractorKind(rawValue: name), let context = source.contextLength
        else {
            throw PipelineError("\(path): built from activation files, so it records no model extraction; it can only assign activation files")
        }
        self.hook = hook
        self.extractor = extractor
        self.context = context
        bosTokenID = text.bosTokenID.map { Int32($0) }
        excludeFirstPosition = text.firstPositionExcluded
    }

    /// The positions this extraction takes from a window.
    public var settings: ExtractionSettings {
        var settings = ExtractionSettings()
        settings.extractor = extractor
        settings.excludeFirstPosition = excludeFirstPosition
        return settings
    }

    /// An extractor of this extraction from `model` for `loaded`, whose width must match the hook's.
    public func extractor(model: LanguageModel, for loaded: LoadedDictionary) throws -> ActivationExtractor {
        let extractor = try ActivationExtractor(model: model, hook: hook, settings: settings)
        guard extractor.width == loaded.dictionary.width else {
            throw PipelineError("\(loaded.path): the dictionary has width \(loaded.dictionary.width) but \(hook) has width \(extractor.width)")
        }
        return extractor
    }
}

extension DictionaryExtraction {
    /// The windows of a corpus cut as this extraction's build cut them (its context and BOS, `chunks` mode, corpus
    /// order), up to `maxTokens` tokens; `maxWindows` bounds the count as well.
    public func windows(
        corpus paths: [String], options: CorpusOptions, tokenizer: TextTokenizer, maxTokens: Int?, maxWindows: Int? = nil
    ) throws -> (windows: [ContextWindow], statistics: CorpusStatistics) {
        var settings = WindowSettings()
        settings.context = context
        settings.bos = bosTokenID
        settings.shuffleBuffer = 1
        settings.minimumTokens = min(settings.minimumTokens, context)
        let stream = try WindowStream(corpus: try CorpusReader(paths: paths, options: options), settings: settings) {
            tokenizer.encode($0, parseSpecial: true, addSpecial: false)
        }
        var windows: [ContextWindow] = []
        var tokens = 0
        while tokens < (maxTokens ?? .max), windows.count < (maxWindows ?? .max), let w = try stream.next() {
            windows.append(w)
            tokens += w.tokens.count
        }
        return (windows, stream.corpusStatistics)
    }
}

/// One token of an assigned text.
public struct TokenAssignment: Sendable, Equatable {
    /// The window it fell in (texts longer than the dictionary's context are cut into windows) and its position
    /// there.
    public var window: Int
    public var position: Int
    /// The token and its text.
    public var tokenID: Int32
    public var text: String
    /// Its nearest region and clamped cosine distance to that region's exemplar; nil for a position the
    /// dictionary's extraction leaves out (position 0, or all but the last position with the final-position
    /// extractor).
    public var region: Int?
    public var distance: Float?
    /// Whether the distance is within θ (false: out of distribution at this resolution).
    public var withinThreshold: Bool?
}

/// Assigns the tokens of texts to a dictionary's regions, running the model the way the dictionary's
/// activations were extracted (same hook, extractor, window length and BOS).
public final class TextAssigner {
    /// The dictionary.
    public let loaded: LoadedDictionary
    /// How its activations were extracted.
    public let extraction: DictionaryExtraction
    private let extractor: ActivationExtractor
    private let tokenizer: TextTokenizer

    /// An assigner for `loaded` with the model it was built from (the caller checks the model's identity).
    public init(_ loaded: LoadedDictionary, model: LanguageModel, tokenizer: TextTokenizer) throws {
        extraction = try DictionaryExtraction(manifest: loaded.manifest, path: loaded.path)
        extractor = try extraction.extractor(model: model, for: loaded)
        self.loaded = loaded
        self.tokenizer = tokenizer
    }

    /// The windows `ids` (a tokenized text, no BOS) is cut into: consecutive windows of the dictionary's context,
    /// each starting with its BOS token when it has one.
    public func windows(_ ids: [Int32]) -> [ContextWindow] {
        let prefix = extraction.bosTokenID.map { [$0] } ?? []
        let body = extraction.context - prefix.count
        return stride(from: 0, to: ids.count, by: body).enumerated().map { i, start in
            ContextWindow(id: Int64(i), tokens: prefix + ids[start..<min(start + body, ids.count)], origin: "text")
        }
    }

    /// Every token of `text` (special tokens written in it parsed), with its region where the extraction takes
    /// its position.
    public func assign(_ text: String) throws -> [TokenAssignment] {
        let windows = windows(tokenizer.encode(text, parseSpecial: true, addSpecial: false))
        guard !windows.isEmpty, let batch = try extractor.extract(windows) else { return [] }
        return try assign(batch, windows: windows)
    }

    /// The activations of `text` as the dictionary's extraction takes them, with their windows and positions.
    public func activations(_ text: String) throws -> ActivationBatch? {
        let windows = windows(tokenizer.encode(text, parseSpecial: true, addSpecial: false))
        return windows.isEmpty ? nil : try extractor.extract(windows)
    }

    private func assign(_ batch: ActivationBatch, windows: [ContextWindow]) throws -> [TokenAssignment] {
        let result = try loaded.dictionary.assign(batch.activations)
        var byReference: [RowReference: Int] = [:]
        for (i, r) in batch.references.enumerated() { byReference[r] = i }
        let theta = loaded.dictionary.thresholdFloat
        return windows.enumerated().flatMap { w, window in
            window.tokens.enumerated().map { p, id in
                let row = byReference[RowReference(source: window.id, position: Int32(p))]
                return TokenAssignment(
                    window: w, position: p, tokenID: id, text: String(decoding: tokenizer.tokenBytes(id) ?? [], as: UTF8.self),
                    region: row.map { Int(result.regions[$0]) }, distance: row.map { result.distances[$0] },
                    withinThreshold: row.map { result.distances[$0] <= theta })
            }
        }
    }
}
