/// Vector kernels over raw `Float` buffers, written with explicit SIMD so they vectorise (Swift does not
/// vectorise strict floating-point reductions on its own; ../shared/spec/swift-stack.md §2.2).
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
}
