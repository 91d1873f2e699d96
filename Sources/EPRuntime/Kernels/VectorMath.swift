import EPTensors

/// Element-wise kernels of a transformer forward pass (RMSNorm, RoPE, SwiGLU, softmax), with explicit SIMD and a
/// vectorised `exp`, each one pass over memory.
enum VectorMath {
    typealias V = SIMD8<Float>

    @inline(__always)
    static func load(_ p: UnsafePointer<Float>) -> V { UnsafeRawPointer(p).loadUnaligned(as: V.self) }

    @inline(__always)
    static func store(_ v: V, _ p: UnsafeMutablePointer<Float>) { UnsafeMutableRawPointer(p).storeBytes(of: v, as: V.self) }

    /// eˣ for each lane (Cephes `expf`: range reduction by ln 2 and a degree-6 polynomial; ≤ 2 ulp on the
    /// clamped range). Inputs are clamped to [−87.34, 88.38], so the result is always finite: ≈ 1.2e-38 below,
    /// ≈ 2.4e38 above.
    @inline(__always)
    static func exp(_ x: V) -> V {
        // `clamped` would go through the scalarised pointwiseMin/Max; masks keep it in vector registers.
        var x = x
        x.replace(with: V(repeating: -87.33654), where: x .< V(repeating: -87.33654))
        x.replace(with: V(repeating: 88.37626), where: x .> V(repeating: 88.37626))
        let k = (x * V(repeating: 1.442695041)).rounded(.toNearestOrEven)
        var r = x.addingProduct(k, V(repeating: -0.693359375))
        r = r.addingProduct(k, V(repeating: 2.12194440e-4))
        var p = V(repeating: 1.3981999507e-3).addingProduct(V(repeating: 1.9875691500e-4), r)
        p = V(repeating: 8.3334519073e-3).addingProduct(p, r)
        p = V(repeating: 4.1665795894e-2).addingProduct(p, r)
        p = V(repeating: 1.6666665459e-1).addingProduct(p, r)
        p = V(repeating: 5.0000001201e-1).addingProduct(p, r)
        let y = (r + 1).addingProduct(p, r * r)
        // 2^k: k + (2²³ + 127) has k + 127 in its low mantissa bits; shifting by 23 moves them to the exponent.
        let biased = unsafeBitCast(k + V(repeating: 8_388_735), to: SIMD8<UInt32>.self)
        return y * unsafeBitCast(biased &<< 23, to: V.self)
    }

    /// eˣ of one value, by the same method as the vector `exp` (for loop tails).
    @inline(__always)
    static func exp(_ x: Float) -> Float { exp(V(repeating: x))[0] }

    /// `out[r] = x[r] / rms(x[r]) · weight` for `rows` rows of `width` (weight nil: no weight), rows `stride` apart.
    static func rmsNorm(
        _ x: UnsafePointer<Float>, into out: UnsafeMutablePointer<Float>, rows: Int, width: Int, stride: Int,
        weight: UnsafePointer<Float>?, epsilon: Float
    ) {
        for r in 0..<rows {
            let src = x + r * stride, dst = out + r * stride
            let meanSquare = Kernels.sumOfSquares(src, count: width) / Float(width)
            let s = 1 / (meanSquare + epsilon).squareRoot()
            let vs = V(repeating: s)
            var i = 0
            if let w = weight {
                while i + 8 <= width { store(load(src + i) * vs * load(w + i), dst + i); i += 8 }
                while i < width { dst[i] = src[i] * s * w[i]; i += 1 }
            } else {
                while i + 8 <= width { store(load(src + i) * vs, dst + i); i += 8 }
                while i < width { dst[i] = src[i] * s; i += 1 }
            }
        }
    }

    /// `out[r] = (x[r] − mean) / √(var + ε) · weight + bias` for `rows` rows of `width` (LayerNorm; weight and bias
    /// nil: none), rows `stride` apart. Mean and variance are accumulated in Double.
    static func layerNorm(
        _ x: UnsafePointer<Float>, into out: UnsafeMutablePointer<Float>, rows: Int, width: Int, stride: Int,
        weight: UnsafePointer<Float>?, bias: UnsafePointer<Float>?, epsilon: Float
    ) {
        for r in 0..<rows {
            let src = x + r * stride, dst = out + r * stride
            var sum = 0.0
            for i in 0..<width { sum += Double(src[i]) }
            let mean = sum / Double(width)
            var squares = 0.0
            for i in 0..<width { let d = Double(src[i]) - mean; squares += d * d }
            let s = Float(1 / (squares / Double(width) + Double(epsilon)).squareRoot())
            let m = Float(mean)
            for i in 0..<width {
                var v = (src[i] - m) * s
                if let weight { v *= weight[i] }
                if let bias { v += bias[i] }
                dst[i] = v
            }
        }
    }

    /// `x[r] += bias` for `rows` rows of `width`, rows `stride` apart.
    static func addRows(_ x: UnsafeMutablePointer<Float>, rows: Int, width: Int, stride: Int, bias: UnsafePointer<Float>) {
        for r in 0..<rows { Kernels.add(bias, into: x + r * stride, count: width) }
    }

    /// tanh of each lane, as 1 − 2 / (e^{2x} + 1) with the vector `exp` (saturates to ±1).
    @inline(__always)
    static func tanh(_ x: V) -> V {
        let one = V(repeating: 1)
        return one - V(repeating: 2) / (exp(x + x) + one)
    }

    /// GELU with the tanh approximation: 0.5·x·(1 + tanh(√(2/π)·(x + 0.044715·x³))).
    @inline(__always)
    static func geluTanh(_ x: V) -> V {
        let inner = V(repeating: 0.7978845608) * (x + V(repeating: 0.044715) * x * x * x)
        return V(repeating: 0.5) * x * (V(repeating: 1) + tanh(inner))
    }

    /// `x[i] = gelu_tanh(x[i])` for `count` values.
    static func geluTanh(_ x: UnsafeMutablePointer<Float>, count: Int) {
        var i = 0
        while i + 8 <= count { store(geluTanh(load(x + i)), x + i); i += 8 }
        while i < count { x[i] = geluTanh(V(repeating: x[i]))[0]; i += 1 }
    }

    /// `out[r][j] = gelu_tanh(gu[r][j]) · gu[r][width + j]`, where each row of `gu` holds the gate then the up
    /// projection (`2·width` values): Gemma's gated MLP.
    static func geluTanhGated(_ gu: UnsafePointer<Float>, into out: UnsafeMutablePointer<Float>, rows: Int, width: Int) {
        for r in 0..<rows {
            let g = gu + 2 * width * r, u = g + width, dst = out + width * r
            var i = 0
            while i + 8 <= width { store(geluTanh(load(g + i)) * load(u + i), dst + i); i += 8 }
            while i < width { dst[i] = geluTanh(V(repeating: g[i]))[0] * u[i]; i += 1 }
        }
    }

    /// `x[i] = cap · tanh(x[i] / cap)` for `count` values (Gemma 2's soft-capping).
    static func softcap(_ x: UnsafeMutablePointer<Float>, count: Int, cap: Float) {
        let c = V(repeating: cap), inverse = V(repeating: 1 / cap)
        var i = 0
        while i + 8 <= count { store(c * tanh(load(x + i) * inverse), x + i); i += 8 }
        while i < count { x[i] = cap * tanh(V(repeating: x[i] / cap))[0]; i += 1 }
    }

    /// Rotates `heads` heads of `headDim` values at `x` in place, NEOX style: for i < `half`, the pair
    /// (x[i], x[i + half]) turns by the angle whose cosine and sine are `cos[i]`, `sin[i]`; dimensions from
    /// 2·`half` on are left alone.
    @inline(__always)
    static func rotateHalves(
        _ x: UnsafeMutablePointer<Float>, heads: Int, headDim: Int, half: Int, cos: UnsafePointer<Float>, sin: UnsafePointer<Float>
    ) {
        for h in 0..<heads {
            let a = x + h * headDim, b = a + half
            var i = 0
            while i + 8 <= half {
                let va = load(a + i), vb = load(b + i), c = load(cos + i), s = load(sin + i)
                store(va * c - vb * s, a + i)
                store(vb * c + va * s, b + i)
                i += 8
            }
            while i < half {
                let va = a[i], vb = b[i]
                a[i] = va * cos[i] - vb * sin[i]
                b[i] = vb * cos[i] + va * sin[i]
                i += 1
            }
        }
    }

    /// Σ x[i] for `count` values (a multiple of 8).
    @inline(__always)
    static func sum(_ x: UnsafePointer<Float>, count: Int) -> Float {
        var acc = V()
        for i in stride(from: 0, to: count, by: 8) { acc += load(x + i) }
        return horizontalSum(acc)
    }

    /// `x[r] *= weight` element-wise for `rows` rows of `width`, rows `stride` apart.
    static func multiplyRows(_ x: UnsafeMutablePointer<Float>, rows: Int, width: Int, stride: Int, by weight: UnsafePointer<Float>) {
        for r in 0..<rows {
            let row = x + r * stride
            var i = 0
            while i + 8 <= width { store(load(row + i) * load(weight + i), row + i); i += 8 }
            while i < width { row[i] *= weight[i]; i += 1 }
        }
    }

    /// `out[r][j] = silu(gu[r][j]) · gu[r][width + j]`, where each row of `gu` holds the gate then the up
    /// projection (`2·width` values).
    static func swiGLU(_ gu: UnsafePointer<Float>, into out: UnsafeMutablePointer<Float>, rows: Int, width: Int) {
        let one = V(repeating: 1)
        for r in 0..<rows {
            let g = gu + 2 * width * r, u = g + width, dst = out + width * r
            var i = 0
            while i + 8 <= width {
                let gv = load(g + i)
                store(gv / (one + exp(-gv)) * load(u + i), dst + i)
                i += 8
            }
            while i < width {
                let gs = g[i]
                dst[i] = gs / (1 + exp(-gs)) * u[i]
                i += 1
            }
        }
    }

    /// The largest lane, by halving (`SIMD.max()` compares lane by lane with NaN rules).
    @inline(__always)
    static func horizontalMax(_ v: V) -> Float {
        var a = v.lowHalf
        a.replace(with: v.highHalf, where: v.highHalf .> a)
        var b = a.lowHalf
        b.replace(with: a.highHalf, where: a.highHalf .> b)
        return Swift.max(b[0], b[1])
    }

    /// The sum of the lanes, by halving (pairwise, not lane by lane).
    @inline(__always)
    static func horizontalSum(_ v: V) -> Float {
        let a = v.lowHalf + v.highHalf
        let b = a.lowHalf + a.highHalf
        return b[0] + b[1]
    }

    /// Softmax of `row[0..<valid]` in place, with `row[valid..<count]` set to zero (the causal mask).
    ///
    /// Works on whole vectors: the row must have room for `valid` rounded up to a multiple of 8 values (lanes past
    /// `valid` are read and written but left out of the result).
    static func maskedSoftmax(_ row: UnsafeMutablePointer<Float>, valid: Int, count: Int) {
        let vectors = (valid + 7) / 8
        let last = 8 * (vectors - 1)
        let inLastVector = SIMD8<Int32>(0, 1, 2, 3, 4, 5, 6, 7) .< SIMD8<Int32>(repeating: Int32(valid - last))
        var m = V(repeating: -.greatestFiniteMagnitude)
        var tail = load(row + last)
        tail.replace(with: m, where: .!inLastVector)
        m = tail
        for i in stride(from: 0, to: last, by: 8) {
            let v = load(row + i)
            m.replace(with: v, where: v .> m)
        }
        let vmax = V(repeating: horizontalMax(m))
        var sum = V()
        for i in stride(from: 0, to: last, by: 8) {
            let e = exp(load(row + i) - vmax)
            store(e, row + i)
            sum += e
        }
        var e = exp(tail - vmax)
        e.replace(with: 0, where: .!inLastVector)
        sum += e
        let inv = V(repeating: 1 / horizontalSum(sum))
        for i in stride(from: 0, to: last, by: 8) { store(load(row + i) * inv, row + i) }
        store(e * inv, row + last)
        (row + valid).update(repeating: 0, count: count - valid)
    }

    /// Swaps adjacent lanes: (a, b, c, d, …) → (b, a, d, c, …).
    @inline(__always)
    static func swapPairs(_ v: V) -> V {
        V(v[1], v[0], v[3], v[2], v[5], v[4], v[7], v[6])
    }

    /// Rotates `heads` heads of `headDim` values at `x` in place: `x·cos + swapPairs(x)·sin` with the position's
    /// expanded tables (`cos` repeated per pair, `sin` as (−s, +s) per pair): the GGUF "normal" RoPE that rotates
    /// adjacent pairs (2i, 2i+1).
    @inline(__always)
    static func rotate(_ x: UnsafeMutablePointer<Float>, heads: Int, headDim: Int, cos: UnsafePointer<Float>, sin: UnsafePointer<Float>) {
        for h in 0..<heads {
            let p = x + h * headDim
            var i = 0
            while i + 8 <= headDim {
                let v = load(p + i)
                store(v * load(cos + i) + swapPairs(v) * load(sin + i), p + i)
                i += 8
            }
            while i + 2 <= headDim {
                let a = p[i], b = p[i + 1]
                p[i] = a * cos[i] + b * sin[i]
                p[i + 1] = b * cos[i + 1] + a * sin[i + 1]
                i += 2
            }
        }
    }
}
