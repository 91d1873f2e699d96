import EPFormats
import Foundation

/// Renders a one-turn chat prompt the way a model's `tokenizer.chat_template` does, for the template families
/// the runtime knows (ChatML: `<|im_start|>role\n…<|im_end|>\n`). Jinja itself is not evaluated: the default
/// system turn that ChatML templates such as SmolLM2's insert is read out of the template's text.
public struct ChatTemplate: Sendable, Equatable {
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

    /// The template whose Jinja text is `template`, or an error when it is not ChatML.
    public init(template: String) throws {
        guard template.contains("<|im_start|>") else {
            throw ModelInputError(message: "unsupported chat template (only ChatML, with <|im_start|> turns, is supported)")
        }
        let start = "<|im_start|>system\n"
        if let open = template.range(of: start), let close = template.range(of: "<|im_end|>", range: open.upperBound..<template.endIndex) {
            defaultSystemMessage = String(template[open.upperBound..<close.lowerBound])
        }
    }

    /// The prompt for one user message, ending with the assistant's generation prompt.
    public func render(user message: String) -> String {
        var text = ""
        if let system = defaultSystemMessage { text += "<|im_start|>system\n\(system)<|im_end|>\n" }
        return text + "<|im_start|>user\n\(message)<|im_end|>\n<|im_start|>assistant\n"
    }
}
