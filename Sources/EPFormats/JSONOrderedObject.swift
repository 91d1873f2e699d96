/// Values under keys that are data (corpus names, method ids), encoded as one JSON object with the keys in the order
/// given — a Swift dictionary has no order. A key given twice keeps its first place and its last value, as
/// ``JSONObject`` does.
public struct JSONOrderedObject<Value: Encodable>: Encodable {
    /// The keys and their values, in order.
    public var entries: [(key: String, value: Value)]

    public init(_ entries: [(key: String, value: Value)] = []) { self.entries = entries }

    /// The value of the last entry under `key`.
    public subscript(key: String) -> Value? { entries.last { $0.key == key }?.value }

    public func encode(to encoder: any Encoder) throws {
        var last: [String: Int] = [:]
        for (i, e) in entries.enumerated() { last[e.key] = i }
        var c = encoder.container(keyedBy: JSONKey.self)
        for e in entries {
            guard let i = last.removeValue(forKey: e.key) else { continue }
            try c.encode(entries[i].value, forKey: JSONKey(e.key))
        }
    }
}

extension JSONOrderedObject: Sendable where Value: Sendable {}
