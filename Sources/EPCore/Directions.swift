import EPTensors

/// The centered unit direction `dir(x) = (x − c) / (‖x − c‖ + 1e-12)` (docs/method.md), computed in `Float` as the
/// reference's NumPy code does (the epsilon is added to the norm, and each element is divided by it). A row closer
/// to the center than ``Calibration/directionFloor`` (equal to it, all-zero about a zero center, denormal) has no
/// direction — the formula would give a vector shorter than a unit one, or zero — and is reported like a row that
/// is not finite (``problem(row:of:width:center:)`` says which).
enum Directions {
    /// Writes `dir(x)` for `rows` consecutive rows of `x` into `out` (both `rows`×`width`, row-major), on all
    /// workers. Returns the first row that has no finite unit direction (it holds NaN or an infinity, values too
    /// large to square, or lies within ``Calibration/directionFloor`` of the center), if any; such a row's output
    /// is garbage.
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

    /// ``centeredUnit(_:rows:width:center:into:)`` on the calling thread, stopping at the first row without a
    /// direction.
    static func centeredUnitOnOneThread(
        _ x: UnsafePointer<Float>, rows: Int, width: Int, center: UnsafePointer<Float>, into out: UnsafeMutablePointer<Float>
    ) -> Int? {
        for r in 0..<rows {
            let target = out + r * width
            let squares = Kernels.subtractAndSumSquares(x + r * width, center, into: target, count: width)
            guard squares.isFinite, squares >= minimumSquares else { return r }
            Kernels.divide(target, by: squares.squareRoot() + 1e-12, into: target, count: width)
        }
        return nil
    }

    /// The smallest ‖x − c‖² of a row with a direction, ``Calibration/directionFloor`` squared.
    static let minimumSquares = Float(Calibration.directionFloor * Calibration.directionFloor)

    /// What is wrong with row `row` of `x`, which ``centeredUnit(_:rows:width:center:into:)`` reported: not finite,
    /// or without a direction. `row` is also the index the error names.
    static func problem(row: Int, of x: UnsafePointer<Float>, width: Int, center: UnsafePointer<Float>, reportedAs reported: Int? = nil) -> EPError {
        var squares = 0.0
        for j in 0..<width {
            let v = Double(x[row * width + j]) - Double(center[j])
            squares += v * v
        }
        let named = reported ?? row
        guard squares.isFinite, Kernels.allFinite(x + row * width, count: width), Float(squares).isFinite else { return .nonFiniteValue(row: named) }
        return .noDirection(row: named, norm: squares.squareRoot())
    }

    /// The index of the first row of `x` (`rows`×`width`) holding NaN or an infinity, if any.
    static func firstNonFiniteRow(_ x: UnsafePointer<Float>, rows: Int, width: Int) -> Int? {
        for r in 0..<rows where !Kernels.allFinite(x + r * width, count: width) { return r }
        return nil
    }
}
