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

    /// Lets the pages wholly inside `range` leave this process's resident memory (`madvise(MADV_DONTNEED)`): the
    /// map is read-only and private, so a later read of them faults them in from the file again, unchanged. For
    /// readers that stream through a large file once (``PickleGraph``) and must not hold it in memory as well as
    /// what they made of it.
    public func release(_ range: Range<Int>) {
        let page = Int(sysconf(Int32(_SC_PAGESIZE)))
        guard count > 0, page > 0 else { return }
        let start = (max(range.lowerBound, 0) + page - 1) / page * page
        let end = min(range.upperBound, count) / page * page
        guard end > start else { return }
        _ = madvise(UnsafeMutableRawPointer(mutating: bytes + start), end - start, Int32(MADV_DONTNEED))
    }

    /// The mapped bytes as a buffer.
    public var buffer: UnsafeRawBufferPointer { UnsafeRawBufferPointer(start: bytes, count: count) }
}
