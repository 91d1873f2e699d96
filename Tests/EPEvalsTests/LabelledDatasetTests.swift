import Foundation
import Testing
@testable import EPEvals

/// Writes `lines` (joined with newlines) to a fresh temporary file and returns its path.
func fixture(_ lines: [String], name: String = "data.jsonl") throws -> String {
    let folder = NSTemporaryDirectory() + "epevals-\(UUID().uuidString)"
    try FileManager.default.createDirectory(atPath: folder, withIntermediateDirectories: true)
    let path = folder + "/" + name
    try (lines.joined(separator: "\n") + "\n").write(toFile: path, atomically: true, encoding: .utf8)
    return path
}

@Suite struct LabelledDatasetTests {
    @Test func readsEveryField() throws {
        let path = try fixture([
            #"{"text": "A cat.", "label": 1, "split": "train", "concept": "noun.animal", "source": "wordnet", "id": 9}"#,
            "",
            #"{"text": "A spoon.", "label": 0, "split": "test", "concept": "noun.animal"}"#,
            #"{"text": "Ein Hund.", "label": true}"#,
            "   ",
            #"{"text": "Nothing.", "label": false, "split": null}"#,
        ])
        let dataset = try LabelledDataset(contentsOf: path)
        #expect(dataset.examples.count == 4)
        #expect(dataset.skipped.isEmpty)
        let first = dataset.examples[0]
        #expect(first == LabelledExample(text: "A cat.", label: .integer(1), split: .train, concept: "noun.animal", source: "wordnet", line: 1))
        #expect(first.isPositive)
        #expect(dataset.examples[1].line == 3)
        #expect(dataset.examples[2].label == .integer(1))
        #expect(dataset.examples[3].label == .integer(0) && dataset.examples[3].split == nil)
        #expect(dataset.labels == [.integer(0), .integer(1)])
        #expect(dataset.concepts == ["noun.animal"])
        #expect(dataset.examples(in: .test).map(\.text) == ["A spoon."])
        #expect(dataset.restricted(toConcept: "noun.animal").examples.count == 2)
    }

    @Test func stringLabels() throws {
        let dataset = try LabelledDataset(data: Data("""
            {"text": "grand", "label": "positive"}
            {"text": "awful", "label": "negative"}
            """.utf8), name: "sentiment")
        #expect(dataset.labels == [.text("negative"), .text("positive")])
        #expect(dataset.labels.map(\.description) == ["negative", "positive"])
        #expect(!dataset.examples[0].isPositive)
    }

    /// Each invalid line, and the message naming its file and line.
    @Test(arguments: [
        (#"{"label": 1}"#, #"has no "text""#),
        (#"{"text": 5, "label": 1}"#, #""text" must be a string"#),
        (#"{"text": "", "label": 1}"#, #""text" is empty"#),
        (#"{"text": "x"}"#, #"has no "label""#),
        (#"{"text": "x", "label": 1.5}"#, #""label" must be an integer, a boolean or a non-empty string"#),
        (#"{"text": "x", "label": [1]}"#, #""label" must be an integer, a boolean or a non-empty string"#),
        (#"{"text": "x", "label": 1, "split": "dev"}"#, #""split" must be "train" or "test", not "dev""#),
        (#"{"text": "x", "label": 1, "concept": 3}"#, #""concept" must be a string"#),
        (#"{"text": "x", "label": "one"}"#, "label is a string but line 1 has an integer label; use one kind per file"),
        (#"["text", "label"]"#, "is not a JSON object"),
        (#"{"text": "x", "label": 1"#, "is not valid JSON"),
    ])
    func reportsFileLineAndProblem(line: String, problem: String) throws {
        let path = try fixture([#"{"text": "fine", "label": 0}"#, line, #"{"text": "also fine", "label": 1}"#])
        do {
            _ = try LabelledDataset(contentsOf: path)
            Issue.record("line \(line) was accepted")
        } catch let error as LabelledDatasetError {
            #expect(error == LabelledDatasetError(file: path, line: 2, problem: problem))
            #expect(error.description == "\(path):2: \(problem)")
        }
        let lenient = try LabelledDataset(contentsOf: path, mode: .skipInvalid)
        #expect(lenient.examples.map(\.line) == [1, 3])
        #expect(lenient.skipped == [LabelledDatasetError(file: path, line: 2, problem: problem)])
    }

    @Test func fileLevelErrors() throws {
        let missing = NSTemporaryDirectory() + "epevals-missing-\(UUID().uuidString).jsonl"
        #expect(throws: LabelledDatasetError.self) { try LabelledDataset(contentsOf: missing) }
        #expect(throws: LabelledDatasetError(file: "empty", line: nil, problem: "has no examples")) {
            try LabelledDataset(data: Data("\n\n".utf8), name: "empty")
        }
        // Only invalid lines: in skip mode the dataset is empty but says why.
        let onlyBad = try LabelledDataset(data: Data("{}\n".utf8), name: "bad", mode: .skipInvalid)
        #expect(onlyBad.examples.isEmpty && onlyBad.skipped.count == 1)
    }

    @Test func assignsSeededStratifiedSplits() throws {
        var lines: [String] = []
        for i in 0..<40 { lines.append(#"{"text": "t\#(i)", "label": \#(i % 4 == 0 ? 1 : 0), "concept": "c\#(i % 2)"}"#) }
        lines.append(#"{"text": "fixed", "label": 1, "concept": "c0", "split": "train"}"#)
        let dataset = try LabelledDataset(data: Data(lines.joined(separator: "\n").utf8), name: "concepts")
        let split = try dataset.assigningSplits(testFraction: 0.5, seed: 11)
        #expect(split.examples.allSatisfy { $0.split != nil })
        #expect(split.examples.last!.split == .train)
        #expect(split.examples.map(\.split) == (try dataset.assigningSplits(testFraction: 0.5, seed: 11)).examples.map(\.split))
        for concept in ["c0", "c1"] {
            for positive in [true, false] {
                let stratum = split.examples.dropLast().filter { $0.concept == concept && $0.isPositive == positive }
                #expect(stratum.filter { $0.split == .test }.count * 2 == stratum.count, "\(concept) \(positive)")
            }
        }
    }
}

/// The datasets that `scripts/setup.sh --datasets` builds under data/datasets/ (checked only where they exist).
@Suite struct BuiltDatasetTests {
    static let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
        .deletingLastPathComponent().appendingPathComponent("data/datasets").path

    static var files: [String] {
        let enumerator = FileManager.default.enumerator(atPath: root)
        return ((enumerator?.allObjects as? [String]) ?? []).filter { $0.hasSuffix(".jsonl") }.sorted()
    }

    @Test(.enabled(if: !files.isEmpty, "data/datasets has not been built"))
    func everyBuiltFileIsValidBinaryAndSplit() throws {
        for file in Self.files {
            let dataset = try LabelledDataset(contentsOf: Self.root + "/" + file)
            #expect(dataset.labels == [.integer(0), .integer(1)], "\(file)")
            #expect(dataset.examples.allSatisfy { $0.split != nil }, "\(file)")
            let isConceptFile = file.hasPrefix("concepts/")
            #expect(dataset.examples.allSatisfy { ($0.concept != nil) == isConceptFile }, "\(file)")
            for concept in isConceptFile ? dataset.concepts : [] {
                let task = dataset.restricted(toConcept: concept)
                for split in [Split.train, .test] {
                    let rows = task.examples(in: split)
                    #expect(rows.filter(\.isPositive).count * 2 == rows.count, "\(file) \(concept) \(split)")
                }
            }
        }
    }
}
