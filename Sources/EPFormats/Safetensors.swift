import EPTensors
import Foundation

/// Element types of safetensors tensors.
public enum SafetensorsDType: String, Sendable, CaseIterable {
    case float64 = "F64", float32 = "F32", float16 = "F16", bfloat16 = "BF16"
    case int64 = "I64", int32 = "I32", int16 = "I16", int8 = "I8", uint8 = "U8", bool = "BOOL"

    /// Bytes per element.
    public var size: Int {
        switch self {
        case .float64, .int64: 8
        case .float32, .int32: 4
        case .float16, .bfloat16, .int16: 2
        case .int8, .uint8, .bool: 1
        }
    }

    /// Whether the type holds floating-point values.
    public var isFloatingPoint: Bool { self == .float64 || self == .float32 || self == .float16 || self == .bfloat16 }
}

/// One tensor's entry in a safetensors header.
public struct SafetensorsTensorInfo: Sendable, Equatable {
    /// Tensor name.
    public var name: String
    /// Element type.
    public var dtype: SafetensorsDType
    /// Shape, outermost first.
    public var shape: [Int]
    /// Absolute byte range of the data in the file.
    public var byteRange: Range<Int>

    /// Number of elements.
    public var elementCount: Int { shape.reduce(1, *) }
}

/// A safetensors file opened for reading: the header is parsed and checked on open (sizes, offsets, overlaps),
/// tensors are read on demand with positioned reads.
public final class SafetensorsFile: @unchecked Sendable {
    /// The file's path.
    public let path: String
    /// Tensors by name.
    public let tensors: [String: SafetensorsTensorInfo]
    /// Tensor names in the order of their data in the file.
    public let tensorNames: [String]
    /// The free-form `__metadata__` string map.
    public let metadata: [String: String]
    /// The open file.
    public let file: ReadOnlyFile

    /// Opens and validates `path`.
    public init(path: String) throws {
        self.path = path
        file = try ReadOnlyFile(path: path)
        guard file.size >= 8 else { throw FileFormatError(path, "not a safetensors file: only \(file.size) bytes") }
        let lengthBytes = try file.readBytes(count: 8, at: 0)
        let headerLength = lengthBytes.enumerated().reduce(UInt64(0)) { $0 | UInt64($1.element) << (8 * UInt64($1.offset)) }
        guard headerLength <= UInt64(file.size - 8), headerLength <= 100_000_000 else {
            throw FileFormatError(path, "not a safetensors file or truncated: header length \(headerLength) but the file has \(file.size) bytes")
        }
        let headerBytes = try file.readBytes(count: Int(headerLength), at: 8)
        let dataStart = 8 + Int(headerLength)
        guard let parsed = try? JSONValue.parse(headerBytes, path: path), case .object(let header) = parsed else {
            throw FileFormatError(path, "not a safetensors file: the header is not a JSON object")
        }
        var tensors: [String: SafetensorsTensorInfo] = [:]
        var metadata: [String: String] = [:]
        for name in header.keys {
            let value = header[name]!
            if name == "__metadata__" {
                guard case .object(let map) = value else { throw FileFormatError(path, "__metadata__ is not an object") }
                for k in map.keys {
                    guard case .string(let s) = map[k]! else { throw FileFormatError(path, "__metadata__ value for '\(k)' is not a string") }
                    metadata[k] = s
                }
                continue
            }
            guard case .object(let entry) = value else { throw FileFormatError(path, "tensor '\(name)': entry is not an object") }
            guard case .string(let dtypeName) = entry["dtype"] else { throw FileFormatError(path, "tensor '\(name)': missing dtype") }
            guard let dtype = SafetensorsDType(rawValue: dtypeName) else {
                throw FileFormatError(path, "tensor '\(name)': unsupported dtype \(dtypeName) (supported: \(SafetensorsDType.allCases.map(\.rawValue).joined(separator: ", ")))")
            }
            guard case .array(let shapeValues) = entry["shape"], let shape = Self.integers(shapeValues), shape.allSatisfy({ $0 >= 0 }) else {
                throw FileFormatError(path, "tensor '\(name)': shape is not a list of non-negative integers")
            }
            guard case .array(let offsetValues) = entry["data_offsets"], let offsets = Self.integers(offsetValues), offsets.count == 2,
                offsets[0] >= 0, offsets[1] >= offsets[0]
            else { throw FileFormatError(path, "tensor '\(name)': data_offsets must be [begin, end] with begin ≤ end") }
            let (count, o1) = shape.reduce((1, false)) { acc, d in let r = acc.0.multipliedReportingOverflow(by: d); return (r.0, acc.1 || r.1) }
            let (bytes, o2) = count.multipliedReportingOverflow(by: dtype.size)
            guard !o1, !o2, bytes == offsets[1] - offsets[0] else {
                throw FileFormatError(path, "tensor '\(name)': shape \(shape) of \(dtypeName) needs \(o1 || o2 ? "too many" : String(bytes)) bytes but data_offsets span \(offsets[1] - offsets[0])")
            }
            guard offsets[1] <= file.size - dataStart else {
                throw FileFormatError(path, "truncated: tensor '\(name)' ends at byte \(dataStart + offsets[1]) but the file has \(file.size) bytes")
            }
            tensors[name] = SafetensorsTensorInfo(name: name, dtype: dtype, shape: shape, byteRange: (dataStart + offsets[0])..<(dataStart + offsets[1]))
        }
        let ordered = tensors.values.sorted { ($0.byteRange.lowerBound, $0.name) < ($1.byteRange.lowerBound, $1.name) }
        for (a, b) in zip(ordered, ordered.dropFirst()) where a.byteRange.upperBound > b.byteRange.lowerBound && !a.byteRange.isEmpty && !b.byteRange.isEmpty {
            throw FileFormatError(path, "tensors '\(a.name)' and '\(b.name)' overlap")
        }
        self.tensors = tensors
        self.tensorNames = ordered.map(\.name)
        self.metadata = metadata
    }

    private static func integers(_ values: [JSONValue]) -> [Int]? {
        var result: [Int] = []
        for v in values {
            switch v {
            case .integer(let i) where i >= Int64(Int.min) && i <= Int64(Int.max): result.append(Int(i))
            case .number(let d) where d == d.rounded() && abs(d) < 9e18: result.append(Int(d))
            default: return nil
            }
        }
        return result
    }

    /// The entry for `name`, or an error listing the tensors that exist.
    public func info(_ name: String) throws -> SafetensorsTensorInfo {
        guard let info = tensors[name] else {
            throw FileFormatError(path, "no tensor named '\(name)' (tensors: \(tensorNames.joined(separator: ", ")))")
        }
        return info
    }

    /// Reads elements `range` (flat indices) of a floating-point tensor, converted to `Float`, into `destination`.
    public func readFloats(_ info: SafetensorsTensorInfo, elements range: Range<Int>, into destination: UnsafeMutablePointer<Float>) throws {
        let size = info.dtype.size
        let offset = info.byteRange.lowerBound + range.lowerBound * size
        switch info.dtype {
        case .float32:
            try file.read(into: destination, count: range.count * 4, at: offset)
        case .float16, .bfloat16, .float64:
            var raw = [UInt8](repeating: 0, count: range.count * size)
            try raw.withUnsafeMutableBytes { try file.read(into: $0.baseAddress!, count: $0.count, at: offset) }
            raw.withUnsafeBytes { source in
                switch info.dtype {
                case .float16: HalfPrecision.convertHalf(source.baseAddress!, count: range.count, into: destination)
                case .bfloat16: HalfPrecision.convertBFloat16(source.baseAddress!, count: range.count, into: destination)
                default: for i in 0..<range.count { destination[i] = Float(source.loadUnaligned(fromByteOffset: 8 * i, as: Double.self)) }
                }
            }
        default:
            throw FileFormatError(path, "tensor '\(info.name)' has dtype \(info.dtype.rawValue), expected F32, F16, BF16 or F64")
        }
    }

    /// Reads a whole floating-point tensor as `Float`.
    public func floats(_ name: String) throws -> [Float] {
        let info = try info(name)
        var values = [Float](repeating: 0, count: info.elementCount)
        try values.withUnsafeMutableBufferPointer { try readFloats(info, elements: 0..<info.elementCount, into: $0.baseAddress!) }
        return values
    }

    /// Reads a whole F64 (or F32) tensor as `Double`.
    public func doubles(_ name: String) throws -> [Double] {
        let info = try info(name)
        let raw = try file.readBytes(count: info.byteRange.count, at: info.byteRange.lowerBound)
        return try raw.withUnsafeBytes { p in
            switch info.dtype {
            case .float64: return (0..<info.elementCount).map { p.loadUnaligned(fromByteOffset: 8 * $0, as: Double.self) }
            case .float32: return (0..<info.elementCount).map { Double(p.loadUnaligned(fromByteOffset: 4 * $0, as: Float.self)) }
            default: throw FileFormatError(path, "tensor '\(name)' has dtype \(info.dtype.rawValue), expected F64")
            }
        }
    }

    /// Reads a whole integer tensor (I64, I32, I16, I8, U8 or BOOL) as `Int`.
    public func integers(_ name: String) throws -> [Int] {
        let info = try info(name)
        let raw = try file.readBytes(count: info.byteRange.count, at: info.byteRange.lowerBound)
        return try raw.withUnsafeBytes { p in
            let n = info.elementCount
            switch info.dtype {
            case .int64: return (0..<n).map { Int(p.loadUnaligned(fromByteOffset: 8 * $0, as: Int64.self)) }
            case .int32: return (0..<n).map { Int(p.loadUnaligned(fromByteOffset: 4 * $0, as: Int32.self)) }
            case .int16: return (0..<n).map { Int(p.loadUnaligned(fromByteOffset: 2 * $0, as: Int16.self)) }
            case .int8: return (0..<n).map { Int(Int8(bitPattern: p[$0])) }
            case .uint8, .bool: return (0..<n).map { Int(p[$0]) }
            default: throw FileFormatError(path, "tensor '\(name)' has dtype \(info.dtype.rawValue), expected an integer type")
            }
        }
    }
}

/// Collects tensors and writes them as one safetensors file (header padded to 8 bytes, data in insertion order).
/// Arrays are kept by reference until ``write(to:)``, not copied.
public struct SafetensorsWriter {
    private struct Entry {
        var name: String
        var dtype: SafetensorsDType
        var shape: [Int]
        var byteCount: Int
        /// Calls its argument with the tensor's bytes, in one or more consecutive pieces. Nil for a reserved tensor
        /// (its bytes are written later, ``write(into:)``).
        var withBytes: (((UnsafeRawBufferPointer) throws -> Void) throws -> Void)?
    }

    private var entries: [Entry] = []
    /// String metadata stored under `__metadata__`.
    public var metadata: [String: String] = [:]

    public init() {}

    private mutating func append(_ name: String, _ dtype: SafetensorsDType, _ shape: [Int], _ byteCount: Int, _ withBytes: (((UnsafeRawBufferPointer) throws -> Void) throws -> Void)?) {
        precondition(byteCount == shape.reduce(1, *) * dtype.size, "SafetensorsWriter: '\(name)' size does not match its shape \(shape)")
        precondition(!entries.contains { $0.name == name }, "SafetensorsWriter: duplicate tensor '\(name)'")
        entries.append(Entry(name: name, dtype: dtype, shape: shape, byteCount: byteCount, withBytes: withBytes))
    }

    /// Adds a tensor from raw little-endian element bytes.
    public mutating func add(_ name: String, dtype: SafetensorsDType, shape: [Int], bytes: [UInt8]) {
        append(name, dtype, shape, bytes.count) { body in try bytes.withUnsafeBytes { try body($0) } }
    }

    /// Adds a tensor of `values` (F32, F64, I64, I32 or BOOL by element type).
    public mutating func add<T: SafetensorsStorable>(_ name: String, shape: [Int], values: [T]) {
        append(name, T.safetensorsDType, shape, values.count * MemoryLayout<T>.stride) { body in try values.withUnsafeBytes { try body($0) } }
    }

    /// Adds an F32 tensor whose rows are the concatenation of `pieces` (written one after the other, never joined
    /// into one array).
    public mutating func add(_ name: String, shape: [Int], concatenating pieces: [[Float]]) {
        let count = pieces.reduce(0) { $0 + $1.count }
        append(name, .float32, shape, count * MemoryLayout<Float>.stride) { body in
            for piece in pieces { try piece.withUnsafeBytes { try body($0) } }
        }
    }

    /// Reserves room for a tensor whose bytes the caller writes into the file itself, at the byte range
    /// ``write(into:)`` returns for it (for tensors computed after the file is laid out).
    public mutating func reserve(_ name: String, dtype: SafetensorsDType, shape: [Int]) {
        append(name, dtype, shape, shape.reduce(1, *) * dtype.size, nil)
    }

    /// Adds an F32 tensor.
    public mutating func add(_ name: String, shape: [Int], float32 values: [Float]) { add(name, shape: shape, values: values) }

    /// Adds an F64 tensor.
    public mutating func add(_ name: String, shape: [Int], float64 values: [Double]) { add(name, shape: shape, values: values) }

    /// Adds an I64 tensor.
    public mutating func add(_ name: String, shape: [Int], int64 values: [Int64]) { add(name, shape: shape, values: values) }

    /// Adds an I32 tensor.
    public mutating func add(_ name: String, shape: [Int], int32 values: [Int32]) { add(name, shape: shape, values: values) }

    /// The header JSON text (before padding).
    private func headerJSON() -> String {
        var parts: [String] = []
        if !metadata.isEmpty {
            let pairs = metadata.keys.sorted().map { "\(jsonString($0)):\(jsonString(metadata[$0]!))" }
            parts.append("\"__metadata__\":{\(pairs.joined(separator: ","))}")
        }
        var offset = 0
        for e in entries {
            let shape = e.shape.map(String.init).joined(separator: ",")
            parts.append("\(jsonString(e.name)):{\"dtype\":\"\(e.dtype.rawValue)\",\"shape\":[\(shape)],\"data_offsets\":[\(offset),\(offset + e.byteCount)]}")
            offset += e.byteCount
        }
        return "{" + parts.joined(separator: ",") + "}"
    }

    /// Writes the file atomically and returns its size in bytes.
    @discardableResult
    public func write(to path: String) throws -> Int {
        var header = Array(headerJSON().utf8)
        while header.count % 8 != 0 { header.append(0x20) }
        let length = UInt64(header.count)
        precondition(entries.allSatisfy { $0.withBytes != nil }, "SafetensorsWriter.write(to:): a reserved tensor needs write(into:)")
        try AtomicOutput.write(to: path) { sink in
            try sink.write((0..<8).map { UInt8((length >> (8 * UInt64($0))) & 0xFF) })
            try sink.write(header)
            for e in entries { try e.withBytes! { try sink.write($0) } }
        }
        return 8 + header.count + entries.reduce(0) { $0 + $1.byteCount }
    }

    /// Lays the file out in `file` (positioned writes, from byte 0): the header and every tensor that is not
    /// reserved. Returns the absolute byte range of every tensor, for the caller to fill the reserved ones before
    /// it commits the file.
    public func write(into file: AtomicFile) throws -> [String: Range<Int>] {
        var header = Array(headerJSON().utf8)
        while header.count % 8 != 0 { header.append(0x20) }
        let length = UInt64(header.count)
        let prefix = (0..<8).map { UInt8((length >> (8 * UInt64($0))) & 0xFF) } + header
        try prefix.withUnsafeBytes { try file.write($0, at: 0) }
        var ranges: [String: Range<Int>] = [:]
        var offset = prefix.count
        for e in entries {
            ranges[e.name] = offset..<(offset + e.byteCount)
            if let withBytes = e.withBytes {
                var at = offset
                try withBytes {
                    try file.write($0, at: at)
                    at += $0.count
                }
            }
            offset += e.byteCount
        }
        return ranges
    }
}

/// Element types that ``SafetensorsWriter`` stores, with their safetensors dtype.
public protocol SafetensorsStorable {
    static var safetensorsDType: SafetensorsDType { get }
}

extension Float: SafetensorsStorable { public static var safetensorsDType: SafetensorsDType { .float32 } }
extension Double: SafetensorsStorable { public static var safetensorsDType: SafetensorsDType { .float64 } }
extension Int64: SafetensorsStorable { public static var safetensorsDType: SafetensorsDType { .int64 } }
extension Int32: SafetensorsStorable { public static var safetensorsDType: SafetensorsDType { .int32 } }
extension Bool: SafetensorsStorable { public static var safetensorsDType: SafetensorsDType { .bool } }

/// A JSON string literal for `s` (quotes, backslashes and control characters escaped).
public func jsonString(_ s: String) -> String {
    var out = "\""
    for scalar in s.unicodeScalars {
        switch scalar {
        case "\"": out += "\\\""
        case "\\": out += "\\\\"
        case "\n": out += "\\n"
        case "\r": out += "\\r"
        case "\t": out += "\\t"
        default:
            if scalar.value < 0x20 {
                let hex = String(scalar.value, radix: 16)
                out += "\\u" + String(repeating: "0", count: 4 - hex.count) + hex
            } else {
                out.unicodeScalars.append(scalar)
            }
        }
    }
    return out + "\""
}
