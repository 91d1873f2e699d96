import EPCore
import EPFormats
import EPTensors
import EPTestSupport
import Testing

/// Every case of Tests/Fixtures/conformance (copied from ../shared/conformance) through the library, within the tolerances of its README.
@Suite
struct LibraryConformanceTests {
    @Test(arguments: ConformanceCase.names)
    func calibrationMatchesGolden(name: String) throws {
        let c = try ConformanceCase.named(name)
        let x = try c.activations()
        let settings = CalibrationSettings(percentile: c.percentile, calibrationTokens: c.calibrationTokens, batchSize: c.calibrationBatchSize)
        let calibration = try Calibration.calibrate(batches: ConformanceCase.batches(x, size: c.calibrationBatchSize), settings: settings)
        let golden = try c.floats("center.npy")
        #expect(calibration.activationCount == c.calibrationActivations)
        let centerError = maxRelativeError(calibration.center, golden)
        let normError = abs(calibration.centerNorm - c.centerNorm) / c.centerNorm
        let thetaError = abs(calibration.threshold - c.threshold)
        print("conformance \(name): center max rel error \(centerError), norm rel error \(normError), θ abs error \(thetaError)")
        // README: center relative error ≤ 1e-5 (taken element-wise against the center's norm).
        #expect(maxAbsoluteError(calibration.center, golden) / c.centerNorm <= 1e-5)
        #expect(normError <= 1e-5)
        #expect(thetaError <= 1e-5)
    }

    @Test(arguments: ConformanceCase.names)
    func buildMatchesGolden(name: String) throws {
        let c = try ConformanceCase.named(name)
        let x = try c.activations()
        let dictionary = try ExemplarDictionary(center: try c.floats("center.npy"), threshold: c.threshold)
        var assignments: [Int] = []
        var distances: [Float] = []
        for batch in ConformanceCase.batches(x, size: c.addBatchSize) {
            let result = try dictionary.addBatch(batch)
            assignments += result.regions
            distances += result.distances
        }
        let regions = dictionary.regions
        #expect(regions.count == c.regionCount)
        #expect(regions.exemplarRows.map(Int.init) == (try c.integers("exemplar_index.npy")))
        #expect(regions.memberCounts.map(Int.init) == (try c.integers("member_count.npy")))
        #expect(assignments == (try c.integers("assignments.npy")))
        let distanceError = maxAbsoluteError(distances, try c.floats("distances.npy"))
        let meanError = maxAbsoluteError(regions.meanMemberDirections, try c.floats("mean_member_direction.npy"))
        let coherenceError = maxAbsoluteError(regions.memberCoherences, try c.doubles("member_coherence.npy"))
        let sumError = maxRelativeError(regions.sumDistances, try c.doubles("sum_dist_to_exemplar.npy"), floor: 1e-6)
        let sumSquaresError = maxRelativeError(regions.sumSquaredDistances, try c.doubles("sum_sq_dist_to_exemplar.npy"), floor: 1e-6)
        print("conformance \(name): K \(regions.count), distances \(distanceError), mean directions \(meanError), coherence \(coherenceError), sums \(sumError) / \(sumSquaresError)")
        #expect(distanceError <= 1e-4)
        #expect(meanError <= 1e-4)
        #expect(coherenceError <= 1e-4)
        #expect(sumError <= 1e-4)
        #expect(sumSquaresError <= 1e-4)
    }
}
