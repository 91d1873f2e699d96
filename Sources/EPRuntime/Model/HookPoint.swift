/// A named point in a transformer's forward pass where activations can be captured or edited, named as
/// TransformerLens names them.
///
/// | name | value (rows × width) |
/// |---|---|
/// | `hook_embed` | token embeddings, the residual stream entering block 0 (d_model) |
/// | `blocks.L.hook_resid_pre` | residual stream entering block L (equals `blocks.(L−1).hook_resid_post`) |
/// | `blocks.L.hook_attn_out` | attention output of block L after the output projection |
/// | `blocks.L.hook_resid_mid` | `hook_resid_pre + hook_attn_out` (llama.cpp `ffn_inp-L`) |
/// | `blocks.L.hook_mlp_out` | MLP output of block L |
/// | `blocks.L.hook_resid_post` | `hook_resid_mid + hook_mlp_out` (llama.cpp `l_out-L`, HF `hidden_states[L+1]`) |
/// | `ln_final.hook_normalized` | final residual divided by its RMS, before the norm weight, as in TransformerLens |
public enum HookPoint: Hashable, Sendable, Comparable, CustomStringConvertible {
    case embed
    case residPre(layer: Int)
    case attnOut(layer: Int)
    case residMid(layer: Int)
    case mlpOut(layer: Int)
    case residPost(layer: Int)
    case finalNormalized

    /// The TransformerLens name, e.g. `blocks.15.hook_resid_post`.
    public var name: String {
        switch self {
        case .embed: "hook_embed"
        case .residPre(let l): "blocks.\(l).hook_resid_pre"
        case .attnOut(let l): "blocks.\(l).hook_attn_out"
        case .residMid(let l): "blocks.\(l).hook_resid_mid"
        case .mlpOut(let l): "blocks.\(l).hook_mlp_out"
        case .residPost(let l): "blocks.\(l).hook_resid_post"
        case .finalNormalized: "ln_final.hook_normalized"
        }
    }

    public var description: String { name }

    /// The block the point belongs to, or nil for `hook_embed` and `ln_final.hook_normalized`.
    public var layer: Int? {
        switch self {
        case .embed, .finalNormalized: nil
        case .residPre(let l), .attnOut(let l), .residMid(let l), .mlpOut(let l), .residPost(let l): l
        }
    }

    /// Position in the order the forward pass reaches the points (hooks at one point run before any later one).
    /// The LM head comes after every point (`Int.max`).
    public var order: Int {
        switch self {
        case .embed: 0
        case .residPre(let l): 1 + 5 * l
        case .attnOut(let l): 2 + 5 * l
        case .residMid(let l): 3 + 5 * l
        case .mlpOut(let l): 4 + 5 * l
        case .residPost(let l): 5 + 5 * l
        case .finalNormalized: Int.max - 1
        }
    }

    public static func < (a: HookPoint, b: HookPoint) -> Bool { a.order < b.order }

    /// The per-block hook names, with `{L}` for the layer.
    public static let blockHookSuffixes = ["hook_resid_pre", "hook_attn_out", "hook_resid_mid", "hook_mlp_out", "hook_resid_post"]

    /// Every valid name for a model with `layerCount` blocks, in forward order.
    public static func all(layerCount: Int) -> [HookPoint] {
        [.embed] + (0..<layerCount).flatMap { l in
            [HookPoint.residPre(layer: l), .attnOut(layer: l), .residMid(layer: l), .mlpOut(layer: l), .residPost(layer: l)]
        } + [.finalNormalized]
    }

    /// Parses a TransformerLens hook name for a model with `layerCount` blocks; an unknown name or an
    /// out-of-range layer is a ``HookError`` that lists the valid names.
    public init(name: String, layerCount: Int) throws {
        let valid = "valid names: hook_embed, blocks.{L}.{" + Self.blockHookSuffixes.joined(separator: ",")
            + "} with L in 0...\(layerCount - 1), ln_final.hook_normalized"
        switch name {
        case "hook_embed": self = .embed; return
        case "ln_final.hook_normalized": self = .finalNormalized; return
        default: break
        }
        let parts = name.split(separator: ".", omittingEmptySubsequences: false)
        guard parts.count == 3, parts[0] == "blocks", let layer = Int(parts[1]), String(layer) == parts[1] else {
            throw HookError(message: "unknown hook '\(name)' (\(valid))")
        }
        guard (0..<layerCount).contains(layer) else {
            throw HookError(message: "hook '\(name)': layer \(layer) out of range, the model has \(layerCount) blocks (\(valid))")
        }
        switch parts[2] {
        case "hook_resid_pre": self = .residPre(layer: layer)
        case "hook_attn_out": self = .attnOut(layer: layer)
        case "hook_resid_mid": self = .residMid(layer: layer)
        case "hook_mlp_out": self = .mlpOut(layer: layer)
        case "hook_resid_post": self = .residPost(layer: layer)
        default: throw HookError(message: "unknown hook '\(name)' (\(valid))")
        }
    }
}

/// A hook name that does not name a hook point of the model (the message lists the valid names), or an edit
/// that does not fit the activation it edits.
public struct HookError: Error, CustomStringConvertible, Sendable {
    /// What was wrong, and for names, which names are valid.
    public let message: String
    public var description: String { message }
}
