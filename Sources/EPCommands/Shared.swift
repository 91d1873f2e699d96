import ArgumentParser
import EPCore
import EPFormats
import EPPipeline
import EPRuntime
import EPStore
import EPTensors
import Foundation
import Synchronization

/// A problem with the command line or the inputs, printed as one line (`Error: …`) with a non-zero exit.
struct CommandError: Error, CustomStringConvertible {
    let description: String
    init(_ description: String) { self.description = description }
}

/// Activation files and how to read them, shared by every verb that reads activations.
struct ActivationInput: ParsableArguments {
    @Argument(help: "Activation files (.npy float32/float16 2-D, or .safetensors F32/F16/BF16 2-D), read in order as one stream.")
    var activations: [String]

    @Option(help: "Tensor to read from .safetensors files (default: the only 2-D tensor).")
    var tensor: String?

    /// Opens the files; an empty stream is an error.
    func open() throws -> ActivationStream { try Self.open(activations, tensor: tensor) }

    /// Opens `paths` as one stream; an empty stream is an error.
    static func open(_ paths: [String], tensor: String?) throws -> ActivationStream {
        let stream = try ActivationStream(paths: paths, tensor: tensor)
        guard stream.totalRows > 0 else { throw CommandError("\(stream.pathList): no activation rows (the input is empty)") }
        return stream
    }
}

/// Activation files as one of a verb's inputs (it also reads text): ``ActivationInput`` with the files optional.
struct OptionalActivationInput: ParsableArguments {
    @Argument(help: "Activation files (.npy float32/float16 2-D, or .safetensors F32/F16/BF16 2-D), read in order as one stream.")
    var activations: [String] = []

    @Option(help: "Tensor to read from .safetensors files (default: the only 2-D tensor).")
    var tensor: String?

    /// Opens the files; an empty stream is an error.
    func open() throws -> ActivationStream { try ActivationInput.open(activations, tensor: tensor) }
}

/// Optional provenance of activation files, recorded in calibration records and dictionary manifests.
struct ProvenanceOptions: ParsableArguments {
    @Option(help: "Model the activations came from (recorded as provenance).")
    var model: String?

    @Option(name: .customLong("hook"), help: "Hook point, e.g. blocks.12.hook_resid_post: for activation files, where they came from (recorded as provenance); from text, the hook to build — repeat it or give a comma-separated list to build several hooks from one forward pass.")
    var hooks: [CommaSeparated<String>] = []

    func validate() throws { _ = try hookList() }

    /// The hooks given, comma-separated lists split, in order.
    func hookList() throws -> [String] { try hooks.values("--hook", expected: "a hook name or a comma-separated list of hook names") }

    /// The one hook activation files came from, if given.
    func singleHook() throws -> String? {
        let list = try hookList()
        guard list.count <= 1 else { throw CommandError("--hook: activation files come from one hook; give one (several hooks need a build from text, --corpus)") }
        return list.first
    }

    @Option(name: [.customLong("context"), .customLong("context-length")], parsing: .unconditional, help: "Context length in tokens: from text, the window length (default 128); for activation files, recorded as provenance.")
    var contextLength: Int?

    func source(for stream: ActivationStream, rows: Int) throws -> ActivationSource {
        ActivationSource(
            model: model, hook: try singleHook(), extractor: "activation-files", contextLength: contextLength, tokenCount: nil,
            activationCount: rows, inputs: stream.files.map(\.path))
    }
}

/// `--force`, shared by the verbs that write files.
struct ForceOption: ParsableArguments {
    @Flag(help: "Replace an existing output file that ep cannot tell it wrote (an .npy file carries no writer mark). Never replaces an input of the command or a folder holding other files.")
    var force = false
}

/// Claims a command's outputs before any work (``OutputGuard``: never over an input, only over an output of the
/// same kind that ep wrote, locked against other ep processes), and says on stderr what an interrupted earlier run
/// left behind and what was cleaned up.
@discardableResult
func claimOutputs(_ outputs: [(String, OutputKind)], inputs: [String], force: Bool = false) throws -> [OutputClaim] {
    let claims = try OutputGuard.claim(outputs.map { (path: $0.0, kind: $0.1) }, inputs: inputs, force: force)
    HeldClaims.keep(claims)
    for claim in claims {
        if let pid = claim.staleLockHolder {
            note("\(claim.path): took over the lock of process \(pid), which ended without releasing it (killed?)")
        }
        if !claim.removedTemporaries.isEmpty {
            note("\(claim.path): removed \(claim.removedTemporaries.count) temporary file\(claim.removedTemporaries.count == 1 ? "" : "s") left by an interrupted write (\(OutputGuard.describe(claim.removedTemporaries)))")
        }
    }
    return claims
}

/// The claims of this process, held until it exits (a command's outputs stay locked while it runs) and then
/// released, which removes their lock files.
enum HeldClaims {
    private static let claims = Mutex<[OutputClaim]>([])
    private static let registered = Atomic<Bool>(false)

    static func keep(_ new: [OutputClaim]) {
        claims.withLock { $0 += new }
        if !registered.exchange(true, ordering: .sequentiallyConsistent) {
            atexit { HeldClaims.releaseAll() }
        }
    }

    static func releaseAll() {
        claims.withLock { held in
            for claim in held { claim.release() }
            held.removeAll()
        }
    }
}

/// Claims one output.
@discardableResult
func claimOutput(_ path: String, _ kind: OutputKind, inputs: [String], force: Bool = false) throws -> OutputClaim {
    try claimOutputs([(path, kind)], inputs: inputs, force: force)[0]
}

/// The file or folder of the model named `name` (a path or a short name), as an input of a command whose outputs
/// must not touch it; empty when there is none or it cannot be found (opening it then says why).
func modelInputs(_ name: String?) -> [String] {
    guard let name, let path = try? ModelLocator.resolve(name) else { return [] }
    return [path]
}

/// A note on stderr.
func note(_ message: String) {
    FileHandle.standardError.write(Data("note: \(message)\n".utf8))
}

/// Checks a count given on the command line (`unit`: what is counted, for the message).
func requirePositive(_ value: Int, flag: String, unit: String = "rows") throws {
    guard value > 0 else { throw CommandError("\(flag): expected a positive number of \(unit), found \(value)") }
}

/// Checks a calibration batch size: positive, and small enough that its n(n−1)/2 float distances fit (65,536
/// rows already need 8.6 GB).
func requireCalibrationBatch(_ value: Int, flag: String) throws {
    try requirePositive(value, flag: flag)
    guard value <= 65_536 else {
        let gigabytes = Double(value) * Double(value - 1) / 2 * 4 / 1e9
        throw CommandError("\(flag): \(value) rows per calibration batch would hold \(fixed(gigabytes, 1)) GB of pairwise distances; use at most 65536")
    }
}

/// Checks a percentile given on the command line.
func requirePercentile(_ p: Double) throws {
    guard p.isFinite, p > 0, p < 100 else { throw CommandError("--percentile: expected a number strictly between 0 and 100, found \(p)") }
}

/// Calibrates from the first rows of `stream` (``Calibration/calibrate(_:settings:progress:)``) with a progress line.
func calibrate(_ stream: ActivationStream, settings: CalibrationSettings, progress: ProgressLine) throws -> Calibration {
    try Calibration.calibrate(stream, settings: settings) { step in
        switch step {
        case .center(let rows): progress.update("calibration, center: \(rows) rows")
        case .threshold(let batch, let count): progress.update("calibration, threshold: batch \(batch)/\(count)")
        }
    }
}

/// A progress line on stderr: redrawn in place (`\r`) at most 5 times a second on a terminal, otherwise one line
/// every 5 seconds (so logs stay readable).
final class ProgressLine {
    private let terminal = isatty(2) != 0
    private var last = Date()
    private var drawn = false

    func update(_ text: String) {
        let now = Date()
        guard now.timeIntervalSince(last) >= (terminal ? 0.2 : 5) else { return }
        last = now
        if terminal {
            FileHandle.standardError.write(Data("\r\u{1B}[K\(text)".utf8))
            drawn = true
        } else {
            FileHandle.standardError.write(Data("\(text)\n".utf8))
        }
    }

    /// Ends the line (on a terminal) so later output starts on a fresh line.
    func finish() {
        if drawn { FileHandle.standardError.write(Data("\r\u{1B}[K".utf8)) }
        drawn = false
    }
}

/// Text shown on one terminal line: newlines as ⏎, tabs as ⇥, carriage returns as ␍, other control characters as ·.
func visible(_ text: String) -> String {
    var out = ""
    for scalar in text.unicodeScalars {
        switch scalar {
        case "\n": out += "⏎"
        case "\t": out += "⇥"
        case "\r": out += "␍"
        default: out.unicodeScalars.append(scalar.properties.generalCategory == .control ? "·" : scalar)
        }
    }
    return out
}

/// A token's text, visible and quoted so its spaces show: `' the'`.
func quotedToken(_ text: String) -> String { "'\(visible(text))'" }

/// `n` with thousands separators.
func grouped(_ n: Int) -> String {
    let digits = String(n.magnitude)
    var out = ""
    for (i, c) in digits.enumerated() {
        if i > 0 && (digits.count - i) % 3 == 0 { out.append(",") }
        out.append(c)
    }
    return (n < 0 ? "-" : "") + out
}

/// `x` with `digits` decimals.
func fixed(_ x: Double, _ digits: Int) -> String {
    x.isFinite ? String(format: "%.\(digits)f", x) : "\(x)"
}
