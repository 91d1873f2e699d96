import EPFormats
import EPTensors

/// A small corpus of prose, code and lists from a seeded generator, for builds from text in tests.
public enum SmallCorpus {
    /// Writes `documents` JSONL lines (a `text` field each) of generated prose, Python and priced lists to `path`.
    public static func write(to path: String, documents: Int = 12, seed: UInt64 = 3) throws {
        var g = SeededGenerator(seed: seed)
        let subjects = ["The river", "A small cat", "Our new compiler", "The committee", "My grandmother", "This function"]
        let verbs = ["carefully examines", "quietly returns", "never forgets", "slowly builds", "often ignores", "suddenly prints"]
        let objects = ["the old bridge", "a list of numbers", "every open question", "the red door", "its own reflection", "the morning news"]
        var lines: [String] = []
        for d in 0..<documents {
            var text = ""
            switch d % 3 {
            case 0:
                for _ in 0..<12 {
                    text += "\(subjects[g.uniform(below: 6)]) \(verbs[g.uniform(below: 6)]) \(objects[g.uniform(below: 6)]). "
                }
            case 1:
                for i in 0..<8 {
                    text += "def f\(i)(x, y):\n    total = x * \(g.uniform(below: 100)) + y\n    return total\n\n"
                }
            default:
                for i in 0..<15 { text += "- item \(i): \(objects[g.uniform(below: 6)]) costs \(g.uniform(below: 1000)) dollars\n" }
            }
            let escaped = text.replacingOccurrences(of: "\\", with: "\\\\").replacingOccurrences(of: "\"", with: "\\\"")
                .replacingOccurrences(of: "\n", with: "\\n")
            lines.append("{\"text\": \"\(escaped)\"}")
        }
        try AtomicOutput.write(string: lines.joined(separator: "\n") + "\n", to: path)
    }
}
