import EPTensors

/// A deterministic, stratified train/test split of example indices.
///
/// Within each class (in order of first appearance) the indices are shuffled with a Fisher–Yates shuffle driven by
/// a `SeededGenerator` seeded with `seed`, and the first `round(testFraction · classSize)` go to the test side — at least one
/// and at most `classSize − 1` when the class has two or more examples, so both sides see every such class; a class
/// of one example goes to training. The generator and shuffle are implemented here rather than taken from the
/// standard library, so a seed gives the same split on every platform and Swift version.
public struct StratifiedSplit: Sendable, Equatable {
    /// Training indices, ascending.
    public let train: [Int]
    /// Test indices, ascending.
    public let test: [Int]

    /// Splits `labels.indices` by class; `testFraction` must lie strictly between 0 and 1.
    public init<Label: Hashable>(labels: [Label], testFraction: Double, seed: UInt64) throws {
        guard testFraction > 0, testFraction < 1 else { throw StratifiedSplitError.invalidFraction(testFraction) }
        var classOrder: [Label] = []
        var members: [Label: [Int]] = [:]
        for (index, label) in labels.enumerated() {
            if members[label] == nil { classOrder.append(label) }
            members[label, default: []].append(index)
        }
        var generator = SeededGenerator(seed: seed)
        var train: [Int] = [], test: [Int] = []
        for label in classOrder {
            var indices = members[label]!
            generator.shuffle(&indices)
            let count = indices.count
            let testCount = count < 2 ? 0 : min(max(Int((testFraction * Double(count)).rounded()), 1), count - 1)
            test.append(contentsOf: indices[..<testCount])
            train.append(contentsOf: indices[testCount...])
        }
        self.train = train.sorted()
        self.test = test.sorted()
    }
}

/// Why a split could not be made.
public enum StratifiedSplitError: Error, Equatable, CustomStringConvertible {
    /// The test fraction is not strictly between 0 and 1.
    case invalidFraction(Double)

    public var description: String {
        switch self {
        case let .invalidFraction(fraction): return "split: the test fraction must lie strictly between 0 and 1, got \(fraction)"
        }
    }
}

