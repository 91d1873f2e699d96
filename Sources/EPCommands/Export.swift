import ArgumentParser
import EPCore
import EPFormats
import EPStore

extension DictionaryExport.Format: ExpressibleByArgument {}

/// `ep export`: a dictionary for other tools.
struct Export: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Export a dictionary as .npy arrays, one .npz, or an SAELens SAE.",
        discussion: """
            --format npy writes a folder with center.npy (float32 [D]), exemplar_direction.npy and \
            mean_member_direction.npy (float32 [K, D]), exemplar_index.npy (int64 [K], the stream row that founded \
            each region), member_count.npy (int64 [K]), member_coherence.npy, sum_dist_to_exemplar.npy and \
            sum_sq_dist_to_exemplar.npy (float64 [K]), and threshold.json (θ, percentile, method, center norm, \
            d_model, n_regions). --format npz writes the same arrays to one .npz with threshold and percentile \
            (0-d float64) and the closest/farthest member references. --format saelens writes an SAELens folder \
            (cfg.json + sae_weights.safetensors): a topk SAE with k = 1 whose W_dec rows are the exemplar (or \
            --basis mean) directions, W_enc = W_decᵀ, b_dec = the center (applied to the input), b_enc = 0 — its \
            encode is EP's top-1 readout and decode(f) = f·W_dec + c.
            """)

    @Argument(help: "Dictionary folder.")
    var dictionary: String

    @Option(help: "Export format: npy, npz or saelens.")
    var format: DictionaryExport.Format

    @Option(help: "saelens: the decoder directions, exemplar or mean.")
    var basis: DirectionBasis = .exemplar

    @Option(name: [.short, .customLong("output")], help: "Folder (npy, saelens) or .npz file to write (replaced atomically).")
    var output: String

    func validate() throws {
        if format == .npz && !output.lowercased().hasSuffix(".npz") { throw CommandError("-o \(output): --format npz writes a .npz file") }
    }

    func run() throws {
        try claimOutput(output, DictionaryExport.outputKind(format), inputs: [dictionary])
        let loaded = try DictionaryStore.load(dictionary, reservoir: false, contexts: false)
        try DictionaryExport.write(loaded, format: format, basis: basis, to: output)
        print("\(grouped(loaded.dictionary.regionCount)) regions exported as \(format.rawValue) → \(output)")
    }
}
