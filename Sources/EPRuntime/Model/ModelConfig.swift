import EPFormats

/// The model architectures the runtime runs, named as GGUF's `general.architecture` names them.
///
/// All of them run on one graph (``DecoderGraph``); they differ in the traits of ``TransformerConfig`` (norm kind,
/// RoPE style, MLP, biases, sandwich norms, soft-capping, sliding windows) and in their tensor names.
public enum ModelArchitecture: String, CaseIterable, Sendable {
    /// Llama 2/3, SmolLM: RMSNorm, RoPE, grouped-query attention, SwiGLU.
    case llama
    /// Qwen2 / 2.5: Llama with Q/K/V biases and NEOX RoPE.
    case qwen2
    /// Gemma 2: √d embedding scale, sandwich norms, GELU-tanh gated MLP, attention and final-logit soft-capping,
    /// alternating sliding-window layers.
    case gemma2
    /// Gemma 3: Gemma 2 without soft-capping, plus QK-norm, five sliding-window layers per global one and a second
    /// RoPE base for the sliding layers.
    case gemma3
    /// GPT-2: learned positions, LayerNorm, GELU MLP, fused QKV, biases everywhere.
    case gpt2

    /// The supported names, for messages.
    public static var supportedNames: String { allCases.map(\.rawValue).joined(separator: ", ") }

    /// The architecture of `gguf`, or an error naming it and listing the supported ones.
    public init(gguf: GGUFFile) throws {
        let name = try gguf.requireString("general.architecture")
        guard let architecture = ModelArchitecture(rawValue: name) else {
            throw FileFormatError(gguf.path, "unsupported model architecture '\(name)' (supported: \(Self.supportedNames))")
        }
        self = architecture
    }
}

/// Hyperparameters and architectural traits of a decoder-only transformer, read from GGUF metadata
/// (`{arch}.block_count`, …) or a Hugging Face `config.json`.
public struct TransformerConfig: Sendable, Equatable {
    /// How a block normalises its input.
    public enum Norm: String, Sendable {
        /// x / rms(x) · w.
        case rms
        /// (x − mean) / std · w + b.
        case layer
    }

    /// How positions enter attention.
    public enum PositionEncoding: String, Sendable {
        /// RoPE on adjacent pairs (2i, 2i+1): GGUF `llama` files, whose converter permuted Q/K rows for it.
        case ropeAdjacentPairs = "rope (adjacent pairs)"
        /// RoPE on pairs (i, i + n/2), "NEOX" style: Hugging Face checkpoints, Qwen2, Gemma.
        case ropeHalves = "rope (NEOX halves)"
        /// Learned absolute position embeddings added to the token embeddings (GPT-2).
        case learned
    }

    /// The MLP of a block.
    public enum FeedForward: String, Sendable {
        /// down(silu(gate(x)) ⊙ up(x)).
        case swiGLU = "SwiGLU"
        /// down(gelu_tanh(gate(x)) ⊙ up(x)) (Gemma's GeGLU).
        case geluTanhGated = "GELU-tanh gated"
        /// down(gelu_tanh(up(x) + b) ) + b (GPT-2).
        case geluTanh = "GELU-tanh"
    }

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
    /// Longest sequence the model was trained for (for GPT-2, the number of learned positions).
    public var contextLength: Int
    /// Epsilon of the norms (RMSNorm or LayerNorm).
    public var rmsEpsilon: Float
    /// RoPE frequency base θ (of the global layers when the sliding layers have their own).
    public var ropeBase: Double
    /// Leading dimensions of each head that RoPE rotates.
    public var ropeDimensions: Int
    /// Whether the LM head reuses the token embeddings (no separate output matrix).
    public var tiedEmbeddings: Bool

    /// Normalisation of the blocks and of the final norm.
    public var norm: Norm = .rms
    /// Positions: RoPE (in one of two pairings) or learned embeddings.
    public var positionEncoding: PositionEncoding = .ropeAdjacentPairs
    /// The MLP.
    public var feedForward: FeedForward = .swiGLU
    /// RoPE base of the sliding-window layers (Gemma 3's local layers), when it differs from `ropeBase`.
    public var slidingRopeBase: Double?
    /// Keys a sliding-window layer sees: a query at position p attends to positions p − window + 1 … p.
    public var slidingWindow: Int?
    /// For each block, whether it uses the sliding window (all false without one).
    public var slidingLayers: [Bool] = []
    /// Factor of the attention scores (1/√headDim, or Gemma's `query_pre_attn_scalar`^−½).
    public var attentionScale: Float = 1
    /// Gemma 2: scores become `cap · tanh(scores / cap)` before the softmax.
    public var attentionSoftcap: Float?
    /// Gemma 2: logits become `cap · tanh(logits / cap)` (in `forward`, not in the logit lens).
    public var finalLogitSoftcap: Float?
    /// Factor of the token embeddings (Gemma: √d_model).
    public var embeddingScale: Float?
    /// Whether the Q, K and V projections have biases (Qwen2, GPT-2).
    public var hasQKVBias = false
    /// Whether the attention output and MLP projections and the norms have biases (GPT-2).
    public var hasOutputBiases = false
    /// Whether each head's queries and keys are RMS-normalised before RoPE (Gemma 3).
    public var hasQKNorm = false
    /// Whether the attention and MLP outputs are normalised before they join the residual stream (Gemma).
    public var hasPostNorms = false

    /// Width of all query heads together.
    public var queryWidth: Int { headCount * headDim }
    /// Width of all key (or value) heads together.
    public var kvWidth: Int { kvHeadCount * headDim }
    /// Whether the MLP has a gate projection.
    public var isGated: Bool { feedForward != .geluTanh }

    init(
        architecture: ModelArchitecture, layerCount: Int, modelWidth: Int, headCount: Int, kvHeadCount: Int, headDim: Int,
        ffnWidth: Int, vocabularySize: Int, contextLength: Int, epsilon: Float, ropeBase: Double, ropeDimensions: Int,
        tiedEmbeddings: Bool
    ) {
        self.architecture = architecture
        self.layerCount = layerCount
        self.modelWidth = modelWidth
        self.headCount = headCount
        self.kvHeadCount = kvHeadCount
        self.headDim = headDim
        self.ffnWidth = ffnWidth
        self.vocabularySize = vocabularySize
        self.contextLength = contextLength
        self.rmsEpsilon = epsilon
        self.ropeBase = ropeBase
        self.ropeDimensions = ropeDimensions
        self.tiedEmbeddings = tiedEmbeddings
        attentionScale = 1 / Float(headDim).squareRoot()
        slidingLayers = Array(repeating: false, count: layerCount)
    }

    /// Sets the traits that follow from the architecture alone (norms, MLP, biases, the Gemma family's features).
    mutating func applyArchitectureTraits() {
        switch architecture {
        case .llama:
            break
        case .qwen2:
            positionEncoding = .ropeHalves
            hasQKVBias = true
        case .gemma2, .gemma3:
            positionEncoding = .ropeHalves
            feedForward = .geluTanhGated
            hasPostNorms = true
            hasQKNorm = architecture == .gemma3
            embeddingScale = Float(modelWidth).squareRoot()
        case .gpt2:
            norm = .layer
            positionEncoding = .learned
            feedForward = .geluTanh
            hasQKVBias = true
            hasOutputBiases = true
        }
    }

    /// Marks the sliding-window layers: Gemma 2 every other layer from block 0, Gemma 3 all but every sixth.
    mutating func setSlidingPattern(window: Int?) {
        guard let window, window > 0 else { return }
        slidingWindow = window
        switch architecture {
        case .gemma2: slidingLayers = (0..<layerCount).map { $0 % 2 == 0 }
        case .gemma3: slidingLayers = (0..<layerCount).map { ($0 + 1) % 6 != 0 }
        default: slidingLayers = Array(repeating: true, count: layerCount)
        }
    }

    /// Reads and checks the hyperparameters of a GGUF file of any supported architecture.
    init(gguf: GGUFFile) throws {
        let arch = try ModelArchitecture(gguf: gguf)
        let p = arch.rawValue + "."
        func positive(_ key: String) throws -> Int {
            let v = try gguf.requireInteger(p + key)
            guard v > 0, v < 1 << 24 else { throw FileFormatError(gguf.path, "metadata '\(p + key)' = \(v) is out of range") }
            return v
        }
        func optionalDouble(_ key: String) throws -> Double? {
            gguf.metadata[p + key] == nil ? nil : try gguf.requireDouble(p + key)
        }
        let modelWidth = try positive("embedding_length")
        let headCount = try positive("attention.head_count")
        let headDim = gguf.metadata[p + "attention.key_length"] == nil ? modelWidth / headCount : try positive("attention.key_length")
        let epsilonKey = arch == .gpt2 ? "attention.layer_norm_epsilon" : "attention.layer_norm_rms_epsilon"
        let embedding = try gguf.requireTensor("token_embd.weight")
        self.init(
            architecture: arch, layerCount: try positive("block_count"), modelWidth: modelWidth, headCount: headCount,
            kvHeadCount: gguf.metadata[p + "attention.head_count_kv"] == nil ? headCount : try positive("attention.head_count_kv"),
            headDim: headDim, ffnWidth: try positive("feed_forward_length"), vocabularySize: embedding.rowCount,
            contextLength: try positive("context_length"), epsilon: Float(try gguf.requireDouble(p + epsilonKey)),
            ropeBase: try optionalDouble("rope.freq_base") ?? 10_000,
            ropeDimensions: gguf.metadata[p + "rope.dimension_count"] == nil ? headDim : try positive("rope.dimension_count"),
            tiedEmbeddings: gguf.tensor(named: "output.weight") == nil)
        applyArchitectureTraits()
        if let scaling = gguf.metadata[p + "rope.scaling.type"]?.string, scaling != "none" {
            throw FileFormatError(gguf.path, "RoPE scaling '\(scaling)' is not supported (only unscaled RoPE)")
        }
        switch arch {
        case .gemma2:
            attentionSoftcap = try optionalDouble("attn_logit_softcapping").map(Float.init)
            finalLogitSoftcap = try optionalDouble("final_logit_softcapping").map(Float.init)
            setSlidingPattern(window: gguf.metadata[p + "attention.sliding_window"] == nil ? nil : try positive("attention.sliding_window"))
        case .gemma3:
            // llama.cpp's defaults for Gemma 3 when the file does not say: the local layers use base 10 000.
            slidingRopeBase = try optionalDouble("rope.freq_base_swa") ?? 10_000
            setSlidingPattern(window: gguf.metadata[p + "attention.sliding_window"] == nil ? nil : try positive("attention.sliding_window"))
        default:
            break
        }
        if slidingWindow != nil, let pattern = gguf.metadata[p + "attention.sliding_window_pattern"] {
            // llama.cpp: a period n (layer l slides when l mod n < n − 1), or one flag per layer.
            if let n = pattern.integer, n > 0 {
                slidingLayers = (0..<layerCount).map { $0 % n < n - 1 }
            } else if let flags = pattern.array, flags.count == layerCount, flags.allSatisfy({ $0.bool != nil }) {
                slidingLayers = flags.map { $0.bool! }
            } else {
                throw FileFormatError(gguf.path, "metadata '\(p)attention.sliding_window_pattern' is \(pattern.summary), expected a period or one flag per block")
            }
        }
        // llama.cpp: the 27B Gemmas (46 and 62 blocks) scale scores by (d_model / heads)^−½ rather than headDim^−½.
        if (arch == .gemma2 && layerCount == 46) || (arch == .gemma3 && layerCount == 62) {
            attentionScale = 1 / Float(modelWidth / headCount).squareRoot()
        }
        try validate(path: gguf.path)
    }

    /// Reads and checks the hyperparameters of a Hugging Face `config.json` (for multimodal Gemma 3 checkpoints,
    /// its `text_config`).
    public init(huggingFace fields: JSONFields) throws {
        let top = fields
        var fields = fields
        var modelType = try fields.string("model_type")
        if let text = try fields.optionalObject("text_config"), modelType == "gemma3" {
            fields = text
            modelType = try fields.optionalString("model_type") ?? "gemma3_text"
        }
        let arch: ModelArchitecture
        switch modelType {
        case "llama", "mistral": arch = .llama
        case "qwen2": arch = .qwen2
        case "gemma2": arch = .gemma2
        case "gemma3", "gemma3_text": arch = .gemma3
        case "gpt2": arch = .gpt2
        default:
            throw FileFormatError(
                fields.path, "unsupported model_type '\(modelType)' (supported: llama, mistral, qwen2, gemma2, gemma3, gemma3_text, gpt2)")
        }
        func positive(_ key: String) throws -> Int {
            let v = try fields.integer(key)
            guard v > 0, v < 1 << 24 else { throw fields.error(key, "\(v) is out of range") }
            return v
        }
        func positive(_ key: String, default value: Int) throws -> Int { fields.has(key) ? try positive(key) : value }
        if arch == .gpt2 {
            let width = try positive("n_embd")
            let heads = try positive("n_head")
            self.init(
                architecture: arch, layerCount: try positive("n_layer"), modelWidth: width, headCount: heads, kvHeadCount: heads,
                headDim: width / heads, ffnWidth: try positive("n_inner", default: 4 * width), vocabularySize: try positive("vocab_size"),
                contextLength: try positive("n_positions"), epsilon: Float(try fields.optionalDouble("layer_norm_epsilon") ?? 1e-5),
                ropeBase: 10_000, ropeDimensions: width / heads, tiedEmbeddings: true)
            let activation = try fields.optionalString("activation_function") ?? "gelu_new"
            guard ["gelu_new", "gelu_pytorch_tanh", "gelu_fast"].contains(activation) else {
                throw fields.error("activation_function", "'\(activation)' is not supported (supported: gelu_new, gelu_pytorch_tanh, gelu_fast)")
            }
        } else {
            let width = try positive("hidden_size")
            let heads = try positive("num_attention_heads")
            let headDim = try positive("head_dim", default: width / heads)
            self.init(
                architecture: arch, layerCount: try positive("num_hidden_layers"), modelWidth: width, headCount: heads,
                kvHeadCount: try positive("num_key_value_heads", default: heads), headDim: headDim,
                ffnWidth: try positive("intermediate_size"), vocabularySize: try positive("vocab_size"),
                contextLength: try positive("max_position_embeddings"), epsilon: Float(try fields.optionalDouble("rms_norm_eps") ?? 1e-6),
                ropeBase: try fields.optionalDouble("rope_theta") ?? 10_000,
                ropeDimensions: try Self.ropeDimensions(headDim: headDim, fields: fields),
                tiedEmbeddings: try (fields.has("tie_word_embeddings") ? fields.bool("tie_word_embeddings")
                    : top.has("tie_word_embeddings") ? top.bool("tie_word_embeddings") : arch == .gemma2 || arch == .gemma3))
            if fields.has("rope_scaling") {
                throw fields.error("rope_scaling", "RoPE scaling is not supported (only unscaled RoPE)")
            }
            let activation = try fields.optionalString("hidden_activation") ?? fields.optionalString("hidden_act") ?? "silu"
            let expected = arch == .gemma2 || arch == .gemma3 ? ["gelu_pytorch_tanh", "gelu_new", "gelu_fast"] : ["silu"]
            guard expected.contains(activation) else {
                throw fields.error("hidden_act", "'\(activation)' is not supported for \(arch.rawValue) (supported: \(expected.joined(separator: ", ")))")
            }
        }
        applyArchitectureTraits()
        // HF checkpoints keep Q/K rows in their original order: RoPE on halves for every architecture.
        if positionEncoding == .ropeAdjacentPairs { positionEncoding = .ropeHalves }
        if let scalar = try fields.optionalDouble("query_pre_attn_scalar") { attentionScale = Float(1 / scalar.squareRoot()) }
        if arch == .gemma2 {
            attentionSoftcap = try fields.optionalDouble("attn_logit_softcapping").map(Float.init)
            finalLogitSoftcap = try fields.optionalDouble("final_logit_softcapping").map(Float.init)
        }
        if arch == .gemma3 {
            slidingRopeBase = try fields.optionalDouble("rope_local_base_freq") ?? 10_000
        }
        if modelType == "mistral" {
            // Mistral 7B v0.1 attends within a window on every layer (later versions set it to null).
            setSlidingPattern(window: try fields.optionalInteger("sliding_window"))
        }
        if arch == .gemma2 || arch == .gemma3 {
            setSlidingPattern(window: try fields.optionalInteger("sliding_window"))
            if arch == .gemma3, let pattern = try fields.optionalInteger("sliding_window_pattern"), pattern > 0, slidingWindow != nil {
                slidingLayers = (0..<layerCount).map { ($0 + 1) % pattern != 0 }
            }
            if fields.has("layer_types"), slidingWindow != nil {
                let types = try fields.strings("layer_types")
                guard types.count == layerCount else { throw fields.error("layer_types", "\(types.count) entries for \(layerCount) layers") }
                slidingLayers = types.map { $0 == "sliding_attention" }
            }
        }
        try validate(path: fields.path)
    }

    /// The RoPE width of a Hugging Face config: `partial_rotary_factor` (in (0, 1], default 1) of the head width.
    private static func ropeDimensions(headDim: Int, fields: JSONFields) throws -> Int {
        let factor = try fields.optionalDouble("partial_rotary_factor") ?? 1
        guard factor > 0, factor <= 1 else { throw fields.error("partial_rotary_factor", "expected a number in (0, 1], found \(factor)") }
        return Int(Double(headDim) * factor)
    }

    private func validate(path: String) throws {
        guard headCount % kvHeadCount == 0 else {
            throw FileFormatError(path, "\(headCount) query heads are not a multiple of \(kvHeadCount) key/value heads")
        }
        guard headDim % 2 == 0, ropeDimensions % 2 == 0, ropeDimensions <= headDim, ropeDimensions > 0 else {
            throw FileFormatError(path, "head width \(headDim) and RoPE dimensions \(ropeDimensions) must be even, RoPE within the head")
        }
        guard rmsEpsilon.isFinite, rmsEpsilon > 0, ropeBase.isFinite, ropeBase > 1 else {
            throw FileFormatError(path, "norm epsilon \(rmsEpsilon) or RoPE base \(ropeBase) out of range")
        }
        // Every term of the count is a non-negative product no larger than the total, so a total below 2^62 (in
        // floating point, with room for its rounding) means ``parameterCount`` cannot overflow.
        let parameters = parameterFormula(Double.init)
        guard parameters < 0x1p62 else {
            throw FileFormatError(
                path, "the hyperparameters (\(layerCount) blocks, d_model \(modelWidth), \(headCount) heads of width \(headDim), "
                    + "MLP width \(ffnWidth), vocabulary \(vocabularySize)) give \(parameters) parameters, more than a model can have")
        }
    }

    /// The parameter count in the arithmetic of `T` (`Int` for the count, `Double` for a check that cannot overflow).
    private func parameterFormula<T: Numeric>(_ n: (Int) -> T) -> T {
        let d = n(modelWidth), q = n(queryWidth), kv = n(kvWidth), ffn = n(ffnWidth)
        var perLayer = d * (q + 2 * kv) + q * d + n(isGated ? 3 : 2) * d * ffn
        perLayer += n(hasPostNorms ? 4 : 2) * d + n(hasQKNorm ? 2 * headDim : 0)
        if hasQKVBias { perLayer += q + 2 * kv }
        if hasOutputBiases { perLayer += 2 * d + ffn + 2 * d }
        let positions = positionEncoding == .learned ? n(contextLength) * d : 0
        return n(vocabularySize) * d * n(tiedEmbeddings ? 1 : 2) + positions + n(layerCount) * perLayer + n(hasOutputBiases ? 2 : 1) * d
    }

    /// Parameters of the weights (embeddings counted once when tied; norm weights and biases included). Configs
    /// read from a file are checked to have a count that fits.
    public var parameterCount: Int { parameterFormula { $0 } }

    /// Floating-point operations of a forward pass per token: two per multiply-add of every weight matrix in the
    /// blocks run (`layers`), plus the LM head when `logits`, plus attention over `averageKeys` keys per query.
    public func flopsPerToken(layers: Int, logits: Bool, averageKeys: Double) -> Double {
        let d = Double(modelWidth), q = Double(queryWidth), kv = Double(kvWidth)
        let projections = d * (q + 2 * kv) + q * d + (isGated ? 3 : 2) * d * Double(ffnWidth)
        let attention = 2 * 2 * q * averageKeys
        let head = logits ? Double(vocabularySize) * d : 0
        return 2 * (Double(layers) * projections + head) + Double(layers) * attention
    }
}
