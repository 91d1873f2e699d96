import EPCore
import EPFormats
import EPTensors
import Foundation

/// A dictionary read from disk: its manifest, the restored dictionary, and the optional parts a build from text
/// writes (context windows, build log).
public struct LoadedDictionary {
    /// The folder it was read from.
    public var path: String
    /// The manifest.
    public var manifest: DictionaryManifest
    /// The dictionary, ready to assign with, inspect or continue building.
    public var dictionary: ExemplarDictionary
    /// The context windows its member references point into (`contexts.safetensors`), when it has them and they
    /// were asked for.
    public var contexts: ContextTable?
    /// The per-batch snapshots of its build (`build_log.json`), when it has them.
    public var buildLog: BuildLog?
}

/// What `ep info --json` prints of a dictionary: its manifest and its intrinsic metrics.
public struct DictionaryInfo: Encodable {
    public var manifest: DictionaryManifest
    public var metrics: IntrinsicMetrics

    enum CodingKeys: String, CodingKey {
        case manifest, metrics
    }
}

extension LoadedDictionary {
    /// The manifest and the intrinsic metrics over regions with at least `minMembers` members.
    public func info(minMembers: Int = 2) -> DictionaryInfo {
        DictionaryInfo(manifest: manifest, metrics: dictionary.intrinsicMetrics(minMembers: minMembers))
    }
}

/// The on-disk dictionary (format version 1): a folder holding
///
/// * `manifest.json` — see ``DictionaryManifest``;
/// * `regions.safetensors` — center and per-region tensors (see ``regionTensors``);
/// * `reservoir.safetensors` — only with a member reservoir: `member_direction` [R, D] F32, `region_offset`
///   [K+1] I64 (region k's samples are rows `region_offset[k] ..< region_offset[k+1]`), `generator_state` [4] I64
///   (the reservoir generator's state words, bit for bit);
/// * `contexts.safetensors` — builds from text: the windows the member references point into (``ContextTable``);
/// * `build_log.json` — one snapshot per batch (``BuildLog``);
/// * other files a writer adds (a build's resume state), listed in the manifest like the rest.
///
/// Folders are written atomically (a reader sees the old folder or the complete new one). Loading checks the
/// format, version, file sizes, every tensor's presence, dtype and shape, and every number's range (finite values,
/// unit directions, θ in (0, 2), counts, references; see ``DictionaryValidation``), and names what is wrong: the
/// file, the tensor or field, and the region or row.
public enum DictionaryStore {
    public static let manifestFile = "manifest.json"
    public static let regionsFile = "regions.safetensors"
    public static let reservoirFile = "reservoir.safetensors"
    public static let contextsFile = "contexts.safetensors"
    public static let buildLogFile = "build_log.json"

    /// The tensors of `regions.safetensors` with dtype and shape (K regions, width D, B batches, R = 10 references).
    public static var regionTensors: [(name: String, dtype: SafetensorsDType, shape: String, meaning: String)] {
        [("center", .float32, "[D]", "calibration center c")]
            + RegionColumn.all.map { ($0.name, $0.dtype, $0.shapeText, $0.meaning) }
            + [
                ("closest_source", .int64, "[K, 10]", "source ids of the 10 closest members, nearest first (−1 = empty)"),
                ("closest_position", .int32, "[K, 10]", "their positions (−1 = empty)"),
                ("closest_distance", .float32, "[K, 10]", "their distances to the exemplar (NaN = empty)"),
                ("farthest_source", .int64, "[K, 10]", "source ids of the 10 farthest members, farthest first (−1 = empty)"),
                ("farthest_position", .int32, "[K, 10]", "their positions (−1 = empty)"),
                ("farthest_distance", .float32, "[K, 10]", "their distances (NaN = empty)"),
                ("batch_rows", .int64, "[B]", "rows of each batch of the build"),
                ("batch_new_regions", .int64, "[B]", "regions each batch founded"),
            ]
    }

    /// Writes `dictionary` as a dictionary folder at `path` (replacing any folder there, atomically) with the
    /// optional context windows, build log and extra files (name and content), and returns the manifest written.
    @discardableResult
    public static func write(
        _ dictionary: ExemplarDictionary, calibration: CalibrationProvenance, build: BuildProvenance, to path: String,
        contexts: ContextTable? = nil, log: BuildLog? = nil, extraFiles: [(name: String, contents: [UInt8])] = []
    ) throws -> DictionaryManifest {
        let regions = dictionary.regions
        let k = regions.count, d = dictionary.width, r = ReferenceTable.capacity
        var writer = SafetensorsWriter()
        writer.add("center", shape: [d], values: dictionary.center)
        for column in RegionColumn.all { column.add(regions, to: &writer) }
        for (prefix, table) in [("closest", regions.closest), ("farthest", regions.farthest)] {
            let columns = ReferenceColumns(table, regions: k)
            writer.add("\(prefix)_source", shape: [k, r], values: columns.sources)
            writer.add("\(prefix)_position", shape: [k, r], values: columns.positions)
            writer.add("\(prefix)_distance", shape: [k, r], values: columns.distances)
        }
        let history = dictionary.batchHistory
        writer.add("batch_rows", shape: [history.count], values: history.map { Int64($0.rows) })
        writer.add("batch_new_regions", shape: [history.count], values: history.map { Int64($0.newRegions) })

        var build = build
        build.reservoir = regions.reservoir != nil
        var manifest = DictionaryManifest(
            width: d, regionCount: k, threshold: dictionary.threshold, percentile: calibration.percentile,
            centerNorm: Calibration.norm(dictionary.center), calibration: calibration, build: build)
        try AtomicOutput.writeFolder(at: path) { folder in
            manifest.files.append(.init(name: regionsFile, bytes: try writer.write(to: "\(folder)/\(regionsFile)")))
            if let reservoir = regions.reservoir {
                var offsets: [Int64] = [0]
                for samples in reservoir.directions { offsets.append(offsets.last! + Int64(samples.count / max(d, 1))) }
                var heavy = SafetensorsWriter()
                heavy.add("member_direction", shape: [Int(offsets.last!), d], concatenating: reservoir.directions)
                heavy.add("region_offset", shape: [k + 1], values: offsets)
                let s = reservoir.generator.state
                heavy.add("generator_state", shape: [4], values: [s.0, s.1, s.2, s.3].map { Int64(bitPattern: $0) })
                manifest.files.append(.init(name: reservoirFile, bytes: try heavy.write(to: "\(folder)/\(reservoirFile)")))
            }
            if let contexts { manifest.files.append(.init(name: contextsFile, bytes: try contexts.write(to: "\(folder)/\(contextsFile)"))) }
            var extras = extraFiles
            if let log { extras.insert((buildLogFile, Array((log.json.rendered() + "\n").utf8)), at: 0) }
            for (name, contents) in extras {
                try AtomicOutput.write(contents, to: "\(folder)/\(name)")
                manifest.files.append(.init(name: name, bytes: contents.count))
            }
            try AtomicOutput.write(string: manifest.json.rendered() + "\n", to: "\(folder)/\(manifestFile)")
        }
        return manifest
    }

    /// Reads and checks the manifest of the dictionary folder at `path`.
    public static func readManifest(_ path: String) throws -> DictionaryManifest {
        let manifestPath = "\(path)/\(manifestFile)"
        var isFolder: ObjCBool = false
        guard FileManager.default.fileExists(atPath: path, isDirectory: &isFolder) else { throw FileFormatError(path, "no such dictionary folder") }
        guard isFolder.boolValue else { throw FileFormatError(path, "is a file; expected a dictionary folder") }
        let file: ReadOnlyFile
        do {
            file = try ReadOnlyFile(path: manifestPath)
        } catch {
            throw FileFormatError(path, "not a dictionary folder: cannot read \(manifestFile) (\(error))")
        }
        let value = try JSONValue.parse(try file.readBytes(count: file.size, at: 0), path: manifestPath)
        let manifest = try DictionaryManifest(json: value, path: manifestPath)
        try DictionaryValidation.check(manifest, path: manifestPath)
        return manifest
    }

    /// Loads the dictionary folder at `path`. With `reservoir: false` the (possibly large) reservoir file is not
    /// read and the dictionary has none; with `contexts: false` the context windows are not read.
    public static func load(_ path: String, reservoir withReservoir: Bool = true, contexts withContexts: Bool = true) throws -> LoadedDictionary {
        let manifest = try readManifest(path)
        for (name, bytes) in manifest.files.map({ ($0.name, $0.bytes) }) {
            let filePath = "\(path)/\(name)"
            let file: ReadOnlyFile
            do { file = try ReadOnlyFile(path: filePath) } catch {
                throw FileFormatError(filePath, "listed in \(manifestFile) but missing or unreadable")
            }
            guard file.size == bytes else {
                throw FileFormatError(filePath, "has \(file.size) bytes but \(manifestFile) says \(bytes) (truncated or replaced)")
            }
        }
        guard manifest.files.contains(where: { $0.name == regionsFile }) else {
            throw FileFormatError("\(path)/\(manifestFile)", "field 'files' does not list \(regionsFile)")
        }
        let k = manifest.regionCount, d = manifest.width, r = ReferenceTable.capacity
        let st = try SafetensorsFile(path: "\(path)/\(regionsFile)")
        func checked(_ name: String, _ dtype: SafetensorsDType, _ shape: [Int]) throws -> SafetensorsTensorInfo {
            guard let info = st.tensors[name] else {
                throw FileFormatError(st.path, "missing tensor '\(name)' (expected \(dtype.rawValue) \(shape))")
            }
            guard info.dtype == dtype, info.shape == shape else {
                throw FileFormatError(st.path, "tensor '\(name)': expected \(dtype.rawValue) \(shape), found \(info.dtype.rawValue) \(info.shape)")
            }
            return info
        }
        func floats(_ name: String, _ shape: [Int]) throws -> [Float] { _ = try checked(name, .float32, shape); return try st.floats(name) }
        func doubles(_ name: String, _ shape: [Int]) throws -> [Double] { _ = try checked(name, .float64, shape); return try st.doubles(name) }
        func int64s(_ name: String, _ shape: [Int]) throws -> [Int64] { _ = try checked(name, .int64, shape); return try st.integers(name).map(Int64.init) }
        func int32s(_ name: String, _ shape: [Int]) throws -> [Int32] { _ = try checked(name, .int32, shape); return try st.integers(name).map(Int32.init) }

        let center = try floats("center", [d])
        var regions = RegionTable(width: d)
        regions.count = k
        for column in RegionColumn.all {
            let shape = column.shape(regions: k, width: d)
            switch column.field {
            case .float32(let p): regions[keyPath: p] = try floats(column.name, shape)
            case .float64(let p): regions[keyPath: p] = try doubles(column.name, shape)
            case .int64(let p): regions[keyPath: p] = try int64s(column.name, shape)
            }
        }
        let batches = manifest.build.batchCount
        let rows = try int64s("batch_rows", [batches])
        let created = try int64s("batch_new_regions", [batches])
        try DictionaryValidation.check(center: center, regions: regions, batchRows: rows, batchNewRegions: created, path: st.path)
        let centerNorm = Calibration.norm(center)
        guard abs(centerNorm - manifest.centerNorm) <= 1e-6 * max(centerNorm, 1e-30) else {
            throw FileFormatError("\(path)/\(manifestFile)", "field 'center_norm' is \(manifest.centerNorm) but the center in \(regionsFile) has norm \(centerNorm)")
        }
        func listed(_ name: String) -> Bool { manifest.files.contains { $0.name == name } }
        let contextsPath = "\(path)/\(contextsFile)"
        let contexts = withContexts && listed(contextsFile) ? try ContextTable.read(path: contextsPath) : nil
        for prefix in ["closest", "farthest"] {
            let sources = try int64s("\(prefix)_source", [k, r])
            let positions = try int32s("\(prefix)_position", [k, r])
            let distances = try floats("\(prefix)_distance", [k, r])
            try DictionaryValidation.checkReferences(
                prefix, sources: sources, positions: positions, distances: distances, memberCounts: regions.memberCounts,
                contexts: contexts, contextsPath: contextsPath, path: st.path)
            var table = ReferenceTable(kind: prefix == "closest" ? .closest : .farthest)
            for region in 0..<k {
                let members = (0..<r).filter { !distances[region * r + $0].isNaN }.map { i in
                    MemberReference(reference: RowReference(source: sources[region * r + i], position: positions[region * r + i]), distance: distances[region * r + i])
                }
                try table.appendRegion(members: members)
            }
            if prefix == "closest" { regions.closest = table } else { regions.farthest = table }
        }
        let history = zip(rows, created).map { BatchRecord(rows: Int($0), newRegions: Int($1)) }

        if withReservoir, manifest.build.reservoir {
            guard manifest.files.contains(where: { $0.name == reservoirFile }) else {
                throw FileFormatError("\(path)/\(manifestFile)", "field 'build.reservoir' is true but 'files' does not list \(reservoirFile)")
            }
            regions.reservoir = try readReservoir(path: "\(path)/\(reservoirFile)", memberCounts: regions.memberCounts, width: d)
        }
        let dictionary: ExemplarDictionary
        do {
            dictionary = try ExemplarDictionary(
                center: center, threshold: manifest.threshold, regions: regions, batchHistory: history,
                rowsSeen: history.reduce(0) { $0 + Int64($1.rows) })
        } catch let error as EPError {
            throw FileFormatError(st.path, error.description)
        }
        let log = listed(buildLogFile) ? try BuildLog.read(path: "\(path)/\(buildLogFile)") : nil
        if let log { try DictionaryValidation.check(log, path: "\(path)/\(buildLogFile)") }
        return LoadedDictionary(path: path, manifest: manifest, dictionary: dictionary, contexts: contexts, buildLog: log)
    }

    private static func readReservoir(path: String, memberCounts: [Int64], width d: Int) throws -> MemberReservoir {
        let k = memberCounts.count
        let st = try SafetensorsFile(path: path)
        for (name, dtype) in [("member_direction", SafetensorsDType.float32), ("region_offset", .int64), ("generator_state", .int64)] {
            guard let info = st.tensors[name] else { throw FileFormatError(path, "missing tensor '\(name)'") }
            guard info.dtype == dtype else { throw FileFormatError(path, "tensor '\(name)': expected \(dtype.rawValue), found \(info.dtype.rawValue)") }
        }
        let offsets = try st.integers("region_offset")
        guard offsets.count == k + 1, offsets.first == 0, zip(offsets, offsets.dropFirst()).allSatisfy({ $0 <= $1 && $1 - $0 <= MemberReservoir.capacity }) else {
            throw FileFormatError(path, "tensor 'region_offset': expected \(k + 1) increasing offsets from 0 with at most \(MemberReservoir.capacity) samples per region")
        }
        let samples = offsets.last!
        let info = try st.info("member_direction")
        guard info.shape == [samples, d] else {
            throw FileFormatError(path, "tensor 'member_direction': expected F32 [\(samples), \(d)], found \(info.shape)")
        }
        let state = try st.integers("generator_state")
        guard state.count == 4 else { throw FileFormatError(path, "tensor 'generator_state': expected 4 values, found \(state.count)") }
        let directions = try st.floats("member_direction")
        try DictionaryValidation.checkReservoir(directions: directions, offsets: offsets, memberCounts: memberCounts, width: d, path: path)
        let perRegion = (0..<k).map { Array(directions[offsets[$0] * d ..< offsets[$0 + 1] * d]) }
        let generator = SeededGenerator(state: (UInt64(bitPattern: Int64(state[0])), UInt64(bitPattern: Int64(state[1])), UInt64(bitPattern: Int64(state[2])), UInt64(bitPattern: Int64(state[3]))))
        do {
            return try MemberReservoir(width: d, directions: perRegion, generator: generator)
        } catch let error as EPError {
            throw FileFormatError(path, error.description)
        }
    }
}
