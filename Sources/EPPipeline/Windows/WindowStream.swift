import EPFormats
import EPStore
import EPTensors

/// How documents become context windows.
public struct WindowSettings: Sendable, Equatable, Codable {
    /// How a document is cut.
    public enum Mode: String, Sendable, CaseIterable, JSONStringEnum {
        /// Consecutive windows of `context` tokens over the whole document; a shorter last window is kept when it
        /// has at least `minimumTokens` tokens.
        case chunks
        /// One window per document: its first `context` tokens; documents shorter than `context` are left out
        /// (the reference implementation's Pile mode, docs/build.md).
        case prefix
    }

    /// Tokens per window, BOS included.
    public var context: Int = 128
    /// How documents are cut.
    public var mode: Mode = .chunks
    /// The shortest window kept in `chunks` mode (BOS included).
    public var minimumTokens: Int = 32
    /// The BOS token prepended to every window, or nil when the model's tokenizer adds none (SmolLM2).
    public var bos: Int32?
    /// Windows held in the shuffle buffer; 0 or 1 keeps corpus order.
    public var shuffleBuffer: Int = 4096
    /// Seed of the shuffle.
    public var seed: UInt64 = 0

    public init() {}

    /// The fields as a shard plan's settings record them (`settings.windows`).
    enum CodingKeys: String, CodingKey {
        case context, mode, minimumTokens = "min_window", bos = "bos_token_id", shuffleBuffer = "shuffle_buffer", seed
    }
}

/// Tokenizes a corpus document by document and cuts it into context windows, shuffled through a seeded buffer
/// (the corpus is streamed, so the shuffle is local: a window leaves the buffer at a random time after it entered,
/// as in Hugging Face's streaming shuffle). Deterministic for a given corpus, tokenizer, settings and seed, so a
/// resumed build can skip the windows it has already consumed.
///
/// Memory: the shuffle buffer's windows, and the document being cut, held as its token ids (4 bytes a token; its
/// text is let go once tokenized) and cut into windows as they are taken.
public final class WindowStream {
    /// The settings in force.
    public let settings: WindowSettings
    private let corpus: CorpusReader
    private let tokenize: (String) -> [Int32]
    private var buffer: [ContextWindow] = []
    /// The document being cut and whether it gave a window yet.
    private var pending: (windows: DocumentWindows, gaveOne: Bool)?
    private var generator: SeededGenerator
    private var corpusExhausted = false
    /// Windows emitted so far.
    public private(set) var emitted: Int64 = 0
    /// Tokens in the windows emitted so far (BOS included).
    public private(set) var emittedTokens = 0
    /// Documents that gave no window (shorter than the minimum or, in prefix mode, than `context`).
    public private(set) var droppedDocuments = 0

    /// A stream over `corpus`; `tokenize` turns a document's text into ids without BOS.
    public init(corpus: CorpusReader, settings: WindowSettings, tokenize: @escaping (String) -> [Int32]) throws {
        guard settings.context >= 2 else { throw PipelineError("--context must be at least 2 tokens, got \(settings.context)") }
        guard settings.minimumTokens >= 2, settings.minimumTokens <= settings.context else {
            throw PipelineError("--min-window must be between 2 and the context length \(settings.context), got \(settings.minimumTokens)")
        }
        self.corpus = corpus
        self.settings = settings
        self.tokenize = tokenize
        generator = SeededGenerator(seed: settings.seed)
    }

    /// What the corpus reader has read so far.
    public var corpusStatistics: CorpusStatistics { corpus.statistics }

    /// Why the stream gave few or no windows, for errors: what was read and what was left out
    /// (``CorpusStatistics/explanation(tooShort:)``).
    public var explanation: String { corpus.statistics.explanation(tooShort: droppedDocuments) }

    /// The next window, or nil when the corpus is exhausted.
    public func next() throws -> ContextWindow? {
        let capacity = max(settings.shuffleBuffer, 1)
        while buffer.count < capacity && !corpusExhausted {
            guard var document = pending else {
                guard let next = try corpus.next() else {
                    corpusExhausted = true
                    break
                }
                pending = (windows(of: next), false)
                continue
            }
            pending = nil
            guard let window = document.windows.next() else {
                if !document.gaveOne { droppedDocuments += 1 }
                continue
            }
            document.gaveOne = true
            pending = document
            buffer.append(window)
        }
        guard !buffer.isEmpty else { return nil }
        let index = capacity > 1 ? generator.uniform(below: buffer.count) : 0
        buffer.swapAt(index, buffer.count - 1)
        var window = buffer.removeLast()
        window.id = emitted
        emitted += 1
        emittedTokens += window.tokens.count
        return window
    }

    /// Skips `count` windows (to resume a build where it stopped), handing each to `each`.
    public func skip(_ count: Int64, each: (ContextWindow) -> Void = { _ in }) throws {
        var remaining = count
        while remaining > 0 {
            guard let window = try next() else {
                throw PipelineError("the corpus ended after \(emitted) windows but the checkpoint had consumed \(count); it changed since the build started")
            }
            each(window)
            remaining -= 1
        }
    }

    /// The windows of one document under the settings, cut as they are taken.
    func windows(of document: Document) -> DocumentWindows {
        DocumentWindows(ids: tokenize(document.text), origin: document.origin, settings: settings)
    }

    /// The windows of one document under the settings.
    func cut(_ document: Document) -> [ContextWindow] {
        var windows = windows(of: document)
        var result: [ContextWindow] = []
        while let w = windows.next() { result.append(w) }
        return result
    }
}

/// The windows of one tokenized document, cut one at a time: in `chunks` mode consecutive windows of the context
/// length (BOS first when set), a shorter last one kept when it has at least the minimum length; in `prefix` mode
/// the first window only, when the document fills it. Their ids are -1 (the stream numbers them).
struct DocumentWindows {
    let ids: [Int32]
    let origin: String
    private let prefix: [Int32]
    private let body: Int
    private let settings: WindowSettings
    private var start = 0

    init(ids: [Int32], origin: String, settings: WindowSettings) {
        self.ids = ids
        self.origin = origin
        self.settings = settings
        prefix = settings.bos.map { [$0] } ?? []
        body = settings.context - prefix.count
    }

    /// The next window, or nil when the document has no more.
    mutating func next() -> ContextWindow? {
        switch settings.mode {
        case .prefix:
            guard start == 0, ids.count >= body else { return nil }
            start = ids.count
            return ContextWindow(id: -1, tokens: prefix + ids[0..<body], origin: origin)
        case .chunks:
            while start < ids.count {
                let end = min(start + body, ids.count)
                defer { start = end }
                if prefix.count + end - start >= settings.minimumTokens {
                    return ContextWindow(id: -1, tokens: prefix + ids[start..<end], origin: origin)
                }
            }
            return nil
        }
    }
}
