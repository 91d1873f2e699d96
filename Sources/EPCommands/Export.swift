import ArgumentParser
import EPCore
import EPFormats
import EPStore

/// `ep export`: a dictionary as plain arrays for other tools.
struct Export: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Export a dictionary as plain .npy arrays.",
        discussion: """
            --format npy writes a folder with center.npy (float32 [D]), exemplar_direction.npy and \
            mean_member_direction.npy (float32 [K, D]), exemplar_index.npy (int64 [K], the stream row that founded \
            each region), member_count.npy (int64 [K]), member_coherence.npy, sum_dist_to_exemplar.npy and \
            sum_sq_dist_to_exemplar.npy (float64 [K]), and threshold.json (θ, percentile, method, center norm, \
            d_model, n_regions).
            """)

    @Argument(help: "Dictionary folder.")
    var dictionary: String

    @Option(help: "Export format (npy).")
    var format: String

    @Option(name: [.short, .customLong("output")], help: "Folder to write (replaced atomically if it exists).")
    var output: String

    func run() throws {
        guard format == "npy" else { throw CommandError("--format \(format): unsupported; the supported format is npy") }
        let loaded = try DictionaryStore.load(dictionary, reservoir: false)
        let d = loaded.dictionary
        let r = d.regions
        let k = r.count
        try AtomicOutput.writeFolder(at: output) { folder in
            try NPY.write(d.center, shape: [d.width], to: "\(folder)/center.npy")
            try NPY.write(r.exemplarDirections, shape: [k, d.width], to: "\(folder)/exemplar_direction.npy")
            try NPY.write(r.meanMemberDirections, shape: [k, d.width], to: "\(folder)/mean_member_direction.npy")
            try NPY.write(r.exemplarRows, shape: [k], to: "\(folder)/exemplar_index.npy")
            try NPY.write(r.memberCounts, shape: [k], to: "\(folder)/member_count.npy")
            try NPY.write(r.memberCoherences, shape: [k], to: "\(folder)/member_coherence.npy")
            try NPY.write(r.sumDistances, shape: [k], to: "\(folder)/sum_dist_to_exemplar.npy")
            try NPY.write(r.sumSquaredDistances, shape: [k], to: "\(folder)/sum_sq_dist_to_exemplar.npy")
            let m = loaded.manifest
            let threshold = JSONValue.object(JSONObject([
                "threshold": .number(m.threshold),
                "percentile": m.percentile.map { .number($0) } ?? .null,
                "method": .string(m.calibration.method),
                "center_norm": .number(m.centerNorm),
                "d_model": .integer(Int64(m.width)),
                "n_regions": .integer(Int64(k)),
            ]))
            try AtomicOutput.write(string: threshold.rendered() + "\n", to: "\(folder)/threshold.json")
        }
        print("\(grouped(k)) regions exported as .npy → \(output)")
    }
}
