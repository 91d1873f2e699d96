import EPCore
import EPFormats
import EPTensors

/// Codes over a dictionary's regions (`ep encode`'s output, `ep decode`'s input) as a file: sparse readouts as
/// `.safetensors` with `indices` (I32 [N, k], largest first) and `values` (F32 [N, k]) and the readout, basis, k
/// and K in its metadata; dense readouts as `.npy` (float32 [N, K]).
public enum ReadoutCodesFile {
    /// The `format` metadata of sparse codes, which marks them as ep's.
    public static let sparseFormat = "ep-codes"
    public static let sparseKind = OutputKind.safetensors("sparse codes", key: "format", value: sparseFormat)
    public static let denseKind = OutputKind.unmarkedFile("dense codes", format: ".npy")

    /// The extension of the file of `readout`'s codes.
    public static func fileExtension(of readout: Readout) -> String { readout.isSparse ? ".safetensors" : ".npy" }

    /// The output kind of the file of `readout`'s codes.
    public static func outputKind(of readout: Readout) -> OutputKind { readout.isSparse ? sparseKind : denseKind }

    /// Writes the codes `parts` (in order, one file) that `encoder` gave over the `basis` directions to `path`;
    /// returns the number of rows.
    @discardableResult
    public static func write(_ parts: [ReadoutCodes], of encoder: RegionReadout, basis: DirectionBasis, to path: String) throws -> Int {
        let rows = parts.reduce(0) { $0 + $1.rows }
        if encoder.readout.isSparse {
            var codes = SafetensorsWriter()
            codes.add("indices", shape: [rows, encoder.k], values: parts.flatMap(\.indices))
            codes.add("values", shape: [rows, encoder.k], values: parts.flatMap(\.values))
            codes.metadata = [
                "format": sparseFormat, "readout": encoder.readout.rawValue, "basis": basis.rawValue, "k": String(encoder.k),
                "regions": String(encoder.regionCount),
            ]
            try codes.write(to: path)
        } else {
            try NPY.write(parts.flatMap { $0.dense!.storage }, shape: [rows, encoder.regionCount], to: path)
        }
        return rows
    }

    /// Reads the codes at `path` (sparse `.safetensors`, otherwise dense `.npy`) over `regionCount` regions.
    public static func read(_ path: String, regionCount: Int) throws -> ReadoutCodes {
        if path.lowercased().hasSuffix(".safetensors") {
            let file = try SafetensorsFile(path: path)
            guard let indices = file.tensors["indices"], let values = file.tensors["values"] else {
                throw FileFormatError(path, "expected tensors 'indices' and 'values' (written by ep encode with a sparse readout)")
            }
            guard indices.shape.count == 2, values.shape == indices.shape else {
                throw FileFormatError(path, "expected indices and values of one 2-D shape, found \(indices.shape) and \(values.shape)")
            }
            return ReadoutCodes(
                rows: indices.shape[0], regions: regionCount, k: indices.shape[1],
                indices: try file.integers("indices").map { Int32(truncatingIfNeeded: $0) }, values: try file.floats("values"))
        }
        let (values, shape) = try NPY.readFloats(path: path)
        guard shape.count == 2, shape[1] == regionCount else {
            throw FileFormatError(path, "expected dense codes of shape (N, \(regionCount)), found \(NPY.shapeText(shape))")
        }
        return ReadoutCodes(dense: Matrix(rows: shape[0], columns: shape[1], storage: values))
    }
}
