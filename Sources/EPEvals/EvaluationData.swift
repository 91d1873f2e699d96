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
/// A file whose examples name a `concept` gives one group of examples per concept; a file without concepts is one
/// group named after the file. A group whose labels are all the integers 1 and 0 (or `true`/`false`) is one binary
/// task named after the group (1 the positives, 0 the negatives). Any other group is multi-class (string labels, or
/// integers other than 0 and 1) and gives one one-vs-rest task per class, as SAEBench builds its probing tasks: the
/// class's examples are the positives and every example of the group's other classes a negative (the per-class caps
/// of ``Limits`` then keep at most as many negatives as positives). Such a task is named `label=CLASS` (`CONCEPT
/// label=CLASS` in a file with concepts); a class that would lack training or held-out positives or negatives is
/// left out and listed in ``leftOut``. Examples without a `split` get a seeded stratified one
/// (``LabelledDataset/assigningSplits(testFraction:seed:)``, stratified by label), so a text is in the same split
/// for every task it belongs to.
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
    /// The tasks, file by file, concepts in name order (the classes of a multi-class group in label order).
    public private(set) var tasks: [BinaryTask]
    /// The classes of multi-class groups that gave no task, each with the reason, e.g. `data.jsonl: class 'tea'
    /// left out: 2 training and 0 held-out examples against 30 and 12 of the other classes (…)`.
    public private(set) var leftOut: [String]

    /// Gathers the tasks of `datasets` under `limits`.
    public init(datasets: [LabelledDataset], limits: Limits = Limits()) throws {
        for (name, value) in [("concepts per file", limits.conceptsPerFile), ("training texts per class", limits.trainPerClass), ("held-out texts per class", limits.testPerClass)] {
            if let value, value <= 0 { throw EvaluationError("\(name): expected a positive number, found \(value)") }
        }
        var index: [String: Int] = [:]
        var texts: [String] = []
        var tasks: [BinaryTask] = []
        var leftOut: [String] = []
        var generator = SeededGenerator(seed: limits.seed)
        for raw in datasets {
            let dataset = raw.examples.contains { $0.split == nil } ? try raw.assigningSplits(testFraction: limits.testFraction, seed: limits.seed) : raw
            let fileName = String(dataset.name.split(separator: "/").last ?? Substring(dataset.name))
            let stem = fileName.hasSuffix(".jsonl") ? String(fileName.dropLast(6)) : fileName
            var groups: [String: [LabelledExample]] = [:]
            for example in dataset.examples { groups[example.concept ?? stem, default: []].append(example) }
            var names = groups.keys.sorted()
            if let limit = limits.conceptsPerFile { names = Array(names.prefix(limit)) }
            for name in names {
                let group = groups[name]!
                func side(_ split: Split, _ cap: Int?, positive isPositive: (LabelledExample) -> Bool) -> LabelledTexts {
                    var kept: [LabelledExample] = []
                    for positive in [true, false] {
                        var members = group.filter { $0.split == split && isPositive($0) == positive }
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
                    return LabelledTexts(unchecked: ids, kept.map(isPositive))
                }
                if group.allSatisfy({ $0.label == .integer(0) || $0.label == .integer(1) }) {
                    let train = side(.train, limits.trainPerClass, positive: \.isPositive)
                    let test = side(.test, limits.testPerClass, positive: \.isPositive)
                    tasks.append(BinaryTask(name: name, source: dataset.name, train: train, test: test))
                    continue
                }
                let concept = group.first?.concept
                let place = dataset.name + (concept.map { " (concept \($0))" } ?? "")
                let classes = Array(Set(group.map(\.label))).sorted()
                guard classes.count >= 2 else {
                    throw LabelledDatasetError(
                        file: dataset.name, line: group.first?.line,
                        problem: "label \(classes[0]) is the only class\(concept.map { " of concept \($0)" } ?? ""): a one-vs-rest task needs at least two (a binary file uses labels 1 and 0)")
                }
                let before = tasks.count
                for label in classes {
                    func count(_ split: Split, _ positive: Bool) -> Int { group.filter { $0.split == split && ($0.label == label) == positive }.count }
                    let train = (count(.train, true), count(.train, false)), test = (count(.test, true), count(.test, false))
                    guard train.0 > 0, train.1 > 0, test.0 > 0, test.1 > 0 else {
                        leftOut.append(
                            "\(place): class '\(label)' left out: \(train.0) training and \(test.0) held-out examples against \(train.1) and \(test.1) "
                                + "of the other classes (a one-vs-rest task needs both sides in both splits)")
                        continue
                    }
                    tasks.append(BinaryTask(
                        name: concept.map { "\($0) label=\(label)" } ?? "label=\(label)", source: dataset.name,
                        train: side(.train, limits.trainPerClass) { $0.label == label }, test: side(.test, limits.testPerClass) { $0.label == label }))
                }
                guard tasks.count > before else {
                    throw LabelledDatasetError(file: dataset.name, line: nil, problem: "no class\(concept.map { " of concept \($0)" } ?? "") gives a one-vs-rest task: \(leftOut.last!)")
                }
            }
        }
        guard !tasks.isEmpty else { throw EvaluationError("no tasks: the datasets hold no examples") }
        self.texts = texts
        self.tasks = tasks
        self.leftOut = leftOut
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
