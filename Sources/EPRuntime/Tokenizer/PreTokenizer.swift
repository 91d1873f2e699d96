/// How text is cut into pieces before byte-level BPE merges them, selected by the GGUF key `tokenizer.ggml.pre`.
///
/// Each case is a hand-written scanner that gives exactly the pieces of the regular expression Hugging Face
/// `tokenizers` runs for that model family (checked against it by the committed goldens), without a regex engine:
///
/// * `gpt2`: `'s|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+` (HF `ByteLevel(use_regex: true)`).
/// * `smollm`: every `\p{N}` character is first a piece of its own (HF `Digits(individual_digits: true)`), then the
///   GPT-2 pattern splits the text between them.
/// * `llama-bpe` (Llama 3): `(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}{1,3}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+`.
/// * `qwen2`: the Llama 3 pattern with `\p{N}` instead of `\p{N}{1,3}`; Qwen2's tokenizer also puts text in Unicode NFC.
///
/// Character classes follow Oniguruma, the engine of HF `tokenizers`: `\p{L}` and `\p{N}` are the general categories
/// L* and N*; `\s` is U+0009–U+000D, U+0085 and the categories Zs, Zl and Zp. The case-insensitive contractions also
/// accept `ſ` (U+017F) for `s`, as Unicode case folding does.
public enum PreTokenizer: String, CaseIterable, Sendable {
    case gpt2
    case smollm
    case llamaBPE = "llama-bpe"
    case qwen2

    /// The pre-tokenizer a `tokenizer.ggml.pre` value names. llama.cpp's aliases are accepted: `gpt-2` for `gpt2`,
    /// `llama3` and `llama-v3` for `llama-bpe`. Throws a message listing the supported names for any other value.
    public init(ggufName: String) throws {
        switch ggufName {
        case "gpt2", "gpt-2": self = .gpt2
        case "smollm": self = .smollm
        case "llama-bpe", "llama3", "llama-v3": self = .llamaBPE
        case "qwen2": self = .qwen2
        default:
            throw TokenizerError("pre-tokenizer '\(ggufName)' (tokenizer.ggml.pre) is not supported; supported: \(Self.supportedNames)")
        }
    }

    /// The supported `tokenizer.ggml.pre` values, for messages.
    public static let supportedNames = "gpt2 (or gpt-2), smollm, llama-bpe (or llama3, llama-v3), qwen2"

    /// Whether a piece that is itself a vocabulary entry becomes that token without merging (`ignore_merges` of
    /// Llama 3's BPE model, which llama.cpp also applies to `llama-bpe`).
    public var ignoresMerges: Bool { self == .llamaBPE }

    /// Whether the text between special tokens is put in Unicode NFC before splitting (Qwen2's normalizer).
    public var normalizesToNFC: Bool { self == .qwen2 }

    /// Whether a BOS token is added when the GGUF has no `tokenizer.ggml.add_bos_token` (llama.cpp's defaults).
    public var addsBOSByDefault: Bool { self == .llamaBPE }

    /// The pieces of `text`, in order; they concatenate back to `text`. (No NFC here: `BPETokenizer` applies it.)
    public func pieces(of text: String) -> [String] {
        var text = text
        return text.withUTF8 { utf8 in
            var ends: [Int] = []
            split(utf8, 0, utf8.count, into: &ends)
            var start = 0
            return ends.map { end in
                defer { start = end }
                return String(decoding: UnsafeBufferPointer(rebasing: utf8[start..<end]), as: UTF8.self)
            }
        }
    }

    /// Splits the valid UTF-8 `text[lo..<hi]` into pieces and appends the end offset of each piece to `ends`.
    func split(_ text: UnsafeBufferPointer<UInt8>, _ lo: Int, _ hi: Int, into ends: inout [Int]) {
        bmpClasses.withUnsafeBufferPointer { bmp in
            let s = Scanner(text: text, bmp: bmp)
            switch self {
            case .gpt2: s.gpt2(lo, hi, &ends)
            case .smollm: s.smollm(lo, hi, &ends)
            case .llamaBPE: s.llama3(lo, hi, maxDigits: 3, &ends)
            case .qwen2: s.llama3(lo, hi, maxDigits: 1, &ends)
            }
        }
    }
}

/// The character classes the patterns use.
enum CharClass {
    static let other: UInt8 = 0, letter: UInt8 = 1, number: UInt8 = 2, space: UInt8 = 3

    /// The class of a scalar: Oniguruma's `\p{L}`, `\p{N}`, `\s`, or none of them.
    static func of(_ scalar: Unicode.Scalar) -> UInt8 {
        switch scalar.value {
        case 0x09...0x0D, 0x85: return space
        default: break
        }
        switch scalar.properties.generalCategory {
        case .uppercaseLetter, .lowercaseLetter, .titlecaseLetter, .modifierLetter, .otherLetter: return letter
        case .decimalNumber, .letterNumber, .otherNumber: return number
        case .spaceSeparator, .lineSeparator, .paragraphSeparator: return space
        default: return other
        }
    }
}

/// The class of every Basic Multilingual Plane scalar (surrogates count as `other`), built once.
private let bmpClasses: [UInt8] = (0..<0x10000).map { v in
    Unicode.Scalar(UInt32(v)).map(CharClass.of) ?? CharClass.other
}

/// A scanner over valid UTF-8 text: each pattern method appends the end offsets of the pieces it finds.
private struct Scanner {
    let text: UnsafeBufferPointer<UInt8>
    /// `bmpClasses`, borrowed for the scan.
    let bmp: UnsafeBufferPointer<UInt8>

    /// The scalar starting at byte `i` and its length in bytes.
    @inline(__always) func scalar(at i: Int) -> (value: UInt32, length: Int) {
        let b0 = UInt32(text[i])
        if b0 < 0x80 { return (b0, 1) }
        if b0 < 0xE0 { return ((b0 & 0x1F) << 6 | UInt32(text[i + 1] & 0x3F), 2) }
        if b0 < 0xF0 {
            return ((b0 & 0x0F) << 12 | UInt32(text[i + 1] & 0x3F) << 6 | UInt32(text[i + 2] & 0x3F), 3)
        }
        return ((b0 & 0x07) << 18 | UInt32(text[i + 1] & 0x3F) << 12 | UInt32(text[i + 2] & 0x3F) << 6
                | UInt32(text[i + 3] & 0x3F), 4)
    }

    @inline(__always) func classOf(_ v: UInt32) -> UInt8 {
        v < 0x10000 ? bmp[Int(v)] : CharClass.of(Unicode.Scalar(v)!)
    }

    /// The class of the scalar at byte `i`, or nil at `hi`.
    @inline(__always) func classAt(_ i: Int, _ hi: Int) -> UInt8? {
        i < hi ? classOf(scalar(at: i).value) : nil
    }

    /// The end of the run of scalars of class `cls` that starts at `i`.
    @inline(__always) func runEnd(_ i: Int, _ hi: Int, _ cls: UInt8) -> Int {
        var j = i
        while j < hi {
            let (v, n) = scalar(at: j)
            guard classOf(v) == cls else { break }
            j += n
        }
        return j
    }

    /// The whitespace run from `i`: its end, the start of its last scalar, its length in scalars, and the byte
    /// after its last `\r` or `\n` (nil when it has none).
    func spaceRun(_ i: Int, _ hi: Int) -> (end: Int, lastStart: Int, count: Int, afterLastNewline: Int?) {
        var j = i, last = i, count = 0
        var afterNewline: Int? = nil
        while j < hi {
            let (v, n) = scalar(at: j)
            guard classOf(v) == CharClass.space else { break }
            if v == 0x0A || v == 0x0D { afterNewline = j + 1 }
            last = j
            count += 1
            j += n
        }
        return (j, last, count, afterNewline)
    }

    /// The length after the apostrophe at `i - 1` of a contraction (`s t m d re ve ll`) starting at `i`, or nil.
    func contraction(_ i: Int, _ hi: Int, caseInsensitive: Bool) -> Int? {
        guard i < hi else { return nil }
        let (v, n) = scalar(at: i)
        let fold = { (c: UInt32) -> UInt32 in caseInsensitive && c >= 0x41 && c <= 0x5A ? c | 0x20 : c }
        let c = fold(v)
        if c == 0x73 || c == 0x74 || c == 0x6D || c == 0x64 { return n }  // s t m d
        if caseInsensitive && v == 0x17F { return n }  // ſ folds to s
        guard i + n < hi else { return nil }
        let d = fold(UInt32(text[i + n]))
        if (c == 0x72 && d == 0x65) || (c == 0x76 && d == 0x65) || (c == 0x6C && d == 0x6C) { return n + 1 }  // re ve ll
        return nil
    }

    /// `'s|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+` over `lo..<hi`.
    func gpt2(_ lo: Int, _ hi: Int, _ ends: inout [Int]) {
        var i = lo
        while i < hi {
            let (v, n) = scalar(at: i)
            let cls = classOf(v)
            var j: Int
            if v == 0x27, let k = contraction(i + 1, hi, caseInsensitive: false) {
                j = i + 1 + k
            } else if cls != CharClass.space {
                j = runEnd(i + n, hi, cls)
            } else if v == 0x20, let next = classAt(i + 1, hi), next != CharClass.space {
                j = runEnd(i + 1, hi, next)
            } else {
                let run = spaceRun(i, hi)
                j = run.end == hi || run.count == 1 ? run.end : run.lastStart
            }
            ends.append(j)
            i = j
        }
    }

    /// Each `\p{N}` scalar alone, and the GPT-2 pattern between them.
    func smollm(_ lo: Int, _ hi: Int, _ ends: inout [Int]) {
        var start = lo, i = lo
        while i < hi {
            let (v, n) = scalar(at: i)
            if classOf(v) == CharClass.number {
                if start < i { gpt2(start, i, &ends) }
                ends.append(i + n)
                start = i + n
            }
            i += n
        }
        if start < hi { gpt2(start, hi, &ends) }
    }

    /// `(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}{1,maxDigits}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+`
    func llama3(_ lo: Int, _ hi: Int, maxDigits: Int, _ ends: inout [Int]) {
        var i = lo
        while i < hi {
            let (v, n) = scalar(at: i)
            let cls = classOf(v)
            let next = classAt(i + n, hi)
            var j: Int
            if v == 0x27, let k = contraction(i + 1, hi, caseInsensitive: true) {
                j = i + 1 + k
            } else if cls == CharClass.letter {
                j = runEnd(i + n, hi, CharClass.letter)
            } else if cls != CharClass.number, v != 0x0A, v != 0x0D, next == CharClass.letter {
                j = runEnd(i + n, hi, CharClass.letter)
            } else if cls == CharClass.number {
                j = i + n
                var digits = 1
                while digits < maxDigits, classAt(j, hi) == CharClass.number {
                    j += scalar(at: j).length
                    digits += 1
                }
            } else if cls == CharClass.other || (v == 0x20 && next == CharClass.other) {
                j = runEnd(i + n, hi, CharClass.other)
                while j < hi, text[j] == 0x0A || text[j] == 0x0D { j += 1 }
            } else {
                let run = spaceRun(i, hi)
                if let afterNewline = run.afterLastNewline {
                    j = afterNewline
                } else {
                    j = run.end == hi || run.count == 1 ? run.end : run.lastStart
                }
            }
            ends.append(j)
            i = j
        }
    }
}
