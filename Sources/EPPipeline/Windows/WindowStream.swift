import EPStore
import EPTensors

/// How documents become context windows.
public struct WindowSettings: Sendable, Equatable, Codable {
    /// How a document is cut.
    public enum Mode: String, Sendable, Codable, CaseIterable {
        /// Consecutive windows of `context` tokens over the whole document; a shorter last window is kept when it
        /// has at least `minimumTokens` tokens.
        case chunks
        /// One window per document: its first `context` tokens; documents shorter than `context` are left out
        /// (the reference implementation's Pile mode, §5.2).
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
}

/// Tokenizes a corpus document by document and cuts it into context windows, shuffled through a seeded buffer
/// (the corpus is streamed, so the shuffle is local: a window leaves the buffer at a random time after it entered,
/// as in Hugging Face's streaming shuffle). Deterministic for a given corpus, tokenizer, settings and seed, so a
/// resumed build can skip the windows it has already consumed.
public final class WindowStream {
    /// The settings in force.
    public let settings: WindowSettings
    private let corpus: CorpusReader
    private let tokenize: (String) -> [Int32]
    private var buffer: [ContextWindow] = []
    private var pendingFromDocument: [ContextWindow] = []
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

    /// The next window, or nil when the corpus is exhausted.
    public func next() throws -> ContextWindow? {
        let capacity = max(settings.shuffleBuffer, 1)
        while buffer.count < capacity && !corpusExhausted {
            if pendingFromDocument.isEmpty {
                guard let document = try corpus.next() else {
                    corpusExhausted = true
                    break
                }
                pendingFromDocument = cut(document)
                if pendingFromDocument.isEmpty { droppedDocuments += 1 }
                pendingFromDocument.reverse()
                continue
            }
            buffer.append(pendingFromDocument.removeLast())
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

    /// The windows of one document under the settings.
    func cut(_ document: Document) -> [ContextWindow] {
        let ids = tokenize(document.text)
        let prefix: [Int32] = settings.bos.map { [$0] } ?? []
        let body = settings.context - prefix.count
        var windows: [ContextWindow] = []
        switch settings.mode {
        case .prefix:
            if ids.count >= body {
                windows.append(ContextWindow(id: -1, tokens: prefix + ids[0..<body], origin: document.origin))
            }
        case .chunks:
            var start = 0
            while start < ids.count {
                let end = min(start + body, ids.count)
                if prefix.count + end - start >= settings.minimumTokens {
                    windows.append(ContextWindow(id: -1, tokens: prefix + ids[start..<end], origin: document.origin))
                }
                start = end
            }
        }
        return windows
    }
}
