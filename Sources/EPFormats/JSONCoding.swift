/// Codable over ``JSONValue``: records are `Codable` structs with `CodingKeys` (one place per field), encoded to a
/// ``JSONValue`` (and so rendered by its stable writer) and decoded from one with errors that name the file and the
/// field the way ``JSONFields`` does ("field 'calibration.percentile': expected a number, found the string "x"").
///
/// Encoding rules, which keep the files ep writes byte for byte what the hand-written writers wrote:
/// * object keys in the order they are encoded (the declaration order of `CodingKeys` for synthesized conformances);
/// * `Int` (and the other integer types) as integers, `Double` and `Float` as numbers (``JSONValue/rendered(indent:)``:
///   integral values as `1.0`, others as the shortest text that reads back, non-finite as `null`);
/// * an optional that is nil as `null` (the key is written), unless the value is ``JSONOmissible`` and says so;
/// * a ``JSONValue`` inside a record as itself.
///
/// Decoding rules, which keep what the hand-written readers accepted: an integer field reads integers and integral
/// numbers below 9·10¹⁵; a number field reads integers, numbers and `null` (as NaN); an optional field reads absent
/// and `null` as nil; unknown keys are ignored.
public struct JSONValueEncoder {
    /// Whether an optional that is nil leaves its key out (as Foundation's JSONEncoder does) instead of writing `null`.
    public var omitsNilOptionals = false

    public init(omitsNilOptionals: Bool = false) { self.omitsNilOptionals = omitsNilOptionals }

    /// The JSON value of `value`.
    public func encode<T: Encodable>(_ value: T) throws -> JSONValue {
        let node = EncodingNode()
        try encodeValue(value, into: node, codingPath: [], omitsNil: omitsNilOptionals)
        return node.value
    }

    /// The JSON value of a value whose encoding cannot fail (a record of plain fields).
    public static func value<T: Encodable>(of value: T) -> JSONValue {
        do {
            return try JSONValueEncoder().encode(value)
        } catch {
            preconditionFailure("encoding \(T.self) as JSON failed: \(error)")
        }
    }
}

/// A value that a keyed container leaves out of the object (key and all) when ``isOmittedFromJSON`` is true: for
/// fields written only when they differ from their default, so that older readers and older files agree.
public protocol JSONOmissible {
    var isOmittedFromJSON: Bool { get }
}

/// An optional field whose key is left out of the object when it is nil (a plain optional writes `null`).
public struct JSONOmittedIfNil<Wrapped: Encodable>: Encodable, JSONOmissible {
    public var value: Wrapped?

    public init(_ value: Wrapped?) { self.value = value }

    public var isOmittedFromJSON: Bool { value == nil }

    public func encode(to encoder: Encoder) throws {
        var c = encoder.singleValueContainer()
        if let value { try c.encode(value) } else { try c.encodeNil() }
    }
}

/// Decodes records from ``JSONValue``s; errors are ``FileFormatError``s naming the file and the field.
public struct JSONValueDecoder {
    public init() {}

    /// `T` from `value`, read from the file `path` (named in errors).
    public func decode<T: Decodable>(_ type: T.Type, from value: JSONValue, path: String) throws -> T {
        do {
            return try decodeValue(type, from: value, codingPath: [])
        } catch let error as DecodingError {
            throw Self.fileFormatError(error, path: path)
        }
    }

    /// `T` from `value`; errors are the `DecodingError`s themselves (coding path and an "expected …, found …"
    /// description), for callers that word their own messages (the API's 400 answers).
    public func decode<T: Decodable>(_ type: T.Type, from value: JSONValue) throws -> T {
        try decodeValue(type, from: value, codingPath: [])
    }

    /// `T` from the JSON file at `path`.
    public func decode<T: Decodable>(_ type: T.Type, path: String) throws -> T {
        try decode(type, from: try JSONValue.read(path: path), path: path)
    }

    /// The dotted name of a coding path ("build.text.status", "files[2].name"); a trailing index is left out (the
    /// message names the element).
    static func fieldName(_ path: [CodingKey]) -> String {
        var name = ""
        for key in path {
            if let i = key.intValue, key is JSONIndexKey {
                name += "[\(i)]"
            } else {
                name += name.isEmpty ? key.stringValue : ".\(key.stringValue)"
            }
        }
        return name
    }

    /// The file-and-field error of a decoding error, in ``JSONFields``' words.
    static func fileFormatError(_ error: DecodingError, path: String) -> FileFormatError {
        func located(_ codingPath: [CodingKey], _ problem: String) -> FileFormatError {
            var codingPath = codingPath, problem = problem
            if let last = codingPath.last as? JSONIndexKey {
                codingPath.removeLast()
                problem = "element \(last.index): \(problem)"
            }
            if codingPath.isEmpty { return FileFormatError(path, problem) }
            return FileFormatError(path, "field '\(fieldName(codingPath))': \(problem)")
        }
        switch error {
        case .keyNotFound(let key, let context):
            return FileFormatError(path, "missing field '\(fieldName(context.codingPath + [key]))'")
        case .typeMismatch(_, let context), .valueNotFound(_, let context), .dataCorrupted(let context):
            return located(context.codingPath, context.debugDescription)
        @unknown default:
            return FileFormatError(path, "\(error)")
        }
    }
}

extension KeyedDecodingContainerProtocol {
    /// An error about field `key` of this object: "field 'a.key': problem".
    public func fieldError(_ key: Key, _ problem: String) -> DecodingError {
        DecodingError.dataCorrupted(DecodingError.Context(codingPath: codingPath + [key], debugDescription: problem))
    }

    /// Checks that the string field `key` (usually "format") is `expected`; `what` names the file kind for the
    /// message ("an ep dictionary").
    public func requireFormat(_ key: Key, _ expected: String, what: String) throws {
        let found = try decode(String.self, forKey: key)
        guard found == expected else { throw fieldError(key, "expected \"\(expected)\", found \"\(found)\" (not \(what))") }
    }
}

// MARK: - Encoding

/// The value being built by an encoder: unset, a scalar, an object (ordered) or an array.
private final class EncodingNode {
    enum Content {
        case unset
        case scalar(JSONValue)
        case object(keys: [String], children: [String: EncodingNode])
        case array([EncodingNode])
    }
    var content = Content.unset

    var value: JSONValue {
        switch content {
        case .unset: return .object(JSONObject())
        case .scalar(let v): return v
        case .object(let keys, let children):
            var o = JSONObject()
            for k in keys { o[k] = children[k]!.value }
            return .object(o)
        case .array(let nodes): return .array(nodes.map(\.value))
        }
    }

    func child(_ key: String) -> EncodingNode {
        if case .unset = content { content = .object(keys: [], children: [:]) }
        guard case .object(var keys, var children) = content else { preconditionFailure("JSON: a keyed container over a non-object") }
        if let existing = children[key] { return existing }
        let node = EncodingNode()
        keys.append(key)
        children[key] = node
        content = .object(keys: keys, children: children)
        return node
    }

    func remove(_ key: String) {
        guard case .object(var keys, var children) = content, children[key] != nil else { return }
        keys.removeAll { $0 == key }
        children[key] = nil
        content = .object(keys: keys, children: children)
    }

    func append() -> EncodingNode {
        if case .unset = content { content = .array([]) }
        guard case .array(var nodes) = content else { preconditionFailure("JSON: an unkeyed container over a non-array") }
        let node = EncodingNode()
        nodes.append(node)
        content = .array(nodes)
        return node
    }

    var count: Int {
        if case .array(let nodes) = content { return nodes.count }
        if case .object(let keys, _) = content { return keys.count }
        return 0
    }
}

/// The JSON of a scalar Swift value, or nil for a value that encodes itself.
private func scalarJSON(_ value: Any) -> JSONValue? {
    switch value {
    case let v as JSONValue: return v
    case let v as String: return .string(v)
    case let v as Bool: return .bool(v)
    case let v as Double: return .number(v)
    case let v as Float: return .number(Double(v))
    case let v as Int: return .integer(Int64(v))
    case let v as Int64: return .integer(v)
    case let v as Int32: return .integer(Int64(v))
    case let v as Int16: return .integer(Int64(v))
    case let v as Int8: return .integer(Int64(v))
    case let v as UInt8: return .integer(Int64(v))
    case let v as UInt16: return .integer(Int64(v))
    case let v as UInt32: return .integer(Int64(v))
    case let v as UInt: return v <= UInt(Int64.max) ? .integer(Int64(v)) : .number(Double(v))
    case let v as UInt64: return v <= UInt64(Int64.max) ? .integer(Int64(v)) : .number(Double(v))
    default: return nil
    }
}

private func encodeValue<T: Encodable>(_ value: T, into node: EncodingNode, codingPath: [CodingKey], omitsNil: Bool) throws {
    if let scalar = scalarJSON(value) {
        node.content = .scalar(scalar)
        return
    }
    try value.encode(to: ValueEncoder(node: node, codingPath: codingPath, omitsNil: omitsNil))
}

private struct ValueEncoder: Encoder {
    let node: EncodingNode
    let codingPath: [CodingKey]
    let omitsNil: Bool
    var userInfo: [CodingUserInfoKey: Any] { [:] }

    func container<Key: CodingKey>(keyedBy type: Key.Type) -> KeyedEncodingContainer<Key> {
        if case .unset = node.content { node.content = .object(keys: [], children: [:]) }
        return KeyedEncodingContainer(KeyedEncoder<Key>(node: node, codingPath: codingPath, omitsNil: omitsNil))
    }

    func unkeyedContainer() -> UnkeyedEncodingContainer {
        if case .unset = node.content { node.content = .array([]) }
        return UnkeyedEncoder(node: node, codingPath: codingPath, omitsNil: omitsNil)
    }

    func singleValueContainer() -> SingleValueEncodingContainer {
        SingleEncoder(node: node, codingPath: codingPath, omitsNil: omitsNil)
    }
}

private struct KeyedEncoder<Key: CodingKey>: KeyedEncodingContainerProtocol {
    let node: EncodingNode
    let codingPath: [CodingKey]
    let omitsNil: Bool

    mutating func encodeNil(forKey key: Key) throws { node.child(key.stringValue).content = .scalar(.null) }

    mutating func encode<T: Encodable>(_ value: T, forKey key: Key) throws {
        if let omissible = value as? JSONOmissible, omissible.isOmittedFromJSON {
            node.remove(key.stringValue)
            return
        }
        try encodeValue(value, into: node.child(key.stringValue), codingPath: codingPath + [key], omitsNil: omitsNil)
    }

    // Optionals that are nil are written as null, or left out with `omitsNil` (the synthesized conformances call these).
    mutating func encodeIfPresent<T: Encodable>(_ value: T?, forKey key: Key) throws { try encodeOptional(value, key) }
    mutating func encodeIfPresent(_ value: Bool?, forKey key: Key) throws { try encodeOptional(value, key) }
    mutating func encodeIfPresent(_ value: String?, forKey key: Key) throws { try encodeOptional(value, key) }
    mutating func encodeIfPresent(_ value: Double?, forKey key: Key) throws { try encodeOptional(value, key) }
    mutating func encodeIfPresent(_ value: Float?, forKey key: Key) throws { try encodeOptional(value, key) }
    mutating func encodeIfPresent(_ value: Int?, forKey key: Key) throws { try encodeOptional(value, key) }
    mutating func encodeIfPresent(_ value: Int8?, forKey key: Key) throws { try encodeOptional(value, key) }
    mutating func encodeIfPresent(_ value: Int16?, forKey key: Key) throws { try encodeOptional(value, key) }
    mutating func encodeIfPresent(_ value: Int32?, forKey key: Key) throws { try encodeOptional(value, key) }
    mutating func encodeIfPresent(_ value: Int64?, forKey key: Key) throws { try encodeOptional(value, key) }
    mutating func encodeIfPresent(_ value: UInt?, forKey key: Key) throws { try encodeOptional(value, key) }
    mutating func encodeIfPresent(_ value: UInt8?, forKey key: Key) throws { try encodeOptional(value, key) }
    mutating func encodeIfPresent(_ value: UInt16?, forKey key: Key) throws { try encodeOptional(value, key) }
    mutating func encodeIfPresent(_ value: UInt32?, forKey key: Key) throws { try encodeOptional(value, key) }
    mutating func encodeIfPresent(_ value: UInt64?, forKey key: Key) throws { try encodeOptional(value, key) }

    private mutating func encodeOptional<T: Encodable>(_ value: T?, _ key: Key) throws {
        if let value { try encode(value, forKey: key) } else if omitsNil { node.remove(key.stringValue) } else { try encodeNil(forKey: key) }
    }

    mutating func nestedContainer<NestedKey: CodingKey>(keyedBy keyType: NestedKey.Type, forKey key: Key) -> KeyedEncodingContainer<NestedKey> {
        let child = node.child(key.stringValue)
        if case .unset = child.content { child.content = .object(keys: [], children: [:]) }
        return KeyedEncodingContainer(KeyedEncoder<NestedKey>(node: child, codingPath: codingPath + [key], omitsNil: omitsNil))
    }

    mutating func nestedUnkeyedContainer(forKey key: Key) -> UnkeyedEncodingContainer {
        let child = node.child(key.stringValue)
        if case .unset = child.content { child.content = .array([]) }
        return UnkeyedEncoder(node: child, codingPath: codingPath + [key], omitsNil: omitsNil)
    }

    mutating func superEncoder() -> Encoder { ValueEncoder(node: node.child("super"), codingPath: codingPath, omitsNil: omitsNil) }
    mutating func superEncoder(forKey key: Key) -> Encoder { ValueEncoder(node: node.child(key.stringValue), codingPath: codingPath + [key], omitsNil: omitsNil) }
}

private struct UnkeyedEncoder: UnkeyedEncodingContainer {
    let node: EncodingNode
    let codingPath: [CodingKey]
    let omitsNil: Bool
    var count: Int { node.count }

    mutating func encodeNil() throws { node.append().content = .scalar(.null) }

    mutating func encode<T: Encodable>(_ value: T) throws {
        let key = JSONIndexKey(index: count)
        try encodeValue(value, into: node.append(), codingPath: codingPath + [key], omitsNil: omitsNil)
    }

    mutating func nestedContainer<NestedKey: CodingKey>(keyedBy keyType: NestedKey.Type) -> KeyedEncodingContainer<NestedKey> {
        let key = JSONIndexKey(index: count)
        let child = node.append()
        child.content = .object(keys: [], children: [:])
        return KeyedEncodingContainer(KeyedEncoder<NestedKey>(node: child, codingPath: codingPath + [key], omitsNil: omitsNil))
    }

    mutating func nestedUnkeyedContainer() -> UnkeyedEncodingContainer {
        let key = JSONIndexKey(index: count)
        let child = node.append()
        child.content = .array([])
        return UnkeyedEncoder(node: child, codingPath: codingPath + [key], omitsNil: omitsNil)
    }

    mutating func superEncoder() -> Encoder { ValueEncoder(node: node.append(), codingPath: codingPath, omitsNil: omitsNil) }
}

private struct SingleEncoder: SingleValueEncodingContainer {
    let node: EncodingNode
    let codingPath: [CodingKey]
    let omitsNil: Bool

    mutating func encodeNil() throws { node.content = .scalar(.null) }
    mutating func encode<T: Encodable>(_ value: T) throws { try encodeValue(value, into: node, codingPath: codingPath, omitsNil: omitsNil) }
}

/// The coding key of an array element.
struct JSONIndexKey: CodingKey {
    let index: Int
    init(index: Int) { self.index = index }
    init?(stringValue: String) { nil }
    init?(intValue: Int) { index = intValue }
    var stringValue: String { "Index \(index)" }
    var intValue: Int? { index }
}

/// A key of a JSON object whose keys are data (hook names, method ids), for records that hold such an object.
public struct JSONKey: CodingKey, Sendable {
    public let stringValue: String
    public init(_ string: String) { stringValue = string }
    public init(stringValue: String) { self.stringValue = stringValue }
    public init?(intValue: Int) { nil }
    public var intValue: Int? { nil }
}

// MARK: - Decoding

private func mismatch(_ expected: String, _ value: JSONValue, _ codingPath: [CodingKey]) -> DecodingError {
    DecodingError.typeMismatch(Any.self, DecodingError.Context(codingPath: codingPath, debugDescription: "expected \(expected), found \(value.kindDescription)"))
}

private func decodeInteger<T: FixedWidthInteger>(_ type: T.Type, _ value: JSONValue, _ codingPath: [CodingKey]) throws -> T {
    let wide: Int64?
    switch value {
    case .integer(let i): wide = i
    case .number(let d) where d == d.rounded() && abs(d) < 9e15: wide = Int64(d)
    default: wide = nil
    }
    guard let wide, let exact = T(exactly: wide) else { throw mismatch("an integer", value, codingPath) }
    return exact
}

private func decodeValue<T: Decodable>(_ type: T.Type, from value: JSONValue, codingPath: [CodingKey]) throws -> T {
    if type == JSONValue.self { return value as! T }
    if type == String.self {
        guard case .string(let s) = value else { throw mismatch("a string", value, codingPath) }
        return s as! T
    }
    if type == Double.self {
        guard let d = value.doubleValue else { throw mismatch("a number", value, codingPath) }
        return d as! T
    }
    if type == Float.self {
        guard let d = value.doubleValue else { throw mismatch("a number", value, codingPath) }
        return Float(d) as! T
    }
    if type == Bool.self {
        guard case .bool(let b) = value else { throw mismatch("true or false", value, codingPath) }
        return b as! T
    }
    if type == Int.self { return try decodeInteger(Int.self, value, codingPath) as! T }
    if type == Int64.self { return try decodeInteger(Int64.self, value, codingPath) as! T }
    if type == Int32.self { return try decodeInteger(Int32.self, value, codingPath) as! T }
    if type == UInt64.self { return try decodeInteger(UInt64.self, value, codingPath) as! T }
    if type == UInt32.self { return try decodeInteger(UInt32.self, value, codingPath) as! T }
    if type == UInt8.self { return try decodeInteger(UInt8.self, value, codingPath) as! T }
    return try T(from: ValueDecoder(value: value, codingPath: codingPath))
}

private struct ValueDecoder: Decoder {
    let value: JSONValue
    let codingPath: [CodingKey]
    var userInfo: [CodingUserInfoKey: Any] { [:] }

    func container<Key: CodingKey>(keyedBy type: Key.Type) throws -> KeyedDecodingContainer<Key> {
        guard case .object(let object) = value else {
            if codingPath.isEmpty {
                throw DecodingError.typeMismatch(Any.self, DecodingError.Context(codingPath: [], debugDescription: "expected a JSON object at the top, found \(value.kindDescription)"))
            }
            throw mismatch("an object", value, codingPath)
        }
        return KeyedDecodingContainer(KeyedDecoder<Key>(object: object, codingPath: codingPath))
    }

    func unkeyedContainer() throws -> UnkeyedDecodingContainer {
        guard case .array(let values) = value else { throw mismatch("an array", value, codingPath) }
        return UnkeyedDecoder(values: values, codingPath: codingPath)
    }

    func singleValueContainer() throws -> SingleValueDecodingContainer { SingleDecoder(value: value, codingPath: codingPath) }
}

private struct KeyedDecoder<Key: CodingKey>: KeyedDecodingContainerProtocol {
    let object: JSONObject
    let codingPath: [CodingKey]

    var allKeys: [Key] { object.keys.compactMap { Key(stringValue: $0) } }
    func contains(_ key: Key) -> Bool { object[key.stringValue] != nil }

    private func required(_ key: Key) throws -> JSONValue {
        guard let v = object[key.stringValue] else {
            throw DecodingError.keyNotFound(key, DecodingError.Context(codingPath: codingPath, debugDescription: "missing"))
        }
        return v
    }

    func decodeNil(forKey key: Key) throws -> Bool { (object[key.stringValue] ?? .null) == .null }

    func decode<T: Decodable>(_ type: T.Type, forKey key: Key) throws -> T {
        try decodeValue(type, from: try required(key), codingPath: codingPath + [key])
    }

    func nestedContainer<NestedKey: CodingKey>(keyedBy type: NestedKey.Type, forKey key: Key) throws -> KeyedDecodingContainer<NestedKey> {
        try ValueDecoder(value: try required(key), codingPath: codingPath + [key]).container(keyedBy: type)
    }

    func nestedUnkeyedContainer(forKey key: Key) throws -> UnkeyedDecodingContainer {
        try ValueDecoder(value: try required(key), codingPath: codingPath + [key]).unkeyedContainer()
    }

    func superDecoder() throws -> Decoder { ValueDecoder(value: .object(object), codingPath: codingPath) }
    func superDecoder(forKey key: Key) throws -> Decoder { ValueDecoder(value: try required(key), codingPath: codingPath + [key]) }
}

private struct UnkeyedDecoder: UnkeyedDecodingContainer {
    let values: [JSONValue]
    let codingPath: [CodingKey]
    var currentIndex = 0

    init(values: [JSONValue], codingPath: [CodingKey]) {
        self.values = values
        self.codingPath = codingPath
    }

    var count: Int? { values.count }
    var isAtEnd: Bool { currentIndex >= values.count }

    private mutating func next() throws -> (JSONValue, [CodingKey]) {
        guard !isAtEnd else {
            throw DecodingError.valueNotFound(Any.self, DecodingError.Context(codingPath: codingPath, debugDescription: "expected more elements, found \(values.count)"))
        }
        defer { currentIndex += 1 }
        return (values[currentIndex], codingPath + [JSONIndexKey(index: currentIndex)])
    }

    mutating func decodeNil() throws -> Bool {
        guard !isAtEnd, values[currentIndex] == .null else { return false }
        currentIndex += 1
        return true
    }

    mutating func decode<T: Decodable>(_ type: T.Type) throws -> T {
        let (value, path) = try next()
        return try decodeValue(type, from: value, codingPath: path)
    }

    mutating func nestedContainer<NestedKey: CodingKey>(keyedBy type: NestedKey.Type) throws -> KeyedDecodingContainer<NestedKey> {
        let (value, path) = try next()
        return try ValueDecoder(value: value, codingPath: path).container(keyedBy: type)
    }

    mutating func nestedUnkeyedContainer() throws -> UnkeyedDecodingContainer {
        let (value, path) = try next()
        return try ValueDecoder(value: value, codingPath: path).unkeyedContainer()
    }

    mutating func superDecoder() throws -> Decoder {
        let (value, path) = try next()
        return ValueDecoder(value: value, codingPath: path)
    }
}

private struct SingleDecoder: SingleValueDecodingContainer {
    let value: JSONValue
    let codingPath: [CodingKey]

    func decodeNil() -> Bool { value == .null }
    func decode<T: Decodable>(_ type: T.Type) throws -> T { try decodeValue(type, from: value, codingPath: codingPath) }
}

// MARK: - JSONValue as a Codable value

extension JSONValue: Codable {
    /// Through ``JSONValueDecoder`` the value itself; through other decoders, the value those decoders see.
    public init(from decoder: Decoder) throws {
        if let d = decoder as? ValueDecoder { self = d.value; return }
        if var array = try? decoder.unkeyedContainer() {
            var values: [JSONValue] = []
            while !array.isAtEnd { values.append(try array.decode(JSONValue.self)) }
            self = .array(values)
            return
        }
        if let keyed = try? decoder.container(keyedBy: JSONKey.self) {
            var o = JSONObject()
            for key in keyed.allKeys { o[key.stringValue] = try keyed.decode(JSONValue.self, forKey: key) }
            self = .object(o)
            return
        }
        let single = try decoder.singleValueContainer()
        if single.decodeNil() { self = .null }
        else if let b = try? single.decode(Bool.self) { self = .bool(b) }
        else if let i = try? single.decode(Int64.self) { self = .integer(i) }
        else if let d = try? single.decode(Double.self) { self = .number(d) }
        else { self = .string(try single.decode(String.self)) }
    }

    public func encode(to encoder: Encoder) throws {
        switch self {
        case .null:
            var c = encoder.singleValueContainer()
            try c.encodeNil()
        case .bool(let b):
            var c = encoder.singleValueContainer()
            try c.encode(b)
        case .integer(let i):
            var c = encoder.singleValueContainer()
            try c.encode(i)
        case .number(let d):
            var c = encoder.singleValueContainer()
            try c.encode(d)
        case .string(let s):
            var c = encoder.singleValueContainer()
            try c.encode(s)
        case .array(let values):
            var c = encoder.unkeyedContainer()
            for v in values { try c.encode(v) }
        case .object(let o):
            var c = encoder.container(keyedBy: JSONKey.self)
            for k in o.keys { try c.encode(o[k]!, forKey: JSONKey(k)) }
        }
    }
}

// MARK: - Record files

/// A string enum read and written as its raw value; reading any other string is an error that lists the values
/// it accepts ("field 'state': expected one of running, done, failed, found "x"").
public protocol JSONStringEnum: RawRepresentable, CaseIterable, Codable where RawValue == String {}

extension JSONStringEnum {
    public init(from decoder: Decoder) throws {
        let c = try decoder.singleValueContainer()
        let name = try c.decode(String.self)
        guard let value = Self(rawValue: name) else {
            throw DecodingError.dataCorruptedError(
                in: c, debugDescription: "expected one of \(Self.allCases.map(\.rawValue).joined(separator: ", ")), found \"\(name)\"")
        }
        self = value
    }
}

/// A record as a file: `"format": NAME, "format_version": VERSION`, then the record's own fields.
public struct JSONRecordFile<Record: Encodable>: Encodable {
    public var format: String
    public var formatVersion: Int
    public var record: Record

    public init(format: String, version: Int, record: Record) {
        self.format = format
        formatVersion = version
        self.record = record
    }

    enum CodingKeys: String, CodingKey {
        case format, formatVersion = "format_version"
    }

    public func encode(to encoder: Encoder) throws {
        var c = encoder.container(keyedBy: CodingKeys.self)
        try c.encode(format, forKey: .format)
        try c.encode(formatVersion, forKey: .formatVersion)
        try record.encode(to: encoder)
    }
}

extension JSONValueDecoder {
    /// A record read from the JSON file at `path` whose `format` field must be `format` ("field 'format': expected
    /// "NAME""); its other fields are the record's.
    public func decodeRecord<T: Decodable>(_ type: T.Type, path: String, format: String) throws -> T {
        let value = try JSONValue.read(path: path)
        guard try decode(JSONFormatHeader.self, from: value, path: path).format == format else {
            throw FileFormatError(path, "field 'format': expected \"\(format)\"")
        }
        return try decode(type, from: value, path: path)
    }
}

/// The `format` field of a record file.
private struct JSONFormatHeader: Decodable {
    let format: String
}
