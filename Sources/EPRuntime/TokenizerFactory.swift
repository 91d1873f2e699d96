/// The tokenizer that `gguf`'s metadata describes (`tokenizer.ggml.model` and `tokenizer.ggml.pre`), or an error
/// naming the tokenizer kinds that are supported.
public func makeTokenizer(gguf: GGUFFile) throws -> TextTokenizer {
    try BPETokenizer(gguf: gguf)
}

extension BPETokenizer: TextTokenizer {}
