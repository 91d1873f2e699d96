import EPFormats
import EPRuntime
import FuzzSupport

/// Hugging Face `tokenizer.json`: the tokenizer is built (vocabulary, merges, added tokens, normalizers,
/// pre-tokenizers, post-processor), then run on sample texts.
@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzTokenizerJSON(_ data: UnsafePointer<UInt8>?, _ size: Int) -> Int32 {
    guard let tokenizer = try? HuggingFaceTokenizer.load(bytes: bytes(data, size), path: "tokenizer.json") else { return 0 }
    for text in sampleTexts {
        let ids = tokenizer.encode(text, parseSpecial: true, addSpecial: true)
        _ = tokenizer.decode(ids)
        _ = tokenizer.encode(text, parseSpecial: false, addSpecial: false)
    }
    for id: Int32 in [-1, 0, 1, 2, 255, 256, 1000, Int32.max] {
        _ = tokenizer.tokenBytes(id)
        _ = tokenizer.tokenPiece(id)
    }
    _ = tokenizer.decode([0, 1, -1, Int32.max])
    _ = tokenizer.kindDescription
    return 0
}
