/// Order statistics of large `Float` buffers without sorting them.
///
/// ``select(_:count:k:)`` is an introselect: each step partitions the current range around a pivot taken from a
/// strided sample near the wanted rank (so the range usually shrinks by an order of magnitude per pass, as in
/// Floyd–Rivest), with Hoare's partition, which splits runs of equal values evenly. When a pass budget of
/// 2·log₂(n) steps is used up, pivots come from the median of medians, which bounds the worst case to O(n) on any
/// input (sorted, reversed, all equal or adversarial). Values must not be NaN.
public enum Selection {
    /// Rearranges `a[0..<count]` in place so that `a[k]` holds the k-th smallest value (0-based), every element
    /// before it is ≤ it and every element after it is ≥ it. Returns `a[k]`.
    @discardableResult
    public static func select(_ a: UnsafeMutablePointer<Float>, count: Int, k: Int) -> Float {
        precondition(count > 0 && k >= 0 && k < count, "Selection.select: rank \(k) outside 0..<\(count)")
        var lo = 0
        var hi = count - 1
        var budget = 2 * (Int.bitWidth - count.leadingZeroBitCount) + 4
        while hi - lo >= smallRange {
            let pivot: Float
            if budget > 0 {
                budget -= 1
                pivot = samplePivot(a, lo: lo, hi: hi, k: k)
            } else {
                pivot = medianOfMedians(a, lo: lo, hi: hi)
            }
            // Hoare partition around a value present in a[lo...hi]: afterwards a[lo...j] ≤ pivot,
            // a[i...hi] ≥ pivot, and every element strictly between j and i equals the pivot.
            var i = lo
            var j = hi
            while i <= j {
                while a[i] < pivot { i += 1 }
                while a[j] > pivot { j -= 1 }
                if i <= j {
                    let t = a[i]; a[i] = a[j]; a[j] = t
                    i += 1
                    j -= 1
                }
            }
            if k <= j {
                hi = j
            } else if k >= i {
                lo = i
            } else {
                return a[k]
            }
        }
        insertionSort(a, lo: lo, hi: hi)
        return a[k]
    }

    /// Ranges shorter than this are finished by insertion sort.
    private static let smallRange = 32

    private static func insertionSort(_ a: UnsafeMutablePointer<Float>, lo: Int, hi: Int) {
        if hi <= lo { return }
        for i in (lo + 1)...hi {
            let v = a[i]
            var j = i - 1
            while j >= lo && a[j] > v {
                a[j + 1] = a[j]
                j -= 1
            }
            a[j + 1] = v
        }
    }

    /// A pivot from a sorted strided sample of the range, placed a few sample ranks beyond the wanted rank on the
    /// side that leaves the smaller part to search next (for ranges too small to sample: the median of three).
    private static func samplePivot(_ a: UnsafeMutablePointer<Float>, lo: Int, hi: Int, k: Int) -> Float {
        let size = hi - lo + 1
        if size < 4096 {
            let x = a[lo], y = a[lo + size / 2], z = a[hi]
            return max(min(x, y), min(max(x, y), z))
        }
        let samples = 255
        var sample = [Float](unsafeUninitializedCapacity: samples) { buffer, initialized in
            for s in 0..<samples { buffer[s] = a[lo + (s * (size - 1)) / (samples - 1)] }
            initialized = samples
        }
        sample.sort()
        let target = Double(k - lo) / Double(size - 1) * Double(samples - 1)
        let margin = 12.0
        let rank = k - lo < hi - k ? min(Double(samples - 1), target + margin) : max(0, target - margin)
        return sample[Int(rank.rounded())]
    }

    /// The median of the medians of groups of five: a pivot value with at least 30 % of the range on each side.
    private static func medianOfMedians(_ a: UnsafeMutablePointer<Float>, lo: Int, hi: Int) -> Float {
        let size = hi - lo + 1
        let groups = (size + 4) / 5
        var medians = [Float](repeating: 0, count: groups)
        var group = [Float](repeating: 0, count: 5)
        for g in 0..<groups {
            let start = lo + 5 * g
            let n = min(5, hi - start + 1)
            for t in 0..<n { group[t] = a[start + t] }
            group.withUnsafeMutableBufferPointer { insertionSort($0.baseAddress!, lo: 0, hi: n - 1) }
            medians[g] = group[(n - 1) / 2]
        }
        return medians.withUnsafeMutableBufferPointer { select($0.baseAddress!, count: groups, k: (groups - 1) / 2) }
    }
}
