import EPTensors
import Foundation
import Testing
@testable import EPEvals

/// Goldens written by scripts/oracle/make_eval_goldens.py with scikit-learn.
enum Goldens {
    static func load<T: Decodable>(_ name: String, as type: T.Type) throws -> T {
        let url = try #require(Bundle.module.url(forResource: "Goldens/\(name)", withExtension: "json"))
        return try JSONDecoder().decode(T.self, from: Data(contentsOf: url))
    }

    struct AUROCFile: Decodable {
        struct Case: Decodable {
            let name: String
            let scores: [Double]
            let labels: [Bool]
            let auroc: Double
        }
        let cases: [Case]
    }

    struct LogisticFile: Decodable {
        let cases: [BinaryCase]
        let multiclass: [MulticlassCase]
    }

    struct Features: Decodable, Sendable {
        let rows: [[Double]]?
        let regions: [Int]?
        let values: [Double]?
        let width: Int?
        let labels: [Bool]

        func probeFeatures() throws -> ProbeFeatures {
            if let rows { return .dense(Matrix(rowArrays: rows.map { $0.map(Float.init) })) }
            return .oneHot(try OneHotRows(regions: regions!, width: width!, values: values?.map(Float.init)))
        }
    }

    struct BinaryCase: Decodable, Sendable, CustomTestStringConvertible {
        var testDescription: String { name }
        let name: String
        let C: Double
        let standardize: Bool
        let train: Features
        let test: Features
        let coef: [Double]
        let intercept: Double
        let decision_test: [Double]
        let proba_test: [Double]
        let accuracy_train: Double
        let accuracy_test: Double
        let scaler_mean: [Double]?
        let scaler_scale: [Double]?
    }

    struct MulticlassFeatures: Decodable {
        let rows: [[Double]]
        let labels: [Int]
        var probeFeatures: ProbeFeatures { .dense(Matrix(rowArrays: rows.map { $0.map(Float.init) })) }
    }

    struct MulticlassCase: Decodable {
        let name: String
        let C: Double
        let train: MulticlassFeatures
        let test: MulticlassFeatures
        let coef: [[Double]]
        let intercept: [Double]
        let predictions_test: [Int]
        let accuracy_test: Double
    }
}

/// The largest |a − b| / max(1, |b|) over two equally long arrays.
func maxRelativeDifference(_ a: [Double], _ b: [Double]) -> Double {
    precondition(a.count == b.count)
    return zip(a, b).reduce(0) { max($0, abs($1.0 - $1.1) / max(1, abs($1.1))) }
}

@Suite struct AUROCGoldenTests {
    @Test func matchesScikitLearnIncludingTies() throws {
        let file = try Goldens.load("auroc", as: Goldens.AUROCFile.self)
        #expect(file.cases.count >= 8)
        var worst = 0.0
        for c in file.cases {
            let value = try AUROC.score(scores: c.scores, labels: c.labels)
            worst = max(worst, abs(value - c.auroc))
            #expect(abs(value - c.auroc) <= 1e-12, "\(c.name): \(value) vs scikit-learn \(c.auroc)")
            // Float scores give the same value whenever the conversion keeps every score (and so every tie).
            let floats = c.scores.map(Float.init)
            if zip(floats, c.scores).allSatisfy({ Double($0) == $1 }) {
                #expect(abs(try AUROC.score(scores: floats, labels: c.labels) - c.auroc) <= 1e-12, "\(c.name) as Float")
            }
        }
        print("AUROC goldens: \(file.cases.count) cases, max |difference| from scikit-learn \(worst)")
    }
}

@Suite struct LogisticRegressionGoldenTests {
    @Test(arguments: try Goldens.load("logistic", as: Goldens.LogisticFile.self).cases)
    func matchesScikitLearnOptimum(_ c: Goldens.BinaryCase) throws {
        let options = LogisticRegression.Options(inverseRegularization: c.C, tolerance: 1e-10, standardize: c.standardize)
        let train = try c.train.probeFeatures(), test = try c.test.probeFeatures()
        let model = try LogisticRegression.fit(train, labels: c.train.labels, options: options)
        #expect(model.convergence.converged, "\(c.name): \(model.convergence)")

        let coefficientError = maxRelativeDifference(model.coefficients + [model.intercept], c.coef + [c.intercept])
        let decisionError = maxRelativeDifference(try model.decisionFunction(test), c.decision_test)
        let probabilityError = maxRelativeDifference(try model.probabilities(test), c.proba_test)
        let trainAccuracy = try model.accuracy(train, labels: c.train.labels)
        let testAccuracy = try model.accuracy(test, labels: c.test.labels)
        #expect(coefficientError <= 1e-6, "\(c.name): coefficients off by \(coefficientError)")
        #expect(decisionError <= 1e-6, "\(c.name): decision function off by \(decisionError)")
        #expect(probabilityError <= 1e-7, "\(c.name): probabilities off by \(probabilityError)")
        #expect(abs(trainAccuracy - c.accuracy_train) <= 1e-3, "\(c.name): train accuracy \(trainAccuracy) vs \(c.accuracy_train)")
        #expect(abs(testAccuracy - c.accuracy_test) <= 1e-3, "\(c.name): test accuracy \(testAccuracy) vs \(c.accuracy_test)")
        if let mean = c.scaler_mean, let scale = c.scaler_scale {
            let fitted = try #require(model.standardization)
            #expect(maxRelativeDifference(fitted.mean, mean) <= 1e-12)
            #expect(maxRelativeDifference(fitted.scale, scale) <= 1e-12)
        }
        print("\(c.name): \(model.convergence.iterations) Newton iterations, coefficients off by \(coefficientError), "
            + "probabilities by \(probabilityError), accuracy difference train \(abs(trainAccuracy - c.accuracy_train)) "
            + "test \(abs(testAccuracy - c.accuracy_test))")
    }

    @Test func oneVsRestMatchesScikitLearn() throws {
        let file = try Goldens.load("logistic", as: Goldens.LogisticFile.self)
        for c in file.multiclass {
            let options = LogisticRegression.Options(inverseRegularization: c.C, tolerance: 1e-10)
            let model = try OneVsRestLogisticRegression.fit(c.train.probeFeatures, labels: c.train.labels, options: options)
            #expect(model.classes == Array(0..<c.coef.count))
            for (k, binary) in model.models.enumerated() {
                #expect(binary.convergence.converged)
                #expect(maxRelativeDifference(binary.coefficients + [binary.intercept], c.coef[k] + [c.intercept[k]]) <= 1e-6)
            }
            #expect(try model.predictions(c.test.probeFeatures) == c.predictions_test)
            #expect(abs(try model.accuracy(c.test.probeFeatures, labels: c.test.labels) - c.accuracy_test) <= 1e-3)
        }
    }
}
