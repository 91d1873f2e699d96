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
                let first = range.lowerBound
                if let r = centeredUnitOnOneThread(x + first * width, rows: range.count, width: width, center: center, into: out + first * width) {
                    badRows[worker] = first + r
                }
            }
        }
        let bad = firstBad.min()!
        return bad == Int.max ? nil : bad
    }

    /// ``centeredUnit(_:rows:width:center:into:)`` on the calling thread, stopping at the first non-finite row.
    static func centeredUnitOnOneThread(
        _ x: UnsafePointer<Float>, rows: Int, width: Int, center: UnsafePointer<Float>, into out: UnsafeMutablePointer<Float>
    ) -> Int? {
        for r in 0..<rows {
            let target = out + r * width
            let squares = Kernels.subtractAndSumSquares(x + r * width, center, into: target, count: width)
            guard squares.isFinite else { return r }
            Kernels.divide(target, by: squares.squareRoot() + 1e-12, into: target, count: width)
        }
        return nil
    }

    /// The index of the first row of `x` (`rows`×`width`) holding NaN or an infinity, if any.
    static func firstNonFiniteRow(_ x: UnsafePointer<Float>, rows: Int, width: Int) -> Int? {
        for r in 0..<rows where !Kernels.allFinite(x + r * width, count: width) { return r }
        return nil
    }
}
