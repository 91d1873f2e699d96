import EPTensors
import Foundation

/// How the next token is chosen from logits.
public struct SamplingOptions: Sendable, Equatable {
    /// Softmax temperature; 0 picks the most likely token (greedy).
    public var temperature: Float
    /// Keep only the `topK` most likely tokens (0: no limit).
    public var topK: Int
    /// Keep the smallest set of most likely tokens whose probabilities sum to at least `topP` (1: no limit).
    public var topP: Float
    /// Seed of the random generator (same seed, same logits: same tokens).
    public var seed: UInt64

    /// Greedy decoding by default.
    public init(temperature: Float = 0, topK: Int = 0, topP: Float = 1, seed: UInt64 = 0) {
        self.temperature = temperature
        self.topK = topK
        self.topP = topP
        self.seed = seed
    }
}

/// Picks tokens from logits with temperature, top-k and top-p (nucleus) filtering.
public struct TokenSampler: Sendable {
    /// The options.
    public let options: SamplingOptions
    private var generator: SeededGenerator

    /// A sampler seeded with `options.seed`.
    public init(_ options: SamplingOptions) {
        self.options = options
        generator = SeededGenerator(seed: options.seed)
    }

    /// The next token for `logits` (one vocabulary-wide row).
    public mutating func sample(_ logits: ArraySlice<Float>) -> Int32 {
        let base = logits.startIndex
        guard options.temperature > 0 else {
            var best = base
            for i in logits.indices where logits[i] > logits[best] { best = i }
            return Int32(best - base)
        }
        let candidates = options.topK > 0 && options.topK < logits.count
            ? Self.largest(options.topK, of: logits) : logits.indices.sorted { logits[$0] > logits[$1] }
        let top = Double(logits[candidates[0]])
        let inverseTemperature = 1 / Double(options.temperature)
        var weights = candidates.map { Foundation.exp((Double(logits[$0]) - top) * inverseTemperature) }
        let total = weights.reduce(0, +)
        if options.topP < 1 {
            var kept = 0, cumulative = 0.0
            while kept < weights.count, cumulative < Double(options.topP) * total {
                cumulative += weights[kept]
                kept += 1
            }
            weights.removeSubrange(max(kept, 1)...)
        }
        var u = Double.random(in: 0..<weights.reduce(0, +), using: &generator)
        for (i, w) in weights.enumerated() {
            u -= w
            if u < 0 { return Int32(candidates[i] - base) }
        }
        return Int32(candidates[weights.count - 1] - base)
    }

    /// Indices of the `k` largest values, largest first (one pass, keeping a sorted list of k).
    static func largest(_ k: Int, of values: ArraySlice<Float>) -> [Int] {
        var kept: [Int] = []
        kept.reserveCapacity(k + 1)
        for i in values.indices {
            let v = values[i]
            if kept.count == k, v <= values[kept[k - 1]] { continue }
            var lo = 0, hi = kept.count
            while lo < hi {
                let mid = (lo + hi) / 2
                if values[kept[mid]] >= v { lo = mid + 1 } else { hi = mid }
            }
            kept.insert(i, at: lo)
            if kept.count > k { kept.removeLast() }
        }
        return kept
    }
}
