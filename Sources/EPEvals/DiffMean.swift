import EPTensors

/// The difference-of-means direction between positive and negative rows (AxBench's `DiffMean` baseline):
/// `mean(positive rows) − mean(negative rows)`, scaled to unit length.
///
/// AxBench computes it over token activations, every token inheriting its example's label, and uses the unit
/// vector both as the concept detector (score = projection) and as the steering direction.
public struct DiffMean: Sendable, Equatable {
    /// The unit direction.
    public let direction: [Float]
    /// The length of the difference of means before normalisation.
    public let norm: Double

    /// Computes the direction from `features` rows labelled by `labels` (`true` = positive), accumulating the
    /// means in `Double`.
    ///
    /// Throws ``DiffMeanError`` when sizes differ, a class is empty, or the two means coincide.
    public init(features: Matrix, labels: [Bool]) throws {
        guard features.rows == labels.count else { throw DiffMeanError.countMismatch(rows: features.rows, labels: labels.count) }
        let d = features.columns
        var positive = [Double](repeating: 0, count: d), negative = [Double](repeating: 0, count: d)
        var positives = 0
        features.storage.withUnsafeBufferPointer { x in
            for i in 0..<features.rows {
                let row = x.baseAddress! + i * d
                if labels[i] {
                    positives += 1
                    positive.withUnsafeMutableBufferPointer { MixedKernels.axpy(1, row, $0.baseAddress!, count: d) }
                } else {
                    negative.withUnsafeMutableBufferPointer { MixedKernels.axpy(1, row, $0.baseAddress!, count: d) }
                }
            }
        }
        let negatives = labels.count - positives
        guard positives > 0, negatives > 0 else { throw DiffMeanError.singleClass(positives: positives, negatives: negatives) }
        let difference = (0..<d).map { positive[$0] / Double(positives) - negative[$0] / Double(negatives) }
        let norm = difference.reduce(0) { $0 + $1 * $1 }.squareRoot()
        guard norm > 0, norm.isFinite else { throw DiffMeanError.degenerate(norm: norm) }
        self.norm = norm
        self.direction = difference.map { Float($0 / norm) }
    }

    /// The projection of every row onto the direction (the detector's score).
    public func scores(_ features: Matrix) throws -> [Float] {
        guard features.columns == direction.count else {
            throw DiffMeanError.widthMismatch(expected: direction.count, found: features.columns)
        }
        var result = [Float](repeating: 0, count: features.rows)
        features.storage.withUnsafeBufferPointer { x in
            direction.withUnsafeBufferPointer { v in
                result.withUnsafeMutableBufferPointer { y in
                    BLAS.gemv(.asStored, rows: features.rows, columns: features.columns, a: x.baseAddress!, lda: features.columns,
                              x: v.baseAddress!, y: y.baseAddress!)
                }
            }
        }
        return result
    }
}

/// Why a DiffMean direction could not be computed or applied.
public enum DiffMeanError: Error, Equatable, CustomStringConvertible {
    /// The number of rows differs from the number of labels.
    case countMismatch(rows: Int, labels: Int)
    /// One class has no rows.
    case singleClass(positives: Int, negatives: Int)
    /// The class means are equal (or not finite), so there is no direction.
    case degenerate(norm: Double)
    /// Rows to score have a different width from the direction.
    case widthMismatch(expected: Int, found: Int)

    public var description: String {
        switch self {
        case let .countMismatch(rows, labels): return "DiffMean: \(rows) rows but \(labels) labels"
        case let .singleClass(positives, negatives):
            return "DiffMean: needs both classes, got \(positives) positives and \(negatives) negatives"
        case let .degenerate(norm): return "DiffMean: the class means do not differ (norm \(norm))"
        case let .widthMismatch(expected, found): return "DiffMean: direction has \(expected) dimensions, rows have \(found)"
        }
    }
}
