import EPCore
import EPFormats

/// A dictionary written for other tools: plain numpy arrays, one `.npz`, or an SAELens SAE folder.
public enum DictionaryExport {
    /// The export formats.
    public enum Format: String, Sendable, CaseIterable {
        /// A folder of `.npy` files and `threshold.json`.
        case npy
        /// One `.npz` file holding the same arrays plus `threshold`, `percentile` and the member references.
        case npz
        /// An SAELens folder: `cfg.json` + `sae_weights.safetensors` (`W_enc`, `W_dec`, `b_enc`, `b_dec`).
        case saelens
    }

    /// Writes `loaded` to `path` (a folder for `npy` and `saelens`, a file for `npz`), atomically. `basis` sets the
    /// SAELens decoder rows (the exemplar directions by default).
    public static func write(_ loaded: LoadedDictionary, format: Format, basis: DirectionBasis = .exemplar, to path: String) throws {
        switch format {
        case .npy: try writeNPY(loaded, to: path)
        case .npz: try writeNPZ(loaded, to: path)
        case .saelens: try writeSAELens(loaded, basis: basis, to: path)
        }
    }

    /// `center.npy`, `exemplar_direction.npy`, `mean_member_direction.npy`, `exemplar_index.npy`,
    /// `member_count.npy`, `member_coherence.npy`, `sum_dist_to_exemplar.npy`, `sum_sq_dist_to_exemplar.npy` and
    /// `threshold.json` in a folder.
    static func writeNPY(_ loaded: LoadedDictionary, to path: String) throws {
        let d = loaded.dictionary, r = d.regions, k = r.count
        try AtomicOutput.writeFolder(at: path) { folder in
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
    }

    /// The arrays of ``writeNPY(_:to:)`` in one `.npz`, with `threshold` and `percentile` (0-d float64; NaN when
    /// θ was given), and the closest/farthest member references (`closest_source` …, as in `regions.safetensors`).
    static func writeNPZ(_ loaded: LoadedDictionary, to path: String) throws {
        let d = loaded.dictionary, r = d.regions, k = r.count, w = d.width, c = ReferenceTable.capacity
        var npz = NPZWriter()
        npz.add("center", d.center, shape: [w])
        npz.add("exemplar_direction", r.exemplarDirections, shape: [k, w])
        npz.add("mean_member_direction", r.meanMemberDirections, shape: [k, w])
        npz.add("exemplar_index", r.exemplarRows, shape: [k])
        npz.add("member_count", r.memberCounts, shape: [k])
        npz.add("member_coherence", r.memberCoherences, shape: [k])
        npz.add("sum_dist_to_exemplar", r.sumDistances, shape: [k])
        npz.add("sum_sq_dist_to_exemplar", r.sumSquaredDistances, shape: [k])
        npz.add("threshold", [d.threshold], shape: [])
        npz.add("percentile", [loaded.manifest.percentile ?? .nan], shape: [])
        for (prefix, table) in [("closest", r.closest), ("farthest", r.farthest)] {
            var sources = [Int64](repeating: -1, count: k * c), positions = [Int32](repeating: -1, count: k * c)
            var distances = [Float](repeating: .nan, count: k * c)
            for region in 0..<k {
                for (i, m) in table.members(of: region).enumerated() {
                    sources[region * c + i] = m.reference.source
                    positions[region * c + i] = m.reference.position
                    distances[region * c + i] = m.distance
                }
            }
            npz.add("\(prefix)_source", sources, shape: [k, c])
            npz.add("\(prefix)_position", positions, shape: [k, c])
            npz.add("\(prefix)_distance", distances, shape: [k, c])
        }
        npz.comment = npzMark
        try npz.write(to: path)
    }

    /// The ZIP comment of an `.npz` export, by which ep recognises one it wrote.
    public static let npzMark = "ep export (exemplar-partitioning dictionary)"

    /// The arrays of an npy export, as files.
    public static let npyFiles = [
        "center.npy", "exemplar_direction.npy", "mean_member_direction.npy", "exemplar_index.npy", "member_count.npy",
        "member_coherence.npy", "sum_dist_to_exemplar.npy", "sum_sq_dist_to_exemplar.npy",
    ]

    /// An SAELens (v6, with the v5 top-level fields too) `topk` SAE with k = 1 that computes EP's top-1 readout:
    /// `W_dec` [K, D] = the basis rows (unit vectors), `W_enc` [D, K] = `W_decᵀ`, `b_dec` = the center c with
    /// `apply_b_dec_to_input` (so the pre-activation is `(x − c)·W_enc`, EP's signed projection), `b_enc` = 0;
    /// SAELens's TopK then keeps the largest projection, ReLU'd — the region whose direction is most aligned
    /// with the centered activation. `decode(f) = f·W_dec + c`.
    static func writeSAELens(_ loaded: LoadedDictionary, basis: DirectionBasis, to path: String) throws {
        let d = loaded.dictionary, r = d.regions, k = r.count, w = d.width
        let decoder = basis == .exemplar ? r.exemplarDirections : r.meanMemberDirections
        var encoder = [Float](repeating: 0, count: k * w)
        for j in 0..<k {
            for i in 0..<w { encoder[i * k + j] = decoder[j * w + i] }
        }
        var weights = SafetensorsWriter()
        weights.add("W_enc", shape: [w, k], values: encoder)
        weights.add("W_dec", shape: [k, w], values: decoder)
        weights.add("b_enc", shape: [k], values: [Float](repeating: 0, count: k))
        weights.add("b_dec", shape: [w], values: d.center)
        let source = loaded.manifest.build.source
        let hook = source?.hook
        let layer = hook.flatMap { h -> Int? in
            let parts = h.split(separator: ".")
            return parts.count >= 3 && parts[0] == "blocks" ? Int(parts[1]) : nil
        }
        let prependBOS = loaded.manifest.build.text.map { $0.bosTokenID != nil }
        func optional(_ s: String?) -> JSONValue { s.map { .string($0) } ?? .null }
        let metadata = JSONObject([
            "model_name": optional(source?.model),
            "hook_name": optional(hook),
            "context_size": source?.contextLength.map { .integer(Int64($0)) } ?? .null,
            "prepend_bos": prependBOS.map { .bool($0) } ?? .null,
            "dataset_path": optional(source?.inputs.first),
            "sae_lens_training_version": .null,
            "exemplar_partitioning": .object(JSONObject([
                "basis": .string(basis.rawValue),
                "readout": .string("topk (k = 1): the region of largest (x − c)·u, ReLU'd"),
                "threshold": .number(d.threshold),
                "percentile": loaded.manifest.percentile.map { .number($0) } ?? .null,
                "first_position_excluded": loaded.manifest.build.text.map { .bool($0.firstPositionExcluded) } ?? .null,
                "extractor": optional(source?.extractor),
            ])),
        ])
        var config = JSONObject([
            "architecture": .string("topk"),
            "k": .integer(1),
            "d_in": .integer(Int64(w)),
            "d_sae": .integer(Int64(k)),
            "dtype": .string("float32"),
            "device": .string("cpu"),
            "apply_b_dec_to_input": .bool(true),
            "normalize_activations": .string("none"),
            "reshape_activations": .string("none"),
            "metadata": .object(metadata),
        ])
        // SAELens 5.x reads these at the top level.
        for key in metadata.keys where key != "exemplar_partitioning" { config[key] = metadata[key] }
        config["hook_layer"] = layer.map { .integer(Int64($0)) } ?? .null
        config["hook_head_index"] = .null
        config["activation_fn_str"] = .string("topk")
        config["activation_fn_kwargs"] = .object(JSONObject(["k": .integer(1)]))
        config["finetuning_scaling_factor"] = .bool(false)
        config["neuronpedia_id"] = .null
        try AtomicOutput.writeFolder(at: path) { folder in
            try weights.write(to: "\(folder)/sae_weights.safetensors")
            try AtomicOutput.write(string: JSONValue.object(config).rendered() + "\n", to: "\(folder)/cfg.json")
        }
    }
}
