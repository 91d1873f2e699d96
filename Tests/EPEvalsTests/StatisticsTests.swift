import EPTensors
import Foundation
import Testing
@testable import EPEvals

/// Deterministic pseudo-random test data.
struct TestData {
    var generator: SeededGenerator

    init(seed: UInt64) { generator = SeededGenerator(seed: seed) }

    mutating func uniform() -> Double { Double(generator.next() >> 11) / Double(1 << 53) }

    /// A standard normal draw (Box–Muller).
    mutating func normal() -> Double {
        let u = max(uniform(), 1e-300), v = uniform()
        return (-2 * log(u)).squareRoot() * cos(2 * Double.pi * v)
    }
}

@Suite struct AUROCTests {
    @Test func tiesCountHalf() throws {
        // One positive tied with one negative, everything else separated: AUC = (3 + 0.5) / 4.
        #expect(try AUROC.score(scores: [0.1, 0.5, 0.5, 0.9], labels: [false, false, true, true]) == 0.875)
        #expect(try AUROC.score(scores: [Float](repeating: 2, count: 6), labels: [true, false, true, false, false, true]) == 0.5)
    }

    @Test func rejectsBadInput() {
        #expect(throws: AUROCError.singleClass(positives: 3, negatives: 0)) {
            try AUROC.score(scores: [1.0, 2, 3], labels: [true, true, true])
        }
        #expect(throws: AUROCError.nonFiniteScore(index: 1)) {
            try AUROC.score(scores: [1.0, .nan, 3], labels: [true, false, true])
        }
        #expect(throws: AUROCError.nonFiniteScore(index: 2)) {
            try AUROC.score(scores: [Float(1), 2, .infinity], labels: [true, false, true])
        }
        #expect(throws: AUROCError.countMismatch(scores: 2, labels: 3)) {
            try AUROC.score(scores: [1.0, 2], labels: [true, false, true])
        }
        #expect(throws: AUROCError.noConcepts) { try AUROC.mean(of: []) }
    }

    @Test func perConceptMean() throws {
        let a = try ConceptAUROC(concept: "a", scores: [0.0, 1, 2, 3], labels: [false, false, true, true])
        let b = try ConceptAUROC(concept: "b", scores: [0.0, 1, 2, 3], labels: [true, false, true, false])
        #expect(a.auroc == 1 && a.positives == 2 && a.negatives == 2)
        #expect(b.auroc == 0.25)  // positive ranks 1 and 3: (4 − 3) / 4
        #expect(try AUROC.mean(of: [a, b]) == 0.625)
        #expect(throws: AUROCError.inConcept("c", .singleClass(positives: 0, negatives: 2))) {
            try ConceptAUROC(concept: "c", scores: [1.0, 2], labels: [false, false])
        }
        let error = AUROCError.inConcept("c", .singleClass(positives: 0, negatives: 2))
        #expect(error.description == "concept c: AUROC: needs both classes, got 0 positives and 2 negatives")
    }
}

@Suite struct LogisticRegressionTests {
    /// Two shifted Gaussian classes, with features offset by up to 50 like residual-stream activations.
    static func problem(rows: Int, features: Int, seed: UInt64) -> (Matrix, [Bool]) {
        var data = TestData(seed: seed)
        var matrix = Matrix(rows: rows, columns: features)
        var labels: [Bool] = []
        for i in 0..<rows {
            let positive = data.uniform() < 0.4
            labels.append(positive)
            for j in 0..<features {
                let shift = positive ? 0.3 * Double(j % 5) / 4 : 0
                matrix[i, j] = Float(data.normal() + shift + Double(j % 7) * 8 - 20)
            }
        }
        return (matrix, labels)
    }

    @Test func rejectsBadInput() throws {
        let (x, y) = Self.problem(rows: 20, features: 3, seed: 1)
        #expect(throws: LogisticRegressionError.countMismatch(rows: 20, labels: 19)) {
            try LogisticRegression.fit(.dense(x), labels: Array(y.dropLast()))
        }
        #expect(throws: LogisticRegressionError.singleClass(positives: 0, negatives: 20)) {
            try LogisticRegression.fit(.dense(x), labels: [Bool](repeating: false, count: 20))
        }
        var bad = x
        bad[7, 1] = .nan
        #expect(throws: LogisticRegressionError.nonFiniteFeature(row: 7)) { try LogisticRegression.fit(.dense(bad), labels: y) }
        #expect(throws: LogisticRegressionError.self) {
            try LogisticRegression.fit(.dense(x), labels: y, options: .init(inverseRegularization: 0))
        }
        #expect(throws: LogisticRegressionError.regionOutOfRange(row: 1, region: 4, width: 4)) {
            try OneHotRows(regions: [0, 4], width: 4)
        }
        let model = try LogisticRegression.fit(.dense(x), labels: y)
        #expect(throws: LogisticRegressionError.widthMismatch(expected: 3, found: 2)) {
            try model.decisionFunction(.dense(Matrix(rows: 1, columns: 2)))
        }
        #expect(throws: LogisticRegressionError.tooFewClasses(found: 1)) {
            try OneVsRestLogisticRegression.fit(.dense(x), labels: [Int](repeating: 3, count: 20))
        }
    }

    @Test func reportsNonConvergence() throws {
        let (x, y) = Self.problem(rows: 200, features: 6, seed: 2)
        let stopped = try LogisticRegression.fit(.dense(x), labels: y, options: .init(maxIterations: 1))
        #expect(!stopped.convergence.converged)
        #expect(stopped.convergence.iterations == 1)
        #expect(stopped.convergence.gradientNorm > 1e-8)
        let full = try LogisticRegression.fit(.dense(x), labels: y)
        #expect(full.convergence.converged)
        #expect(full.convergence.gradientNorm <= 1e-8)
        #expect(full.convergence.objective < stopped.convergence.objective)
    }

    /// The one-hot path (Schur complement, O(n + K)) and the dense path (BLAS Hessian over several row blocks) fit
    /// the same problem to the same optimum.
    @Test(arguments: [false, true])
    func oneHotEqualsDenseOneHot(standardize: Bool) throws {
        let width = 40, rows = 30_000
        var data = TestData(seed: 3)
        var regions: [Int] = [], values: [Float] = [], labels: [Bool] = []
        for _ in 0..<rows {
            let region = Int(data.uniform() * Double(width - 1))  // the last region stays empty
            regions.append(region)
            values.append(Float(0.5 + data.uniform() * 2))
            labels.append(data.uniform() < Double(region % 9 + 1) / 10)
        }
        var dense = Matrix(rows: rows, columns: width)
        for i in 0..<rows { dense[i, regions[i]] = values[i] }
        let options = LogisticRegression.Options(tolerance: 1e-10, standardize: standardize)
        let sparse = try LogisticRegression.fit(.oneHot(OneHotRows(regions: regions, width: width, values: values)), labels: labels, options: options)
        let full = try LogisticRegression.fit(.dense(dense), labels: labels, options: options)
        #expect(sparse.convergence.converged && full.convergence.converged)
        #expect(maxRelativeDifference(sparse.coefficients + [sparse.intercept], full.coefficients + [full.intercept]) <= 1e-7)
        #expect(sparse.coefficients[width - 1] == 0)
        let sparseScores = try sparse.decisionFunction(.oneHot(OneHotRows(regions: regions, width: width, values: values)))
        #expect(maxRelativeDifference(sparseScores, try full.decisionFunction(.dense(dense))) <= 1e-7)
    }

    @Test func rawWeightsReproduceStandardisedScores() throws {
        let (x, y) = Self.problem(rows: 300, features: 5, seed: 4)
        let model = try LogisticRegression.fit(.dense(x), labels: y, options: .init(standardize: true))
        let (weights, intercept) = model.rawWeights
        let scores = try model.decisionFunction(.dense(x))
        for i in 0..<x.rows {
            let direct = (0..<x.columns).reduce(intercept) { $0 + Double(x[i, $1]) * weights[$1] }
            #expect(abs(direct - scores[i]) <= 1e-9 * max(1, abs(direct)))
        }
    }
}

@Suite struct DiffMeanTests {
    @Test func unitDifferenceOfMeans() throws {
        let x = Matrix(rowArrays: [[1, 2], [3, 2], [0, 0], [0, 4]])
        let diff = try DiffMean(features: x, labels: [true, true, false, false])
        // Means (2, 2) and (0, 2): direction (1, 0), length 2.
        #expect(diff.direction == [1, 0])
        #expect(diff.norm == 2)
        #expect(try diff.scores(x) == [1, 3, 0, 0])
        #expect(throws: DiffMeanError.singleClass(positives: 0, negatives: 4)) {
            try DiffMean(features: x, labels: [false, false, false, false])
        }
        #expect(throws: DiffMeanError.degenerate(norm: 0)) {
            try DiffMean(features: Matrix(rowArrays: [[1, 1], [1, 1]]), labels: [true, false])
        }
        #expect(throws: DiffMeanError.widthMismatch(expected: 2, found: 3)) { try diff.scores(Matrix(rows: 1, columns: 3)) }
    }
}

@Suite struct StratifiedSplitTests {
    @Test func deterministicAndStratified() throws {
        let labels = (0..<103).map { $0 % 10 == 0 ? "rare" : ($0 % 3 == 0 ? "b" : "a") } + ["single"]
        let split = try StratifiedSplit(labels: labels, testFraction: 0.25, seed: 7)
        #expect(split == (try StratifiedSplit(labels: labels, testFraction: 0.25, seed: 7)))
        #expect(split != (try StratifiedSplit(labels: labels, testFraction: 0.25, seed: 8)))
        #expect(Set(split.train).isDisjoint(with: split.test))
        #expect((split.train + split.test).sorted() == Array(labels.indices))
        for label in Set(labels) where label != "single" {
            let size = labels.filter { $0 == label }.count
            let inTest = split.test.filter { labels[$0] == label }.count
            #expect(inTest == Int((0.25 * Double(size)).rounded()), "\(label)")
        }
        #expect(split.train.contains(labels.count - 1))  // a class of one stays in training
        #expect(throws: StratifiedSplitError.invalidFraction(1)) { try StratifiedSplit(labels: labels, testFraction: 1, seed: 0) }
    }
}
