import EPFormats
import EPRuntime
import FuzzSupport

/// Hugging Face `tokenizer.json`: the tokenizer is built (vocabulary, merges, added tokens, normalizers,
/// pre-tokenizers, post-processor), then run on sample texts.
@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzTokenizerJSON(_ data: UnsafePointer<UInt8>?, _ size: Int) -> Int32 {
    guard let tokenizer = try? HuggingFaceTokenizer.load(bytes: bytes(data, size), path: "tokenizer.json") else { return 0 }
    exercise(tokenizer)
    return 0
}
