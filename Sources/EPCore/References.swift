/// Where a member activation came from: a source id (for activation files, the global row index; for a model
/// pipeline, e.g. a document or prompt id) and a position in it (a token position; 0 for activation files).
public struct RowReference: Sendable, Equatable, Hashable {
    /// The source id.
    public var source: Int64
    /// The position within the source.
    public var position: Int32

    public init(source: Int64, position: Int32) {
        self.source = source
        self.position = position
    }
}

/// A member kept as a reference of its region, with its cosine distance to the region's exemplar.
public struct MemberReference: Sendable, Equatable {
    /// Where the member came from.
    public var reference: RowReference
    /// Its recorded distance to the exemplar (0 for the founder).
    public var distance: Float

    public init(reference: RowReference, distance: Float) {
        self.reference = reference
        self.distance = distance
    }
}

/// Per-row provenance for one batch: `references[i]` belongs to row `i`.
public typealias BatchReferences = [RowReference]

/// For every region, the 10 closest or the 10 farthest members seen (docs/format.md), kept as bounded binary
/// min-heaps exactly as the reference's `sample_prompts` / `boundary_prompts`:
///
/// * closest: heap key `−distance`; a new member replaces the root only if its distance is strictly smaller than
///   the largest kept distance (ties keep the older entry);
/// * farthest: heap key `distance`; a new member replaces the root only if strictly larger.
///
/// Heap entries are ordered as the reference's tuples `(key, prompt, position)`, with the source id in place of
/// the prompt string: among entries with equal key, the one with the smallest (source, position) is the root.
public struct ReferenceTable: Sendable, Equatable {
    /// Entries kept per region.
    public static let capacity = 10

    /// Which members a table keeps.
    public enum Kind: String, Sendable {
        case closest, farthest
    }

    /// Which members this table keeps.
    public let kind: Kind
    /// Number of regions.
    public private(set) var regionCount = 0
    private var keys: [Float] = []
    private var sources: [Int64] = []
    private var positions: [Int32] = []
    private var counts: [UInt8] = []

    /// An empty table.
    public init(kind: Kind) {
        self.kind = kind
    }

    /// Adds an empty slot set for a new region.
    mutating func appendRegion() {
        keys.append(contentsOf: repeatElement(0, count: Self.capacity))
        sources.append(contentsOf: repeatElement(-1, count: Self.capacity))
        positions.append(contentsOf: repeatElement(-1, count: Self.capacity))
        counts.append(0)
        regionCount += 1
    }

    /// Adds a region whose kept members are `members` (at most ``capacity``), e.g. when loading a dictionary.
    public mutating func appendRegion(members: [MemberReference]) throws {
        guard members.count <= Self.capacity else {
            throw EPError.inconsistentState("region \(regionCount) has \(members.count) \(kind.rawValue) references, at most \(Self.capacity) allowed")
        }
        appendRegion()
        for m in members { offer(region: regionCount - 1, distance: m.distance, reference: m.reference) }
    }

    @inline(__always)
    private static func less(_ k1: Float, _ s1: Int64, _ p1: Int32, _ k2: Float, _ s2: Int64, _ p2: Int32) -> Bool {
        if k1 != k2 { return k1 < k2 }
        if s1 != s2 { return s1 < s2 }
        return p1 < p2
    }

    /// Offers one member of `region` to the table.
    @inline(__always)
    mutating func offer(region: Int, distance: Float, reference: RowReference) {
        let key = kind == .closest ? -distance : distance
        let base = region * Self.capacity
        let n = Int(counts[region])
        if n < Self.capacity {
            // Push and sift up.
            var i = n
            keys[base + i] = key
            sources[base + i] = reference.source
            positions[base + i] = reference.position
            while i > 0 {
                let parent = (i - 1) / 2
                guard Self.less(keys[base + i], sources[base + i], positions[base + i], keys[base + parent], sources[base + parent], positions[base + parent]) else { break }
                swapAt(base + i, base + parent)
                i = parent
            }
            counts[region] = UInt8(n + 1)
            return
        }
        // Full: replace the root only on a strict improvement, then sift down.
        guard key > keys[base] else { return }
        keys[base] = key
        sources[base] = reference.source
        positions[base] = reference.position
        var i = 0
        while true {
            let left = 2 * i + 1
            if left >= n { break }
            var smallest = left
            let right = left + 1
            if right < n && Self.less(keys[base + right], sources[base + right], positions[base + right], keys[base + left], sources[base + left], positions[base + left]) {
                smallest = right
            }
            guard Self.less(keys[base + smallest], sources[base + smallest], positions[base + smallest], keys[base + i], sources[base + i], positions[base + i]) else { break }
            swapAt(base + i, base + smallest)
            i = smallest
        }
    }

    private mutating func swapAt(_ a: Int, _ b: Int) {
        keys.swapAt(a, b)
        sources.swapAt(a, b)
        positions.swapAt(a, b)
    }

    /// The kept members of `region`: for `closest` by increasing distance, for `farthest` by decreasing distance;
    /// equal distances by increasing (source, position). Distances are `max(0, ·)` of the stored key, as the
    /// reference's `closest_prompts` / `farthest_prompts` report them.
    public func members(of region: Int) -> [MemberReference] {
        let base = region * Self.capacity
        var result: [MemberReference] = []
        for i in 0..<Int(counts[region]) {
            let distance = kind == .closest ? max(0, -keys[base + i]) : max(0, keys[base + i])
            result.append(MemberReference(reference: RowReference(source: sources[base + i], position: positions[base + i]), distance: distance))
        }
        let ascending = kind == .closest
        result.sort { a, b in
            if a.distance != b.distance { return ascending ? a.distance < b.distance : a.distance > b.distance }
            if a.reference.source != b.reference.source { return a.reference.source < b.reference.source }
            return a.reference.position < b.reference.position
        }
        return result
    }

    /// Tables are equal when they keep the same members for every region (whatever their heap layout).
    public static func == (a: ReferenceTable, b: ReferenceTable) -> Bool {
        a.kind == b.kind && a.regionCount == b.regionCount && (0..<a.regionCount).allSatisfy { a.members(of: $0) == b.members(of: $0) }
    }

    /// Keeps only the regions whose `keep` flag is set, in order.
    mutating func keepRegions(_ keep: [Bool]) {
        var next = ReferenceTable(kind: kind)
        for r in 0..<regionCount where keep[r] {
            next.appendRegion()
            let from = r * Self.capacity, to = (next.regionCount - 1) * Self.capacity
            for i in 0..<Self.capacity {
                next.keys[to + i] = keys[from + i]
                next.sources[to + i] = sources[from + i]
                next.positions[to + i] = positions[from + i]
            }
            next.counts[next.regionCount - 1] = counts[r]
        }
        self = next
    }
}
