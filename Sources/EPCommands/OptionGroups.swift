import ArgumentParser
import EPRuntime
import EPStore
import Foundation

/// A comma-separated list given to one flag (`--percentile 1,5`, `--layers 6,12,18`, `--k 1,2,5`): the elements as
/// `Element` reads them, blanks around the commas ignored. ``values(_:expected:where:)`` refuses a list with an
/// element that does not parse (an empty one included) or fails a check, naming the flag and what was expected.
struct CommaSeparated<Element: ExpressibleByArgument>: ExpressibleByArgument, CustomStringConvertible {
    /// The text given.
    let text: String
    /// The elements, nil when one does not parse.
    private let elements: [Element]?

    init(argument: String) {
        text = argument
        let parts = argument.split(separator: ",", omittingEmptySubsequences: false).map { $0.trimmingCharacters(in: .whitespaces) }
        let parsed = parts.compactMap { $0.isEmpty ? nil : Element(argument: $0) }
        elements = parsed.count == parts.count ? parsed : nil
    }

    var description: String { text }

    /// The elements, each passing `isValid`; otherwise an error naming `flag` and what was `expected`.
    func values(_ flag: String, expected: String, where isValid: (Element) -> Bool = { _ in true }) throws -> [Element] {
        guard let elements, elements.allSatisfy(isValid) else { throw CommandError("\(flag): expected \(expected), found '\(text)'") }
        return elements
    }
}

extension Array {
    /// The elements of several comma-separated lists given to one repeatable flag, in order.
    func values<Value>(_ flag: String, expected: String) throws -> [Value] where Element == CommaSeparated<Value> {
        try flatMap { try $0.values(flag, expected: expected) }
    }
}

/// `--threads`, shared by the verbs that run a model.
struct ThreadOptions: ParsableArguments {
    @Option(parsing: .unconditional, help: "Threads (default: all active processors).")
    var threads: Int?

    func validate() throws {
        if let threads, threads <= 0 { throw CommandError("--threads: expected a positive number of threads, found \(threads)") }
    }
}

/// The model a verb runs, given as its argument.
struct ModelArgument: ParsableArguments {
    @Argument(help: "A GGUF file, a Hugging Face folder, or a short name (\(ModelLocator.shortNameList)).")
    var model: String
}

/// `--model` of the verbs that run a dictionary's model: by default the one the dictionary was built from, and the
/// model given must be that one (by SHA-256).
struct DictionaryModelOption: ParsableArguments {
    @Option(help: "Model (default: the one the dictionary was built from; its SHA-256 must match).")
    var model: String?

    /// Opens the model for the dictionary at `dictionary` (``OpenedModel/init(for:dictionary:model:threads:)``).
    func open(for manifest: DictionaryManifest, dictionary: String, threads: Int?) throws -> OpenedModel {
        try OpenedModel(for: manifest, dictionary: dictionary, model: model, threads: threads)
    }
}

/// `--model` of the verbs that read a dictionary's regions (the logit lens and the context text).
struct LensModelOption: ParsableArguments {
    @Option(help: "Model for the logit lens and the context text (default: the one the dictionary was built from).")
    var model: String?
}

/// `--text` / `--text-file`: a text run through a model, shared by the verbs that take one.
struct TextInput: ParsableArguments {
    @Option(help: "Text to run through the model.")
    var text: String?

    @Option(help: "A UTF-8 file whose text is run through the model.")
    var textFile: String?

    /// Whether a text was given.
    var isGiven: Bool { text != nil || textFile != nil }

    /// Whether both flags were given.
    var isAmbiguous: Bool { text != nil && textFile != nil }

    /// The file read (which no output may touch).
    var inputs: [String] { [textFile].compactMap { $0 } }

    /// The text given (`--text`, or the contents of `--text-file`).
    func read() throws -> String { try text ?? readText(textFile!) }

    /// The flag that gave the text, for messages: `--text-file notes.txt` or `--text`.
    var flagDescription: String { textFile.map { "--text-file \($0)" } ?? "--text" }
}
