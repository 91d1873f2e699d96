import EPFormats
import EPTestSupport
import Foundation
import Testing

/// Every case of Tests/Fixtures/conformance (copied from ../shared/conformance) through the `ep` executable, within the tolerances of its README.
@Suite
struct CLIConformanceTests {
    @Test(arguments: ConformanceCase.names)
    func calibrateBuildAndExport(name: String) throws {
        let c = try ConformanceCase.named(name)
        let work = makeTemporaryFolder("ep-cli-conformance")
        let acts = c.path("activations.npy")

        // Calibration from the same batches.
        var run = try ep([
            "calibrate", acts, "--percentile", "\(c.percentile)", "--calibration-tokens", "\(c.calibrationTokens)",
            "--batch-size", "\(c.calibrationBatchSize)", "-o", "calib.json",
        ], in: work)
        #expect(run.status == 0, "\(run.stderr)")
        let record = try JSONFields(try JSONValue.read(path: work + "/calib.json"), path: "calib.json")
        let theta = try record.double("threshold")
        let center = try record.doubles("center")
        let golden = try c.floats("center.npy").map(Double.init)
        print("cli conformance \(name): θ error \(abs(theta - c.threshold)), center error \(maxAbsoluteError(center, golden) / c.centerNorm)")
        #expect(abs(theta - c.threshold) <= 1e-5)
        #expect(maxAbsoluteError(center, golden) / c.centerNorm <= 1e-5)
        #expect(try record.integer("n_activations") == c.calibrationActivations)

        // Build with the stored center and threshold.
        run = try ep([
            "build", acts, "--center", c.path("center.npy"), "--threshold", "\(c.threshold)", "--batch-size", "\(c.addBatchSize)",
            "--assignments", "assignments.npy", "-o", "dict",
        ], in: work)
        #expect(run.status == 0, "\(run.stderr)")
        #expect(try NPY.readIntegers(path: work + "/assignments.npy").values == (try c.integers("assignments.npy")))
        run = try ep(["export", "dict", "--format", "npy", "-o", "export"], in: work)
        #expect(run.status == 0, "\(run.stderr)")
        func exported(_ file: String) -> String { work + "/export/" + file }
        #expect(try NPY.readIntegers(path: exported("exemplar_index.npy")).values == (try c.integers("exemplar_index.npy")))
        #expect(try NPY.readIntegers(path: exported("member_count.npy")).values == (try c.integers("member_count.npy")))
        let meanError = maxAbsoluteError(try NPY.readFloats(path: exported("mean_member_direction.npy")).values, try c.floats("mean_member_direction.npy"))
        let coherenceError = maxAbsoluteError(try NPY.readDoubles(path: exported("member_coherence.npy")).values, try c.doubles("member_coherence.npy"))
        let sumError = maxRelativeError(try NPY.readDoubles(path: exported("sum_dist_to_exemplar.npy")).values, try c.doubles("sum_dist_to_exemplar.npy"), floor: 1e-6)
        let squaresError = maxRelativeError(try NPY.readDoubles(path: exported("sum_sq_dist_to_exemplar.npy")).values, try c.doubles("sum_sq_dist_to_exemplar.npy"), floor: 1e-6)
        print("cli conformance \(name): mean directions \(meanError), coherence \(coherenceError), sums \(sumError) / \(squaresError)")
        #expect(meanError <= 1e-4 && coherenceError <= 1e-4 && sumError <= 1e-4 && squaresError <= 1e-4)
        let threshold = try JSONFields(try JSONValue.read(path: exported("threshold.json")), path: "threshold.json")
        #expect(try threshold.double("threshold") == c.threshold)

        // Build from the calibration record, and calibrating inside `build`: the exemplar set is the same.
        for arguments in [
            ["--calibration", "calib.json"],
            ["--percentile", "\(c.percentile)", "--calibration-tokens", "\(c.calibrationTokens)", "--calibration-batch-size", "\(c.calibrationBatchSize)"],
        ] {
            run = try ep(["build", acts] + arguments + ["--batch-size", "\(c.addBatchSize)", "-o", "dict2"], in: work)
            #expect(run.status == 0, "\(run.stderr)")
            run = try ep(["export", "dict2", "--format", "npy", "-o", "export2"], in: work)
            #expect(try NPY.readIntegers(path: work + "/export2/exemplar_index.npy").values == (try c.integers("exemplar_index.npy")))
            #expect(try NPY.readIntegers(path: work + "/export2/member_count.npy").values == (try c.integers("member_count.npy")))
        }
    }
}
