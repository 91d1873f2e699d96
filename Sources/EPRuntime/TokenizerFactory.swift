import EPFormats
import Foundation

/// The tokenizers the runtime builds, for messages.
public let supportedTokenizers = "GGUF tokenizer.ggml.model gpt2 (byte-level BPE) or llama (SentencePiece); tokenizer.json BPE (byte-level or SentencePiece-style) or Unigram"

/// The tokenizer that `gguf`'s metadata describes (`tokenizer.ggml.model`: `gpt2` byte-level BPE with
/// `tokenizer.ggml.pre`, or `llama` SentencePiece), or an error naming the tokenizer kinds that are supported.
public func makeTokenizer(gguf: GGUFFile) throws -> TextTokenizer {
    try ggufTokenizer(gguf)
}

private func ggufTokenizer(_ gguf: GGUFFile) throws -> InspectableTokenizer {
    guard let model = gguf.metadata["tokenizer.ggml.model"]?.string else {
        throw TokenizerError("\(gguf.path): no tokenizer (metadata 'tokenizer.ggml.model' is missing)")
    }
    switch model {
    case "gpt2": return try BPETokenizer(gguf: gguf)
    case "llama": return try SentencePieceTokenizer(gguf: gguf)
    default:
        throw TokenizerError("\(gguf.path): tokenizer model '\(model)' is not supported; supported: gpt2 (byte-level BPE), llama (SentencePiece)")
    }
}

/// The tokenizer of a loaded model: from its GGUF metadata, or from its Hugging Face folder's `tokenizer.json`
/// (with BOS/EOS ids from `config.json`). Errors name what is missing or unsupported.
public func makeTokenizer(for model: LanguageModel) throws -> TextTokenizer {
    if let gguf = model.gguf { return try makeTokenizer(gguf: gguf) }
    return try makeTokenizer(folder: model.folder!)
}

/// The tokenizer of the model at `path` (a GGUF file or a Hugging Face folder) without loading its weights.
public func makeTokenizer(modelPath path: String) throws -> InspectableTokenizer {
    var isDirectory: ObjCBool = false
    let folder = FileManager.default.fileExists(atPath: path, isDirectory: &isDirectory) && isDirectory.boolValue
    return folder ? try makeTokenizer(folder: HuggingFaceFolder(path: path)) : try ggufTokenizer(GGUFFile(path: path))
}

private func makeTokenizer(folder: HuggingFaceFolder) throws -> InspectableTokenizer {
    guard let path = folder.tokenizerPath else {
        throw TokenizerError("\(folder.path): the folder has no tokenizer.json (supported: \(supportedTokenizers))")
    }
    return try HuggingFaceTokenizer.load(path: path, config: folder.config)
}

/// A tokenizer whose vocabulary entries can be listed (what `ep tokenize` prints).
public protocol InspectableTokenizer: TextTokenizer {
    /// The vocabulary entry of `id` as written in the model, or nil for an id outside the vocabulary.
    func tokenPiece(_ id: Int32) -> String?
    /// What kind of tokenizer this is, in a few words ("byte-level BPE, smollm pre-tokenizer").
    var kindDescription: String { get }
}

extension BPETokenizer: InspectableTokenizer {
    /// "byte-level BPE, PRE pre-tokenizer".
    public var kindDescription: String { "byte-level BPE, \(preTokenizer.rawValue) pre-tokenizer" }
}

extension SentencePieceTokenizer: InspectableTokenizer {
    /// "SentencePiece BPE" or "SentencePiece Unigram", with the prefix rule.
    public var kindDescription: String { "SentencePiece \(algorithm.rawValue), ▁ prefix \(spacePrefix.rawValue)" }
}
