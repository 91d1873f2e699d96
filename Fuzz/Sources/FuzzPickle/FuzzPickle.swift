import EPFormats
import EPStore
import FuzzSupport

/// Pickles (`ep import`): the opcode reader over a memory map (``PickleGraph``: allow-listed callables, memo,
/// marks, lengths, limits), then the conversion of what it built into a dictionary (numpy arrays, dtypes,
/// scalars, the Dictionary and Partition fields), with and without the reservoir.
@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzPickle(_ data: UnsafePointer<UInt8>?, _ size: Int) -> Int32 {
    let path = scratchFile("input.pkl", data, size)
    var limits = PickleLimits()
    limits.maximumNodes = 1 << 20
    limits.maximumMemo = 1 << 20
    _ = try? PickleGraph(path: path, limits: limits)
    _ = try? PickleImport.read(pickle: path, reservoir: true, limits: limits)
    _ = try? PickleImport.read(pickle: path, reservoir: false, limits: limits)
    return 0
}
