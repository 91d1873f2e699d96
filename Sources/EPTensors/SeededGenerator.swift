/// A small, fast, seedable pseudo-random generator (xoshiro256**, seeded through SplitMix64) whose output depends
/// only on the seed, on every platform and Swift version. It drives every seeded choice of the toolkit: member
/// reservoirs, synthetic data, corpus shuffles and evaluation splits.
public struct SeededGenerator: RandomNumberGenerator, Sendable, Equatable {
    /// The four words of generator state; saving and restoring them continues the exact same sequence.
    public private(set) var state: (UInt64, UInt64, UInt64, UInt64)

    /// A generator whose sequence is determined by `seed`.
    public init(seed: UInt64) {
        var s = seed
        func splitMix() -> UInt64 {
            s &+= 0x9E37_79B9_7F4A_7C15
            var z = s
            z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
            z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
            return z ^ (z >> 31)
        }
        state = (splitMix(), splitMix(), splitMix(), splitMix())
    }

    /// A generator that continues from a saved ``state``. The all-zero state is invalid and is replaced by seed 0.
    public init(state: (UInt64, UInt64, UInt64, UInt64)) {
        self.init(seed: 0)
        if state != (0, 0, 0, 0) { self.state = state }
    }

    public static func == (a: SeededGenerator, b: SeededGenerator) -> Bool { a.state == b.state }

    @inline(__always)
    public mutating func next() -> UInt64 {
        let result = rotate(state.1 &* 5, 7) &* 9
        let t = state.1 << 17
        state.2 ^= state.0
        state.3 ^= state.1
        state.1 ^= state.2
        state.0 ^= state.3
        state.2 ^= t
        state.3 = rotate(state.3, 45)
        return result
    }

    /// A uniform integer in `0..<bound` (`bound > 0`) by Lemire's multiply-and-reject method, defined here rather
    /// than through the standard library so that the sequence never changes with the Swift version.
    @inline(__always)
    public mutating func uniform(below bound: UInt64) -> UInt64 {
        precondition(bound > 0, "SeededGenerator.uniform: empty range")
        var product = next().multipliedFullWidth(by: bound)
        if product.low < bound {
            let threshold = (0 &- bound) % bound
            while product.low < threshold { product = next().multipliedFullWidth(by: bound) }
        }
        return product.high
    }

    /// A uniform `Float` in [0, 1) with 24 random bits.
    @inline(__always)
    public mutating func unitFloat() -> Float {
        Float(next() >> 40) * (1.0 / 16_777_216.0)
    }

    @inline(__always)
    private func rotate(_ x: UInt64, _ k: UInt64) -> UInt64 { (x << k) | (x >> (64 - k)) }
}

extension SeededGenerator {
    /// A uniform integer in `0..<bound` (`bound > 0`).
    @inline(__always)
    public mutating func uniform(below bound: Int) -> Int {
        Int(uniform(below: UInt64(bound)))
    }

    /// Shuffles `elements` in place (Fisher–Yates, drawing with ``uniform(below:)-3ybq3``).
    public mutating func shuffle<T>(_ elements: inout [T]) {
        var i = elements.count - 1
        while i > 0 {
            elements.swapAt(i, uniform(below: i + 1))
            i -= 1
        }
    }
}
