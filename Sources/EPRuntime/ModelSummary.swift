import EPFormats

/// What `ep model info` shows about a GGUF file: architecture, sizes, tensor types and tokenizer, read from the
/// header alone (no weights are decoded).
public struct ModelSummary: Sendable {
    /// The file.
    public var path: String
    /// File size in bytes.
    public var fileBytes: Int
    /// GGUF version.
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
}
