/// The streaming writer of the JSON stack (beside ``JSONValue`` and its Codable bridge), for large documents written
/// piece by piece: compact JSON text built by appending values, safe to embed in an HTML page or a script file: in strings,
/// `<`, `>`, `&`, `'`, U+2028 and U+2029 are written as `\u` escapes, so no corpus text can close a script element,
/// open markup or end a JavaScript string early. Commas are placed automatically.
public struct JSONWriter {
    /// The UTF-8 text so far.
    public private(set) var bytes: [UInt8] = []
    /// For each open array or object, whether it has no element yet.
    private var empty: [Bool] = []
    /// Whether the last thing written was an object key (its value needs no comma).
    private var afterKey = false

    /// How strings are escaped.
    public enum Escaping: Sendable {
        /// Safe inside an HTML script element or a JavaScript string (the default).
        case htmlSafe
        /// Only what JSON requires: `"`, `\\`, and control characters (`\b \f \n \r \t`, others as `\u00xx`).
        case standard
    }
    private let escaping: Escaping

    public init(capacity: Int = 1 << 12, escaping: Escaping = .htmlSafe) {
        self.escaping = escaping
        bytes.reserveCapacity(capacity)
    }

    /// The text as a string.
    public var text: String { String(decoding: bytes, as: UTF8.self) }

    /// Writes the comma that separates a new element from the previous one.
    private mutating func separate() {
        if afterKey {
            afterKey = false
            return
        }
        if let last = empty.last {
            if !last { bytes.append(UInt8(ascii: ",")) }
            empty[empty.count - 1] = false
        }
    }

    public mutating func beginArray() {
        separate()
        bytes.append(UInt8(ascii: "["))
        empty.append(true)
    }

    public mutating func endArray() {
        empty.removeLast()
        bytes.append(UInt8(ascii: "]"))
    }

    public mutating func beginObject() {
        separate()
        bytes.append(UInt8(ascii: "{"))
        empty.append(true)
    }

    public mutating func endObject() {
        empty.removeLast()
        bytes.append(UInt8(ascii: "}"))
    }

    /// An object key; the next value written is its value.
    public mutating func key(_ name: String) {
        separate()
        appendQuoted(name)
        bytes.append(UInt8(ascii: ":"))
        afterKey = true
    }

    public mutating func string(_ s: String) {
        separate()
        appendQuoted(s)
    }

    public mutating func integer<T: BinaryInteger>(_ n: T) {
        separate()
        bytes.append(contentsOf: String(n).utf8)
    }

    public mutating func bool(_ b: Bool) {
        separate()
        bytes.append(contentsOf: (b ? "true" : "false").utf8)
    }

    public mutating func null() {
        separate()
        bytes.append(contentsOf: "null".utf8)
    }

    /// `x` rounded to `decimals` decimals, trailing zeros dropped (`null` when not finite).
    public mutating func number(_ x: Double, decimals: Int) {
        separate()
        guard x.isFinite else {
            bytes.append(contentsOf: "null".utf8)
            return
        }
        var scale = 1.0
        for _ in 0..<decimals { scale *= 10 }
        let scaled = (x * scale).rounded()
        guard abs(scaled) < 9e15 else {
            bytes.append(contentsOf: x.description.utf8)
            return
        }
        var units = Int64(scaled)
        if units < 0 {
            bytes.append(UInt8(ascii: "-"))
            units = -units
        }
        let divisor = Int64(scale)
        bytes.append(contentsOf: String(units / divisor).utf8)
        var fraction = units % divisor
        guard fraction > 0 else { return }
        var digits = decimals
        while fraction % 10 == 0 {
            fraction /= 10
            digits -= 1
        }
        bytes.append(UInt8(ascii: "."))
        let text = String(fraction)
        for _ in 0..<(digits - text.utf8.count) { bytes.append(UInt8(ascii: "0")) }
        bytes.append(contentsOf: text.utf8)
    }

    /// `x` as ``number(_:decimals:)``, or `null` when nil.
    public mutating func number(_ x: Double?, decimals: Int) {
        if let x { number(x, decimals: decimals) } else { null() }
    }

    /// An array of numbers, each with `decimals` decimals.
    public mutating func numbers<S: Sequence>(_ values: S, decimals: Int) where S.Element: BinaryFloatingPoint {
        beginArray()
        for v in values { number(Double(v), decimals: decimals) }
        endArray()
    }

    /// An array of integers.
    public mutating func integers<S: Sequence>(_ values: S) where S.Element: BinaryInteger {
        beginArray()
        for v in values { integer(v) }
        endArray()
    }

    /// An array of strings.
    public mutating func strings<S: Sequence>(_ values: S) where S.Element == String {
        beginArray()
        for v in values { string(v) }
        endArray()
    }

    private mutating func appendQuoted(_ s: String) {
        bytes.append(UInt8(ascii: "\""))
        for scalar in s.unicodeScalars {
            switch scalar {
            case "\"": bytes.append(contentsOf: [UInt8(ascii: "\\"), UInt8(ascii: "\"")])
            case "\\": bytes.append(contentsOf: [UInt8(ascii: "\\"), UInt8(ascii: "\\")])
            case "\n": bytes.append(contentsOf: [UInt8(ascii: "\\"), UInt8(ascii: "n")])
            case "\t": bytes.append(contentsOf: [UInt8(ascii: "\\"), UInt8(ascii: "t")])
            case "<", ">", "&", "'", "\u{2028}", "\u{2029}":
                if escaping == .htmlSafe { appendEscape(scalar.value) } else { UTF8.encode(scalar) { bytes.append($0) } }
            case "\u{08}" where escaping == .standard: bytes.append(contentsOf: [UInt8(ascii: "\\"), UInt8(ascii: "b")])
            case "\u{0C}" where escaping == .standard: bytes.append(contentsOf: [UInt8(ascii: "\\"), UInt8(ascii: "f")])
            case "\r" where escaping == .standard: bytes.append(contentsOf: [UInt8(ascii: "\\"), UInt8(ascii: "r")])
            default:
                if scalar.value < 0x20 { appendEscape(scalar.value) } else { UTF8.encode(scalar) { bytes.append($0) } }
            }
        }
        bytes.append(UInt8(ascii: "\""))
    }

    private mutating func appendEscape(_ value: UInt32) {
        let hex = Array("0123456789abcdef".utf8)
        bytes.append(contentsOf: [UInt8(ascii: "\\"), UInt8(ascii: "u")])
        for shift in stride(from: 12, through: 0, by: -4) { bytes.append(hex[Int((value >> UInt32(shift)) & 0xF)]) }
    }
}
