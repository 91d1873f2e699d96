import EPFormats
import EPTensors
import Foundation

/// The built `ep` executable beside the test bundle (the products folder), or `$EP_BINARY`.
let epBinary: String = {
    if let path = ProcessInfo.processInfo.environment["EP_BINARY"] { return path }
    var folders = [Bundle.main.bundleURL, Bundle.main.bundleURL.deletingLastPathComponent()]
    folders += Bundle.allBundles.filter { $0.bundlePath.hasSuffix(".xctest") }.map { $0.bundleURL.deletingLastPathComponent() }
    if let executable = Bundle.main.executableURL { folders.append(executable.deletingLastPathComponent()) }
    for folder in folders {
        let candidate = folder.appendingPathComponent("ep").path
        if FileManager.default.isExecutableFile(atPath: candidate) { return candidate }
    }
    fatalError("cannot find the ep executable next to the tests (looked in \(folders.map(\.path))); set EP_BINARY")
}()

/// The outcome of one `ep` run.
struct Run {
    var status: Int32
    var stdout: String
    var stderr: String

    /// The non-empty lines of stderr.
    var errorLines: [String] { stderr.split(separator: "\n").map(String.init).filter { !$0.isEmpty } }
}

/// Runs `ep` with `arguments` in `folder` and waits for it; `environment` adds variables to the inherited ones.
@discardableResult
func ep(_ arguments: [String], in folder: String, environment: [String: String] = [:]) throws -> Run {
    let process = Process()
    process.executableURL = URL(fileURLWithPath: epBinary)
    process.arguments = arguments
    process.currentDirectoryURL = URL(fileURLWithPath: folder)
    process.environment = ProcessInfo.processInfo.environment.merging(environment) { $1 }
    let out = Pipe(), err = Pipe()
    process.standardOutput = out
    process.standardError = err
    try process.run()
    // Read both pipes to the end before waiting, so a full pipe never blocks the child.
    let outData = out.fileHandleForReading.readDataToEndOfFile()
    let errData = err.fileHandleForReading.readDataToEndOfFile()
    process.waitUntilExit()
    return Run(status: process.terminationStatus, stdout: String(decoding: outData, as: UTF8.self), stderr: String(decoding: errData, as: UTF8.self))
}

/// Files in `folder`, hidden ones (temporary siblings) included.
func listing(_ folder: String) -> [String] {
    ((try? FileManager.default.contentsOfDirectory(atPath: folder)) ?? []).sorted()
}

/// Writes a float16 `.npy` of `values` (`rows × width`).
func writeHalfNPY(_ values: [Float], rows: Int, width: Int, to path: String) throws {
    let bits = values.map { HalfPrecision.halfBits(from: $0) }
    try bits.withUnsafeBytes { try AtomicOutput.write(NPY.encode(elementType: .float16, shape: [rows, width], data: $0), to: path) }
}
