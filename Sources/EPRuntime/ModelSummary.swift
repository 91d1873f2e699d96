import EPFormats
import Foundation

/// What `ep model info` shows about a GGUF file or a Hugging Face folder: architecture, sizes, tensor types and
/// tokenizer, read from headers alone (no weights are decoded).
public struct ModelSummary: Sendable {
    /// The file or folder.
    public var path: String
    /// Size in bytes (of the weight files, for a folder).
    public var fileBytes: Int
    /// "GGUF v3", or "Hugging Face folder (N safetensors files)".
    public var format: String
    /// GGUF version (0 for a folder).
    public var version: Int
    /// `general.architecture`.
    public var architecture: String
    /// `general.name`, when present.
    public var name: String?
    /// The hyperparameters, when the architecture is one the runtime runs.
    public var config: TransformerConfig?
    /// Why `config` is nil.
    public var configProblem: String?
    /// Tensor count and bytes by type, largest share first.
    public var tensorTypes: [(type: GGMLType, count: Int, bytes: Int)]
    /// Number of tensors.
    public var tensorCount: Int
    /// Elements of all tensors together.
    public var elementCount: Int
    /// `tokenizer.ggml.model` (e.g. `gpt2` for byte-level BPE).
    public var tokenizerModel: String?
    /// `tokenizer.ggml.pre`, the pre-tokenizer (e.g. `smollm`).
    public var tokenizerPreTokenizer: String?
    /// Entries of `tokenizer.ggml.tokens`.
    public var tokenizerVocabulary: Int?
    /// Entries of `tokenizer.ggml.merges`.
    public var tokenizerMerges: Int?
    /// Whether the metadata has a chat template.
    public var hasChatTemplate: Bool

    /// Reads the summary of `gguf`.
    public init(gguf: GGUFFile) {
        path = gguf.path
        fileBytes = gguf.file.count
        version = gguf.version
        format = "GGUF v\(gguf.version)"
        architecture = gguf.metadata["general.architecture"]?.string ?? "unknown"
        name = gguf.metadata["general.name"]?.string
        do {
            config = try TransformerConfig(gguf: gguf)
        } catch {
            configProblem = "\(error)"
        }
        var byType: [GGMLType: (Int, Int)] = [:]
        for t in gguf.tensors {
            let (count, bytes) = byType[t.type] ?? (0, 0)
            byType[t.type] = (count + 1, bytes + t.byteCount)
        }
        tensorTypes = byType.map { (type: $0.key, count: $0.value.0, bytes: $0.value.1) }.sorted { $0.bytes > $1.bytes }
        tensorCount = gguf.tensors.count
        elementCount = gguf.tensors.reduce(0) { $0 + $1.elementCount }
        tokenizerModel = gguf.metadata["tokenizer.ggml.model"]?.string
        tokenizerPreTokenizer = gguf.metadata["tokenizer.ggml.pre"]?.string
        tokenizerVocabulary = gguf.metadata["tokenizer.ggml.tokens"]?.array?.count
        tokenizerMerges = gguf.metadata["tokenizer.ggml.merges"]?.array?.count
        hasChatTemplate = gguf.metadata["tokenizer.chat_template"] != nil
    }

    /// Reads the summary of a Hugging Face folder (config.json, safetensors headers, tokenizer.json).
    public init(folder: HuggingFaceFolder) throws {
        path = folder.path
        version = 0
        format = "Hugging Face folder (\(folder.weightFiles.count) safetensors file\(folder.weightFiles.count == 1 ? "" : "s"))"
        architecture = try folder.config.optionalString("model_type") ?? "unknown"
        name = try folder.config.optionalString("_name_or_path")
        do {
            config = try TransformerConfig(huggingFace: folder.config)
        } catch {
            configProblem = "\(error)"
        }
        var bytes = 0, count = 0, elements = 0
        var byType: [GGMLType: (Int, Int)] = [:]
        for shard in folder.weightFiles {
            let file = try SafetensorsFile(path: shard)
            bytes += file.file.size
            for t in file.tensors.values {
                let type: GGMLType? = switch t.dtype {
                case .float32: .f32
                case .float16: .f16
                case .bfloat16: .bf16
                default: nil
                }
                count += 1
                elements += t.elementCount
                if let type {
                    let (n, b) = byType[type] ?? (0, 0)
                    byType[type] = (n + 1, b + t.byteRange.count)
                }
            }
        }
        fileBytes = bytes
        tensorTypes = byType.map { (type: $0.key, count: $0.value.0, bytes: $0.value.1) }.sorted { $0.bytes > $1.bytes }
        tensorCount = count
        elementCount = elements
        if let tokenizer = folder.tokenizerPath {
            let fields = try JSONFields(try JSONValue.read(path: tokenizer), path: tokenizer)
            let model = try fields.object("model")
            tokenizerModel = "tokenizer.json " + (try model.optionalString("type") ?? "BPE")
            if case .object(let vocab)? = model.object["vocab"] { tokenizerVocabulary = vocab.keys.count }
            if case .array(let vocab)? = model.object["vocab"] { tokenizerVocabulary = vocab.count }
            if case .array(let merges)? = model.object["merges"] { tokenizerMerges = merges.count }
        }
        let tokenizerConfig = folder.path + "/tokenizer_config.json"
        hasChatTemplate = FileManager.default.fileExists(atPath: tokenizerConfig)
            && ((try? JSONFields(JSONValue.read(path: tokenizerConfig), path: tokenizerConfig).has("chat_template")) ?? false)
    }
}
