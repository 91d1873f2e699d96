import ArgumentParser
import EPCore
import EPFormats
import EPPipeline
import EPStore
import EPTensors
import Foundation

extension Readout: ExpressibleByArgument {}

/// `ep encode`: activations as codes over a dictionary's regions (SAE-style readouts, docs/use.md).
struct Encode: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Encode activations (files, or a text run through the model) as codes over the regions.",
        discussion: """
            With x_c = x − c, P = x_c·Bᵀ and P̂ = P/‖x_c‖ over the basis directions B (--basis): topk keeps the k \
            largest entries of P, ReLU'd; topk_norm the same on P̂; signed is P; cosine and signed_norm are P̂ (the \
            reference computes them identically); binary is 1 at the argmax of P̂. Sparse readouts (topk, topk_norm, \
            binary) are written as .safetensors with indices (I32 [N, k], largest first) and values (F32 [N, k]), and \
            the readout, basis, k and K in its metadata; dense ones as .npy (float32 [N, K]). With --model and --text/--text-file, the text is run as the dictionary's \
            build ran it and its extracted positions are encoded; --positions-out writes their (window, position). The \
            text's windows run --batch-windows at a time and only the codes are kept until written (8·k bytes a \
            row for sparse readouts, 4·K for dense ones, 16 more with --positions-out), not the activations. A \
            --text-file that looks binary (a NUL byte in its first 8 KiB) is refused.
            """)

    @Argument(help: "Dictionary folder.")
    var dictionary: String

    @OptionGroup var input: OptionalActivationInput

    @OptionGroup var text: TextInput

    @OptionGroup var model: DictionaryModelOption

    @Option(help: "Readout: topk, signed, cosine, signed_norm, topk_norm or binary.")
    var readout: Readout = .topk

    @Option(parsing: .unconditional, help: "Entries kept per row by topk and topk_norm.")
    var k = 1

    @Option(help: "Basis: exemplar or mean directions.")
    var basis: DirectionBasis = .exemplar

    @Option(parsing: .unconditional, help: "Rows per batch (activation files).")
    var batchSize = 16_384

    @Option(parsing: .unconditional, help: "With text: windows run through the model per batch.")
    var batchWindows = TextAssigner.defaultBatchWindows

    @Option(help: "With text: also write each row's window and position (int64 [N, 2] .npy).")
    var positionsOut: String?

    @OptionGroup var threading: ThreadOptions

    @Option(name: [.short, .customLong("output")], help: "Output: .safetensors for sparse readouts, .npy for dense ones.")
    var output: String

    @OptionGroup var force: ForceOption

    static let positionsKind = OutputKind.unmarkedFile("positions file", format: ".npy")

    func validate() throws {
        let wanted = ReadoutCodesFile.fileExtension(of: readout)
        guard output.lowercased().hasSuffix(wanted) else { throw CommandError("-o \(output): the \(readout.rawValue) readout is written as \(wanted)") }
        try requirePositive(batchSize, flag: "--batch-size")
        if positionsOut != nil && !text.isGiven { throw CommandError("--positions-out works with --text or --text-file") }
        if text.isGiven {
            guard input.activations.isEmpty, !text.isAmbiguous else { throw CommandError("give activation files, --text or --text-file (one of them)") }
            try requirePositive(batchWindows, flag: "--batch-windows")
        } else {
            guard !input.activations.isEmpty else { throw CommandError("nothing to encode: give activation files, or --model with --text/--text-file") }
        }
    }

    func run() throws {
        let claims = try claimOutputs(
            [(output, ReadoutCodesFile.outputKind(of: readout))] + (positionsOut.map { [($0, Self.positionsKind)] } ?? []),
            inputs: [dictionary] + input.activations + text.inputs + modelInputs(model.model), force: force.force)
        // Codes and positions are written to temporaries and moved into place together.
        let transaction = OutputTransaction()
        let loaded = try DictionaryStore.load(dictionary, reservoir: false, contexts: false)
        let encoder: RegionReadout
        do { encoder = try RegionReadout(loaded.dictionary, basis: basis, readout: readout, k: k) } catch let error as EPError {
            throw CommandError("--readout \(readout.rawValue) --k \(k): \(error)")
        }
        var parts: [ReadoutCodes] = []
        if text.isGiven {
            let opened = try model.open(for: loaded.manifest, dictionary: dictionary, threads: threading.threads)
            let input = try text.read()
            let assigner = try TextAssigner(loaded, model: opened.model, tokenizer: opened.tokenizer)
            let windows = assigner.tokenize(input)
            guard windows.count > 0 else { throw CommandError("the text has no token to encode") }
            var positions: [Int64] = []
            try assigner.activations(windows, batchWindows: batchWindows) { batch in
                parts.append(try encoder.encode(batch.activations))
                if positionsOut != nil { positions += batch.references.flatMap { [$0.source, Int64($0.position)] } }
            }
            if positionsOut != nil {
                try NPY.write(positions, shape: [positions.count / 2, 2], to: transaction.stage(claims[1]))
            }
        } else {
            let stream = try input.open()
            guard stream.width == loaded.dictionary.width else {
                throw FileFormatError(stream.files[0].path, "rows have width \(stream.width) but the dictionary \(dictionary) has width \(loaded.dictionary.width)")
            }
            try stream.forEachBatch(batchSize: batchSize, { try encoder.encode($0) }, consume: { parts.append($0) })
        }
        let rows = try ReadoutCodesFile.write(parts, of: encoder, basis: basis, to: transaction.stage(claims[0]))
        try transaction.commit()
        print("\(grouped(rows)) rows encoded with \(readout.rawValue)\(readout == .topk || readout == .topkNorm ? " (k = \(encoder.k))" : "") over \(grouped(encoder.regionCount)) \(basis.rawValue) directions → \(output)")
    }
}

/// `ep decode`: codes back to activations, `f·W_dec + c`.
struct Decode: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Decode codes from ep encode back to activations: f·W_dec + c.",
        discussion: "Sparse codes (.safetensors with indices and values) or dense codes (.npy [N, K]); --basis must be the one they were encoded with.")

    @Argument(help: "Dictionary folder.")
    var dictionary: String

    @Argument(help: "Codes: .safetensors (indices, values) or .npy (dense).")
    var codes: String

    @Option(help: "Basis the codes were encoded with: exemplar or mean.")
    var basis: DirectionBasis = .exemplar

    @Option(name: [.short, .customLong("output")], help: "Output .npy (float32 [N, D]).")
    var output: String

    @OptionGroup var force: ForceOption

    func run() throws {
        try claimOutput(output, OutputKind.unmarkedFile("decoded activations", format: ".npy"), inputs: [dictionary, codes], force: force.force)
        let loaded = try DictionaryStore.load(dictionary, reservoir: false, contexts: false)
        let decoder = try RegionReadout(loaded.dictionary, basis: basis, readout: .signed)
        let input = try ReadoutCodesFile.read(codes, regionCount: decoder.regionCount)
        let decoded: Matrix
        do { decoded = try decoder.decode(input) } catch let error as EPError { throw FileFormatError(codes, error.description) }
        try NPY.write(decoded.storage, shape: [decoded.rows, decoded.columns], to: output)
        print("\(grouped(decoded.rows)) rows decoded → \(output)")
    }
}
