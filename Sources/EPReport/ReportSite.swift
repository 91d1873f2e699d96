import EPCore
import EPFormats
import EPStore
import Foundation

/// Settings of a report.
public struct ReportOptions: Sendable {
    /// Page title (default: the dictionary's model and hook, or its folder name).
    public var title: String?
    /// The model shown in the header (default: the one the manifest records).
    public var model: String?
    /// Regions per data chunk (`data/regions/NNNN.js`): a region page loads only its own chunk.
    public var regionsPerChunk = 100
    /// Nearest regions listed on each region page.
    public var neighbours = 8
    /// Bins of each region page's histogram of member distances.
    public var histogramBins = 30

    public init() {}
}

/// What a report wrote.
public struct ReportResult: Sendable, Equatable {
    /// Files written and their total size in bytes.
    public var files: Int
    public var bytes: Int
    /// Region data chunks among them.
    public var chunks: Int
}

/// The dictionary browser: a static site that opens from `file://` with no network, written from a dictionary
/// and, optionally, what a model says about its regions (``RegionText``).
///
/// Layout of the folder:
///
/// | path | content |
/// |---|---|
/// | `index.html` | summary, charts (region sizes, saturation, distances) and the table of regions |
/// | `map.html` | the exemplar directions projected on their first three principal components, rotatable |
/// | `region.html#ID` | one region: numbers, logit lens, closest and boundary contexts, neighbours, distances |
/// | `assets/` | the style sheet and the scripts (hand-written, no libraries) |
/// | `data/summary.js`, `data/regions.js`, `data/map.js` | the dictionary's facts, one row per region, map coordinates |
/// | `data/regions/NNNN.js` | region details, ``ReportOptions/regionsPerChunk`` regions per file |
///
/// Data files are JSON assigned to `window.EPData` (pages on `file://` may load scripts but not fetch files).
/// Every piece of corpus text is written as a JSON string with `<`, `>`, `&` and `'` escaped, and the pages put it
/// in the document only as text nodes, so text such as `<script>` shows as written.
public enum ReportSite {
    /// Writes the report of `loaded` as the folder `path` (replacing it atomically). `text`, when given, returns
    /// the readings of a range of regions (called once per chunk, in order).
    @discardableResult
    public static func write(
        _ loaded: LoadedDictionary, to path: String, options: ReportOptions = ReportOptions(),
        text: ((Range<Int>) throws -> [RegionText])? = nil
    ) throws -> ReportResult {
        let dictionary = loaded.dictionary
        let regions = dictionary.regions
        let k = regions.count
        guard options.regionsPerChunk > 0, options.neighbours >= 0, options.histogramBins > 0 else {
            throw FileFormatError(path, "report settings must be positive (regions per chunk, neighbours, histogram bins)")
        }
        let neighbours = ExemplarNeighbours(exemplars: regions.exemplarDirections, regions: k, width: dictionary.width, count: options.neighbours)
        let pca = PrincipalComponents(regions.exemplarDirections, rows: k, width: dictionary.width, count: 3)
        let coordinates = pca.project(regions.exemplarDirections, rows: k)
        let metrics = dictionary.intrinsicMetrics(minMembers: 2)

        var result = ReportResult(files: 0, bytes: 0, chunks: 0)
        try AtomicOutput.writeFolder(at: path) { folder in
            for sub in ["assets", "data", "data/regions"] {
                try FileManager.default.createDirectory(atPath: "\(folder)/\(sub)", withIntermediateDirectories: true)
            }
            func emit(_ name: String, _ bytes: [UInt8]) throws {
                try AtomicOutput.write(bytes, to: "\(folder)/\(name)")
                result.files += 1
                result.bytes += bytes.count
            }
            var index = IndexColumns(count: k)
            var facts = TextFacts()
            for (chunk, start) in stride(from: 0, to: k, by: options.regionsPerChunk).enumerated() {
                let range = start..<min(k, start + options.regionsPerChunk)
                let texts = try text?(range) ?? range.map { _ in RegionText() }
                guard texts.count == range.count else {
                    throw FileFormatError(path, "the readings of regions \(range.lowerBound)..<\(range.upperBound) hold \(texts.count) entries")
                }
                var json = JSONWriter(capacity: 1 << 16)
                json.beginArray()
                for (offset, region) in range.enumerated() {
                    let reading = texts[offset]
                    facts.add(reading)
                    index.add(reading)
                    writeRegion(region, reading, loaded: loaded, neighbours: neighbours, bins: options.histogramBins, into: &json)
                }
                json.endArray()
                try emit("data/regions/\(chunkName(chunk)).js", script("EPData.chunks[\(chunk)] = ", json))
                result.chunks += 1
            }
            try emit("data/regions.js", script("EPData.regions = ", index.json(regions: regions, neighbours: neighbours)))
            try emit("data/map.js", script("EPData.map = ", mapJSON(coordinates, pca: pca)))
            try emit(
                "data/summary.js",
                script("EPData.summary = ", summaryJSON(loaded, options: options, metrics: metrics, neighbours: neighbours, facts: facts)))
            let title = options.title ?? defaultTitle(loaded, model: options.model)
            for page in ReportPage.allCases { try emit(page.file, Array(page.html(title: title).utf8)) }
            for asset in ReportAssets.files { try emit("assets/\(asset.name)", Array(asset.text.utf8)) }
        }
        return result
    }

    /// The file name of chunk `n` (without `.js`), sortable: `0000`, `0001`, ….
    static func chunkName(_ n: Int) -> String {
        let digits = String(n)
        return String(repeating: "0", count: max(0, 4 - digits.count)) + digits
    }

    /// A data script: `prefix` followed by the JSON and a semicolon, after the line that creates `EPData`.
    static func script(_ prefix: String, _ json: JSONWriter) -> [UInt8] {
        var out = Array("window.EPData = window.EPData || {chunks: {}};\n\(prefix)".utf8)
        out += json.bytes
        out += Array(";\n".utf8)
        return out
    }

    static func defaultTitle(_ loaded: LoadedDictionary, model: String?) -> String {
        let source = loaded.manifest.build.source
        let parts = [model ?? source?.model, source?.hook].compactMap { $0 }
        let name = URL(fileURLWithPath: loaded.path).lastPathComponent
        return parts.isEmpty ? "EP dictionary \(name)" : "EP dictionary \(name) · " + parts.joined(separator: " · ")
    }

    // MARK: region details

    private static func writeRegion(
        _ i: Int, _ reading: RegionText, loaded: LoadedDictionary, neighbours: ExemplarNeighbours, bins: Int, into json: inout JSONWriter
    ) {
        let dictionary = loaded.dictionary
        let r = dictionary.regions
        let n = Double(r.memberCounts[i])
        let mean = r.sumDistances[i] / n
        let deviation = max(0, r.sumSquaredDistances[i] / n - mean * mean).squareRoot()
        let closest = r.closest.members(of: i), farthest = r.farthest.members(of: i)
        json.beginObject()
        json.key("id"); json.integer(i)
        json.key("members"); json.integer(r.memberCounts[i])
        json.key("coherence"); json.number(r.memberCoherences[i], decimals: 5)
        json.key("meanDistance"); json.number(mean, decimals: 5)
        json.key("sd"); json.number(deviation, decimals: 5)
        json.key("firstBatch"); json.integer(r.firstBatches[i])
        json.key("lastBatch"); json.integer(r.lastBatches[i])
        json.key("batches"); json.integer(r.batchCounts[i])
        json.key("exemplarRow"); json.integer(r.exemplarRows[i])
        for (name, list) in [("closestRefs", closest), ("farthestRefs", farthest)] {
            json.key(name)
            json.beginArray()
            for m in list {
                json.beginArray()
                json.integer(m.reference.source)
                json.integer(m.reference.position)
                json.number(Double(m.distance), decimals: 5)
                json.endArray()
            }
            json.endArray()
        }
        for (name, lens) in [("lensExemplar", reading.exemplarLens), ("lensMean", reading.meanLens)] {
            json.key(name)
            json.beginArray()
            for t in lens {
                json.beginArray()
                json.string(t.text)
                json.number(Double(t.logit), decimals: 3)
                json.endArray()
            }
            json.endArray()
        }
        for (name, list) in [("closest", reading.closest), ("boundary", reading.boundary)] {
            json.key(name)
            json.beginArray()
            for c in list { writeContext(c, into: &json) }
            json.endArray()
        }
        json.key("neighbours")
        json.beginArray()
        for (id, distance) in neighbours.neighbours(of: i) {
            json.beginArray()
            json.integer(id)
            json.number(Double(distance), decimals: 5)
            json.endArray()
        }
        json.endArray()
        json.key("sample")
        writeSample(reading.sampleDistances, threshold: dictionary.threshold, farthest: farthest.first?.distance, bins: bins, into: &json)
        json.endObject()
    }

    /// A context as `{d, w, p, o, f, t}` (distance, window, member position, origin, first shown position, token
    /// texts) plus, when the tokens were replayed, `x`, `n`, `nd`: each token's distance to the region, nearest
    /// region and distance to it (null where not computed).
    private static func writeContext(_ c: ReportContext, into json: inout JSONWriter) {
        json.beginObject()
        json.key("d"); json.number(Double(c.distance), decimals: 5)
        json.key("w"); json.integer(c.window)
        json.key("p"); json.integer(c.position)
        json.key("o"); json.string(c.origin)
        json.key("f"); json.integer(c.firstPosition)
        json.key("t"); json.strings(c.tokens.map(\.text))
        if c.tokens.contains(where: { $0.distance != nil }) {
            json.key("x"); json.beginArray()
            for t in c.tokens { json.number(t.distance.map(Double.init), decimals: 4) }
            json.endArray()
            json.key("n"); json.beginArray()
            for t in c.tokens { if let n = t.nearestRegion { json.integer(n) } else { json.null() } }
            json.endArray()
            json.key("nd"); json.beginArray()
            for t in c.tokens { json.number(t.nearestDistance.map(Double.init), decimals: 4) }
            json.endArray()
        }
        json.endObject()
    }

    /// The histogram of a region's sample of member distances: `bins` equal bins from 0 to a little above the
    /// largest of θ, the farthest recorded member and the sample.
    private static func writeSample(_ sample: [Float], threshold: Double, farthest: Float?, bins: Int, into json: inout JSONWriter) {
        let top = max(threshold, Double(farthest ?? 0), Double(sample.max() ?? 0)) * 1.05
        let counts = histogram(sample.map(Double.init), lower: 0, upper: top, bins: bins)
        json.beginObject()
        json.key("n"); json.integer(sample.count)
        json.key("width"); json.number(top / Double(bins), decimals: 6)
        json.key("counts"); json.integers(counts)
        json.endObject()
    }

    /// Counts of `values` in `bins` equal bins over [lower, upper] (values outside go to the end bins).
    static func histogram(_ values: [Double], lower: Double, upper: Double, bins: Int) -> [Int] {
        var counts = [Int](repeating: 0, count: bins)
        let width = (upper - lower) / Double(bins)
        for v in values where v.isFinite {
            // Clamped in Double before the conversion: (v − lower) / width can exceed Int's range for a tiny width.
            let position = width > 0 ? ((v - lower) / width).rounded(.down) : 0
            counts[position.isNaN || position < 0 ? 0 : position >= Double(bins) ? bins - 1 : Int(position)] += 1
        }
        return counts
    }

    // MARK: map

    private static func mapJSON(_ coordinates: [Float], pca: PrincipalComponents) -> JSONWriter {
        var json = JSONWriter(capacity: coordinates.count * 8)
        let m = pca.components.count
        json.beginObject()
        for (axis, name) in ["x", "y", "z"].enumerated() {
            json.key(name)
            json.beginArray()
            for i in 0..<(m > 0 ? coordinates.count / m : 0) { json.number(axis < m ? Double(coordinates[i * m + axis]) : 0, decimals: 4) }
            json.endArray()
        }
        json.key("explained"); json.numbers(pca.explainedRatios, decimals: 4)
        json.endObject()
        return json
    }

    // MARK: summary

    /// Facts about the readings, gathered while the chunks are written.
    struct TextFacts {
        var lens = false
        var contexts = false
        var tokenDistances = false
        var samples = 0

        mutating func add(_ t: RegionText) {
            lens = lens || !t.exemplarLens.isEmpty
            contexts = contexts || !t.closest.isEmpty || !t.boundary.isEmpty
            tokenDistances = tokenDistances || (t.closest + t.boundary).contains { $0.tokens.contains { $0.distance != nil } }
            samples += t.sampleDistances.count
        }
    }

    private static func summaryJSON(
        _ loaded: LoadedDictionary, options: ReportOptions, metrics: IntrinsicMetrics, neighbours: ExemplarNeighbours, facts: TextFacts
    ) -> JSONWriter {
        let m = loaded.manifest
        let dictionary = loaded.dictionary
        let r = dictionary.regions
        let source = m.build.source
        var json = JSONWriter()
        json.beginObject()
        json.key("title"); json.string(options.title ?? defaultTitle(loaded, model: options.model))
        json.key("dictionary"); json.string(loaded.path)
        json.key("regions"); json.integer(r.count)
        json.key("width"); json.integer(dictionary.width)
        json.key("threshold"); json.number(dictionary.threshold, decimals: 6)
        json.key("percentile"); json.number(m.percentile, decimals: 4)
        json.key("method"); json.string(m.calibration.method)
        json.key("model"); if let model = options.model ?? source?.model { json.string(model) } else { json.null() }
        json.key("hook"); if let hook = source?.hook { json.string(hook) } else { json.null() }
        json.key("extractor"); if let e = source?.extractor { json.string(e) } else { json.null() }
        json.key("context"); if let c = source?.contextLength { json.integer(c) } else { json.null() }
        json.key("tokens"); if let t = source?.tokenCount { json.integer(t) } else { json.null() }
        json.key("activations"); json.integer(m.build.activationCount)
        json.key("batches"); json.integer(m.build.batchCount)
        json.key("saturated"); json.bool(m.build.saturated)
        json.key("status"); if let t = m.build.text { json.string(t.status.rawValue) } else { json.null() }
        json.key("stopReason"); if let s = m.build.text?.stopReason { json.string(s) } else { json.null() }
        json.key("inputs"); json.strings(source?.inputs ?? [])
        json.key("created"); json.string(m.created)
        json.key("tool"); json.string("\(m.toolName) \(m.toolVersion)")
        json.key("hasLens"); json.bool(facts.lens)
        json.key("hasContexts"); json.bool(facts.contexts)
        json.key("hasTokenDistances"); json.bool(facts.tokenDistances)
        json.key("sampleTokens"); json.integer(facts.samples)
        json.key("regionsPerChunk"); json.integer(options.regionsPerChunk)
        json.key("metrics")
        json.beginArray()
        for (name, value) in metrics.entries {
            json.beginArray()
            json.string(name)
            json.number(value, decimals: 6)
            json.endArray()
        }
        json.endArray()
        writeSizes(r, into: &json)
        writeSaturation(loaded, into: &json)
        writeDistances(r, neighbours: neighbours, into: &json)
        json.endObject()
        return json
    }

    /// Region sizes in power-of-two bins: bin 0 holds size 1, bin b ≥ 1 sizes 2^(b−1)+1 … 2^b.
    private static func writeSizes(_ r: RegionTable, into json: inout JSONWriter) {
        var regionCounts: [Int] = [], memberCounts: [Int64] = []
        for members in r.memberCounts {
            var b = 0
            while (Int64(1) << b) < members { b += 1 }
            while regionCounts.count <= b {
                regionCounts.append(0)
                memberCounts.append(0)
            }
            regionCounts[b] += 1
            memberCounts[b] += members
        }
        json.key("sizes")
        json.beginObject()
        json.key("lower"); json.integers(regionCounts.indices.map { $0 == 0 ? 1 : (1 << ($0 - 1)) + 1 })
        json.key("upper"); json.integers(regionCounts.indices.map { 1 << $0 })
        json.key("regions"); json.integers(regionCounts)
        json.key("members"); json.integers(memberCounts)
        json.endObject()
    }

    /// Regions and new-region rate against tokens read (the build log) or rows clustered (the batch history of
    /// a dictionary built from activation files), in at most 400 groups of consecutive batches.
    private static func writeSaturation(_ loaded: LoadedDictionary, into json: inout JSONWriter) {
        var steps: [(position: Int, regions: Int, rows: Int, newRegions: Int)] = []
        let unit: String
        if let log = loaded.buildLog, !log.snapshots.isEmpty {
            unit = "tokens"
            steps = log.snapshots.map { ($0.tokens, $0.regions, $0.batchActivations, $0.newRegions) }
        } else {
            unit = "activations"
            var position = 0, regions = 0
            for b in loaded.dictionary.batchHistory {
                position += b.rows
                regions += b.newRegions
                steps.append((position, regions, b.rows, b.newRegions))
            }
        }
        let group = max(1, (steps.count + 399) / 400)
        var positions: [Int] = [], regions: [Int] = [], rates: [Double] = []
        for start in stride(from: 0, to: steps.count, by: group) {
            let slice = steps[start..<min(steps.count, start + group)]
            let rows = slice.reduce(0) { $0 + $1.rows }
            positions.append(slice.last!.position)
            regions.append(slice.last!.regions)
            rates.append(rows > 0 ? Double(slice.reduce(0) { $0 + $1.newRegions }) / Double(rows) : 0)
        }
        json.key("saturation")
        json.beginObject()
        json.key("unit"); json.string(unit)
        json.key("batchesPerPoint"); json.integer(group)
        json.key("position"); json.integers(positions)
        json.key("regions"); json.integers(regions)
        json.key("rate"); json.numbers(rates, decimals: 6)
        json.endObject()
    }

    /// Histograms over [0, 2] in bins of 0.02: each region's mean member distance (regions with ≥ 2 members),
    /// each region's distance to its nearest region, and all pairs of exemplars.
    private static func writeDistances(_ r: RegionTable, neighbours: ExemplarNeighbours, into json: inout JSONWriter) {
        let bins = neighbours.pairHistogram.count
        let intra = (0..<r.count).filter { r.memberCounts[$0] >= 2 }.map { r.sumDistances[$0] / Double(r.memberCounts[$0]) }
        let nearest = (0..<r.count).compactMap { neighbours.neighbours(of: $0).first.map { Double($0.distance) } }
        json.key("distances")
        json.beginObject()
        json.key("width"); json.number(2 / Double(bins), decimals: 6)
        json.key("intra"); json.integers(histogram(intra, lower: 0, upper: 2, bins: bins))
        json.key("nearest"); json.integers(histogram(nearest, lower: 0, upper: 2, bins: bins))
        json.key("pairs"); json.integers(neighbours.pairHistogram)
        json.endObject()
    }
}

/// The per-region columns of `data/regions.js`, gathered while the chunks are written.
struct IndexColumns {
    var lens: [[String]]
    var search: [String]
    var snippets: [[String]?]

    init(count: Int) {
        lens = []
        search = []
        snippets = []
        lens.reserveCapacity(count)
        search.reserveCapacity(count)
        snippets.reserveCapacity(count)
    }

    /// Lens tokens shown in the table, tokens searched, and the first closest context (8 tokens before the member,
    /// 3 after).
    mutating func add(_ t: RegionText) {
        lens.append(t.exemplarLens.prefix(5).map(\.text))
        var keys = (t.exemplarLens + t.meanLens).map(\.text)
        keys += (t.closest + t.boundary).compactMap { c in c.tokens.indices.contains(c.memberIndex) ? c.tokens[c.memberIndex].text : nil }
        search.append(keys.map { $0.trimmingCharacters(in: .whitespacesAndNewlines).lowercased() }.filter { !$0.isEmpty }.joined(separator: "\u{1F}"))
        if let c = t.closest.first, c.tokens.indices.contains(c.memberIndex) {
            let m = c.memberIndex
            snippets.append([
                c.tokens[max(0, m - 8)..<m].map(\.text).joined(), c.tokens[m].text, c.tokens[(m + 1)..<min(c.tokens.count, m + 4)].map(\.text).joined(),
            ])
        } else {
            snippets.append(nil)
        }
    }

    func json(regions r: RegionTable, neighbours: ExemplarNeighbours) -> JSONWriter {
        var json = JSONWriter(capacity: r.count * 120)
        json.beginObject()
        json.key("members"); json.integers(r.memberCounts)
        json.key("coherence"); json.numbers(r.memberCoherences, decimals: 4)
        json.key("meanDistance"); json.numbers((0..<r.count).map { r.sumDistances[$0] / Double(r.memberCounts[$0]) }, decimals: 4)
        json.key("nearest"); json.beginArray()
        for i in 0..<r.count { json.number(neighbours.neighbours(of: i).first.map { Double($0.distance) }, decimals: 4) }
        json.endArray()
        json.key("lens"); json.beginArray()
        for tokens in lens { json.strings(tokens) }
        json.endArray()
        json.key("search"); json.strings(search)
        json.key("snippet"); json.beginArray()
        for s in snippets { if let s { json.strings(s) } else { json.null() } }
        json.endArray()
        json.endObject()
        return json
    }
}
