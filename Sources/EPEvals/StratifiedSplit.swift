/// A deterministic, stratified train/test split of example indices.
///
/// Within each class (in order of first appearance) the indices are shuffled with a Fisher–Yates shuffle driven by
/// SplitMix64 seeded with `seed`, and the first `round(testFraction · classSize)` go to the test side — at least one
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
        var generator = SplitMix64(seed: seed)
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

/// SplitMix64 (Steele, Lea and Flood 2014): a tiny, fast, well-mixed 64-bit generator whose output depends only
/// on its seed.
struct SplitMix64 {
    private var state: UInt64

    init(seed: UInt64) { state = seed }

    mutating func next() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }

    /// A uniform integer in `0..<bound` (rejection sampling, so without modulo bias).
    mutating func next(below bound: Int) -> Int {
        let n = UInt64(bound)
        let limit = UInt64.max - UInt64.max % n
        while true {
            let value = next()
            if value < limit { return Int(value % n) }
        }
    }

    /// Fisher–Yates shuffle in place.
    mutating func shuffle<T>(_ elements: inout [T]) {
        var i = elements.count - 1
        while i > 0 {
            elements.swapAt(i, next(below: i + 1))
            i -= 1
        }
    }
}
