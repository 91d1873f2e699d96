#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// A whole file mapped read-only into memory (for model weights, which are read in place).
///
/// Mapped memory has no alignment guarantee beyond the page start; read it with `loadUnaligned`.
public final class MappedFile: @unchecked Sendable {
    /// The path it was mapped from.
    public let path: String
    /// The first byte of the mapping.
    public let bytes: UnsafeRawPointer
    /// The size of the mapping in bytes.
    public let count: Int

    /// Maps `path`; an empty file maps to a valid zero-length buffer.
    public init(path: String) throws {
        let file = try ReadOnlyFile(path: path)
        self.path = path
        self.count = file.size
        if file.size == 0 {
            bytes = UnsafeRawPointer(UnsafeMutableRawPointer.allocate(byteCount: 1, alignment: 16))
            return
        }
        let address = mmap(nil, file.size, PROT_READ, MAP_PRIVATE, file.descriptor, 0)
        guard let address, address != MAP_FAILED else { throw FileFormatError(path, "cannot map: \(systemErrorMessage())") }
        bytes = UnsafeRawPointer(address)
    }

    deinit {
        if count == 0 {
            UnsafeMutableRawPointer(mutating: bytes).deallocate()
        } else {
            munmap(UnsafeMutableRawPointer(mutating: bytes), count)
        }
    }

    /// The mapped bytes as a buffer.
    public var buffer: UnsafeRawBufferPointer { UnsafeRawBufferPointer(start: bytes, count: count) }
}
