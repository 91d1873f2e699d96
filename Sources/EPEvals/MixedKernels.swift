/// Kernels between `Float` data and `Double` coefficients, accumulating in `Double`: the probe solver keeps the
/// feature rows in single precision (as activations are stored) but needs gradients exact to double rounding.
enum MixedKernels {
    /// Σ x[j]·a[j].
    @inline(__always)
    static func dot(_ x: UnsafePointer<Float>, _ a: UnsafePointer<Double>, count n: Int) -> Double {
        var s0 = SIMD8<Double>(), s1 = SIMD8<Double>()
        var j = 0
        while j + 16 <= n {
            let v = UnsafeRawPointer(x + j).loadUnaligned(as: SIMD16<Float>.self)
            s0.addProduct(SIMD8<Double>(v.lowHalf), UnsafeRawPointer(a + j).loadUnaligned(as: SIMD8<Double>.self))
            s1.addProduct(SIMD8<Double>(v.highHalf), UnsafeRawPointer(a + j + 8).loadUnaligned(as: SIMD8<Double>.self))
            j += 16
        }
        var total = (s0 + s1).sum()
        while j < n {
            total += Double(x[j]) * a[j]
            j += 1
        }
        return total
    }

    /// y[j] += alpha · x[j].
    @inline(__always)
    static func axpy(_ alpha: Double, _ x: UnsafePointer<Float>, _ y: UnsafeMutablePointer<Double>, count n: Int) {
        let a = SIMD8<Double>(repeating: alpha)
        var j = 0
        while j + 16 <= n {
            let v = UnsafeRawPointer(x + j).loadUnaligned(as: SIMD16<Float>.self)
            let y0 = UnsafeMutableRawPointer(y + j), y1 = UnsafeMutableRawPointer(y + j + 8)
            y0.storeBytes(of: y0.loadUnaligned(as: SIMD8<Double>.self).addingProduct(a, SIMD8<Double>(v.lowHalf)), as: SIMD8<Double>.self)
            y1.storeBytes(of: y1.loadUnaligned(as: SIMD8<Double>.self).addingProduct(a, SIMD8<Double>(v.highHalf)), as: SIMD8<Double>.self)
            j += 16
        }
        while j < n {
            y[j] += alpha * Double(x[j])
            j += 1
        }
    }
}
