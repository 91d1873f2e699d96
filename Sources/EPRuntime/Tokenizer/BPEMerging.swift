import Foundation

/// The merge rules of a BPE vocabulary keyed by token pair: an open-addressing hash table, because this lookup is
/// the hot path of merging.
struct MergeTable: Sendable {
    private static let empty = UInt64.max
    private var keys: [UInt64]
    /// `rank << 32 | merged` for the key in the same slot.
    private var values: [UInt64]
    private let shift: UInt64
    private let mask: Int

    /// An empty table with room for `count` rules at a load factor of at most one half.
    init(count: Int) {
        var bits = 4
        while 1 << bits < 2 * count { bits += 1 }
        keys = [UInt64](repeating: Self.empty, count: 1 << bits)
        values = [UInt64](repeating: 0, count: 1 << bits)
        shift = UInt64(64 - bits)
        mask = (1 << bits) - 1
    }

    @inline(__always) private static func key(_ left: Int32, _ right: Int32) -> UInt64 {
        UInt64(UInt32(bitPattern: left)) << 32 | UInt64(UInt32(bitPattern: right))
    }

    @inline(__always) private func slot(_ key: UInt64) -> Int {
        Int(truncatingIfNeeded: (key &* 0x9E37_79B9_7F4A_7C15) >> shift)
    }

    /// Adds the rule `left right → merged` with `rank` unless the pair already has a rule (the earlier line wins).
    mutating func insertIfAbsent(_ left: Int32, _ right: Int32, rank: Int32, merged: Int32) {
        let key = Self.key(left, right)
        var i = slot(key)
        while keys[i] != Self.empty {
            if keys[i] == key { return }
            i = (i + 1) & mask
        }
        keys[i] = key
        values[i] = UInt64(UInt32(bitPattern: rank)) << 32 | UInt64(UInt32(bitPattern: merged))
    }

    /// The rank and result of merging `left` with `right`, or nil when no rule merges them.
    @inline(__always) func lookup(_ left: Int32, _ right: Int32) -> (rank: Int32, merged: Int32)? {
        let key = Self.key(left, right)
        var i = slot(key)
        while true {
            let k = keys[i]
            if k == key {
                let v = values[i]
                return (Int32(truncatingIfNeeded: v >> 32), Int32(truncatingIfNeeded: v))
            }
            if k == Self.empty { return nil }
            i = (i + 1) & mask
        }
    }
}

/// Working memory for merging one piece, reused across the pieces of an encode call.
///
/// Symbols form a doubly linked list over array slots; a min-heap holds candidate merges keyed
/// `rank << 32 | left slot`, so the lowest rank wins and, among equal ranks, the leftmost pair (as in HF `tokenizers`).
struct MergeScratch {
    private var symbols: [Int32] = []
    private var previous: [Int32] = []
    private var next: [Int32] = []
    private var heap: [UInt64] = []

    /// The ids of `piece` after all merges. Bytes without a token are dropped before merging, as HF does.
    mutating func merge(_ piece: UnsafeBufferPointer<UInt8>, byteTokens: [Int32], merges: MergeTable) -> [Int32] {
        symbols.removeAll(keepingCapacity: true)
        for byte in piece {
            let id = byteTokens[Int(byte)]
            if id >= 0 { symbols.append(id) }
        }
        return mergeSymbols(merges)
    }

    /// `initial` (token ids, e.g. one per character) after all merges.
    mutating func merge(symbols initial: [Int32], merges: MergeTable) -> [Int32] {
        symbols.removeAll(keepingCapacity: true)
        symbols.append(contentsOf: initial)
        return mergeSymbols(merges)
    }

    /// Merges the loaded `symbols`.
    private mutating func mergeSymbols(_ merges: MergeTable) -> [Int32] {
        let n = symbols.count
        if n < 2 { return symbols }
        previous.removeAll(keepingCapacity: true)
        next.removeAll(keepingCapacity: true)
        heap.removeAll(keepingCapacity: true)
        for i in 0..<n {
            previous.append(Int32(i - 1))
            next.append(i + 1 < n ? Int32(i + 1) : -1)
            if i + 1 < n { consider(i, i + 1, merges) }
        }
        while let top = popMin() {
            let left = Int(top & 0xFFFF_FFFF)
            let right = Int(next[left])
            // Skip stale candidates: the left symbol was absorbed, or either side has changed since the push.
            guard symbols[left] >= 0, right >= 0, let rule = merges.lookup(symbols[left], symbols[right]),
                  UInt64(rule.rank) == top >> 32 else { continue }
            symbols[left] = rule.merged
            symbols[right] = -1
            let after = Int(next[right])
            next[left] = Int32(after)
            if after >= 0 { previous[after] = Int32(left) }
            let before = Int(previous[left])
            if before >= 0 { consider(before, left, merges) }
            if after >= 0 { consider(left, after, merges) }
        }
        var ids: [Int32] = []
        var i = 0
        while i >= 0 {
            ids.append(symbols[i])
            i = Int(next[i])
        }
        return ids
    }

    private mutating func consider(_ left: Int, _ right: Int, _ merges: MergeTable) {
        if let rule = merges.lookup(symbols[left], symbols[right]) {
            push(UInt64(rule.rank) << 32 | UInt64(left))
        }
    }

    private mutating func push(_ value: UInt64) {
        heap.append(value)
        var i = heap.count - 1
        while i > 0 {
            let parent = (i - 1) / 2
            guard heap[parent] > heap[i] else { break }
            heap.swapAt(parent, i)
            i = parent
        }
    }

    private mutating func popMin() -> UInt64? {
        guard let last = heap.popLast() else { return nil }
        guard !heap.isEmpty else { return last }
        let top = heap[0]
        heap[0] = last
        var i = 0
        while true {
            let l = 2 * i + 1, r = l + 1
            var smallest = i
            if l < heap.count && heap[l] < heap[smallest] { smallest = l }
            if r < heap.count && heap[r] < heap[smallest] { smallest = r }
            if smallest == i { break }
            heap.swapAt(i, smallest)
            i = smallest
        }
        return top
    }
}

/// The bytes of a piece as a dictionary key, hashed in one call rather than byte by byte.
struct PieceKey: Hashable, Sendable {
    let bytes: [UInt8]

    func hash(into hasher: inout Hasher) {
        bytes.withUnsafeBytes { hasher.combine(bytes: $0) }
    }
}

/// The ids of recently merged pieces, shared by all encode calls (and threads) under a lock.
final class WordCache: @unchecked Sendable {
    /// Pieces longer than this many bytes are not cached.
    static let maxPieceLength = 256
    private let lock = NSLock()
    private var entries: [PieceKey: [Int32]] = [:]
    private let capacity: Int

    /// A cache that starts over once it holds `capacity` pieces.
    init(capacity: Int) { self.capacity = capacity }

    func ids(for piece: PieceKey) -> [Int32]? {
        lock.lock()
        defer { lock.unlock() }
        return entries[piece]
    }

    func store(_ ids: [Int32], for piece: PieceKey) {
        lock.lock()
        defer { lock.unlock() }
        if entries.count >= capacity { entries.removeAll(keepingCapacity: true) }
        entries[piece] = ids
    }
}

/// Finds special tokens as literal text: at each position the longest token that starts there, scanning left to
/// right (the leftmost-longest matching of HF `tokenizers`).
struct SpecialTokenMatcher: Sendable {
    private struct Entry: Sendable {
        let bytes: [UInt8]
        let id: Int32
        /// Control tokens match only when specials are parsed; user-defined tokens always match.
        let isControl: Bool
    }

    /// The candidates for each first byte, longest first.
    private let candidates: [[Entry]]

    /// A matcher for the control and user-defined entries of a vocabulary.
    init(tokens: [String], types: [TokenType]) {
        var table = [[Entry]](repeating: [], count: 256)
        for (id, type) in types.enumerated() where type == .control || type == .userDefined {
            let bytes = Array(tokens[id].utf8)
            guard let first = bytes.first else { continue }
            table[Int(first)].append(Entry(bytes: bytes, id: Int32(id), isControl: type == .control))
        }
        candidates = table.map { $0.sorted { $0.bytes.count > $1.bytes.count } }
    }

    /// The special token that starts at byte `i` of `text`, with its length in bytes, or nil.
    @inline(__always) func match(_ text: UnsafeBufferPointer<UInt8>, at i: Int, parseSpecial: Bool) -> (id: Int32, length: Int)? {
        let entries = candidates[Int(text[i])]
        if entries.isEmpty { return nil }
        for entry in entries where parseSpecial || !entry.isControl {
            let n = entry.bytes.count
            guard n <= text.count - i else { continue }
            if entry.bytes.withUnsafeBufferPointer({ memcmp($0.baseAddress!, text.baseAddress! + i, n) == 0 }) {
                return (entry.id, n)
            }
        }
        return nil
    }
}
