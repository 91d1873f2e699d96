import ArgumentParser
import EPCore
import EPFormats
import EPPipeline
import EPStore

/// The formats of `ep export`: the dictionary exports of EPStore, and a llama.cpp control vector (EPPipeline).
enum ExportFormat: String, CaseIterable, ExpressibleByArgument {
    case npy, npz, saelens
    case controlVector = "control-vector"

    var dictionaryFormat: DictionaryExport.Format? { DictionaryExport.Format(rawValue: rawValue) }
}

/// `ep export`: a dictionary for other tools.
struct Export: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Export a dictionary as .npy arrays, one .npz, an SAELens SAE, or a llama.cpp control vector.",
        discussion: """
            --format npy writes a folder with center.npy (float32 [D]), exemplar_direction.npy and \
            mean_member_direction.npy (float32 [K, D]), exemplar_index.npy (int64 [K], the stream row that founded \
            each region), member_count.npy (int64 [K]), member_coherence.npy, sum_dist_to_exemplar.npy and \
            sum_sq_dist_to_exemplar.npy (float64 [K]), and threshold.json (θ, percentile, method, center norm, \
            d_model, n_regions). --format npz writes the same arrays to one .npz with threshold and percentile \
            (0-d float64) and the closest/farthest member references. --format saelens writes an SAELens folder \
            (cfg.json + sae_weights.safetensors): a topk SAE with k = 1 whose W_dec rows are the exemplar (or \
            --basis mean) directions, W_enc = W_decᵀ, b_dec = the center (applied to the input), b_enc = 0 — its \
            encode is EP's top-1 readout and decode(f) = f·W_dec + c. --format control-vector writes a llama.cpp \
            control-vector GGUF (general.architecture = controlvector, controlvector.model_hint, \
            controlvector.layer_count) with one F32 tensor direction.N = S·Σ u_r over the --region directions (--basis), \
            S = --scale (default ‖c‖, ep steer's default α); llama.cpp adds it to block N's output, so the dictionary's \
            hook must be blocks.N.hook_resid_post (N ≥ 1) or blocks.N+1.hook_resid_pre (docs/interop.md). \
            `llama-completion --control-vector FILE` then steers like `ep steer --alpha S` with one region.
            """)

    @Argument(help: "Dictionary folder.")
    var dictionary: String

    @Option(help: "Export format: npy, npz, saelens or control-vector.")
    var format: ExportFormat

    @Option(help: "saelens: the decoder directions; control-vector: the region directions (exemplar or mean).")
    var basis: DirectionBasis = .exemplar

    @Option(help: "control-vector: a region whose direction is added (repeat for several: their sum).")
    var region: [Int] = []

    @Option(parsing: .unconditional, help: "control-vector: the scale S of the direction (default ‖c‖, ep steer's default α).")
    var scale: Float?

    @Option(name: [.short, .customLong("output")], help: "Folder (npy, saelens), .npz file (npz) or .gguf file (control-vector) to write (replaced atomically).")
    var output: String

    func validate() throws {
        if format.dictionaryFormat == nil {
            if region.isEmpty { throw CommandError("--format control-vector: give the region(s) with --region R") }
            if !output.lowercased().hasSuffix(".gguf") { throw CommandError("-o \(output): --format control-vector writes a .gguf file") }
            return
        }
        if !region.isEmpty || scale != nil { throw CommandError("--region and --scale are for --format control-vector") }
        if format == .npz && !output.lowercased().hasSuffix(".npz") { throw CommandError("-o \(output): --format npz writes a .npz file") }
    }

    func run() throws {
        guard let dictionaryFormat = format.dictionaryFormat else { return try exportControlVector() }
        try claimOutput(output, DictionaryExport.outputKind(dictionaryFormat), inputs: [dictionary])
        let loaded = try DictionaryStore.load(dictionary, reservoir: false, contexts: false)
        let notes = try DictionaryExport.write(loaded, format: dictionaryFormat, basis: basis, to: output)
        print("\(grouped(loaded.dictionary.regionCount)) regions exported as \(format.rawValue) → \(output)")
        notes.forEach(note)
    }

    func exportControlVector() throws {
        try claimOutput(output, ControlVectorExport.outputKind, inputs: [dictionary])
        let loaded = try DictionaryStore.load(dictionary, reservoir: false, contexts: false)
        let (layer, used) = try ControlVectorExport.write(loaded, regions: region, basis: basis, scale: scale, to: output)
        let regions = region.map(String.init).joined(separator: " + ")
        print("control vector direction.\(layer) = \(fixed(Double(used), 3))·(\(basis.rawValue) direction of region \(regions)) for llama.cpp block \(layer)'s output → \(output)")
    }
}
