import EPPipeline
import FuzzSupport

/// Corpus files: the input as a JSONL file (each line a JSON object with a text field) under each bad-line and
/// invalid-UTF-8 policy, and as plain text split into lines and paragraphs.
@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzJSONL(_ data: UnsafePointer<UInt8>?, _ size: Int) -> Int32 {
    let jsonl = scratchFile("input.jsonl", data, size)
    let text = scratchFile("input.txt", data, size)
    var runs: [(String, CorpusOptions)] = []
    for policy in CorpusOptions.InvalidUTF8Policy.allCases {
        var options = CorpusOptions()
        options.invalidUTF8 = policy
        options.badLines = policy == .stop ? .stop : .skip
        runs.append((jsonl, options))
    }
    for split in CorpusOptions.DocumentSplit.allCases {
        var options = CorpusOptions()
        options.split = split
        runs.append((text, options))
    }
    for (path, options) in runs {
        guard let reader = try? CorpusReader(paths: [path], options: options) else { continue }
        var documents = 0
        while let document = try? reader.next() {
            _ = document.text.utf8.count
            documents += 1
            if documents > 100_000 { fatalError("corpus reader: more documents than input bytes") }
        }
    }
    return 0
}
