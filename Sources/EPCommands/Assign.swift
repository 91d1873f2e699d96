import ArgumentParser
import EPCore
import EPFormats
import EPPipeline
import EPRuntime
import EPStore
import EPTensors
import Foundation

/// `ep assign`: the nearest region of every token of a text (running the model), or of every row of activation
/// files (read-only, docs/method.md).
struct Assign: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Assign text tokens or activation rows to their nearest region.",
        discussion: """
            Text (--text or --text-file, for a dictionary built from text): the text is cut into windows and run \
            through the model exactly as the dictionary's activations were (same hook, extractor, context length and \
            BOS); every token is printed with its region, its distance to that region's exemplar, and an OOD mark \
            when the distance exceeds θ. Positions the extraction leaves out (position 0 of each window by default) \
            get no region. --json prints the same as JSON. The windows run --batch-windows at a time and each \
            batch's tokens are printed as it ends, so memory is one batch (about 4·D bytes a token, D the hook's \
            width) plus the text and its token ids, however long the text. A --text-file that looks binary (a NUL \
            byte in its first 8 KiB) is refused.

            Activation files: for every input row, the nearest region (by clamped cosine distance to its exemplar), \
            that distance, and whether it is within θ. The output format follows the extension of -o: \
            .npz — arrays `region` (int64), `distance` (float32), `within_threshold` (bool), held in memory until \
            written (13 bytes per row); \
            .csv — columns row,region,distance,within_threshold, streamed.
            """)

    @Argument(help: "Dictionary folder.")
    var dictionary: String

    @OptionGroup var input: OptionalActivationInput

    @OptionGroup var text: TextInput

    @OptionGroup var model: DictionaryModelOption

    @Option(help: "With text: the dictionary's extractor, checked (refused when it differs).")
    var extractor: ExtractorKind?

    @Option(name: [.customLong("context"), .customLong("context-length")], parsing: .unconditional, help: "With text: the dictionary's context length, checked (refused when it differs).")
    var context: Int?

    @Flag(help: "With text: print JSON.")
    var json = false

    @OptionGroup var threading: ThreadOptions

    @Option(parsing: .unconditional, help: "Rows per batch.")
    var batchSize = 16_384

    @Option(parsing: .unconditional, help: "With text: windows run through the model per batch (memory is one batch).")
    var batchWindows = TextAssigner.defaultBatchWindows

    @Option(name: [.short, .customLong("output")], help: "Output file for activation files: .npz or .csv.")
    var output: String?

    func validate() throws {
        if text.isGiven {
            guard !text.isAmbiguous else { throw CommandError("give one of --text and --text-file") }
            guard input.activations.isEmpty else { throw CommandError("give either activation files or --text/--text-file, not both") }
            return try requirePositive(batchWindows, flag: "--batch-windows")
        }
        guard !input.activations.isEmpty else { throw CommandError("nothing to assign: give activation files, or --text/--text-file") }
        guard let output else { throw CommandError("-o OUTPUT (.npz or .csv) is needed for activation files") }
        try requirePositive(batchSize, flag: "--batch-size")
        guard ActivationAssignment.outputKind(of: output) != nil else {
            throw CommandError("-o \(output): unsupported output type; use a .npz or .csv path")
        }
    }

    func run() throws {
        if text.isGiven { return try assignText(text.read()) }
        // validate() saw -o (.npz or .csv) with activation files.
        let output = output!
        try claimOutput(output, ActivationAssignment.outputKind(of: output)!, inputs: [self.dictionary] + input.activations)
        let loaded = try DictionaryStore.load(dictionary, reservoir: false)
        let dictionary = loaded.dictionary
        let stream = try input.open()
        guard stream.width == dictionary.width else {
            throw FileFormatError(stream.files[0].path, "rows have width \(stream.width) but the dictionary \(self.dictionary) has width \(dictionary.width)")
        }
        try ActivationAssignment.write(dictionary, stream, batchSize: batchSize, to: output)
        print("\(grouped(stream.totalRows)) rows assigned to \(grouped(dictionary.regionCount)) regions → \(output)")
    }

    /// `ep assign DICT --text T`: every token with its region.
    private func assignText(_ input: String) throws {
        let loaded = try DictionaryStore.load(dictionary, reservoir: false, contexts: false)
        let extraction = try DictionaryExtraction(manifest: loaded.manifest, path: dictionary)
        if let extractor, extractor != extraction.extractor {
            throw CommandError("--extractor \(extractor.rawValue): \(dictionary) was built with the \(extraction.extractor.rawValue) extractor; text is assigned the same way")
        }
        if let context, context != extraction.context {
            throw CommandError("--context \(context): \(dictionary) was built with windows of \(extraction.context) tokens; text is assigned the same way")
        }
        let opened = try model.open(for: loaded.manifest, dictionary: dictionary, threads: threading.threads)
        let assigner = try TextAssigner(loaded, model: opened.model, tokenizer: opened.tokenizer)
        let text = assigner.tokenize(input)
        let theta = loaded.dictionary.threshold
        if json {
            var stream = TextAssignmentReport.JSONStream(threshold: theta, hook: extraction.hook)
            print(stream.opening, terminator: "")
            try assigner.assign(text, batchWindows: batchWindows) { batch in print(stream.rows(batch), terminator: "") }
            print(stream.closing())
            return
        }
        // The table is printed batch by batch, so its columns are as wide as the widest cell they can hold, found
        // before the model runs: every token's text is known, and a region id has at most the digits of the last
        // region (the distance column is as wide as its header).
        let header = ["window", "pos", "token", "region", "distance", ""]
        var widths = header.map(\.count)
        if text.count > 0 {
            widths[0] = max(widths[0], String(text.count - 1).count)
            widths[1] = max(widths[1], String(text.window(0).tokens.count - 1).count)
            widths[3] = max(widths[3], String(max(loaded.dictionary.regionCount - 1, 0)).count)
            text.forEachToken { _, _, id in widths[2] = max(widths[2], quotedToken(assigner.tokenText(id)).count) }
        }
        let rightAligned: Set<Int> = [0, 1, 3, 4]
        print(alignedRow(header, widths: widths, rightAligned: rightAligned))
        var tokenCount = 0, assigned = 0, within = 0
        try assigner.assign(text, batchWindows: batchWindows) { batch in
            var lines: [String] = []
            for t in batch {
                tokenCount += 1
                let shown = quotedToken(t.text)
                guard let region = t.region, let distance = t.distance else {
                    lines.append(alignedRow([String(t.window), String(t.position), shown, "-", "-", "(not extracted)"], widths: widths, rightAligned: rightAligned))
                    continue
                }
                assigned += 1
                if t.withinThreshold == true { within += 1 }
                lines.append(alignedRow(
                    [String(t.window), String(t.position), shown, String(region), fixed(Double(distance), 4), t.withinThreshold == true ? "" : "OOD"],
                    widths: widths, rightAligned: rightAligned))
            }
            if !lines.isEmpty { print(lines.joined(separator: "\n")) }
        }
        print("\(assigned) of \(tokenCount) tokens assigned at \(extraction.hook); \(within) within θ = \(fixed(theta, 4)) (\(fixed(100 * Double(within) / Double(max(assigned, 1)), 1)) %), \(assigned - within) out of distribution")
    }
}
