import EPFormats
import Foundation

/// Damage done to a written dictionary folder, one field at a time, for the tests of what loading refuses. Each
/// edit keeps the folder consistent otherwise (tensor shapes and dtypes, and the sizes the manifest records), so
/// that only the damaged value can be what loading objects to.
public enum DictionaryDamage {
    /// Rewrites tensor `tensor` of `file` in the dictionary folder `folder` with `edit` applied to its values (read
    /// as `T`, which must match the tensor's dtype), copying every other tensor byte for byte, and updates the
    /// file's size in `manifest.json`.
    public static func editTensor<T: SafetensorsStorable>(
        _ folder: String, file: String = "regions.safetensors", tensor: String, as type: T.Type, _ edit: (inout [T]) -> Void
    ) throws {
        let path = "\(folder)/\(file)"
        let original = try SafetensorsFile(path: path)
        var writer = SafetensorsWriter()
        for name in original.tensorNames {
            let info = original.tensors[name]!
            let bytes = try original.file.readBytes(count: info.byteRange.count, at: info.byteRange.lowerBound)
            guard name == tensor else {
                writer.add(name, dtype: info.dtype, shape: info.shape, bytes: bytes)
                continue
            }
            precondition(info.dtype == T.safetensorsDType, "\(tensor) is \(info.dtype.rawValue), not \(T.safetensorsDType.rawValue)")
            var values = [T](unsafeUninitializedCapacity: bytes.count / MemoryLayout<T>.stride) { buffer, count in
                bytes.withUnsafeBytes { UnsafeMutableRawBufferPointer(buffer).copyMemory(from: $0) }
                count = bytes.count / MemoryLayout<T>.stride
            }
            edit(&values)
            writer.add(name, shape: info.shape, values: values)
        }
        let size = try writer.write(to: path)
        try editManifest(folder) { manifest in
            guard case .array(let files) = manifest["files"] else { return }
            manifest["files"] = .array(files.map { entry in
                guard case .object(var o) = entry, o["name"] == .string(file) else { return entry }
                o["bytes"] = .integer(Int64(size))
                return .object(o)
            })
        }
    }

    /// Rewrites `manifest.json` of `folder` with `edit` applied to its top-level object.
    public static func editManifest(_ folder: String, _ edit: (inout JSONObject) -> Void) throws {
        let path = "\(folder)/manifest.json"
        guard case .object(var object) = try JSONValue.read(path: path) else { fatalError("\(path) is not a JSON object") }
        edit(&object)
        try AtomicOutput.write(string: JSONValue.object(object).rendered(), to: path)
    }

    /// Sets `manifest.json`'s field at `path` (a top-level key, or `outer.inner`) to `value`.
    public static func setManifestField(_ folder: String, _ path: String, _ value: JSONValue) throws {
        try editManifest(folder) { manifest in
            let keys = path.split(separator: ".").map(String.init)
            guard keys.count == 2 else {
                manifest[path] = value
                return
            }
            guard case .object(var inner) = manifest[keys[0]] else { fatalError("manifest has no object '\(keys[0])'") }
            inner[keys[1]] = value
            manifest[keys[0]] = .object(inner)
        }
    }
}
