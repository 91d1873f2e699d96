import EPTensors

/// One binary task — a concept to detect, or two classes to probe — with training and held-out texts.
public struct BinaryTask: Sendable {
    /// The task's name: the concept, or the file's name for a file without concepts.
    public var name: String
    /// The dataset file its examples came from.
    public var source: String
    /// Training and held-out texts.
    public var train: LabelledTexts
    public var test: LabelledTexts

    public init(name: String, source: String, train: LabelledTexts, test: LabelledTexts) {
        self.name = name
        self.source = source
        self.train = train
        self.test = test
    }
}

/// The binary tasks of one or more labelled dataset files, with every distinct text listed once (so each is run
/// through the model once however many tasks use it).
///
/// A file whose examples name a `concept` gives one task per concept (its rows labelled 1 are the positives,
/// those labelled 0 the negatives); a file without concepts is one task named after the file. Labels must be the
/// integers 1 and 0 (or `true`/`false`). Examples without a `split` get a seeded stratified one
/// (``LabelledDataset/assigningSplits(testFraction:seed:)``).
public struct EvaluationData: Sendable {
    /// How much of the data to use.
    public struct Limits: Sendable {
        /// Use only the first N concepts of each file, in name order (nil: all).
        public var conceptsPerFile: Int?
        /// Keep at most N training texts of each class per task (a seeded sample; nil: all).
        public var trainPerClass: Int?
        /// Keep at most N held-out texts of each class per task (a seeded sample; nil: all).
        public var testPerClass: Int?
        /// Test fraction for examples without a split.
        public var testFraction = 1.0 / 3
        /// Seed of the splits and samples.
        public var seed: UInt64 = 0

        public init() {}
    }

    /// The distinct texts, in order of first appearance.
    public private(set) var texts: [String]
    /// The tasks, file by file, concepts in name order.
    public private(set) var tasks: [BinaryTask]

    /// Gathers the tasks of `datasets` under `limits`.
    public init(datasets: [LabelledDataset], limits: Limits = Limits()) throws {
        for (name, value) in [("concepts per file", limits.conceptsPerFile), ("training texts per class", limits.trainPerClass), ("held-out texts per class", limits.testPerClass)] {
            if let value, value <= 0 { throw EvaluationError("\(name): expected a positive number, found \(value)") }
        }
        var index: [String: Int] = [:]
        var texts: [String] = []
        var tasks: [BinaryTask] = []
        var generator = SeededGenerator(seed: limits.seed)
        for raw in datasets {
            let dataset = raw.examples.contains { $0.split == nil } ? try raw.assigningSplits(testFraction: limits.testFraction, seed: limits.seed) : raw
            if let bad = dataset.examples.first(where: { $0.label != .integer(0) && $0.label != .integer(1) }) {
                throw LabelledDatasetError(file: dataset.name, line: bad.line, problem: "label \(bad.label): a binary task needs labels 1 (positive) and 0 (negative)")
            }
            let fileName = String(dataset.name.split(separator: "/").last ?? Substring(dataset.name))
            let stem = fileName.hasSuffix(".jsonl") ? String(fileName.dropLast(6)) : fileName
            var groups: [String: [LabelledExample]] = [:]
            for example in dataset.examples { groups[example.concept ?? stem, default: []].append(example) }
            var names = groups.keys.sorted()
            if let limit = limits.conceptsPerFile { names = Array(names.prefix(limit)) }
            for name in names {
                func side(_ split: Split, _ cap: Int?) -> LabelledTexts {
                    var kept: [LabelledExample] = []
                    for positive in [true, false] {
                        var members = groups[name]!.filter { $0.split == split && $0.isPositive == positive }
                        if let cap, members.count > cap {
                            generator.shuffle(&members)
                            members = Array(members.prefix(cap)).sorted { $0.line < $1.line }
                        }
                        kept += members
                    }
                    kept.sort { $0.line < $1.line }
                    let ids = kept.map { example -> Int in
                        if let id = index[example.text] { return id }
                        index[example.text] = texts.count
                        texts.append(example.text)
                        return texts.count - 1
                    }
                    return LabelledTexts(unchecked: ids, kept.map(\.isPositive))
                }
                let train = side(.train, limits.trainPerClass), test = side(.test, limits.testPerClass)
                tasks.append(BinaryTask(name: name, source: dataset.name, train: train, test: test))
            }
        }
        guard !tasks.isEmpty else { throw EvaluationError("no tasks: the datasets hold no examples") }
        self.texts = texts
        self.tasks = tasks
    }

    /// The data without the texts `removed` (e.g. texts too short to give an activation): they leave every task,
    /// and the remaining texts are renumbered in order.
    public func dropping(_ removed: Set<Int>) -> EvaluationData {
        guard !removed.isEmpty else { return self }
        var renumbered = [Int](repeating: -1, count: texts.count)
        var kept: [String] = []
        for (i, text) in texts.enumerated() where !removed.contains(i) {
            renumbered[i] = kept.count
            kept.append(text)
        }
        func filter(_ side: LabelledTexts) -> LabelledTexts {
            let pairs = zip(side.texts, side.labels).filter { renumbered[$0.0] >= 0 }
            return LabelledTexts(unchecked: pairs.map { renumbered[$0.0] }, pairs.map(\.1))
        }
        var copy = self
        copy.texts = kept
        copy.tasks = tasks.map { BinaryTask(name: $0.name, source: $0.source, train: filter($0.train), test: filter($0.test)) }
        return copy
    }
}

extension LabelledTexts {
    /// Pairs of equal length by construction.
    init(unchecked texts: [Int], _ labels: [Bool]) {
        self.texts = texts
        self.labels = labels
    }
}
