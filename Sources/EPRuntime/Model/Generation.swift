/// Options of ``LanguageModel/generate(prompt:options:hooks:onToken:)``.
public struct GenerationOptions: Sendable {
    /// Most tokens to generate.
    public var maxTokens: Int
    /// How each token is chosen.
    public var sampling: SamplingOptions
    /// Tokens that end generation (included in the output).
    public var stopTokens: Set<Int32>

    /// Greedy generation of up to `maxTokens` tokens.
    public init(maxTokens: Int = 64, sampling: SamplingOptions = SamplingOptions(), stopTokens: Set<Int32> = []) {
        self.maxTokens = maxTokens
        self.sampling = sampling
        self.stopTokens = stopTokens
    }
}

extension LanguageModel {
    /// Generates tokens after `prompt` with a KV cache, `hooks` active at every position (prompt and generated
    /// tokens). `onToken` sees each new token as it is chosen (a stop token too) and returns false to stop early. Returns the
    /// generated tokens (a stop token included). Generation also ends when the context is full.
    public func generate(
        prompt: [Int32], options: GenerationOptions = GenerationOptions(), hooks: Hooks = Hooks(),
        onToken: (Int32) -> Bool = { _ in true }
    ) throws -> [Int32] {
        try validate(prompt, past: 0, label: "prompt")
        let session = InferenceSession(model: self, hooks: hooks)
        var sampler = TokenSampler(options.sampling)
        var generated: [Int32] = []
        var input = prompt
        while generated.count < options.maxTokens, session.tokens.count + input.count <= config.contextLength {
            let logits = try session.append(input, logits: .last).logits!
            let token = sampler.sample(logits.storage[...])
            generated.append(token)
            let wantsMore = onToken(token)
            if options.stopTokens.contains(token) || !wantsMore { break }
            input = [token]
        }
        return generated
    }
}
