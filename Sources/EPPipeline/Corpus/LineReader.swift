#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif
import EPFormats

/// Reads a file or standard input as lines of bytes (split at `\n`, a trailing `\r` removed), in bounded memory:
/// one buffer that grows only to hold the longest line.
final class LineReader {
    private let descriptor: Int32
    private let ownsDescriptor: Bool
    private let name: String
    private var buffer = [UInt8](repeating: 0, count: 1 << 16)
    private var start = 0
    private var end = 0
    private var atEnd = false
    /// 1-based number of the line most recently returned.
    private(set) var lineNumber = 0

    /// Opens `path` (or standard input when `path` is nil).
    init(path: String?) throws {
        if let path {
            let fd = open(path, O_RDONLY)
            guard fd >= 0 else { throw PipelineError("\(path): cannot open: \(systemErrorMessage())") }
            descriptor = fd
            ownsDescriptor = true
            name = path
        } else {
            descriptor = 0
            ownsDescriptor = false
            name = "standard input"
        }
    }

    deinit { if ownsDescriptor { close(descriptor) } }

    /// The next line without its terminator, or nil at the end of the input.
    func next() throws -> ArraySlice<UInt8>? {
        var searched = start
        while true {
            let newline: Int? = buffer.withUnsafeBytes { raw in
                guard searched < end, let hit = memchr(raw.baseAddress! + searched, 0x0A, end - searched) else { return nil }
                return raw.baseAddress!.distance(to: UnsafeRawPointer(hit))
            }
            if let newline {
                let line = trimmed(start, newline)
                start = newline + 1
                lineNumber += 1
                return line
            }
            searched = end
            if atEnd {
                guard start < end else { return nil }
                let line = trimmed(start, end)
                start = end
                lineNumber += 1
                return line
            }
            let shift = start
            try fill()
            searched -= shift
        }
    }

    /// The next `count` unread bytes (fewer at the end of the input), without consuming them.
    func peek(_ count: Int) throws -> ArraySlice<UInt8> {
        while end - start < count && !atEnd { try fill() }
        return buffer[start..<min(end, start + count)]
    }

    /// Everything that remains, as one byte array.
    func rest() throws -> [UInt8] {
        while !atEnd { try fill() }
        let result = Array(buffer[start..<end])
        start = end
        return result
    }

    private func trimmed(_ from: Int, _ to: Int) -> ArraySlice<UInt8> {
        var last = to
        if last > from, buffer[last - 1] == 0x0D { last -= 1 }
        return buffer[from..<last]
    }

    /// Moves the unread bytes to the front, grows the buffer if it is full, and reads more.
    private func fill() throws {
        if start > 0 {
            buffer.withUnsafeMutableBytes { raw in
                _ = memmove(raw.baseAddress!, raw.baseAddress! + start, end - start)
            }
            end -= start
            start = 0
        }
        if end == buffer.count { buffer += [UInt8](repeating: 0, count: buffer.count) }
        var n = 0
        repeat {
            n = buffer.withUnsafeMutableBytes { read(descriptor, $0.baseAddress! + end, $0.count - end) }
        } while n < 0 && errno == EINTR
        guard n >= 0 else { throw PipelineError("\(name): read failed: \(systemErrorMessage())") }
        end += n
        if n == 0 { atEnd = true }
    }
}
