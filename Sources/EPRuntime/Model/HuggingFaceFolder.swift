import EPFormats
import Foundation

/// A Hugging Face model folder: `config.json`, the weights as `model.safetensors` or shards listed by
/// `model.safetensors.index.json`, and (for text) `tokenizer.json`.
public struct HuggingFaceFolder: Sendable {
    /// The folder.
    public let path: String
    /// `config.json`, parsed.
    public let config: JSONFields
    /// The safetensors files holding the weights, in name order.
    public let weightFiles: [String]
    /// `tokenizer.json`, when the folder has one.
    public var tokenizerPath: String? {
        let p = path + "/tokenizer.json"
        return FileManager.default.fileExists(atPath: p) ? p : nil
    }

    /// Whether `path` is a folder with a `config.json` (what `LanguageModel(path:)` takes for a Hugging Face model).
    public static func isModelFolder(_ path: String) -> Bool {
        var isDirectory: ObjCBool = false
        return FileManager.default.fileExists(atPath: path, isDirectory: &isDirectory) && isDirectory.boolValue
            && FileManager.default.fileExists(atPath: path + "/config.json")
    }

    /// Opens the folder: reads `config.json` and finds the weight files (an index's shards must all exist).
    public init(path: String) throws {
        self.path = path
        let configPath = path + "/config.json"
        guard FileManager.default.fileExists(atPath: configPath) else {
            throw FileFormatError(path, "a folder without config.json: expected a GGUF file or a Hugging Face model folder (config.json, *.safetensors, tokenizer.json)")
        }
        config = try JSONFields(try JSONValue.read(path: configPath), path: configPath)
        let index = path + "/model.safetensors.index.json"
        if FileManager.default.fileExists(atPath: index) {
            let map = try JSONFields(try JSONValue.read(path: index), path: index).object("weight_map")
            var names = Set<String>()
            for key in map.object.keys { names.insert(try map.string(key)) }
            weightFiles = names.sorted().map { path + "/" + $0 }
            for file in weightFiles where !FileManager.default.fileExists(atPath: file) {
                throw FileFormatError(index, "lists the shard '\((file as NSString).lastPathComponent)', which is missing")
            }
        } else if FileManager.default.fileExists(atPath: path + "/model.safetensors") {
            weightFiles = [path + "/model.safetensors"]
        } else {
            let all = (try? FileManager.default.contentsOfDirectory(atPath: path)) ?? []
            weightFiles = all.filter { $0.hasSuffix(".safetensors") }.sorted().map { path + "/" + $0 }
            guard !weightFiles.isEmpty else {
                throw FileFormatError(path, "no weights: expected model.safetensors or model.safetensors.index.json (PyTorch .bin files are not supported)")
            }
        }
    }
}
