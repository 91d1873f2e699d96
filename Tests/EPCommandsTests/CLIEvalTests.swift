import EPFormats
import EPStore
import EPTestSupport
import Foundation
import Testing

/// Labelled files for the fixture's dictionary: `concepts.jsonl` (concepts `code` and `prices`, AxBench shaped,
/// with splits) and `code-vs-prose.jsonl` (one binary task, no splits).
func writeLabelledData(_ f: TextFixture) throws {
    func code(_ i: Int) -> String { "def g\(i)(x):\\n    return x * \(i % 7 + 2) + \(i)" }
    func prices(_ i: Int) -> String { "- item \(i): the red door costs \(17 * i % 900) dollars" }
    let subjects = ["The river", "A small cat", "The committee", "My grandmother"]
    let objects = ["the old bridge", "every open question", "the morning news", "its own reflection"]
    func prose(_ i: Int) -> String { "\(subjects[i % 4]) quietly watches \(objects[(i / 4) % 4]) number \(i)." }
    func line(_ text: String, _ label: Int, _ split: String?, _ concept: String?) -> String {
        var fields = [#""text": "\#(text)""#, #""label": \#(label)"#]
        if let split { fields.append(#""split": "\#(split)""#) }
        if let concept { fields.append(#""concept": "\#(concept)""#) }
        return "{" + fields.joined(separator: ", ") + "}"
    }
    var concepts: [String] = []
    for i in 0..<9 {
        let split = i < 6 ? "train" : "test"
        concepts += [line(code(i), 1, split, "code"), line(i % 2 == 0 ? prose(i) : prices(i), 0, split, "code")]
        concepts += [line(prices(i + 20), 1, split, "prices"), line(i % 2 == 0 ? prose(i + 20) : code(i + 20), 0, split, "prices")]
    }
    try AtomicOutput.write(string: concepts.joined(separator: "\n") + "\n", to: f.folder + "/concepts.jsonl")
    let probe = (0..<15).flatMap { [line(code(40 + $0), 1, nil, nil), line(prose(40 + $0), 0, nil, nil)] }
    try AtomicOutput.write(string: probe.joined(separator: "\n") + "\n", to: f.folder + "/code-vs-prose.jsonl")
}

@Suite(.serialized) struct CLIEvalTests {
    @Test func conceptsAndProbeOnARealDictionary() throws {
        let f = try TextFixture()
        #expect(try ep(f.buildArguments(output: "d", extra: ["--max-tokens", "1500"]), in: f.folder, environment: f.environment).status == 0)
        try writeLabelledData(f)

        let concepts = try ep(["eval", "concepts", "d", "--data", "concepts.jsonl", "--data", "code-vs-prose.jsonl", "-o", "concepts.json",
                               "--markdown", "concepts.md"], in: f.folder, environment: f.environment)
        #expect(concepts.status == 0, "\(concepts.stderr)")
        #expect(concepts.stdout.contains("3 tasks") && concepts.stdout.contains("DiffMean on raw activations"))
        #expect(concepts.stdout.contains("EP region, mean direction, max-over-positions AUROC rule"))
        let json = try JSONFields(try JSONValue.read(path: f.folder + "/concepts.json"), path: "concepts.json")
        #expect(try json.string("format") == "ep-eval-concepts")
        let methods = try json.array("methods")
        #expect(methods.count == 8)
        for case .object(let m) in methods {
            guard case .number(let auroc) = m["mean_auroc"] else { Issue.record("no mean AUROC in \(m)"); continue }
            #expect(auroc >= 0 && auroc <= 1)
        }
        let perConcept = try json.array("concepts")
        #expect(perConcept.count == 3)
        guard case .object(let code) = perConcept.first, case .object(let scores) = code["scores"], case .object(let probeScore) = scores["probe"] else {
            Issue.record("no probe score for the first concept"); return
        }
        #expect(code["concept"] == .string("code") && code["n_test_positive"] == .integer(3) && probeScore["converged"] == .bool(true))
        let markdown = try String(contentsOfFile: f.folder + "/concepts.md", encoding: .utf8)
        #expect(markdown.contains("| detector | mean AUROC |") && markdown.contains("| code | concepts |"))

        let probe = try ep(["eval", "probe", "d", "--data", "code-vs-prose.jsonl", "--data", "concepts.jsonl", "--k", "1,2", "--json"],
                           in: f.folder, environment: f.environment)
        #expect(probe.status == 0, "\(probe.stderr)")
        let p = try JSONFields(try JSONValue.parse(Array(probe.stdout.utf8), path: "stdout"), path: "stdout")
        let tasks = try p.array("tasks")
        #expect(tasks.count == 3)
        guard case .object(let first) = tasks.first, case .array(let sets) = first["feature_sets"], case .object(let retention) = first["retention"] else {
            Issue.record("no feature sets"); return
        }
        #expect(first["task"] == .string("code-vs-prose") && sets.count == 5 && retention["exemplar"] != nil && retention["mean"] != nil)
        let table = try ep(["eval", "probe", "d", "--data", "code-vs-prose.jsonl"], in: f.folder, environment: f.environment)
        #expect(table.status == 0 && table.stdout.contains("one-hot top-1") && table.stdout.contains("retention") && table.stdout.contains("signed top-5"))

        let noData = try ep(["eval", "concepts", "d"], in: f.folder, environment: f.environment)
        #expect(noData.status != 0 && noData.stderr.contains("--data"))
        let badCap = try ep(["eval", "probe", "d", "--data", "concepts.jsonl", "--max-train", "0"], in: f.folder, environment: f.environment)
        #expect(badCap.status != 0 && badCap.stderr.contains("--max-train: expected a positive number"))
        try AtomicOutput.write(string: #"{"text": "one class", "label": "food"}"# + "\n", to: f.folder + "/single.jsonl")
        let single = try ep(["eval", "concepts", "d", "--data", "single.jsonl"], in: f.folder, environment: f.environment)
        #expect(single.status != 0 && single.stderr.contains("single.jsonl:1: label food is the only class: a one-vs-rest task needs at least two"))
        #expect(!listing(f.folder).contains { $0.hasPrefix(".") && $0.contains("concepts") }, "no temporary output left behind")
    }

    /// A multi-class file ({"text", "label": "code" | "prices" | "prose"}) gives one one-vs-rest task per class in
    /// both verbs, named label=CLASS; a class without held-out examples is left out with a note.
    @Test func multiClassLabelsGiveOneVsRestTasks() throws {
        let f = try TextFixture()
        #expect(try ep(f.buildArguments(output: "d", extra: ["--max-tokens", "1500"]), in: f.folder, environment: f.environment).status == 0)
        func code(_ i: Int) -> String { "def g\(i)(x):\\n    return x * \(i % 7 + 2) + \(i)" }
        func prices(_ i: Int) -> String { "- item \(i): the red door costs \(17 * i % 900) dollars" }
        func prose(_ i: Int) -> String { "My grandmother quietly watches the old bridge number \(i)." }
        var lines: [String] = []
        for i in 0..<9 {
            let split = i < 6 ? "train" : "test"
            for (label, text) in [("code", code(i)), ("prices", prices(i)), ("prose", prose(i))] {
                lines.append(#"{"text": "\#(text)", "label": "\#(label)", "split": "\#(split)"}"#)
            }
        }
        lines.append(#"{"text": "Roses are red, violets are blue.", "label": "poem", "split": "train"}"#)
        try AtomicOutput.write(string: lines.joined(separator: "\n") + "\n", to: f.folder + "/kinds.jsonl")

        let concepts = try ep(["eval", "concepts", "d", "--data", "kinds.jsonl", "-o", "kinds.json"], in: f.folder, environment: f.environment)
        #expect(concepts.status == 0, "\(concepts.stderr)")
        #expect(concepts.stdout.contains("3 tasks") && concepts.stdout.contains("label=prices"))
        #expect(concepts.stderr.contains("note: kinds.jsonl: class 'poem' left out: 1 training and 0 held-out examples"))
        let json = try JSONFields(try JSONValue.read(path: f.folder + "/kinds.json"), path: "kinds.json")
        var names: [String] = []
        for case .object(let c) in try json.array("concepts") {
            if case .string(let name) = c["concept"] { names.append(name) }
            #expect(c["n_train_positive"] == .integer(6) && c["n_train_negative"] == .integer(13))
            #expect(c["n_test_positive"] == .integer(3) && c["n_test_negative"] == .integer(6))
        }
        #expect(names == ["label=code", "label=prices", "label=prose"])

        let probe = try ep(["eval", "probe", "d", "--data", "kinds.jsonl", "--max-train", "4", "--k", "1", "--json"], in: f.folder, environment: f.environment)
        #expect(probe.status == 0, "\(probe.stderr)")
        let p = try JSONFields(try JSONValue.parse(Array(probe.stdout.utf8), path: "stdout"), path: "stdout")
        var probed: [String] = []
        for case .object(let t) in try p.array("tasks") {
            if case .string(let name) = t["task"] { probed.append(name) }
            #expect(t["n_train_positive"] == .integer(4) && t["n_train_negative"] == .integer(4) && t["n_test_negative"] == .integer(6))
        }
        #expect(probed == ["label=code", "label=prices", "label=prose"])
    }

    @Test func stabilityAndSaturationOfRealDictionaries() throws {
        let f = try TextFixture()
        #expect(try ep(f.buildArguments(output: "d", extra: ["--max-tokens", "1500"]), in: f.folder, environment: f.environment).status == 0)
        #expect(try ep(f.buildArguments(output: "e", extra: ["--max-tokens", "1500", "--seed", "12"]), in: f.folder, environment: f.environment).status == 0)

        let same = try ep(["eval", "stability", "d", "d", "--json"], in: f.folder, environment: f.environment)
        #expect(same.status == 0, "\(same.stderr)")
        let s = try JSONFields(try JSONValue.parse(Array(same.stdout.utf8), path: "stdout"), path: "stdout")
        #expect(try s.double("mean_share_within_threshold") == 1, "a dictionary matches itself region for region")
        let seeds = try ep(["eval", "stability", "d", "e", "--basis", "exemplar", "--markdown", "stability.md"], in: f.folder, environment: f.environment)
        #expect(seeds.status == 0, "\(seeds.stderr)")
        #expect(seeds.stdout.contains("d ↔ e") && seeds.stdout.contains("log10(members·coherence²)") && seeds.stdout.contains("Spearman"))
        #expect(FileManager.default.fileExists(atPath: f.folder + "/stability.md"))
        let one = try ep(["eval", "stability", "d"], in: f.folder, environment: f.environment)
        #expect(one.status != 0 && one.stderr.contains("at least two dictionaries"))

        let saturation = try ep(["eval", "saturation", "d", "--domain", "prose=corpus.jsonl", "--calibration-from", "d", "--builds", "domains",
                                 "--max-tokens", "700", "--batch-windows", "2", "--saturation-window", "0", "-o", "saturation.json"],
                                in: f.folder, environment: f.environment)
        #expect(saturation.status == 0, "\(saturation.stderr)")
        #expect(saturation.stdout.contains("growth exponent") && saturation.stdout.contains("prose"))
        let j = try JSONFields(try JSONValue.read(path: f.folder + "/saturation.json"), path: "saturation.json")
        let curves = try j.array("curves")
        guard curves.count == 2, case .object(let built) = curves[0], case .object(let domain) = curves[1], case .array(let points) = domain["points"] else {
            Issue.record("expected two curves with points"); return
        }
        #expect(domain["threshold"] == built["threshold"], "the domain build shares the reference's θ")
        #expect(points.count >= 3)
        #expect(try DictionaryStore.readManifest(f.folder + "/domains/prose").build.text != nil)
        let noCalibration = try ep(["eval", "saturation", "--domain", "corpus.jsonl", "--builds", "x"], in: f.folder, environment: f.environment)
        #expect(noCalibration.status != 0 && noCalibration.stderr.contains("--calibration-from"))
    }
}
