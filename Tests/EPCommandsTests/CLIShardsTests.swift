import EPFormats
import EPStore
import EPTestSupport
import Foundation
import Testing

extension TextFixture {
    /// The flags of the fixture's build from text (no verb, no output), with `extra`.
    func buildFlags(_ extra: [String] = []) -> [String] {
        var arguments = buildArguments(output: "-")
        arguments.removeFirst()
        let o = arguments.firstIndex(of: "-o")!
        arguments.removeSubrange(o...(o + 1))
        return arguments + extra
    }

    /// `ep build` of the fixture with `extra`, calibrating for itself (its own cache).
    func referenceBuild(_ output: String, extra: [String]) throws -> Run {
        try ep(buildArguments(output: output, extra: extra), in: folder, environment: ["EP_CACHE_DIR": folder + "/reference-cache"])
    }

    /// The `build` and `calibration` sections of a dictionary's manifest (everything but its date and file sizes).
    func provenance(_ dictionary: String) throws -> (BuildProvenance, CalibrationProvenance) {
        let m = try DictionaryStore.readManifest("\(folder)/\(dictionary)")
        return (m.build, m.calibration)
    }

    /// The JSON of `ep shards status RUN --json`.
    func status(_ run: String) throws -> JSONFields {
        let result = try ep(["shards", "status", run, "--json"], in: folder)
        #expect(result.status == 0, "\(result.stderr)")
        return try JSONFields(try JSONValue.parse(Array(result.stdout.utf8), path: "status"), path: "status")
    }
}

/// The contents of a file.
private func fileBytes(_ path: String) throws -> [UInt8] {
    let file = try ReadOnlyFile(path: path)
    return try file.readBytes(count: file.size, at: 0)
}

/// Waits (polling) until `condition` holds or `seconds` pass; returns whether it held.
private func eventually(_ seconds: Double, _ condition: () -> Bool) -> Bool {
    let end = Date().addingTimeInterval(seconds)
    while Date() < end {
        if condition() { return true }
        usleep(20_000)
    }
    return condition()
}

/// The state field of a status record (`RUN/status/NAME.json`), if it can be read.
private func recordState(_ path: String) -> String? {
    guard let value = try? JSONValue.read(path: path), let fields = try? JSONFields(value, path: path) else { return nil }
    return try? fields.string("state")
}

/// `ep shards`: plan, extract, merge, status, through the `ep` binary.
@Suite(.serialized) struct CLIShardsTests {
    /// One hook, one percentile: a merge started before any shard exists waits, takes the shards as they appear
    /// (extracted out of order, one of them twice) and writes the dictionary of `ep build --activation-dtype f16`
    /// byte for byte. A merge killed with SIGKILL at a random checkpoint and resumed gives the same bytes. Status
    /// in both forms.
    @Test func mergeEqualsTheBuildAndResumesAfterAKill() throws {
        let f = try TextFixture()
        let plan = try ep(["shards", "plan", "--shards", "3", "-o", "run"] + f.buildFlags(), in: f.folder, environment: f.environment)
        #expect(plan.status == 0, "\(plan.stderr)")
        #expect(plan.stdout.contains(": 3 shards of 8 batches") && plan.stdout.contains("activations stored as f16"), "\(plan.stdout)")
        #expect(listing(f.folder + "/run") == ["logs", "plan.json", "shards", "status"])
        let again = try ep(["shards", "plan", "--shards", "3", "-o", "run"] + f.buildFlags(), in: f.folder, environment: f.environment)
        #expect(again.status == 0 && again.stdout.contains("unchanged"), "\(again.stdout)")

        let merge = try startEP(["shards", "merge", "run", "-o", "merged", "--wait", "300"], in: f.folder, environment: f.environment)
        #expect(eventually(60) { recordState(f.folder + "/run/status/merge.json") == "waiting" }, "the merge waits for shard 0")
        let waiting = try f.status("run")
        #expect(try waiting.object("merge").string("state") == "waiting" && waiting.object("merge").integer("waiting_for") == 0)
        #expect(try waiting.object("counts").integer("pending") == 3)

        for index in [2, 0, 0, 1] {
            let run = try ep(["shards", "extract", "run", "--index", String(index)], in: f.folder, environment: f.environment)
            #expect(run.status == 0, "\(run.stderr)")
            #expect(run.stdout.contains("shard \(index): ") && run.stdout.contains("run/shards/shard-0000\(index).safetensors"), "\(run.stdout)")
        }
        merge.waitUntilExit()
        #expect(merge.terminationStatus == 0 && merge.terminationReason == .exit)
        // The second extraction of shard 0 found it there.
        let twice = try ep(["shards", "extract", "run"], in: f.folder, environment: f.environment.merging(["SLURM_ARRAY_TASK_ID": "0"]) { $1 })
        #expect(twice.status == 0 && twice.stdout.contains("shard 0: already extracted"), "\(twice.stdout)")

        let reference = try f.referenceBuild("built", extra: ["--activation-dtype", "f16"])
        #expect(reference.status == 0, "\(reference.stderr)")
        #expect(try f.stableFiles("merged") == f.stableFiles("built"))
        #expect(try f.provenance("merged") == f.provenance("built"))
        #expect(try DictionaryStore.readManifest(f.folder + "/built").build.text?.activationDType == "f16")
        // Without the rounding, another dictionary (the precision is a setting of the build).
        let f32 = try f.referenceBuild("built32", extra: [])
        let files32 = try f.stableFiles("built32"), files16 = try f.stableFiles("built")
        #expect(f32.status == 0 && files32 != files16)

        let done = try f.status("run")
        #expect(try done.object("counts").integer("done") == 3 && done.object("merge").string("state") == "done")
        #expect(try done.object("merge").string("stop_reason") == "corpus exhausted" && done.object("merge").integer("batches") == 8)
        let shards = try done.array("shards")
        #expect(shards.count == 3)
        let first = try JSONFields(shards[0], path: "shard 0")
        #expect(try first.string("state") == "done" && first.integer("activations") > 0 && first.double("activations_per_second") > 0)
        let table = try ep(["shards", "status", "run"], in: f.folder)
        #expect(table.status == 0 && table.stdout.contains("3 shards, 8 batches") && table.stdout.contains("3 done"), "\(table.stdout)")
        #expect(table.stdout.contains("merge: done → /") && table.stdout.contains("/merged: batch 8 of 8"), "\(table.stdout)")

        // SIGKILL at a random checkpoint (the plan checkpoints every batch), then --resume.
        let killAt = Int.random(in: 1...6)
        let victim = try startEP(["shards", "merge", "run", "-o", "killed"], in: f.folder, environment: f.environment)
        while victim.isRunning && (f.checkpointBatches("killed") ?? 0) < killAt { usleep(2000) }
        kill(victim.processIdentifier, SIGKILL)
        victim.waitUntilExit()
        #expect(victim.terminationReason == .uncaughtSignal, "the merge finished before the kill at batch \(killAt)")
        let refused = try ep(["shards", "merge", "run", "-o", "killed"], in: f.folder, environment: f.environment)
        #expect(refused.status != 0 && refused.stderr.contains("holds an unfinished build") && refused.stderr.contains("--resume"), "\(refused.stderr)")
        let resumed = try ep(["shards", "merge", "run", "-o", "killed", "--resume"], in: f.folder, environment: f.environment)
        #expect(resumed.status == 0, "\(resumed.stderr)")
        #expect(resumed.stdout.contains("resumed at batch") && resumed.stdout.contains("merged 3 of 3 shards"), "\(resumed.stdout)")
        #expect(try f.stableFiles("killed") == f.stableFiles("merged"), "killed at batch \(killAt) and resumed")
        // The merge may not write inside the run folder.
        let inside = try ep(["shards", "merge", "run", "-o", "run/dict"], in: f.folder, environment: f.environment)
        #expect(inside.status != 0 && inside.stderr.contains("lies inside the input folder"), "\(inside.stderr)")
    }

    /// Two percentiles, run by the shell example of docs/shards.md (merge in the background, extractions two at a
    /// time with xargs): OUT/p2 and OUT/p8 of `ep build --activation-dtype f16`, byte for byte.
    @Test func theShellExampleRunsAPlanOfTwoPercentiles() throws {
        let f = try TextFixture()
        let flags = f.buildFlags().map { $0 == "2" ? "2,8" : $0 }
        let plan = try ep(["shards", "plan", "--shards", "4", "-o", "run"] + flags, in: f.folder, environment: f.environment)
        #expect(plan.status == 0, "\(plan.stderr)")
        let script = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
            .appendingPathComponent("scripts/shards/run_local.sh").path
        let process = Process()
        // Through Python, to start the shell with no signal blocked: the test runs on a thread that blocks most
        // signals (SIGCHLD among them), a spawned process inherits that mask, and dash's `wait` then never returns.
        process.executableURL = URL(fileURLWithPath: "/usr/bin/env")
        process.arguments = ["python3", "-c", "import os, signal, sys; signal.pthread_sigmask(signal.SIG_SETMASK, []); os.execv('/bin/sh', ['sh'] + sys.argv[1:])",
                             script, "run", "merged", "2"]
        process.currentDirectoryURL = URL(fileURLWithPath: f.folder)
        process.environment = ProcessInfo.processInfo.environment.merging(f.environment.merging(["EP": epBinary]) { $1 }) { $1 }
        let out = Pipe()
        process.standardOutput = out
        process.standardError = out
        try process.run()
        let output = String(decoding: out.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
        process.waitUntilExit()
        #expect(process.terminationStatus == 0, "\(output)")
        #expect(output.contains("merged 4 of 4 shards"), "\(output)")
        #expect(listing(f.folder + "/merged") == ["p2", "p8"])
        let reference = try f.referenceBuild("built", extra: ["--percentile", "2,8", "--activation-dtype", "f16"])
        #expect(reference.status == 0, "\(reference.stderr)")
        for label in ["p2", "p8"] {
            #expect(try f.stableFiles("merged/\(label)") == f.stableFiles("built/\(label)"), "\(label)")
            #expect(try f.provenance("merged/\(label)") == f.provenance("built/\(label)"), "\(label)")
        }
        let usage = try ep(["shards", "status", "run", "--json"], in: f.folder)
        #expect(usage.stdout.contains("\n  \"shard_count\": 4,\n"), "the line the script reads")
    }

    /// Two hooks in bf16 (the shards' precision as --shard-dtype; the build's as --activation-dtype): OUT/<hook>
    /// of `ep build` with both hooks, byte for byte.
    @Test func twoHooksInBFloat16() throws {
        let f = try TextFixture()
        let extra = ["--hook", "blocks.2.hook_mlp_out"]
        let plan = try ep(["shards", "plan", "--shards", "2", "--shard-dtype", "bf16", "-o", "run"] + f.buildFlags(extra), in: f.folder, environment: f.environment)
        #expect(plan.status == 0, "\(plan.stderr)")
        for index in [1, 0] {
            let run = try ep(["shards", "extract", "run", "--index", String(index)], in: f.folder, environment: f.environment)
            #expect(run.status == 0, "\(run.stderr)")
        }
        let merge = try ep(["shards", "merge", "run", "-o", "merged", "--wait", "0"], in: f.folder, environment: f.environment)
        #expect(merge.status == 0, "\(merge.stderr)")
        let reference = try f.referenceBuild("built", extra: extra + ["--activation-dtype", "bf16"])
        #expect(reference.status == 0, "\(reference.stderr)")
        #expect(listing(f.folder + "/merged") == ["blocks.2.hook_mlp_out", "blocks.5.hook_resid_post"])
        for hook in ["blocks.2.hook_mlp_out", "blocks.5.hook_resid_post"] {
            #expect(try f.stableFiles("merged/\(hook)") == f.stableFiles("built/\(hook)"), "\(hook)")
            #expect(try f.provenance("merged/\(hook)") == f.provenance("built/\(hook)"), "\(hook)")
        }
        let conflict = try ep(["shards", "plan", "--shards", "2", "--shard-dtype", "bf16", "-o", "run2"] + f.buildFlags(["--activation-dtype", "f16"]), in: f.folder)
        #expect(conflict.status != 0 && conflict.stderr.contains("--shard-dtype bf16 and --activation-dtype f16 disagree"), "\(conflict.stderr)")
    }

    /// What the protocol refuses: a shard of another plan, of another index, damaged or truncated (the merge, with
    /// one line naming the file); a changed corpus (the extraction); a shard being extracted by another process
    /// (exit 75); SIGTERM (exit 143, no shard, status failed); a missing shard with --wait 0; bad plan flags.
    @Test func refusalsAreClearErrors() throws {
        let f = try TextFixture()
        let run = f.folder + "/run"
        #expect(try ep(["shards", "plan", "--shards", "2", "-o", "run"] + f.buildFlags(), in: f.folder, environment: f.environment).status == 0)
        #expect(try ep(["shards", "plan", "--shards", "2", "-o", "other"] + f.buildFlags(["--seed", "12"]), in: f.folder, environment: f.environment).status == 0)
        for (folder, index) in [("run", 0), ("run", 1), ("other", 0)] {
            let result = try ep(["shards", "extract", folder, "--index", String(index)], in: f.folder, environment: f.environment)
            #expect(result.status == 0, "\(result.stderr)")
        }
        let shard0 = run + "/shards/shard-00000.safetensors", shard1 = run + "/shards/shard-00001.safetensors"
        let good0 = try fileBytes(shard0), good1 = try fileBytes(shard1)
        func mergeFails(_ output: String, _ message: String, _ comment: String) throws {
            let result = try ep(["shards", "merge", "run", "-o", output, "--wait", "0"], in: f.folder, environment: f.environment)
            #expect(result.status == 1, "\(comment): \(result.stderr)")
            #expect(result.errorLines.last?.hasPrefix("Error: ") == true && result.errorLines.last!.contains(message), "\(comment): \(result.stderr)")
            #expect(result.stderr.contains("ep shards extract \(run) --index"), "\(comment): says what to do")
        }
        try AtomicOutput.write(try fileBytes(f.folder + "/other/shards/shard-00000.safetensors"), to: shard0)
        try mergeFails("m1", "\(shard0): a shard of another plan", "another plan")
        #expect(try ep(["shards", "status", "run"], in: f.folder).stdout.contains("invalid"))
        try AtomicOutput.write(good1, to: shard0)
        try mergeFails("m2", "\(shard0): holds shard 1 of the plan, not shard 0", "another index")
        try AtomicOutput.write(good0, to: shard0)
        let info = try SafetensorsFile(path: shard1).info("activations.blocks.5.hook_resid_post")
        var damaged = good1
        damaged[info.byteRange.lowerBound + 1000] ^= 0x10
        try AtomicOutput.write(damaged, to: shard1)
        try mergeFails("m3", "\(shard1): the activations of blocks.5.hook_resid_post in batch", "a flipped bit")
        try AtomicOutput.write(Array(good1.prefix(good1.count - 100)), to: shard1)
        try mergeFails("m4", "\(shard1): truncated", "truncated")
        try AtomicOutput.write(Array(good1.prefix(5)), to: shard1)
        try mergeFails("m5", "\(shard1): not a safetensors file", "a stub")
        try FileManager.default.removeItem(atPath: shard1)
        let missing = try ep(["shards", "merge", "run", "-o", "m6", "--wait", "0"], in: f.folder, environment: f.environment)
        #expect(missing.status == 1 && missing.stderr.contains("missing shard 1 (extracted, but the file is gone)"), "\(missing.stderr)")
        #expect(recordState(run + "/status/merge.json") == "failed")

        // Another process holds shard 1's lock: exit 75, naming it.
        let claim = try OutputGuard.claim(shard1, kind: .safetensors("shard", key: "format", value: "ep-shard"), inputs: [])
        let busy = try ep(["shards", "extract", "run", "--index", "1"], in: f.folder, environment: f.environment)
        #expect(busy.status == 75 && busy.stderr.contains("is being written by another ep process (pid \(getpid()))"), "\(busy.stderr)")
        claim.release()

        // SIGTERM once the extraction has started: no shard, status failed with the reason, exit 143.
        let victim = try startEP(["shards", "extract", "run", "--index", "1"], in: f.folder, environment: f.environment)
        #expect(eventually(60) { recordState(run + "/status/shard-00001.json") == "running" })
        kill(victim.processIdentifier, SIGTERM)
        victim.waitUntilExit()
        #expect(victim.terminationStatus == 143 && victim.terminationReason == .exit)
        #expect(!FileManager.default.fileExists(atPath: shard1) && !listing(run + "/shards").contains { $0.contains(".tmp-") })
        let afterTerm = try f.status("run")
        let second = try JSONFields(try afterTerm.array("shards")[1], path: "shard 1")
        #expect(try second.string("state") == "failed" && second.string("detail") == "interrupted by SIGTERM")

        // A changed corpus: refused by the extraction, naming the shard; recorded as failed.
        try SmallCorpus.write(to: f.folder + "/corpus.jsonl", documents: 12, seed: 4)
        let changed = try ep(["shards", "extract", "run", "--index", "1"], in: f.folder, environment: f.environment)
        #expect(changed.status == 1 && changed.errorLines.last?.contains("shard 1: the corpus (corpus.jsonl) changed since the plan was made") == true, "\(changed.stderr)")
        #expect(recordState(run + "/status/shard-00001.json") == "failed")

        // Plan flags.
        let cases: [([String], String)] = [
            (["--shards", "0", "-o", "p"] + f.buildFlags(), "--shards: expected a positive number of shards"),
            (["--shards", "99", "-o", "p"] + f.buildFlags(), "--shards 99: the plan has 8 batches"),
            (["--shards", "2", "-o", "p"] + f.buildFlags().map { $0 == "corpus.jsonl" ? "-" : $0 }, "--corpus -: a sharded build reads the corpus again"),
            (["--shards", "2", "-o", "p", "--model", "smollm2"], "plans a build from text"),
            (["--shards", "2", "-o", "p", "--resume"] + f.buildFlags(), "--resume belongs to ep shards merge"),
            (["--shards", "2", "-o", "corpus.jsonl"] + f.buildFlags(), "corpus.jsonl: is an input of this command"),
            (["--shards", "2", "-o", "p"] + f.buildFlags(["--bogus"]), "--bogus"),
        ]
        for (arguments, message) in cases {
            let result = try ep(["shards", "plan"] + arguments, in: f.folder, environment: f.environment)
            #expect(result.status != 0 && result.stderr.contains(message), "\(arguments): \(result.stderr)")
        }
        #expect(!listing(f.folder).contains("p"))
        let noIndex = try ep(["shards", "extract", "run"], in: f.folder, environment: ["SLURM_ARRAY_TASK_ID": ""])
        #expect(noIndex.status != 0 && noIndex.stderr.contains("SLURM_ARRAY_TASK_ID"), "\(noIndex.stderr)")
        let outOfRange = try ep(["shards", "extract", "run", "--index", "2"], in: f.folder)
        #expect(outOfRange.status == 1 && outOfRange.stderr.contains("--index 2: the plan has shards 0…1"), "\(outOfRange.stderr)")
        let noPlan = try ep(["shards", "status", "nowhere"], in: f.folder)
        #expect(noPlan.status == 1 && noPlan.stderr.contains("no plan.json"), "\(noPlan.stderr)")
    }
}
