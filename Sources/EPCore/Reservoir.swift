import EPTensors

/// An optional sample of each region's member directions (centered unit vectors), at most 30 per region.
///
/// Deviation from the reference (docs/method.md): the reference draws from an unseeded generator and uses
/// the post-batch member count, which makes it approximate and irreproducible. Here each region keeps an **exact**
/// uniform sample of its members (Algorithm R over members in stream order: the t-th member is kept outright while
/// t ≤ 30, otherwise it replaces slot j for j uniform in 0..<t when j < 30), driven by a ``SeededGenerator``. The
/// same seed and the same batches give the same reservoirs.
public struct MemberReservoir: Sendable, Equatable {
    /// Members kept per region.
    public static let capacity = 30
    /// Row width D.
    public let width: Int
    /// The generator; its state is saved with a dictionary so a resumed build continues the same sequence.
    public private(set) var generator: SeededGenerator
    /// Kept directions per region, each `count × width` floats row-major.
    public private(set) var directions: [[Float]]

    /// An empty reservoir for `width`-wide directions, drawing from a generator seeded with `seed`.
    public init(width: Int, seed: UInt64) {
        self.width = width
        generator = SeededGenerator(seed: seed)
        directions = []
    }

    /// A reservoir restored from saved content. Each region's array must hold at most 30 whole rows.
    public init(width: Int, directions: [[Float]], generator: SeededGenerator) throws {
        for (r, d) in directions.enumerated() where d.count % max(width, 1) != 0 || d.count > Self.capacity * width {
            throw EPError.inconsistentState("reservoir of region \(r) holds \(d.count) values, not up to \(Self.capacity) rows of \(width)")
        }
        self.width = width
        self.directions = directions
        self.generator = generator
    }

    /// Number of regions.
    public var regionCount: Int { directions.count }

    mutating func appendRegion() {
        directions.append([])
    }

    /// Offers the `memberNumber`-th member (1-based, in stream order) of `region`.
    mutating func offer(region: Int, memberNumber t: Int64, direction: UnsafePointer<Float>) {
        let row = UnsafeBufferPointer(start: direction, count: width)
        if t <= Int64(Self.capacity) {
            directions[region].append(contentsOf: row)
            return
        }
        let j = Int(generator.uniform(below: UInt64(t)))
        guard j < Self.capacity else { return }
        directions[region].withUnsafeMutableBufferPointer { kept in
            (kept.baseAddress! + j * width).update(from: direction, count: width)
        }
    }

    /// Keeps only the regions whose `keep` flag is set, in order.
    mutating func keepRegions(_ keep: [Bool]) {
        directions = directions.indices.filter { keep[$0] }.map { directions[$0] }
    }
}
