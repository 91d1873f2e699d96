import EPCore
import EPEvals
import EPPipeline
import EPRuntime
import EPStore
import EPTensors
import Foundation

/// Runs texts through a dictionary's model exactly as the dictionary's build extracted activations — the same hook,
/// extractor, window length, BOS and position-0 handling (``DictionaryExtraction``) — and keeps every extracted
/// position of every text, text by text.
///
/// A text longer than the window is cut into consecutive windows, as ``TextAssigner`` cuts it. Windows of many texts
/// share each forward call.
///
/// Memory grows with the texts, by design: the evaluations fit probes and choose regions on every extracted
/// position, so every one is kept — 4·D bytes a token (D the hook's width; 2.3 KB at D = 576), plus 4 bytes a token
/// for the windows' ids. The texts are bounded by the evaluation's data (its `--max-train`/`--max-test` samples);
/// a set whose activations would not fit in this machine's memory is refused before the model runs.
public final class TextActivationReader {
    /// The dictionary whose extraction is followed.
    public let loaded: LoadedDictionary
    /// Its extraction.
    public let extraction: DictionaryExtraction
    private let extractor: ActivationExtractor
    private let tokenizer: TextTokenizer
    /// Told after each group of windows: texts done, of how many.
    public var onProgress: ((_ done: Int, _ total: Int) -> Void)?

    /// A reader for `loaded` with the model it was built from (the caller checks the model's identity).
    public init(_ loaded: LoadedDictionary, model: LanguageModel, tokenizer: TextTokenizer) throws {
        (extraction, extractor) = try DictionaryExtraction.of(loaded, model: model)
        (self.loaded, self.tokenizer) = (loaded, tokenizer)
    }

    /// Each text's windows (tokenized with special tokens parsed, as the build's corpus was).
    public func windows(_ texts: [String]) -> [[ContextWindow]] {
        var next: Int64 = 0
        return texts.map { text in
            let windows = extraction.windows(ofText: tokenizer.encode(text, parseSpecial: true, addSpecial: false), firstID: next)
            next += Int64(windows.count)
            return windows
        }
    }

    /// The number of positions the extraction takes from each text's windows (0 for a text too short to give any,
    /// such as a one-token text when position 0 is left out).
    public func positionCounts(_ windows: [[ContextWindow]]) -> [Int] {
        windows.map { $0.reduce(0) { $0 + extraction.settings.positions(inWindowOf: $1.tokens.count).count } }
    }

    /// The activations of texts cut into `windows` (every text must give at least one position), running
    /// `windowsPerGroup` windows at a time; also the number of tokens run.
    public func read(_ windows: [[ContextWindow]], windowsPerGroup: Int = 128) throws -> (activations: TextActivations, tokens: Int) {
        let counts = positionCounts(windows)
        if let empty = counts.firstIndex(of: 0) { throw PipelineError("text \(empty) gives no activation at \(extraction.hook)") }
        var offsets = [0]
        for c in counts { offsets.append(offsets.last! + c) }
        try Self.requireRoom(rows: offsets.last!, width: extractor.width, texts: windows.count)
        var rows = Matrix(rows: 0, columns: extractor.width)
        rows.storage.reserveCapacity(offsets.last! * extractor.width)
        let flat = windows.flatMap { $0 }
        var firstWindowOfText: [Int] = []
        var w = 0
        for list in windows {
            firstWindowOfText.append(w)
            w += list.count
        }
        var textsDone = 0
        for start in stride(from: 0, to: flat.count, by: max(1, windowsPerGroup)) {
            let group = Array(flat[start..<min(start + windowsPerGroup, flat.count)])
            guard let batch = try extractor.extract(group) else { throw PipelineError("the extraction stopped before the end of the texts") }
            rows.appendRows(of: batch.activations)
            let end = start + group.count
            while textsDone < windows.count && firstWindowOfText[textsDone] + windows[textsDone].count <= end { textsDone += 1 }
            onProgress?(textsDone, windows.count)
        }
        return (try TextActivations(rows: rows, offsets: offsets), flat.reduce(0) { $0 + $1.tokens.count })
    }

    /// Refuses to hold `rows` activations of `width` floats when they would take more than this machine's memory
    /// (an allocation that large would end the process rather than fail).
    static func requireRoom(rows: Int, width: Int, texts: Int, memory: UInt64 = ProcessInfo.processInfo.physicalMemory) throws {
        let (bytes, overflow) = rows.multipliedReportingOverflow(by: width * MemoryLayout<Float>.size)
        guard overflow || UInt64(bytes) > memory else { return }
        let gigabytes = { (b: Double) in String(format: "%.1f GB", b / 1e9) }
        throw PipelineError("the \(texts) texts give \(rows) activations of width \(width) (\(overflow ? "more than 9 EB" : gigabytes(Double(bytes)))), more than this machine's memory (\(gigabytes(Double(memory)))); evaluate fewer texts (--max-train, --max-test, --concepts-per-file)")
    }
}

/// A dictionary evaluated on labelled texts: the texts are run through the model once, read against the
/// dictionary's exemplar and mean directions once, and every method — EP's and the baselines — reads those same
/// activations and the same splits.
public struct DictionaryEvaluation: Sendable {
    /// The tasks and texts evaluated (without the texts that gave no activation).
    public let data: EvaluationData
    /// The texts' activations at the dictionary's hook.
    public let activations: TextActivations
    /// The cosine readouts of the exemplar and the mean directions (named `exemplar` and `mean`).
    public let bases: [BasisReadout]
    /// Texts left out because they gave no activation (shorter than two tokens when position 0 is left out).
    public let droppedTexts: Int
    /// Tokens run through the model (BOS included).
    public let tokens: Int
    /// Seconds spent running the model and reading the directions.
    public let extractionSeconds: Double
    public let readoutSeconds: Double

    /// Extracts `data`'s texts with `reader` and reads them against the dictionary's bases.
    public init(_ data: EvaluationData, reader: TextActivationReader) throws {
        let started = Date()
        let windows = reader.windows(data.texts)
        let counts = reader.positionCounts(windows)
        let empty = Set(counts.indices.filter { counts[$0] == 0 })
        self.data = data.dropping(empty)
        droppedTexts = empty.count
        let kept = windows.indices.filter { !empty.contains($0) }.map { windows[$0] }
        (activations, tokens) = try reader.read(kept)
        extractionSeconds = Date().timeIntervalSince(started)
        let readStart = Date()
        let d = reader.loaded.dictionary
        let r = d.regions
        bases = try [
            BasisReadout(name: DirectionBasis.exemplar.rawValue, center: d.center, directions: Matrix(rows: r.count, columns: r.width, storage: r.exemplarDirections), activations: activations),
            BasisReadout(name: DirectionBasis.mean.rawValue, center: d.center, directions: Matrix(rows: r.count, columns: r.width, storage: r.meanMemberDirections), activations: activations),
        ]
        readoutSeconds = Date().timeIntervalSince(readStart)
    }

    /// AxBench-style concept detection over every task (``ConceptDetection``).
    public func concepts(options: ConceptDetection.Options = .init(), progress: ((Int) -> Void)? = nil) throws -> ConceptDetectionReport {
        try ConceptDetection.run(activations, tasks: data.tasks, bases: bases, options: options, progress: progress)
    }

    /// SAEBench-style sparse probing over every task (``SparseProbing``).
    public func probes(options: SparseProbing.Options = .init(), progress: ((Int) -> Void)? = nil) throws -> [ProbingOutcome] {
        try SparseProbing.run(activations, tasks: data.tasks, bases: bases, options: options, progress: progress)
    }
}
