import EPCore
import EPRuntime
import EPStore
import EPTensors

/// How well a dictionary covers a set of activations (spec §16): the share within θ of their nearest exemplar
/// and the quantiles of that distance (the continuous out-of-distribution score).
public struct CoverageStatistics: Sendable, Equatable {
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

    /// The statistics of `distances` against `threshold` (θ as `Float`, as every comparison uses).
    public init(distances: [Float], threshold: Float) {
        count = distances.count
        let sorted = distances.sorted().map(Double.init)
        func quantile(_ q: Double) -> Double { Percentile.ofSorted(sorted, fraction: q) }
        withinThresholdRate = count > 0 ? Double(distances.filter { $0 <= threshold }.count) / Double(count) : .nan
        mean = count > 0 ? distances.reduce(0.0) { $0 + Double($1) } / Double(count) : .nan
        median = quantile(0.5)
        p90 = quantile(0.9)
        p99 = quantile(0.99)
        minimum = sorted.first ?? .nan
        maximum = sorted.last ?? .nan
    }
}

/// The coverage of one document: its activations' mean nearest-exemplar distance and within-θ share, to rank
/// documents by how far outside the dictionary they fall.
public struct DocumentCoverage: Sendable, Equatable {
    /// Where the document came from (`file:line` for JSONL).
    public var origin: String
    public var activations: Int
    public var meanDistance: Double
    public var withinThresholdRate: Double
}

/// Measures coverage of text by a dictionary, extracting activations as the dictionary's build did.
public final class CoverageMeter {
    /// The dictionary.
    public let loaded: LoadedDictionary
    /// How its activations were extracted.
    public let extraction: DictionaryExtraction
    private let extractor: ActivationExtractor
    private let tokenizer: TextTokenizer
    private let vocabularySize: Int

    /// A meter for `loaded` with the model it was built from (the caller checks the model's identity).
    public init(_ loaded: LoadedDictionary, model: LanguageModel, tokenizer: TextTokenizer) throws {
        extraction = try DictionaryExtraction(manifest: loaded.manifest, path: loaded.path)
        extractor = try extraction.extractor(model: model, for: loaded)
        self.loaded = loaded
        self.tokenizer = tokenizer
        vocabularySize = model.config.vocabularySize
    }

    /// Coverage of a corpus (read in order, up to `maxTokens` tokens), overall and per document.
    public func measure(corpus: [String], options: CorpusOptions, maxTokens: Int?) throws -> (CoverageStatistics, [DocumentCoverage]) {
        let (windows, _) = try extraction.windows(corpus: corpus, options: options, tokenizer: tokenizer, maxTokens: maxTokens)
        guard !windows.isEmpty else { throw PipelineError("\(corpus.joined(separator: ", ")): no text to measure (no window of at least the minimum length)") }
        return try measure(windows)
    }

    /// Coverage of `count` windows of the dictionary's context length filled with uniformly random token ids
    /// (seeded), the BOS token first when the dictionary's windows have one; ids of the BOS and EOS tokens are
    /// replaced by the next id, as the reference does (spec §16).
    public func measureRandomTokens(windows count: Int, seed: UInt64) throws -> CoverageStatistics {
        var g = SeededGenerator(seed: seed)
        let special = Set([tokenizer.bosID, tokenizer.eosID].compactMap { $0 })
        let prefix = extraction.bosTokenID.map { [$0] } ?? []
        let windows = (0..<count).map { i in
            ContextWindow(id: Int64(i), tokens: prefix + (prefix.count..<extraction.context).map { _ in
                var id = Int32(g.uniform(below: vocabularySize))
                while special.contains(id) { id = (id + 1) % Int32(vocabularySize) }
                return id
            }, origin: "random tokens")
        }
        return try measure(windows).0
    }

    private func measure(_ windows: [ContextWindow]) throws -> (CoverageStatistics, [DocumentCoverage]) {
        var distances: [Float] = []
        var documents: [String: (count: Int, sum: Double, within: Int, first: Int64)] = [:]
        let theta = loaded.dictionary.thresholdFloat
        for start in stride(from: 0, to: windows.count, by: 128) {
            let group = Array(windows[start..<min(start + 128, windows.count)])
            guard let batch = try extractor.extract(group) else { continue }
            let assignment = try loaded.dictionary.assign(batch.activations)
            distances += assignment.distances
            var origins: [Int64: String] = [:]
            for w in group { origins[w.id] = w.origin }
            for (reference, distance) in zip(batch.references, assignment.distances) {
                let origin = origins[reference.source]!
                var entry = documents[origin] ?? (0, 0, 0, reference.source)
                entry.count += 1
                entry.sum += Double(distance)
                entry.within += distance <= theta ? 1 : 0
                documents[origin] = entry
            }
        }
        let perDocument = documents.sorted { $0.value.first < $1.value.first }.map { origin, e in
            DocumentCoverage(origin: origin, activations: e.count, meanDistance: e.sum / Double(e.count), withinThresholdRate: Double(e.within) / Double(e.count))
        }
        return (CoverageStatistics(distances: distances, threshold: theta), perDocument)
    }
}
