import EPFormats
import EPRuntime
#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// Shared plumbing of the fuzz targets: libFuzzer hands each target its input as a pointer and a length; parsers
/// that read files by path get the bytes through a scratch file.

/// The input as an array.
public func bytes(_ data: UnsafePointer<UInt8>?, _ size: Int) -> [UInt8] {
    guard let data, size > 0 else { return [] }
    return Array(UnsafeBufferPointer(start: data, count: size))
}

/// A scratch folder of this process (on tmpfs when there is one), made on first use.
private let scratchFolder: String = {
    var base = "/tmp"
    var info = stat()
    if stat("/dev/shm", &info) == 0, (info.st_mode & S_IFMT) == S_IFDIR, access("/dev/shm", W_OK) == 0 { base = "/dev/shm" }
    if let tmp = getenv("EP_FUZZ_TMPDIR") { base = String(cString: tmp) }
    let folder = "\(base)/ep-fuzz-\(getpid())"
    mkdir(folder, 0o700)
    return folder
}()

/// Writes `size` bytes at `data` to the scratch file `name` (a fresh file each time) and returns its path.
public func scratchFile(_ name: String, _ data: UnsafePointer<UInt8>?, _ size: Int) -> String {
    let path = "\(scratchFolder)/\(name)"
    let fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0o600)
    guard fd >= 0 else { fatalError("fuzz harness: cannot create \(path): \(String(cString: strerror(errno)))") }
    var done = 0
    while done < size, let data {
        let n = write(fd, data + done, size - done)
        guard n > 0 else { fatalError("fuzz harness: cannot write \(path): \(String(cString: strerror(errno)))") }
        done += n
    }
    close(fd)
    return path
}

/// Texts a tokenizer built from fuzzed data is run on: ASCII, digits, whitespace runs, several scripts, emoji,
/// control-token look-alikes, and invalid-looking byte-token text.
public let sampleTexts: [String] = [
    "",
    "Hello, world! It's 2024: 12345 apples\u{2009}and\toranges.\n\n  Indented line\r\n",
    "<|endoftext|><s></s><bos><eos><|im_start|>user\nhi<|im_end|> <start_of_turn>",
    "Ünïcödé – Ελληνικά русский 日本語テキスト 한국어 العربية 🙂👍🏽 \u{0}\u{7F}",
    "▁▁spaced▁text <0x41> <unk> <pad>    \n\n\n",
]

/// Runs a tokenizer built from fuzzed data on the sample texts (encode with and without special tokens, decode) and
/// looks up ids inside and outside its vocabulary.
public func exercise(_ tokenizer: InspectableTokenizer) {
    for text in sampleTexts {
        let ids = tokenizer.encode(text, parseSpecial: true, addSpecial: true)
        _ = tokenizer.decode(ids)
        _ = tokenizer.encode(text, parseSpecial: false, addSpecial: false)
    }
    for id: Int32 in [-1, 0, 1, 2, 255, 256, 1000, Int32.max] {
        _ = tokenizer.tokenBytes(id)
        _ = tokenizer.tokenPiece(id)
    }
    _ = tokenizer.decode([0, 1, -1, Int32.max])
    _ = tokenizer.kindDescription
}

/// Opens `path` as an activation file (a 2-D float array) and reads its first rows, when it is one.
public func exerciseActivationFile(_ path: String) {
    guard let file = try? ActivationFile(path: path), file.rows > 0 else { return }
    let rows = min(file.rows, 4)
    var out = [Float](repeating: 0, count: rows * file.width)
    var scratch: [UInt8] = []
    _ = try? out.withUnsafeMutableBufferPointer { try file.read(rows: 0..<rows, into: $0.baseAddress!, scratch: &scratch) }
}
