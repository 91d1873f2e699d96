import EPFormats
import EPRuntime
import FuzzSupport

/// Hugging Face `config.json`: the hyperparameters and traits of the model, and the figures `ep model info` and
/// the benchmarks derive from them.
@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzHFConfig(_ data: UnsafePointer<UInt8>?, _ size: Int) -> Int32 {
    guard let value = try? JSONValue.parse(bytes(data, size), path: "config.json"),
        let fields = try? JSONFields(value, path: "config.json"),
        let config = try? TransformerConfig(huggingFace: fields)
    else { return 0 }
    _ = config.parameterCount
    _ = config.flopsPerToken(layers: config.layerCount, logits: true, averageKeys: 8)
    _ = config.queryWidth + config.kvWidth
    return 0
}
