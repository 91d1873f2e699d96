/// The tokenizer that `gguf`'s metadata describes.
///
/// Placeholder until the tokenizer (Sources/EPRuntime/Tokenizer/) is wired in: it always throws, so the text
/// options of `ep activations` and `ep generate` fail with a clear message while token-id input works.
public func makeTokenizer(gguf: GGUFFile) throws -> TextTokenizer {
    let kind = gguf.metadata["tokenizer.ggml.model"]?.string ?? "none"
    throw ModelInputError(message: "tokenizer not available yet (the model's tokenizer is '\(kind)'): give token ids with --tokens-file, and to ep generate also --print-ids")
}
