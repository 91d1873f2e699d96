/// A JSON value with ordered object keys, integers kept apart from other numbers, and a writer whose output is
/// stable (for manifests and records that people diff and read).
///
/// Non-finite numbers, which JSON cannot hold, are written as `null`; the parser also accepts Python's `NaN`,
/// `Infinity` and `-Infinity` tokens.
public indirect enum JSONValue: Sendable, Equatable {
    case null
    case bool(Bool)
    case integer(Int64)
    case number(Double)
    case string(String)
    case array([JSONValue])
    case object(JSONObject)

    /// The value as a `Double`, if it is a number (integers included); `null` reads as NaN.
    public var doubleValue: Double? {
        switch self {
        case .integer(let i): return Double(i)
        case .number(let d): return d
        case .null: return .nan
        default: return nil
        }
    }

    /// A short description of the kind of value, for error messages ("a string", "an array of 3 values").
    public var kindDescription: String {
        switch self {
        case .null: return "null"
        case .bool(let b): return "the boolean \(b)"
        case .integer(let i): return "the integer \(i)"
        case .number(let d): return "the number \(d)"
        case .string(let s): return "the string \(jsonString(s))"
        case .array(let a): return "an array of \(a.count) values"
        case .object: return "an object"
        }
    }

    /// The JSON text: objects and arrays indented by two spaces, arrays of scalars on one line.
    public func rendered(indent: Int = 0) -> String {
        var out = ""
        render(into: &out, indent: indent)
        return out
    }

    /// The JSON text with no spaces or line breaks (`{"a":[1,2]}`), for answers read by programs (the serve API).
    public var compactText: String {
        var out = ""
        renderCompact(into: &out)
        return out
    }

    private func renderCompact(into out: inout String) {
        switch self {
        case .array(let values):
            out += "["
            for (i, v) in values.enumerated() {
                if i > 0 { out += "," }
                v.renderCompact(into: &out)
            }
            out += "]"
        case .object(let object):
            out += "{"
            for (i, key) in object.keys.enumerated() {
                if i > 0 { out += "," }
                out += jsonString(key) + ":"
                object[key]!.renderCompact(into: &out)
            }
            out += "}"
        default: render(into: &out, indent: 0)
        }
    }

    /// Whether a number in the value is not finite (NaN or an infinity, which JSON cannot write).
    public var containsNonFiniteNumber: Bool {
        switch self {
        case .number(let d): return !d.isFinite
        case .array(let values): return values.contains { $0.containsNonFiniteNumber }
        case .object(let object): return object.keys.contains { object[$0]!.containsNonFiniteNumber }
        default: return false
        }
    }

    private func render(into out: inout String, indent: Int) {
        switch self {
        case .null: out += "null"
        case .bool(let b): out += b ? "true" : "false"
        case .integer(let i): out += String(i)
        case .number(let d): out += Self.numberText(d)
        case .string(let s): out += jsonString(s)
        case .array(let values):
            if values.isEmpty { out += "[]"; return }
            if values.allSatisfy({ if case .array = $0 { return false }; if case .object = $0 { return false }; return true }) {
                out += "["
                for (i, v) in values.enumerated() {
                    if i > 0 { out += ", " }
                    v.render(into: &out, indent: indent)
                }
                out += "]"
                return
            }
            out += "[\n"
            for (i, v) in values.enumerated() {
                out += String(repeating: " ", count: indent + 2)
                v.render(into: &out, indent: indent + 2)
                out += i + 1 < values.count ? ",\n" : "\n"
            }
            out += String(repeating: " ", count: indent) + "]"
        case .object(let object):
            if object.keys.isEmpty { out += "{}"; return }
            out += "{\n"
            for (i, key) in object.keys.enumerated() {
                out += String(repeating: " ", count: indent + 2) + jsonString(key) + ": "
                object[key]!.render(into: &out, indent: indent + 2)
                out += i + 1 < object.keys.count ? ",\n" : "\n"
            }
            out += String(repeating: " ", count: indent) + "}"
        }
    }

    /// The shortest decimal text that reads back as the same `Double`; `null` when not finite.
    static func numberText(_ d: Double) -> String {
        guard d.isFinite else { return "null" }
        if d == d.rounded(), abs(d) < 1e15 { return String(Int64(d)) + ".0" }
        return d.description
    }
}

/// A JSON object that keeps its keys in insertion (or file) order.
public struct JSONObject: Sendable, Equatable {
    /// Keys in order.
    public private(set) var keys: [String] = []
    private var values: [String: JSONValue] = [:]

    public init() {}

    /// An object from key–value pairs, in order (a repeated key keeps its first position and last value).
    public init(_ pairs: KeyValuePairs<String, JSONValue>) {
        for (k, v) in pairs { self[k] = v }
    }

    /// The value for `key`; setting `nil` removes it.
    public subscript(key: String) -> JSONValue? {
        get { values[key] }
        set {
            if let newValue {
                if values.updateValue(newValue, forKey: key) == nil { keys.append(key) }
            } else if values.removeValue(forKey: key) != nil {
                keys.removeAll { $0 == key }
            }
        }
    }
}

extension JSONValue {
    /// Parses JSON text; errors name `path` and the byte offset.
    public static func parse(_ bytes: [UInt8], path: String) throws -> JSONValue {
        var parser = JSONParser(bytes: bytes, path: path)
        parser.skipSpace()
        let value = try parser.value(depth: 0)
        parser.skipSpace()
        guard parser.index == bytes.count else { throw parser.fail("unexpected text after the JSON value") }
        return value
    }

    /// Reads and parses a JSON file.
    public static func read(path: String) throws -> JSONValue {
        let file = try ReadOnlyFile(path: path)
        return try parse(try file.readBytes(count: file.size, at: 0), path: path)
    }
}

private struct JSONParser {
    let bytes: [UInt8]
    let path: String
    var index = 0

    init(bytes: [UInt8], path: String) {
        self.bytes = bytes
        self.path = path
    }

    func fail(_ what: String) -> FileFormatError {
        FileFormatError(path, "invalid JSON at byte \(index): \(what)")
    }

    mutating func skipSpace() {
        while index < bytes.count, [0x20, 0x0A, 0x0D, 0x09].contains(bytes[index]) { index += 1 }
    }

    mutating func literal(_ text: String) -> Bool {
        let utf8 = Array(text.utf8)
        guard index + utf8.count <= bytes.count, Array(bytes[index..<(index + utf8.count)]) == utf8 else { return false }
        index += utf8.count
        return true
    }

    mutating func value(depth: Int) throws -> JSONValue {
        guard depth < 512 else { throw fail("nested too deeply") }
        guard index < bytes.count else { throw fail("unexpected end of text") }
        switch bytes[index] {
        case UInt8(ascii: "{"):
            index += 1
            var object = JSONObject()
            skipSpace()
            if index < bytes.count, bytes[index] == UInt8(ascii: "}") { index += 1; return .object(object) }
            while true {
                skipSpace()
                guard index < bytes.count, bytes[index] == UInt8(ascii: "\"") else { throw fail("expected a string key") }
                let key = try string()
                skipSpace()
                guard index < bytes.count, bytes[index] == UInt8(ascii: ":") else { throw fail("expected ':' after key \(jsonString(key))") }
                index += 1
                skipSpace()
                object[key] = try value(depth: depth + 1)
                skipSpace()
                guard index < bytes.count else { throw fail("unterminated object") }
                if bytes[index] == UInt8(ascii: ",") { index += 1; continue }
                if bytes[index] == UInt8(ascii: "}") { index += 1; return .object(object) }
                throw fail("expected ',' or '}' in an object")
            }
        case UInt8(ascii: "["):
            index += 1
            var values: [JSONValue] = []
            skipSpace()
            if index < bytes.count, bytes[index] == UInt8(ascii: "]") { index += 1; return .array(values) }
            while true {
                skipSpace()
                values.append(try value(depth: depth + 1))
                skipSpace()
                guard index < bytes.count else { throw fail("unterminated array") }
                if bytes[index] == UInt8(ascii: ",") { index += 1; continue }
                if bytes[index] == UInt8(ascii: "]") { index += 1; return .array(values) }
                throw fail("expected ',' or ']' in an array")
            }
        case UInt8(ascii: "\""):
            return .string(try string())
        default:
            if literal("true") { return .bool(true) }
            if literal("false") { return .bool(false) }
            if literal("null") { return .null }
            if literal("NaN") { return .number(.nan) }
            if literal("Infinity") { return .number(.infinity) }
            if literal("-Infinity") { return .number(-.infinity) }
            return try number()
        }
    }

    mutating func number() throws -> JSONValue {
        let start = index
        var integral = true
        while index < bytes.count {
            let c = bytes[index]
            if (c >= UInt8(ascii: "0") && c <= UInt8(ascii: "9")) || c == UInt8(ascii: "-") || c == UInt8(ascii: "+") {
                index += 1
            } else if c == UInt8(ascii: ".") || c == UInt8(ascii: "e") || c == UInt8(ascii: "E") {
                integral = false
                index += 1
            } else {
                break
            }
        }
        let text = String(decoding: bytes[start..<index], as: UTF8.self)
        if text.isEmpty { index = start; throw fail("unexpected character '\(Unicode.Scalar(bytes[start]))'") }
        if integral, let i = Int64(text) { return .integer(i) }
        guard let d = Double(text) else { index = start; throw fail("malformed number '\(text)'") }
        return .number(d)
    }

    mutating func string() throws -> String {
        index += 1
        var scalars = String.UnicodeScalarView()
        var run = index
        func flush(_ upTo: Int) { scalars.append(contentsOf: String(decoding: bytes[run..<upTo], as: UTF8.self).unicodeScalars) }
        while index < bytes.count {
            let c = bytes[index]
            if c == UInt8(ascii: "\"") {
                flush(index)
                index += 1
                return String(scalars)
            }
            if c == UInt8(ascii: "\\") {
                flush(index)
                index += 1
                guard index < bytes.count else { break }
                let e = bytes[index]
                index += 1
                switch e {
                case UInt8(ascii: "\""): scalars.append("\"")
                case UInt8(ascii: "\\"): scalars.append("\\")
                case UInt8(ascii: "/"): scalars.append("/")
                case UInt8(ascii: "b"): scalars.append("\u{08}")
                case UInt8(ascii: "f"): scalars.append("\u{0C}")
                case UInt8(ascii: "n"): scalars.append("\n")
                case UInt8(ascii: "r"): scalars.append("\r")
                case UInt8(ascii: "t"): scalars.append("\t")
                case UInt8(ascii: "u"):
                    var code = try hex4()
                    if (0xD800..<0xDC00).contains(code), literal("\\u") {
                        let low = try hex4()
                        guard (0xDC00..<0xE000).contains(low) else {
                            throw fail("invalid \\u escape: the high surrogate \\u\(hexText(code)) is followed by \\u\(hexText(low)), not by a low surrogate")
                        }
                        code = 0x10000 + ((code - 0xD800) << 10) + (low - 0xDC00)
                    }
                    guard let scalar = Unicode.Scalar(code) else {
                        throw fail("invalid \\u escape: \\u\(hexText(code)) is an unpaired surrogate")
                    }
                    scalars.append(scalar)
                default:
                    throw fail("invalid escape '\\\(Unicode.Scalar(e))'")
                }
                run = index
                continue
            }
            index += 1
        }
        throw fail("unterminated string")
    }

    func hexText(_ code: UInt32) -> String {
        let digits = String(code, radix: 16, uppercase: true)
        return String(repeating: "0", count: max(0, 4 - digits.count)) + digits
    }

    mutating func hex4() throws -> UInt32 {
        guard index + 4 <= bytes.count, let code = UInt32(String(decoding: bytes[index..<(index + 4)], as: UTF8.self), radix: 16) else {
            throw fail("invalid \\u escape")
        }
        index += 4
        return code
    }
}

/// Typed, checked access to the fields of a JSON object read from a file, with errors that name the file, the
/// field (as a dotted path) and what was expected versus found.
public struct JSONFields: Sendable {
    /// The file the object came from.
    public let path: String
    /// The dotted path of this object inside the file ("" at the top).
    public let prefix: String
    /// The object.
    public let object: JSONObject

    /// The top-level object of `value`, or an error if it is not an object.
    public init(_ value: JSONValue, path: String) throws {
        guard case .object(let object) = value else { throw FileFormatError(path, "expected a JSON object at the top, found \(value.kindDescription)") }
        self.init(object, path: path, prefix: "")
    }

    /// The object `object` found at the dotted path `prefix` of the file `path`.
    public init(_ object: JSONObject, path: String, prefix: String) {
        self.path = path
        self.prefix = prefix
        self.object = object
    }

    /// The dotted name of `key` in this object.
    public func name(_ key: String) -> String { prefix.isEmpty ? key : "\(prefix).\(key)" }

    /// An error about field `key`.
    public func error(_ key: String, _ problem: String) -> FileFormatError {
        FileFormatError(path, "field '\(name(key))': \(problem)")
    }

    /// The raw value of `key`, which must be present.
    public func value(_ key: String) throws -> JSONValue {
        guard let v = object[key] else { throw FileFormatError(path, "missing field '\(name(key))'") }
        return v
    }

    /// Whether `key` is present and not null.
    public func has(_ key: String) -> Bool {
        if let v = object[key], v != .null { return true }
        return false
    }

    public func string(_ key: String) throws -> String {
        let v = try value(key)
        guard case .string(let s) = v else { throw error(key, "expected a string, found \(v.kindDescription)") }
        return s
    }

    /// A string, or nil when the field is absent or null.
    public func optionalString(_ key: String) throws -> String? { has(key) ? try string(key) : nil }

    public func integer(_ key: String) throws -> Int {
        let v = try value(key)
        switch v {
        case .integer(let i): return Int(i)
        case .number(let d) where d == d.rounded() && abs(d) < 9e15: return Int(d)
        default: throw error(key, "expected an integer, found \(v.kindDescription)")
        }
    }

    /// An integer, or nil when the field is absent or null.
    public func optionalInteger(_ key: String) throws -> Int? { has(key) ? try integer(key) : nil }

    /// A number (`null` reads as NaN).
    public func double(_ key: String) throws -> Double {
        let v = try value(key)
        guard let d = v.doubleValue else { throw error(key, "expected a number, found \(v.kindDescription)") }
        return d
    }

    /// A number, or nil when the field is absent or null.
    public func optionalDouble(_ key: String) throws -> Double? { has(key) ? try double(key) : nil }

    public func bool(_ key: String) throws -> Bool {
        let v = try value(key)
        guard case .bool(let b) = v else { throw error(key, "expected true or false, found \(v.kindDescription)") }
        return b
    }

    /// A nested object.
    public func object(_ key: String) throws -> JSONFields {
        let v = try value(key)
        guard case .object(let o) = v else { throw error(key, "expected an object, found \(v.kindDescription)") }
        return JSONFields(o, path: path, prefix: name(key))
    }

    /// A nested object, or nil when absent or null.
    public func optionalObject(_ key: String) throws -> JSONFields? { has(key) ? try object(key) : nil }

    public func array(_ key: String) throws -> [JSONValue] {
        let v = try value(key)
        guard case .array(let a) = v else { throw error(key, "expected an array, found \(v.kindDescription)") }
        return a
    }

    /// An array of numbers.
    public func doubles(_ key: String) throws -> [Double] {
        try array(key).enumerated().map { i, v in
            guard let d = v.doubleValue else { throw error(key, "element \(i): expected a number, found \(v.kindDescription)") }
            return d
        }
    }

    /// An array of strings.
    public func strings(_ key: String) throws -> [String] {
        try array(key).enumerated().map { i, v in
            guard case .string(let s) = v else { throw error(key, "element \(i): expected a string, found \(v.kindDescription)") }
            return s
        }
    }
}
