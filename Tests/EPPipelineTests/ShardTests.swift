import EPCore
import EPFormats
import EPRuntime
import EPStore
import EPTensors
import EPTestSupport
import Foundation
import Testing
@testable import EPPipeline

/// The shard plan, the shard file and the merge, in the library.
@Suite(.serialized) struct ShardTests {
    /// Balanced cuts: contiguous, non-empty, as even as the batch boundaries allow.
    @Test func cutsAreContiguousNonEmptyAndBalanced() {
        let cases: [([Int], Int)] = [
            (Array(repeating: 100, count: 12), 3), (Array(repeating: 100, count: 12), 5), ([1000, 1, 1, 1, 1, 1, 1, 1], 3),
            ([5, 5, 5], 3), ([7], 1), ((1...40).map { $0 * 3 }, 7), ([1, 1, 1, 1, 1000], 4),
        ]
        for (tokens, parts) in cases {
            let cuts = ShardPlanner.balancedCuts(tokens: tokens, parts: parts)
            #expect(cuts.count == parts + 1 && cuts.first == 0 && cuts.last == tokens.count, "\(tokens) in \(parts)")
            #expect(zip(cuts, cuts.dropFirst()).allSatisfy { $0 < $1 }, "every shard holds a batch: \(cuts)")
            // Each boundary lies within one batch of the ideal one.
            let total = tokens.reduce(0, +)
            var cumulative = [0]
            for t in tokens { cumulative.append(cumulative.last! + t) }
            for i in 1..<parts {
                let ideal = Double(total) * Double(i) / Double(parts)
                let nearest = cumulative.indices.min { abs(Double(cumulative[$0]) - ideal) < abs(Double(cumulative[$1]) - ideal) }!
                let forced = max(i, min(nearest, tokens.count - (parts - i)))
                #expect(abs(cuts[i] - forced) <= 1, "\(tokens) in \(parts): cut \(i) at \(cuts[i]), nearest feasible \(forced)")
            }
        }
        let even = ShardPlanner.balancedCuts(tokens: Array(repeating: 100, count: 12), parts: 3)
        #expect(even == [0, 4, 8, 12])
    }

    /// The plan holds the build's windows in the build's order: each shard's window range and digest are those of
    /// the stream's windows, the batches are whole, and the plan ends where the build stops (the budget, or the
    /// last calibration batch when that comes later). The JSON reads back to the same plan; an edited plan is
    /// refused.
    @Test func planFollowsTheBuildsWindowsAndRoundTrips() throws {
        let folder = makeTemporaryFolder("ep-shard-plan")
        try SmallCorpus.write(to: folder + "/corpus.jsonl", documents: 12)
        let (model, path, tokenizer) = try SmolLM2.load()
        var settings = try smallBuildSettings(corpus: folder + "/corpus.jsonl")
        settings.activationDType = .f16
        let record = ShardPlan.Model(name: "smollm2", path: path, sha256: try ModelIdentity.sha256(of: path), width: model.config.modelWidth, hookWidths: [576])
        let plan = try ShardPlanner.plan(settings: settings, model: record, tokenizer: tokenizer, shards: 3, arguments: ["x"], workingDirectory: folder)

        // The stream's windows, as the build reads them.
        let stream = try WindowStream(corpus: try CorpusReader(paths: settings.corpus, options: settings.corpusOptions), settings: settings.windows) {
            tokenizer.encode($0, parseSpecial: true, addSpecial: false)
        }
        var windows: [ContextWindow] = []
        while let w = try stream.next() { windows.append(w) }
        #expect(plan.corpus.windows == Int64(windows.count) && plan.corpus.exhausted)
        #expect(plan.corpus.tokens == windows.reduce(0) { $0 + $1.tokens.count })
        #expect(plan.corpus.windowsSHA256 == WindowDigest.of(windows))
        #expect(plan.corpus.batches == (windows.count + settings.batchWindows - 1) / settings.batchWindows)
        #expect(plan.shards.count == 3 && plan.shards.first?.batches.lowerBound == 0 && plan.shards.last?.batches.upperBound == plan.corpus.batches)
        for s in plan.shards {
            #expect(s.windows.lowerBound == Int64(s.batches.lowerBound * settings.batchWindows))
            let own = windows[Int(s.windows.lowerBound)..<Int(s.windows.upperBound)]
            #expect(s.windowsSHA256 == WindowDigest.of(own), "shard \(s.index)")
            #expect(s.tokens == own.reduce(0) { $0 + $1.tokens.count })
            #expect(s.rows == own.reduce(0) { $0 + settings.extraction.positions(inWindowOf: $1.tokens.count).count })
        }
        // Balanced: no shard has more than its share plus one batch of tokens.
        let largestBatch = stride(from: 0, to: windows.count, by: settings.batchWindows).map { windows[$0..<min($0 + settings.batchWindows, windows.count)].reduce(0) { $0 + $1.tokens.count } }.max()!
        #expect(plan.shards.allSatisfy { $0.tokens <= plan.corpus.tokens / 3 + largestBatch })

        try plan.write(to: folder + "/plan.json")
        let read = try ShardPlan.read(path: folder + "/plan.json")
        #expect(read.planID == plan.planID && read.computedID == plan.planID)
        #expect(read.settings.json == settings.json && read.shards == plan.shards && read.corpus == plan.corpus && read.model == plan.model)
        let text = try String(contentsOfFile: folder + "/plan.json", encoding: .utf8)
        try AtomicOutput.write(string: text.replacingOccurrences(of: "\"seed\": 11", with: "\"seed\": 12"), to: folder + "/edited.json")
        #expect(throws: FileFormatError.self) { try ShardPlan.read(path: folder + "/edited.json") }

        // A budget: the plan ends at the batch that reaches it, unless the calibration reads further.
        var budgeted = settings
        budgeted.maxTokens = 700
        let short = try ShardPlanner.plan(settings: budgeted, model: record, tokenizer: tokenizer, shards: 2, arguments: [], workingDirectory: folder)
        let needed = max(short.corpus.budgetBatches!, short.corpus.calibrationBatches!)
        #expect(short.corpus.batches == needed && !short.corpus.exhausted)
        let before = windows.prefix((short.corpus.budgetBatches! - 1) * settings.batchWindows).reduce(0) { $0 + $1.tokens.count }
        #expect(before < 700 && short.corpus.windowsSHA256 == WindowDigest.of(windows.prefix(Int(short.corpus.windows))))
        budgeted.calibrationTokens = 2000
        let longer = try ShardPlanner.plan(settings: budgeted, model: record, tokenizer: tokenizer, shards: 2, arguments: [], workingDirectory: folder)
        #expect(longer.corpus.batches == longer.corpus.calibrationBatches && longer.corpus.batches > longer.corpus.budgetBatches!)

        #expect(throws: PipelineError.self) { try ShardPlanner.plan(settings: settings, model: record, tokenizer: tokenizer, shards: 99, arguments: [], workingDirectory: folder) }
    }

    /// A shard written by the writer reads back as the batches it was given (f16, bf16 and f32, two hooks); a
    /// damaged byte, another plan and another index are refused, naming the file.
    @Test func shardFileRoundTripAndRefusals() throws {
        let folder = makeTemporaryFolder("ep-shard-file")
        var settings = TextBuildSettings(model: "m", hooks: ["hook_a", "hook_b"], corpus: ["c"], threads: 1)
        settings.batchWindows = 2
        var g = SeededGenerator(seed: 5)
        let windows = (0..<5).map { i in
            ContextWindow(id: Int64(2 + i), tokens: (0..<(4 + i)).map { _ in Int32(g.uniform(below: 1000)) }, origin: "c:\(i + 1)")
        }
        for dtype in ActivationDType.allCases {
            settings.activationDType = dtype
            var plan = ShardPlan(
                planID: "", created: "now", epVersion: EPVersion.current, arguments: [], workingDirectory: "/", model: ShardPlan.Model(name: "m", path: "/m", sha256: "00", width: 3, hookWidths: [3, 3]),
                settings: settings,
                corpus: ShardPlan.Corpus(windows: 7, tokens: 0, rows: 0, batches: 4, windowsSHA256: "", exhausted: true, calibrationBatches: nil, budgetBatches: nil),
                shards: [
                    ShardPlan.Shard(index: 0, batches: 0..<1, windows: 0..<2, tokens: 0, rows: 0, windowsSHA256: ""),
                    ShardPlan.Shard(index: 1, batches: 1..<4, windows: 2..<7, tokens: 0, rows: 0, windowsSHA256: ""),
                ])
            let rows = windows.reduce(0) { $0 + settings.extraction.positions(inWindowOf: $1.tokens.count).count }
            plan.shards[1].rows = rows
            plan.shards[1].tokens = windows.reduce(0) { $0 + $1.tokens.count }
            plan.shards[1].windowsSHA256 = WindowDigest.of(windows)
            plan.planID = plan.computedID
            let path = "\(folder)/shard-\(dtype.rawValue).safetensors"
            let batchWindows = [2, 2, 1]
            let corpus = (0..<3).map { i in
                var c = CorpusCounts()
                c.files = 1
                c.documents = 2 + i
                c.bytes = 100 * i
                return c
            }
            let writer = try ShardWriter(path: path, plan: plan, shard: plan.shards[1], windows: windows, batchWindows: batchWindows, batchCorpus: corpus)
            var expected: [ActivationBatch] = []
            var next = 0
            for count in batchWindows {
                let part = Array(windows[next..<(next + count)])
                next += count
                var references: [RowReference] = []
                for w in part { for p in settings.extraction.positions(inWindowOf: w.tokens.count) { references.append(RowReference(source: w.id, position: Int32(p))) } }
                var batch = ActivationBatch(
                    hookActivations: (0..<2).map { _ in Matrix(rows: references.count, columns: 3, storage: (0..<(references.count * 3)).map { _ in Float(g.uniform(below: 2000)) / 7 - 100 }) },
                    references: references, windows: part)
                try dtype.round(&batch, hooks: settings.hooks)
                try writer.append(batch)
                expected.append(batch)
            }
            #expect(!FileManager.default.fileExists(atPath: path), "nothing at the shard's path before the commit")
            try writer.commit()
            let shard = try ShardFile(path: path, plan: plan, index: 1)
            #expect(shard.windows == windows && shard.batchWindows == batchWindows && shard.batchCorpus == corpus)
            for (i, batch) in expected.enumerated() {
                let read = try shard.batch(i, hooks: [0, 1])
                #expect(read.references == batch.references && read.windows == batch.windows, "\(dtype) batch \(i)")
                #expect(read.hookActivations[0] == batch.hookActivations[0] && read.hookActivations[1] == batch.hookActivations[1], "\(dtype) batch \(i)")
                let one = try shard.batch(i, hooks: [1])
                #expect(one.hookActivations[0] == nil && one.hookActivations[1] == batch.hookActivations[1])
            }
            // Another index, another plan.
            #expect(ShardFile.check(path: path, plan: plan, index: 0)?.contains("holds shard 1 of the plan, not shard 0") == true)
            var other = plan
            other.settings.windows.seed = 99
            other.planID = other.computedID
            #expect(ShardFile.check(path: path, plan: other, index: 1)?.contains("a shard of another plan") == true)
            // A damaged activation byte is found when its batch is read.
            let info = try SafetensorsFile(path: path).info("activations.hook_b")
            var bytes = try fileBytes(path)
            bytes[info.byteRange.lowerBound + info.byteRange.count - 1] ^= 0x40
            try AtomicOutput.write(bytes, to: path)
            let damaged = try ShardFile(path: path, plan: plan, index: 1)
            #expect(throws: PipelineError.self) { try damaged.batch(2, hooks: [1]) }
            do { _ = try damaged.batch(2, hooks: [1]) } catch { #expect("\(error)".contains("\(path): the activations of hook_b in batch 3 are damaged")) }
            _ = try damaged.batch(2, hooks: [0])
            // Truncated.
            try AtomicOutput.write(Array(bytes.prefix(bytes.count / 2)), to: path)
            #expect(ShardFile.check(path: path, plan: plan, index: 1)?.contains("truncated") == true)
        }
    }

    /// Plan, extract the shards out of order (in this process), merge: the dictionaries of a build in one process
    /// with the same settings (f16 activations), byte for byte; a merge stopped half-way and resumed gives the same.
    @Test func mergedShardsAreTheBuildInOneProcess() throws {
        let folder = makeTemporaryFolder("ep-shard-merge")
        try SmallCorpus.write(to: folder + "/corpus.jsonl", documents: 12)
        let (model, path, tokenizer) = try SmolLM2.load()
        var settings = try smallBuildSettings(corpus: folder + "/corpus.jsonl", percentiles: [2, 8])
        settings.activationDType = .bf16
        let cache = CalibrationCache(folder: folder + "/cache")
        let whole = try TextDictionaryBuilder(settings: settings, model: model, modelPath: path, tokenizer: tokenizer, output: .multiple(folder: folder + "/whole", labels: ["p2", "p8"]), cache: cache)
        _ = try whole.run()
        let manifest = try DictionaryStore.readManifest(folder + "/whole/p2")
        #expect(manifest.build.text?.activationDType == "bf16")

        let record = ShardPlan.Model(name: "smollm2", path: path, sha256: try ModelIdentity.sha256(of: path), width: 576, hookWidths: [576])
        let plan = try ShardPlanner.plan(settings: settings, model: record, tokenizer: tokenizer, shards: 3, arguments: [], workingDirectory: folder)
        let run = ShardRun(folder + "/run")
        try FileManager.default.createDirectory(atPath: run.shardsFolder, withIntermediateDirectories: true)
        try plan.write(to: run.planPath)
        for index in [2, 0, 1] {
            let extraction = try ShardExtraction(run: run, plan: plan, index: index)
            let summary = try extraction.extract { (model, path, tokenizer) }
            #expect(summary.rows == plan.shards[index].rows)
            #expect(try ShardStatusRecord.read(path: run.statusPath(index)).state == .done)
        }
        // Its own calibration (another cache), so that the merge calibrates from the shards.
        let merge = ShardMerge(run: run, plan: plan, output: folder + "/merged", cache: CalibrationCache(folder: folder + "/cache2"))
        var batches = 0
        merge.shouldStop = { batches >= 3 }
        merge.onProgress = { p in if p.phase == .building { batches += 1 } }
        let stopped = try merge.merge(resume: false)
        #expect(stopped.stopReason == .interrupted)
        #expect(try MergeStatusRecord.read(path: run.mergeStatusPath).state == .interrupted)
        let resumed = ShardMerge(run: run, plan: plan, output: folder + "/merged", cache: CalibrationCache(folder: folder + "/cache2"))
        let summary = try resumed.merge(resume: true)
        #expect(summary.stopReason == .corpusExhausted && summary.resumedAtBatch != nil)
        for label in ["p2", "p8"] {
            #expect(try deterministicFiles("\(folder)/merged/\(label)") == deterministicFiles("\(folder)/whole/\(label)"), "\(label)")
            let a = try DictionaryStore.readManifest("\(folder)/merged/\(label)"), b = try DictionaryStore.readManifest("\(folder)/whole/\(label)")
            #expect(a.build == b.build && a.calibration == b.calibration, "\(label)")
        }
        #expect(try MergeStatusRecord.read(path: run.mergeStatusPath).state == .done)
    }
}
