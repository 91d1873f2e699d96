import EPTensors
import Foundation

/// A binary L2-regularised logistic-regression probe with the semantics of scikit-learn's
/// `LogisticRegression(penalty='l2', C=C, fit_intercept=True)`: it minimises `C·Σ_i log-loss_i + ½‖w‖²` with the
/// intercept not penalised, starting from zero.
///
/// The optimum is found with Newton's method (``fit(_:labels:options:)``), which reaches the tolerance in a few
/// iterations and so can afford a much tighter gradient check than scikit-learn's lbfgs default (`tol = 1e-4`):
/// the fitted model is the optimum scikit-learn approaches, not one particular early-stopped iterate.
///
/// Features are used as given unless ``Options/standardize`` is set. SAEBench's sparse-probing probes
/// (`train_sklearn_probe`) do not standardise, so the default matches them; with standardisation the model equals
/// scikit-learn's `make_pipeline(StandardScaler(), LogisticRegression(...))`, and ``coefficients`` are then in the
/// standardised space as that pipeline's `coef_` are.
public struct LogisticRegression: Sendable {
    /// Hyper-parameters and stopping rule.
    public struct Options: Sendable, Equatable {
        /// scikit-learn's `C`: the inverse of the regularisation strength (larger is weaker). Positive.
        public var inverseRegularization: Double
        /// Stop when the largest absolute gradient component of the mean-loss objective `F / (C·n)` is at most this.
        public var tolerance: Double
        /// The most Newton iterations before giving up (``Convergence/converged`` is then false).
        public var maxIterations: Int
        /// Standardise each feature by its training mean and standard deviation before fitting.
        public var standardize: Bool

        /// Options with scikit-learn's `C = 1`, a gradient tolerance of 1e-8, at most 100 iterations and no
        /// standardisation.
        public init(inverseRegularization: Double = 1, tolerance: Double = 1e-8, maxIterations: Int = 100, standardize: Bool = false) {
            self.inverseRegularization = inverseRegularization
            self.tolerance = tolerance
            self.maxIterations = maxIterations
            self.standardize = standardize
        }
    }

    /// How the solver stopped.
    public struct Convergence: Sendable, Equatable {
        /// Whether the gradient check passed.
        public let converged: Bool
        /// Newton iterations taken.
        public let iterations: Int
        /// The largest absolute gradient component of `F / (C·n)` at the returned point.
        public let gradientNorm: Double
        /// The objective `F = C·Σ log-loss + ½‖w‖²` at the returned point.
        public let objective: Double
    }

    /// One weight per feature (in the standardised space when ``standardization`` is set), like `coef_`.
    public let coefficients: [Double]
    /// The intercept, like `intercept_`.
    public let intercept: Double
    /// The training-set standardisation applied before the linear map, when ``Options/standardize`` was set.
    public let standardization: Standardization?
    /// How the solver stopped; check ``Convergence/converged``.
    public let convergence: Convergence

    /// Fits the probe on `features` with `labels` (`true` = the positive class).
    ///
    /// Throws ``LogisticRegressionError`` for mismatched sizes, a single class, non-finite features or invalid
    /// options. Not converging is not an error: it is reported in ``convergence``.
    ///
    /// Cost per Newton iteration: O(n·d²) for dense rows (a BLAS rank-k update forms the Hessian, which is then
    /// factorised in O(d³)), so it suits d up to a few thousand; O(n + K) for one-hot rows.
    public static func fit(_ features: ProbeFeatures, labels: [Bool], options: Options = Options()) throws -> LogisticRegression {
        let c = options.inverseRegularization
        guard c > 0, c.isFinite else { throw LogisticRegressionError.invalidOption("C must be positive and finite, got \(c)") }
        guard options.tolerance > 0 else { throw LogisticRegressionError.invalidOption("tolerance must be positive") }
        guard options.maxIterations >= 0 else { throw LogisticRegressionError.invalidOption("maxIterations must not be negative") }
        guard features.rowCount == labels.count else {
            throw LogisticRegressionError.countMismatch(rows: features.rowCount, labels: labels.count)
        }
        let positives = labels.reduce(0) { $0 + ($1 ? 1 : 0) }
        guard positives > 0, positives < labels.count else {
            throw LogisticRegressionError.singleClass(positives: positives, negatives: labels.count - positives)
        }
        try features.checkFinite()

        let d = features.featureCount
        let statistics: Standardization? = {
            if case .oneHot = features, !options.standardize { return nil }
            return Standardization(fitting: features)
        }()
        let multipliers = options.standardize ? statistics!.scale.map { 1 / $0 } : [Double](repeating: 1, count: d)
        let solution: NewtonSolver.Solution
        let internalCenter: [Double]
        switch features {
        case let .dense(matrix):
            internalCenter = statistics!.mean
            let design = DenseDesign(matrix: matrix, center: internalCenter, scale: multipliers)
            solution = NewtonSolver.solve(design, labels: labels, c: c, tolerance: options.tolerance, maxIterations: options.maxIterations)
        case let .oneHot(rows):
            internalCenter = [Double](repeating: 0, count: d)
            let design = OneHotDesign(rows: rows, scale: multipliers)
            solution = NewtonSolver.solve(design, labels: labels, c: c, tolerance: options.tolerance, maxIterations: options.maxIterations)
        }
        // The solver's intercept goes with its own centring; re-express it for the reported centring (the
        // training mean when standardising, none otherwise).
        let reportedCenter = options.standardize ? statistics!.mean : [Double](repeating: 0, count: d)
        var intercept = solution.intercept
        for j in 0..<d { intercept -= (internalCenter[j] - reportedCenter[j]) * multipliers[j] * solution.weights[j] }
        return LogisticRegression(
            coefficients: solution.weights, intercept: intercept,
            standardization: options.standardize ? statistics : nil, convergence: solution.convergence)
    }

    /// The weights and intercept that apply to unstandardised features: `z = x·weights + intercept`. Equal to
    /// ``coefficients`` and ``intercept`` when no standardisation was fitted.
    public var rawWeights: (weights: [Double], intercept: Double) {
        guard let standardization else { return (coefficients, intercept) }
        let weights = coefficients.indices.map { coefficients[$0] / standardization.scale[$0] }
        var offset = intercept
        for j in weights.indices { offset -= standardization.mean[j] * weights[j] }
        return (weights, offset)
    }

    /// The linear score `z` of every row (scikit-learn's `decision_function`).
    public func decisionFunction(_ features: ProbeFeatures) throws -> [Double] {
        guard features.featureCount == coefficients.count else {
            throw LogisticRegressionError.widthMismatch(expected: coefficients.count, found: features.featureCount)
        }
        let (weights, offset) = rawWeights
        switch features {
        case let .dense(matrix):
            let d = matrix.columns
            return matrix.storage.withUnsafeBufferPointer { x in
                weights.withUnsafeBufferPointer { a in
                    (0..<matrix.rows).map { MixedKernels.dot(x.baseAddress! + $0 * d, a.baseAddress!, count: d) + offset }
                }
            }
        case let .oneHot(rows):
            return rows.regions.indices.map { rows.value($0) * weights[rows.regions[$0]] + offset }
        }
    }

    /// The probability of the positive class for every row (`predict_proba[:, 1]`).
    public func probabilities(_ features: ProbeFeatures) throws -> [Double] {
        try decisionFunction(features).map { NewtonSolver.probability($0).0 }
    }

    /// The predicted class of every row: positive when the score is above zero, as scikit-learn's `predict`.
    public func predictions(_ features: ProbeFeatures) throws -> [Bool] {
        try decisionFunction(features).map { $0 > 0 }
    }

    /// The share of rows whose prediction equals the label.
    public func accuracy(_ features: ProbeFeatures, labels: [Bool]) throws -> Double {
        guard features.rowCount == labels.count else {
            throw LogisticRegressionError.countMismatch(rows: features.rowCount, labels: labels.count)
        }
        guard !labels.isEmpty else { throw LogisticRegressionError.invalidOption("accuracy of zero rows") }
        let predicted = try predictions(features)
        return Double(zip(predicted, labels).reduce(0) { $0 + ($1.0 == $1.1 ? 1 : 0) }) / Double(labels.count)
    }
}

/// A multiclass probe made of one binary ``LogisticRegression`` per class (class against the rest), predicting
/// the class with the highest score: scikit-learn's `OneVsRestClassifier(LogisticRegression(...))`.
public struct OneVsRestLogisticRegression: Sendable {
    /// The class labels, ascending; `models[i]` separates `classes[i]` from the others.
    public let classes: [Int]
    /// One fitted binary probe per class.
    public let models: [LogisticRegression]

    /// Fits one probe per distinct label (at least two classes).
    public static func fit(_ features: ProbeFeatures, labels: [Int], options: LogisticRegression.Options = .init()) throws -> OneVsRestLogisticRegression {
        let classes = Array(Set(labels)).sorted()
        guard classes.count >= 2 else { throw LogisticRegressionError.tooFewClasses(found: classes.count) }
        let models = try classes.map { label in
            try LogisticRegression.fit(features, labels: labels.map { $0 == label }, options: options)
        }
        return OneVsRestLogisticRegression(classes: classes, models: models)
    }

    /// Per row, the score of each class (rows × classes).
    public func decisionFunction(_ features: ProbeFeatures) throws -> [[Double]] {
        let perClass = try models.map { try $0.decisionFunction(features) }
        return (0..<features.rowCount).map { i in perClass.map { $0[i] } }
    }

    /// The predicted class of every row. On equal scores the later class wins, as in scikit-learn.
    public func predictions(_ features: ProbeFeatures) throws -> [Int] {
        try decisionFunction(features).map { scores in
            var best = 0
            for k in scores.indices where scores[k] >= scores[best] { best = k }
            return classes[best]
        }
    }

    /// The share of rows whose prediction equals the label.
    public func accuracy(_ features: ProbeFeatures, labels: [Int]) throws -> Double {
        guard features.rowCount == labels.count else {
            throw LogisticRegressionError.countMismatch(rows: features.rowCount, labels: labels.count)
        }
        guard !labels.isEmpty else { throw LogisticRegressionError.invalidOption("accuracy of zero rows") }
        let predicted = try predictions(features)
        return Double(zip(predicted, labels).reduce(0) { $0 + ($1.0 == $1.1 ? 1 : 0) }) / Double(labels.count)
    }
}

/// Why a probe could not be fitted or applied.
public enum LogisticRegressionError: Error, Equatable, CustomStringConvertible {
    /// The number of feature rows differs from the number of labels.
    case countMismatch(rows: Int, labels: Int)
    /// All labels are one class.
    case singleClass(positives: Int, negatives: Int)
    /// A multiclass probe was given fewer than two distinct labels.
    case tooFewClasses(found: Int)
    /// A feature value in the given row is NaN or infinite.
    case nonFiniteFeature(row: Int)
    /// A one-hot row names a region outside `0..<width`.
    case regionOutOfRange(row: Int, region: Int, width: Int)
    /// Features to score have a different width from the training features.
    case widthMismatch(expected: Int, found: Int)
    /// An option or argument is out of range.
    case invalidOption(String)

    public var description: String {
        switch self {
        case let .countMismatch(rows, labels): return "probe: \(rows) feature rows but \(labels) labels"
        case let .singleClass(positives, negatives):
            return "probe: needs both classes, got \(positives) positives and \(negatives) negatives"
        case let .tooFewClasses(found): return "probe: needs at least two classes, got \(found)"
        case let .nonFiniteFeature(row): return "probe: row \(row) has a NaN or infinite feature"
        case let .regionOutOfRange(row, region, width): return "probe: row \(row) has region \(region), outside 0..<\(width)"
        case let .widthMismatch(expected, found): return "probe: trained on \(expected) features, given \(found)"
        case let .invalidOption(message): return "probe: \(message)"
        }
    }
}
