import ArgumentParser
import EPCore
import EPFormats
import EPPipeline
import EPRuntime
import EPStore
import EPTensors
import Foundation

/// `ep build`: a dictionary from text run through a model (`--model --hook --corpus`), or from activation files
/// (calibration, then streaming leader clustering).
struct Build: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Build an EP dictionary from a model and a text corpus, or from activation files.",
        discussion: """
            From text: ep build --model MODEL --hook blocks.L.hook_resid_post --corpus PATH... --percentile P[,P...] -o OUT. \
            Documents are cut into windows of --context tokens, run through the model to the hook (layers after it are \
            skipped), and every position but the first of each window becomes an activation (--extractor, \
            --include-first-position). The first --calibration-tokens activations calibrate the center and θ (cached \
            per model, hook, extraction and percentile); then batches of --batch-windows windows are clustered until \
            --max-tokens tokens or saturation (--saturation-window batches without a new region). Several \
            percentiles build one dictionary each (OUT/p1, OUT/p2, …) from the same activations. Several hooks \
            (--hook repeated or a comma-separated list; --layers 6,12,18 for blocks.L.hook_resid_post) share one \
            forward pass to the deepest: each hook is calibrated and clustered on its own, and OUT/<hook> holds what a \
            build of that hook alone would write at OUT (byte for byte the same dictionaries). OUT is rewritten \
            atomically every --checkpoint-every batches; after a kill, --resume continues it and gives the same \
            dictionary as an uninterrupted build; Ctrl-C stops at the end of the current batch and leaves a usable, \
            resumable dictionary.

            From activation files: the center and θ come from exactly one of --percentile (calibrate on the first \
            --calibration-tokens rows of the inputs), --calibration (a record from `ep calibrate`), or --center with \
            --threshold. Every row is then clustered in batches of --batch-size (calibration rows included). A \
            progress line (rows/s, regions, new-region rate) goes to stderr.
            """)

    @OptionGroup var input: OptionalActivationInput

    @OptionGroup(title: "Building from text") var corpus: CorpusArguments

    @Option(parsing: .unconditional, help: "Calibrate θ at this percentile (strictly between 0 and 100); from text, a comma-separated list builds one dictionary per percentile.")
    var percentile: CommaSeparated<Double>?

    @Option(help: "Use the center and θ of this calibration record (from `ep calibrate`).")
    var calibration: String?

    @Option(help: "Use this center (.npy, 1-D, float32 or float64) together with --threshold.")
    var center: String?

    @Option(parsing: .unconditional, help: "Use this threshold θ (a cosine distance in (0, 2)) together with --center.")
    var threshold: Double?

    @Option(parsing: .unconditional, help: "Rows per clustering batch.")
    var batchSize = 16_384

    @Option(parsing: .unconditional, help: "Rows to calibrate on with --percentile.")
    var calibrationTokens = 200_000

    @Option(parsing: .unconditional, help: "Rows per calibration batch with --percentile (default: --batch-size).")
    var calibrationBatchSize: Int?

    @Option(help: "How the calibration percentile is read: linear or nearest-rank.")
    var method: PercentileMethod = .linear

    @Option(parsing: .unconditional, help: "Seed of the member reservoir.")
    var seed = 0

    @Flag(help: "Keep a reservoir of up to 30 member directions per region (reservoir.safetensors; large).")
    var reservoir = false

    @Option(help: "Also write the int64 region id of every input row, in order (.npy).")
    var assignments: String?

    @OptionGroup var provenance: ProvenanceOptions

    @OptionGroup var force: ForceOption

    @Option(help: "From text: which activations of a window: per-position or final-position.")
    var extractor: ExtractorKind = .perPosition

    @Flag(help: "From text: keep position 0 of every window (left out by default: an attention sink on many models).")
    var includeFirstPosition = false

    @Option(help: "From text: prepend the model's BOS token to every window: auto (as the model's tokenizer says), always, never.")
    var bos: BOSChoice = .auto

    @Option(help: "From text: chunks (consecutive windows over each document) or prefix (the first window of each document).")
    var windowMode: WindowSettings.Mode = .chunks

    @Option(parsing: .unconditional, help: "From text: shortest last window of a document kept in chunks mode (tokens).")
    var minWindow = 32

    @Option(parsing: .unconditional, help: "From text: windows held in the seeded shuffle buffer (1: corpus order).")
    var shuffleBuffer = 4096

    @Option(help: "From text: build blocks.L.hook_resid_post for every layer L of a comma-separated list (6,12,18), from one forward pass; with --hook, those hooks too.")
    var layers: CommaSeparated<Int>?

    @Option(parsing: .unconditional, help: "From text: windows per batch (calibration and clustering).")
    var batchWindows = 128

    @Option(parsing: .unconditional, help: "From text: stop after this many tokens (BOS included); 0 for no budget.")
    var maxTokens = 1_000_000

    @Option(parsing: .unconditional, help: "From text: stop a dictionary after this many consecutive batches without a new region (0: never).")
    var saturationWindow = 1

    @Option(parsing: .unconditional, help: "From text: rewrite the output every this many batches (0: only at the end).")
    var checkpointEvery = 10

    @Flag(help: "From text: continue the build in the output folder (after a kill or Ctrl-C, or with a larger --max-tokens).")
    var resume = false

    @Flag(help: "From text: calibrate even when the calibration cache has a calibration for this model, hook and extraction.")
    var recalibrate = false

    @OptionGroup var threading: ThreadOptions

    @Option(help: "From text: round every activation to this precision right after extraction, before calibration and clustering: f32 (default: kept as computed), f16 or bf16 (what a sharded build stores: `ep shards plan` builds the same dictionary as `ep build` with its --shard-dtype here).")
    var activationDtype: ActivationDType?

    @Option(name: [.short, .customLong("output")], help: "Dictionary folder to write (replaced atomically if it exists); from text with several percentiles, a folder of one dictionary per percentile (OUT/p1, …); with several hooks, a folder per hook holding what a build of that hook alone writes (OUT/<hook>, or OUT/<hook>/p1, …).")
    var output: String

    /// The `--assignments` file: int64 region ids in an `.npy`, which carries no writer mark.
    static let assignmentsKind = OutputKind.unmarkedFile("assignments file", format: ".npy")

    /// The percentiles given, parsed.
    func percentiles() throws -> [Double]? {
        guard let list = try percentile?.values("--percentile", expected: "a number or a comma-separated list of numbers") else { return nil }
        for p in list { try requirePercentile(p) }
        return list
    }

    func validate() throws {
        _ = try percentiles()
        _ = try layerHooks()
        if !corpus.paths.isEmpty && input.activations.isEmpty {
            _ = try textPreflight()
        } else if corpus.paths.isEmpty && !input.activations.isEmpty {
            try validateActivationFileFlags()
        }
    }

    /// The checks of the flags of a build from activation files.
    private func validateActivationFileFlags() throws {
        let list = try percentiles()
        if let list, list.count > 1 { throw CommandError("--percentile: several percentiles need --corpus (a build from text)") }
        guard layers == nil else { throw CommandError("--layers: several hooks need --corpus (a build from text)") }
        guard activationDtype == nil else { throw CommandError("--activation-dtype: rounds activations extracted from text; it needs --corpus (activation files are read as stored)") }
        _ = try provenance.singleHook()
        try requirePositive(batchSize, flag: "--batch-size")
        guard seed >= 0 else { throw CommandError("--seed: expected a number ≥ 0, found \(seed)") }
        if let assignments, !assignments.lowercased().hasSuffix(".npy") {
            throw CommandError("--assignments \(assignments): expected a .npy path")
        }
        let sources = [percentile != nil, calibration != nil, center != nil || threshold != nil].filter { $0 }.count
        guard sources == 1 else {
            throw CommandError("give exactly one of --percentile P, --calibration CALIB.json, or --center C.npy with --threshold T")
        }
        if percentile != nil {
            try requirePositive(calibrationTokens, flag: "--calibration-tokens")
            try requireCalibrationBatch(calibrationBatchSize ?? batchSize, flag: calibrationBatchSize == nil ? "--batch-size (the calibration batch size)" : "--calibration-batch-size")
        } else if calibration == nil && (center == nil || threshold == nil) {
            throw CommandError(center == nil ? "--threshold needs --center C.npy" : "--center needs --threshold T")
        }
    }

    func run() throws {
        if !corpus.paths.isEmpty {
            guard input.activations.isEmpty else { throw CommandError("give either activation files or --corpus, not both") }
            return try runOnText()
        }
        guard !input.activations.isEmpty else {
            throw CommandError("nothing to build from: give activation files, or --model MODEL --hook HOOK --corpus PATH to build from text")
        }
        try runOnActivationFiles()
    }

    /// `ep build ACTS...`.
    private func runOnActivationFiles() throws {
        let percentile = try percentiles()?.first
        let inputs = input.activations + [calibration, center].compactMap { $0 }
        let claims = try claimOutputs(
            [(output, DictionaryStore.outputKind)] + (assignments.map { [($0, Self.assignmentsKind)] } ?? []), inputs: inputs, force: force.force)
        let stream = try input.open()
        let progress = ProgressLine()
        let (calibrated, calibrationProvenance) = try obtainCalibration(stream, percentile: percentile, progress: progress)
        guard calibrated.center.count == stream.width else {
            throw CommandError("\(calibration ?? center ?? "calibration"): the center has width \(calibrated.center.count) but \(stream.files[0].path) has rows of width \(stream.width)")
        }

        // With --assignments, both outputs are written to temporaries and moved into place together.
        let transaction = OutputTransaction()
        let dictionaryPath = assignments == nil ? output : transaction.stage(claims[0])
        let assignmentWriter = try assignments.map { _ in try NPYStreamWriter<Int64>(path: transaction.stage(claims[1]), count: stream.totalRows) }
        let builder = ActivationFileBuilder(calibration: calibrated, batchSize: batchSize, reservoirSeed: reservoir ? UInt64(seed) : nil)
        let started = Date()
        let dictionary = try builder.build(stream) { dictionary, regions in
            try assignmentWriter?.append(regions.map(Int64.init))
            let seconds = max(Date().timeIntervalSince(started), 1e-9)
            progress.update(
                "\(grouped(stream.position))/\(grouped(stream.totalRows)) rows · \(grouped(Int(Double(stream.position) / seconds))) rows/s · \(grouped(dictionary.regionCount)) regions · new-region rate \(fixed(dictionary.newRegionRate ?? 0, 4))")
        }
        progress.finish()

        let build = builder.provenance(of: dictionary, source: try provenance.source(for: stream, rows: Int(dictionary.rowsSeen)))
        try DictionaryStore.write(dictionary, calibration: calibrationProvenance, build: build, to: dictionaryPath)
        if let assignmentWriter {
            try assignmentWriter.commit()
            try transaction.commit()
        }
        let seconds = Date().timeIntervalSince(started)
        print("\(grouped(dictionary.regionCount)) regions from \(grouped(Int(dictionary.rowsSeen))) rows in \(dictionary.batchHistory.count) batches (θ = \(fixed(dictionary.threshold, 6))) in \(fixed(seconds, 1)) s → \(output)")
        print("last batch's new-region rate \(fixed(dictionary.newRegionRate ?? 0, 4)); saturated (window 1): \(build.saturated ? "yes" : "no")")
    }

    /// The calibration from whichever source was given, with its provenance.
    private func obtainCalibration(_ stream: ActivationStream, percentile: Double?, progress: ProgressLine) throws -> (Calibration, CalibrationProvenance) {
        if let percentile {
            let settings = CalibrationSettings(percentile: percentile, calibrationTokens: calibrationTokens, batchSize: calibrationBatchSize ?? batchSize, method: method)
            let result = try calibrate(stream, settings: settings, progress: progress)
            let source = try provenance.source(for: stream, rows: result.activationCount)
            return (result, CalibrationProvenance(result, calibrationTokens: calibrationTokens, source: source))
        }
        if let calibration {
            let record = try CalibrationRecord.read(path: calibration)
            return (record.calibration, record.provenance)
        }
        // validate() saw both --center and --threshold.
        let given = try givenCalibration(center: center!, threshold: threshold!)
        return (given, CalibrationProvenance(given, calibrationTokens: nil, source: nil))
    }

    /// The calibration of `--center C.npy --threshold T`: θ in (0, 2), a finite non-empty 1-D center.
    func givenCalibration(center: String, threshold: Double) throws -> Calibration {
        guard Calibration.isValidThreshold(threshold) else {
            throw CommandError("--threshold: expected a cosine-distance threshold θ in (0, 2), found \(threshold)")
        }
        let (values, shape) = try NPY.readFloats(path: center)
        guard shape.count == 1 else { throw FileFormatError(center, "expected a 1-D center, found shape \(NPY.shapeText(shape))") }
        guard !values.isEmpty else { throw FileFormatError(center, "expected a center of D > 0 values, found none") }
        if let bad = values.firstIndex(where: { !$0.isFinite }) { throw FileFormatError(center, "element \(bad) is not finite (\(values[bad]))") }
        return try Calibration.given(center: values, threshold: threshold)
    }
}
