import EPFormats
import EPTensors
import Foundation

/// How a model keeps its weight matrices in memory.
public enum WeightStorage: Sendable, Equatable {
    /// Decode everything to fp32 when that takes at most ``WeightStorage/automaticDecodeLimit`` bytes; otherwise
    /// keep the matrices in their stored form, as ``WeightStorage/mapped`` does.
    case automatic
    /// Decode every tensor to fp32 at load.
    case decoded
    /// Keep the weight matrices in their mapped files in their stored form — F32, F16 and BF16 (safetensors and
    /// GGUF) and GGUF's block-quantized types — converting them to fp32 a panel of rows at a time in each product
    /// (``Projection``). The token embedding is read a row at a time, and the LM head is converted only when logits
    /// are asked for; a block's matrices are read only when the block runs. Norm weights, biases and transposed
    /// GPT-2 matrices are decoded at load.
    case mapped

    /// The largest fp32 size `.automatic` decodes: a quarter of the machine's memory, at most 4 GiB.
    public static var automaticDecodeLimit: Int {
        min(4 << 30, Int(ProcessInfo.processInfo.physicalMemory / 4))
    }

    /// Whether matrices whose fp32 copy takes `decodedBytes` stay mapped.
    func mapsMatrices(decodedBytes: Int) -> Bool {
        switch self {
        case .decoded: false
        case .mapped: true
        case .automatic: decodedBytes > Self.automaticDecodeLimit
        }
    }
}

/// One tensor as the graph sees it: `rows × columns` (a vector is one row), with where its data lies in a mapped
/// file and how to read it.
struct WeightTensor: @unchecked Sendable {
    /// Its name in the file, for messages.
    let name: String
    let rows: Int
    let columns: Int
    /// Element or block encoding (F32, F16 and BF16 for safetensors).
    let type: GGMLType
    /// The first byte of the data, inside a mapped file that ``ModelWeights`` keeps open.
    let data: UnsafeRawPointer
    /// Stored as `columns × rows` (GPT-2's Conv1D weights): decoding transposes it.
    var transposed = false
    /// Hugging Face Gemma norm weights hold w − 1: decoding adds one.
    var plusOne = false

    var elementCount: Int { rows * columns }
    /// Bytes of one stored row (of `columns` elements; not meaningful when transposed).
    var rowBytes: Int { columns / type.blockSize * type.blockBytes }
    /// Whether the matrix can be used where it lies in its file (``WeightMatrix/init(mapped:)``): not transposed,
    /// not offset, of a type ``Dequantize`` decodes, and F32 data 4-byte aligned.
    var isMappable: Bool {
        !transposed && !plusOne && type.isDequantizable && (type != .f32 || Int(bitPattern: data) % 4 == 0)
    }

    /// Decodes the whole tensor as `rows × columns` fp32 values into `destination`.
    func decode(into destination: UnsafeMutablePointer<Float>) {
        if transposed {
            let stored = FloatBuffer(count: elementCount)
            Dequantize.decode(type, from: data, count: elementCount, into: stored.pointer)
            for r in 0..<columns {
                for c in 0..<rows { destination[c * columns + r] = stored.pointer[r * rows + c] }
            }
        } else {
            Dequantize.decode(type, from: data, count: elementCount, into: destination)
        }
        if plusOne {
            for i in 0..<elementCount { destination[i] += 1 }
        }
    }
}

/// A model's tensors under GGUF names (`blk.3.attn_q.weight`), read from a GGUF file or mapped from the
/// safetensors files of a Hugging Face folder (whose names are translated, see ``HuggingFaceNames``).
final class ModelWeights: @unchecked Sendable {
    /// The model file or folder, for messages.
    let path: String
    /// Whether matrices may stay in their mapped files (see ``WeightStorage``).
    let mapsMatrices: Bool
    private let tensors: [String: WeightTensor]
    /// The mapped files the tensors point into.
    private let files: [MappedFile]
    /// For a Hugging Face folder, its architecture and the prefix of its tensor names (messages name tensors as the
    /// folder does).
    private let folderNaming: (architecture: ModelArchitecture, prefix: String)?

    /// The tensors of a GGUF file (types are checked when the graph asks for a tensor). Nothing is read here but
    /// the tensor table.
    init(gguf: GGUFFile, storage: WeightStorage) {
        path = gguf.path
        var tensors: [String: WeightTensor] = [:]
        var decodedBytes = 0
        for t in gguf.tensors {
            tensors[t.name] = WeightTensor(
                name: t.name, rows: t.rowCount, columns: t.rowLength, type: t.type, data: gguf.file.bytes + t.offset)
            decodedBytes += 4 * t.elementCount
        }
        self.tensors = tensors
        mapsMatrices = storage.mapsMatrices(decodedBytes: decodedBytes)
        files = [gguf.file]
        folderNaming = nil
    }

    /// The tensors of the safetensors files of a Hugging Face folder for `config`'s architecture.
    init(folder: HuggingFaceFolder, config: TransformerConfig, storage: WeightStorage) throws {
        path = folder.path
        var tensors: [String: WeightTensor] = [:]
        var files: [MappedFile] = []
        var decodedBytes = 0
        var prefix = config.architecture == .gpt2 ? "" : "model."
        for shard in folder.weightFiles {
            let file = try SafetensorsFile(path: shard)
            let mapped = try MappedFile(path: shard)
            files.append(mapped)
            for info in file.tensors.values {
                guard let target = HuggingFaceNames.ggufName(info.name, architecture: config.architecture) else { continue }
                if target.name.hasPrefix("blk.") { prefix = HuggingFaceNames.modelPrefix(of: info.name) }
                let type: GGMLType
                switch info.dtype {
                case .float32: type = .f32
                case .float16: type = .f16
                case .bfloat16: type = .bf16
                default:
                    throw FileFormatError(shard, "tensor '\(info.name)' has dtype \(info.dtype.rawValue) (supported for weights: F32, F16, BF16)")
                }
                guard (1...2).contains(info.shape.count) else {
                    throw FileFormatError(shard, "tensor '\(info.name)' has shape \(info.shape), expected a matrix or a vector")
                }
                let (outer, inner) = info.shape.count == 2 ? (info.shape[0], info.shape[1]) : (1, info.shape[0])
                var tensor = WeightTensor(
                    name: info.name, rows: target.transposed ? inner : outer, columns: target.transposed ? outer : inner, type: type,
                    data: mapped.bytes + info.byteRange.lowerBound)
                tensor.transposed = target.transposed && info.shape.count == 2
                tensor.plusOne = target.plusOne
                guard tensors[target.name] == nil else { throw FileFormatError(shard, "tensor '\(info.name)' appears twice in the folder") }
                tensors[target.name] = tensor
                decodedBytes += 4 * tensor.elementCount
            }
        }
        self.tensors = tensors
        self.files = files
        folderNaming = (config.architecture, prefix)
        mapsMatrices = storage.mapsMatrices(decodedBytes: decodedBytes)
    }

    /// Whether a tensor named `name` exists.
    func has(_ name: String) -> Bool { tensors[name] != nil }

    /// The tensor `name` with the given shape, or an error naming the file, the tensor and the shapes.
    func require(_ name: String, rows: Int, columns: Int) throws -> WeightTensor {
        guard let t = tensors[name] else {
            if let naming = folderNaming {
                let hfName = HuggingFaceNames.huggingFaceName(ofGGUF: name, architecture: naming.architecture, folderPrefix: naming.prefix) ?? name
                throw FileFormatError(path, "missing tensor '\(hfName)' (no safetensors file of the folder holds it)")
            }
            throw FileFormatError(path, "missing tensor '\(name)'")
        }
        guard t.rows == rows, t.columns == columns else {
            throw FileFormatError(path, "tensor '\(t.name)' has \(t.rows) × \(t.columns) values, expected \(rows) × \(columns) for this configuration")
        }
        guard t.type.isDequantizable else {
            let supported = GGMLType.dequantizable.map(\.description).joined(separator: ", ")
            throw FileFormatError(path, "tensor '\(t.name)' has type \(t.type), which this runtime cannot decode (supported: \(supported))")
        }
        return t
    }
}

/// Builds weight buffers and matrices from tensors, queueing fp32 decoding jobs that ``decodeAll()`` runs on
/// every core.
struct WeightLoader {
    let weights: ModelWeights
    private var jobs: [(tensor: WeightTensor, destination: SharedPointer<Float>)] = []

    init(_ weights: ModelWeights) { self.weights = weights }

    /// A buffer for the tensors one after the other, queued for decoding.
    mutating func decoded(_ tensors: [WeightTensor]) -> FloatBuffer {
        let buffer = FloatBuffer(count: tensors.reduce(0) { $0 + $1.elementCount })
        var offset = 0
        for t in tensors {
            jobs.append((t, SharedPointer(pointer: buffer[offset])))
            offset += t.elementCount
        }
        return buffer
    }

    /// The matrix of the tensors' rows one after the other: left in its mapped file when the weights allow it and
    /// every tensor is mappable (``WeightTensor/isMappable``), decoded otherwise.
    mutating func matrix(_ tensors: [WeightTensor]) -> WeightMatrix {
        if weights.mapsMatrices && tensors.allSatisfy(\.isMappable) { return WeightMatrix(mapped: tensors) }
        return WeightMatrix(
            decoded: decoded(tensors), outputs: tensors.reduce(0) { $0 + $1.rows }, inputs: tensors[0].columns, sources: tensors)
    }

    /// Runs the queued decoding jobs.
    func decodeAll() {
        let work = jobs
        DispatchQueue.concurrentPerform(iterations: work.count) { i in
            work[i].tensor.decode(into: work[i].destination.pointer)
        }
    }
}

/// Hugging Face tensor names and their GGUF equivalents.
enum HuggingFaceNames {
    /// The GGUF name of the HF tensor `name`, whether it is stored transposed (GPT-2's Conv1D) and whether it holds
    /// w − 1 (Gemma's norms); nil for tensors the runtime does not use (buffers such as GPT-2's causal masks).
    static func ggufName(_ name: String, architecture: ModelArchitecture) -> (name: String, transposed: Bool, plusOne: Bool)? {
        let n = String(name.dropFirst(modelPrefix(of: name).count))
        let gemma = architecture == .gemma2 || architecture == .gemma3
        if let mapped = topTable(architecture)[n] {
            return (mapped, false, gemma && mapped == "output_norm.weight")
        }
        let parts = n.split(separator: ".", maxSplits: 2)
        guard parts.count == 3, parts[0] == layerPrefix(architecture), let layer = Int(parts[1]) else { return nil }
        var rest = String(parts[2])
        let kind = rest.hasSuffix(".bias") ? "bias" : "weight"
        guard rest.hasSuffix("." + kind) else { return nil }
        rest.removeLast(kind.count + 1)
        guard let target = layerTable(architecture)[rest] else { return nil }
        let isNorm = target.hasSuffix("norm")
        if architecture == .gpt2 { return ("blk.\(layer).\(target).\(kind)", kind == "weight" && !isNorm, false) }
        return ("blk.\(layer).\(target).\(kind)", false, gemma && isNorm)
    }

    /// The prefix before the model's own tensor names (`model.`, `transformer.`, `language_model.model.`, … or none).
    static func modelPrefix(of name: String) -> String {
        ["language_model.model.", "model.language_model.", "language_model.", "model.", "transformer."].first { name.hasPrefix($0) } ?? ""
    }

    /// The Hugging Face name a folder of `architecture` whose names start with `folderPrefix` gives the tensor the
    /// runtime calls `gguf` (for messages about a missing tensor), e.g. `model.layers.3.self_attn.q_proj.weight`
    /// for `blk.3.attn_q.weight`.
    static func huggingFaceName(ofGGUF gguf: String, architecture: ModelArchitecture, folderPrefix: String) -> String? {
        if let top = topTable(architecture).first(where: { $0.value == gguf })?.key {
            return top == "lm_head.weight" ? top : folderPrefix + top
        }
        let parts = gguf.split(separator: ".")
        guard parts.count == 4, parts[0] == "blk", let layer = Int(parts[1]),
            let key = layerTable(architecture).first(where: { $0.value == parts[2] })?.key
        else { return nil }
        return "\(folderPrefix)\(layerPrefix(architecture)).\(layer).\(key).\(parts[3])"
    }

    /// The first component of a layer's tensor names (after the model prefix).
    private static func layerPrefix(_ architecture: ModelArchitecture) -> String { architecture == .gpt2 ? "h" : "layers" }

    /// Names outside the layers: HF → GGUF.
    private static func topTable(_ architecture: ModelArchitecture) -> [String: String] {
        if architecture == .gpt2 {
            return [
                "wte.weight": "token_embd.weight", "wpe.weight": "position_embd.weight", "ln_f.weight": "output_norm.weight",
                "ln_f.bias": "output_norm.bias", "lm_head.weight": "output.weight",
            ]
        }
        return ["embed_tokens.weight": "token_embd.weight", "norm.weight": "output_norm.weight", "lm_head.weight": "output.weight"]
    }

    /// A layer's tensors, without the layer prefix and the `.weight`/`.bias` suffix: HF → GGUF.
    private static func layerTable(_ architecture: ModelArchitecture) -> [String: String] {
        if architecture == .gpt2 {
            return [
                "ln_1": "attn_norm", "attn.c_attn": "attn_qkv", "attn.c_proj": "attn_output", "ln_2": "ffn_norm",
                "mlp.c_fc": "ffn_up", "mlp.c_proj": "ffn_down",
            ]
        }
        var table: [String: String] = [
            "input_layernorm": "attn_norm", "self_attn.q_proj": "attn_q", "self_attn.k_proj": "attn_k", "self_attn.v_proj": "attn_v",
            "self_attn.o_proj": "attn_output", "self_attn.q_norm": "attn_q_norm", "self_attn.k_norm": "attn_k_norm",
            "mlp.gate_proj": "ffn_gate", "mlp.up_proj": "ffn_up", "mlp.down_proj": "ffn_down",
        ]
        if architecture == .gemma2 || architecture == .gemma3 {
            table["post_attention_layernorm"] = "post_attention_norm"
            table["pre_feedforward_layernorm"] = "ffn_norm"
            table["post_feedforward_layernorm"] = "post_ffw_norm"
        } else {
            table["post_attention_layernorm"] = "ffn_norm"
        }
        return table
    }
}
