import EPTensors
import Foundation

/// The design matrix of a logistic-regression problem, seen only through the products the Newton solver needs.
///
/// Rows are the effective features `u_i` (after any centring and scaling the design applies); the model is
/// `z_i = u_i·v + c`.
protocol LogisticDesign {
    var rowCount: Int { get }
    var featureCount: Int { get }
    /// `z_i = u_i·v + c` for every row.
    func margins(weights v: [Double], intercept c: Double) -> [Double]
    /// `Uᵀr`.
    func transposedProduct(_ r: [Double]) -> [Double]
    /// The Hessian of `C·Σ loss + ½‖v‖²` for per-row curvatures `w_i = p_i(1 − p_i)`, ready to solve
    /// `(H + λI)·Δ = rhs` for the `featureCount + 1` unknowns (weights, then intercept); the solve returns nil
    /// when the damped matrix is not numerically positive definite.
    func hessian(curvatures w: [Double], c: Double) -> (_ rhs: [Double], _ damping: Double) -> [Double]?
}

/// Dense rows of `Float`, centred and scaled on the fly: `u_ij = (x_ij − center_j)·scale_j`.
///
/// Centring costs nothing in the model (the unpenalised intercept absorbs it) but makes the Hessian far better
/// conditioned when features have large offsets, as residual-stream activations do.
struct DenseDesign: LogisticDesign {
    let matrix: Matrix
    let center: [Double]
    let scale: [Double]

    var rowCount: Int { matrix.rows }
    var featureCount: Int { matrix.columns }

    func margins(weights v: [Double], intercept c: Double) -> [Double] {
        let d = featureCount
        let a = (0..<d).map { scale[$0] * v[$0] }
        var offset = c
        for j in 0..<d { offset -= center[j] * a[j] }
        var z = [Double](repeating: 0, count: rowCount)
        matrix.storage.withUnsafeBufferPointer { x in
            a.withUnsafeBufferPointer { a in
                for i in 0..<rowCount {
                    z[i] = MixedKernels.dot(x.baseAddress! + i * d, a.baseAddress!, count: d) + offset
                }
            }
        }
        return z
    }

    func transposedProduct(_ r: [Double]) -> [Double] {
        let d = featureCount
        var sum = [Double](repeating: 0, count: d)
        matrix.storage.withUnsafeBufferPointer { x in
            sum.withUnsafeMutableBufferPointer { sum in
                for i in 0..<rowCount {
                    MixedKernels.axpy(r[i], x.baseAddress! + i * d, sum.baseAddress!, count: d)
                }
            }
        }
        let total = r.reduce(0, +)
        return (0..<d).map { scale[$0] * (sum[$0] - center[$0] * total) }
    }

    /// Forms `UᵀWU` block by block: each block of rows is scaled by √w_i into a transposed `Float` buffer and
    /// multiplied with a BLAS rank-k update; block results are accumulated in `Double`. The intercept row and
    /// column (`UᵀW1`, `Σw`) are accumulated in `Double` directly.
    func hessian(curvatures w: [Double], c: Double) -> (_ rhs: [Double], _ damping: Double) -> [Double]? {
        let n = rowCount, d = featureCount, m = d + 1
        var h = [Double](repeating: 0, count: m * m)
        var weightedColumn = [Double](repeating: 0, count: d)
        var weightSum = 0.0
        let blockRows = max(1, min(n, (1 << 20) / max(d, 1)))
        var block = [Float](repeating: 0, count: blockRows * d)
        var gram = [Float](repeating: 0, count: d * d)
        matrix.storage.withUnsafeBufferPointer { x in
            var start = 0
            while start < n {
                let b = min(blockRows, n - start)
                block.withUnsafeMutableBufferPointer { t in
                    for i in 0..<b {
                        let wi = w[start + i]
                        let root = wi.squareRoot()
                        weightSum += wi
                        let row = x.baseAddress! + (start + i) * d
                        for j in 0..<d {
                            let u = (Double(row[j]) - center[j]) * scale[j]
                            t[j * b + i] = Float(root * u)
                            weightedColumn[j] += wi * u
                        }
                    }
                }
                block.withUnsafeBufferPointer { t in
                    gram.withUnsafeMutableBufferPointer { g in
                        BLAS.syrkUpper(n: d, k: b, a: t.baseAddress!, lda: b, c: g.baseAddress!, ldc: d)
                    }
                }
                for j in 0..<d {
                    for k in j..<d { h[j * m + k] += Double(gram[j * d + k]) }
                }
                start += b
            }
        }
        for j in 0..<d {
            for k in j..<d {
                h[j * m + k] *= c
                h[k * m + j] = h[j * m + k]
            }
            h[j * m + j] += 1
            h[j * m + d] = c * weightedColumn[j]
            h[d * m + j] = h[j * m + d]
        }
        h[d * m + d] = c * weightSum
        return { rhs, damping in
            var a = h
            if damping > 0 { for j in 0..<m { a[j * m + j] += damping } }
            return Cholesky.solve(&a, size: m, rhs)
        }
    }
}

/// Rows with one non-zero entry each: `u_i = q_i·e_{k_i}` with `q_i = value_i·scale_{k_i}`.
///
/// The Hessian is an arrow matrix (diagonal over regions plus the intercept row and column), solved exactly with
/// its Schur complement in O(rows + regions).
struct OneHotDesign: LogisticDesign {
    let regions: [Int]
    let q: [Double]
    let width: Int

    init(rows: OneHotRows, scale: [Double]) {
        regions = rows.regions
        q = rows.regions.indices.map { rows.value($0) * scale[rows.regions[$0]] }
        width = rows.width
    }

    var rowCount: Int { regions.count }
    var featureCount: Int { width }

    func margins(weights v: [Double], intercept c: Double) -> [Double] {
        regions.indices.map { q[$0] * v[regions[$0]] + c }
    }

    func transposedProduct(_ r: [Double]) -> [Double] {
        var result = [Double](repeating: 0, count: width)
        for (i, k) in regions.enumerated() { result[k] += r[i] * q[i] }
        return result
    }

    func hessian(curvatures w: [Double], c: Double) -> (_ rhs: [Double], _ damping: Double) -> [Double]? {
        var diagonal = [Double](repeating: 0, count: width)
        var column = [Double](repeating: 0, count: width)
        var corner = 0.0
        for (i, k) in regions.enumerated() {
            diagonal[k] += w[i] * q[i] * q[i]
            column[k] += w[i] * q[i]
            corner += w[i]
        }
        let width = width
        return { rhs, damping in
            // [D e; eᵀ h]·[Δv; Δc] = [a; b]  ⇒  Δc = (b − Σ e_k a_k / D_k) / (h − Σ e_k² / D_k),  Δv_k = (a_k − e_k Δc) / D_k.
            var numerator = rhs[width]
            var schur = c * corner + damping
            var d = [Double](repeating: 0, count: width)
            for k in 0..<width {
                d[k] = c * diagonal[k] + 1 + damping
                let e = c * column[k]
                numerator -= e * rhs[k] / d[k]
                schur -= e * e / d[k]
            }
            guard schur > 0, schur.isFinite else { return nil }
            let dc = numerator / schur
            var solution = (0..<width).map { (rhs[$0] - c * column[$0] * dc) / d[$0] }
            solution.append(dc)
            return solution
        }
    }
}

/// Dense Cholesky factorisation and solve in `Double`.
enum Cholesky {
    /// Solves `A·x = b` for a symmetric positive-definite row-major `size`×`size` matrix; `a` is overwritten by its
    /// lower factor. Returns nil when a pivot is not positive (the matrix is not numerically positive definite).
    static func solve(_ a: inout [Double], size m: Int, _ b: [Double]) -> [Double]? {
        let ok = a.withUnsafeMutableBufferPointer { l -> Bool in
            let base = l.baseAddress!
            for i in 0..<m {
                let rowI = base + i * m
                for j in 0...i {
                    let rowJ = base + j * m
                    let s = rowI[j] - dot(rowI, rowJ, count: j)
                    if i == j {
                        guard s > 0, s.isFinite else { return false }
                        rowI[i] = s.squareRoot()
                    } else {
                        rowI[j] = s / rowJ[j]
                    }
                }
            }
            return true
        }
        guard ok else { return nil }
        var x = b
        for i in 0..<m {  // L·y = b
            var s = x[i]
            for k in 0..<i { s -= a[i * m + k] * x[k] }
            x[i] = s / a[i * m + i]
        }
        for i in stride(from: m - 1, through: 0, by: -1) {  // Lᵀ·x = y
            var s = x[i]
            for k in (i + 1)..<m { s -= a[k * m + i] * x[k] }
            x[i] = s / a[i * m + i]
        }
        return x
    }

    @inline(__always)
    private static func dot(_ a: UnsafeMutablePointer<Double>, _ b: UnsafeMutablePointer<Double>, count n: Int) -> Double {
        var s0 = SIMD4<Double>(), s1 = SIMD4<Double>()
        var k = 0
        while k + 8 <= n {
            s0.addProduct(UnsafeRawPointer(a + k).loadUnaligned(as: SIMD4<Double>.self), UnsafeRawPointer(b + k).loadUnaligned(as: SIMD4<Double>.self))
            s1.addProduct(UnsafeRawPointer(a + k + 4).loadUnaligned(as: SIMD4<Double>.self), UnsafeRawPointer(b + k + 4).loadUnaligned(as: SIMD4<Double>.self))
            k += 8
        }
        var total = (s0 + s1).sum()
        while k < n {
            total += a[k] * b[k]
            k += 1
        }
        return total
    }
}

/// Damped Newton's method with a backtracking (Armijo) line search for
/// `F(v, c) = C·Σ_i log(1 + exp(−s_i z_i)) + ½‖v‖²` (`s_i = ±1`, intercept not penalised), the objective of
/// scikit-learn's `LogisticRegression(penalty='l2', C=C, fit_intercept=True)`.
///
/// Convergence is declared when the largest absolute component of the gradient of `F / (C·n)` — the mean-loss
/// objective scikit-learn's lbfgs solver tests against `tol` — is at most `tolerance`. The gradient is computed
/// in `Double` from the exact data; only the Hessian (which sets the step, not the stopping point) is formed with
/// single-precision products on the dense path.
enum NewtonSolver {
    struct Solution {
        var weights: [Double]
        var intercept: Double
        var convergence: LogisticRegression.Convergence
    }

    static func solve<D: LogisticDesign>(_ design: D, labels: [Bool], c: Double, tolerance: Double, maxIterations: Int) -> Solution {
        let n = design.rowCount, d = design.featureCount
        var v = [Double](repeating: 0, count: d)
        var b = 0.0
        var iterations = 0
        var z = design.margins(weights: v, intercept: b)
        var objective = evaluate(z, labels, v, c)
        while true {
            var r = [Double](repeating: 0, count: n)
            var w = [Double](repeating: 0, count: n)
            for i in 0..<n {
                let (p, curvature) = probability(z[i])
                r[i] = p - (labels[i] ? 1 : 0)
                w[i] = curvature
            }
            let product = design.transposedProduct(r)
            var gradient = (0..<d).map { c * product[$0] + v[$0] }
            gradient.append(c * r.reduce(0, +))
            let gradientNorm = gradient.reduce(0) { max($0, abs($1)) } / (c * Double(n))
            let status = LogisticRegression.Convergence(
                converged: gradientNorm <= tolerance, iterations: iterations, gradientNorm: gradientNorm, objective: objective)
            if status.converged || iterations >= maxIterations {
                return Solution(weights: v, intercept: b, convergence: status)
            }
            let solve = design.hessian(curvatures: w, c: c)
            let rhs = gradient.map { -$0 }
            var direction: [Double]? = solve(rhs, 0)
            var damping = 1e-10 * max(1, c * Double(n))
            while direction == nil && damping < 1e20 {
                direction = solve(rhs, damping)
                damping *= 100
            }
            var step = direction ?? rhs
            var slope = zip(gradient, step).reduce(0) { $0 + $1.0 * $1.1 }
            if !(slope < 0) {  // not a descent direction (numerically): fall back to steepest descent
                step = rhs
                slope = -gradient.reduce(0) { $0 + $1 * $1 }
            }
            let stepWeights = Array(step[0..<d])
            let dz = design.margins(weights: stepWeights, intercept: step[d])
            // Backtracking on F; a change within rounding of F counts as no increase, so that steps taken at the
            // limit of double precision near the optimum are not rejected.
            let allowance = 1e-13 * abs(objective)
            var t = 1.0
            var accepted = false
            for _ in 0..<60 {
                let trialZ = zip(z, dz).map { $0 + t * $1 }
                let trialV = (0..<d).map { v[$0] + t * stepWeights[$0] }
                let trial = evaluate(trialZ, labels, trialV, c)
                if trial <= objective + 1e-4 * t * slope + allowance {
                    v = trialV
                    b += t * step[d]
                    accepted = true
                    break
                }
                t /= 2
            }
            iterations += 1
            if !accepted {
                return Solution(weights: v, intercept: b, convergence: status)
            }
            z = design.margins(weights: v, intercept: b)
            objective = evaluate(z, labels, v, c)
        }
    }

    /// `F = C·Σ loss + ½‖v‖²` at margins `z`.
    static func evaluate(_ z: [Double], _ labels: [Bool], _ v: [Double], _ c: Double) -> Double {
        var loss = 0.0
        for i in z.indices { loss += softplus(labels[i] ? -z[i] : z[i]) }
        return c * loss + 0.5 * v.reduce(0) { $0 + $1 * $1 }
    }

    /// log(1 + eˣ) without overflow or cancellation.
    @inline(__always)
    static func softplus(_ x: Double) -> Double {
        x > 0 ? x + log1p(exp(-x)) : log1p(exp(x))
    }

    /// σ(z) and σ(z)(1 − σ(z)), both computed without cancellation.
    @inline(__always)
    static func probability(_ z: Double) -> (Double, Double) {
        let e = exp(-abs(z))
        let p = z >= 0 ? 1 / (1 + e) : e / (1 + e)
        return (p, e / ((1 + e) * (1 + e)))
    }
}
