import EPTensors
import Foundation
import Testing
@testable import EPEvals

/// The evaluation protocols recomputed with numpy, scikit-learn and SciPy (scripts/oracle/make_eval_goldens.py).
struct MethodsGolden: Decodable {
    struct Ragged: Decodable {
        let rows: [[Double]]
        let offsets: [Int]
        let labels: [Bool]
        let train: [Int]
        let test: [Int]
        let center: [Double]
        let basis: [[Double]]

        func activations() throws -> TextActivations {
            try TextActivations(rows: Matrix(rowArrays: rows.map { $0.map(Float.init) }), offsets: offsets)
        }

        func readout(_ activations: TextActivations) throws -> BasisReadout {
            try BasisReadout(name: "b", center: center.map(Float.init), directions: Matrix(rowArrays: basis.map { $0.map(Float.init) }), activations: activations)
        }

        func task() throws -> BinaryTask {
            BinaryTask(
                name: "golden", source: "methods.json", train: try LabelledTexts(texts: train, labels: train.map { labels[$0] }),
                test: try LabelledTexts(texts: test, labels: test.map { labels[$0] }))
        }
    }

    struct Concept: Decodable {
        let data: Ragged
        let contrast: [Double]
        let train_auroc: [Double]
        let selected: [String: Int]
        let test_auroc: [String: Double]
        let diffmean_test_auroc: Double
        let probe_test_auroc: Double

        init(from decoder: Decoder) throws {
            data = try Ragged(from: decoder)
            let c = try decoder.container(keyedBy: Keys.self)
            contrast = try c.decode([Double].self, forKey: .contrast)
            train_auroc = try c.decode([Double].self, forKey: .train_auroc)
            selected = try c.decode([String: Int].self, forKey: .selected)
            test_auroc = try c.decode([String: Double].self, forKey: .test_auroc)
            diffmean_test_auroc = try c.decode(Double.self, forKey: .diffmean_test_auroc)
            probe_test_auroc = try c.decode(Double.self, forKey: .probe_test_auroc)
        }

        enum Keys: String, CodingKey { case contrast, train_auroc, selected, test_auroc, diffmean_test_auroc, probe_test_auroc }
    }

    struct Probing: Decodable {
        struct TopK: Decodable {
            let k: Int
            let features: [Int]
            let accuracy: Double
        }
        struct FeatureSet: Decodable {
            let all: Double
            let top_k: [TopK]
        }
        let data: Ragged
        let features: [String: FeatureSet]

        init(from decoder: Decoder) throws {
            data = try Ragged(from: decoder)
            features = try decoder.container(keyedBy: Keys.self).decode([String: FeatureSet].self, forKey: .features)
        }

        enum Keys: String, CodingKey { case features }
    }

    struct Correlations: Decodable {
        let x: [Double]
        let y: [Double]
        let spearman: Double
        let pearson: Double
    }

    let concept: Concept
    let probing: Probing
    let correlation: Correlations
}

@Suite struct MethodsGoldenTests {
    let golden: MethodsGolden

    init() throws { golden = try Goldens.load("methods", as: MethodsGolden.self) }

    @Test func regionSelectionAndConceptDetectionMatchScikitLearn() throws {
        let g = golden.concept
        let activations = try g.data.activations()
        let basis = try g.data.readout(activations)
        let task = try g.data.task()
        // Cosines are read in Float (as activations are stored): contrasts agree to Float rounding, and every
        // AUROC, which depends only on the order of the scores, exactly.
        #expect(maxRelativeDifference(try RegionSelection.contrasts(basis, task.train), g.contrast) <= 1e-6)
        #expect(maxRelativeDifference(try RegionSelection.trainingAUROCs(basis, task.train), g.train_auroc) <= 1e-12)
        let report = try ConceptDetection.run(activations, tasks: [task], bases: [basis])
        let outcome = try #require(report.concepts.first)
        for rule in SelectionRule.allCases {
            let score = try #require(outcome.score(.region(basis: "b", rule: rule)))
            #expect(score.region == g.selected[rule.rawValue], "\(rule)")
            #expect(abs(score.auroc - g.test_auroc[rule.rawValue]!) <= 1e-6, "\(rule): \(score.auroc)")
        }
        #expect(abs(try #require(outcome.score(.diffMean)).auroc - g.diffmean_test_auroc) <= 1e-6)
        let probe = try #require(outcome.score(.probe))
        #expect(probe.convergence?.converged == true)
        #expect(abs(probe.auroc - g.probe_test_auroc) <= 1e-6, "probe \(probe.auroc) vs \(g.probe_test_auroc)")
        #expect(report.methods == ConceptDetection.methods(bases: ["b"]))
        #expect(report.meanAUROC(.probe) == probe.auroc)
    }

    @Test func sparseProbingMatchesScikitLearn() throws {
        let g = golden.probing
        let activations = try g.data.activations()
        let basis = try g.data.readout(activations)
        var options = SparseProbing.Options()
        options.ks = [1, 2]
        let outcome = try #require(try SparseProbing.run(activations, tasks: [try g.data.task()], bases: [basis], options: options).first)
        for (name, expected) in g.features {
            let kind = try #require(ProbeFeatureKind(rawValue: name))
            let set = try #require(outcome.features(kind, basis: kind == .raw ? nil : "b"))
            #expect(abs(set.all - expected.all) <= 1e-3, "\(name): all features \(set.all) vs \(expected.all)")
            for t in expected.top_k {
                let mine = try #require(set.topK.first { $0.k == t.k })
                #expect(mine.features == t.features, "\(name) top-\(t.k)")
                #expect(abs(mine.accuracy - t.accuracy) <= 1e-3, "\(name) top-\(t.k): \(mine.accuracy) vs \(t.accuracy)")
            }
        }
        let retention = try #require(outcome.retention(basis: "b"))
        #expect(abs(retention - g.features["one-hot"]!.all / g.features["raw"]!.all) <= 1e-3)
    }

    @Test func correlationsMatchSciPy() throws {
        let g = golden.correlation
        #expect(abs(try Correlation.spearman(g.x, g.y) - g.spearman) <= 1e-12)
        #expect(abs(try Correlation.pearson(g.x, g.y) - g.pearson) <= 1e-12)
        #expect(Correlation.ranks([3, 1, 3, 2]) == [3.5, 1, 3.5, 2])
        #expect(try Correlation.pearson([1, 1, 1], [1, 2, 3]).isNaN)
        #expect(throws: EvaluationError.self) { try Correlation.spearman([1, 2], [1]) }
    }
}

@Suite struct EvaluationDataTests {
    /// Two texts per position: row values make each text's positions easy to tell apart.
    func activations(_ lengths: [Int], width: Int = 3) throws -> TextActivations {
        var rows: [[Float]] = []
        var offsets = [0]
        for (t, n) in lengths.enumerated() {
            for p in 0..<n { rows.append((0..<width).map { Float(t * 10 + p) + Float($0) / 10 }) }
            offsets.append(rows.count)
        }
        return try TextActivations(rows: Matrix(rowArrays: rows), offsets: offsets)
    }

    @Test func textActivationsPoolAndStack() throws {
        let a = try activations([2, 3, 1])
        #expect(a.count == 3 && a.positions(of: 1) == 2..<5)
        #expect(a.meanPooled([1, 0]).row(0) == [11, 11.1, 11.2])
        let (rows, owners) = a.stackedRows([2, 0])
        #expect(rows.rows == 3 && owners == [0, 1, 1] && rows.row(0) == [20, 20.1, 20.2])
        #expect(TextActivations.maximum(of: [1, 5, 2], owners: [0, 1, 1], groups: 2) == [1, 5])
        #expect(throws: EvaluationError.self) { try TextActivations(rows: Matrix(rows: 2, columns: 1), offsets: [0, 2, 2]) }
        #expect(throws: EvaluationError.self) { try TextActivations(rows: Matrix(rows: 2, columns: 1), offsets: [0, 1]) }
    }

    @Test func basisReadoutSumsMaximaAndNearest() throws {
        let a = try TextActivations(rows: Matrix(rowArrays: [[2, 0], [0, 3], [-1, -1]]), offsets: [0, 2, 3])
        let b = try BasisReadout(name: "b", center: [0, 0], directions: Matrix(rowArrays: [[1, 0], [0, 1]]), activations: a)
        #expect(b.sums == [1, 1, -Float(0.5).squareRoot(), -Float(0.5).squareRoot()])
        #expect(b.maxima == [1, 1, -Float(0.5).squareRoot(), -Float(0.5).squareRoot()])
        #expect(b.nearest == [0, 1, 0], "ties go to the first direction")
        #expect(b.oneHotMeans([0, 1], activations: a).storage == [0.5, 0.5, 1, 0])
        #expect(b.signed(Matrix(rowArrays: [[2, -1]])).storage == [2, -1])
    }

    @Test func tasksFromConceptAndPlainFiles() throws {
        let concepts = try fixture([
            #"{"text": "a cat", "label": 1, "split": "train", "concept": "animal"}"#,
            #"{"text": "a dog", "label": 1, "split": "test", "concept": "animal"}"#,
            #"{"text": "a spoon", "label": 0, "split": "train", "concept": "animal"}"#,
            #"{"text": "a fork", "label": 0, "split": "test", "concept": "animal"}"#,
            #"{"text": "a spoon", "label": 1, "split": "train", "concept": "tool"}"#,
            #"{"text": "a fork", "label": 1, "split": "test", "concept": "tool"}"#,
            #"{"text": "a cat", "label": 0, "split": "train", "concept": "tool"}"#,
            #"{"text": "a dog", "label": 0, "split": "test", "concept": "tool"}"#,
        ], name: "things.jsonl")
        let plain = try fixture((0..<12).map { #"{"text": "text \#($0)", "label": \#($0 % 2)}"# }, name: "parity.jsonl")
        let data = try EvaluationData(datasets: [try LabelledDataset(contentsOf: concepts), try LabelledDataset(contentsOf: plain)])
        #expect(data.tasks.map(\.name) == ["animal", "tool", "parity"])
        #expect(data.texts.count == 4 + 12, "a text shared by two concepts is listed once")
        let tool = data.tasks[1]
        #expect(tool.train.texts.map { data.texts[$0] } == ["a spoon", "a cat"] && tool.train.labels == [true, false])
        let parity = data.tasks[2]
        #expect(parity.test.texts.count == 4 && parity.train.texts.count == 8, "a seeded third of each class is held out")
        #expect(parity.test.positives == 2)

        var limits = EvaluationData.Limits()
        limits.conceptsPerFile = 1
        limits.trainPerClass = 2
        let capped = try EvaluationData(datasets: [try LabelledDataset(contentsOf: concepts), try LabelledDataset(contentsOf: plain)], limits: limits)
        #expect(capped.tasks.map(\.name) == ["animal", "parity"])
        #expect(capped.tasks[1].train.positives == 2 && capped.tasks[1].train.negatives == 2)
        let alone = try EvaluationData(datasets: [try LabelledDataset(contentsOf: plain)], limits: limits)
        #expect(alone.tasks[0].train.texts.map { alone.texts[$0] } == capped.tasks[1].train.texts.map { capped.texts[$0] },
                "the same seed samples the same texts")

        let dropped = data.dropping([0])
        #expect(dropped.texts.count == 15 && dropped.tasks[0].train.texts == [0] && dropped.tasks[0].train.labels == [false])
        #expect(dropped.texts[0] == "a spoon")

        let single = try fixture([#"{"text": "x", "label": "food"}"#, #"{"text": "y", "label": "food"}"#])
        #expect {
            try EvaluationData(datasets: [try LabelledDataset(contentsOf: single)])
        } throws: {
            ($0 as? LabelledDatasetError)?.description
                == "\(single):1: label food is the only class: a one-vs-rest task needs at least two (a binary file uses labels 1 and 0)"
        }
    }

    /// Multi-class files: one one-vs-rest task per class (positives: the class; negatives: every other class),
    /// named label=CLASS, classes in label order; a class without both sides in both splits is left out and listed.
    @Test func multiClassFilesGiveOneVsRestTasks() throws {
        var lines: [String] = []
        for (label, count) in [("food", 6), ("animal", 5), ("tool", 4)] {
            for i in 0..<count { lines.append(#"{"text": "\#(label) \#(i)", "label": "\#(label)", "split": "\#(i < 2 ? "test" : "train")"}"#) }
        }
        lines.append(#"{"text": "tea 0", "label": "drink", "split": "train"}"#)
        let file = try fixture(lines, name: "classes.jsonl")
        let plain = try fixture((0..<12).map { #"{"text": "text \#($0)", "label": \#($0 % 2)}"# }, name: "parity.jsonl")
        let data = try EvaluationData(datasets: [try LabelledDataset(contentsOf: file), try LabelledDataset(contentsOf: plain)])
        #expect(data.tasks.map(\.name) == ["label=animal", "label=food", "label=tool", "parity"])
        #expect(data.tasks[0].source == file && data.tasks[3].source == plain)
        #expect(data.texts.count == 16 + 12, "every text listed once, however many tasks it is in")
        let food = data.tasks[1]
        #expect(food.train.positives == 4 && food.train.negatives == 3 + 2 + 1 && food.test.positives == 2 && food.test.negatives == 4)
        #expect(food.train.texts.map { data.texts[$0] }.filter { $0.hasPrefix("food") } == ["food 2", "food 3", "food 4", "food 5"])
        #expect(zip(food.test.texts, food.test.labels).allSatisfy { data.texts[$0.0].hasPrefix("food") == $0.1 })
        #expect(data.leftOut == [
            "\(file): class 'drink' left out: 1 training and 0 held-out examples against 9 and 6 of the other classes "
                + "(a one-vs-rest task needs both sides in both splits)",
        ])
        // The binary file beside it gives the very task it gives alone.
        let alone = try EvaluationData(datasets: [try LabelledDataset(contentsOf: plain)])
        #expect(data.tasks[3].train.texts.map { data.texts[$0] } == alone.tasks[0].train.texts.map { alone.texts[$0] })
        #expect(data.tasks[3].train.labels == alone.tasks[0].train.labels && data.tasks[3].test.labels == alone.tasks[0].test.labels)
        #expect(alone.leftOut.isEmpty)

        // Caps keep at most N positives and N negatives (a seeded sample of the other classes).
        var limits = EvaluationData.Limits()
        limits.trainPerClass = 2
        limits.testPerClass = 1
        let capped = try EvaluationData(datasets: [try LabelledDataset(contentsOf: file)], limits: limits)
        #expect(capped.tasks.allSatisfy { $0.train.positives == 2 && $0.train.negatives == 2 && $0.test.positives == 1 && $0.test.negatives == 1 })

        // Integer classes other than 0/1, concepts with classes, split assigned by class, and no usable class.
        let numbers = try fixture((0..<18).map { #"{"text": "n \#($0)", "label": \#($0 % 3), "concept": "digits"}"# }, name: "numbers.jsonl")
        let digits = try EvaluationData(datasets: [try LabelledDataset(contentsOf: numbers)])
        #expect(digits.tasks.map(\.name) == ["digits label=0", "digits label=1", "digits label=2"])
        #expect(digits.tasks.allSatisfy { $0.train.positives == 4 && $0.test.positives == 2 && $0.train.negatives == 8 && $0.test.negatives == 4 })
        let unusable = try fixture([#"{"text": "a", "label": "x", "split": "train"}"#, #"{"text": "b", "label": "y", "split": "train"}"#])
        #expect {
            try EvaluationData(datasets: [try LabelledDataset(contentsOf: unusable)])
        } throws: {
            ($0 as? LabelledDatasetError)?.description == "\(unusable): no class gives a one-vs-rest task: \(unusable): class 'y' left out: "
                + "1 training and 0 held-out examples against 1 and 0 of the other classes (a one-vs-rest task needs both sides in both splits)"
        }
    }

    @Test func conceptDetectionNeedsBothClassesAndSeedsRandomRegions() throws {
        let a = try activations([2, 2, 2, 2])
        let b = try BasisReadout(name: "b", center: [0, 0, 0], directions: Matrix(rowArrays: [[1, 0, 0], [0, 1, 0], [0, 0, 1]]), activations: a)
        let task = BinaryTask(name: "c", source: "s", train: try LabelledTexts(texts: [0, 1], labels: [true, false]), test: try LabelledTexts(texts: [2, 3], labels: [true, true]))
        #expect {
            try ConceptDetection.run(a, tasks: [task], bases: [b])
        } throws: { "\($0)" == "concept c (s): needs positive and negative held-out texts, got 2 and 0" }
        var good = task
        good.test = try LabelledTexts(texts: [2, 3], labels: [false, true])
        let first = try ConceptDetection.run(a, tasks: [good, good], bases: [b])
        let again = try ConceptDetection.run(a, tasks: [good, good], bases: [b])
        #expect(first.concepts.map { $0.score(.randomRegion(basis: "b"))?.region } == again.concepts.map { $0.score(.randomRegion(basis: "b"))?.region })
        #expect(SparseProbing.topFeatures(Matrix(rowArrays: [[1, 5, 5], [0, 0, 0]]), labels: [true, false], k: 2) == [1, 2])
    }
}
