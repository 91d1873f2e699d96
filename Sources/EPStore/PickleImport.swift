import EPCore
import EPFormats
import EPTensors
import Foundation

/// A dictionary read from one of the authors' pickled `Dictionary` objects (``PickleImport``), ready to write.
public struct ImportedPickle {
    public var dictionary: ExemplarDictionary
    /// The distinct prompts of the closest/farthest members as text windows (ids in prompt order).
    public var contexts: ContextTable
    public var calibration: CalibrationProvenance
    public var build: BuildProvenance
    /// Each region's `label`, when the authors set one.
    public var labels: [String?]
}

/// What `ep import` wrote.
public struct PickleImportSummary: Sendable {
    public var regions: Int
    public var width: Int
    public var threshold: Double
    public var prompts: Int
    public var reservoirSamples: Int
    public var provenance: ImportProvenance
    public var manifest: DictionaryManifest
}

/// `ep import`: one of the authors' pickled EP dictionaries (their `ep.discovery.dictionary.Dictionary`, or the
/// pre-rename `cas.discovery.dictionary.ConceptLibrary`) turned into a dictionary folder **without executing
/// anything**: ``PickleGraph`` reads the opcode stream over a memory map and refuses every callable but the
/// dictionary's classes and numpy's array, dtype and scalar reconstruction; this converter then reads the objects'
/// fields (the layout in docs/import.md).
///
/// What carries over exactly: center, θ, exemplar and mean member directions (float32 bit for bit), member counts,
/// coherences and the two distance sums (float64 as pickled), the closest (`sample_prompts`) and farthest
/// (`boundary_prompts`) members with their distances, prompt text and token position (the prompts become text
/// context windows), and the member vectors (`sample_members`) as the reservoir unless it is dropped. Each
/// region's first and last batch and batch count come from its `source_iterations`, its founder's row from the
/// first of its `constituent_sample_indices`. The batch history, which a pickle does not hold, is made from the
/// metadata's batch size and activation count, or without metadata by placing each batch boundary after the last
/// founder row of the batch before (`ImportProvenance.batches` says which).
///
/// Memory: the graph of small values (a few dozen bytes per opcode that makes one) plus one copy of the arrays in
/// the dictionary's own layout; array bytes are read straight from the map, which the page cache can drop.
public enum PickleImport {
    /// The most batches an imported dictionary may name (2^26: 1 GB of batch history).
    public static let maximumBatches = 1 << 26

    /// Reads the pickle at `path` (and the metadata JSON at `metadataPath`, if given).
    public static func read(
        pickle path: String, metadata metadataPath: String? = nil, reservoir keepReservoir: Bool = true, limits: PickleLimits = PickleLimits()
    ) throws -> ImportedPickle {
        let file = try MappedFile(path: path)
        var hasher = SHA256()
        let piece = 64 << 20
        var offset = 0
        while offset < file.count {
            let n = min(piece, file.count - offset)
            hasher.update(UnsafeRawBufferPointer(rebasing: file.buffer[offset..<(offset + n)]))
            file.release(offset..<(offset + n))
            offset += n
        }
        let sha = hasher.hexDigest
        let graph = try PickleGraph(file: file, limits: limits)
        var metadata: PickleMetadata?, metadataSHA: String?
        if let metadataPath {
            let bytes = try ReadOnlyFile(path: metadataPath)
            let raw = try bytes.readBytes(count: bytes.size, at: 0)
            var h = SHA256()
            h.update(raw)
            metadataSHA = h.hexDigest
            metadata = try JSONValueDecoder().decode(PickleMetadata.self, from: try JSONValue.parse(raw, path: metadataPath), path: metadataPath)
        }
        return try Converter(graph: graph, keepReservoir: keepReservoir).convert(
            sha256: sha, metadata: metadata, metadataPath: metadataPath, metadataSHA256: metadataSHA)
    }

    /// Reads the pickle and writes the dictionary folder at `output` (atomically). `model` and `hook`, which a pickle
    /// does not hold, are recorded as where the activations came from (an SAELens export needs the hook).
    @discardableResult
    public static func run(
        pickle path: String, metadata: String? = nil, reservoir: Bool = true, model: String? = nil, hook: String? = nil, to output: String
    ) throws -> PickleImportSummary {
        var imported = try read(pickle: path, metadata: metadata, reservoir: reservoir)
        for source in [\ImportedPickle.build.source, \ImportedPickle.calibration.source] {
            imported[keyPath: source]?.model = model
            imported[keyPath: source]?.hook = hook
        }
        let manifest = try DictionaryStore.write(
            imported.dictionary, calibration: imported.calibration, build: imported.build, to: output, contexts: imported.contexts)
        let regions = imported.dictionary.regions
        return PickleImportSummary(
            regions: regions.count, width: imported.dictionary.width, threshold: imported.dictionary.threshold,
            prompts: imported.contexts.windows.count,
            reservoirSamples: regions.reservoir.map { $0.directions.reduce(0) { $0 + $1.count } / max(imported.dictionary.width, 1) } ?? 0,
            provenance: imported.build.imported!, manifest: manifest)
    }
}

/// One region as read from a `Partition`.
private struct PickledRegion {
    var memberCount: Int64
    var coherence: Double
    var sumDistance: Double
    var sumSquaredDistance: Double
    var firstBatch: Int64
    var lastBatch: Int64
    var batchCount: Int64
    var founderRow: Int64?
    var closest: [(distance: Double, prompt: String, position: Int64, node: Int)]
    var farthest: [(distance: Double, prompt: String, position: Int64, node: Int)]
    var label: String?
    var node: Int
}

private struct Converter {
    let graph: PickleGraph
    let keepReservoir: Bool
    var path: String { graph.path }

    /// The attributes of an object made by `NEWOBJ` / `REDUCE` and `BUILD` with its `__dict__` (or a
    /// `(__dict__, slots)` pair), by name.
    func attributes(_ node: Int, expected: PickleCallable, what: String) throws -> [String: Int] {
        guard case .call(let callable, _, let state) = graph[node], callable == expected else {
            throw graph.error(node, "\(what): expected a pickled \(expected.rawValue) object, found \(graph[node].kindDescription)")
        }
        guard var state else { throw graph.error(node, "\(what): the \(expected.rawValue) object has no state (no BUILD)") }
        if case .tuple(let pair) = graph[state], pair.count == 2 {
            guard case .dict = graph[pair[0]] else { throw graph.error(state, "\(what): expected the object's state (__dict__, slots)") }
            state = pair[0]
        }
        guard case .dict(let items) = graph[state] else {
            throw graph.error(state, "\(what): the \(expected.rawValue) object's state is \(graph[state].kindDescription), expected its __dict__")
        }
        var out: [String: Int] = [:]
        for (k, v) in items {
            guard case .string(let name) = graph[k] else { throw graph.error(k, "\(what): an attribute name is \(graph[k].kindDescription)") }
            out[name] = v
        }
        return out
    }

    func field(_ fields: [String: Int], _ name: String, of what: String, at node: Int) throws -> Int {
        guard let v = fields[name] else { throw graph.error(node, "\(what) has no attribute '\(name)' (not an EP dictionary pickle, or a version this importer does not know)") }
        return v
    }

    /// A direction: a float array of shape [D] or [1, D], appended to `out`.
    func direction(_ node: Int, width: Int, into out: inout [Float], what: String) throws {
        let a = try graph.array(node, what: what)
        guard a.shape == [width] || a.shape == [1, width] else {
            throw graph.error(node, "\(what): expected a float array of shape (\(width),), found \(a.dtype) \(a.shape)")
        }
        try graph.floats(a, into: &out, what: what, at: node)
    }

    func prompts(_ node: Int, what: String, negated: Bool) throws -> [(distance: Double, prompt: String, position: Int64, node: Int)] {
        let entries = try graph.sequence(node, what: what)
        guard entries.count <= ReferenceTable.capacity else {
            throw graph.error(node, "\(what) holds \(entries.count) prompts; an EP dictionary keeps at most \(ReferenceTable.capacity)")
        }
        return try entries.map { e in
            let t = try graph.sequence(e, what: what)
            guard t.count == 3 else { throw graph.error(e, "\(what): expected (distance, prompt, position) entries, found \(t.count) values") }
            let key = try graph.number(t[0], what: "\(what) distance")
            let distance = negated ? -key : key
            guard distance.isFinite, distance >= 0, distance <= 2 else {
                throw graph.error(t[0], "\(what): distance \(distance) is not a cosine distance in [0, 2]")
            }
            let position = try graph.integer(t[2], what: "\(what) position")
            guard position >= 0, position <= Int64(Int32.max) else { throw graph.error(t[2], "\(what): position \(position) out of range") }
            return (max(0, distance), try graph.string(t[1], what: "\(what) prompt"), position, e)
        }
    }

    func convert(sha256: String, metadata: PickleMetadata?, metadataPath: String?, metadataSHA256: String?) throws -> ImportedPickle {
        let root = graph.root
        let pickledClass: String
        switch graph[root] {
        case .call(.dictionary, _, _): pickledClass = "Dictionary"
        default: throw graph.error(root, "the pickle holds \(graph[root].kindDescription), expected an EP Dictionary (ep.discovery.dictionary.Dictionary)")
        }
        let top = try attributes(root, expected: .dictionary, what: "the Dictionary")
        guard case .call(_, let rootArgs, _) = graph[root] else { throw graph.error(root, "not a Dictionary") }
        // NEWOBJ's class is the node before its argument tuple on the stack; find the class by the node made last
        // before the arguments (the class, or a memo reference to it, is pushed first).
        let rootClass = (0..<rootArgs).last { if case .callable(.dictionary) = graph[$0] { return true } else { return false } } ?? -1
        let centerNode = try field(top, "center", of: "the Dictionary", at: root)
        let centerArray = try graph.array(centerNode, what: "Dictionary.center")
        guard centerArray.shape.count == 1, centerArray.shape[0] > 0 else {
            throw graph.error(centerNode, "Dictionary.center: expected a 1-D float array, found shape \(centerArray.shape)")
        }
        var center: [Float] = []
        try graph.floats(centerArray, into: &center, what: "Dictionary.center", at: centerNode)
        let d = center.count
        let thresholdNode = try field(top, "threshold", of: "the Dictionary", at: root)
        let threshold = try graph.number(thresholdNode, what: "Dictionary.threshold")
        guard Calibration.isValidThreshold(threshold) else { throw graph.error(thresholdNode, "Dictionary.threshold is \(threshold); expected θ in (0, 2)") }
        let partitionsNode = try field(top, "partitions", of: "the Dictionary", at: root)
        let partitions = try graph.sequence(partitionsNode, what: "Dictionary.partitions")
        var rate: Double?
        if let r = top["_last_batch_new_partition_rate"], case .none = graph[r] {} else if let r = top["_last_batch_new_partition_rate"] {
            rate = try graph.number(r, what: "Dictionary._last_batch_new_partition_rate")
            guard rate! >= 0, rate! <= 1 else { throw graph.error(r, "Dictionary._last_batch_new_partition_rate is \(rate!); expected a rate in [0, 1]") }
        }

        var regions = RegionTable(width: d)
        var pickled: [PickledRegion] = []
        var samples: [[Float]] = []
        pickled.reserveCapacity(partitions.count)
        regions.exemplarDirections.reserveCapacity(partitions.count * d)
        regions.meanMemberDirections.reserveCapacity(partitions.count * d)
        var released = 0
        for (k, node) in partitions.enumerated() {
            // The partitions' bytes lie one after the other: those before this one have been copied out, so their
            // pages leave the resident set (an array shared through the memo is read from the file again).
            let start = graph.offsets[node]
            if start - released >= 16 << 20 {
                graph.file.release(released..<start)
                released = start
            }
            let what = "partition \(k)"
            let f = try attributes(node, expected: .partition, what: what)
            func get(_ name: String) throws -> Int { try field(f, name, of: what, at: node) }
            let count = try graph.integer(try get("member_count"), what: "\(what).member_count")
            guard count >= 1 else { throw graph.error(try get("member_count"), "\(what).member_count is \(count); expected at least 1") }
            try direction(try get("exemplar_direction"), width: d, into: &regions.exemplarDirections, what: "\(what).exemplar_direction")
            try direction(try get("mean_member_direction"), width: d, into: &regions.meanMemberDirections, what: "\(what).mean_member_direction")
            let iterationsNode = try get("source_iterations")
            let iterations: [Int64]
            switch graph[iterationsNode] {
            case .set(let s), .list(let s), .tuple(let s): iterations = try s.map { try graph.integer($0, what: "\(what).source_iterations") }
            case .call(.set, let args, _), .call(.frozenset, let args, _):
                let a = try graph.sequence(args, what: "\(what).source_iterations")
                iterations = try a.isEmpty ? [] : graph.sequence(a[0], what: "\(what).source_iterations").map { try graph.integer($0, what: "\(what).source_iterations") }
            default: throw graph.error(iterationsNode, "\(what).source_iterations: expected a set of batch numbers, found \(graph[iterationsNode].kindDescription)")
            }
            guard let first = iterations.min(), let last = iterations.max(), first >= 0, last < PickleImport.maximumBatches else {
                throw graph.error(iterationsNode, "\(what).source_iterations: expected a non-empty set of batch numbers in 0 ..< \(PickleImport.maximumBatches)")
            }
            let founders = f["constituent_sample_indices"].map { try? graph.sequence($0, what: "") } ?? nil
            let founderRow = try founders?.first.map { try graph.integer($0, what: "\(what).constituent_sample_indices") }
            if let row = founderRow, !(0...DictionaryValidation.maximumRows).contains(row) {
                throw graph.error(founders![0], "\(what).constituent_sample_indices[0] is \(row); expected a row number in 0 … 2^53")
            }
            var label: String?
            if let l = f["label"], case .string(let s) = graph[l] { label = s }
            pickled.append(PickledRegion(
                memberCount: count, coherence: try graph.number(try get("member_coherence"), what: "\(what).member_coherence"),
                sumDistance: try graph.number(try get("sum_dist_to_exemplar"), what: "\(what).sum_dist_to_exemplar"),
                sumSquaredDistance: try graph.number(try get("sum_sq_dist_to_exemplar"), what: "\(what).sum_sq_dist_to_exemplar"),
                firstBatch: first, lastBatch: last, batchCount: Int64(Set(iterations).count), founderRow: founderRow,
                closest: try prompts(try get("sample_prompts"), what: "\(what).sample_prompts", negated: true),
                farthest: try prompts(try get("boundary_prompts"), what: "\(what).boundary_prompts", negated: false),
                label: label, node: node))
            if keepReservoir {
                var rows: [Float] = []
                let membersNode = try get("sample_members")
                let members = try graph.sequence(membersNode, what: "\(what).sample_members")
                guard members.count <= MemberReservoir.capacity, Int64(members.count) <= count else {
                    throw graph.error(membersNode, "\(what).sample_members holds \(members.count) vectors; expected at most \(min(Int64(MemberReservoir.capacity), count)) (30, and no more than its \(count) members)")
                }
                rows.reserveCapacity(members.count * d)
                for (j, m) in members.enumerated() { try direction(m, width: d, into: &rows, what: "\(what).sample_members[\(j)]") }
                samples.append(rows)
            }
        }
        graph.file.release(0..<graph.file.count)
        let k = pickled.count
        if let m = metadata?.discovery {
            if let n = m.regionCount, n != k {
                throw FileFormatError(metadataPath!, "field 'discovery.n_partitions' is \(n) but \(path) holds \(k) partitions (is this the metadata of that pickle?)")
            }
            if let t = m.threshold, t != threshold {
                throw FileFormatError(metadataPath!, "field 'discovery.threshold' is \(t) but \(path) has θ = \(threshold) (is this the metadata of that pickle?)")
            }
        }

        // The batch history.
        let batchCount = Int((pickled.map(\.lastBatch).max() ?? -1) + 1)
        var batchRows: [Int64]
        let batches: String
        let totalMembers = pickled.reduce(Int64(0)) { $0 + $1.memberCount }
        if let size = metadata?.configuration?.batchSize, let n = metadata?.discovery?.activationCount {
            guard size > 0, Int64(size) <= DictionaryValidation.maximumRows else {
                throw FileFormatError(metadataPath!, "field 'discovery_config.batch_size' is \(size); expected a positive batch size")
            }
            guard n >= 0, Int64(n) <= DictionaryValidation.maximumRows, (n + size - 1) / size <= PickleImport.maximumBatches else {
                throw FileFormatError(metadataPath!, "field 'discovery.n_activations' is \(n); expected a row count in 0 … 2^53 making at most \(PickleImport.maximumBatches) batches of \(size)")
            }
            guard n >= 0, Int64(n) >= totalMembers, (n + size - 1) / size >= batchCount else {
                throw FileFormatError(metadataPath!, "fields 'discovery.n_activations' (\(n)) and 'discovery_config.batch_size' (\(size)) give \((max(n, 0) + size - 1) / size) batches of rows, but \(path)'s partitions name \(batchCount) batches and count \(totalMembers) members")
            }
            let full = (n + size - 1) / size
            batchRows = (0..<full).map { Int64(min(size, n - $0 * size)) }
            batches = "metadata"
        } else {
            // Each boundary just after the last founder row of the batches before it.
            var starts = [Int64](repeating: 0, count: batchCount + 1)
            for r in pickled { if let row = r.founderRow { starts[Int(r.firstBatch) + 1] = max(starts[Int(r.firstBatch) + 1], row + 1) } }
            for b in 1...max(batchCount, 1) where b <= batchCount { starts[b] = max(starts[b], starts[b - 1]) }
            let end = max(starts[batchCount], totalMembers, (pickled.compactMap(\.founderRow).max() ?? -1) + 1)
            starts[batchCount] = end
            batchRows = (0..<batchCount).map { starts[$0 + 1] - starts[$0] }
            batches = "founders"
        }
        var batchStart: [Int64] = [0]
        for rows in batchRows { batchStart.append(batchStart.last! + rows) }
        var founded = [Int64](repeating: 0, count: batchRows.count)

        // Prompts become text windows, numbered in the order of their text (so that equal distances list in
        // prompt order, as Python's tuple comparison of (distance, prompt, position) does).
        var promptSet = Set<String>()
        for r in pickled { for p in r.closest + r.farthest { promptSet.insert(p.prompt) } }
        let promptList = promptSet.sorted { $0.unicodeScalars.lexicographicallyPrecedes($1.unicodeScalars) }
        let windowOf = Dictionary(uniqueKeysWithValues: promptList.enumerated().map { ($1, Int64($0)) })
        let origin = URL(fileURLWithPath: path).lastPathComponent

        for (i, r) in pickled.enumerated() {
            regions.memberCounts.append(r.memberCount)
            regions.memberCoherences.append(r.coherence)
            regions.sumDistances.append(r.sumDistance)
            regions.sumSquaredDistances.append(r.sumSquaredDistance)
            regions.firstBatches.append(r.firstBatch)
            regions.lastBatches.append(r.lastBatch)
            regions.batchCounts.append(r.batchCount)
            let row = r.founderRow ?? batchStart[Int(r.firstBatch)]
            guard row >= batchStart[Int(r.firstBatch)], row < batchStart[Int(r.firstBatch) + 1] else {
                throw graph.error(r.node, "partition \(i): its founder (constituent_sample_indices[0] = \(row)) is not a row of its first batch \(r.firstBatch) (rows \(batchStart[Int(r.firstBatch)]) ..< \(batchStart[Int(r.firstBatch) + 1])\(batches == "metadata" ? " by the metadata's batch size" : ""))")
            }
            regions.exemplarRows.append(row)
            founded[Int(r.firstBatch)] += 1
            for (table, list) in [(ReferenceTable.Kind.closest, r.closest), (.farthest, r.farthest)] {
                let members = list.map { MemberReference(reference: RowReference(source: windowOf[$0.prompt]!, position: Int32($0.position)), distance: Float($0.distance)) }
                do {
                    if table == .closest { try regions.closest.appendRegion(members: members) } else { try regions.farthest.appendRegion(members: members) }
                } catch let error as EPError {
                    throw graph.error(r.node, "partition \(i): \(error.description)")
                }
            }
        }
        regions.count = k
        let history = zip(batchRows, founded).map { BatchRecord(rows: Int($0), newRegions: Int($1)) }
        let seed = metadata?.configuration?.seed ?? 0
        if keepReservoir {
            do {
                regions.reservoir = try MemberReservoir(width: d, directions: samples, generator: SeededGenerator(seed: UInt64(truncatingIfNeeded: seed)))
            } catch let error as EPError {
                throw FileFormatError(path, error.description)
            }
        }

        // The checks loading would make, reported against the pickle.
        try DictionaryValidation.check(center: center, regions: regions, batchRows: batchRows, batchNewRegions: founded, path: path)
        if let reservoir = regions.reservoir {
            var offsets = [0]
            for s in reservoir.directions { offsets.append(offsets.last! + s.count / d) }
            for (i, s) in reservoir.directions.enumerated() {
                try DictionaryValidation.checkUnitRows(s, rows: s.count / d, width: d, tensor: "partition \(i).sample_members", path: path)
            }
        }
        let contexts = ContextTable(promptList.enumerated().map { ContextWindow(id: Int64($0), tokens: [], origin: origin, text: $1) })
        let dictionary: ExemplarDictionary
        do {
            dictionary = try ExemplarDictionary(
                center: center, threshold: threshold, regions: regions, batchHistory: history, rowsSeen: batchStart.last!)
        } catch let error as EPError {
            throw FileFormatError(path, error.description)
        }

        let rows = Int(batchStart.last!)
        let source = ActivationSource(activationCount: rows, inputs: [path])
        let provenance = ImportProvenance(
            source: path, sha256: sha256, bytes: graph.file.count, pickleProtocol: graph.proto,
            pickledClass: graph.callableNames[rootClass] ?? pickledClass, reservoirKept: keepReservoir, batches: batches,
            metadataFile: metadataPath, metadataSHA256: metadataSHA256, metadata: metadata)
        let percentile = metadata?.configuration?.percentile
        let calibration = CalibrationProvenance(
            method: "imported", percentile: percentile, activationCount: rows, batchCount: 0, batchSize: 0, calibrationTokens: nil, source: source)
        var build = BuildProvenance(
            batchSize: metadata?.configuration?.batchSize ?? 0, seed: metadata?.configuration?.seed, batchCount: history.count,
            activationCount: rows, saturated: rate == 0, reservoir: keepReservoir, newRegionRate: rate, source: source)
        build.imported = provenance
        return ImportedPickle(dictionary: dictionary, contexts: contexts, calibration: calibration, build: build, labels: pickled.map(\.label))
    }
}
