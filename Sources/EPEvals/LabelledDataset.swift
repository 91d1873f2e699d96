import EPFormats
import Foundation

/// A labelled text dataset read from JSON Lines: one JSON object per line,
///
/// ```
/// {"text": "The cat sat.", "label": 1, "split": "train", "concept": "noun.animal", "source": "wordnet"}
/// ```
///
/// * `text` (required): a non-empty string.
/// * `label` (required): an integer or a string; `true`/`false` are read as 1/0. All labels in a file are of one
///   kind (integers or strings). Binary tasks use 1 = positive, 0 = negative.
/// * `split` (optional): `"train"` or `"test"`; examples without one can be given a seeded stratified split with
///   ``assigningSplits(testFraction:seed:)``.
/// * `concept` (optional): the concept a binary example belongs to, for files holding many concept tasks
///   (AxBench style: each concept's positives and its negatives drawn from other concepts).
/// * `source` (optional): where the text came from.
///
/// Other keys are allowed and ignored. Blank lines are skipped. Every other line is validated; in
/// ``Mode/strict`` mode the first invalid line throws a ``LabelledDatasetError`` naming the file, the line number
/// and what is wrong, and in ``Mode/skipInvalid`` mode invalid lines are left out and listed in ``skipped``.
public struct LabelledDataset: Sendable {
    /// How invalid lines are treated.
    public enum Mode: Sendable {
        /// Throw at the first invalid line.
        case strict
        /// Leave invalid lines out and record them in ``LabelledDataset/skipped``.
        case skipInvalid
    }

    /// The name used in messages (the file's path when read from a file).
    public let name: String
    /// The valid examples, in file order.
    public let examples: [LabelledExample]
    /// The invalid lines left out in ``Mode/skipInvalid`` mode (empty in strict mode).
    public let skipped: [LabelledDatasetError]

    /// Reads and validates the JSONL file at `path`.
    public init(contentsOf path: String, mode: Mode = .strict) throws {
        let data: Data
        do {
            data = try Data(contentsOf: URL(fileURLWithPath: path))
        } catch {
            throw LabelledDatasetError(file: path, line: nil, problem: "cannot be read (\(error.localizedDescription))")
        }
        try self.init(data: data, name: path, mode: mode)
    }

    /// Parses and validates JSONL `data`; `name` stands for the file in messages.
    public init(data: Data, name: String, mode: Mode = .strict) throws {
        var examples: [LabelledExample] = []
        var skipped: [LabelledDatasetError] = []
        var labelKind: (isText: Bool, line: Int)?
        var lineNumber = 0
        var start = data.startIndex
        while start < data.endIndex {
            lineNumber += 1
            let end = data[start...].firstIndex(of: UInt8(ascii: "\n")) ?? data.endIndex
            let line = data[start..<end]
            start = end < data.endIndex ? end + 1 : end
            if line.allSatisfy({ $0 == 0x20 || $0 == 0x09 || $0 == 0x0D }) { continue }
            do {
                let example = try Self.parse(line, lineNumber: lineNumber)
                let isText = if case .text = example.label { true } else { false }
                if let kind = labelKind, kind.isText != isText {
                    throw LineProblem(
                        "label is \(isText ? "a string" : "an integer") but line \(kind.line) has \(kind.isText ? "a string" : "an integer") label; use one kind per file")
                }
                if labelKind == nil { labelKind = (isText, lineNumber) }
                examples.append(example)
            } catch let problem as LineProblem {
                let error = LabelledDatasetError(file: name, line: lineNumber, problem: problem.message)
                if mode == .strict { throw error }
                skipped.append(error)
            }
        }
        if examples.isEmpty && skipped.isEmpty {
            throw LabelledDatasetError(file: name, line: nil, problem: "has no examples")
        }
        self.name = name
        self.examples = examples
        self.skipped = skipped
    }

    private init(name: String, examples: [LabelledExample], skipped: [LabelledDatasetError]) {
        self.name = name
        self.examples = examples
        self.skipped = skipped
    }

    /// The distinct labels, ascending.
    public var labels: [Label] { Array(Set(examples.map(\.label))).sorted() }

    /// The distinct concepts named by examples, ascending.
    public var concepts: [String] { Array(Set(examples.compactMap(\.concept))).sorted() }

    /// The examples of one split.
    public func examples(in split: Split) -> [LabelledExample] { examples.filter { $0.split == split } }

    /// The dataset restricted to one concept's examples.
    public func restricted(toConcept concept: String) -> LabelledDataset {
        LabelledDataset(name: name, examples: examples.filter { $0.concept == concept }, skipped: [])
    }

    /// A copy in which examples without a split get one: a ``StratifiedSplit`` of those examples, stratified by
    /// (concept, label), with the given test fraction and seed. Examples that already have a split keep it.
    public func assigningSplits(testFraction: Double, seed: UInt64) throws -> LabelledDataset {
        let unassigned = examples.indices.filter { examples[$0].split == nil }
        let strata = unassigned.map { StratumKey(concept: examples[$0].concept, label: examples[$0].label) }
        let split = try StratifiedSplit(labels: strata, testFraction: testFraction, seed: seed)
        var updated = examples
        for position in split.train { updated[unassigned[position]].split = .train }
        for position in split.test { updated[unassigned[position]].split = .test }
        return LabelledDataset(name: name, examples: updated, skipped: skipped)
    }

    private struct StratumKey: Hashable {
        let concept: String?
        let label: Label
    }

    private struct LineProblem: Error {
        let message: String
        init(_ message: String) { self.message = message }
    }

    private enum Key: String, CodingKey {
        case text, label, split, concept, source
    }

    /// Decodes one line into an example, or throws a ``LineProblem`` saying what is wrong.
    private static func parse(_ line: Data, lineNumber: Int) throws -> LabelledExample {
        let value: JSONValue
        do { value = try JSONValue.parse(Array(line), path: "line \(lineNumber)") } catch { throw LineProblem("is not valid JSON") }
        guard case .object = value else { throw LineProblem("is not a JSON object") }
        let raw: RawLine
        do {
            raw = try JSONValueDecoder().decode(RawLine.self, from: value, path: "line \(lineNumber)")
        } catch let problem as LineProblem {
            throw problem
        } catch {
            throw LineProblem("is not valid JSON")
        }
        return LabelledExample(text: raw.text, label: raw.label, split: raw.split, concept: raw.concept, source: raw.source, line: lineNumber)
    }

    private struct RawLine: Decodable {
        let text: String
        let label: Label
        let split: Split?
        let concept: String?
        let source: String?

        init(from decoder: Decoder) throws {
            let container = try decoder.container(keyedBy: Key.self)
            guard container.contains(.text) else { throw LineProblem("has no \"text\"") }
            guard let text = try? container.decode(String.self, forKey: .text) else { throw LineProblem("\"text\" must be a string") }
            guard !text.isEmpty else { throw LineProblem("\"text\" is empty") }
            self.text = text
            guard container.contains(.label) else { throw LineProblem("has no \"label\"") }
            if let value = try? container.decode(Int.self, forKey: .label) {
                label = .integer(value)
            } else if let value = try? container.decode(Bool.self, forKey: .label) {
                label = .integer(value ? 1 : 0)
            } else if let value = try? container.decode(String.self, forKey: .label), !value.isEmpty {
                label = .text(value)
            } else {
                throw LineProblem("\"label\" must be an integer, a boolean or a non-empty string")
            }
            split = try Self.optionalString(container, .split).map { value in
                guard let split = Split(rawValue: value) else { throw LineProblem("\"split\" must be \"train\" or \"test\", not \"\(value)\"") }
                return split
            }
            concept = try Self.optionalString(container, .concept)
            source = try Self.optionalString(container, .source)
        }

        private static func optionalString(_ container: KeyedDecodingContainer<Key>, _ key: Key) throws -> String? {
            guard container.contains(key), (try? container.decodeNil(forKey: key)) != true else { return nil }
            guard let value = try? container.decode(String.self, forKey: key) else {
                throw LineProblem("\"\(key.rawValue)\" must be a string")
            }
            return value
        }
    }
}

/// One labelled text.
public struct LabelledExample: Sendable, Equatable {
    /// The text.
    public var text: String
    /// Its label.
    public var label: Label
    /// Its split, when the file gave one (or ``LabelledDataset/assigningSplits(testFraction:seed:)`` assigned it).
    public var split: Split?
    /// The concept this example's label refers to, when the file holds several concept tasks.
    public var concept: String?
    /// Where the text came from.
    public var source: String?
    /// The 1-based line of the file it was read from.
    public var line: Int

    /// Whether the label is the positive class of a binary task (the integer 1).
    public var isPositive: Bool { label == .integer(1) }
}

/// A label: an integer (binary tasks use 1 and 0) or a class name.
public enum Label: Hashable, Comparable, Sendable, CustomStringConvertible {
    /// An integer label.
    case integer(Int)
    /// A string label.
    case text(String)

    public var description: String {
        switch self {
        case let .integer(value): return String(value)
        case let .text(value): return value
        }
    }
}

/// The part of a dataset an example belongs to.
public enum Split: String, Sendable {
    /// Used to fit or select a detector.
    case train
    /// Held out for scoring.
    case test
}

/// An invalid dataset file or line: names the file, the 1-based line (when the problem is on one) and what is
/// wrong, e.g. `data/sentiment.jsonl:12: "label" must be an integer, a boolean or a non-empty string`.
public struct LabelledDatasetError: Error, Equatable, Sendable, CustomStringConvertible {
    /// The file (or the name given for in-memory data).
    public let file: String
    /// The 1-based line number, or nil for a problem with the whole file.
    public let line: Int?
    /// What is wrong.
    public let problem: String

    public var description: String {
        if let line { return "\(file):\(line): \(problem)" }
        return "\(file): \(problem)"
    }
}
