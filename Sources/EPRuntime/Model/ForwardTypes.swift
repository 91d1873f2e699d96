import EPTensors

/// Which logits a forward call returns.
public enum LogitsRequest: Sendable, Equatable {
    /// No logits: the LM head is not computed, and layers after the last captured hook point are skipped.
    case none
    /// One row per sequence: the logits after its last token.
    case last
    /// One row per token.
    case all
}

/// What a forward call returns. Rows of every matrix follow the batch: the rows of sequence `i` are
/// `rowOffsets[i]..<rowOffsets[i + 1]` (for ``LogitsRequest/last`` logits, row `i`).
public struct ForwardResult: Sendable {
    /// Start row of each sequence, plus the total row count at the end.
    public var rowOffsets: [Int]
    /// Captured activations by hook point: one row per token, all positions.
    public var activations: [HookPoint: Matrix]
    /// Logits (vocabulary-wide rows), when requested.
    public var logits: Matrix?

    /// An empty result (no rows), e.g. to pass to ``LanguageModel/forward(_:hooks:logits:into:)`` the first time.
    public init() {
        self.init(rowOffsets: [0], activations: [:], logits: nil)
    }

    init(rowOffsets: [Int], activations: [HookPoint: Matrix], logits: Matrix?) {
        self.rowOffsets = rowOffsets
        self.activations = activations
        self.logits = logits
    }
}

/// One sequence of a forward call as a group of rows sees it.
struct SequenceSlice: Sendable {
    /// Index of the sequence in the call's batch.
    var index: Int
    /// Its new tokens.
    var tokens: [Int32]
    /// Row of its first token within the group.
    var firstRow: Int
    /// Positions already processed (held in `cache`); the new tokens sit at positions `past…`.
    var past: Int
    /// Where keys and values of the sequence persist between calls (generation), or nil for a one-off window.
    var cache: KVCache?
}

/// Sequences processed together, their rows stacked.
struct ForwardGroup: Sendable {
    var slices: [SequenceSlice]
    /// Row of the group's first token in the call's outputs.
    var firstOutputRow: Int
    /// Threads the group's pass may use for its own work (element-wise kernels, attention); BLAS's thread count
    /// is set by the caller.
    var threads = 1
    /// Rows of the group.
    var rows: Int { slices.reduce(0) { $0 + $1.tokens.count } }
}

/// What to compute and where to put it, shared by the groups of one forward call.
struct ForwardPlan: @unchecked Sendable {
    /// ``HookPoint/order`` of the last hook point whose value is needed, or `Int.max` when the LM head runs.
    var stopOrder: Int
    var logits: LogitsRequest
    var edits: [HookPoint: [PreparedEdit]]
    /// Capture outputs: `rows × width` floats each, indexed by output row.
    var captures: [HookPoint: UnsafeMutablePointer<Float>]
    /// Logit output rows (per token or per sequence).
    var logitOutput: UnsafeMutablePointer<Float>?

    /// Blocks to run: through the block of the last needed point.
    func layersToRun(_ layerCount: Int) -> Int {
        if stopOrder >= HookPoint.finalNormalized.order { return layerCount }
        return HookPoint.all(layerCount: layerCount).last { $0.order <= stopOrder }.flatMap(\.layer).map { $0 + 1 } ?? 0
    }
}

/// Keys and values of the positions a sequence has processed, per layer, for incremental decoding.
final class KVCache: @unchecked Sendable {
    let layerCount: Int
    let width: Int
    private(set) var capacity = 0
    /// Positions stored.
    var count = 0
    private(set) var keys: [FloatBuffer] = []
    private(set) var values: [FloatBuffer] = []

    init(layerCount: Int, width: Int) {
        self.layerCount = layerCount
        self.width = width
    }

    /// Makes room for `positions` positions, keeping what is stored.
    func reserve(_ positions: Int) {
        guard positions > capacity else { return }
        let newCapacity = max(positions, 2 * capacity, 256)
        func grow(_ old: [FloatBuffer]) -> [FloatBuffer] {
            (0..<layerCount).map { l in
                let buffer = FloatBuffer(count: newCapacity * width)
                if !old.isEmpty { buffer.pointer.update(from: old[l].pointer, count: count * width) }
                return buffer
            }
        }
        keys = grow(keys)
        values = grow(values)
        capacity = newCapacity
    }
}
