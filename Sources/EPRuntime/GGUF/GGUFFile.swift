import EPFormats

/// One entry of a GGUF tensor table.
public struct GGUFTensorInfo: Sendable, Equatable {
    /// Tensor name (`blk.0.attn_q.weight`).
    public var name: String
    /// Dimensions innermost first, as GGUF stores them: `[576, 1536]` is 1536 rows of 576 elements.
    public var dimensions: [Int]
    /// Element encoding.
    public var type: GGMLType
    /// Absolute byte offset of the data in the file.
    public var offset: Int
    /// Size of the data in bytes.
    public var byteCount: Int

    /// Number of elements.
    public var elementCount: Int { dimensions.reduce(1, *) }
    /// Elements per row (the innermost dimension).
    public var rowLength: Int { dimensions.first ?? 1 }
    /// Number of rows (the product of the outer dimensions).
    public var rowCount: Int { dimensions.dropFirst().reduce(1, *) }
}

/// A GGUF model file (versions 2 and 3), memory-mapped: metadata, tensor table and tensor data, validated on open.
///
/// Every length, count, offset and size read from the file is checked against the file size before use, so a
/// truncated or corrupt file yields a ``FileFormatError`` naming the file and the field, never a crash.
public final class GGUFFile: @unchecked Sendable {
    /// The path the file was opened from.
    public let path: String
    /// The GGUF format version (2 or 3).
    public let version: Int
    /// Metadata key-value pairs, in file order.
    public let metadataKeys: [String]
    /// Metadata by key.
    public let metadata: [String: GGUFValue]
    /// Tensor table entries, in file order.
    public let tensors: [GGUFTensorInfo]
    /// Byte alignment of the data section (`general.alignment`, default 32).
    public let alignment: Int
    /// Absolute offset of the data section.
    public let dataOffset: Int
    /// The mapped file.
    public let file: MappedFile
    private let tensorIndex: [String: Int]

    /// Opens, maps and validates `path`.
    public init(path: String) throws {
        self.path = path
        file = try MappedFile(path: path)
        var cursor = Cursor(file: file)
        guard file.count >= 4 else { throw FileFormatError(path, "not a GGUF file: only \(file.count) bytes") }
        let magic = try cursor.bytes(4, field: "magic")
        guard magic == Array("GGUF".utf8) else { throw FileFormatError(path, "not a GGUF file: bad magic bytes \(magic)") }
        let rawVersion = try cursor.uint32(field: "version")
        guard rawVersion == 2 || rawVersion == 3 else {
            if rawVersion.byteSwapped == 2 || rawVersion.byteSwapped == 3 {
                throw FileFormatError(path, "big-endian GGUF files are not supported")
            }
            throw FileFormatError(path, "unsupported GGUF version \(rawVersion) (supported: 2, 3)")
        }
        version = Int(rawVersion)
        let tensorCount = try cursor.count(field: "tensor count", minimumElementBytes: 8 + 4 + 4 + 8)
        let keyCount = try cursor.count(field: "metadata count", minimumElementBytes: 8 + 4)
        var keys: [String] = []
        var metadata: [String: GGUFValue] = [:]
        for index in 0..<keyCount {
            let key = try cursor.string(field: "metadata key \(index)")
            let typeID = try cursor.uint32(field: "type of '\(key)'")
            let value = try cursor.value(typeID: typeID, field: "'\(key)'", depth: 0)
            if metadata[key] != nil { throw FileFormatError(path, "metadata key '\(key)' appears twice") }
            keys.append(key)
            metadata[key] = value
        }
        metadataKeys = keys
        self.metadata = metadata
        if let value = metadata["general.alignment"] {
            guard let a = value.integer, a > 0, a & (a - 1) == 0, a <= 1 << 20 else {
                throw FileFormatError(path, "general.alignment must be a power of two, found \(value.summary)")
            }
            alignment = a
        } else {
            alignment = 32
        }
        var infos: [(String, [Int], GGMLType, Int)] = []
        for index in 0..<tensorCount {
            let name = try cursor.string(field: "tensor \(index) name")
            let dimensionCount = try cursor.uint32(field: "dimension count of '\(name)'")
            guard (1...4).contains(dimensionCount) else {
                throw FileFormatError(path, "tensor '\(name)': \(dimensionCount) dimensions (expected 1 to 4)")
            }
            var dims: [Int] = []
            for _ in 0..<dimensionCount {
                let d = try cursor.uint64(field: "dimensions of '\(name)'")
                guard d > 0, d <= UInt64(Int32.max) * 16 else { throw FileFormatError(path, "tensor '\(name)': dimension \(d) out of range") }
                dims.append(Int(d))
            }
            let typeID = try cursor.uint32(field: "type of tensor '\(name)'")
            guard let type = GGMLType(rawValue: typeID) else {
                let known = GGMLType.allCases.map { "\($0) (\($0.rawValue))" }.joined(separator: ", ")
                throw FileFormatError(path, "tensor '\(name)': unknown tensor type id \(typeID) (known: \(known))")
            }
            let offset = try cursor.uint64(field: "offset of '\(name)'")
            guard offset <= UInt64(file.count) else { throw FileFormatError(path, "tensor '\(name)': offset \(offset) beyond the end of the file") }
            infos.append((name, dims, type, Int(offset)))
        }
        dataOffset = (cursor.position + alignment - 1) / alignment * alignment
        var tensors: [GGUFTensorInfo] = []
        var index: [String: Int] = [:]
        for (name, dims, type, relative) in infos {
            var count = 1
            for d in dims {
                let (p, overflow) = count.multipliedReportingOverflow(by: d)
                guard !overflow, p <= 1 << 40 else { throw FileFormatError(path, "tensor '\(name)': element count overflows") }
                count = p
            }
            guard dims[0] % type.blockSize == 0 else {
                throw FileFormatError(path, "tensor '\(name)': row length \(dims[0]) is not a multiple of the \(type) block size \(type.blockSize)")
            }
            let bytes = count / type.blockSize * type.blockBytes
            guard relative % alignment == 0 else {
                throw FileFormatError(path, "tensor '\(name)': offset \(relative) is not aligned to \(alignment)")
            }
            let absolute = dataOffset + relative
            guard absolute <= file.count, bytes <= file.count - absolute else {
                throw FileFormatError(path, "truncated: tensor '\(name)' needs bytes \(absolute)..<\(absolute + bytes) but the file has \(file.count) bytes")
            }
            guard index[name] == nil else { throw FileFormatError(path, "tensor '\(name)' appears twice") }
            index[name] = tensors.count
            tensors.append(GGUFTensorInfo(name: name, dimensions: dims, type: type, offset: absolute, byteCount: bytes))
        }
        self.tensors = tensors
        tensorIndex = index
    }

    /// The tensor named `name`, or nil.
    public func tensor(named name: String) -> GGUFTensorInfo? {
        tensorIndex[name].map { tensors[$0] }
    }

    /// The tensor named `name`, or an error naming the file and the missing tensor.
    public func requireTensor(_ name: String) throws -> GGUFTensorInfo {
        guard let info = tensor(named: name) else { throw FileFormatError(path, "missing tensor '\(name)'") }
        return info
    }

    /// The raw bytes of a tensor's data.
    public func data(of tensor: GGUFTensorInfo) -> UnsafeRawBufferPointer {
        UnsafeRawBufferPointer(start: file.bytes + tensor.offset, count: tensor.byteCount)
    }

    /// A metadata value, or an error naming the missing key.
    public func require(_ key: String) throws -> GGUFValue {
        guard let value = metadata[key] else { throw FileFormatError(path, "missing metadata key '\(key)'") }
        return value
    }

    /// An integer metadata value, or an error naming the key and what was found.
    public func requireInteger(_ key: String) throws -> Int {
        let value = try require(key)
        guard let v = value.integer else { throw FileFormatError(path, "metadata '\(key)' should be an integer, found \(value.typeName)") }
        return v
    }

    /// A floating-point metadata value, or an error naming the key and what was found.
    public func requireDouble(_ key: String) throws -> Double {
        let value = try require(key)
        guard let v = value.double else { throw FileFormatError(path, "metadata '\(key)' should be a number, found \(value.typeName)") }
        return v
    }

    /// A string metadata value, or an error naming the key and what was found.
    public func requireString(_ key: String) throws -> String {
        let value = try require(key)
        guard let v = value.string else { throw FileFormatError(path, "metadata '\(key)' should be a string, found \(value.typeName)") }
        return v
    }

    /// A bounds-checked little-endian reader over the mapped file.
    private struct Cursor {
        let file: MappedFile
        var position = 0

        init(file: MappedFile) { self.file = file }

        private func truncated(_ field: String, needing n: Int) -> FileFormatError {
            FileFormatError(file.path, "truncated header: \(field) needs \(n) bytes at offset \(position) but the file has \(file.count) bytes")
        }

        mutating func take(_ n: Int, field: String) throws -> Int {
            guard n >= 0, position <= file.count, n <= file.count - position else { throw truncated(field, needing: n) }
            defer { position += n }
            return position
        }

        mutating func bytes(_ n: Int, field: String) throws -> [UInt8] {
            let start = try take(n, field: field)
            return Array(UnsafeRawBufferPointer(start: file.bytes + start, count: n))
        }

        mutating func load<T: FixedWidthInteger>(_: T.Type, field: String) throws -> T {
            let start = try take(MemoryLayout<T>.size, field: field)
            return T(littleEndian: file.bytes.loadUnaligned(fromByteOffset: start, as: T.self))
        }

        mutating func uint32(field: String) throws -> UInt32 { try load(UInt32.self, field: field) }
        mutating func uint64(field: String) throws -> UInt64 { try load(UInt64.self, field: field) }

        /// A u64 count whose elements take at least `minimumElementBytes` each, so an absurd count is caught
        /// before anything is allocated.
        mutating func count(field: String, minimumElementBytes: Int) throws -> Int {
            let n = try uint64(field: field)
            let remaining = UInt64(file.count - position)
            guard n <= remaining / UInt64(max(minimumElementBytes, 1)) else {
                throw FileFormatError(file.path, "\(field) \(n) cannot fit in the remaining \(remaining) bytes (corrupt or truncated header)")
            }
            return Int(n)
        }

        mutating func string(field: String) throws -> String {
            let n = try count(field: "length of \(field)", minimumElementBytes: 1)
            let start = try take(n, field: field)
            return String(decoding: UnsafeRawBufferPointer(start: file.bytes + start, count: n), as: UTF8.self)
        }

        mutating func value(typeID: UInt32, field: String, depth: Int) throws -> GGUFValue {
            switch typeID {
            case 0: return .uint8(try load(UInt8.self, field: field))
            case 1: return .int8(try load(Int8.self, field: field))
            case 2: return .uint16(try load(UInt16.self, field: field))
            case 3: return .int16(try load(Int16.self, field: field))
            case 4: return .uint32(try load(UInt32.self, field: field))
            case 5: return .int32(try load(Int32.self, field: field))
            case 6: return .float32(Float(bitPattern: try load(UInt32.self, field: field)))
            case 7:
                let b = try load(UInt8.self, field: field)
                guard b <= 1 else { throw FileFormatError(file.path, "\(field): bool value \(b) is neither 0 nor 1") }
                return .bool(b == 1)
            case 8: return .string(try string(field: field))
            case 9:
                guard depth < 4 else { throw FileFormatError(file.path, "\(field): arrays nested too deeply") }
                let elementType = try uint32(field: "element type of \(field)")
                let minimum: Int
                switch elementType {
                case 0, 1, 7: minimum = 1
                case 2, 3: minimum = 2
                case 4, 5, 6: minimum = 4
                case 8, 10, 11, 12: minimum = 8
                case 9: minimum = 12
                default: throw FileFormatError(file.path, "\(field): unknown array element type \(elementType)")
                }
                let n = try count(field: "length of \(field)", minimumElementBytes: minimum)
                var elements: [GGUFValue] = []
                // A value takes more memory than its bytes in the file: reserve no more than a real vocabulary needs.
                elements.reserveCapacity(min(n, 1 << 20))
                for _ in 0..<n { elements.append(try value(typeID: elementType, field: field, depth: depth + 1)) }
                return .array(elements)
            case 10: return .uint64(try load(UInt64.self, field: field))
            case 11: return .int64(try load(Int64.self, field: field))
            case 12: return .float64(Double(bitPattern: try load(UInt64.self, field: field)))
            default:
                throw FileFormatError(file.path, "\(field): unknown metadata value type \(typeID) (expected 0 to 12)")
            }
        }
    }
}
