import EPFormats

/// Writes a GGUF file (version 3, little-endian) with F32 tensors, the layout ``GGUFFile`` reads: the header,
/// the metadata key-value pairs, the tensor table, then the data section at the next multiple of the alignment
/// (32 bytes, the GGUF default; no `general.alignment` key is written), each tensor's data aligned to it too.
/// The file is written atomically.
public struct GGUFWriter {
    /// The alignment of the data section and of every tensor in it.
    public static let alignment = 32

    private var metadata: [(key: String, value: GGUFValue)] = []
    private var tensors: [(name: String, dimensions: [Int], values: [Float])] = []

    public init() {}

    /// Adds a metadata pair (keys are written in the order added; a key given twice is a programming error).
    public mutating func set(_ key: String, _ value: GGUFValue) {
        precondition(!metadata.contains { $0.key == key }, "GGUF key \(key) set twice")
        metadata.append((key, value))
    }

    /// Adds an F32 tensor; `dimensions` innermost first, as GGUF stores them.
    public mutating func add(_ name: String, dimensions: [Int], values: [Float]) {
        precondition(dimensions.reduce(1, *) == values.count, "GGUF tensor \(name): \(values.count) values for dimensions \(dimensions)")
        precondition(!tensors.contains { $0.name == name }, "GGUF tensor \(name) added twice")
        tensors.append((name, dimensions, values))
    }

    /// The file's bytes.
    public func bytes() -> [UInt8] {
        var out: [UInt8] = []
        out += Array("GGUF".utf8)
        Self.append(UInt32(3), to: &out)
        Self.append(UInt64(tensors.count), to: &out)
        Self.append(UInt64(metadata.count), to: &out)
        for (key, value) in metadata {
            Self.append(string: key, to: &out)
            Self.append(UInt32(Self.typeID(value)), to: &out)
            Self.append(value: value, to: &out)
        }
        var offset = 0
        for t in tensors {
            Self.append(string: t.name, to: &out)
            Self.append(UInt32(t.dimensions.count), to: &out)
            for d in t.dimensions { Self.append(UInt64(d), to: &out) }
            Self.append(GGMLType.f32.rawValue, to: &out)
            Self.append(UInt64(offset), to: &out)
            offset = Self.aligned(offset + 4 * t.values.count)
        }
        out += [UInt8](repeating: 0, count: Self.aligned(out.count) - out.count)
        let dataStart = out.count
        for t in tensors {
            out += [UInt8](repeating: 0, count: dataStart + Self.aligned(out.count - dataStart) - out.count)
            for v in t.values { Self.append(v.bitPattern, to: &out) }
        }
        return out
    }

    /// Writes the file to `path`, atomically.
    public func write(to path: String) throws {
        try AtomicOutput.write(bytes(), to: path)
    }

    static func aligned(_ n: Int) -> Int { (n + alignment - 1) / alignment * alignment }

    static func append<T: FixedWidthInteger>(_ value: T, to out: inout [UInt8]) {
        withUnsafeBytes(of: value.littleEndian) { out += $0 }
    }

    static func append(string: String, to out: inout [UInt8]) {
        let utf8 = Array(string.utf8)
        append(UInt64(utf8.count), to: &out)
        out += utf8
    }

    /// The GGUF type id of a value (the ids ``GGUFFile`` reads).
    static func typeID(_ value: GGUFValue) -> Int {
        switch value {
        case .uint8: 0
        case .int8: 1
        case .uint16: 2
        case .int16: 3
        case .uint32: 4
        case .int32: 5
        case .float32: 6
        case .bool: 7
        case .string: 8
        case .array: 9
        case .uint64: 10
        case .int64: 11
        case .float64: 12
        }
    }

    static func append(value: GGUFValue, to out: inout [UInt8]) {
        switch value {
        case .uint8(let v): append(v, to: &out)
        case .int8(let v): append(v, to: &out)
        case .uint16(let v): append(v, to: &out)
        case .int16(let v): append(v, to: &out)
        case .uint32(let v): append(v, to: &out)
        case .int32(let v): append(v, to: &out)
        case .uint64(let v): append(v, to: &out)
        case .int64(let v): append(v, to: &out)
        case .float32(let v): append(v.bitPattern, to: &out)
        case .float64(let v): append(v.bitPattern, to: &out)
        case .bool(let v): append(UInt8(v ? 1 : 0), to: &out)
        case .string(let s): append(string: s, to: &out)
        case .array(let elements):
            // An array's elements share one type: the first element's (an empty array is written as u8).
            append(UInt32(elements.first.map(typeID) ?? 0), to: &out)
            append(UInt64(elements.count), to: &out)
            for e in elements { append(value: e, to: &out) }
        }
    }
}
