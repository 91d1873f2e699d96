import EPTensors

/// The rows a probe is trained or evaluated on: a dense matrix, or one active region per row.
public enum ProbeFeatures: Sendable {
    /// One row of features per example (raw activations, top-k readouts…).
    case dense(Matrix)
    /// One active column per example (the one-hot region readout), stored as column indices.
    case oneHot(OneHotRows)

    /// Number of examples.
    public var rowCount: Int {
        switch self {
        case let .dense(matrix): return matrix.rows
        case let .oneHot(rows): return rows.regions.count
        }
    }

    /// Number of features (the width of the equivalent dense matrix).
    public var featureCount: Int {
        switch self {
        case let .dense(matrix): return matrix.columns
        case let .oneHot(rows): return rows.width
        }
    }

    /// Throws unless every value is finite.
    func checkFinite() throws {
        switch self {
        case let .dense(matrix):
            for row in 0..<matrix.rows {
                let finite = matrix.storage.withUnsafeBufferPointer {
                    Kernels.allFinite($0.baseAddress! + row * matrix.columns, count: matrix.columns)
                }
                if !finite { throw LogisticRegressionError.nonFiniteFeature(row: row) }
            }
        case let .oneHot(rows):
            if let values = rows.values, let bad = values.firstIndex(where: { !$0.isFinite }) {
                throw LogisticRegressionError.nonFiniteFeature(row: bad)
            }
        }
    }
}

/// Rows with a single non-zero feature each: row `i` has value `values[i]` (1 when `values` is nil) in column
/// `regions[i]` and zeros elsewhere.
///
/// This is the ℓ₀ = 1 region readout (`binary`, or `topk` with k = 1 when values are kept) without materialising a
/// `rows × width` matrix; a probe on it costs O(rows + width) per solver iteration.
public struct OneHotRows: Sendable, Equatable {
    /// The active column of each row.
    public let regions: [Int]
    /// The value in the active column of each row; nil means 1 for every row.
    public let values: [Float]?
    /// The number of columns (regions in the dictionary).
    public let width: Int

    /// Checks that every region is in `0..<width` and that `values`, when given, has one entry per row.
    public init(regions: [Int], width: Int, values: [Float]? = nil) throws {
        guard width > 0 else { throw LogisticRegressionError.invalidOption("one-hot width must be positive, got \(width)") }
        if let bad = regions.firstIndex(where: { $0 < 0 || $0 >= width }) {
            throw LogisticRegressionError.regionOutOfRange(row: bad, region: regions[bad], width: width)
        }
        if let values, values.count != regions.count {
            throw LogisticRegressionError.invalidOption("one-hot rows: \(values.count) values for \(regions.count) rows")
        }
        self.regions = regions
        self.values = values
        self.width = width
    }

    /// The value of row `i`'s active column.
    @inline(__always)
    func value(_ i: Int) -> Double { values.map { Double($0[i]) } ?? 1 }
}

/// Per-feature standardisation fitted on training rows, as scikit-learn's `StandardScaler` does it: mean and
/// population standard deviation (`ddof = 0`), with a scale of 1 for features that are constant.
public struct Standardization: Sendable, Equatable {
    /// Mean of each feature over the training rows.
    public let mean: [Double]
    /// Standard deviation of each feature over the training rows (1 where the feature is constant).
    public let scale: [Double]

    /// Fits the statistics on `features`, accumulating in `Double` (two passes, for accuracy).
    public init(fitting features: ProbeFeatures) {
        let n = Double(features.rowCount)
        let d = features.featureCount
        var sum = [Double](repeating: 0, count: d)
        var squares = [Double](repeating: 0, count: d)
        switch features {
        case let .dense(matrix):
            matrix.storage.withUnsafeBufferPointer { x in
                for i in 0..<matrix.rows {
                    let row = x.baseAddress! + i * d
                    for j in 0..<d { sum[j] += Double(row[j]) }
                }
                let mean = sum.map { $0 / n }
                for i in 0..<matrix.rows {
                    let row = x.baseAddress! + i * d
                    for j in 0..<d {
                        let centred = Double(row[j]) - mean[j]
                        squares[j] += centred * centred
                    }
                }
            }
        case let .oneHot(rows):
            var counts = [Int](repeating: 0, count: d)
            for (i, k) in rows.regions.enumerated() {
                sum[k] += rows.value(i)
                counts[k] += 1
            }
            for (i, k) in rows.regions.enumerated() {
                let centred = rows.value(i) - sum[k] / n
                squares[k] += centred * centred
            }
            // The rows where the column is zero each contribute mean².
            for k in 0..<d {
                let mean = sum[k] / n
                squares[k] += Double(rows.regions.count - counts[k]) * mean * mean
            }
        }
        let mean = sum.map { $0 / n }
        self.mean = mean
        self.scale = (0..<d).map { j in
            let variance = squares[j] / n
            // scikit-learn's `_is_constant_feature`: a variance within rounding of zero leaves the feature unscaled.
            let eps = Double.ulpOfOne
            let bound = n * eps * variance + (n * mean[j] * eps) * (n * mean[j] * eps)
            return variance <= bound ? 1 : variance.squareRoot()
        }
    }
}
