/// Writes numpy `.npz` archives: a ZIP file of `.npy` members, stored without compression (as `np.savez` does),
/// with CRC-32 checksums and ZIP64 records when a member or the archive passes 4 GiB. `np.load` reads the result.
/// The arrays are held in memory until ``write(to:)``.
public struct NPZWriter {
    private struct Member {
        var name: String
        var header: [UInt8]
        var byteCount: Int
        var withBytes: ((UnsafeRawBufferPointer) throws -> Void) throws -> Void
    }

    private var members: [Member] = []

    /// The archive's ZIP comment: the mark by which ep recognises an archive it wrote (``OutputKind/npz(_:mark:)``).
    public var comment = ""

    public init() {}

    /// Adds array `name` (stored as `name.npy`) of `values` with `shape`.
    public mutating func add<T: NPYStorable>(_ name: String, _ values: [T], shape: [Int]) {
        precondition(values.count == shape.reduce(1, *), "NPZWriter.add: \(values.count) values for shape \(shape)")
        precondition(!members.contains { $0.name == name + ".npy" }, "NPZWriter.add: duplicate array '\(name)'")
        let header = NPY.encodeHeader(elementType: T.npyElementType, shape: shape)
        members.append(Member(name: name + ".npy", header: header, byteCount: values.count * MemoryLayout<T>.stride) { body in
            try values.withUnsafeBytes { try body($0) }
        })
    }

    /// Writes the archive to `path` atomically.
    public func write(to path: String) throws {
        try AtomicOutput.write(to: path) { sink in
            var offset = 0
            var central: [UInt8] = []
            for member in members {
                var crc = CRC32()
                crc.update(member.header)
                try member.withBytes { crc.update($0) }
                let size = member.header.count + member.byteCount
                let name = Array(member.name.utf8)
                let large = size >= 0xFFFF_FFFF || offset >= 0xFFFF_FFFF
                var local: [UInt8] = []
                local.le32(0x0403_4B50)
                local.le16(large ? 45 : 20)
                local.le16(0)  // flags
                local.le16(0)  // stored
                local.le16(0)  // time
                local.le16(0x21)  // date 1980-01-01
                local.le32(crc.value)
                local.le32(large ? 0xFFFF_FFFF : UInt32(size))
                local.le32(large ? 0xFFFF_FFFF : UInt32(size))
                local.le16(UInt16(name.count))
                local.le16(large ? 20 : 0)
                local += name
                if large {
                    local.le16(0x0001)
                    local.le16(16)
                    local.le64(UInt64(size))
                    local.le64(UInt64(size))
                }
                try sink.write(local)
                try sink.write(member.header)
                try member.withBytes { try sink.write($0) }

                central.le32(0x0201_4B50)
                central.le16(large ? 45 : 20)  // made by
                central.le16(large ? 45 : 20)  // needed
                central.le16(0)
                central.le16(0)
                central.le16(0)
                central.le16(0x21)
                central.le32(crc.value)
                central.le32(large ? 0xFFFF_FFFF : UInt32(size))
                central.le32(large ? 0xFFFF_FFFF : UInt32(size))
                central.le16(UInt16(name.count))
                central.le16(large ? 28 : 0)
                central.le16(0)  // comment
                central.le16(0)  // disk
                central.le16(0)  // internal attributes
                central.le32(0)  // external attributes
                central.le32(large ? 0xFFFF_FFFF : UInt32(offset))
                central += name
                if large {
                    central.le16(0x0001)
                    central.le16(24)
                    central.le64(UInt64(size))
                    central.le64(UInt64(size))
                    central.le64(UInt64(offset))
                }
                offset += local.count + size
            }
            let centralOffset = offset
            try sink.write(central)
            let needs64 = centralOffset >= 0xFFFF_FFFF || central.count >= 0xFFFF_FFFF || members.count >= 0xFFFF
            var end: [UInt8] = []
            if needs64 {
                end.le32(0x0606_4B50)
                end.le64(44)
                end.le16(45)
                end.le16(45)
                end.le32(0)
                end.le32(0)
                end.le64(UInt64(members.count))
                end.le64(UInt64(members.count))
                end.le64(UInt64(central.count))
                end.le64(UInt64(centralOffset))
                end.le32(0x0706_4B50)
                end.le32(0)
                end.le64(UInt64(centralOffset + central.count))
                end.le32(1)
            }
            end.le32(0x0605_4B50)
            end.le16(0)
            end.le16(0)
            end.le16(needs64 ? 0xFFFF : UInt16(members.count))
            end.le16(needs64 ? 0xFFFF : UInt16(members.count))
            end.le32(needs64 ? 0xFFFF_FFFF : UInt32(central.count))
            end.le32(needs64 ? 0xFFFF_FFFF : UInt32(centralOffset))
            let comment = Array(self.comment.utf8.prefix(0xFFFF))
            end.le16(UInt16(comment.count))
            end += comment
            try sink.write(end)
        }
    }
}

extension NPZWriter {
    /// The ZIP comment of the archive at `path` (empty when it has none), or nil when the file is not a ZIP archive
    /// whose end record ends the file.
    public static func comment(ofFile path: String) -> String? {
        guard let file = try? ReadOnlyFile(path: path), file.size >= 22 else { return nil }
        let count = min(file.size, 22 + 0xFFFF)
        guard let tail = try? file.readBytes(count: count, at: file.size - count) else { return nil }
        // The end-of-central-directory record is the last one whose comment runs exactly to the end of the file.
        var i = tail.count - 22
        while i >= 0 {
            if tail[i] == 0x50, tail[i + 1] == 0x4B, tail[i + 2] == 0x05, tail[i + 3] == 0x06 {
                let length = Int(tail[i + 20]) | Int(tail[i + 21]) << 8
                if i + 22 + length == tail.count { return String(decoding: tail[(i + 22)...], as: UTF8.self) }
            }
            i -= 1
        }
        return nil
    }
}

/// Element types that ``NPZWriter`` and the `.npy` helpers store, with their numpy dtype.
public protocol NPYStorable {
    static var npyElementType: NPYElementType { get }
}

extension Float: NPYStorable { public static var npyElementType: NPYElementType { .float32 } }
extension Double: NPYStorable { public static var npyElementType: NPYElementType { .float64 } }
extension Int64: NPYStorable { public static var npyElementType: NPYElementType { .int64 } }
extension Int32: NPYStorable { public static var npyElementType: NPYElementType { .int32 } }
extension Bool: NPYStorable { public static var npyElementType: NPYElementType { .bool } }

/// CRC-32 (ISO-HDLC, as ZIP uses), table-driven.
public struct CRC32: Sendable {
    private static let table: [UInt32] = (0..<256).map { n in
        var c = UInt32(n)
        for _ in 0..<8 { c = c & 1 != 0 ? 0xEDB8_8320 ^ (c >> 1) : c >> 1 }
        return c
    }

    private var state: UInt32 = 0xFFFF_FFFF

    public init() {}

    /// Adds bytes to the checksum.
    public mutating func update(_ bytes: UnsafeRawBufferPointer) {
        var c = state
        Self.table.withUnsafeBufferPointer { t in
            for b in bytes { c = t[Int((c ^ UInt32(b)) & 0xFF)] ^ (c >> 8) }
        }
        state = c
    }

    /// Adds bytes to the checksum.
    public mutating func update(_ bytes: [UInt8]) {
        bytes.withUnsafeBytes { update($0) }
    }

    /// The checksum of the bytes added so far.
    public var value: UInt32 { state ^ 0xFFFF_FFFF }
}

extension [UInt8] {
    mutating func le16(_ v: UInt16) { append(UInt8(v & 0xFF)); append(UInt8(v >> 8)) }
    mutating func le32(_ v: UInt32) { for i in 0..<4 { append(UInt8((v >> (8 * UInt32(i))) & 0xFF)) } }
    mutating func le64(_ v: UInt64) { for i in 0..<8 { append(UInt8((v >> (8 * UInt64(i))) & 0xFF)) } }
}
