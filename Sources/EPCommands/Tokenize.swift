import ArgumentParser
import EPFormats
import EPPipeline
import EPRuntime
import Foundation

/// `ep tokenize MODEL (--text T | --text-file F) [--json] [--special | --no-special]`: the token ids and pieces of a
/// text under a model's tokenizer, BOS/EOS included when the model adds them.
struct Tokenize: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "tokenize",
        abstract: "Show the token ids and pieces of a text under a model's tokenizer.",
        discussion: """
            Text files are read as UTF-8; ill-formed bytes become U+FFFD before tokenizing. The table shows each \
            token's id, its vocabulary entry, and the text it stands for (bytes in hex when they are not whole \
            UTF-8 characters).
            """)

    @OptionGroup var model: ModelArgument

    @Option(help: "The text to tokenize.")
    var text: String?

    @Option(help: "A file whose contents to tokenize.")
    var textFile: String?

    @Flag(help: "Print JSON {\"ids\": [...], \"tokens\": [...]} instead of a table.")
    var json = false

    @Flag(inversion: .prefixedNo, help: "Match special tokens such as <|im_start|> written in the text.")
    var special = true

    func validate() throws {
        guard (text == nil) != (textFile == nil) else { throw ValidationError("give exactly one of --text and --text-file") }
    }

    func run() throws {
        let tokenizer = try makeTokenizer(modelPath: ModelLocator.resolve(model.model))
        let input = try text ?? readText(textFile!)
        let ids = tokenizer.encode(input, parseSpecial: special, addSpecial: true)
        let pieces = ids.map { tokenizer.tokenPiece($0) ?? "" }
        if json {
            var out = JSONWriter(escaping: .standard)
            out.beginObject()
            out.key("ids"); out.integers(ids)
            out.key("tokens"); out.strings(pieces)
            out.endObject()
            print(out.text)
            return
        }
        var rows = [["id", "piece", "text"]]
        for (id, piece) in zip(ids, pieces) {
            let bytes = tokenizer.tokenBytes(id) ?? []
            let shown = String(bytes: bytes, encoding: .utf8).map { $0.debugDescription }
                ?? "bytes " + bytes.map { String(format: "%02X", $0) }.joined(separator: " ")
            rows.append([String(id), piece, shown])
        }
        print(alignedColumns(rows, rightAligned: [0]))
        print("\(ids.count) tokens (\(tokenizer.kindDescription)\(special ? "" : ", specials as text"))")
    }
}

/// The contents of `path` (a `--text-file`) as text, ill-formed UTF-8 replaced by U+FFFD; a file that cannot be
/// read, a folder, socket or device, or a file that looks binary is an error naming it (``TextFile``).
func readText(_ path: String) throws -> String {
    try TextFile.read(path)
}

/// `rows` as lines of space-separated columns padded to their widest cell; the columns in `rightAligned` are
/// padded on the left.
func alignedColumns(_ rows: [[String]], rightAligned: Set<Int> = []) -> String {
    let columns = rows.map(\.count).max() ?? 0
    let widths = (0..<columns).map { c in rows.map { c < $0.count ? $0[c].count : 0 }.max() ?? 0 }
    return rows.map { alignedRow($0, widths: widths, rightAligned: rightAligned) }.joined(separator: "\n")
}

/// One line of ``alignedColumns(_:rightAligned:)`` with the column widths given (for tables printed row by row);
/// a cell wider than its column is not cut.
func alignedRow(_ row: [String], widths: [Int], rightAligned: Set<Int> = []) -> String {
    row.enumerated().map { c, cell in
        let pad = String(repeating: " ", count: max(0, (c < widths.count ? widths[c] : 0) - cell.count))
        if rightAligned.contains(c) { return pad + cell }
        return c == row.count - 1 ? cell : cell + pad
    }.joined(separator: "  ")
}
