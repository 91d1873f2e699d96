import ArgumentParser
import EPCore
import EPFormats
import EPStore
import Foundation

/// `ep info`: what a dictionary is, how it was made, and its intrinsic metrics (docs/method.md).
struct Info: ParsableCommand {
    static let configuration = CommandConfiguration(abstract: "Summarise a dictionary and its intrinsic metrics.")

    @Argument(help: "Dictionary folder.")
    var dictionary: String

    @Option(parsing: .unconditional, help: "Regions with fewer members are left out of the metrics (as the reference's min_members).")
    var minMembers = 2

    @Flag(help: "Print JSON (the manifest and the metrics; NaN as null).")
    var json = false

    func validate() throws { try requirePositive(minMembers, flag: "--min-members", unit: "members") }

    func run() throws {
        let loaded = try DictionaryStore.load(dictionary, reservoir: false)
        let m = loaded.manifest
        if json {
            print(JSONValueEncoder.value(of: loaded.info(minMembers: minMembers)).rendered())
            return
        }
        let metrics = loaded.dictionary.intrinsicMetrics(minMembers: minMembers)
        let calibration = m.calibration
        print("dictionary \(dictionary): format \(m.formatVersion), written by \(m.toolName) \(m.toolVersion) on \(m.created)")
        print("  \(grouped(m.regionCount)) regions, d_model \(m.width), θ = \(fixed(m.threshold, 6))\(m.percentile.map { " (\(percentileLabel($0)), \(calibration.method))" } ?? " (\(calibration.method == "imported" ? "imported" : "given"))"), ‖center‖ = \(fixed(m.centerNorm, 4))")
        if let i = m.build.imported {
            print("  imported from \(i.source): \(i.pickledClass), pickle protocol \(i.pickleProtocol), SHA-256 \(i.sha256); batch history from \(i.batches == "metadata" ? "the metadata's batch size" : "the founders' rows"); reservoir \(i.reservoirKept ? "kept" : "dropped")")
        } else if calibration.method != "given" {
            print("  calibration: \(grouped(calibration.activationCount)) activations in \(calibration.batchCount) batches of \(grouped(calibration.batchSize))\(describe(calibration.source))")
        }
        let b = m.build
        let unit = b.text == nil ? "" : " windows"
        print("  build: \(grouped(b.activationCount)) activations in \(b.batchCount) batches of \(grouped(b.batchSize))\(unit); reservoir \(b.reservoir ? "yes (seed \(b.seed ?? 0))" : "no"); last new-region rate \(fixed(b.newRegionRate ?? 0, 4)); saturated \(b.saturated ? "yes" : "no")\(describe(b.source))")
        if let t = b.text {
            print("  from text: \(t.status.rawValue)\(t.stopReason.map { " (\($0))" } ?? ""); \(grouped(t.tokens)) tokens in \(grouped(t.windows)) windows of ≤ \(b.source?.contextLength ?? 0) tokens (\(t.windowMode)); BOS \(t.bosTokenID.map(String.init) ?? "none"); position 0 \(t.firstPositionExcluded ? "excluded" : "included"); model SHA-256 \(t.modelSHA256.prefix(16))…")
            let c = t.corpus
            print("  corpus: \(grouped(c.documents)) documents, \(fixed(Double(c.bytes) / 1e6, 1)) MB from \(c.files) file\(c.files == 1 ? "" : "s"); \(c.skippedLines) lines skipped, \(c.repairedDocuments) documents repaired, \(c.skippedDocuments) skipped")
        }
        print("metrics (regions with ≥ \(minMembers) members):")
        for line in summaryLines(metrics) { print("  \(line)") }
        for (name, value) in metrics.entries {
            let text = IntrinsicMetrics.integerKeys.contains(name) ? grouped(Int(value)) : value.isNaN ? "nan" : fixed(value, 6)
            print("  \(name.padding(toLength: 28, withPad: " ", startingAt: 0))\(text)")
        }
    }

    private func describe(_ source: ActivationSource?) -> String {
        guard let source else { return "" }
        var parts: [String] = []
        if let model = source.model { parts.append("model \(model)") }
        if let hook = source.hook { parts.append("hook \(hook)") }
        if let extractor = source.extractor { parts.append(extractor) }
        if let context = source.contextLength { parts.append("context \(context)") }
        if !source.inputs.isEmpty { parts.append("inputs " + source.inputs.joined(separator: ", ")) }
        return parts.isEmpty ? "" : "; " + parts.joined(separator: "; ")
    }

    /// The reference's `format_eval_summary` lines (docs/method.md), in its order, each only when its values exist.
    private func summaryLines(_ m: IntrinsicMetrics) -> [String] {
        guard let total = m["n_partitions"], total > 0 else { return ["Dictionary: empty"] }
        func has(_ key: String) -> Double? { m[key].flatMap { $0.isNaN ? nil : $0 } }
        var lines = ["Partitions: \(grouped(Int(m["n_partitions_nontrivial"] ?? 0))) nontrivial / \(grouped(Int(total))) total"]
        if let v = has("coverage") { lines.append("Coverage: \(fixed(100 * v, 1))%") }
        if let median = has("median_members"), let max = has("max_members") { lines.append("Members: median \(fixed(median, 0)), max \(grouped(Int(max)))") }
        if let v = has("gini") { lines.append("Gini: \(fixed(v, 3))") }
        if let e = has("effective_partitions"), let u = has("partition_utilisation") {
            lines.append("Effective: \(fixed(e, 0)) partitions (\(fixed(100 * u, 1))% utilisation)")
        }
        if let v = has("mean_intra_dist") { lines.append("Cohesion: \(fixed(v, 4)) mean intra-dist") }
        if let v = has("mean_nearest_inter_dist"), let s = has("separation_ratio") {
            lines.append("Separation: \(fixed(v, 4)) mean nearest-inter (\(fixed(s, 1))x threshold)")
        }
        if let v = has("silhouette") { lines.append("Silhouette: \(fixed(v, 3))") }
        if let v = has("max_exemplar_similarity") { lines.append("Redundancy: \(fixed(v, 3)) max exemplar similarity") }
        return lines
    }
}
