import ArgumentParser
import EPCore
import EPFormats
import EPStore
import Foundation

/// `ep calibrate`: center and threshold θ from activation files (docs/method.md), saved as a calibration record.
struct Calibrate: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Calibrate the center and threshold θ from activation files.",
        discussion: """
            Reads consecutive batches from the first row until at least --calibration-tokens rows were seen (the last \
            batch may overshoot). The center is the spherical-mean direction times the mean projection; θ is the mean \
            over batches of the within-batch --percentile of pairwise cosine distances. Memory: one batch plus \
            n(n−1)/2 floats of distances (537 MB at 16,384 rows).
            """)

    @OptionGroup var input: ActivationInput

    @Option(parsing: .unconditional, help: "Percentile p of the within-batch pairwise cosine distances, strictly between 0 and 100 (the paper uses 1, 2, 4, 8, 10).")
    var percentile: Double

    @Option(parsing: .unconditional, help: "Rows to calibrate on (stops after the batch that reaches it).")
    var calibrationTokens = 200_000

    @Option(parsing: .unconditional, help: "Rows per calibration batch.")
    var batchSize = 16_384

    @Option(help: "How the percentile is read: linear (NumPy's default) or nearest-rank.")
    var method: PercentileMethod = .linear

    @OptionGroup var provenance: ProvenanceOptions

    @Option(name: [.short, .customLong("output")], help: "Calibration record to write (JSON).")
    var output: String

    func validate() throws {
        try requirePercentile(percentile)
        try requirePositive(calibrationTokens, flag: "--calibration-tokens")
        try requireCalibrationBatch(batchSize, flag: "--batch-size")
        _ = try provenance.singleHook()
    }

    func run() throws {
        try claimOutput(output, CalibrationRecord.outputKind, inputs: input.activations)
        let stream = try input.open()
        let settings = CalibrationSettings(percentile: percentile, calibrationTokens: calibrationTokens, batchSize: batchSize, method: method)
        let progress = ProgressLine()
        let calibration = try calibrate(stream, settings: settings, progress: progress)
        progress.finish()
        let record = CalibrationRecord(
            calibration: calibration, calibrationTokens: calibrationTokens,
            source: try provenance.source(for: stream, rows: calibration.activationCount))
        try record.write(to: output)
        print("θ = \(fixed(calibration.threshold, 6)) (\(percentileLabel(percentile)), \(method.rawValue)) from \(grouped(calibration.activationCount)) rows in \(calibration.batchCount) batches; ‖center‖ = \(fixed(calibration.centerNorm, 4)) → \(output)")
    }
}

extension PercentileMethod: ExpressibleByArgument {}
