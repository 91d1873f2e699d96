import EPTensors

/// The centered unit direction `dir(x) = (x − c) / (‖x − c‖ + 1e-12)` of spec §2, computed in `Float` as the
/// reference's NumPy code does (the epsilon is added to the norm, and each element is divided by it). A row equal to
/// the center gives the zero vector.
enum Directions {
    /// Writes `dir(x)` for `rows` consecutive rows of `x` into `out` (both `rows`×`width`, row-major), on all
    /// workers. Returns the first row whose direction is not finite (the row holds NaN or an infinity, or values
    /// too large to square), if any; such a row's output is garbage.
    static func centeredUnit(
        _ x: UnsafePointer<Float>, rows: Int, width: Int, center: UnsafePointer<Float>, into out: UnsafeMutablePointer<Float>
    ) -> Int? {
        var firstBad = [Int](repeating: Int.max, count: Parallel.workerCount)
        firstBad.withUnsafeMutableBufferPointer { bad in
            let badRows = bad.baseAddress!
            Parallel.forEachRange(count: rows, minimumPerWorker: max(1, 32_768 / max(width, 1))) { range, worker in
                for r in range {
                    let source = x + r * width
                    let target = out + r * width
                    Kernels.subtract(source, center, into: target, count: width)
                    let squares = Kernels.sumOfSquares(target, count: width)
                    if !squares.isFinite {
                        badRows[worker] = min(badRows[worker], r)
                        continue
                    }
                    Kernels.divide(target, by: squares.squareRoot() + 1e-12, into: target, count: width)
                }
            }
        }
        let bad = firstBad.min()!
        return bad == Int.max ? nil : bad
    }

    /// The index of the first row of `x` (`rows`×`width`) holding NaN or an infinity, if any.
    static func firstNonFiniteRow(_ x: UnsafePointer<Float>, rows: Int, width: Int) -> Int? {
        for r in 0..<rows where !Kernels.allFinite(x + r * width, count: width) { return r }
        return nil
    }
}
