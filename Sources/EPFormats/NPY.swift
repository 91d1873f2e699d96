import EPTensors

/// Element types of `.npy` arrays that the toolkit reads or writes.
public enum NPYElementType: String, Sendable, CaseIterable {
    case float32 = "<f4"
    case float16 = "<f2"
    case float64 = "<f8"
    case int64 = "<i8"
    case int32 = "<i4"
    case uint8 = "|u1"
    case bool = "|b1"

    /// Bytes per element.
    public var size: Int {
        switch self {
        case .float32, .int32: 4
        case .float16: 2
        case .float64, .int64: 8
        case .uint8, .bool: 1
        }
    }

    init?(descr: String) {
        // numpy writes `<` for little-endian multi-byte types and `|` for single bytes; accept `=` (native, which
        // is little-endian on every platform we run on) and `<` for single bytes too.
        var d = descr
        if d.hasPrefix("=") { d = "<" + d.dropFirst() }
        if d == "<u1" { d = "|u1" }
        if d == "<b1" { d = "|b1" }
        guard let t = NPYElementType(rawValue: d) else { return nil }
        self = t
    }
}

/// The header of a `.npy` file (format versions 1.0, 2.0 and 3.0).
public struct NPYHeader: Sendable, Equatable {
    /// Element type.
    public var elementType: NPYElementType
    /// Array shape, outermost first.
    public var shape: [Int]
    /// True for Fortran (column-major) order.
    public var fortranOrder: Bool
    /// Byte offset of the first element.
    public var dataOffset: Int

    /// Number of elements.
    public var elementCount: Int { shape.reduce(1, *) }
}

/// Reading and writing numpy `.npy` arrays.
public enum NPY {
    private static let magic: [UInt8] = [0x93, 0x4E, 0x55, 0x4D, 0x50, 0x59]  // \x93NUMPY

    /// Parses and checks the header of `file`: magic, version, a well-formed header dictionary, a supported dtype,
    /// and a data section whose size matches the shape exactly. `accepted` describes the dtypes the caller reads,
    /// for the message about an unsupported one (by default, every dtype this reader knows).
    public static func readHeader(_ file: ReadOnlyFile, accepted: String? = nil) throws -> NPYHeader {
        let path = file.path
        guard file.size >= 10 else { throw FileFormatError(path, "not a .npy file: only \(file.size) bytes") }
        let start = try file.readBytes(count: 10, at: 0)
        guard Array(start[0..<6]) == magic else { throw FileFormatError(path, "not a .npy file: bad magic bytes") }
        let major = start[6]
        let headerLength: Int
        let headerStart: Int
        switch major {
        case 1:
            headerLength = Int(start[8]) | Int(start[9]) << 8
            headerStart = 10
        case 2, 3:
            let bytes = try file.readBytes(count: 4, at: 8)
            headerLength = bytes.enumerated().reduce(0) { $0 | Int($1.element) << (8 * $1.offset) }
            headerStart = 12
        default:
            throw FileFormatError(path, "unsupported .npy format version \(major).\(start[7]) (expected 1.0, 2.0 or 3.0)")
        }
        guard headerStart + headerLength <= file.size else {
            throw FileFormatError(path, "truncated .npy header: needs \(headerStart + headerLength) bytes, file has \(file.size)")
        }
        let headerBytes = try file.readBytes(count: headerLength, at: headerStart)
        let text = String(decoding: headerBytes, as: UTF8.self)
        let dictionary = try parseHeaderDictionary(text, path: path)
        guard let descr = dictionary.descr else { throw FileFormatError(path, ".npy header has no 'descr'") }
        guard let type = NPYElementType(descr: descr) else {
            let supported = accepted ?? NPYElementType.allCases.map(\.rawValue).joined(separator: ", ")
            throw FileFormatError(path, "unsupported dtype '\(descr)' (supported: \(supported); big-endian is not)")
        }
        guard let shape = dictionary.shape else { throw FileFormatError(path, ".npy header has no 'shape'") }
        let header = NPYHeader(
            elementType: type, shape: shape, fortranOrder: dictionary.fortranOrder ?? false,
            dataOffset: headerStart + headerLength)
        let (count, overflow) = shape.reduce((1, false)) { acc, dim in
            let (p, o) = acc.0.multipliedReportingOverflow(by: dim)
            return (p, acc.1 || o)
        }
        let (bytes, overflow2) = count.multipliedReportingOverflow(by: type.size)
        guard !overflow, !overflow2 else { throw FileFormatError(path, "shape \(shapeText(shape)) is too large") }
        let available = file.size - header.dataOffset
        if available < bytes {
            throw FileFormatError(path, "truncated: shape \(shapeText(shape)) of \(descr) needs \(bytes) data bytes, the file has \(available)")
        }
        if available > bytes {
            throw FileFormatError(path, "\(available - bytes) unexpected bytes after the data of shape \(shapeText(shape))")
        }
        return header
    }

    /// Formats a shape as numpy prints it: `(3, 4)`, `(5,)`.
    public static func shapeText(_ shape: [Int]) -> String {
        shape.count == 1 ? "(\(shape[0]),)" : "(" + shape.map(String.init).joined(separator: ", ") + ")"
    }

    /// The header and the data bytes of the whole `.npy` file at `path`.
    private static func readArray(path: String) throws -> (header: NPYHeader, raw: [UInt8]) {
        let file = try ReadOnlyFile(path: path)
        let header = try readHeader(file)
        return (header, try file.readBytes(count: header.elementCount * header.elementType.size, at: header.dataOffset))
    }

    /// Reads a whole array of floats (float32, float16 or float64 in the file) as `Float`.
    public static func readFloats(path: String) throws -> (values: [Float], shape: [Int]) {
        let (header, raw) = try readArray(path: path)
        guard !header.fortranOrder else { throw FileFormatError(path, "Fortran-ordered arrays are not supported; save with C order") }
        let count = header.elementCount
        var values = [Float](repeating: 0, count: count)
        try raw.withUnsafeBytes { source in
            try values.withUnsafeMutableBufferPointer { out in
                switch header.elementType {
                case .float32:
                    for i in 0..<count { out[i] = source.loadUnaligned(fromByteOffset: 4 * i, as: Float.self) }
                case .float16:
                    HalfPrecision.convertHalf(source.baseAddress!, count: count, into: out.baseAddress!)
                case .float64:
                    for i in 0..<count { out[i] = Float(source.loadUnaligned(fromByteOffset: 8 * i, as: Double.self)) }
                default:
                    throw FileFormatError(path, "expected floating-point data, found dtype '\(header.elementType.rawValue)'")
                }
            }
        }
        return (values, header.shape)
    }

    /// Reads a whole float64 (or float32) array as `Double`.
    public static func readDoubles(path: String) throws -> (values: [Double], shape: [Int]) {
        let (header, raw) = try readArray(path: path)
        let count = header.elementCount
        return try raw.withUnsafeBytes { source in
            switch header.elementType {
            case .float64: return ((0..<count).map { source.loadUnaligned(fromByteOffset: 8 * $0, as: Double.self) }, header.shape)
            case .float32: return ((0..<count).map { Double(source.loadUnaligned(fromByteOffset: 4 * $0, as: Float.self)) }, header.shape)
            default: throw FileFormatError(path, "expected float64 data, found dtype '\(header.elementType.rawValue)'")
            }
        }
    }

    /// Reads a whole integer array (int64, int32 or uint8 in the file) as `Int`.
    public static func readIntegers(path: String) throws -> (values: [Int], shape: [Int]) {
        let (header, raw) = try readArray(path: path)
        let count = header.elementCount
        return try raw.withUnsafeBytes { source in
            switch header.elementType {
            case .int64: return ((0..<count).map { Int(source.loadUnaligned(fromByteOffset: 8 * $0, as: Int64.self)) }, header.shape)
            case .int32: return ((0..<count).map { Int(source.loadUnaligned(fromByteOffset: 4 * $0, as: Int32.self)) }, header.shape)
            case .uint8, .bool: return ((0..<count).map { Int(source[$0]) }, header.shape)
            default: throw FileFormatError(path, "expected integer data, found dtype '\(header.elementType.rawValue)'")
            }
        }
    }

    /// The bytes of a complete `.npy` file (format 1.0, or 2.0 when the header needs it) for raw little-endian
    /// element bytes of the given type and shape.
    public static func encode(elementType: NPYElementType, shape: [Int], data: UnsafeRawBufferPointer) -> [UInt8] {
        precondition(data.count == shape.reduce(1, *) * elementType.size, "NPY.encode: data size does not match shape")
        var bytes = encodeHeader(elementType: elementType, shape: shape)
        bytes.append(contentsOf: data)
        return bytes
    }

    /// The header bytes (magic, version, padded dictionary) for an array of the given type and shape.
    public static func encodeHeader(elementType: NPYElementType, shape: [Int]) -> [UInt8] {
        let dictionary = "{'descr': '\(elementType.rawValue)', 'fortran_order': False, 'shape': \(shapeText(shape)), }"
        var text = Array(dictionary.utf8)
        // Total header (magic + version + length + text + newline) padded to a multiple of 64 bytes.
        let small = 10 + text.count + 1 <= 65535 + 10
        let prefix = small ? 10 : 12
        let padding = (64 - (prefix + text.count + 1) % 64) % 64
        text.append(contentsOf: [UInt8](repeating: 0x20, count: padding))
        text.append(0x0A)
        var bytes = magic
        if small {
            bytes += [1, 0, UInt8(text.count & 0xFF), UInt8(text.count >> 8)]
        } else {
            bytes += [2, 0] + (0..<4).map { UInt8((text.count >> (8 * $0)) & 0xFF) }
        }
        return bytes + text
    }

    /// Writes an array (float32, float64, int64, int32 or bool) atomically.
    public static func write<T: NPYStorable>(_ values: [T], shape: [Int], to path: String) throws {
        try values.withUnsafeBytes { try AtomicOutput.write(encode(elementType: T.npyElementType, shape: shape, data: $0), to: path) }
    }

    // MARK: header dictionary

    private struct HeaderDictionary {
        var descr: String?
        var fortranOrder: Bool?
        var shape: [Int]?
    }

    /// Parses the Python-literal dictionary of a .npy header, e.g.
    /// `{'descr': '<f4', 'fortran_order': False, 'shape': (3, 4), }`.
    private static func parseHeaderDictionary(_ text: String, path: String) throws -> HeaderDictionary {
        var result = HeaderDictionary()
        let scalars = Array(text.unicodeScalars)
        var i = 0
        func fail(_ what: String) -> FileFormatError { FileFormatError(path, "malformed .npy header (\(what)): \(text.trimmingCharacters())") }
        func skipSpace() { while i < scalars.count, scalars[i] == " " || scalars[i] == "\n" || scalars[i] == "\t" { i += 1 } }
        func string() throws -> String {
            skipSpace()
            guard i < scalars.count, scalars[i] == "'" || scalars[i] == "\"" else { throw fail("expected a string") }
            let quote = scalars[i]
            i += 1
            var s = ""
            while i < scalars.count, scalars[i] != quote { s.unicodeScalars.append(scalars[i]); i += 1 }
            guard i < scalars.count else { throw fail("unterminated string") }
            i += 1
            return s
        }
        func expect(_ c: Unicode.Scalar) throws {
            skipSpace()
            guard i < scalars.count, scalars[i] == c else { throw fail("expected '\(c)'") }
            i += 1
        }
        try expect("{")
        while true {
            skipSpace()
            if i < scalars.count, scalars[i] == "}" { break }
            let key = try string()
            try expect(":")
            skipSpace()
            switch key {
            case "descr":
                result.descr = try string()
            case "fortran_order":
                if scalars[i...].starts(with: "True".unicodeScalars) { result.fortranOrder = true; i += 4 }
                else if scalars[i...].starts(with: "False".unicodeScalars) { result.fortranOrder = false; i += 5 }
                else { throw fail("fortran_order must be True or False") }
            case "shape":
                try expect("(")
                var dims: [Int] = []
                while true {
                    skipSpace()
                    if i < scalars.count, scalars[i] == ")" { i += 1; break }
                    var digits = ""
                    while i < scalars.count, scalars[i].properties.numericType != nil || scalars[i] == "L" {
                        if scalars[i] != "L" { digits.unicodeScalars.append(scalars[i]) }
                        i += 1
                    }
                    guard let value = Int(digits), value >= 0 else { throw fail("bad dimension") }
                    dims.append(value)
                    skipSpace()
                    if i < scalars.count, scalars[i] == "," { i += 1 }
                }
                result.shape = dims
            default:
                throw fail("unexpected key '\(key)'")
            }
            skipSpace()
            if i < scalars.count, scalars[i] == "," { i += 1 }
            guard i < scalars.count else { throw fail("unterminated dictionary") }
        }
        return result
    }
}

private extension String {
    func trimmingCharacters() -> String {
        var s = Substring(self)
        while let last = s.last, last == " " || last == "\n" { s = s.dropLast() }
        return String(s)
    }
}

/// A 1-D `.npy` array written while it is produced: the length is fixed up front (it goes in the header), values
/// are appended in chunks, and the file appears at its path only on ``commit()`` (see ``AtomicFile``).
public final class NPYStreamWriter<T: NPYStorable> {
    private let file: AtomicFile
    private let count: Int
    private var written = 0

    /// Starts `path` for `count` values.
    public init(path: String, count: Int) throws {
        file = try AtomicFile(path: path)
        self.count = count
        try file.sink.write(NPY.encodeHeader(elementType: T.npyElementType, shape: [count]))
    }

    /// Appends values.
    public func append(_ values: [T]) throws {
        guard written + values.count <= count else {
            throw FileFormatError(file.path, "more than the announced \(count) values were written")
        }
        try values.withUnsafeBytes { try file.sink.write($0) }
        written += values.count
    }

    /// Moves the finished file into place; every announced value must have been written.
    public func commit() throws {
        guard written == count else { throw FileFormatError(file.path, "only \(written) of the announced \(count) values were written") }
        try file.commit()
    }
}
