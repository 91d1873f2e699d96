import ArgumentParser
import EPCore
import EPFormats
import EPStore
import EPTensors
import Foundation

/// `ep build`: a dictionary from activation files (calibration, then streaming leader clustering).
struct Build: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Build an EP dictionary from activation files.",
        discussion: """
            The center and θ come from exactly one of: --percentile (calibrate on the first --calibration-tokens rows \
            of the inputs), --calibration (a record from `ep calibrate`), or --center with --threshold. Every row of \
            the inputs is then clustered in batches of --batch-size (calibration rows included). A progress line \
            (rows/s, regions, new-region rate) goes to stderr.
            """)

    @OptionGroup var input: ActivationInput

    @Option(help: "Calibrate θ at this percentile (strictly between 0 and 100).")
    var percentile: Double?

    @Option(help: "Use the center and θ of this calibration record (from `ep calibrate`).")
    var calibration: String?

    @Option(help: "Use this center (.npy, 1-D, float32 or float64) together with --threshold.")
    var center: String?

    @Option(help: "Use this threshold θ (a cosine distance > 0) together with --center.")
    var threshold: Double?

    @Option(help: "Rows per clustering batch.")
    var batchSize = 16_384

    @Option(help: "Rows to calibrate on with --percentile.")
    var calibrationTokens = 200_000

    @Option(help: "Rows per calibration batch with --percentile (default: --batch-size).")
    var calibrationBatchSize: Int?

    @Option(help: "How the calibration percentile is read: linear or nearest-rank.")
    var method: PercentileMethod = .linear

    @Option(help: "Seed of the member reservoir.")
    var seed = 0

    @Flag(help: "Keep a reservoir of up to 30 member directions per region (reservoir.safetensors; large).")
    var reservoir = false

    @Option(help: "Also write the int64 region id of every input row, in order (.npy).")
    var assignments: String?

    @OptionGroup var provenance: ProvenanceOptions

    @Option(name: [.short, .customLong("output")], help: "Dictionary folder to write (replaced atomically if it exists).")
    var output: String

    func run() throws {
        try requirePositive(batchSize, flag: "--batch-size")
        guard seed >= 0 else { throw CommandError("--seed: expected a number ≥ 0, found \(seed)") }
        if let assignments, !assignments.lowercased().hasSuffix(".npy") {
            throw CommandError("--assignments \(assignments): expected a .npy path")
        }
        let sources = [percentile != nil, calibration != nil, center != nil || threshold != nil].filter { $0 }.count
        guard sources == 1 else {
            throw CommandError("give exactly one of --percentile P, --calibration CALIB.json, or --center C.npy with --threshold T")
        }
        let stream = try input.open()
        let progress = ProgressLine()
        let (calibrated, calibrationProvenance) = try obtainCalibration(stream, progress: progress)
        guard calibrated.center.count == stream.width else {
            throw CommandError("\(calibration ?? center ?? "calibration"): the center has width \(calibrated.center.count) but \(stream.files[0].path) has rows of width \(stream.width)")
        }

        let dictionary = try ExemplarDictionary(calibration: calibrated, reservoirSeed: reservoir ? UInt64(seed) : nil)
        let assignmentWriter = try assignments.map { try NPYStreamWriter<Int64>(path: $0, count: stream.totalRows) }
        var batch = Matrix(rows: 0, columns: stream.width)
        let started = Date()
        while true {
            let start = stream.position
            guard try stream.next(into: &batch, maxRows: batchSize) else { break }
            let result = try naming(stream, batchStart: start) { try dictionary.addBatch(batch) }
            try assignmentWriter?.append(result.regions.map(Int64.init))
            let seconds = max(Date().timeIntervalSince(started), 1e-9)
            progress.update(
                "\(grouped(stream.position))/\(grouped(stream.totalRows)) rows · \(grouped(Int(Double(stream.position) / seconds))) rows/s · \(grouped(dictionary.regionCount)) regions · new-region rate \(fixed(dictionary.newRegionRate ?? 0, 4))")
        }
        progress.finish()

        let build = BuildProvenance(
            batchSize: batchSize, seed: reservoir ? seed : nil, batchCount: dictionary.batchHistory.count,
            activationCount: Int(dictionary.rowsSeen), saturated: dictionary.isSaturated(window: 1), reservoir: reservoir,
            newRegionRate: dictionary.newRegionRate, source: provenance.source(for: stream, rows: Int(dictionary.rowsSeen)))
        try DictionaryStore.write(dictionary, calibration: calibrationProvenance, build: build, to: output)
        try assignmentWriter?.commit()
        let seconds = Date().timeIntervalSince(started)
        print("\(grouped(dictionary.regionCount)) regions from \(grouped(Int(dictionary.rowsSeen))) rows in \(dictionary.batchHistory.count) batches (θ = \(fixed(dictionary.threshold, 6))) in \(fixed(seconds, 1)) s → \(output)")
        print("last batch's new-region rate \(fixed(dictionary.newRegionRate ?? 0, 4)); saturated (window 1): \(build.saturated ? "yes" : "no")")
    }

    /// The calibration from whichever source was given, with its provenance.
    private func obtainCalibration(_ stream: ActivationStream, progress: ProgressLine) throws -> (Calibration, CalibrationProvenance) {
        if let percentile {
            try requirePercentile(percentile)
            try requirePositive(calibrationTokens, flag: "--calibration-tokens")
            let size = calibrationBatchSize ?? batchSize
            try requireCalibrationBatch(size, flag: calibrationBatchSize == nil ? "--batch-size (the calibration batch size)" : "--calibration-batch-size")
            let settings = CalibrationSettings(percentile: percentile, calibrationTokens: calibrationTokens, batchSize: size, method: method)
            let result = try calibrate(stream, settings: settings, progress: progress)
            let source = provenance.source(for: stream, rows: result.activationCount)
            return (result, CalibrationProvenance(result, calibrationTokens: calibrationTokens, source: source))
        }
        if let calibration {
            let record = try CalibrationRecord.read(path: calibration)
            return (record.calibration, record.provenance)
        }
        guard let center, let threshold else {
            throw CommandError(center == nil ? "--threshold needs --center C.npy" : "--center needs --threshold T")
        }
        guard threshold.isFinite, threshold > 0 else { throw CommandError("--threshold: expected a finite number > 0, found \(threshold)") }
        let (values, shape) = try NPY.readFloats(path: center)
        guard shape.count == 1 else { throw FileFormatError(center, "expected a 1-D center, found shape \(NPY.shapeText(shape))") }
        if let bad = values.firstIndex(where: { !$0.isFinite }) { throw FileFormatError(center, "element \(bad) is not finite") }
        let given = try Calibration.given(center: values, threshold: threshold)
        return (given, CalibrationProvenance(given, calibrationTokens: nil, source: nil))
    }
}
