import EPCore
import EPFormats
import EPRuntime
import EPStore
import EPTensors

/// How well a dictionary covers a set of activations (docs/use.md): the share within θ of their nearest exemplar
/// and the quantiles of that distance (the continuous out-of-distribution score).
public struct CoverageStatistics: Sendable, Equatable, Encodable {
    /// Activations measured.
    public var count: Int
    /// Share with nearest distance ≤ θ.
    public var withinThresholdRate: Double
    /// Nearest-exemplar distance: mean, median, 90th and 99th percentiles (NumPy's linear interpolation), extremes.
    public var mean: Double
    public var median: Double
    public var p90: Double
    public var p99: Double
    public var minimum: Double
    public var maximum: Double

    enum CodingKeys: String, CodingKey {
        case count = "n", withinThresholdRate = "within_threshold_rate", mean = "mean_distance", median = "median_distance"
        case p90 = "p90_distance", p99 = "p99_distance", minimum = "min_distance", maximum = "max_distance"
    }

    /// The statistics of `distances` against `threshold` (θ as `Float`, as every comparison uses).
    public init(distances: [Float], threshold: Float) {
        var accumulator = CoverageAccumulator(threshold: threshold)
        accumulator.add(distances)
        self.init(accumulator)
    }

    /// The statistics of what `accumulator` gathered (its distances are sorted in place).
    init(_ accumulator: CoverageAccumulator) {
        var sorted = accumulator.distances
        sorted.sort()
        count = sorted.count
        // NumPy's linear interpolation on the sorted distances, in Double (``Percentile/ofSorted(_:fraction:)``),
        // without a Double copy of them all.
        func quantile(_ q: Double) -> Double {
            guard !sorted.isEmpty else { return .nan }
            let h = Double(sorted.count - 1) * q
            let lo = Int(h.rounded(.down)), hi = min(lo + 1, sorted.count - 1)
            return Double(sorted[lo]) + (Double(sorted[hi]) - Double(sorted[lo])) * (h - Double(lo))
        }
        withinThresholdRate = count > 0 ? Double(accumulator.within) / Double(count) : .nan
        mean = count > 0 ? accumulator.sum / Double(count) : .nan
        median = quantile(0.5)
        p90 = quantile(0.9)
        p99 = quantile(0.99)
        minimum = sorted.first.map(Double.init) ?? .nan
        maximum = sorted.last.map(Double.init) ?? .nan
    }
}

/// Nearest-exemplar distances gathered batch by batch for ``CoverageStatistics``. The exact quantiles need every
/// distance, so it keeps them (4 bytes an activation; sorted once, at the end), with their running sum and
/// within-θ count.
struct CoverageAccumulator {
    let threshold: Float
    private(set) var distances: [Float] = []
    /// Sum of the distances in the order they came (the mean's rounding does not depend on the batches).
    private(set) var sum = 0.0
    private(set) var within = 0

    init(threshold: Float) { self.threshold = threshold }

    mutating func add(_ batch: [Float]) {
        distances += batch
        for d in batch {
            sum += Double(d)
            if d <= threshold { within += 1 }
        }
    }
}

/// The coverage of one document: its activations' mean nearest-exemplar distance and within-θ share, to rank
/// documents by how far outside the dictionary they fall.
public struct DocumentCoverage: Sendable, Equatable, Encodable {
    /// Where the document came from (`file:line` for JSONL).
    public var origin: String
    public var activations: Int
    public var meanDistance: Double
    public var withinThresholdRate: Double

    enum CodingKeys: String, CodingKey {
        case origin, activations, meanDistance = "mean_distance", withinThresholdRate = "within_threshold_rate"
    }
}

/// What `ep coverage` reports (its `--json`): the statistics of every corpus measured, and the documents ranked by
/// how far outside the dictionary they fall.
public struct CoverageReport: Sendable, Encodable {
    /// The dictionary, as the caller named it, and its θ.
    public var dictionary: String
    public var threshold: Double
    /// The statistics of each corpus (or of the random token windows) under its name, in the order measured.
    public var corpora: JSONOrderedObject<CoverageStatistics>
    /// Every document measured, highest mean distance first.
    public var documents: [DocumentCoverage]

    enum CodingKeys: String, CodingKey {
        case dictionary, threshold, corpora, documents
    }

    /// The report of `corpora` (name and statistics, in order) and of `documents` (in any order: they are ranked).
    public init(dictionary: String, threshold: Double, corpora: [(name: String, statistics: CoverageStatistics)], documents: [DocumentCoverage]) {
        self.dictionary = dictionary
        self.threshold = threshold
        self.corpora = JSONOrderedObject(corpora.map { (key: $0.name, value: $0.statistics) })
        self.documents = documents.sorted { $0.meanDistance > $1.meanDistance }
    }
}

/// Measures coverage of text by a dictionary, extracting activations as the dictionary's build did.
///
/// Text is read and run through the model a batch of windows at a time, so memory does not grow with the corpus
/// except for what the statistics need: every activation's nearest distance (4 bytes an activation, for the exact
/// quantiles) and one entry per document (its origin and four numbers).
public final class CoverageMeter {
    /// Windows run per batch unless told otherwise.
    public static let defaultBatchWindows = 128

    /// The dictionary.
    public let loaded: LoadedDictionary
    /// How its activations were extracted.
    public let extraction: DictionaryExtraction
    private let extractor: ActivationExtractor
    private let tokenizer: TextTokenizer
    private let vocabularySize: Int
    /// What the corpus reader read and left out in the last ``measure(corpus:options:maxTokens:batchWindows:)``.
    public private(set) var lastCorpusStatistics: CorpusStatistics?

    /// A meter for `loaded` with the model it was built from (the caller checks the model's identity).
    public init(_ loaded: LoadedDictionary, model: LanguageModel, tokenizer: TextTokenizer) throws {
        (extraction, extractor) = try DictionaryExtraction.of(loaded, model: model)
        (self.loaded, self.tokenizer) = (loaded, tokenizer)
        vocabularySize = model.config.vocabularySize
    }

    /// Coverage of a corpus (read in order, up to `maxTokens` tokens, `batchWindows` windows at a time), overall
    /// and per document. A corpus that gives no window is an error saying what was read and left out.
    public func measure(
        corpus: [String], options: CorpusOptions, maxTokens: Int?, batchWindows: Int = defaultBatchWindows
    ) throws -> (CoverageStatistics, [DocumentCoverage]) {
        guard batchWindows > 0 else { throw PipelineError("--batch-windows must be positive, got \(batchWindows)") }
        let reader = try extraction.windowReader(corpus: corpus, options: options, tokenizer: tokenizer, maxTokens: maxTokens)
        var measurement = Measurement(threshold: loaded.dictionary.thresholdFloat)
        while true {
            let group = try reader.next(batch: batchWindows)
            if group.isEmpty { break }
            try measure(group, into: &measurement)
        }
        lastCorpusStatistics = reader.statistics
        guard reader.windowCount > 0 else {
            throw PipelineError("\(corpus.joined(separator: ", ")): no text to measure (no window of at least the minimum length): \(reader.explanation)")
        }
        return measurement.result
    }

    /// Coverage of `count` windows of the dictionary's context length filled with uniformly random token ids
    /// (seeded), the BOS token first when the dictionary's windows have one; ids of the BOS and EOS tokens are
    /// replaced by the next id, as the reference does (docs/use.md).
    public func measureRandomTokens(windows count: Int, seed: UInt64) throws -> CoverageStatistics {
        var g = SeededGenerator(seed: seed)
        let special = Set([tokenizer.bosID, tokenizer.eosID].compactMap { $0 })
        let prefix = extraction.bosTokenID.map { [$0] } ?? []
        var measurement = Measurement(threshold: loaded.dictionary.thresholdFloat)
        for start in stride(from: 0, to: count, by: Self.defaultBatchWindows) {
            let group = (start..<min(start + Self.defaultBatchWindows, count)).map { i in
                ContextWindow(id: Int64(i), tokens: prefix + (prefix.count..<extraction.context).map { _ in
                    var id = Int32(g.uniform(below: vocabularySize))
                    while special.contains(id) { id = (id + 1) % Int32(vocabularySize) }
                    return id
                }, origin: "random tokens")
            }
            try measure(group, into: &measurement)
        }
        return measurement.result.0
    }

    /// What the batches measured so far gave: the distances and the per-document sums.
    private struct Measurement {
        var distances: CoverageAccumulator
        var documents: [String: (count: Int, sum: Double, within: Int, first: Int64)] = [:]

        init(threshold: Float) { distances = CoverageAccumulator(threshold: threshold) }

        var result: (CoverageStatistics, [DocumentCoverage]) {
            let perDocument = documents.sorted { $0.value.first < $1.value.first }.map { origin, e in
                DocumentCoverage(origin: origin, activations: e.count, meanDistance: e.sum / Double(e.count), withinThresholdRate: Double(e.within) / Double(e.count))
            }
            return (CoverageStatistics(distances), perDocument)
        }
    }

    /// Runs one batch of windows and adds its distances.
    private func measure(_ group: [ContextWindow], into measurement: inout Measurement) throws {
        let theta = measurement.distances.threshold
        guard let batch = try extractor.extract(group) else { return }
        let assignment = try loaded.dictionary.assign(batch.activations)
        measurement.distances.add(assignment.distances)
        var origins: [Int64: String] = [:]
        for w in group { origins[w.id] = w.origin }
        for (reference, distance) in zip(batch.references, assignment.distances) {
            let origin = origins[reference.source]!
            var entry = measurement.documents[origin] ?? (0, 0, 0, reference.source)
            entry.count += 1
            entry.sum += Double(distance)
            entry.within += distance <= theta ? 1 : 0
            measurement.documents[origin] = entry
        }
    }
}
