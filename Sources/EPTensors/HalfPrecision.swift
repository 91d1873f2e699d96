/// Conversions between `Float` and the two 16-bit float encodings found in activation and weight files:
/// IEEE binary16 ("F16") and bfloat16 ("BF16"). Sources may be unaligned (memory-mapped files).
public enum HalfPrecision {
    /// The `Float` value of IEEE binary16 bits.
    @inlinable
    public static func float(fromHalfBits bits: UInt16) -> Float {
        #if arch(x86_64) && os(macOS)
        return softwareHalfToFloat(bits)
        #else
        return Float(Float16(bitPattern: bits))
        #endif
    }

    /// The IEEE binary16 bits nearest to `value` (round to nearest even; overflow gives ±infinity).
    @inlinable
    public static func halfBits(from value: Float) -> UInt16 {
        #if arch(x86_64) && os(macOS)
        return softwareFloatToHalf(value)
        #else
        return Float16(value).bitPattern
        #endif
    }

    /// The `Float` value of bfloat16 bits (the top half of a binary32).
    @inlinable
    public static func float(fromBFloat16Bits bits: UInt16) -> Float {
        Float(bitPattern: UInt32(bits) << 16)
    }

    /// The bfloat16 bits nearest to `value` (round to nearest even; NaN stays NaN).
    @inlinable
    public static func bfloat16Bits(from value: Float) -> UInt16 {
        let b = value.bitPattern
        if value.isNaN { return UInt16(truncatingIfNeeded: b >> 16) | 0x0040 }
        return UInt16(truncatingIfNeeded: (b &+ 0x7FFF &+ ((b >> 16) & 1)) >> 16)
    }

    /// Converts `count` binary16 values at `source` (any alignment) into `destination`.
    @inlinable
    public static func convertHalf(_ source: UnsafeRawPointer, count: Int, into destination: UnsafeMutablePointer<Float>) {
        for i in 0..<count {
            destination[i] = float(fromHalfBits: source.loadUnaligned(fromByteOffset: 2 * i, as: UInt16.self))
        }
    }

    /// Converts `count` bfloat16 values at `source` (any alignment) into `destination`.
    @inlinable
    public static func convertBFloat16(_ source: UnsafeRawPointer, count: Int, into destination: UnsafeMutablePointer<Float>) {
        for i in 0..<count {
            destination[i] = float(fromBFloat16Bits: source.loadUnaligned(fromByteOffset: 2 * i, as: UInt16.self))
        }
    }

    /// Converts `count` floats at `source` to binary16 bits at `destination` (round to nearest even) and returns
    /// the index of the first finite value that overflows to infinity (|x| ≥ 65520), or nil when none does.
    @inlinable
    public static func encodeHalf(_ source: UnsafePointer<Float>, count: Int, into destination: UnsafeMutablePointer<UInt16>) -> Int? {
        var overflow: Int?
        for i in 0..<count {
            let bits = halfBits(from: source[i])
            destination[i] = bits
            if overflow == nil, bits & 0x7FFF == 0x7C00, source[i].isFinite { overflow = i }
        }
        return overflow
    }

    /// Converts `count` floats at `source` to bfloat16 bits at `destination` (round to nearest even) and returns
    /// the index of the first finite value that overflows to infinity, or nil when none does.
    @inlinable
    public static func encodeBFloat16(_ source: UnsafePointer<Float>, count: Int, into destination: UnsafeMutablePointer<UInt16>) -> Int? {
        var overflow: Int?
        for i in 0..<count {
            let bits = bfloat16Bits(from: source[i])
            destination[i] = bits
            if overflow == nil, bits & 0x7FFF == 0x7F80, source[i].isFinite { overflow = i }
        }
        return overflow
    }

    /// Rounds every value of `values` in place to the nearest binary16 value (as a Float) and returns the index of
    /// the first finite value that overflows binary16, or nil when none does (the values are then all rounded).
    @inlinable
    public static func roundThroughHalf(_ values: UnsafeMutableBufferPointer<Float>) -> Int? {
        for i in values.indices {
            let bits = halfBits(from: values[i])
            if bits & 0x7FFF == 0x7C00, values[i].isFinite { return i }
            values[i] = float(fromHalfBits: bits)
        }
        return nil
    }

    /// Rounds every value of `values` in place to the nearest bfloat16 value (as a Float) and returns the index of
    /// the first finite value that overflows bfloat16, or nil when none does.
    @inlinable
    public static func roundThroughBFloat16(_ values: UnsafeMutableBufferPointer<Float>) -> Int? {
        for i in values.indices {
            let bits = bfloat16Bits(from: values[i])
            if bits & 0x7FFF == 0x7F80, values[i].isFinite { return i }
            values[i] = float(fromBFloat16Bits: bits)
        }
        return nil
    }

    @usableFromInline
    static func softwareHalfToFloat(_ h: UInt16) -> Float {
        let sign = UInt32(h & 0x8000) << 16
        let exponent = Int((h >> 10) & 0x1F)
        let mantissa = UInt32(h & 0x3FF)
        if exponent == 0 {
            let magnitude = Float(mantissa) * Float(sign: .plus, exponent: -24, significand: 1)
            return sign != 0 ? -magnitude : magnitude
        }
        if exponent == 31 { return Float(bitPattern: sign | 0x7F80_0000 | (mantissa << 13)) }
        return Float(bitPattern: sign | UInt32(exponent + 112) << 23 | (mantissa << 13))
    }

    @usableFromInline
    static func softwareFloatToHalf(_ f: Float) -> UInt16 {
        let sign: UInt16 = f.sign == .minus ? 0x8000 : 0
        let a = abs(f)
        if a.isNaN { return sign | 0x7E00 }
        if a >= 65520 { return sign | 0x7C00 }
        if a < Float(sign: .plus, exponent: -25, significand: 1) { return sign }
        if a < Float(sign: .plus, exponent: -14, significand: 1) {
            let m = (a * Float(sign: .plus, exponent: 24, significand: 1)).rounded(.toNearestOrEven)
            return sign | UInt16(m)
        }
        let e = a.exponent
        let m = (a.significand - 1) * 1024
        var mr = m.rounded(.toNearestOrEven)
        var eb = Int(e) + 15
        if mr >= 1024 { mr = 0; eb += 1 }
        if eb >= 31 { return sign | 0x7C00 }
        return sign | UInt16(eb) << 10 | UInt16(mr)
    }
}
