import EPTensors

/// How the threshold's within-batch percentile is read from the sorted pairwise distances (docs/method.md).
public enum PercentileMethod: String, Sendable, CaseIterable {
    /// NumPy's default `linear` method: position `h = (M − 1)·p/100`, interpolated between its neighbours.
    case linear
    /// Nearest rank: the `k`-th smallest with `k = clamp(round(p/100·(M − 1)) + 1, 1, M)` (banker's rounding), as
    /// the reference's GPU path does above 16 million pairs.
    case nearestRank = "nearest-rank"
}

/// A percentile as the paper writes it, and as dictionaries built at several percentiles are named: `p1`, `p2.5`.
public func percentileLabel(_ p: Double) -> String {
    p == p.rounded() ? "p\(Int(p))" : "p\(p)"
}

/// Settings of a calibration (docs/method.md).
public struct CalibrationSettings: Sendable, Equatable {
    /// The percentile p, strictly between 0 and 100, of the within-batch pairwise cosine distances.
    public var percentile: Double
    /// Stop after the batch that brings the number of rows seen to at least this many.
    public var calibrationTokens: Int
    /// Rows per calibration batch (the caller cuts the stream; recorded for provenance).
    public var batchSize: Int
    /// How each batch's percentile is read.
    public var method: PercentileMethod

    public init(percentile: Double, calibrationTokens: Int = 200_000, batchSize: Int = 16_384, method: PercentileMethod = .linear) {
        self.percentile = percentile
        self.calibrationTokens = calibrationTokens
        self.batchSize = batchSize
        self.method = method
    }

    /// Throws an ``EPError`` naming the first setting out of range.
    public func validate() throws {
        guard percentile > 0, percentile < 100 else { throw EPError.percentileOutOfRange(percentile) }
        guard calibrationTokens > 0 else {
            throw EPError.invalidSetting(name: "calibration tokens", value: String(calibrationTokens), expected: "a positive number of rows")
        }
        guard batchSize > 0 else {
            throw EPError.invalidSetting(name: "calibration batch size", value: String(batchSize), expected: "a positive number of rows")
        }
    }
}

/// The result of a calibration: the center `c` and the cosine-distance threshold θ (docs/method.md), with how they were
/// obtained.
public struct Calibration: Sendable, Equatable {
    /// The center, length D.
    public var center: [Float]
    /// The threshold θ, a cosine distance in (0, 2).
    public var threshold: Double
    /// The percentile θ was calibrated at; `nil` when θ was given directly.
    public var percentile: Double?
    /// How the percentile was read; `nil` when θ was given directly.
    public var method: PercentileMethod?
    /// Rows used (the last batch may overshoot the requested count).
    public var activationCount: Int
    /// Calibration batches used.
    public var batchCount: Int
    /// Rows per calibration batch.
    public var batchSize: Int
    /// Each qualifying batch's percentile `q_b`; θ is their mean.
    public var batchThresholds: [Double]

    public init(
        center: [Float], threshold: Double, percentile: Double?, method: PercentileMethod?, activationCount: Int,
        batchCount: Int, batchSize: Int, batchThresholds: [Double]
    ) {
        self.center = center
        self.threshold = threshold
        self.percentile = percentile
        self.method = method
        self.activationCount = activationCount
        self.batchCount = batchCount
        self.batchSize = batchSize
        self.batchThresholds = batchThresholds
    }

    /// A calibration given directly as a center and a threshold (no data behind it). Checks both.
    public static func given(center: [Float], threshold: Double) throws -> Calibration {
        try validate(center: center, threshold: threshold)
        return Calibration(
            center: center, threshold: threshold, percentile: nil, method: nil, activationCount: 0, batchCount: 0,
            batchSize: 0, batchThresholds: [])
    }

    /// ‖center‖₂.
    public var centerNorm: Double { Self.norm(center) }

    /// The Euclidean norm of a vector, accumulated in `Double`.
    public static func norm(_ v: [Float]) -> Double { v.reduce(0) { $0 + Double($1) * Double($1) }.squareRoot() }

    /// Checks that a center is non-empty and finite and that θ is a valid threshold (``isValidThreshold(_:)``).
    public static func validate(center: [Float], threshold: Double) throws {
        guard !center.isEmpty else { throw EPError.invalidCenter("it is empty") }
        if let bad = center.firstIndex(where: { !$0.isFinite }) { throw EPError.invalidCenter("element \(bad) is \(center[bad])") }
        guard isValidThreshold(threshold) else { throw EPError.invalidThreshold(threshold) }
    }

    /// Whether θ is a usable cosine-distance threshold: finite and strictly between 0 and 2. Distances are
    /// clamped to [0, 2], so θ ≥ 2 would put every row in the first region, and θ ≤ 0 would found a region per row.
    public static func isValidThreshold(_ threshold: Double) -> Bool { threshold.isFinite && threshold > 0 && threshold < 2 }

    /// The smallest distance ‖x − c‖ a calibration row may have from the center. Directions are formed as
    /// `(x − c) / (‖x − c‖ + 1e-12)` (docs/method.md), so a row closer than 1e-8 gets a direction shorter than 1 − 1e-4
    /// (the unit-norm tolerance a loaded dictionary is held to): all-zero rows about a zero center, denormal rows,
    /// and rows equal to the center have no direction, and their distance of 1 to every other row is an artefact.
    public static let directionFloor = 1e-8

    /// Calibrates from batches held in memory (both passes, docs/method.md, over the same batches).
    public static func calibrate<S: Sequence>(batches: S, settings: CalibrationSettings) throws -> Calibration where S.Element == Matrix {
        try settings.validate()
        var estimator: CenterEstimator?
        var kept: [Matrix] = []
        for batch in batches {
            if estimator == nil { estimator = CenterEstimator(width: batch.columns, settings: settings) }
            try estimator!.add(batch)
            kept.append(batch)
            if estimator!.isComplete { break }
        }
        guard let estimator else { throw EPError.noActivations }
        var threshold = try ThresholdEstimator(center: try estimator.center(), settings: settings)
        for batch in kept { try threshold.add(batch) }
        return try threshold.finish(batchRowCounts: estimator.batchRowCounts)
    }
}

/// Pass 1 of calibration: the direction-first center (docs/method.md). Feed consecutive batches until ``isComplete``.
///
/// Sums of rows and of unit rows are taken in `Float` within a batch (row after row, as NumPy's `sum(axis=0)`
/// does) and accumulated across batches in `Double`.
public struct CenterEstimator: Sendable {
    /// Row width D.
    public let width: Int
    /// The settings it was created with.
    public let settings: CalibrationSettings
    /// Rows of every batch added so far, in order (pass 2 must see the same batches).
    public private(set) var batchRowCounts: [Int] = []
    /// Rows seen so far.
    public private(set) var rowCount = 0
    private var sum: [Double]
    private var unitSum: [Double]
    private var batchSum: [Float]
    private var batchUnitSum: [Float]
    private var unit: [Float]

    /// An estimator for rows of `width` values.
    public init(width: Int, settings: CalibrationSettings) {
        self.width = width
        self.settings = settings
        sum = [Double](repeating: 0, count: width)
        unitSum = sum
        batchSum = [Float](repeating: 0, count: width)
        batchUnitSum = batchSum
        unit = batchSum
    }

    /// True once the rows seen reach the requested calibration tokens.
    public var isComplete: Bool { rowCount >= settings.calibrationTokens }

    /// Adds one batch. Throws on a width mismatch or a non-finite value (the row is counted from the start of
    /// the calibration stream).
    public mutating func add(_ batch: Matrix) throws {
        guard batch.columns == width else { throw EPError.widthMismatch(expected: width, found: batch.columns) }
        let d = width
        try batch.storage.withUnsafeBufferPointer { x in
            guard let base = x.baseAddress, batch.rows > 0 else { return }
            if let bad = Directions.firstNonFiniteRow(base, rows: batch.rows, width: d) {
                throw EPError.nonFiniteValue(row: rowCount + bad)
            }
            batchSum.withUnsafeMutableBufferPointer { s in
                batchUnitSum.withUnsafeMutableBufferPointer { us in
                    unit.withUnsafeMutableBufferPointer { u in
                        s.update(repeating: 0)
                        us.update(repeating: 0)
                        for r in 0..<batch.rows {
                            let row = base + r * d
                            Kernels.add(row, into: s.baseAddress!, count: d)
                            let norm = Kernels.sumOfSquares(row, count: d).squareRoot()
                            Kernels.divide(row, by: norm + 1e-12, into: u.baseAddress!, count: d)
                            Kernels.add(u.baseAddress!, into: us.baseAddress!, count: d)
                        }
                    }
                }
            }
        }
        for j in 0..<d {
            sum[j] += Double(batchSum[j])
            unitSum[j] += Double(batchUnitSum[j])
        }
        rowCount += batch.rows
        batchRowCounts.append(batch.rows)
    }

    /// The center `c = (μ·d)·d`, with `d` the normalised mean unit row and `μ` the mean row.
    public func center() throws -> [Float] {
        guard rowCount > 0 else { throw EPError.noActivations }
        let total = Double(rowCount)
        let direction = unitSum.map { $0 / total }
        let norm = direction.reduce(0) { $0 + $1 * $1 }.squareRoot()
        let d = direction.map { $0 / (norm + 1e-12) }
        var projection = 0.0
        for j in 0..<width { projection += (sum[j] / total) * d[j] }
        return d.map { Float(projection * $0) }
    }
}

/// Pass 2 of calibration: θ = the unweighted mean over batches (of at least 2 rows) of the within-batch p-th
/// percentile of pairwise cosine distances between centered unit rows (docs/method.md). Several percentiles can be
/// read from the same distances (one GEMM per batch for all of them): each gives the θ a calibration at that
/// percentile alone would give.
///
/// Each batch's `n(n−1)/2` distances are materialised as `Float` (537 MB at n = 16,384, plus a 1024-row strip of
/// similarities, 67 MB) from similarities computed by BLAS in row strips; the percentile's one or two order statistics are then found
/// by ``Selection`` in O(M), never by sorting.
public struct ThresholdEstimator {
    /// The center the rows are measured from.
    public let center: [Float]
    /// The settings it was created with.
    public let settings: CalibrationSettings
    /// The percentiles read from every batch: `settings.percentile` first, then any others asked for.
    public let percentiles: [Double]
    /// For each of ``percentiles``, each qualifying batch's percentile, in order.
    public private(set) var batchThresholds: [[Double]]
    /// Rows of every batch added so far.
    public private(set) var batchRowCounts: [Int] = []
    private var largestBatch = 0
    private var units: [Float] = []
    private var distances: [Float] = []
    private var strip: [Float] = []

    /// Rows per strip of the similarity computation.
    static let stripRows = 1024

    /// An estimator measuring from `center`, reading `settings.percentile` and each of `additionalPercentiles`.
    /// Checks the settings, the percentiles and the center.
    public init(center: [Float], settings: CalibrationSettings, additionalPercentiles: [Double] = []) throws {
        try settings.validate()
        for p in additionalPercentiles where !(p > 0 && p < 100) { throw EPError.percentileOutOfRange(p) }
        guard !center.isEmpty else { throw EPError.invalidCenter("it is empty") }
        if let bad = center.firstIndex(where: { !$0.isFinite }) { throw EPError.invalidCenter("element \(bad) is \(center[bad])") }
        self.center = center
        self.settings = settings
        percentiles = [settings.percentile] + additionalPercentiles
        batchThresholds = percentiles.map { _ in [] }
    }

    /// Adds one batch (the same batches, in the same order, as pass 1).
    public mutating func add(_ batch: Matrix) throws {
        let d = center.count
        guard batch.columns == d else { throw EPError.widthMismatch(expected: d, found: batch.columns) }
        let n = batch.rows
        batchRowCounts.append(n)
        largestBatch = max(largestBatch, n)
        guard n >= 2 else { return }
        if units.count < n * d { units = [Float](repeating: 0, count: n * d) }
        let pairs = n * (n - 1) / 2
        if distances.count < pairs { distances = [Float](repeating: 0, count: pairs) }
        let stripRows = min(Self.stripRows, n)
        if strip.count < stripRows * n { strip = [Float](repeating: 0, count: stripRows * n) }
        let bad = batch.storage.withUnsafeBufferPointer { x in
            center.withUnsafeBufferPointer { c in
                units.withUnsafeMutableBufferPointer { u in
                    Directions.centeredUnit(x.baseAddress!, rows: n, width: d, center: c.baseAddress!, into: u.baseAddress!)
                }
            }
        }
        if let bad {
            throw batch.storage.withUnsafeBufferPointer { x in
                center.withUnsafeBufferPointer { c in
                    Directions.problem(row: bad, of: x.baseAddress!, width: d, center: c.baseAddress!, reportedAs: batchRowCounts.dropLast().reduce(0, +) + bad)
                }
            }
        }
        units.withUnsafeBufferPointer { u in
            strip.withUnsafeMutableBufferPointer { s in
                distances.withUnsafeMutableBufferPointer { out in
                    PairwiseDistances.condensed(
                        units: u.baseAddress!, rows: n, width: d, strip: s.baseAddress!, stripRows: stripRows,
                        into: out.baseAddress!)
                }
            }
        }
        // Selection reorders the buffer, which leaves its multiset, and so every later percentile, unchanged.
        for (i, p) in percentiles.enumerated() {
            let q = distances.withUnsafeMutableBufferPointer {
                Percentile.of($0.baseAddress!, count: pairs, percentile: p, method: settings.method)
            }
            batchThresholds[i].append(q)
        }
    }

    /// θ and the calibration record at `settings.percentile`. `batchRowCounts` are pass 1's batches, which pass 2
    /// must have repeated.
    public func finish(batchRowCounts expected: [Int]) throws -> Calibration {
        try finishAll(batchRowCounts: expected)[0]
    }

    /// The calibrations at every one of ``percentiles``, in that order (same center, same batches).
    public func finishAll(batchRowCounts expected: [Int]) throws -> [Calibration] {
        guard !batchRowCounts.isEmpty else { throw EPError.noActivations }
        guard expected == batchRowCounts else {
            throw EPError.invalidSetting(
                name: "calibration batches", value: "\(batchRowCounts.count) batches in pass 2",
                expected: "the \(expected.count) batches of pass 1 with the same row counts")
        }
        guard !batchThresholds[0].isEmpty else { throw EPError.calibrationBatchesTooSmall(largest: largestBatch) }
        return try zip(percentiles, batchThresholds).map { p, thresholds in
            let theta = thresholds.reduce(0, +) / Double(thresholds.count)
            guard Calibration.isValidThreshold(theta) else { throw EPError.invalidThreshold(theta) }
            return Calibration(
                center: center, threshold: theta, percentile: p, method: settings.method,
                activationCount: batchRowCounts.reduce(0, +), batchCount: batchRowCounts.count, batchSize: settings.batchSize,
                batchThresholds: thresholds)
        }
    }
}

/// Pairwise cosine distances between unit rows.
enum PairwiseDistances {
    /// Writes `1 − u_i·u_j` for all `i < j` in condensed order ((0,1), (0,2), …, (1,2), …) into `out`
    /// (`n(n−1)/2` values). Similarities come from BLAS in strips of `stripRows` rows against the rows from the
    /// strip's first row on (so only the upper triangle is computed); `strip` holds `stripRows·n` floats.
    static func condensed(
        units u: UnsafePointer<Float>, rows n: Int, width d: Int, strip: UnsafeMutablePointer<Float>, stripRows: Int,
        into out: UnsafeMutablePointer<Float>
    ) {
        var offset = 0
        var first = 0
        while first < n - 1 {
            let last = min(n, first + stripRows)
            let columns = n - first
            // The strip's own triangle by SYRK (upper part only), the rest of its rows by GEMM.
            BLAS.syrkUpper(n: last - first, k: d, a: u + first * d, lda: d, c: strip, ldc: columns)
            if last < n {
                BLAS.gemm(
                    .asStored, .transposed, m: last - first, n: n - last, k: d, a: u + first * d, lda: d, b: u + last * d,
                    ldb: d, c: strip + (last - first), ldc: columns)
            }
            for i in first..<last {
                let count = n - 1 - i
                if count > 0 {
                    Kernels.oneMinus(strip + (i - first) * columns + (i - first) + 1, into: out + offset, count: count)
                    offset += count
                }
            }
            first = last
        }
    }
}

/// Percentiles of a buffer of distances by selection.
public enum Percentile {
    /// NumPy's linear-interpolation quantile of already sorted values, `fraction` in [0, 1] (NaN when empty).
    public static func ofSorted(_ sorted: [Double], fraction q: Double) -> Double {
        guard !sorted.isEmpty else { return .nan }
        let h = Double(sorted.count - 1) * q
        let lo = Int(h.rounded(.down)), hi = min(lo + 1, sorted.count - 1)
        return sorted[lo] + (sorted[hi] - sorted[lo]) * (h - Double(lo))
    }

    /// The `percentile`-th percentile (0–100) of `values[0..<count]` by `method`, reordering the buffer.
    /// `linear` reproduces NumPy's `np.percentile` (including its interpolation formula), in `Double`.
    public static func of(_ values: UnsafeMutablePointer<Float>, count m: Int, percentile p: Double, method: PercentileMethod) -> Double {
        precondition(m > 0 && p >= 0 && p <= 100, "Percentile.of: \(m) values, percentile \(p)")
        let q = p / 100
        switch method {
        case .nearestRank:
            let k = min(max(Int((q * Double(m - 1)).rounded(.toNearestOrEven)) + 1, 1), m)
            return Double(Selection.orderStatistics(values, count: m, k: k - 1).0)
        case .linear:
            let virtual = Double(m - 1) * q
            if virtual >= Double(m - 1) { return Double(Selection.orderStatistics(values, count: m, k: m - 1).0) }
            let previous = Int(virtual.rounded(.down))
            let (low, high) = Selection.orderStatistics(values, count: m, k: previous)
            let a = Double(low), b = Double(high!)
            let gamma = virtual - Double(previous)
            // NumPy's _lerp: a + (b − a)·t, or b − (b − a)·(1 − t) when t ≥ 0.5.
            let difference = b - a
            return gamma >= 0.5 ? b - difference * (1 - gamma) : a + difference * gamma
        }
    }
}
