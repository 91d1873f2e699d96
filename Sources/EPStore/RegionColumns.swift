import EPCore
import EPFormats

/// One per-region tensor of `regions.safetensors` (and of the npy/npz exports): its name, the ``RegionTable`` field
/// it holds, its dtype and shape ([K] or [K, D]). ``all`` is the one table the dictionary writer, the reader, the
/// format description (``DictionaryStore/regionTensors``) and the exports iterate.
public struct RegionColumn {
    /// The field of ``RegionTable`` and its element type (which sets the dtype).
    public enum Field {
        case float32(WritableKeyPath<RegionTable, [Float]>)
        case float64(WritableKeyPath<RegionTable, [Double]>)
        case int64(WritableKeyPath<RegionTable, [Int64]>)
    }

    public let name: String
    public let field: Field
    /// Whether the tensor is [K, D] (one direction per region) rather than [K].
    public let isDirection: Bool
    /// Its place in the npy and npz exports (after `center`), or nil when they leave it out.
    public let exportRank: Int?
    public let meaning: String

    public var dtype: SafetensorsDType {
        switch field {
        case .float32: return .float32
        case .float64: return .float64
        case .int64: return .int64
        }
    }

    /// The shape for `regions` regions of width `width`.
    public func shape(regions: Int, width: Int) -> [Int] { isDirection ? [regions, width] : [regions] }

    /// The shape as the format description writes it.
    public var shapeText: String { isDirection ? "[K, D]" : "[K]" }

    /// The per-region tensors in file order.
    public static var all: [RegionColumn] {
        [
            .init(name: "exemplar_direction", field: .float32(\.exemplarDirections), isDirection: true, exportRank: 0,
                  meaning: "each region's exemplar: the founder's centered unit direction"),
            .init(name: "mean_member_direction", field: .float32(\.meanMemberDirections), isDirection: true, exportRank: 1,
                  meaning: "unit spherical mean of the members' directions"),
            .init(name: "member_count", field: .int64(\.memberCounts), isDirection: false, exportRank: 3,
                  meaning: "members, founder included"),
            .init(name: "member_coherence", field: .float64(\.memberCoherences), isDirection: false, exportRank: 4,
                  meaning: "‖mean of member directions‖ ∈ [0, 1]"),
            .init(name: "sum_dist_to_exemplar", field: .float64(\.sumDistances), isDirection: false, exportRank: 5,
                  meaning: "Σ members' recorded distances to the exemplar"),
            .init(name: "sum_sq_dist_to_exemplar", field: .float64(\.sumSquaredDistances), isDirection: false, exportRank: 6,
                  meaning: "Σ squared recorded distances"),
            .init(name: "exemplar_index", field: .int64(\.exemplarRows), isDirection: false, exportRank: 2,
                  meaning: "global stream row of each region's founder"),
            .init(name: "first_batch", field: .int64(\.firstBatches), isDirection: false, exportRank: nil,
                  meaning: "batch that founded the region"),
            .init(name: "last_batch", field: .int64(\.lastBatches), isDirection: false, exportRank: nil,
                  meaning: "last batch that gave it members"),
            .init(name: "n_batches", field: .int64(\.batchCounts), isDirection: false, exportRank: nil,
                  meaning: "batches that gave it members"),
        ]
    }

    /// The columns of the npy and npz exports, in their order.
    public static var exported: [RegionColumn] {
        all.filter { $0.exportRank != nil }.sorted { $0.exportRank! < $1.exportRank! }
    }

    /// The column's values in `regions`, added to `writer` under its name.
    public func add(_ regions: RegionTable, to writer: inout SafetensorsWriter) {
        let shape = shape(regions: regions.count, width: regions.width)
        switch field {
        case .float32(let p): writer.add(name, shape: shape, values: regions[keyPath: p])
        case .float64(let p): writer.add(name, shape: shape, values: regions[keyPath: p])
        case .int64(let p): writer.add(name, shape: shape, values: regions[keyPath: p])
        }
    }

    /// The column's values in `regions`, added to `npz` under its name.
    public func add(_ regions: RegionTable, to npz: inout NPZWriter) {
        let shape = shape(regions: regions.count, width: regions.width)
        switch field {
        case .float32(let p): npz.add(name, regions[keyPath: p], shape: shape)
        case .float64(let p): npz.add(name, regions[keyPath: p], shape: shape)
        case .int64(let p): npz.add(name, regions[keyPath: p], shape: shape)
        }
    }

    /// The column's values in `regions`, written as `<name>.npy` in `folder`.
    public func writeNPY(_ regions: RegionTable, folder: String) throws {
        let shape = shape(regions: regions.count, width: regions.width), path = "\(folder)/\(name).npy"
        switch field {
        case .float32(let p): try NPY.write(regions[keyPath: p], shape: shape, to: path)
        case .float64(let p): try NPY.write(regions[keyPath: p], shape: shape, to: path)
        case .int64(let p): try NPY.write(regions[keyPath: p], shape: shape, to: path)
        }
    }
}

/// The closest or farthest member references of every region as the three [K, R] tensors `<kind>_source` (I64,
/// −1 = empty), `<kind>_position` (I32, −1 = empty) and `<kind>_distance` (F32, NaN = empty), R =
/// ``ReferenceTable/capacity``: as `regions.safetensors` and the npz export hold them.
public struct ReferenceColumns {
    public var sources: [Int64]
    public var positions: [Int32]
    public var distances: [Float]

    public init(_ table: ReferenceTable, regions k: Int) {
        let r = ReferenceTable.capacity
        sources = [Int64](repeating: -1, count: k * r)
        positions = [Int32](repeating: -1, count: k * r)
        distances = [Float](repeating: .nan, count: k * r)
        for region in 0..<k {
            for (i, m) in table.members(of: region).enumerated() {
                sources[region * r + i] = m.reference.source
                positions[region * r + i] = m.reference.position
                distances[region * r + i] = m.distance
            }
        }
    }
}
