import EPFormats
import FuzzSupport

/// `.npy` arrays: the header parser and every typed reader, and the activation-file view (2-D float arrays).
@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzNPY(_ data: UnsafePointer<UInt8>?, _ size: Int) -> Int32 {
    let path = scratchFile("input.npy", data, size)
    _ = try? NPY.readFloats(path: path)
    _ = try? NPY.readDoubles(path: path)
    _ = try? NPY.readIntegers(path: path)
    exerciseActivationFile(path)
    return 0
}
