import EPFormats

/// Token ids stored as `.npy` arrays (int32 or int64): one sequence (shape `[T]`) or a batch of windows
/// (`[B, T]`).
public enum TokenIDs {
    /// The sequences in `path`, and the array's shape.
    public static func read(path: String) throws -> (sequences: [[Int32]], shape: [Int]) {
        let (values, shape) = try NPY.readIntegers(path: path)
        if let bad = values.first(where: { Int32(exactly: $0) == nil }) {
            throw FileFormatError(path, "token id \(bad) does not fit in 32 bits")
        }
        let ids = values.map { Int32($0) }
        switch shape.count {
        case 1: return ([ids], shape)
        case 2: return ((0..<shape[0]).map { Array(ids[($0 * shape[1])..<(($0 + 1) * shape[1])]) }, shape)
        default: throw FileFormatError(path, "expected token ids of shape (T,) or (B, T), found \(NPY.shapeText(shape))")
        }
    }

    /// Writes `sequences` (all of one length when there are several) as int32 with `shape`.
    public static func write(_ sequences: [[Int32]], shape: [Int], to path: String) throws {
        try NPY.write(sequences.flatMap { $0 }, shape: shape, to: path)
    }
}
