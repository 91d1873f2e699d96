import EPFormats
import Foundation

/// The outputs of the store's writers, recognised by what ep writes in them (``OutputGuard``'s rule: an output
/// replaces only an output of the same kind that ep wrote, and a folder only when it holds nothing else).
extension DictionaryStore {
    /// A dictionary folder: recognised by its manifest, and holding only the manifest and the files it lists.
    public static let outputKind = OutputKind(name: "dictionary", isFolder: true) { path in
        let entries = OutputGuard.entries(of: path)
        if entries.isEmpty { return .ours }
        guard entries.contains(manifestFile) else {
            return .foreign("holds \(OutputGuard.describe(entries)) and no \(manifestFile): it is not an ep dictionary")
        }
        let manifest: DictionaryManifest
        do { manifest = try readManifest(path) } catch {
            return .foreign("has a \(manifestFile) that is not a readable ep dictionary manifest (\(error))")
        }
        let listed = Set(manifest.files.map(\.name) + [manifestFile])
        let others = entries.filter { !listed.contains($0) }
        if !others.isEmpty { return .foreign("is a dictionary but also holds \(OutputGuard.describe(others)), which ep did not write") }
        return .ours
    }

    /// A folder of dictionaries (a build of several percentiles: `OUT/p1`, `OUT/p2`, …; the domain builds of
    /// `ep eval saturation`): every entry is a dictionary folder.
    public static let collectionKind = OutputKind(name: "folder of dictionaries", isFolder: true) { path in
        for entry in OutputGuard.entries(of: path) {
            let sub = "\(path)/\(entry)"
            var isFolder: ObjCBool = false
            guard FileManager.default.fileExists(atPath: sub, isDirectory: &isFolder), isFolder.boolValue else { return .foreign("holds \(entry), which is not a dictionary folder written by ep") }
            if case .foreign(let why) = outputKind.recognise(sub) { return .foreign("holds \(entry), which \(why)") }
        }
        return .ours
    }

    /// A folder of dictionaries by hook (a build of several hooks): every entry is named after a hook and is a
    /// dictionary of that hook (`OUT/<hook>`, one percentile) or a folder of dictionaries of that hook
    /// (`OUT/<hook>/p1`, …).
    public static let hookCollectionKind = OutputKind(name: "folder of dictionaries by hook", isFolder: true) { path in
        let entries = OutputGuard.entries(of: path)
        if entries.contains(manifestFile) { return .foreign("is a dictionary (it holds \(manifestFile)), not a folder of dictionaries by hook") }
        for entry in entries {
            let sub = "\(path)/\(entry)"
            var isFolder: ObjCBool = false
            guard FileManager.default.fileExists(atPath: sub, isDirectory: &isFolder), isFolder.boolValue else {
                return .foreign("holds \(entry), which is not a folder of ep dictionaries")
            }
            let inner = OutputGuard.entries(of: sub)
            let single = inner.contains(manifestFile)
            if case .foreign(let why) = (single ? outputKind : collectionKind).recognise(sub) { return .foreign("holds \(entry), which \(why)") }
            for dictionary in single ? [sub] : inner.map({ "\(sub)/\($0)" }) where FileManager.default.fileExists(atPath: "\(dictionary)/\(manifestFile)") {
                let hook = (try? readManifest(dictionary))?.build.source?.hook
                guard hook == entry else {
                    let name = String(dictionary.dropFirst(path.count + 1))
                    return .foreign("holds \(name), a dictionary of \(hook ?? "no recorded hook"), not of the hook \(entry) its folder is named after")
                }
            }
        }
        return .ours
    }
}

extension CalibrationRecord {
    /// A calibration record (`"format": "ep-calibration"`).
    public static let outputKind = OutputKind.json("calibration record", format: formatName)
}

extension DictionaryExport {
    /// The output of `format`: a folder of the exported `.npy` arrays and `threshold.json`, an `.npz` archive marked
    /// as an ep export, or an SAELens folder (`cfg.json` naming ep's method, `sae_weights.safetensors`).
    public static func outputKind(_ format: Format) -> OutputKind {
        switch format {
        case .npy:
            return .folder("npy export", entries: Set(npyFiles + ["threshold.json"])) { folder in
                guard let value = try? JSONValue.read(path: "\(folder)/threshold.json"), case .object(let o) = value else { return false }
                return o["threshold"] != nil && o["d_model"] != nil && o["n_regions"] != nil
            }
        case .npz:
            return .npz("npz export", mark: npzMark)
        case .saelens:
            return .folder("SAELens export", entries: ["cfg.json", "sae_weights.safetensors"]) { folder in
                guard let value = try? JSONValue.read(path: "\(folder)/cfg.json"), case .object(let o) = value,
                    case .object(let metadata)? = o["metadata"]
                else { return false }
                return metadata["exemplar_partitioning"] != nil
            }
        }
    }
}
