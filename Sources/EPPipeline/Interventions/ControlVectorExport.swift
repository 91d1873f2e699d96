import EPCore
import EPFormats
import EPRuntime
import EPStore
import Foundation

/// Region directions as a llama.cpp control vector (docs/interop.md): a GGUF file with `general.architecture =
/// controlvector`, `controlvector.model_hint` (the model's architecture, as llama.cpp's cvector-generator writes it),
/// `controlvector.layer_count` (the number of direction tensors) and one F32 tensor `direction.N` holding
/// `scale · Σ u_r` over the regions given, u_r each region's unit direction in the chosen basis.
///
/// Where llama.cpp adds it: `llm_graph_context::build_cvec(cur, il)` (src/llama-graph.cpp) calls
/// `llama_adapter_cvec::apply_to` (src/llama-adapter.cpp), which adds `tensors[il]` to the output of block `il`, right
/// before the graph names that tensor `l_out-il` (src/models/llama.cpp and every other architecture's graph) — the
/// residual stream after block `il`, TransformerLens's `blocks.il.hook_resid_post`. `direction.N` fills
/// `tensors[N]` (common/common.cpp, `common_control_vector_load_one`), and N = 0 is refused there ("there's never a
/// tensor for layer 0", llama-adapter.cpp). So `blocks.N.hook_resid_post` maps to `direction.N` for N ≥ 1, and
/// `blocks.L.hook_resid_pre` (the same tensor as block L − 1's output) to `direction.(L−1)` for L ≥ 2; no other hook
/// point can be reached. At every position, like `ep steer`'s `x + α·u` with α = scale.
public enum ControlVectorExport {
    /// The value of `general.description` by which ep recognises a control vector it wrote.
    public static let mark = "ep export (exemplar-partitioning dictionary): control vector"

    /// The llama.cpp layer index `N` of `direction.N` for the dictionary hook `hook`, or an error saying why none.
    public static func layer(forHook hook: String) throws -> Int {
        let point: HookPoint
        do { point = try HookPoint(name: hook, layerCount: Int.max) } catch {
            throw PipelineError("hook \(hook): not a hook point name (\(error))")
        }
        let reachable = "llama.cpp adds a control vector only to a block's output (blocks.N.hook_resid_post for N ≥ 1, or blocks.L.hook_resid_pre for L ≥ 2)"
        switch point {
        case .residPost(let n) where n >= 1: return n
        case .residPre(let l) where l >= 2: return l - 1
        case .residPost(0):
            throw PipelineError("hook \(hook): llama.cpp has no control vector for block 0 (direction.0 is refused by its loader); \(reachable)")
        case .residPre(let l):
            throw PipelineError("hook \(hook): \(l == 0 ? "the embedding output" : "block 0's output") cannot be steered by llama.cpp (direction.0 is refused by its loader); \(reachable)")
        default:
            throw PipelineError("hook \(hook): \(reachable), not inside a block or after the final norm")
        }
    }

    /// The direction `scale · Σ u_r` over `regions` (each at most once) in `basis`.
    public static func direction(_ loaded: LoadedDictionary, regions: [Int], basis: DirectionBasis, scale: Float) throws -> [Float] {
        let table = loaded.dictionary.regions, width = loaded.dictionary.width
        guard !regions.isEmpty else { throw PipelineError("give at least one --region") }
        var seen = Set<Int>()
        var sum = [Float](repeating: 0, count: width)
        for region in regions {
            guard (0..<table.count).contains(region) else {
                throw PipelineError("--region \(region): \(loaded.path) has regions 0…\(table.count - 1)")
            }
            guard seen.insert(region).inserted else { throw PipelineError("--region \(region) is given twice") }
            let u = basis == .exemplar ? table.exemplar(region) : table.meanMemberDirection(region)
            for (i, v) in u.enumerated() { sum[i] += v }
        }
        return sum.map { $0 * scale }
    }

    /// The dictionary's model, whose architecture (`general.architecture` of its GGUF, `model_type` of a Hugging Face
    /// folder) llama.cpp's cvector-generator writes to `controlvector.model_hint`.
    public static func model(_ loaded: LoadedDictionary) throws -> ModelSummary {
        guard let model = loaded.manifest.build.source?.model else {
            throw PipelineError("\(loaded.path): records no model, so the control vector's model_hint is unknown; build it from text, or from activation files with --model")
        }
        let path: String
        do { path = try ModelLocator.resolve(model) } catch {
            throw PipelineError("\(loaded.path): its model \(model) is needed for the control vector's model_hint (its architecture): \(error)")
        }
        var isDirectory: ObjCBool = false
        let summary = FileManager.default.fileExists(atPath: path, isDirectory: &isDirectory) && isDirectory.boolValue
            ? try ModelSummary(folder: HuggingFaceFolder(path: path)) : ModelSummary(gguf: try GGUFFile(path: path))
        return summary
    }

    /// Writes the control vector of `regions` at `scale` (default ‖c‖, `ep steer`'s default α) to `path`, atomically;
    /// returns the llama.cpp layer index and the scale used.
    @discardableResult
    public static func write(
        _ loaded: LoadedDictionary, regions: [Int], basis: DirectionBasis, scale: Float?, to path: String
    ) throws -> (layer: Int, scale: Float) {
        guard let hook = loaded.manifest.build.source?.hook else {
            throw PipelineError("\(loaded.path): records no hook point, so there is no layer to steer; build it from text, or from activation files with --hook")
        }
        let layer = try layer(forHook: hook)
        let alpha = scale ?? Float(Calibration.norm(loaded.dictionary.center))
        guard alpha.isFinite else { throw PipelineError("--scale \(alpha): expected a finite number") }
        let vector = try direction(loaded, regions: regions, basis: basis, scale: alpha)
        let summary = try model(loaded)
        if let config = summary.config {
            // llama.cpp refuses a vector of another width ("control vector n_embd does not match model").
            guard config.modelWidth == loaded.dictionary.width else {
                throw PipelineError("\(loaded.path): width \(loaded.dictionary.width), but its model \(summary.path) has d_model \(config.modelWidth)")
            }
            guard layer < config.layerCount else {
                throw PipelineError("\(loaded.path): hook \(hook) is past the last block of its model (\(config.layerCount) blocks)")
            }
        }
        var gguf = GGUFWriter()
        gguf.set("general.architecture", .string("controlvector"))
        gguf.set("general.description", .string(mark))
        gguf.set("controlvector.model_hint", .string(summary.architecture))
        gguf.set("controlvector.layer_count", .int32(1))
        gguf.add("direction.\(layer)", dimensions: [vector.count], values: vector)
        try gguf.write(to: path)
        return (layer, alpha)
    }

    /// The output kind: a GGUF control vector that ep wrote (recognised by ``mark``) may be replaced.
    public static let outputKind = OutputKind(name: "control vector", isFolder: false) { path in
        guard let file = try? GGUFFile(path: path) else { return .unmarkedFile("exists and is not a GGUF file written by ep") }
        return file.metadata["general.description"]?.string == mark
            ? .ours : .unmarkedFile("is a GGUF file ep did not write as a control vector")
    }
}
