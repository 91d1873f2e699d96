import EPCore
import EPFormats
import EPPipeline
import EPRuntime
import EPStore
import Foundation

extension Build {
    /// `ep build --model --hook --corpus`: the main job.
    func runOnText() throws {
        let (modelName, requested, labels) = try textPreflight()
        let inputs = corpus.paths + modelInputs(modelName) + [calibration, center].compactMap { $0 }
        let kind = requested.count > 1 ? DictionaryStore.hookCollectionKind : labels.count == 1 ? DictionaryStore.outputKind : DictionaryStore.collectionKind
        try claimOutput(output, kind, inputs: inputs, force: force.force)
        let opened = try OpenedModel(modelName, threads: threading.threads)
        let settings = try textSettings(model: modelName, requested: requested, opened: opened)
        let hooks = settings.hooks

        let target = BuildOutput.of(output, hooks: hooks, labels: labels)
        try Self.refuseUnfinished(in: output, resume: resume)
        let builder = try TextDictionaryBuilder(settings: settings, model: opened.model, modelPath: opened.path, tokenizer: opened.tokenizer, output: target)
        try Self.runOnTerminal(builder) { try builder.run(resume: resume) }
    }

    /// Refuses to start a build over an unfinished one in `output`, unless it is resumed.
    static func refuseUnfinished(in output: String, resume: Bool) throws {
        if !resume, let unfinished = unfinishedDictionary(in: output) {
            throw CommandError("\(output): holds an unfinished build (\(unfinished)); continue it with --resume, or remove it to start afresh")
        }
    }

    /// Runs a long build from text (`run`) with Ctrl-C and SIGTERM stopping it cleanly, its notes and a progress line
    /// on stderr, and prints its closing report, which it returns.
    @discardableResult
    static func runOnTerminal(_ build: BuildObserving, _ run: () throws -> TextBuildSummary) throws -> TextBuildSummary {
        let interrupt = InterruptFlag(message: "stopping after the current batch and writing a resumable dictionary (Ctrl-C again to abort at once)")
        build.shouldStop = { interrupt.isRaised }
        let progress = ProgressLine()
        build.onNote = { line in
            progress.finish()
            FileHandle.standardError.write(Data((line + "\n").utf8))
        }
        build.onProgress = { p in progress.update(describe(p)) }
        let summary = try run()
        progress.finish()
        print(describe(summary))
        return summary
    }

    /// The checks of a build from text that need no model: the model name, the hooks asked for (in the order
    /// given) and the labels of the dictionaries of each hook.
    func textPreflight() throws -> (model: String, hooks: [String], labels: [String]) {
        guard let modelName = provenance.model else { throw CommandError("--corpus needs --model MODEL (a GGUF file or a short name such as smollm2)") }
        let requested = try provenance.hookList() + layerHooks()
        guard !requested.isEmpty else { throw CommandError("--corpus needs --hook NAME, e.g. blocks.15.hook_resid_post (or --layers 6,12,18)") }
        if let twice = requested.enumerated().first(where: { i, h in requested[..<i].contains(h) }) {
            throw CommandError("--hook: \(twice.element) is given twice")
        }
        guard seed >= 0 else { throw CommandError("--seed: expected a number ≥ 0, found \(seed)") }
        guard assignments == nil else { throw CommandError("--assignments works with activation files only") }
        let sources = [percentile != nil, calibration != nil, center != nil || threshold != nil].filter { $0 }.count
        guard sources <= 1 else {
            throw CommandError("give at most one of --percentile P[,P...], --calibration CALIB.json, or --center C.npy with --threshold T")
        }
        guard maxTokens >= 0 else { throw CommandError("--max-tokens: expected a number ≥ 0, found \(maxTokens)") }
        if (center == nil) != (threshold == nil) && calibration == nil {
            throw CommandError(center == nil ? "--threshold needs --center C.npy" : "--center needs --threshold T")
        }
        if resume && recalibrate {
            throw CommandError("--recalibrate with --resume: a resumed build keeps the calibration it was built with; to calibrate again, start the build afresh without --resume")
        }
        let given = calibration != nil || center != nil || threshold != nil
        if given && requested.count > 1 {
            throw CommandError("\(calibration != nil ? "--calibration" : "--center/--threshold"): a given calibration belongs to one hook, and \(requested.count) hooks were given; calibrate each hook with --percentile, or build the hooks one at a time")
        }
        let labels = given ? ["given"] : try (percentiles() ?? TextBuildSettings.defaultPercentiles).map(percentileLabel)
        return (modelName, requested, labels)
    }

    /// The settings of the build from text these flags describe, with `opened` (the model `model` names): the
    /// hooks `requested` in forward order, checked against the model.
    func textSettings(model modelName: String, requested: [String], opened: OpenedModel) throws -> TextBuildSettings {
        let points = try requested.map { try opened.model.hookPoint(named: $0) }
        let hooks = zip(points, requested).sorted { $0.0 < $1.0 }.map(\.1)
        var settings = TextBuildSettings(model: modelName, hooks: hooks, corpus: corpus.paths, threads: opened.model.threadCount)
        settings.corpusOptions = try corpus.options()
        settings.windows.context = provenance.contextLength ?? 128
        guard settings.windows.context <= opened.model.config.contextLength else {
            throw CommandError("--context \(settings.windows.context): the model takes at most \(opened.model.config.contextLength) tokens")
        }
        settings.windows.mode = windowMode
        settings.windows.minimumTokens = minWindow
        settings.windows.bos = try bos.token(for: opened.tokenizer)
        settings.windows.shuffleBuffer = shuffleBuffer
        settings.windows.seed = UInt64(seed)
        settings.extraction.extractor = extractor
        settings.extraction.excludeFirstPosition = !includeFirstPosition
        if let list = try percentiles() { settings.percentiles = list }
        if let calibration {
            settings.givenCalibration = try CalibrationRecord.read(path: calibration)
        } else if let center, let threshold {
            settings.givenCalibration = CalibrationRecord(calibration: try givenCalibration(center: center, threshold: threshold), calibrationTokens: nil, source: nil)
        }
        settings.method = method
        settings.calibrationTokens = calibrationTokens
        settings.batchWindows = batchWindows
        settings.maxTokens = maxTokens == 0 ? nil : maxTokens
        settings.saturationWindow = saturationWindow
        settings.checkpointEvery = checkpointEvery
        settings.reservoir = reservoir
        settings.recalibrate = recalibrate
        settings.activationDType = activationDtype ?? .f32
        try settings.validate()
        return settings
    }

    /// The hooks of `--layers L,L,…`: `blocks.L.hook_resid_post` each.
    func layerHooks() throws -> [String] {
        let list = try layers?.values("--layers", expected: "a comma-separated list of layer numbers such as 6,12,18", where: { $0 >= 0 })
        return (list ?? []).map { "blocks.\($0).hook_resid_post" }
    }

    /// A dictionary of an unfinished build from text in the output `root` (the root itself, a percentile folder, a
    /// hook folder or a percentile folder of a hook), named relative to the root; nil when there is none.
    static func unfinishedDictionary(in root: String) -> String? {
        func isFolder(_ path: String) -> Bool {
            var folder: ObjCBool = false
            return FileManager.default.fileExists(atPath: path, isDirectory: &folder) && folder.boolValue
        }
        var candidates = [""]
        for entry in OutputGuard.entries(of: root) where isFolder("\(root)/\(entry)") {
            candidates.append(entry)
            for inner in OutputGuard.entries(of: "\(root)/\(entry)") where isFolder("\(root)/\(entry)/\(inner)") { candidates.append("\(entry)/\(inner)") }
        }
        return candidates.first { relative in
            let path = relative.isEmpty ? root : "\(root)/\(relative)"
            return FileManager.default.fileExists(atPath: "\(path)/build_state.json")
                && (try? DictionaryStore.readManifest(path).build.text?.status) != .complete
        }.map { $0.isEmpty ? "the dictionary" : $0 }
    }

    /// One progress line.
    static func describe(_ p: BuildProgress) -> String {
        switch p.phase {
        case .calibrating:
            return "calibrating: \(grouped(p.calibrationRows))/\(grouped(p.calibrationTarget)) activations · \(grouped(p.tokens)) tokens read"
        case .building:
            let rate = p.seconds > 0 ? Double(p.tokensThisRun) / p.seconds : 0
            var parts = ["\(grouped(p.tokens))\(p.maxTokens.map { "/" + grouped($0) } ?? "") tokens", "\(grouped(Int(rate))) tokens/s"]
            for d in p.dictionaries {
                parts.append("\(d.label): \(grouped(d.regions)) regions, new-region rate \(fixed(d.newRegionRate ?? 0, 4))\(d.saturated ? " (saturated)" : "")")
            }
            if let budget = p.maxTokens, rate > 0, budget > p.tokens {
                parts.append("ETA \(duration(Double(budget - p.tokens) / rate))")
            }
            return parts.joined(separator: " · ")
        }
    }

    /// The closing report.
    static func describe(_ s: TextBuildSummary) -> String {
        var lines: [String] = []
        for d in s.dictionaries {
            lines.append("\(d.label): \(grouped(d.regions)) regions (θ = \(fixed(d.threshold, 6)))\(d.saturated ? ", saturated" : "") → \(d.path)")
        }
        let rate = s.seconds > 0 ? Double(s.tokensThisRun) / s.seconds : 0
        lines.append("stopped: \(s.stopReason) after \(grouped(s.tokens)) tokens, \(grouped(s.activations)) activations, \(grouped(s.windows)) windows, \(s.batches) batches\(s.resumedAtBatch.map { " (resumed at batch \($0))" } ?? "")")
        if s.tokensThisRun > 0 {
            let forward = s.extractionSeconds > 0 ? Double(s.tokensThisRun) / s.extractionSeconds : 0
            lines.append("this run: \(grouped(s.tokensThisRun)) tokens in \(fixed(s.seconds, 1)) s = \(grouped(Int(rate))) tokens/s; \(s.extractionLabel) \(fixed(s.extractionSeconds, 1)) s (\(grouped(Int(forward))) tokens/s), calibration \(fixed(s.calibrationSeconds, 1)) s\(s.calibrationReused ? " (reused)" : ""), clustering \(fixed(s.clusteringSeconds, 1)) s, writing \(fixed(s.writingSeconds, 1)) s; peak memory \(peakMemoryMegabytes()) MB")
        }
        let c = s.corpus
        var corpus = "corpus: \(grouped(c.documents)) documents, \(fixed(Double(c.bytes) / 1e6, 1)) MB from \(c.files) file\(c.files == 1 ? "" : "s")"
        let problems = [(c.skippedLines, "JSONL lines skipped"), (c.repairedDocuments, "documents with invalid UTF-8 repaired"), (c.skippedDocuments, "documents with invalid UTF-8 skipped"), (c.skippedBinaryFiles, "binary files skipped"), (c.skippedSpecialFiles, "special files skipped (pipes, sockets, devices, broken links)")]
        for (n, what) in problems where n > 0 { corpus += "; \(grouped(n)) \(what)" }
        lines.append(corpus)
        lines += c.examples.map { "  \($0)" }
        return lines.joined(separator: "\n")
    }
}

/// The process's peak resident memory in MB.
func peakMemoryMegabytes() -> Int {
    var usage = rusage()
    #if os(Linux)
    getrusage(RUSAGE_SELF.rawValue, &usage)
    return usage.ru_maxrss / 1024
    #else
    getrusage(RUSAGE_SELF, &usage)
    return usage.ru_maxrss / (1024 * 1024)
    #endif
}

/// A duration as `1h 02m`, `3m 05s` or `42s`.
func duration(_ seconds: Double) -> String {
    let s = Int(seconds.rounded())
    if s >= 3600 { return String(format: "%dh %02dm", s / 3600, (s % 3600) / 60) }
    if s >= 60 { return String(format: "%dm %02ds", s / 60, s % 60) }
    return "\(s)s"
}
