import ArgumentParser
import EPCore
import EPFormats
import EPPipeline
import EPRuntime
import EPStore
import Foundation

/// `ep shards`: a build from text split across processes or machines — plan, extract shards anywhere, merge once
/// in order into the dictionary `ep build` writes in one process. The contract is in docs/shards.md.
struct Shards: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Build a dictionary from text in shards: plan, extract the shards anywhere, merge them in order.",
        discussion: """
            ep shards plan --shards N -o RUN <the flags of ep build from text> writes RUN/plan.json: the settings, the \
            model (SHA-256) and the windows the build in one process would read, cut into N shards. ep shards extract \
            RUN --index I (or SLURM_ARRAY_TASK_ID) writes RUN/shards/shard-0000I.safetensors; run it for every shard, \
            in any order, on any machine where the model and corpus paths resolve, as often as you like. ep shards \
            merge RUN -o DICT clusters the shards in plan order as they appear and writes the dictionary ep build \
            writes with the same settings and --activation-dtype (byte for byte). ep shards status RUN [--json] \
            says what is done. See docs/shards.md.
            """,
        subcommands: [ShardsPlan.self, ShardsExtract.self, ShardsMerge.self, ShardsStatus.self])
}

/// Exit codes of `ep shards extract` (docs/shards.md).
enum ShardExitCode {
    /// Another process is extracting the same shard (its lock is held): try again later.
    static let busy: Int32 = 75
    /// Stopped by a signal: 128 + the signal (130 for SIGINT, 143 for SIGTERM).
    static func interrupted(_ signal: Int32?) -> Int32 { 128 + (signal ?? SIGTERM) }
}

/// Prints `Error: message` on stderr and ends with `code`.
private func fail(_ message: String, code: Int32) -> ExitCode {
    FileHandle.standardError.write(Data("Error: \(message)\n".utf8))
    return ExitCode(code)
}

/// Reads the plan of the run folder `folder` and checks that this ep made it.
func readPlan(_ run: ShardRun) throws -> ShardPlan {
    guard FileManager.default.fileExists(atPath: run.planPath) else {
        throw CommandError("\(run.folder): no plan.json; make the plan first with ep shards plan --shards N -o \(run.folder) …")
    }
    let plan = try ShardPlan.read(path: run.planPath)
    guard plan.epVersion == EPVersion.current else {
        throw CommandError("\(run.planPath): made by ep \(plan.epVersion), and this is ep \(EPVersion.current); plan, extraction and merge must use the same ep (its model runtime decides the activations)")
    }
    return plan
}

/// `path` made absolute against the current directory.
func absolutePath(_ path: String) -> String {
    let full = path.hasPrefix("/") ? path : FileManager.default.currentDirectoryPath + "/" + path
    return URL(fileURLWithPath: full).standardizedFileURL.path
}

/// The output of a build (or merge) with `settings`: one dictionary, a folder of percentiles, or a folder of hooks.
func buildOutputKind(_ settings: TextBuildSettings) -> OutputKind {
    let labels = settings.givenCalibration == nil ? settings.percentiles.count : 1
    return settings.hooks.count > 1 ? DictionaryStore.hookCollectionKind : labels == 1 ? DictionaryStore.outputKind : DictionaryStore.collectionKind
}

/// `ep shards plan`.
struct ShardsPlan: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "plan",
        abstract: "Plan a sharded build: the settings, the model and the windows of the build, cut into shards.",
        discussion: """
            Takes every flag of a build from text (ep build --help: --model, --hook/--layers, --corpus, --percentile, \
            --context, --batch-windows, --max-tokens, --seed, --threads, …) and reads the corpus as that build would \
            (tokenizing only), to where it would stop: the token budget, or the end of the corpus. The batches are \
            cut into --shards contiguous shards of whole batches, balanced by tokens. The model runs with --threads \
            threads in every extraction (forward results can depend on the split across threads), so give the \
            threads of the machines that will extract. A plan that gives the same plan as the one in RUN leaves RUN \
            as it is; another plan replaces RUN and its shards.
            """)

    @Option(parsing: .unconditional, help: "Number of shards (at most the number of batches).")
    var shards: Int

    @Option(name: [.short, .customLong("output")], help: "The run folder to write (RUN/plan.json; the shards go to RUN/shards).")
    var output: String

    @Option(help: "Precision of the stored activations: f16 (default), bf16 or f32. The merged dictionary is the one ep build writes with --activation-dtype set to it.")
    var shardDtype: ActivationDType?

    @Argument(parsing: .allUnrecognized, help: "The flags of the build from text (see ep build --help).")
    var buildArguments: [String] = []

    func validate() throws { try requirePositive(shards, flag: "--shards", unit: "shards") }

    func run() throws {
        let build: Build
        do {
            build = try Build.parse(buildArguments + ["--output", output])
        } catch {
            throw CommandError(Build.message(for: error))
        }
        guard !build.corpus.paths.isEmpty else { throw CommandError("ep shards plan plans a build from text: give --model, --hook and --corpus as to ep build") }
        guard build.input.activations.isEmpty else {
            throw CommandError("ep shards plan plans a build from text; activation files (\(build.input.activations.joined(separator: " "))) are not sharded")
        }
        guard !build.resume else { throw CommandError("--resume belongs to ep shards merge (ep shards merge RUN -o DICT --resume)") }
        if let shardDtype, let given = build.activationDtype, shardDtype != given {
            throw CommandError("--shard-dtype \(shardDtype.rawValue) and --activation-dtype \(given.rawValue) disagree; give one (they name the same setting)")
        }
        let dtype = shardDtype ?? build.activationDtype ?? .f16
        if build.corpus.paths.contains("-") {
            throw CommandError("--corpus -: a sharded build reads the corpus again in every extraction step, and standard input cannot be read twice; save it to a file and give that")
        }
        let (modelName, requested, _) = try build.textPreflight()
        let inputs = build.corpus.paths + modelInputs(modelName) + [build.calibration, build.center].compactMap { $0 }
        let claim = try claimOutput(output, ShardRun.outputKind, inputs: inputs, force: build.force.force)
        let opened = try OpenedModel(modelName, threads: build.threading.threads)
        var settings = try build.textSettings(model: modelName, requested: requested, opened: opened)
        settings.activationDType = dtype
        let points = try settings.hooks.map { try opened.model.hookPoint(named: $0) }
        let model = ShardPlan.Model(
            name: modelName, path: absolutePath(opened.path), sha256: try ModelIdentity.sha256(of: opened.path), width: opened.model.config.modelWidth,
            hookWidths: points.map { opened.model.width(of: $0) })
        let progress = ProgressLine()
        let started = Date()
        let plan = try ShardPlanner.plan(
            settings: settings, model: model, tokenizer: opened.tokenizer, shards: shards, arguments: Array(CommandLine.arguments.dropFirst()),
            workingDirectory: FileManager.default.currentDirectoryPath
        ) { p in
            progress.update("reading the corpus: \(grouped(Int(p.windows))) windows, \(grouped(p.tokens)) tokens, \(p.batches) batches")
        }
        progress.finish()
        let run = ShardRun(claim.path)
        let previous = try? ShardPlan.read(path: run.planPath)
        if previous?.planID == plan.planID {
            print("plan \(plan.planID.prefix(12)) unchanged: \(run.planPath) already holds it (shards already extracted are kept)")
        } else {
            try AtomicOutput.writeFolder(at: run.folder) { folder in
                for sub in ["shards", "status", "logs"] {
                    try FileManager.default.createDirectory(atPath: "\(folder)/\(sub)", withIntermediateDirectories: false)
                }
                try plan.write(to: "\(folder)/plan.json")
            }
            if let previous { note("\(run.folder): replaced the plan \(previous.planID.prefix(12)) and its shards") }
        }
        print(Self.describe(plan, run: run, seconds: Date().timeIntervalSince(started)))
    }

    /// What the plan holds, and what to run next.
    static func describe(_ plan: ShardPlan, run: ShardRun, seconds: Double) -> String {
        let c = plan.corpus
        var lines = [
            "plan \(plan.planID.prefix(12)): \(plan.shards.count) shards of \(c.batches) batches (\(grouped(Int(c.windows))) windows, \(grouped(c.tokens)) tokens, \(grouped(c.rows)) activations per hook) in \(fixed(seconds, 1)) s → \(run.planPath)",
            "model \(plan.model.name) (SHA-256 \(plan.model.sha256.prefix(12))…), \(plan.settings.hooks.joined(separator: ", ")), \(plan.settings.threads) threads; activations stored as \(plan.settings.activationDType.rawValue)",
        ]
        let end = c.budgetBatches.map { "the token budget at batch \($0)" } ?? (c.exhausted ? "the end of the corpus" : "batch \(c.batches)")
        lines.append("the build ends at \(end)\(c.calibrationBatches.map { $0 > (c.budgetBatches ?? 0) ? " (its calibration reads \($0) batches)" : "" } ?? "")")
        for s in plan.shards.prefix(16) {
            lines.append("  shard \(s.index): batches \(s.batches.lowerBound)..<\(s.batches.upperBound), windows \(s.windows.lowerBound)..<\(s.windows.upperBound), \(grouped(s.tokens)) tokens")
        }
        if plan.shards.count > 16 { lines.append("  … and \(plan.shards.count - 16) more shards") }
        lines.append("next: ep shards extract \(run.folder) --index I for I = 0…\(plan.shards.count - 1) (any order, any machine), then ep shards merge \(run.folder) -o DICT")
        return lines.joined(separator: "\n")
    }
}

/// `ep shards extract`.
struct ShardsExtract: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "extract",
        abstract: "Extract one shard of a plan: run its windows through the model and write RUN/shards/shard-0000I.safetensors.",
        discussion: """
            The shard is written atomically: it appears complete or not at all. A complete shard of the plan already \
            there: nothing to do (exit 0). Exit codes: 0 the shard is there; 1 an error (a changed corpus, another \
            model, a bad plan: the message says which); 64 a usage error; 75 another process is extracting this \
            shard now (try later); 130/143 stopped by SIGINT/SIGTERM (no shard written; the status record says \
            failed). Progress and the outcome go to RUN/status/shard-0000I.json.
            """)

    @Argument(help: ArgumentHelp("The run folder (ep shards plan -o RUN).", valueName: "RUN"))
    var runFolder: String

    @Option(parsing: .unconditional, help: "The shard to extract (default: $SLURM_ARRAY_TASK_ID).")
    var index: Int?

    func run() throws {
        let index = try resolvedIndex()
        let run = ShardRun(absolutePath(runFolder))
        let plan = try readPlan(run)
        guard plan.shards.indices.contains(index) else {
            throw CommandError("--index \(index): the plan has shards 0…\(plan.shards.count - 1)")
        }
        let path = run.shardPath(index)
        if ShardFile.check(path: path, plan: plan, index: index) == nil {
            print("shard \(index): already extracted → \(path)")
            return
        }
        try enterWorkingDirectory(of: plan)
        let claim: OutputClaim
        do {
            claim = try claimOutput(path, ShardRun.shardKind, inputs: plan.settings.corpus + [plan.model.path])
        } catch where OutputGuard.isBusy(error) {
            throw fail("\(error)", code: ShardExitCode.busy)
        }
        // Another extraction may have finished between the first look and the claim.
        if ShardFile.check(path: path, plan: plan, index: index) == nil {
            claim.release()
            print("shard \(index): already extracted → \(path)")
            return
        }
        let extraction = try ShardExtraction(run: run, plan: plan, index: index)
        let interrupt = InterruptFlag(message: "stopping shard \(index) after the current forward call; no shard is written (a second signal ends at once)")
        extraction.shouldStop = { interrupt.isRaised }
        extraction.interruptReason = { interrupt.reason }
        let progress = ProgressLine()
        extraction.onNote = { line in
            progress.finish()
            note(line)
        }
        extraction.onProgress = { rows, total, tokens, seconds in
            progress.update("shard \(index): \(grouped(rows))/\(grouped(total)) activations · \(grouped(Int(seconds > 0 ? Double(tokens) / seconds : 0))) tokens/s")
        }
        let summary: ShardExtraction.Summary
        do {
            summary = try extraction.extract {
                let model = try Self.modelPath(plan)
                let opened = try OpenedModel(model, threads: plan.settings.threads)
                return (opened.model, opened.path, opened.tokenizer)
            }
        } catch let stop as ShardExtraction.Interrupted {
            progress.finish()
            throw fail("shard \(index): \(stop.reason); no shard written", code: ShardExitCode.interrupted(interrupt.signalNumber))
        }
        progress.finish()
        let rate = summary.extractionSeconds > 0 ? Double(summary.tokens) / summary.extractionSeconds : 0
        print("shard \(index): \(grouped(summary.rows)) activations from \(grouped(summary.windows)) windows (\(grouped(summary.tokens)) tokens) in \(fixed(summary.seconds, 1)) s; model forward \(fixed(summary.extractionSeconds, 1)) s = \(grouped(Int(rate))) tokens/s, corpus replay \(fixed(summary.replaySeconds, 1)) s; \(fixed(Double(summary.bytes) / 1e6, 1)) MB → \(path)")
    }

    /// `--index`, else `$SLURM_ARRAY_TASK_ID`.
    private func resolvedIndex() throws -> Int {
        if let index {
            guard index >= 0 else { throw CommandError("--index: expected a shard number ≥ 0, found \(index)") }
            return index
        }
        guard let text = ProcessInfo.processInfo.environment["SLURM_ARRAY_TASK_ID"] else {
            throw CommandError("give --index I (the shard to extract), or run as a Slurm array task (SLURM_ARRAY_TASK_ID)")
        }
        guard let value = Int(text), value >= 0 else { throw CommandError("SLURM_ARRAY_TASK_ID: expected a shard number ≥ 0, found '\(text)'") }
        return value
    }

    /// Moves to the plan's working directory when a corpus path or the model's name is relative to it.
    private func enterWorkingDirectory(of plan: ShardPlan) throws {
        let relative = plan.settings.corpus.filter { !$0.hasPrefix("/") }
        guard !relative.isEmpty, plan.workingDirectory != FileManager.default.currentDirectoryPath else { return }
        guard FileManager.default.changeCurrentDirectoryPath(plan.workingDirectory) else {
            throw CommandError("the plan names the corpus \(relative.joined(separator: ", ")) relative to \(plan.workingDirectory), which is not a folder on this machine; make the plan with absolute corpus paths, or run where that folder exists")
        }
    }

    /// The model file of the plan on this machine: the path it resolved to when the plan was made, else its name.
    static func modelPath(_ plan: ShardPlan) throws -> String {
        if FileManager.default.fileExists(atPath: plan.model.path) { return plan.model.path }
        do {
            return try ModelLocator.resolve(plan.model.name)
        } catch {
            throw CommandError("the plan's model \(plan.model.path) is not on this machine, and \(plan.model.name) does not resolve here (\(error)); make the model available at that path")
        }
    }
}

/// `ep shards merge`.
struct ShardsMerge: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "merge",
        abstract: "Merge the shards of a plan, in order, into the dictionary ep build writes with the same settings.",
        discussion: """
            Starts with shard 0 and takes each next shard when it is complete, waiting for shards that are not there \
            yet (--wait). Calibration, checkpoints (every --checkpoint-every batches of the plan), Ctrl-C and \
            --resume work as in ep build. A shard that is damaged, of another plan, of another index or whose windows \
            are not the plan's is refused, naming the file. No model is needed.
            """)

    @Argument(help: ArgumentHelp("The run folder (ep shards plan -o RUN).", valueName: "RUN"))
    var runFolder: String

    @Option(name: [.short, .customLong("output")], help: "Dictionary folder to write: the output of ep build with the plan's settings (one dictionary, OUT/p1 … for several percentiles, OUT/<hook> … for several hooks).")
    var output: String

    @Flag(help: "Continue the merge in the output folder (after a kill, Ctrl-C or a refused shard).")
    var resume = false

    @Option(parsing: .unconditional, help: "Seconds to wait for a missing shard without any new shard before giving up (default 3600; 0: do not wait; inf: wait as long as it takes).")
    var wait = 3600.0

    @OptionGroup var force: ForceOption

    func validate() throws {
        guard wait >= 0, !wait.isNaN else { throw CommandError("--wait: expected a number of seconds ≥ 0 (or inf), found \(wait)") }
    }

    func run() throws {
        let run = ShardRun(absolutePath(runFolder))
        let plan = try readPlan(run)
        let settings = plan.settings
        try claimOutput(output, buildOutputKind(settings), inputs: [run.folder], force: force.force)
        try Build.refuseUnfinished(in: output, resume: resume)
        let merge = ShardMerge(run: run, plan: plan, output: output)
        merge.source.wait = wait.isInfinite ? nil : wait
        let summary = try Build.runOnTerminal(merge) { try merge.merge(resume: resume) }
        let read = plan.shards.count - merge.unreadShards.count
        var line = "merged \(read) of \(plan.shards.count) shards of plan \(plan.planID.prefix(12)) (\(merge.source.nextBatch) of \(plan.corpus.batches) batches)"
        if !merge.unreadShards.isEmpty, summary.stopReason != .interrupted {
            line += "; the build stopped (\(summary.stopReason)) before shard\(merge.unreadShards.count == 1 ? "" : "s") \(merge.unreadShards.map(String.init).joined(separator: ", ")), which it did not need"
        }
        print(line)
    }
}

/// `ep shards status`.
struct ShardsStatus: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "status",
        abstract: "Say which shards of a plan are done, running, failed or pending, and where the merge stands.")

    @Argument(help: ArgumentHelp("The run folder (ep shards plan -o RUN).", valueName: "RUN"))
    var runFolder: String

    @Flag(help: "Print JSON (for scripts).")
    var json = false

    func run() throws {
        let run = ShardRun(absolutePath(runFolder))
        let plan = try readPlan(run)
        let status = ShardRunStatus.read(run, plan: plan)
        print(json ? JSONValueEncoder.value(of: ShardRunStatus.Report(status, plan: plan, run: run)).rendered() : Self.table(status, plan: plan, run: run))
    }

    static func table(_ status: ShardRunStatus, plan: ShardPlan, run: ShardRun) -> String {
        let counts = [ShardRunStatus.State.done, .running, .failed, .pending, .invalid].compactMap { s in status.count(s) > 0 ? "\(status.count(s)) \(s.rawValue)" : nil }
        var lines = ["plan \(plan.planID.prefix(12)) (\(run.folder)): \(plan.shards.count) shards, \(plan.corpus.batches) batches, \(grouped(plan.corpus.tokens)) tokens — \(counts.joined(separator: ", "))"]
        lines.append("shard  state     activations        act/s  where")
        for s in status.shards {
            let rows = s.state == .running ? "\(grouped(s.record?.rows ?? 0))/\(grouped(s.rows))" : grouped(s.rows)
            let where_ = s.record.map { "\($0.host) pid \($0.pid)" } ?? ""
            var line = "\(pad(String(s.index), 5, right: true))  \(pad(s.state.rawValue, 8))  \(pad(rows, 17, right: true))  \(pad(s.activationsPerSecond.map { grouped(Int($0)) } ?? "", 9, right: true))  \(where_)"
            if let detail = s.detail { line += " — \(detail)" }
            lines.append(line)
        }
        if let m = status.merge {
            let state = m.hasVanished ? "ended without finishing (killed?)" : m.state.rawValue
            var line = "merge: \(state) → \(m.output): batch \(m.batches) of \(m.batchesPlanned)\(m.shard.map { " (shard \($0))" } ?? ""), \(grouped(m.rows)) activations, \(fixed(m.seconds, 1)) s"
            if let w = m.waitingFor { line += "; waiting for shard \(w)" }
            if let reason = m.stopReason { line += "; stopped: \(reason)" }
            if let error = m.error { line += "; error: \(error)" }
            lines.append(line)
        } else {
            lines.append("merge: not started")
        }
        return lines.joined(separator: "\n")
    }

    private static func pad(_ text: String, _ width: Int, right: Bool = false) -> String {
        let fill = String(repeating: " ", count: max(0, width - text.count))
        return right ? fill + text : text + fill
    }
}
