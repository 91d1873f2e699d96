import EPFormats
import FuzzSupport

/// `.npy` arrays: the header parser and every typed reader, and the activation-file view (2-D float arrays).
@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzNPY(_ data: UnsafePointer<UInt8>?, _ size: Int) -> Int32 {
    let path = scratchFile("input.npy", data, size)
    _ = try? NPY.readFloats(path: path)
    _ = try? NPY.readDoubles(path: path)
    _ = try? NPY.readIntegers(path: path)
    if let file = try? ActivationFile(path: path), file.rows > 0 {
        let rows = min(file.rows, 4)
        var out = [Float](repeating: 0, count: rows * file.width)
        var scratch: [UInt8] = []
        _ = try? out.withUnsafeMutableBufferPointer { try file.read(rows: 0..<rows, into: $0.baseAddress!, scratch: &scratch) }
    }
    return 0
}
