import EPCore
import EPFormats
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

    /// The extraction `loaded` records and its extractor from `model` (what a reader of the dictionary with its
    /// model starts from).
    public static func of(_ loaded: LoadedDictionary, model: LanguageModel) throws -> (DictionaryExtraction, ActivationExtractor) {
        let extraction = try DictionaryExtraction(manifest: loaded.manifest, path: loaded.path)
        return (extraction, try extraction.extractor(model: model, for: loaded))
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
    /// A reader of the windows of a corpus cut as this extraction's build cut them (its context and BOS, `chunks`
    /// mode, corpus order), up to `maxTokens` tokens; `maxWindows` bounds the count as well.
    public func windowReader(
        corpus paths: [String], options: CorpusOptions, tokenizer: TextTokenizer, maxTokens: Int?, maxWindows: Int? = nil
    ) throws -> CorpusWindows {
        var settings = WindowSettings()
        settings.context = context
        settings.bos = bosTokenID
        settings.shuffleBuffer = 1
        settings.minimumTokens = min(settings.minimumTokens, context)
        let stream = try WindowStream(corpus: try CorpusReader(paths: paths, options: options), settings: settings) {
            tokenizer.encode($0, parseSpecial: true, addSpecial: false)
        }
        return CorpusWindows(stream, maxTokens: maxTokens, maxWindows: maxWindows)
    }

    /// The windows of a corpus cut as this extraction's build cut them, all held in memory (``windowReader(corpus:options:tokenizer:maxTokens:maxWindows:)``
    /// reads them in batches instead), up to `maxTokens` tokens; `maxWindows` bounds the count as well.
    public func windows(
        corpus paths: [String], options: CorpusOptions, tokenizer: TextTokenizer, maxTokens: Int?, maxWindows: Int? = nil
    ) throws -> (windows: [ContextWindow], statistics: CorpusStatistics) {
        let reader = try windowReader(corpus: paths, options: options, tokenizer: tokenizer, maxTokens: maxTokens, maxWindows: maxWindows)
        var windows: [ContextWindow] = []
        while let w = try reader.next() { windows.append(w) }
        return (windows, reader.statistics)
    }
}

/// The windows of a corpus in order, as a dictionary's build cut them, read one at a time or in batches up to a
/// token budget (the last window may pass it, as the build's last batch does). Memory is what the caller keeps
/// plus the document being cut (``WindowStream``), whatever the size of the corpus.
public final class CorpusWindows {
    private let stream: WindowStream
    private let maxTokens: Int
    private let maxWindows: Int
    /// Windows and tokens (BOS included) read so far.
    public private(set) var windowCount = 0
    public private(set) var tokenCount = 0

    init(_ stream: WindowStream, maxTokens: Int?, maxWindows: Int?) {
        self.stream = stream
        self.maxTokens = maxTokens ?? .max
        self.maxWindows = maxWindows ?? .max
    }

    /// What the corpus reader read and left out so far.
    public var statistics: CorpusStatistics { stream.corpusStatistics }

    /// Why the corpus gave few or no windows, for errors (``WindowStream/explanation``).
    public var explanation: String { stream.explanation }

    /// The next window, or nil at the end of the corpus or of the budget.
    public func next() throws -> ContextWindow? {
        guard tokenCount < maxTokens, windowCount < maxWindows, let w = try stream.next() else { return nil }
        windowCount += 1
        tokenCount += w.tokens.count
        return w
    }

    /// The next `count` windows (fewer at the end; none when the corpus or the budget is exhausted).
    public func next(batch count: Int) throws -> [ContextWindow] {
        var batch: [ContextWindow] = []
        while batch.count < count, let w = try next() { batch.append(w) }
        return batch
    }
}

/// A tokenized text cut into a dictionary's windows on demand: consecutive windows of its context, each starting
/// with its BOS token when it has one (the last may be shorter); window `i` has id `firstID + i`. Holds the token
/// ids only (4 bytes a token), so a long text's windows can be run a batch at a time.
public struct TextWindows: Sendable {
    /// The text's token ids, without BOS.
    public let ids: [Int32]
    /// The BOS token starting every window, if any.
    public let bos: Int32?
    /// Tokens per window, BOS included.
    public let context: Int
    /// The id of the first window.
    public let firstID: Int64
    /// The origin of the windows.
    public let origin: String
    private let body: Int

    public init(ids: [Int32], context: Int, bos: Int32?, firstID: Int64 = 0, origin: String = "text") {
        self.ids = ids
        self.context = context
        self.bos = bos
        self.firstID = firstID
        self.origin = origin
        body = max(1, context - (bos == nil ? 0 : 1))
    }

    /// The number of windows.
    public var count: Int { (ids.count + body - 1) / body }

    /// Tokens of all windows, BOS included.
    public var tokenCount: Int { ids.count + (bos == nil ? 0 : count) }

    /// Window `i` (0 ≤ i < count).
    public func window(_ i: Int) -> ContextWindow {
        let start = i * body
        return ContextWindow(id: firstID + Int64(i), tokens: (bos.map { [$0] } ?? []) + ids[start..<min(start + body, ids.count)], origin: origin)
    }

    /// Windows `range`.
    public func windows(_ range: Range<Int>) -> [ContextWindow] { range.map(window) }

    /// Every window.
    public var all: [ContextWindow] { windows(0..<count) }

    /// Every token of every window in order (BOS included), with its window and position: what a per-token listing
    /// shows, without running the model.
    public func forEachToken(_ body: (_ window: Int, _ position: Int, _ id: Int32) throws -> Void) rethrows {
        for w in 0..<count {
            var p = 0
            if let bos {
                try body(w, 0, bos)
                p = 1
            }
            let start = w * self.body
            for id in ids[start..<min(start + self.body, ids.count)] {
                try body(w, p, id)
                p += 1
            }
        }
    }
}

extension DictionaryExtraction {
    /// A tokenized text (`ids`, no BOS) cut into this extraction's windows on demand.
    public func textWindows(_ ids: [Int32], firstID: Int64 = 0, origin: String = "text") -> TextWindows {
        TextWindows(ids: ids, context: context, bos: bosTokenID, firstID: firstID, origin: origin)
    }

    /// The windows a tokenized text (`ids`, no BOS) is cut into: consecutive windows of this extraction's context,
    /// each starting with its BOS token when it has one; their ids count up from `firstID`.
    public func windows(ofText ids: [Int32], firstID: Int64 = 0, origin: String = "text") -> [ContextWindow] {
        textWindows(ids, firstID: firstID, origin: origin).all
    }
}

/// One token of an assigned text (an element of `ep assign --text … --json`'s tokens; nil fields as null).
public struct TokenAssignment: Sendable, Equatable, Encodable {
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

    enum CodingKeys: String, CodingKey {
        case window, position, tokenID = "token_id", text, region, distance, withinThreshold = "within_threshold"
    }
}

/// What `ep assign DICT --text … --json` prints: θ, the dictionary's hook, and every token of the text.
public struct TextAssignmentReport: Sendable, Encodable {
    public var threshold: Double
    public var hook: String
    public var tokens: [TokenAssignment]

    enum CodingKeys: String, CodingKey {
        case threshold, hook, tokens
    }

    public init(threshold: Double, hook: String, tokens: [TokenAssignment]) {
        self.threshold = threshold
        self.hook = hook
        self.tokens = tokens
    }

    /// The report's JSON written piece by piece as its tokens come, batch by batch
    /// (``TextAssigner/assign(_:batchWindows:_:)``), so that a long text is never held whole: ``opening``, then
    /// ``rows(_:)`` of every batch, then ``closing()``, joined, are `JSONValueEncoder.value(of: report).rendered()`
    /// of the report with all the tokens.
    public struct JSONStream {
        /// The text before the tokens' array: the report's JSON up to `"tokens": `.
        public let opening: String
        private var rowsWritten = 0

        public init(threshold: Double, hook: String) {
            let empty = JSONValueEncoder.value(of: TextAssignmentReport(threshold: threshold, hook: hook, tokens: [])).rendered()
            // `tokens` is the last key: the empty report ends with its empty array.
            precondition(empty.hasSuffix(Self.emptyTail), "TextAssignmentReport: tokens must be the last key")
            opening = String(empty.dropLast(Self.emptyTail.count))
        }

        private static let emptyTail = "[]\n}"

        /// The text of `batch`'s tokens (elements of the array, opened before the first).
        public mutating func rows(_ batch: [TokenAssignment]) -> String {
            var out = ""
            for t in batch {
                out += (rowsWritten == 0 ? "[\n    " : ",\n    ") + JSONValueEncoder.value(of: t).rendered(indent: 4)
                rowsWritten += 1
            }
            return out
        }

        /// The text after the last token.
        public func closing() -> String { rowsWritten == 0 ? Self.emptyTail : "\n  ]\n}" }
    }
}

/// Assigns the tokens of texts to a dictionary's regions, running the model the way the dictionary's
/// activations were extracted (same hook, extractor, window length and BOS).
///
/// A text is run `batchWindows` windows at a time and its assignments handed over batch by batch, so memory is
/// the text, its token ids (4 bytes a token) and one batch — its activations (4·D bytes a token, D the hook's
/// width) and assignments — however long the text. Each window runs through the model on its own (the context is
/// the window), so the batch size does not change the results: batches of 16, 7 or 1 windows give what one batch
/// of the whole text gives, token for token (checked by the tests).
public final class TextAssigner {
    /// Windows run per batch unless told otherwise (a multiple of the windows per forward call, so every call is
    /// full).
    public static let defaultBatchWindows = 64

    /// The dictionary.
    public let loaded: LoadedDictionary
    /// How its activations were extracted.
    public let extraction: DictionaryExtraction
    private let extractor: ActivationExtractor
    private let tokenizer: TextTokenizer

    /// An assigner for `loaded` with the model it was built from (the caller checks the model's identity).
    public init(_ loaded: LoadedDictionary, model: LanguageModel, tokenizer: TextTokenizer) throws {
        (extraction, extractor) = try DictionaryExtraction.of(loaded, model: model)
        (self.loaded, self.tokenizer) = (loaded, tokenizer)
    }

    /// The windows `ids` (a tokenized text, no BOS) is cut into: consecutive windows of the dictionary's context,
    /// each starting with its BOS token when it has one.
    public func windows(_ ids: [Int32]) -> [ContextWindow] { extraction.windows(ofText: ids) }

    /// `text` tokenized (special tokens written in it parsed) and cut into the dictionary's windows on demand.
    public func tokenize(_ text: String) -> TextWindows {
        extraction.textWindows(tokenizer.encode(text, parseSpecial: true, addSpecial: false))
    }

    /// The text of a token, its bytes as UTF-8 (invalid sequences replaced), as ``TokenAssignment/text`` shows it.
    public func tokenText(_ id: Int32) -> String {
        String(decoding: tokenizer.tokenBytes(id) ?? [], as: UTF8.self)
    }

    /// Every token of `text` (special tokens written in it parsed), with its region where the extraction takes
    /// its position; all held in memory (``assign(_:batchWindows:_:)`` hands them over batch by batch).
    public func assign(_ text: String) throws -> [TokenAssignment] {
        var tokens: [TokenAssignment] = []
        try assign(tokenize(text)) { tokens += $0 }
        return tokens
    }

    /// Every token of `text`'s windows with its region where the extraction takes its position, handed to `body`
    /// in order, `batchWindows` windows at a time.
    public func assign(_ text: TextWindows, batchWindows: Int = defaultBatchWindows, _ body: ([TokenAssignment]) throws -> Void) throws {
        try activations(text, batchWindows: batchWindows) { batch in try body(try assign(batch, text: text)) }
    }

    /// The activations of `text` as the dictionary's extraction takes them, with their windows and positions, in
    /// one batch (``activations(_:batchWindows:_:)`` reads them batch by batch).
    public func activations(_ text: String) throws -> ActivationBatch? {
        let windows = tokenize(text).all
        return windows.isEmpty ? nil : try extractor.extract(windows)
    }

    /// The activations of `text`'s windows as the dictionary's extraction takes them, handed to `body` in order,
    /// `batchWindows` windows at a time (a batch can hold no row, when the extraction takes no position of its
    /// windows).
    public func activations(_ text: TextWindows, batchWindows: Int = defaultBatchWindows, _ body: (ActivationBatch) throws -> Void) throws {
        guard batchWindows > 0 else { throw PipelineError("--batch-windows must be positive, got \(batchWindows)") }
        for start in stride(from: 0, to: text.count, by: batchWindows) {
            guard let batch = try extractor.extract(text.windows(start..<min(start + batchWindows, text.count))) else { return }
            try body(batch)
        }
    }

    private func assign(_ batch: ActivationBatch, text: TextWindows) throws -> [TokenAssignment] {
        let result = try loaded.dictionary.assign(batch.activations)
        var byReference: [RowReference: Int] = [:]
        for (i, r) in batch.references.enumerated() { byReference[r] = i }
        let theta = loaded.dictionary.thresholdFloat
        return batch.windows.flatMap { window in
            window.tokens.enumerated().map { p, id in
                let row = byReference[RowReference(source: window.id, position: Int32(p))]
                return TokenAssignment(
                    window: Int(window.id - text.firstID), position: p, tokenID: id, text: tokenText(id),
                    region: row.map { Int(result.regions[$0]) }, distance: row.map { result.distances[$0] },
                    withinThreshold: row.map { result.distances[$0] <= theta })
            }
        }
    }
}
