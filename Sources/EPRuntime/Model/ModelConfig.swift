import EPFormats

/// The model architectures the runtime runs (GGUF `general.architecture`).
///
/// Each case maps to a graph builder (``LlamaGraph`` for `llama`) that reads its hyperparameters and weights from
/// the GGUF file; adding an architecture means adding a case, its hyperparameter keys and its graph.
public enum ModelArchitecture: String, CaseIterable, Sendable {
    case llama

    /// The architecture of `gguf`, or an error naming it and listing the supported ones.
    public init(gguf: GGUFFile) throws {
        let name = try gguf.requireString("general.architecture")
        guard let architecture = ModelArchitecture(rawValue: name) else {
            let supported = Self.allCases.map(\.rawValue).joined(separator: ", ")
            throw FileFormatError(gguf.path, "unsupported model architecture '\(name)' (supported: \(supported))")
        }
        self = architecture
    }
}

/// Hyperparameters of a decoder-only transformer, read from GGUF metadata (`{arch}.block_count`, …).
public struct TransformerConfig: Sendable, Equatable {
    /// The architecture.
    public var architecture: ModelArchitecture
    /// Number of transformer blocks.
    public var layerCount: Int
    /// Width of the residual stream (d_model).
    public var modelWidth: Int
    /// Query heads.
    public var headCount: Int
    /// Key/value heads (grouped-query attention when fewer than `headCount`).
    public var kvHeadCount: Int
    /// Width of one head.
    public var headDim: Int
    /// Hidden width of the MLP.
    public var ffnWidth: Int
    /// Vocabulary size (rows of the embedding matrix).
    public var vocabularySize: Int
    /// Longest sequence the model was trained for.
    public var contextLength: Int
    /// RMSNorm epsilon.
    public var rmsEpsilon: Float
    /// RoPE frequency base θ.
    public var ropeBase: Double
    /// Leading dimensions of each head that RoPE rotates.
    public var ropeDimensions: Int
    /// Whether the LM head reuses the token embeddings (no `output.weight`).
    public var tiedEmbeddings: Bool

    /// Width of all query heads together.
    public var queryWidth: Int { headCount * headDim }
    /// Width of all key (or value) heads together.
    public var kvWidth: Int { kvHeadCount * headDim }

    /// Reads and checks the hyperparameters of a `llama`-family file.
    init(llama gguf: GGUFFile) throws {
        let arch = ModelArchitecture.llama
        let p = arch.rawValue + "."
        func positive(_ key: String) throws -> Int {
            let v = try gguf.requireInteger(p + key)
            guard v > 0, v < 1 << 24 else { throw FileFormatError(gguf.path, "metadata '\(p + key)' = \(v) is out of range") }
            return v
        }
        architecture = arch
        layerCount = try positive("block_count")
        modelWidth = try positive("embedding_length")
        headCount = try positive("attention.head_count")
        kvHeadCount = gguf.metadata[p + "attention.head_count_kv"] == nil ? headCount : try positive("attention.head_count_kv")
        headDim = gguf.metadata[p + "attention.key_length"] == nil ? modelWidth / headCount : try positive("attention.key_length")
        ffnWidth = try positive("feed_forward_length")
        contextLength = try positive("context_length")
        rmsEpsilon = Float(try gguf.requireDouble(p + "attention.layer_norm_rms_epsilon"))
        ropeBase = gguf.metadata[p + "rope.freq_base"] == nil ? 10_000 : try gguf.requireDouble(p + "rope.freq_base")
        ropeDimensions = gguf.metadata[p + "rope.dimension_count"] == nil ? headDim : try positive("rope.dimension_count")
        let embedding = try gguf.requireTensor("token_embd.weight")
        vocabularySize = embedding.rowCount
        tiedEmbeddings = gguf.tensor(named: "output.weight") == nil
        if let scaling = gguf.metadata[p + "rope.scaling.type"]?.string, scaling != "none" {
            throw FileFormatError(gguf.path, "RoPE scaling '\(scaling)' is not supported (only unscaled RoPE)")
        }
        guard headCount % kvHeadCount == 0 else {
            throw FileFormatError(gguf.path, "\(headCount) query heads are not a multiple of \(kvHeadCount) key/value heads")
        }
        guard headDim % 2 == 0, ropeDimensions % 2 == 0, ropeDimensions <= headDim else {
            throw FileFormatError(gguf.path, "head width \(headDim) and RoPE dimensions \(ropeDimensions) must be even, RoPE within the head")
        }
        guard rmsEpsilon.isFinite, rmsEpsilon > 0, ropeBase.isFinite, ropeBase > 1 else {
            throw FileFormatError(gguf.path, "RMS epsilon \(rmsEpsilon) or RoPE base \(ropeBase) out of range")
        }
    }

    /// Parameters of the weights (embeddings counted once when tied).
    public var parameterCount: Int {
        let perLayer = 2 * modelWidth + modelWidth * (queryWidth + 2 * kvWidth) + queryWidth * modelWidth + 3 * modelWidth * ffnWidth
        return vocabularySize * modelWidth * (tiedEmbeddings ? 1 : 2) + layerCount * perLayer + modelWidth
    }

    /// Floating-point operations of a forward pass per token: two per multiply-add of every weight matrix in the
    /// blocks run (`layers`), plus the LM head when `logits`, plus attention over `averageKeys` keys per query.
    public func flopsPerToken(layers: Int, logits: Bool, averageKeys: Double) -> Double {
        let projections = Double(modelWidth * (queryWidth + 2 * kvWidth) + queryWidth * modelWidth + 3 * modelWidth * ffnWidth)
        let attention = 2 * 2 * Double(queryWidth) * averageKeys
        let head = logits ? Double(vocabularySize * modelWidth) : 0
        return 2 * (Double(layers) * projections + head) + Double(layers) * attention
    }
}
