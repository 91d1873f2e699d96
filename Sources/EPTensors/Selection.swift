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

    /// The k-th and (k+1)-th smallest values of `a[0..<count]` (0-based; the second is nil when `k` is the last
    /// rank), reordering the buffer.
    ///
    /// Large inputs take one streaming pass: a sorted sample brackets rank `k` with a band `[lo, hi]`, the pass
    /// counts the values below `lo` and copies the band out, and both ranks are selected within the band (a small
    /// fraction of the input). When the sample misjudges the band — rare, and only costing time — the buffer is
    /// handled by ``select(_:count:k:)``.
    public static func orderStatistics(_ a: UnsafeMutablePointer<Float>, count n: Int, k: Int) -> (Float, Float?) {
        precondition(n > 0 && k >= 0 && k < n, "Selection.orderStatistics: rank \(k) outside 0..<\(n)")
        if n >= 1 << 20, let band = bandStatistics(a, count: n, k: k) { return band }
        let v = select(a, count: n, k: k)
        return (v, k + 1 < n ? Kernels.minimum(a + k + 1, count: n - k - 1) : nil)
    }

    private static func bandStatistics(_ a: UnsafeMutablePointer<Float>, count n: Int, k: Int) -> (Float, Float?)? {
        let samples = 1 << 16
        var sample = [Float](unsafeUninitializedCapacity: samples) { buffer, initialized in
            for s in 0..<samples { buffer[s] = a[Int((Double(s) + 0.5) * Double(n) / Double(samples))] }
            initialized = samples
        }
        sample.sort()
        let q = (Double(k) + 0.5) / Double(n)
        let spread = 5 * (Double(samples) * q * (1 - q)).squareRoot() + 16
        let target = q * Double(samples)
        let lo = sample[max(0, Int(target - spread))]
        let hi = sample[min(samples - 1, Int(target + spread))]
        var below = 0
        var band: [Float] = []
        band.reserveCapacity(Int(Double(n) * 2.5 * spread / Double(samples)) + 64)
        typealias V = SIMD8<Float>
        let vlo = V(repeating: lo), vhi = V(repeating: hi)
        var counts = SIMD8<Int32>()
        var i = 0
        while i + 8 <= n {
            let v = UnsafeRawPointer(a + i).loadUnaligned(as: V.self)
            counts &+= SIMD8<Int32>().replacing(with: 1, where: v .< vlo)
            let inBand = (v .>= vlo) .& (v .<= vhi)
            if any(inBand) {
                for lane in 0..<8 where inBand[lane] { band.append(v[lane]) }
            }
            i += 8
            if i & 0xFFFFF == 0 {  // fold the lane counters before they could overflow
                below += Int(counts.wrappedSum())
                counts = SIMD8<Int32>()
            }
        }
        below += Int(counts.wrappedSum())
        while i < n {
            if a[i] < lo { below += 1 } else if a[i] <= hi { band.append(a[i]) }
            i += 1
        }
        // Both ranks must fall inside the band (for k + 1 only when it exists).
        let lastNeeded = min(k + 1, n - 1)
        guard below <= k, lastNeeded < below + band.count else { return nil }
        return band.withUnsafeMutableBufferPointer { b in
            let m = b.count
            let first = select(b.baseAddress!, count: m, k: k - below)
            guard k + 1 < n else { return (first, nil) }
            return (first, Kernels.minimum(b.baseAddress! + (k - below) + 1, count: m - (k - below) - 1))
        }
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
