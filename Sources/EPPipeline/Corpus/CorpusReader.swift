import Foundation
import EPFormats
import EPStore

/// One document of a corpus: its text and where it came from (`file`, `file:line` for JSONL and line-split text,
/// `standard input:line`).
public struct Document: Sendable, Equatable {
    /// The text, valid Unicode (invalid UTF-8 was handled by ``CorpusOptions/invalidUTF8``).
    public var text: String
    /// Where it came from.
    public var origin: String

    public init(text: String, origin: String) {
        self.text = text
        self.origin = origin
    }
}

/// How a corpus is read: which files of a folder, how a file becomes documents, and what to do with bad input.
public struct CorpusOptions: Sendable, Codable {
    /// How a plain-text file (or standard input) is cut into documents.
    public enum DocumentSplit: String, Sendable, CaseIterable, JSONStringEnum {
        /// The whole file is one document.
        case file
        /// Every non-empty line is a document.
        case lines
        /// Paragraphs separated by one or more blank lines are documents.
        case paragraphs
    }

    /// What to do with a JSONL line that is not a JSON object or lacks the text field.
    public enum BadLinePolicy: String, Sendable, CaseIterable, JSONStringEnum {
        /// Leave the line out and count it (the counts are reported at the end and recorded in the manifest).
        case skip
        /// Stop with an error naming the file and line.
        case stop
    }

    /// What to do with bytes that are not valid UTF-8.
    public enum InvalidUTF8Policy: String, Sendable, CaseIterable, JSONStringEnum {
        /// Replace each ill-formed sequence with U+FFFD and count the documents affected.
        case replace
        /// Leave the document out and count it.
        case skip
        /// Stop with an error naming the file (and line).
        case stop
    }

    /// Files of a folder to read; empty means every file. Patterns without `/` match the file name.
    public var include: [Glob] = []
    /// Files of a folder to leave out (applied after `include`).
    public var exclude: [Glob] = []
    /// The JSON field holding a document's text in `.jsonl` files.
    public var jsonlField = "text"
    /// How plain-text inputs become documents.
    public var split: DocumentSplit = .file
    /// Read standard input as JSONL rather than plain text.
    public var standardInputIsJSONL = false
    /// Bad JSONL lines.
    public var badLines: BadLinePolicy = .skip
    /// Invalid UTF-8.
    public var invalidUTF8: InvalidUTF8Policy = .replace

    public init() {}

    /// The fields as a shard plan's settings record them (`settings.corpus_options`; globs as their patterns).
    enum CodingKeys: String, CodingKey {
        case jsonlField = "jsonl_field", split, include, exclude, standardInputIsJSONL = "stdin_jsonl", badLines = "bad_lines"
        case invalidUTF8 = "invalid_utf8"
    }
}

/// What a ``CorpusReader`` read, left out or repaired (the counts a dictionary's manifest records, readable as
/// `statistics.documents` and so on), and the first few problems as `file:line: what` for the report.
@dynamicMemberLookup
public struct CorpusStatistics: Sendable, Equatable {
    /// The counts.
    public var counts = CorpusCounts()
    /// The first few problems, as `file:line: what`.
    public var examples: [String] = []
    /// Files of folders left out because they are not regular files: named pipes, sockets, devices, broken
    /// symbolic links (not recorded in a manifest).
    public var skippedSpecialFiles = 0
    /// Files of folders left out by the include and exclude globs (not recorded in a manifest).
    public var excludedFiles = 0
    /// Hidden files and folders of folders (names starting with `.`), left out (not recorded in a manifest).
    public var hiddenFiles = 0

    public init() {}

    public subscript<T>(dynamicMember field: WritableKeyPath<CorpusCounts, T>) -> T {
        get { counts[keyPath: field] }
        set { counts[keyPath: field] = newValue }
    }

    mutating func note(_ problem: String) {
        if examples.count < 5 { examples.append(problem) }
    }

    /// What was left out and why, one phrase per reason ("2 binary files skipped"); empty when nothing was.
    public var leftOut: [String] {
        func counted(_ n: Int, _ one: String, _ many: String, _ what: String) -> String? {
            n > 0 ? "\(n) \(n == 1 ? one : many) \(what)" : nil
        }
        return [
            counted(counts.skippedBinaryFiles, "binary file", "binary files", "skipped (NUL bytes)"),
            counted(skippedSpecialFiles, "special file", "special files", "skipped (named pipes, sockets, devices, broken links)"),
            counted(counts.skippedLines, "JSONL line", "JSONL lines", "skipped (not JSON, not an object, or no text field)"),
            counted(counts.skippedDocuments, "document", "documents", "with invalid UTF-8 skipped"),
            counted(excludedFiles, "file", "files", "excluded by --include/--exclude"),
            counted(hiddenFiles, "hidden file or folder", "hidden files or folders", "left out"),
        ].compactMap { $0 }
    }

    /// Why a corpus gave little or nothing, for errors: what was read and what was left out, with the first
    /// problem; `tooShort` documents that gave no window are counted too.
    public func explanation(tooShort: Int = 0) -> String {
        let (documents, files) = (counts.documents, counts.files)
        var text = "read \(documents) document\(documents == 1 ? "" : "s") from \(files) file\(files == 1 ? "" : "s")"
        let reasons = leftOut + (tooShort > 0 ? ["\(tooShort) document\(tooShort == 1 ? "" : "s") too short for a window"] : [])
        text += reasons.isEmpty ? "; nothing was left out" : "; " + reasons.joined(separator: "; ")
        if let first = examples.first { text += " (first: \(first))" }
        return text
    }
}

/// Streams the documents of a corpus: plain-text files, folders (recursive, sorted, with include and exclude
/// globs), JSONL files with a text field, and standard input, in the order given.
///
/// All paths are checked when the reader is created, so a missing or unreadable input fails before any work.
/// Memory is bounded by one file (plain text read as a single document) or one line (JSONL, line-split text).
public final class CorpusReader {
    /// One input as given on the command line.
    public enum Input: Sendable, Equatable {
        case textFile(String)
        case jsonlFile(String)
        case folder(String)
        case standardInput
    }

    /// The inputs, as resolved from the paths given.
    public let inputs: [Input]
    /// The options in force.
    public let options: CorpusOptions
    /// What was read so far.
    public private(set) var statistics = CorpusStatistics()

    private var pendingFiles: [(path: String, isJSONL: Bool)] = []
    private var inputIndex = 0
    private var current: (reader: LineReader, path: String, isJSONL: Bool)?
    private var pendingDocuments: [Document] = []

    /// Resolves each path: `-` is standard input, a folder is read recursively, `.jsonl`/`.ndjson` files are JSONL
    /// and every other file is plain text. Throws for a path that does not exist or cannot be read.
    public init(paths: [String], options: CorpusOptions = CorpusOptions()) throws {
        guard !paths.isEmpty else { throw PipelineError("no corpus given: pass --corpus PATH (a file, a folder, a .jsonl file, or - for standard input)") }
        var inputs: [Input] = []
        for path in paths {
            if path == "-" {
                inputs.append(.standardInput)
                continue
            }
            switch FileKind.of(path).kind {
            case .missing: throw PipelineError("\(path): no such file or folder")
            case .folder:
                guard FileManager.default.isReadableFile(atPath: path), (try? FileManager.default.contentsOfDirectory(atPath: path)) != nil else {
                    throw PipelineError("\(path): folder cannot be read")
                }
                inputs.append(.folder(path))
            case .regular, .fifo:
                // A named pipe given by name is a stream, read to its end like standard input.
                guard FileManager.default.isReadableFile(atPath: path) else { throw PipelineError("\(path): file cannot be read (permission denied)") }
                inputs.append(Self.isJSONL(path) ? .jsonlFile(path) : .textFile(path))
            case let kind:
                throw PipelineError("\(path): is \(kind.description), not a text file, a .jsonl file or a folder (give - to read standard input)")
            }
        }
        self.inputs = inputs
        self.options = options
    }

    /// Whether a file name says JSON Lines.
    static func isJSONL(_ path: String) -> Bool {
        path.hasSuffix(".jsonl") || path.hasSuffix(".ndjson") || path.hasSuffix(".jsonl.txt")
    }

    /// The regular files of a folder that the options select, recursively, sorted by relative path. Hidden files
    /// and folders (names starting with `.`) are left out; symbolic links are followed, each folder is entered
    /// once (a link cycle ends); named pipes, sockets, devices and broken links are left out (see ``FolderWalk``).
    public func files(inFolder folder: String) throws -> [String] {
        try FolderWalk(folder, include: options.include, exclude: options.exclude).files.map { folder + "/" + $0 }
    }

    /// The files of a folder to read, with what the walk left out counted and noted.
    private func walk(_ folder: String) throws -> [String] {
        let walk = try FolderWalk(folder, include: options.include, exclude: options.exclude)
        statistics.skippedSpecialFiles += walk.special.count
        statistics.excludedFiles += walk.excluded
        statistics.hiddenFiles += walk.hidden
        for (path, kind) in walk.special { statistics.note("\(folder)/\(path): \(kind.description), not a regular file; left out") }
        return walk.files.map { folder + "/" + $0 }
    }

    /// The next document, or nil when the corpus is exhausted. Throws under the `stop` policies.
    public func next() throws -> Document? {
        while true {
            if !pendingDocuments.isEmpty {
                let document = pendingDocuments.removeFirst()
                statistics.documents += 1
                statistics.bytes += document.text.utf8.count
                return document
            }
            if let current {
                if try readFromCurrent(current) { continue }
                self.current = nil
                continue
            }
            if !pendingFiles.isEmpty {
                let file = pendingFiles.removeFirst()
                try open(file.path, isJSONL: file.isJSONL)
                continue
            }
            guard inputIndex < inputs.count else { return nil }
            let input = inputs[inputIndex]
            inputIndex += 1
            switch input {
            case .textFile(let path): try open(path, isJSONL: false)
            case .jsonlFile(let path): try open(path, isJSONL: true)
            case .standardInput:
                current = (try LineReader(path: nil), "standard input", options.standardInputIsJSONL)
                statistics.files += 1
            case .folder(let path):
                pendingFiles = try walk(path).map { ($0, Self.isJSONL($0)) }
            }
        }
    }

    private func open(_ path: String, isJSONL: Bool) throws {
        let reader = try LineReader(path: path)
        statistics.files += 1
        if !isJSONL, Self.looksBinary(try reader.peek(Self.binaryProbeLength)) {
            statistics.skippedBinaryFiles += 1
            statistics.note("\(path): looks binary (contains NUL bytes); left out")
            return
        }
        current = (reader, path, isJSONL)
    }

    /// Bytes at the start of a file that ``looksBinary(_:)`` looks at.
    public static let binaryProbeLength = 8192

    /// Whether the start of a file says it is binary, not text: a NUL byte among its first
    /// ``binaryProbeLength`` bytes (the rule of git and grep). Plain-text files of a corpus that look binary are
    /// left out and counted; a `--text-file` that does is refused (``TextFile``).
    public static func looksBinary<Bytes: Collection<UInt8>>(_ start: Bytes) -> Bool {
        start.prefix(binaryProbeLength).contains(0)
    }

    /// Reads from the current input until at least one document is pending; false at its end.
    private func readFromCurrent(_ source: (reader: LineReader, path: String, isJSONL: Bool)) throws -> Bool {
        let reader = source.reader
        if source.isJSONL {
            while let line = try reader.next() {
                if line.allSatisfy({ $0 == 0x20 || $0 == 0x09 }) { continue }
                if let document = try jsonlDocument(line, origin: "\(source.path):\(reader.lineNumber)") {
                    pendingDocuments.append(document)
                    return true
                }
            }
            return false
        }
        switch options.split {
        case .file:
            let bytes = try reader.rest()
            if bytes.isEmpty { return false }
            if let document = try textDocument(bytes[...], origin: source.path) { pendingDocuments.append(document) }
            return !pendingDocuments.isEmpty
        case .lines:
            while let line = try reader.next() {
                if line.isEmpty { continue }
                if let document = try textDocument(line, origin: "\(source.path):\(reader.lineNumber)") {
                    pendingDocuments.append(document)
                    return true
                }
            }
            return false
        case .paragraphs:
            var paragraph: [UInt8] = []
            var firstLine = 0
            while let line = try reader.next() {
                let blank = line.allSatisfy { $0 == 0x20 || $0 == 0x09 }
                if blank {
                    if !paragraph.isEmpty { break }
                    continue
                }
                if paragraph.isEmpty { firstLine = reader.lineNumber } else { paragraph.append(0x0A) }
                paragraph.append(contentsOf: line)
            }
            if paragraph.isEmpty { return false }
            if let document = try textDocument(paragraph[...], origin: "\(source.path):\(firstLine)") { pendingDocuments.append(document) }
            return true
        }
    }

    /// A document from raw bytes under the invalid-UTF-8 policy; nil when it is left out.
    private func textDocument(_ bytes: ArraySlice<UInt8>, origin: String) throws -> Document? {
        if let text = String(validating: bytes, as: UTF8.self) { return Document(text: text, origin: origin) }
        switch options.invalidUTF8 {
        case .replace:
            statistics.repairedDocuments += 1
            statistics.note("\(origin): invalid UTF-8 replaced with U+FFFD")
            return Document(text: String(decoding: bytes, as: UTF8.self), origin: origin)
        case .skip:
            statistics.skippedDocuments += 1
            statistics.note("\(origin): invalid UTF-8; document left out")
            return nil
        case .stop:
            throw PipelineError("\(origin): invalid UTF-8 (use --invalid-utf8 replace or skip to continue past it)")
        }
    }

    /// A document from one JSONL line under the bad-line policy; nil when it is left out.
    private func jsonlDocument(_ line: ArraySlice<UInt8>, origin: String) throws -> Document? {
        func bad(_ problem: String) throws -> Document? {
            if options.badLines == .stop { throw PipelineError("\(origin): \(problem) (use --bad-lines skip to leave such lines out)") }
            statistics.skippedLines += 1
            statistics.note("\(origin): \(problem); line left out")
            return nil
        }
        var bytes = Data(line)
        var repaired = false
        if String(validating: line, as: UTF8.self) == nil {
            switch options.invalidUTF8 {
            case .stop: throw PipelineError("\(origin): invalid UTF-8 (use --invalid-utf8 replace or skip to continue past it)")
            case .skip:
                statistics.skippedDocuments += 1
                statistics.note("\(origin): invalid UTF-8; line left out")
                return nil
            case .replace:
                bytes = Data(String(decoding: line, as: UTF8.self).utf8)
                repaired = true
            }
        }
        let object: JSONValue
        do {
            object = try JSONValue.parse(Array(bytes), path: origin)
        } catch {
            return try bad("not valid JSON")
        }
        guard case .object(let dictionary) = object else { return try bad("not a JSON object") }
        guard let value = dictionary[options.jsonlField] else {
            let keys = dictionary.keys.sorted().joined(separator: ", ")
            return try bad("no field '\(options.jsonlField)' (fields: \(keys.isEmpty ? "none" : keys); choose one with --jsonl-field)")
        }
        guard case .string(let text) = value else { return try bad("field '\(options.jsonlField)' is not a string") }
        if text.isEmpty { return nil }
        if repaired {
            statistics.repairedDocuments += 1
            statistics.note("\(origin): invalid UTF-8 replaced with U+FFFD")
        }
        return Document(text: text, origin: origin)
    }
}
