#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif
import EPFormats

/// Reads a file or standard input as lines of bytes (split at `\n`, a trailing `\r` removed), in bounded memory.
final class LineReader {
    private let descriptor: Int32
    private let ownsDescriptor: Bool
    private let name: String
    private var buffer: [UInt8] = []
    private var start = 0
    private var atEnd = false
    /// 1-based number of the line most recently returned.
    private(set) var lineNumber = 0

    /// Opens `path` (or standard input when `path` is nil).
    init(path: String?) throws {
        if let path {
            let fd = open(path, O_RDONLY)
            guard fd >= 0 else { throw CorpusError("\(path): cannot open: \(systemErrorMessage())") }
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
        while true {
            if let newline = buffer[start...].firstIndex(of: 0x0A) {
                var end = newline
                if end > start, buffer[end - 1] == 0x0D { end -= 1 }
                let line = buffer[start..<end]
                start = newline + 1
                lineNumber += 1
                return line
            }
            if atEnd {
                guard start < buffer.count else { return nil }
                var end = buffer.count
                if buffer[end - 1] == 0x0D { end -= 1 }
                let line = buffer[start..<end]
                start = buffer.count
                lineNumber += 1
                return line
            }
            try fill()
        }
    }

    /// Everything that remains, as one byte array.
    func rest() throws -> [UInt8] {
        while !atEnd { try fill() }
        let result = Array(buffer[start...])
        start = buffer.count
        return result
    }

    private func fill() throws {
        if start > 0 {
            buffer.removeSubrange(0..<start)
            start = 0
        }
        let chunk = 1 << 20
        let old = buffer.count
        buffer.append(contentsOf: repeatElement(0, count: chunk))
        var n = 0
        repeat {
            n = buffer.withUnsafeMutableBytes { read(descriptor, $0.baseAddress! + old, chunk) }
        } while n < 0 && errno == EINTR
        guard n >= 0 else { throw CorpusError("\(name): read failed: \(systemErrorMessage())") }
        buffer.removeSubrange((old + n)...)
        if n == 0 { atEnd = true }
    }
}
