import ArgumentParser
import EPPipeline
import EPRuntime
import EPStore
import Foundation
import Synchronization

/// A model opened for a verb: the model, the file it came from, and its tokenizer.
struct OpenedModel {
    /// The name given (a path or a short name), as recorded in what is built with the model.
    let name: String
    let model: LanguageModel
    let path: String
    let tokenizer: TextTokenizer

    /// Opens the model named `name` (a path or a short name) with `threads` threads.
    init(_ name: String, threads: Int?) throws {
        self.name = name
        path = try ModelLocator.resolve(name)
        model = try LanguageModel(path: path, threads: threads)
        tokenizer = try makeTokenizer(for: model)
    }

    /// Opens the model of the dictionary at `dictionary`: `model` when given, otherwise the one its manifest
    /// records; either way it must be the model the dictionary was built from (``requireSameModel(as:dictionary:)``).
    init(for manifest: DictionaryManifest, dictionary: String, model: String?, threads: Int?) throws {
        guard let name = model ?? manifest.build.source?.model else { throw CommandError("give --model: \(dictionary) records no model") }
        try self.init(name, threads: threads)
        try requireSameModel(as: manifest, dictionary: dictionary)
    }

    /// Checks that this is the model a dictionary was built from (by SHA-256), naming both when it is not.
    func requireSameModel(as manifest: DictionaryManifest, dictionary: String) throws {
        guard let text = manifest.build.text else { return }
        let sha = try ModelIdentity.sha256(of: path)
        guard sha == text.modelSHA256 else {
            throw CommandError("\(dictionary): built from model \(manifest.build.source?.model ?? "?") (SHA-256 \(text.modelSHA256.prefix(12))…), but \(path) has SHA-256 \(sha.prefix(12))…; give the model the dictionary was built from with --model")
        }
    }
}

/// How a corpus is read, shared by the verbs that read text corpora.
struct CorpusArguments: ParsableArguments {
    @Option(name: .customLong("corpus"), help: "Corpus: a text file, a folder (read recursively), a .jsonl file, or - for standard input. Repeat for several.")
    var paths: [String] = []

    @Option(help: "JSON field holding the text in .jsonl files.")
    var jsonlField = "text"

    @Option(help: "How plain text becomes documents: file (a file is a document), lines, paragraphs.")
    var split: CorpusOptions.DocumentSplit = .file

    @Option(help: "In folders, read only files matching this glob (repeatable; * ? ** and [..]; without / it matches the file name).")
    var include: [String] = []

    @Option(help: "In folders, leave out files matching this glob (repeatable).")
    var exclude: [String] = []

    @Flag(help: "Read standard input (-) as JSONL rather than plain text.")
    var stdinJsonl = false

    @Option(help: "A JSONL line that is not JSON or lacks the text field: skip (count and report it) or stop.")
    var badLines: CorpusOptions.BadLinePolicy = .skip

    @Option(help: "Bytes that are not UTF-8: replace (with U+FFFD, counted), skip (the document), or stop.")
    var invalidUtf8: CorpusOptions.InvalidUTF8Policy = .replace

    /// The reader options.
    func options() throws -> CorpusOptions {
        var o = CorpusOptions()
        o.jsonlField = jsonlField
        o.split = split
        o.include = try include.map(Glob.init)
        o.exclude = try exclude.map(Glob.init)
        o.standardInputIsJSONL = stdinJsonl
        o.badLines = badLines
        o.invalidUTF8 = invalidUtf8
        return o
    }
}

extension CorpusOptions.DocumentSplit: ExpressibleByArgument {}
extension CorpusOptions.BadLinePolicy: ExpressibleByArgument {}
extension CorpusOptions.InvalidUTF8Policy: ExpressibleByArgument {}
extension ExtractorKind: ExpressibleByArgument {}
extension WindowSettings.Mode: ExpressibleByArgument {}
extension ActivationDType: ExpressibleByArgument {}

/// Whether windows start with the model's BOS token.
enum BOSChoice: String, ExpressibleByArgument, CaseIterable {
    /// As the model's tokenizer metadata says (`add_bos_token`).
    case auto
    /// Always prepend the tokenizer's BOS token.
    case always
    /// Never.
    case never

    /// The BOS id to prepend for `tokenizer`, or nil.
    func token(for tokenizer: TextTokenizer) throws -> Int32? {
        switch self {
        case .never: return nil
        case .auto: return tokenizer.addsBOS ? tokenizer.bosID : nil
        case .always:
            guard let bos = tokenizer.bosID else { throw CommandError("--bos always: the model's tokenizer has no BOS token") }
            return bos
        }
    }
}

/// A flag set by Ctrl-C or SIGTERM (what schedulers such as Slurm send before killing a job): the first signal
/// asks a long command to stop cleanly at the next safe point, a second one ends the process at once.
/// (Unchecked Sendable: the signal sources are only set up in `init`.)
final class InterruptFlag: @unchecked Sendable {
    private let raised = Atomic<Bool>(false)
    private let received = Atomic<Int32>(0)
    private var sources: [DispatchSourceSignal] = []

    /// Installs the handlers; `message` is printed on the first signal.
    init(message: String) {
        sources = [SIGINT, SIGTERM].map { [self] number in
            signal(number, SIG_IGN)
            let source = DispatchSource.makeSignalSource(signal: number, queue: .global())
            source.setEventHandler { [self] in
                _ = received.compareExchange(expected: 0, desired: number, ordering: .sequentiallyConsistent)
                if raised.exchange(true, ordering: .sequentiallyConsistent) {
                    signal(number, SIG_DFL)
                    raise(number)
                }
                let name = number == SIGINT ? "interrupted" : "terminated (SIGTERM)"
                FileHandle.standardError.write(Data("\n\(name): \(message)\n".utf8))
            }
            source.resume()
            return source
        }
    }

    /// Whether a stop was asked for.
    var isRaised: Bool { raised.load(ordering: .sequentiallyConsistent) }

    /// The first signal received (SIGINT or SIGTERM), if any.
    var signalNumber: Int32? {
        let n = received.load(ordering: .sequentiallyConsistent)
        return n == 0 ? nil : n
    }

    /// What stopped the command, for messages: `interrupted by SIGTERM`.
    var reason: String {
        switch signalNumber {
        case SIGTERM: "interrupted by SIGTERM"
        case SIGINT: "interrupted by SIGINT (Ctrl-C)"
        default: "interrupted"
        }
    }
}
