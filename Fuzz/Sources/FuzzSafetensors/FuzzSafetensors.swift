import EPFormats
import FuzzSupport

/// `.safetensors` files: the header (JSON, offsets, overlaps), then every tensor through each typed reader, and the
/// activation-file view.
@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzSafetensors(_ data: UnsafePointer<UInt8>?, _ size: Int) -> Int32 {
    let path = scratchFile("input.safetensors", data, size)
    if let file = try? SafetensorsFile(path: path) {
        _ = file.metadata.count
        for name in file.tensorNames {
            _ = try? file.floats(name)
            _ = try? file.doubles(name)
            _ = try? file.integers(name)
        }
    }
    exerciseActivationFile(path)
    return 0
}
