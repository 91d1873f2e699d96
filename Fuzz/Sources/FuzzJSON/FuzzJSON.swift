import EPFormats
import FuzzSupport

/// The JSON parser every JSON file goes through (manifests, records, configs, tokenizers), and its writer: a value
/// that parses is written and must parse back to the same value (non-finite numbers become null).
@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzJSON(_ data: UnsafePointer<UInt8>?, _ size: Int) -> Int32 {
    guard let value = try? JSONValue.parse(bytes(data, size), path: "input.json") else { return 0 }
    let text = value.rendered()
    let again: JSONValue
    do {
        again = try JSONValue.parse(Array(text.utf8), path: "rendered.json")
    } catch {
        fatalError("the writer's output does not parse: \(error)\n\(text)")
    }
    guard again == finite(value) else { fatalError("the writer's output parses to a different value:\n\(text)") }
    return 0
}

/// `value` as the writer stores it: non-finite numbers as null.
func finite(_ value: JSONValue) -> JSONValue {
    switch value {
    case .number(let d) where !d.isFinite: return .null
    case .array(let values): return .array(values.map(finite))
    case .object(let object):
        var out = JSONObject()
        for key in object.keys { out[key] = finite(object[key]!) }
        return .object(out)
    default: return value
    }
}
