import ArgumentParser
import EPCore
import EPFormats
import EPPipeline
import EPRuntime
import EPStore
import Foundation

/// `ep match`: the one-to-one correspondence between two dictionaries' regions.
struct Match: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Match two dictionaries' regions one to one (across layers, checkpoints, seeds or models of one width).",
        discussion: """
            The exact assignment (Jonker–Volgenant) that maximises the total cosine between the regions' directions \
            (--basis exemplar or mean). Each pair's cosine distance is also given in units of each side's θ; a region \
            whose partner lies within its own θ is "matched within θ". The larger dictionary's extra regions are listed \
            as unmatched. Logit-lens tokens come from the models the dictionaries record (or --model-a / --model-b); \
            --no-lens skips them. Dictionaries of different widths cannot be compared and are refused.
            """)

    @Argument(help: "Dictionary A.")
    var a: String

    @Argument(help: "Dictionary B.")
    var b: String

    @Option(help: "Directions compared: exemplar or mean.")
    var basis: DirectionBasis = .exemplar

    @Option(parsing: .unconditional, help: "Pairs and unmatched regions listed from each end.")
    var top = 10

    @Option(help: "Model for A's logit lens (default: the one A records).")
    var modelA: String?

    @Option(help: "Model for B's logit lens (default: the one B records).")
    var modelB: String?

    @Flag(help: "Do not compute logit-lens tokens.")
    var noLens = false

    @Option(parsing: .unconditional, help: "Logit-lens tokens shown per region.")
    var lensTokens = 4

    @Flag(help: "Print JSON: the summary and every pair.")
    var json = false

    @OptionGroup var threading: ThreadOptions

    func validate() throws { try requirePositive(top, flag: "--top", unit: "regions") }

    func run() throws {
        let da = try DictionaryStore.load(a, reservoir: false, contexts: false)
        let db = try DictionaryStore.load(b, reservoir: false, contexts: false)
        guard da.dictionary.width == db.dictionary.width else {
            throw CommandError("\(a) has width \(da.dictionary.width) and \(b) has width \(db.dictionary.width): directions of different widths cannot be compared")
        }
        let started = Date()
        let m = try DictionaryMatching(da.dictionary, db.dictionary, basis: basis)
        let seconds = Date().timeIntervalSince(started)
        let lens = noLens ? nil : try lensTokens(da, db, m)
        let cosines = m.pairs.map(\.cosine)
        let withinA = m.shareWithinThresholdA, withinB = m.shareWithinThresholdB
        if json {
            print(JSONValueEncoder.value(of: DictionaryMatchReport(m, a: a, b: b, basis: basis, seconds: seconds)).rendered())
            return
        }
        print("A \(a): \(grouped(da.dictionary.regionCount)) regions, θ = \(fixed(m.thresholdA, 4))\(describe(da))")
        print("B \(b): \(grouped(db.dictionary.regionCount)) regions, θ = \(fixed(m.thresholdB, 4))\(describe(db))")
        print("\(grouped(m.pairs.count)) pairs by \(basis.rawValue) cosine in \(fixed(seconds, 2)) s; unmatched: \(m.unmatchedA.count) of A, \(m.unmatchedB.count) of B")
        if !cosines.isEmpty {
            let sorted = cosines.sorted()
            func q(_ p: Double) -> String { fixed(Percentile.ofSorted(sorted, fraction: p), 4) }
            print("cosine of pairs: mean \(fixed(cosines.reduce(0, +) / Double(cosines.count), 4)), median \(q(0.5)), p10 \(q(0.1)), p90 \(q(0.9)), min \(q(0)), max \(q(1))")
        }
        print("matched within θ: \(fixed(100 * withinA, 1)) % of A's regions (θ_A), \(fixed(100 * withinB, 1)) % of B's (θ_B)")
        let ra = da.dictionary.regions, rb = db.dictionary.regions
        func lensText(_ side: Int, _ id: Int) -> String {
            guard let lens else { return "" }
            return (side == 0 ? lens.a[id] : lens.b[id]).map { quotedToken($0.text) }.joined(separator: " ")
        }
        func pairRows(_ pairs: ArraySlice<RegionPair>) -> String {
            var rows = [["A", "B", "cosine", "d/θ_A", "d/θ_B", "members A", "members B", "lens A", "lens B"]]
            for p in pairs {
                rows.append([String(p.a), String(p.b), fixed(p.cosine, 4), fixed(p.distance / m.thresholdA, 3), fixed(p.distance / m.thresholdB, 3),
                             grouped(Int(ra.memberCounts[p.a])), grouped(Int(rb.memberCounts[p.b])), lensText(0, p.a), lensText(1, p.b)])
            }
            return alignedColumns(rows, rightAligned: [0, 1, 2, 3, 4, 5, 6])
        }
        print("\nclosest pairs:")
        print(pairRows(m.pairs.prefix(top)))
        print("\nfarthest pairs:")
        print(pairRows(m.pairs.suffix(top)))
        for (label, unmatched, counts, side) in [("A", m.unmatchedA, ra.memberCounts, 0), ("B", m.unmatchedB, rb.memberCounts, 1)] where !unmatched.isEmpty {
            print("\nunmatched regions of \(label) (largest first):")
            let largest = unmatched.sorted { counts[$0] > counts[$1] }.prefix(top)
            print(alignedColumns([["region", "members", "lens"]] + largest.map { [String($0), grouped(Int(counts[$0])), lensText(side, $0)] }, rightAligned: [0, 1]))
        }
    }

    private func describe(_ d: LoadedDictionary) -> String {
        let s = d.manifest.build.source
        return [s?.model.map { "model \($0)" }, s?.hook, d.manifest.percentile.map(percentileLabel)].compactMap { $0 }.map { "; \($0)" }.joined()
    }

    /// Logit-lens tokens of every region of both sides, each through its own model (loaded once when both are the
    /// same); nil when a side records no model and none is given.
    private func lensTokens(_ da: LoadedDictionary, _ db: LoadedDictionary, _ m: DictionaryMatching) throws -> (a: [[LensToken]], b: [[LensToken]])? {
        guard let nameA = modelA ?? da.manifest.build.source?.model, let nameB = modelB ?? db.manifest.build.source?.model else { return nil }
        let openedA = try OpenedModel(nameA, threads: threading.threads)
        try openedA.requireSameModel(as: da.manifest, dictionary: a)
        let openedB = (try? ModelLocator.resolve(nameB)) == openedA.path ? openedA : try OpenedModel(nameB, threads: threading.threads)
        try openedB.requireSameModel(as: db.manifest, dictionary: b)
        func lens(_ d: LoadedDictionary, _ opened: OpenedModel) throws -> [[LensToken]] {
            let r = d.dictionary.regions
            let directions = (0..<r.count).map { Array(basis == .exemplar ? r.exemplar($0) : r.meanMemberDirection($0)) }
            return try RegionReader(d, model: opened.model, tokenizer: opened.tokenizer).lens(directions, count: lensTokens)
        }
        return (try lens(da, openedA), try lens(db, openedB))
    }
}
