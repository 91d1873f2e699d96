import ArgumentParser
import EPFormats
import EPRuntime
import Foundation

/// `ep activations`: one hook point's activations for every token, as a float32 `.npy` (one row per token).
struct Activations: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "activations",
        abstract: "Write a hook point's activations (float32, one row per token, all positions) to a .npy file.",
        discussion: """
            Hook names follow TransformerLens: hook_embed, blocks.L.hook_resid_pre, blocks.L.hook_attn_out, \
            blocks.L.hook_resid_mid, blocks.L.hook_mlp_out, blocks.L.hook_resid_post, ln_final.hook_normalized. \
            A (B, T) array of token ids runs as B windows; the rows of window b follow those of window b−1.
            """)

    @Argument(help: "A GGUF file, a Hugging Face folder, or a short name (\(ModelLocator.shortNameList)).")
    var model: String

    @Option(help: "Hook point, e.g. blocks.15.hook_resid_post.")
    var hook: String

    @Option(help: "Token ids: an int32/int64 .npy of shape (T,) or (B, T).")
    var tokensFile: String?

    @Option(help: "Text to tokenize.")
    var text: String?

    @Option(help: "A UTF-8 file whose text is tokenized.")
    var textFile: String?

    @Option(name: .shortAndLong, help: "Output .npy file.")
    var output: String

    @Option(help: "Also write the token ids (int32 .npy).")
    var tokensOut: String?

    @Option(parsing: .unconditional, help: "Threads (default: all active processors).")
    var threads: Int?

    func validate() throws {
        guard [tokensFile, text, textFile].compactMap({ $0 }).count == 1 else {
            throw ValidationError("give exactly one of --tokens-file, --text and --text-file")
        }
    }

    @OptionGroup var force: ForceOption

    func run() throws {
        try requireThreads(threads)
        let claims = try claimOutputs(
            [(output, OutputKind.unmarkedFile("activations file", format: ".npy"))]
                + (tokensOut.map { [($0, OutputKind.unmarkedFile("token ids file", format: ".npy"))] } ?? []),
            inputs: modelInputs(model) + [tokensFile, textFile].compactMap { $0 }, force: force.force)
        // Activations and token ids are written to temporaries and moved into place together.
        let transaction = OutputTransaction()
        let lm = try LanguageModel(path: try ModelLocator.resolve(model), threads: threads)
        let point = try lm.hookPoint(named: hook)
        let sequences: [[Int32]], shape: [Int]
        if let tokensFile {
            (sequences, shape) = try TokenIDs.read(path: tokensFile)
        } else {
            let input = try text ?? readText(textFile!)
            let ids = try makeTokenizer(for: lm).encode(input)
            guard ids.count <= lm.config.contextLength else {
                throw CommandError("\(textFile.map { "--text-file \($0)" } ?? "--text"): \(grouped(ids.count)) tokens, more than the model's context of \(grouped(lm.config.contextLength)); the text runs as one sequence — split it, or use ep build for corpora")
            }
            (sequences, shape) = ([ids], [ids.count])
        }
        let values = try lm.activations(sequences, at: point)
        try NPY.write(values.storage, shape: [values.rows, values.columns], to: transaction.stage(claims[0]))
        if tokensOut != nil { try TokenIDs.write(sequences, shape: shape, to: transaction.stage(claims[1])) }
        try transaction.commit()
        print("\(output): \(point.name), \(values.rows) × \(values.columns) float32 (\(sequences.count) sequence\(sequences.count == 1 ? "" : "s"))")
    }
}
