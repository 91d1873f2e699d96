import ArgumentParser
import EPFormats
import EPRuntime
import Foundation

/// `ep activations`: one hook point's activations for every token, as a float32 `.npy` (one row per token); with
/// several hooks, a folder of one `.npy` per hook from one forward pass.
struct Activations: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "activations",
        abstract: "Write a hook point's activations (float32, one row per token, all positions) to a .npy file.",
        discussion: """
            Hook names follow TransformerLens: hook_embed, blocks.L.hook_resid_pre, blocks.L.hook_attn_out, \
            blocks.L.hook_resid_mid, blocks.L.hook_mlp_out, blocks.L.hook_resid_post, ln_final.hook_normalized. \
            A (B, T) array of token ids runs as B windows; the rows of window b follow those of window b−1. \
            Several hooks (--hook repeated, or a comma-separated list) come from one forward pass: -o is then a \
            folder holding <hook>.npy for each, every file the same as `ep activations --hook <hook>` writes.
            """)

    /// The output of several hooks: a folder of `<hook>.npy` files. `.npy` files carry no writer mark, so a folder
    /// holding some is replaced only with `--force`; one holding anything else never.
    static let folderKind = OutputKind(name: "folder of activation files", isFolder: true) { path in
        let entries = OutputGuard.entries(of: path)
        let others = entries.filter { entry in
            var folder: ObjCBool = false
            return !entry.hasSuffix(".npy") || !FileManager.default.fileExists(atPath: "\(path)/\(entry)", isDirectory: &folder) || folder.boolValue
        }
        if !others.isEmpty { return .foreign("holds \(OutputGuard.describe(others)), which ep does not write in a folder of activation files") }
        if entries.isEmpty { return .ours }
        return .unmarkedFile("holds .npy files, and ep cannot tell that it wrote them (.npy files carry no writer mark)")
    }

    @OptionGroup var model: ModelArgument

    @Option(help: "Hook point, e.g. blocks.15.hook_resid_post; repeat it (or give a comma-separated list) for several hooks from one forward pass.")
    var hook: [CommaSeparated<String>] = []

    @Option(help: "Token ids: an int32/int64 .npy of shape (T,) or (B, T).")
    var tokensFile: String?

    @OptionGroup var text: TextInput

    @Option(name: .shortAndLong, help: "Output .npy file; with several hooks, a folder of <hook>.npy files.")
    var output: String

    @Option(help: "Also write the token ids (int32 .npy).")
    var tokensOut: String?

    @OptionGroup var threading: ThreadOptions

    func validate() throws {
        guard [tokensFile, text.text, text.textFile].compactMap({ $0 }).count == 1 else {
            throw ValidationError("give exactly one of --tokens-file, --text and --text-file")
        }
        guard !hook.isEmpty else { throw ValidationError("give the hook point with --hook, e.g. --hook blocks.15.hook_resid_post") }
        _ = try hooks()
    }

    /// The hooks given, comma-separated lists split.
    func hooks() throws -> [String] {
        let list = try hook.values("--hook", expected: "a hook name or a comma-separated list of hook names")
        if let twice = list.enumerated().first(where: { i, h in list[..<i].contains(h) }) { throw CommandError("--hook: \(twice.element) is given twice") }
        return list
    }

    @OptionGroup var force: ForceOption

    func run() throws {
        let names = try hooks()
        let claims = try claimOutputs(
            [(output, names.count == 1 ? OutputKind.unmarkedFile("activations file", format: ".npy") : Self.folderKind)]
                + (tokensOut.map { [($0, OutputKind.unmarkedFile("token ids file", format: ".npy"))] } ?? []),
            inputs: modelInputs(model.model) + [tokensFile].compactMap { $0 } + text.inputs, force: force.force)
        // Activations and token ids are written to temporaries and moved into place together.
        let transaction = OutputTransaction()
        let lm = try LanguageModel(path: try ModelLocator.resolve(model.model), threads: threading.threads)
        let points = try names.map { try lm.hookPoint(named: $0) }
        let sequences: [[Int32]], shape: [Int]
        if let tokensFile {
            (sequences, shape) = try TokenIDs.read(path: tokensFile)
        } else {
            let ids = try makeTokenizer(for: lm).encode(try text.read())
            guard ids.count <= lm.config.contextLength else {
                throw CommandError("\(text.flagDescription): \(grouped(ids.count)) tokens, more than the model's context of \(grouped(lm.config.contextLength)); the text runs as one sequence — split it, or use ep build for corpora")
            }
            (sequences, shape) = ([ids], [ids.count])
        }
        // One forward pass to the deepest hook; each hook's rows are those of a pass capturing it alone.
        let captured = try lm.forward(sequences, hooks: Hooks(captures: Set(points))).activations
        let staged = transaction.stage(claims[0])
        if points.count > 1 {
            try FileManager.default.createDirectory(atPath: staged, withIntermediateDirectories: false)
        }
        for point in points {
            let values = captured[point]!
            try NPY.write(values.storage, shape: [values.rows, values.columns], to: points.count == 1 ? staged : "\(staged)/\(point.name).npy")
        }
        if tokensOut != nil { try TokenIDs.write(sequences, shape: shape, to: transaction.stage(claims[1])) }
        try transaction.commit()
        let plural = "(\(sequences.count) sequence\(sequences.count == 1 ? "" : "s"))"
        for point in points {
            let values = captured[point]!
            let file = points.count == 1 ? output : "\(output)/\(point.name).npy"
            print("\(file): \(point.name), \(values.rows) × \(values.columns) float32 \(plural)")
        }
    }
}
