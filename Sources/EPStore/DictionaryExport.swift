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
    /// SAELens decoder rows (the exemplar directions by default). Returns what the user should know about the
    /// export (``notes(_:format:)``).
    @discardableResult
    public static func write(_ loaded: LoadedDictionary, format: Format, basis: DirectionBasis = .exemplar, to path: String) throws -> [String] {
        switch format {
        case .npy: try writeNPY(loaded, to: path)
        case .npz: try writeNPZ(loaded, to: path)
        case .saelens: try writeSAELens(loaded, basis: basis, to: path)
        }
        return notes(loaded, format: format)
    }

    /// What the user should know about an export of `loaded` in `format`: an SAELens export of a dictionary that
    /// records no hook has `hook_name` null, which SAELens's loader refuses.
    public static func notes(_ loaded: LoadedDictionary, format: Format) -> [String] {
        guard format == .saelens, loaded.manifest.build.source?.hook == nil else { return [] }
        return ["\(loaded.path) records no hook, so cfg.json's hook_name is null, which SAELens's loader refuses: build (ep build ACTS --hook) or import (ep import --hook) with the hook its activations came from"]
    }

    /// `center.npy`, `exemplar_direction.npy`, `mean_member_direction.npy`, `exemplar_index.npy`,
    /// `member_count.npy`, `member_coherence.npy`, `sum_dist_to_exemplar.npy`, `sum_sq_dist_to_exemplar.npy` and
    /// `threshold.json` in a folder.
    static func writeNPY(_ loaded: LoadedDictionary, to path: String) throws {
        let d = loaded.dictionary, r = d.regions, k = r.count
        try AtomicOutput.writeFolder(at: path) { folder in
            try NPY.write(d.center, shape: [d.width], to: "\(folder)/center.npy")
            for column in RegionColumn.exported { try column.writeNPY(r, folder: folder) }
            let m = loaded.manifest
            let threshold = JSONValueEncoder.value(of: ThresholdFile(
                threshold: m.threshold, percentile: m.percentile, method: m.calibration.method, centerNorm: m.centerNorm,
                width: m.width, regions: k))
            try AtomicOutput.write(string: threshold.rendered() + "\n", to: "\(folder)/threshold.json")
        }
    }

    /// The arrays of ``writeNPY(_:to:)`` in one `.npz`, with `threshold` and `percentile` (0-d float64; NaN when
    /// θ was given), and the closest/farthest member references (`closest_source` …, as in `regions.safetensors`).
    static func writeNPZ(_ loaded: LoadedDictionary, to path: String) throws {
        let d = loaded.dictionary, r = d.regions, k = r.count, w = d.width, c = ReferenceTable.capacity
        var npz = NPZWriter()
        npz.add("center", d.center, shape: [w])
        for column in RegionColumn.exported { column.add(r, to: &npz) }
        npz.add("threshold", [d.threshold], shape: [])
        npz.add("percentile", [loaded.manifest.percentile ?? .nan], shape: [])
        for (prefix, table) in [("closest", r.closest), ("farthest", r.farthest)] {
            let columns = ReferenceColumns(table, regions: k)
            npz.add("\(prefix)_source", columns.sources, shape: [k, c])
            npz.add("\(prefix)_position", columns.positions, shape: [k, c])
            npz.add("\(prefix)_distance", columns.distances, shape: [k, c])
        }
        npz.comment = npzMark
        try npz.write(to: path)
    }

    /// The ZIP comment of an `.npz` export, by which ep recognises one it wrote.
    public static let npzMark = "ep export (exemplar-partitioning dictionary)"

    /// The arrays of an npy export, as files.
    public static var npyFiles: [String] { ["center.npy"] + RegionColumn.exported.map { "\($0.name).npy" } }

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
        let config = SAELensConfig(
            width: w, regions: k,
            source: .init(model: source?.model, hook: hook, contextSize: source?.contextLength, prependBOS: prependBOS, dataset: source?.inputs.first),
            exemplarPartitioning: .init(
                basis: basis.rawValue, threshold: d.threshold, percentile: loaded.manifest.percentile,
                firstPositionExcluded: loaded.manifest.build.text.map(\.firstPositionExcluded), extractor: source?.extractor),
            hookLayer: layer)
        try AtomicOutput.writeFolder(at: path) { folder in
            try weights.write(to: "\(folder)/sae_weights.safetensors")
            try AtomicOutput.write(string: JSONValueEncoder.value(of: config).rendered() + "\n", to: "\(folder)/cfg.json")
        }
    }
}

/// `threshold.json` of an npy export.
struct ThresholdFile: Encodable {
    var threshold: Double
    var percentile: Double?
    var method: String
    var centerNorm: Double
    var width: Int
    var regions: Int

    enum CodingKeys: String, CodingKey {
        case threshold, percentile, method
        case centerNorm = "center_norm"
        case width = "d_model"
        case regions = "n_regions"
    }
}

/// `cfg.json` of an SAELens export (v6 fields, with the v5 top-level fields too; see
/// ``DictionaryExport/writeSAELens``).
struct SAELensConfig: Encodable {
    /// What SAELens records of the model and data, in `metadata` and (for SAELens 5.x) at the top level.
    struct Source: Encodable {
        var model: String?
        var hook: String?
        var contextSize: Int?
        var prependBOS: Bool?
        var dataset: String?
        var trainingVersion: String? = nil

        enum CodingKeys: String, CodingKey {
            case model = "model_name"
            case hook = "hook_name"
            case contextSize = "context_size"
            case prependBOS = "prepend_bos"
            case dataset = "dataset_path"
            case trainingVersion = "sae_lens_training_version"
        }
    }

    /// `metadata.exemplar_partitioning`.
    struct ExemplarPartitioning: Encodable {
        var basis: String
        var readout = "topk (k = 1): the region of largest (x − c)·u, ReLU'd"
        var threshold: Double
        var percentile: Double?
        var firstPositionExcluded: Bool?
        var extractor: String?

        init(basis: String, threshold: Double, percentile: Double?, firstPositionExcluded: Bool?, extractor: String?) {
            self.basis = basis
            self.threshold = threshold
            self.percentile = percentile
            self.firstPositionExcluded = firstPositionExcluded
            self.extractor = extractor
        }

        enum CodingKeys: String, CodingKey {
            case basis, readout, threshold, percentile
            case firstPositionExcluded = "first_position_excluded"
            case extractor
        }
    }

    var width: Int
    var regions: Int
    var source: Source
    var exemplarPartitioning: ExemplarPartitioning
    var hookLayer: Int?

    enum CodingKeys: String, CodingKey {
        case architecture, k
        case width = "d_in"
        case regions = "d_sae"
        case dtype, device
        case applyBDecToInput = "apply_b_dec_to_input"
        case normalizeActivations = "normalize_activations"
        case reshapeActivations = "reshape_activations"
        case metadata
        case hookLayer = "hook_layer"
        case hookHeadIndex = "hook_head_index"
        case activationFn = "activation_fn_str"
        case activationFnKwargs = "activation_fn_kwargs"
        case finetuningScalingFactor = "finetuning_scaling_factor"
        case neuronpediaID = "neuronpedia_id"
    }

    enum MetadataKeys: String, CodingKey {
        case exemplarPartitioning = "exemplar_partitioning"
    }

    func encode(to encoder: Encoder) throws {
        var c = encoder.container(keyedBy: CodingKeys.self)
        try c.encode("topk", forKey: .architecture)
        try c.encode(1, forKey: .k)
        try c.encode(width, forKey: .width)
        try c.encode(regions, forKey: .regions)
        try c.encode("float32", forKey: .dtype)
        try c.encode("cpu", forKey: .device)
        try c.encode(true, forKey: .applyBDecToInput)
        try c.encode("none", forKey: .normalizeActivations)
        try c.encode("none", forKey: .reshapeActivations)
        let metadata = c.superEncoder(forKey: .metadata)
        try source.encode(to: metadata)
        var m = metadata.container(keyedBy: MetadataKeys.self)
        try m.encode(exemplarPartitioning, forKey: .exemplarPartitioning)
        try source.encode(to: encoder)
        try c.encodeIfPresent(hookLayer, forKey: .hookLayer)
        try c.encodeNil(forKey: .hookHeadIndex)
        try c.encode("topk", forKey: .activationFn)
        try c.encode(["k": 1], forKey: .activationFnKwargs)
        try c.encode(false, forKey: .finetuningScalingFactor)
        try c.encodeNil(forKey: .neuronpediaID)
    }
}
