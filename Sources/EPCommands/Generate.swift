import ArgumentParser
import EPRuntime
import Foundation

/// `ep generate`: continue a prompt with greedy or sampled decoding (KV cache).
struct Generate: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "generate",
        abstract: "Generate text after a prompt (greedy by default; temperature, top-k and top-p sampling with a seed).")

    @OptionGroup var model: ModelArgument

    @Option(help: "The prompt text.")
    var prompt: String?

    @Option(help: "The prompt as token ids: an int32/int64 .npy of shape (T,).")
    var tokensFile: String?

    @Option(parsing: .unconditional, help: "Most tokens to generate.")
    var maxTokens = 64

    @Flag(help: "Wrap the prompt in the model's chat template as a user turn.")
    var chat = false

    @Option(parsing: .unconditional, help: "Sampling temperature (0: greedy).")
    var temperature: Float = 0

    @Option(parsing: .unconditional, help: "Sample among the k most likely tokens only (0: all).")
    var topK = 0

    @Option(parsing: .unconditional, help: "Sample within the smallest set of tokens whose probabilities reach p.")
    var topP: Float = 1

    @Option(parsing: .unconditional, help: "Random seed of the sampler.")
    var seed: UInt64 = 0

    @Flag(name: .customLong("print-ids"), help: "Print token ids instead of text.")
    var printIDs = false

    @OptionGroup var threading: ThreadOptions

    func validate() throws {
        guard (prompt == nil) != (tokensFile == nil) else { throw ValidationError("give exactly one of --prompt and --tokens-file") }
        guard !chat || prompt != nil else { throw ValidationError("--chat needs --prompt") }
        guard maxTokens >= 1, temperature >= 0, topK >= 0, topP > 0, topP <= 1 else {
            throw ValidationError("need --max-tokens ≥ 1, --temperature ≥ 0, --top-k ≥ 0 and 0 < --top-p ≤ 1")
        }
    }

    func run() throws {
        let lm = try LanguageModel(path: try ModelLocator.resolve(model.model), threads: threading.threads)
        let tokenizer = printIDs && prompt == nil ? nil : try makeTokenizer(for: lm)
        let ids: [Int32]
        if let prompt, let tokenizer {
            ids = tokenizer.encode(chat ? try ChatTemplate(model: lm).render(user: prompt) : prompt)
        } else {
            ids = try TokenIDs.read(path: tokensFile!).sequences[0]
        }
        var options = GenerationOptions(maxTokens: maxTokens)
        options.sampling = SamplingOptions(temperature: temperature, topK: topK, topP: topP, seed: seed)
        options.stopTokens = Set([tokenizer?.eosID ?? lm.eosTokenID].compactMap { $0 })
        var decoder = printIDs ? nil : tokenizer.map { StreamingDecoder($0) }
        var count = 0
        let start = Date()
        var firstToken = start
        _ = try lm.generate(prompt: ids, options: options) { token in
            if count == 0 { firstToken = Date() }
            count += 1
            if decoder != nil {
                print(decoder!.append(token), terminator: "")
            } else {
                print(token, terminator: " ")
            }
            fflush(nil)
            return true
        }
        if decoder != nil { print(decoder!.finish(), terminator: "") }
        print()
        let steps = Date().timeIntervalSince(firstToken)
        let timing = String(
            format: "prompt: %d tokens and the first new token in %.0f ms; then %d tokens in %.2f s (%.1f tokens/s)\n",
            ids.count, 1000 * firstToken.timeIntervalSince(start), count - 1, steps, Double(count - 1) / steps)
        FileHandle.standardError.write(Data(timing.utf8))
    }
}
