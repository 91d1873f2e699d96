import EPFormats
import EPStore
import FuzzSupport

/// A dictionary's `manifest.json` (with its calibration, build, source and text provenance), read as
/// `DictionaryStore.readManifest` reads it; a manifest that reads is written again and must read back the same.
@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzManifest(_ data: UnsafePointer<UInt8>?, _ size: Int) -> Int32 {
    guard let value = try? JSONValue.parse(bytes(data, size), path: "manifest.json"),
        let manifest = try? DictionaryManifest(json: value, path: "manifest.json")
    else { return 0 }
    let text = manifest.json.rendered()
    do {
        let again = try DictionaryManifest(json: try JSONValue.parse(Array(text.utf8), path: "manifest.json"), path: "manifest.json")
        _ = again
    } catch {
        fatalError("a manifest that was read does not read back after writing: \(error)\n\(text)")
    }
    return 0
}
