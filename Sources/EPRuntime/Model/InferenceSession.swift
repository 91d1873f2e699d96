import EPTensors

/// One sequence processed incrementally with a KV cache: each ``append(_:logits:)`` runs only the new tokens,
/// attending to every earlier position. The session's hooks apply to every call (generation steps included).
///
/// A session is not thread-safe; use one per sequence.
public final class InferenceSession {
    /// The model.
    public let model: LanguageModel
    /// Hooks applied to every call.
    public let hooks: Hooks
    /// Every token processed so far.
    public private(set) var tokens: [Int32] = []
    private let cache: KVCache

    /// A new, empty session.
    public init(model: LanguageModel, hooks: Hooks = Hooks()) {
        self.model = model
        self.hooks = hooks
        cache = KVCache(layerCount: model.config.layerCount, width: model.config.kvWidth)
    }

    /// Runs `newTokens` at the next positions. Captured activations and `.all` logits have one row per new
    /// token; `.last` logits one row. Every block runs (later calls need their keys and values).
    public func append(_ newTokens: [Int32], logits: LogitsRequest = .last) throws -> ForwardResult {
        let past = cache.count
        try model.validate(newTokens, past: past, label: "session input")
        cache.reserve(past + newTokens.count)
        let slice = SequenceSlice(index: 0, tokens: newTokens, firstRow: 0, past: past, cache: cache)
        var result = ForwardResult()
        try model.execute([slice], hooks: hooks, logits: logits, fullDepth: true, into: &result)
        cache.count = past + newTokens.count
        tokens += newTokens
        return result
    }
}
