/// The GPT-2 byte-level alphabet: every byte value has a printable Unicode stand-in, so that a byte-level BPE
/// vocabulary can be written as ordinary strings.
///
/// Printable Latin-1 bytes (`!`…`~`, `¡`…`¬`, `®`…`ÿ`) stand for themselves; the other 68 bytes map, in increasing
/// order, to U+0100 onwards. So a space is `Ġ` (U+0120) and a newline is `Ċ` (U+010A).
public enum ByteLevel {
    /// The stand-in character of each byte value.
    public static let characterForByte: [Unicode.Scalar] = {
        var table = [Unicode.Scalar](repeating: "\0", count: 256)
        var next: UInt32 = 256
        for byte in 0..<256 {
            if isPrintable(UInt8(byte)) {
                table[byte] = Unicode.Scalar(UInt8(byte))
            } else {
                table[byte] = Unicode.Scalar(next)!
                next += 1
            }
        }
        return table
    }()

    /// The byte a stand-in character represents, or nil for a character outside the alphabet.
    public static func byte(for character: Unicode.Scalar) -> UInt8? {
        let v = character.value
        if v < 256 { return isPrintable(UInt8(v)) ? UInt8(v) : nil }
        guard v < 256 + 68 else { return nil }
        return unprintableBytes[Int(v - 256)]
    }

    /// The bytes a vocabulary string stands for, or nil when one of its characters is outside the alphabet.
    public static func bytes(of token: String) -> [UInt8]? {
        var out: [UInt8] = []
        out.reserveCapacity(token.utf8.count)
        for scalar in token.unicodeScalars {
            guard let b = byte(for: scalar) else { return nil }
            out.append(b)
        }
        return out
    }

    private static func isPrintable(_ b: UInt8) -> Bool {
        (0x21...0x7E).contains(b) || (0xA1...0xAC).contains(b) || (0xAE...0xFF).contains(b)
    }

    /// The bytes without a printable stand-in, in the order they take U+0100 onwards.
    private static let unprintableBytes: [UInt8] = (0...255).map(UInt8.init).filter { !isPrintable($0) }
}
