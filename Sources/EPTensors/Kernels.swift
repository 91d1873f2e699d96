/// Vector kernels over raw `Float` buffers, written with explicit SIMD so they vectorise (Swift does not
/// vectorise strict floating-point reductions on its own; docs/runtime.md, *Kernels*).
///
/// Pointers may be unaligned: every vector load goes through `loadUnaligned`.
public enum Kernels {
    public typealias Vector = SIMD16<Float>

    @inline(__always) @usableFromInline
    static func load(_ p: UnsafePointer<Float>, _ i: Int) -> Vector {
        UnsafeRawPointer(p + i).loadUnaligned(as: Vector.self)
    }

    @inline(__always) @usableFromInline
    static func store(_ v: Vector, _ p: UnsafeMutablePointer<Float>, _ i: Int) {
        UnsafeMutableRawPointer(p + i).storeBytes(of: v, as: Vector.self)
    }

    /// Σ a[i]·b[i], accumulated in `Float` with four vector accumulators.
    @inlinable
    public static func dot(_ a: UnsafePointer<Float>, _ b: UnsafePointer<Float>, count n: Int) -> Float {
        var s0 = Vector(), s1 = Vector(), s2 = Vector(), s3 = Vector()
        var i = 0
        while i + 64 <= n {
            s0.addProduct(load(a, i), load(b, i))
            s1.addProduct(load(a, i + 16), load(b, i + 16))
            s2.addProduct(load(a, i + 32), load(b, i + 32))
            s3.addProduct(load(a, i + 48), load(b, i + 48))
            i += 64
        }
        while i + 16 <= n { s0.addProduct(load(a, i), load(b, i)); i += 16 }
        var total = ((s0 + s1) + (s2 + s3)).sum()
        while i < n { total += a[i] * b[i]; i += 1 }
        return total
    }

    /// Σ a[i]², accumulated in `Float`.
    @inlinable
    public static func sumOfSquares(_ a: UnsafePointer<Float>, count n: Int) -> Float {
        dot(a, a, count: n)
    }

    /// Σ a[i]·b[i] accumulated in `Double` (for statistics where float rounding matters).
    @inlinable
    public static func dotDouble(_ a: UnsafePointer<Float>, _ b: UnsafePointer<Float>, count n: Int) -> Double {
        var s0 = SIMD8<Double>(), s1 = SIMD8<Double>()
        var i = 0
        while i + 16 <= n {
            let va = load(a, i), vb = load(b, i)
            s0.addProduct(SIMD8<Double>(va.lowHalf), SIMD8<Double>(vb.lowHalf))
            s1.addProduct(SIMD8<Double>(va.highHalf), SIMD8<Double>(vb.highHalf))
            i += 16
        }
        var total = (s0 + s1).sum()
        while i < n { total += Double(a[i]) * Double(b[i]); i += 1 }
        return total
    }

    /// y[i] += alpha · x[i].
    @inlinable
    public static func axpy(_ alpha: Float, _ x: UnsafePointer<Float>, _ y: UnsafeMutablePointer<Float>, count n: Int) {
        let va = Vector(repeating: alpha)
        var i = 0
        while i + 16 <= n {
            var v = load(UnsafePointer(y), i)
            v.addProduct(va, load(x, i))
            store(v, y, i)
            i += 16
        }
        while i < n { y[i] += alpha * x[i]; i += 1 }
    }

    /// y[i] += x[i].
    @inlinable
    public static func add(_ x: UnsafePointer<Float>, into y: UnsafeMutablePointer<Float>, count n: Int) {
        var i = 0
        while i + 16 <= n { store(load(UnsafePointer(y), i) + load(x, i), y, i); i += 16 }
        while i < n { y[i] += x[i]; i += 1 }
    }

    /// x[i] *= alpha.
    @inlinable
    public static func scale(_ x: UnsafeMutablePointer<Float>, by alpha: Float, count n: Int) {
        let va = Vector(repeating: alpha)
        var i = 0
        while i + 16 <= n { store(load(UnsafePointer(x), i) * va, x, i); i += 16 }
        while i < n { x[i] *= alpha; i += 1 }
    }

    /// out[i] = a[i] − b[i].
    @inlinable
    public static func subtract(
        _ a: UnsafePointer<Float>, _ b: UnsafePointer<Float>, into out: UnsafeMutablePointer<Float>, count n: Int
    ) {
        var i = 0
        while i + 16 <= n { store(load(a, i) - load(b, i), out, i); i += 16 }
        while i < n { out[i] = a[i] - b[i]; i += 1 }
    }

    /// out[i] = a[i] − b[i], returning Σ out[i]² (accumulated in `Float` like ``sumOfSquares(_:count:)``).
    @inlinable
    public static func subtractAndSumSquares(
        _ a: UnsafePointer<Float>, _ b: UnsafePointer<Float>, into out: UnsafeMutablePointer<Float>, count n: Int
    ) -> Float {
        var s0 = Vector(), s1 = Vector(), s2 = Vector(), s3 = Vector()
        var i = 0
        while i + 64 <= n {
            let d0 = load(a, i) - load(b, i), d1 = load(a, i + 16) - load(b, i + 16)
            let d2 = load(a, i + 32) - load(b, i + 32), d3 = load(a, i + 48) - load(b, i + 48)
            store(d0, out, i); store(d1, out, i + 16); store(d2, out, i + 32); store(d3, out, i + 48)
            s0.addProduct(d0, d0); s1.addProduct(d1, d1); s2.addProduct(d2, d2); s3.addProduct(d3, d3)
            i += 64
        }
        while i + 16 <= n {
            let d = load(a, i) - load(b, i)
            store(d, out, i)
            s0.addProduct(d, d)
            i += 16
        }
        var total = ((s0 + s1) + (s2 + s3)).sum()
        while i < n {
            let d = a[i] - b[i]
            out[i] = d
            total += d * d
            i += 1
        }
        return total
    }

    /// True when every element is finite (no NaN, no ±Inf).
    @inlinable
    public static func allFinite(_ a: UnsafePointer<Float>, count n: Int) -> Bool {
        // x − x is 0 for finite x and NaN otherwise; NaN propagates through the sum.
        var acc = Vector()
        var i = 0
        while i + 16 <= n { let v = load(a, i); acc += v - v; i += 16 }
        var tail: Float = 0
        while i < n { tail += a[i] - a[i]; i += 1 }
        return (acc.sum() + tail) == 0
    }

    /// The smallest element of `a[0..<n]` (`n > 0`; no NaN).
    @inlinable
    public static func minimum(_ a: UnsafePointer<Float>, count n: Int) -> Float {
        precondition(n > 0, "Kernels.minimum: empty input")
        var i = 0
        var result = a[0]
        if n >= 16 {
            var m0 = load(a, 0)
            i = 16
            while i + 16 <= n {
                let v = load(a, i)
                m0.replace(with: v, where: v .< m0)
                i += 16
            }
            for lane in 0..<16 where m0[lane] < result { result = m0[lane] }
        }
        while i < n { if a[i] < result { result = a[i] }; i += 1 }
        return result
    }

    /// The index and value of the smallest `clamp(1 − s[j], 0, 2)` over `j` in `0..<n`, the first index on ties:
    /// the nearest exemplar for one row of cosine similarities, computed in `Float` exactly as NumPy does
    /// `np.clip(1 - s, 0, 2).argmin()`. `n > 0`.
    @inlinable
    public static func nearestClampedDistance(_ s: UnsafePointer<Float>, count n: Int) -> (index: Int, distance: Float) {
        precondition(n > 0, "Kernels.nearestClampedDistance: empty input")
        typealias V = SIMD8<Float>
        typealias I = SIMD8<Int32>
        let one = V(repeating: 1), zero = V(), two = V(repeating: 2)
        @inline(__always) func distance(_ i: Int) -> V {
            var d = one - UnsafeRawPointer(s + i).loadUnaligned(as: V.self)
            d.replace(with: zero, where: d .< zero)
            d.replace(with: two, where: d .> two)
            return d
        }
        var bestIndex = 0
        var best = min(max(1 - s[0], 0), 2)
        var i = 0
        if n >= 16 {
            let step = I(repeating: 16)
            var indexA = I(0, 1, 2, 3, 4, 5, 6, 7), indexB = indexA &+ 8
            var minA = distance(0), minB = distance(8)
            var argA = indexA, argB = indexB
            i = 16
            while i + 16 <= n {
                indexA &+= step
                indexB &+= step
                let a = distance(i), b = distance(i + 8)
                let ma = a .< minA, mb = b .< minB
                minA.replace(with: a, where: ma)
                argA.replace(with: indexA, where: ma)
                minB.replace(with: b, where: mb)
                argB.replace(with: indexB, where: mb)
                i += 16
            }
            best = minA[0]
            bestIndex = Int(argA[0])
            for lane in 0..<8 {
                if minA[lane] < best || (minA[lane] == best && Int(argA[lane]) < bestIndex) {
                    best = minA[lane]; bestIndex = Int(argA[lane])
                }
                if minB[lane] < best || (minB[lane] == best && Int(argB[lane]) < bestIndex) {
                    best = minB[lane]; bestIndex = Int(argB[lane])
                }
            }
        }
        while i < n {
            let d = min(max(1 - s[i], 0), 2)
            if d < best { best = d; bestIndex = i }
            i += 1
        }
        return (bestIndex, best)
    }

    /// The index and value of the largest element of `a[0..<n]`, the first index on ties (NumPy's `argmax`).
    /// `n > 0`; no NaN.
    @inlinable
    public static func firstArgMax(_ a: UnsafePointer<Float>, count n: Int) -> (index: Int, value: Float) {
        precondition(n > 0, "Kernels.firstArgMax: empty input")
        typealias V = SIMD8<Float>
        typealias I = SIMD8<Int32>
        @inline(__always) func at(_ i: Int) -> V { UnsafeRawPointer(a + i).loadUnaligned(as: V.self) }
        var bestIndex = 0
        var best = a[0]
        var i = 0
        if n >= 16 {
            let step = I(repeating: 16)
            var indexA = I(0, 1, 2, 3, 4, 5, 6, 7), indexB = indexA &+ 8
            var maxA = at(0), maxB = at(8)
            var argA = indexA, argB = indexB
            i = 16
            while i + 16 <= n {
                indexA &+= step
                indexB &+= step
                let x = at(i), y = at(i + 8)
                let mx = x .> maxA, my = y .> maxB
                maxA.replace(with: x, where: mx)
                argA.replace(with: indexA, where: mx)
                maxB.replace(with: y, where: my)
                argB.replace(with: indexB, where: my)
                i += 16
            }
            best = maxA[0]
            bestIndex = Int(argA[0])
            for lane in 0..<8 {
                if maxA[lane] > best || (maxA[lane] == best && Int(argA[lane]) < bestIndex) {
                    best = maxA[lane]; bestIndex = Int(argA[lane])
                }
                if maxB[lane] > best || (maxB[lane] == best && Int(argB[lane]) < bestIndex) {
                    best = maxB[lane]; bestIndex = Int(argB[lane])
                }
            }
        }
        while i < n {
            if a[i] > best { best = a[i]; bestIndex = i }
            i += 1
        }
        return (bestIndex, best)
    }

    /// out[i] = 1 − x[i] (cosine similarity to cosine distance).
    @inlinable
    public static func oneMinus(_ x: UnsafePointer<Float>, into out: UnsafeMutablePointer<Float>, count n: Int) {
        let one = Vector(repeating: 1)
        var i = 0
        while i + 16 <= n { store(one - load(x, i), out, i); i += 16 }
        while i < n { out[i] = 1 - x[i]; i += 1 }
    }

    /// out[i] = x[i] / divisor, with a true division per element (not a multiplication by the reciprocal), so the
    /// result matches NumPy's `x / divisor` bit for bit.
    @inlinable
    public static func divide(_ x: UnsafePointer<Float>, by divisor: Float, into out: UnsafeMutablePointer<Float>, count n: Int) {
        let v = Vector(repeating: divisor)
        var i = 0
        while i + 16 <= n { store(load(x, i) / v, out, i); i += 16 }
        while i < n { out[i] = x[i] / divisor; i += 1 }
    }

    /// x[i] = clamp(1 − x[i], 0, 2) in place: cosine similarities to clamped cosine distances (docs/method.md).
    @inlinable
    public static func clampedCosineDistances(_ x: UnsafeMutablePointer<Float>, count n: Int) {
        let one = Vector(repeating: 1), zero = Vector(), two = Vector(repeating: 2)
        var i = 0
        while i + 16 <= n {
            var d = one - load(UnsafePointer(x), i)
            d.replace(with: zero, where: d .< zero)
            d.replace(with: two, where: d .> two)
            store(d, x, i)
            i += 16
        }
        while i < n { x[i] = min(max(1 - x[i], 0), 2); i += 1 }
    }
}

