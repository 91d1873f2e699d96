import EPTensors

/// The centered unit direction `dir(x) = (x − c) / (‖x − c‖ + 1e-12)` of spec §2, computed in `Float` as the
/// reference's NumPy code does (the epsilon is added to the norm, and each element is divided by it). A row equal to
/// the center gives the zero vector.
enum Directions {
    /// Writes `dir(x)` for `rows` consecutive rows of `x` into `out` (both `rows`×`width`, row-major).
    static func centeredUnit(
        _ x: UnsafePointer<Float>, rows: Int, width: Int, center: UnsafePointer<Float>, into out: UnsafeMutablePointer<Float>
    ) {
        for r in 0..<rows {
            let source = x + r * width
            let target = out + r * width
            Kernels.subtract(source, center, into: target, count: width)
            let norm = Kernels.sumOfSquares(target, count: width).squareRoot()
            Kernels.divide(target, by: norm + 1e-12, into: target, count: width)
        }
    }

    /// The index of the first row of `x` (`rows`×`width`) holding NaN or an infinity, if any.
    static func firstNonFiniteRow(_ x: UnsafePointer<Float>, rows: Int, width: Int) -> Int? {
        for r in 0..<rows where !Kernels.allFinite(x + r * width, count: width) { return r }
        return nil
    }
}
