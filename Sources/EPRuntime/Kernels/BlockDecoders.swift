import EPTensors

/// Decoders of GGML block formats into `Float`, written with explicit SIMD.
///
/// Each decoder repeats gguf-py's (`gguf/quants.py`) order of floating-point operations — for example
/// `d · q + m` as a product then a sum, never a fused multiply-add — so the results are bit-identical to it.
/// Block layouts are in docs/runtime.md (*Kernels*); every multi-byte field is little-endian and read
/// with `loadUnaligned` (blocks of 18, 20, 22 or 34 bytes leave every field unaligned).
enum BlockDecoders {
    typealias Floats = SIMD16<Float>

    // MARK: widening helpers (per-lane loops that LLVM turns into vpmovzxbd / vcvtdq2ps; the stdlib's generic
    // SIMD conversion initialisers are emitted as out-of-line calls, see docs/runtime.md, *Kernels*)

    @inline(__always)
    static func floats(_ v: SIMD16<UInt8>) -> Floats {
        var r = Floats()
        for i in 0..<16 { r[i] = Float(v[i]) }
        return r
    }

    @inline(__always)
    static func floats(_ v: SIMD16<Int8>) -> Floats {
        var r = Floats()
        for i in 0..<16 { r[i] = Float(v[i]) }
        return r
    }

    @inline(__always)
    static func bytes(_ p: UnsafeRawPointer, _ offset: Int) -> SIMD16<UInt8> {
        p.loadUnaligned(fromByteOffset: offset, as: SIMD16<UInt8>.self)
    }

    @inline(__always)
    static func half(_ p: UnsafeRawPointer, _ offset: Int) -> Float {
        HalfPrecision.float(fromHalfBits: UInt16(littleEndian: p.loadUnaligned(fromByteOffset: offset, as: UInt16.self)))
    }

    @inline(__always)
    static func store(_ v: Floats, _ p: UnsafeMutablePointer<Float>) {
        UnsafeMutableRawPointer(p).storeBytes(of: v, as: Floats.self)
    }

    /// Bit `shift + i` of `bits`, moved to bit 4, for lanes i = 0..<16 (the fifth bit of Q5 weights).
    @inline(__always)
    static func fifthBits(_ bits: UInt32, from shift: UInt32) -> SIMD16<UInt8> {
        var r = SIMD16<UInt8>()
        for i in 0..<16 { r[i] = UInt8(truncatingIfNeeded: (bits >> (shift + UInt32(i))) & 1) << 4 }
        return r
    }

    /// Bit `bit` of each byte, moved to bit 4.
    @inline(__always)
    static func fifthBits(_ v: SIMD16<UInt8>, bit: UInt8) -> SIMD16<UInt8> {
        ((v &>> bit) & 1) &<< 4
    }

    // MARK: 32-weight blocks

    /// Q4_0, 18 bytes: f16 d, 16 nibble bytes (low nibbles are weights 0–15). w = d·(q − 8).
    static func q4_0(_ src: UnsafeRawPointer, blocks: Int, _ dst: UnsafeMutablePointer<Float>) {
        let eight = Floats(repeating: 8)
        for b in 0..<blocks {
            let p = src + 18 * b, out = dst + 32 * b
            let d = Floats(repeating: half(p, 0))
            let q = bytes(p, 2)
            store(d * (floats(q & 0x0F) - eight), out)
            store(d * (floats(q &>> 4) - eight), out + 16)
        }
    }

    /// Q4_1, 20 bytes: f16 d, f16 m, 16 nibble bytes. w = d·q + m.
    static func q4_1(_ src: UnsafeRawPointer, blocks: Int, _ dst: UnsafeMutablePointer<Float>) {
        for b in 0..<blocks {
            let p = src + 20 * b, out = dst + 32 * b
            let d = Floats(repeating: half(p, 0)), m = Floats(repeating: half(p, 2))
            let q = bytes(p, 4)
            store(d * floats(q & 0x0F) + m, out)
            store(d * floats(q &>> 4) + m, out + 16)
        }
    }

    /// Q5_0, 22 bytes: f16 d, u32 fifth bits, 16 nibble bytes. w = d·(q − 16).
    static func q5_0(_ src: UnsafeRawPointer, blocks: Int, _ dst: UnsafeMutablePointer<Float>) {
        let sixteen = Floats(repeating: 16)
        for b in 0..<blocks {
            let p = src + 22 * b, out = dst + 32 * b
            let d = Floats(repeating: half(p, 0))
            let qh = UInt32(littleEndian: p.loadUnaligned(fromByteOffset: 2, as: UInt32.self))
            let q = bytes(p, 6)
            store(d * (floats((q & 0x0F) | fifthBits(qh, from: 0)) - sixteen), out)
            store(d * (floats((q &>> 4) | fifthBits(qh, from: 16)) - sixteen), out + 16)
        }
    }

    /// Q5_1, 24 bytes: f16 d, f16 m, u32 fifth bits, 16 nibble bytes. w = d·q + m.
    static func q5_1(_ src: UnsafeRawPointer, blocks: Int, _ dst: UnsafeMutablePointer<Float>) {
        for b in 0..<blocks {
            let p = src + 24 * b, out = dst + 32 * b
            let d = Floats(repeating: half(p, 0)), m = Floats(repeating: half(p, 2))
            let qh = UInt32(littleEndian: p.loadUnaligned(fromByteOffset: 4, as: UInt32.self))
            let q = bytes(p, 8)
            store(d * floats((q & 0x0F) | fifthBits(qh, from: 0)) + m, out)
            store(d * floats((q &>> 4) | fifthBits(qh, from: 16)) + m, out + 16)
        }
    }

    /// Q8_0, 34 bytes: f16 d, 32 int8. w = q·d.
    static func q8_0(_ src: UnsafeRawPointer, blocks: Int, _ dst: UnsafeMutablePointer<Float>) {
        for b in 0..<blocks {
            let p = src + 34 * b, out = dst + 32 * b
            let d = Floats(repeating: half(p, 0))
            store(floats(p.loadUnaligned(fromByteOffset: 2, as: SIMD16<Int8>.self)) * d, out)
            store(floats(p.loadUnaligned(fromByteOffset: 18, as: SIMD16<Int8>.self)) * d, out + 16)
        }
    }

    // MARK: 256-weight super-blocks

    /// The eight 6-bit (scale, min) pairs of a Q4_K/Q5_K super-block, from its 12 packed bytes.
    @inline(__always)
    static func scalesAndMins(_ s: UnsafeRawPointer) -> (scales: SIMD8<UInt8>, mins: SIMD8<UInt8>) {
        var sc = SIMD8<UInt8>(), mn = SIMD8<UInt8>()
        let byte = { (i: Int) in s.load(fromByteOffset: i, as: UInt8.self) }
        for j in 0..<4 {
            sc[j] = byte(j) & 63
            mn[j] = byte(j + 4) & 63
            sc[j + 4] = (byte(j + 8) & 0x0F) | ((byte(j) >> 6) << 4)
            mn[j + 4] = (byte(j + 8) >> 4) | ((byte(j + 4) >> 6) << 4)
        }
        return (sc, mn)
    }

    /// Q4_K, 144 bytes: f16 d, f16 dmin, 12 bytes of scales/mins, 128 nibble bytes. Sub-block j (32 weights)
    /// takes the low (even j) or high (odd j) nibbles of bytes 32·(j/2)…; w = (d·sc)·q − dmin·m.
    static func q4_K(_ src: UnsafeRawPointer, blocks: Int, _ dst: UnsafeMutablePointer<Float>) {
        kQuant(src, blocks: blocks, dst, blockBytes: 144, nibbles: 16, fifthBits: nil)
    }

    /// Q5_K, 176 bytes: f16 d, f16 dmin, 12 bytes of scales/mins, 32 bytes of fifth bits (bit j of byte l belongs
    /// to weight l of sub-block j), 128 nibble bytes laid out as in Q4_K. w = (d·sc)·q − dmin·m.
    static func q5_K(_ src: UnsafeRawPointer, blocks: Int, _ dst: UnsafeMutablePointer<Float>) {
        kQuant(src, blocks: blocks, dst, blockBytes: 176, nibbles: 48, fifthBits: 16)
    }

    /// Q4_K and Q5_K: nibbles at byte `nibbles` of each block, and for Q5_K fifth bits at byte `fifthBits`.
    @inline(__always)
    private static func kQuant(
        _ src: UnsafeRawPointer, blocks: Int, _ dst: UnsafeMutablePointer<Float>, blockBytes: Int, nibbles: Int, fifthBits: Int?
    ) {
        for b in 0..<blocks {
            let p = src + blockBytes * b, out = dst + 256 * b
            let d = half(p, 0), dmin = half(p, 2)
            let (sc, mn) = scalesAndMins(p + 4)
            for c in 0..<4 {
                for half in 0..<2 {
                    let j = 2 * c + half
                    let scale = Floats(repeating: d * Float(sc[j])), offset = Floats(repeating: dmin * Float(mn[j]))
                    for k in 0..<2 {
                        let q = bytes(p, nibbles + 32 * c + 16 * k)
                        var values = half == 0 ? q & 0x0F : q &>> 4
                        if let fifthBits { values |= Self.fifthBits(bytes(p, fifthBits + 16 * k), bit: UInt8(j)) }
                        store(scale * floats(values) - offset, out + 32 * j + 16 * k)
                    }
                }
            }
        }
    }

    /// Q6_K, 210 bytes: 128 bytes of low nibbles, 64 bytes of 2-bit high parts, 16 int8 scales, f16 d. Two halves
    /// of 128 weights; in half h, chunk c (32 weights) takes the low (c < 2) or high nibbles of
    /// `ql[64h + 32·(c mod 2) + l]` and bits 2c, 2c+1 of `qh[32h + l]`; w = (d·scale)·(q − 32), one scale per
    /// 16 weights.
    static func q6_K(_ src: UnsafeRawPointer, blocks: Int, _ dst: UnsafeMutablePointer<Float>) {
        let thirtyTwo = SIMD16<Int8>(repeating: 32)
        for b in 0..<blocks {
            let p = src + 210 * b, out = dst + 256 * b
            let d = half(p, 208)
            for h in 0..<2 {
                for c in 0..<4 {
                    for k in 0..<2 {
                        let l = 16 * k
                        let low = bytes(p, 64 * h + 32 * (c % 2) + l)
                        let nibbles = c < 2 ? low & 0x0F : low &>> 4
                        let high = (bytes(p, 128 + 32 * h + l) &>> UInt8(2 * c)) & 3
                        let q = unsafeBitCast(nibbles | (high &<< 4), to: SIMD16<Int8>.self) &- thirtyTwo
                        let n = 128 * h + 32 * c + l
                        let scale = Float(p.load(fromByteOffset: 192 + n / 16, as: Int8.self))
                        store(Floats(repeating: d * scale) * floats(q), out + n)
                    }
                }
            }
        }
    }
}
