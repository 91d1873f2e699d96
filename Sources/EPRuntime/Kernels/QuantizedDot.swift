extension BlockDecoders {
    /// Σ w·x over one row of `blocks` 32-weight blocks of `type` (Q4_1 or Q8_0) without decoding it to memory;
    /// `blockSums[b]` is the sum of `x[32b..<32b+32]` (Q4_1's offsets multiply it).
    static func dot(_ type: GGMLType, row: UnsafeRawPointer, x: UnsafePointer<Float>, blockSums: UnsafePointer<Float>, blocks: Int) -> Float {
        switch type {
        case .q4_1: dotQ4_1(row, x: x, blockSums: blockSums, blocks: blocks)
        case .q8_0: dotQ8_0(row, x: x, blocks: blocks)
        default: preconditionFailure("no fused dot product for \(type)")
        }
    }

    @inline(__always)
    static func loadFloats(_ p: UnsafePointer<Float>) -> Floats { UnsafeRawPointer(p).loadUnaligned(as: Floats.self) }

    /// Q4_1: Σ_b d_b·(q_b·x_b) + m_b·Σx_b.
    static func dotQ4_1(_ row: UnsafeRawPointer, x: UnsafePointer<Float>, blockSums: UnsafePointer<Float>, blocks: Int) -> Float {
        var acc = Floats()
        var offsets: Float = 0
        for b in 0..<blocks {
            let p = row + 20 * b, xs = x + 32 * b
            let q = bytes(p, 4)
            var t = floats(q & 0x0F) * loadFloats(xs)
            t.addProduct(floats(q &>> 4), loadFloats(xs + 16))
            acc.addProduct(Floats(repeating: half(p, 0)), t)
            offsets += half(p, 2) * blockSums[b]
        }
        return VectorMath.horizontalSum(acc.lowHalf + acc.highHalf) + offsets
    }

    /// Q8_0: Σ_b d_b·(q_b·x_b).
    static func dotQ8_0(_ row: UnsafeRawPointer, x: UnsafePointer<Float>, blocks: Int) -> Float {
        var acc = Floats()
        for b in 0..<blocks {
            let p = row + 34 * b, xs = x + 32 * b
            var t = floats(p.loadUnaligned(fromByteOffset: 2, as: SIMD16<Int8>.self)) * loadFloats(xs)
            t.addProduct(floats(p.loadUnaligned(fromByteOffset: 18, as: SIMD16<Int8>.self)), loadFloats(xs + 16))
            acc.addProduct(Floats(repeating: half(p, 0)), t)
        }
        return VectorMath.horizontalSum(acc.lowHalf + acc.highHalf)
    }
}
