import EPFormats
import Foundation

/// Renders a one-turn chat prompt the way a model's `tokenizer.chat_template` does, for the template families
/// the runtime knows (ChatML: `<|im_start|>role\n…<|im_end|>\n`; Gemma: `<start_of_turn>role\n…<end_of_turn>\n`).
/// Jinja itself is not evaluated: the default system turn that ChatML templates such as SmolLM2's insert is read
/// out of the template's text.
public struct ChatTemplate: Sendable, Equatable {
    /// A family of chat formats.
    public enum Family: String, Sendable {
        /// `<|im_start|>user\n…<|im_end|>\n<|im_start|>assistant\n` (SmolLM2, Qwen2).
        case chatML
        /// `<start_of_turn>user\n…<end_of_turn>\n<start_of_turn>model\n` (Gemma; BOS comes from the tokenizer).
        case gemma
    }

    /// The template's family.
    public var family: Family = .chatML
    /// The system message inserted when the conversation has none, if the template inserts one.
    public var defaultSystemMessage: String?

    /// The template of `gguf`, or an error when it has none or it is not ChatML.
    public init(gguf: GGUFFile) throws {
        guard let template = gguf.metadata["tokenizer.chat_template"]?.string else {
            throw ModelInputError(message: "the model has no chat template (tokenizer.chat_template)")
        }
        try self.init(template: template)
    }

    /// The template of a loaded model: its GGUF metadata's, or the `chat_template` of its folder's
    /// `tokenizer_config.json`.
    public init(model: LanguageModel) throws {
        if let gguf = model.gguf { try self.init(gguf: gguf); return }
        let path = model.path + "/tokenizer_config.json"
        guard FileManager.default.fileExists(atPath: path),
              let template = try JSONFields(try JSONValue.read(path: path), path: path).optionalString("chat_template") else {
            throw ModelInputError(message: "the model has no chat template (chat_template in tokenizer_config.json)")
        }
        try self.init(template: template)
    }

    /// The template whose Jinja text is `template`, or an error when it is neither ChatML nor Gemma's.
    public init(template: String) throws {
        if template.contains("<start_of_turn>") {
            family = .gemma
            return
        }
        guard template.contains("<|im_start|>") else {
            throw ModelInputError(message: "unsupported chat template (supported: ChatML with <|im_start|> turns, Gemma with <start_of_turn> turns)")
        }
        let start = "<|im_start|>system\n"
        if let open = template.range(of: start), let close = template.range(of: "<|im_end|>", range: open.upperBound..<template.endIndex) {
            defaultSystemMessage = String(template[open.upperBound..<close.lowerBound])
        }
    }

    /// The prompt for one user message, ending with the assistant's generation prompt.
    public func render(user message: String) -> String {
        if family == .gemma { return "<start_of_turn>user\n\(message)<end_of_turn>\n<start_of_turn>model\n" }
        var text = ""
        if let system = defaultSystemMessage { text += "<|im_start|>system\n\(system)<|im_end|>\n" }
        return text + "<|im_start|>user\n\(message)<|im_end|>\n<|im_start|>assistant\n"
    }
}
