import EPFormats
import EPRuntime
import FuzzSupport

/// GGUF model files: the header (metadata, tensor table), what `ep model info` reads from it (hyperparameters),
/// the tokenizer its metadata describes (built, then run on sample texts), every tensor decoded, and the model
/// loaded from it.
@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzGGUF(_ data: UnsafePointer<UInt8>?, _ size: Int) -> Int32 {
    let path = scratchFile("input.gguf", data, size)
    guard let gguf = try? GGUFFile(path: path) else { return 0 }
    let summary = ModelSummary(gguf: gguf)
    if let config = summary.config {
        _ = config.parameterCount
        _ = config.flopsPerToken(layers: config.layerCount, logits: true, averageKeys: 8)
    }
    for tensor in gguf.tensors where tensor.type.isDequantizable && tensor.elementCount <= 1 << 20 {
        _ = try? gguf.floats(tensor)
    }
    if let tokenizer = try? makeTokenizer(gguf: gguf) as? InspectableTokenizer {
        exercise(tokenizer)
    }
    if summary.config != nil {
        _ = try? LanguageModel(gguf: gguf, threads: 1)
    }
    return 0
}
