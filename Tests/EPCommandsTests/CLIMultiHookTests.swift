import EPFormats
import EPStore
import EPTestSupport
import Foundation
import Testing

/// `ep build` and `ep activations` with several hooks from one forward pass.
@Suite(.serialized) struct CLIMultiHookTests {
    /// The fixture's hook (block 5's residual) and an earlier MLP output, built together.
    static let hooks = ["blocks.5.hook_resid_post", "blocks.2.hook_mlp_out"]

    /// `OUT/<hook>` is byte for byte the dictionary a build of that hook alone writes; a build of several hooks killed
    /// with SIGKILL at a random checkpoint and resumed gives the same; a resume with another set of hooks is refused.
    @Test func severalHooksBuildTheSingleHookDictionariesAndResumeAfterAKill() throws {
        let f = try TextFixture()
        let multi = try ep(f.buildArguments(output: "multi", extra: ["--hook", Self.hooks[1]]), in: f.folder, environment: f.environment)
        #expect(multi.status == 0, "\(multi.stderr)")
        #expect(multi.stdout.contains("blocks.2.hook_mlp_out: ") && multi.stdout.contains("→ multi/blocks.2.hook_mlp_out\n"))
        #expect(listing(f.folder + "/multi") == Self.hooks.sorted())
        // The single-hook builds calibrate for themselves (another cache).
        let own = ["EP_CACHE_DIR": f.folder + "/single-cache"]
        for (i, hook) in Self.hooks.enumerated() {
            var arguments = f.buildArguments(output: "single\(i)")
            arguments[arguments.firstIndex(of: "--hook")! + 1] = hook
            let single = try ep(arguments, in: f.folder, environment: own)
            #expect(single.status == 0, "\(single.stderr)")
            #expect(try f.stableFiles("multi/\(hook)") == f.stableFiles("single\(i)"), "\(hook)")
        }
        let totalBatches = try #require(f.checkpointBatches("multi/\(Self.hooks[0])"))

        let killAt = Int.random(in: 1...(totalBatches - 2))
        let killedArguments = f.buildArguments(output: "killed", extra: ["--hook", Self.hooks[1]])
        let victim = try startEP(killedArguments, in: f.folder, environment: f.environment)
        while victim.isRunning && (f.checkpointBatches("killed/\(Self.hooks[1])") ?? 0) < killAt { usleep(2000) }
        kill(victim.processIdentifier, SIGKILL)
        victim.waitUntilExit()
        #expect(victim.terminationReason == .uncaughtSignal, "the build finished before the kill at batch \(killAt)")
        let refused = try ep(killedArguments, in: f.folder, environment: f.environment)
        #expect(refused.status != 0 && refused.stderr.contains("holds an unfinished build") && refused.stderr.contains("--resume"))
        let otherHooks = try ep(
            f.buildArguments(output: "killed", extra: ["--hook", "blocks.3.hook_resid_post", "--resume"]), in: f.folder, environment: f.environment)
        #expect(otherHooks.status != 0 && otherHooks.stderr.contains("cannot resume") && otherHooks.stderr.contains("give the same hooks"), "\(otherHooks.stderr)")
        let oneHook = try ep(f.buildArguments(output: "killed", extra: ["--resume"]), in: f.folder, environment: f.environment)
        #expect(oneHook.status != 0, "a single-hook build does not resume over a folder of hooks")
        // The same hooks, given in another form (a comma-separated list, other order), resume it.
        var resumeArguments = f.buildArguments(output: "killed", extra: ["--resume"])
        resumeArguments[resumeArguments.firstIndex(of: "--hook")! + 1] = Self.hooks.reversed().joined(separator: ",")
        let resumed = try ep(resumeArguments, in: f.folder, environment: f.environment)
        #expect(resumed.status == 0, "\(resumed.stderr)")
        #expect(resumed.stdout.contains("resumed at batch"))
        for hook in Self.hooks {
            #expect(try f.stableFiles("killed/\(hook)") == f.stableFiles("multi/\(hook)"), "\(hook), killed at batch \(killAt) and resumed")
        }
    }

    /// Several percentiles and hooks: `OUT/<hook>/p2`; `--layers` names residual-stream hooks. The folder of hooks is
    /// claimed like any output: a folder holding anything else, a single dictionary, or a dictionary of another hook
    /// under a hook's name is refused before any work.
    @Test func layoutAndOutputClaims() throws {
        let f = try TextFixture()
        let run = try ep(f.buildArguments(output: "out", extra: ["--percentile", "2,8", "--layers", "3", "--max-tokens", "800"]), in: f.folder, environment: f.environment)
        #expect(run.status == 0, "\(run.stderr)")
        #expect(listing(f.folder + "/out") == ["blocks.3.hook_resid_post", "blocks.5.hook_resid_post"])
        #expect(listing(f.folder + "/out/blocks.3.hook_resid_post") == ["p2", "p8"])
        #expect(try DictionaryStore.readManifest(f.folder + "/out/blocks.3.hook_resid_post/p8").build.source?.hook == "blocks.3.hook_resid_post")
        // Building again over it replaces it.
        let again = try ep(f.buildArguments(output: "out", extra: ["--percentile", "2,8", "--layers", "3", "--max-tokens", "800"]), in: f.folder, environment: f.environment)
        #expect(again.status == 0, "\(again.stderr)")

        try AtomicOutput.write(string: "mine\n", to: f.folder + "/out/notes.txt")
        let foreign = try ep(f.buildArguments(output: "out", extra: ["--percentile", "2,8", "--layers", "3", "--max-tokens", "800"]), in: f.folder, environment: f.environment)
        #expect(foreign.status != 0 && foreign.stderr.contains("notes.txt"), "\(foreign.stderr)")
        #expect(FileManager.default.fileExists(atPath: f.folder + "/out/notes.txt"))

        #expect(try ep(f.buildArguments(output: "one", extra: ["--max-tokens", "800"]), in: f.folder, environment: f.environment).status == 0)
        let overSingle = try ep(f.buildArguments(output: "one", extra: ["--layers", "3", "--max-tokens", "800"]), in: f.folder, environment: f.environment)
        #expect(overSingle.status != 0 && overSingle.stderr.contains("manifest.json"), "\(overSingle.stderr)")
        try FileManager.default.createDirectory(atPath: f.folder + "/renamed", withIntermediateDirectories: false)
        try FileManager.default.moveItem(atPath: f.folder + "/one", toPath: f.folder + "/renamed/blocks.3.hook_resid_post")
        let wrongHook = try ep(f.buildArguments(output: "renamed", extra: ["--layers", "3", "--max-tokens", "800"]), in: f.folder, environment: f.environment)
        #expect(wrongHook.status != 0 && wrongHook.stderr.contains("a dictionary of blocks.5.hook_resid_post, not of the hook blocks.3.hook_resid_post"), "\(wrongHook.stderr)")

        let twice = try ep(f.buildArguments(output: "x", extra: ["--layers", "5"]), in: f.folder, environment: f.environment)
        #expect(twice.status != 0 && twice.errorLines.last == "Error: --hook: blocks.5.hook_resid_post is given twice")
        let badLayers = try ep(f.buildArguments(output: "x", extra: ["--layers", "3,x"]), in: f.folder, environment: f.environment)
        #expect(badLayers.status != 0 && badLayers.stderr.contains("--layers: expected a comma-separated list of layer numbers"))
        let given = try ep(f.buildArguments(output: "x", extra: ["--layers", "3", "--center", "c.npy", "--threshold", "0.5"]).filter { $0 != "--percentile" && $0 != "2" }, in: f.folder, environment: f.environment)
        #expect(given.status != 0 && given.stderr.contains("a given calibration belongs to one hook"), "\(given.stderr)")
        #expect(!listing(f.folder).contains("x"))
    }

    /// `ep activations --hook A --hook B -o OUT`: OUT/<hook>.npy, each the file of `ep activations --hook <hook>`.
    @Test func activationsOfSeveralHooks() throws {
        let f = try TextFixture()
        let text = ["--text", "The river quietly returns the old bridge.\ndef f(x):\n    return x * 2"]
        let hooks = ["blocks.7.hook_resid_post", "blocks.3.hook_attn_out", "hook_embed"]
        let multi = try ep(["activations", "smollm2", "--hook", hooks[0], "--hook", "\(hooks[1]),\(hooks[2])", "-o", "acts", "--tokens-out", "ids.npy"] + text, in: f.folder)
        #expect(multi.status == 0, "\(multi.stderr)")
        #expect(listing(f.folder + "/acts") == hooks.map { "\($0).npy" }.sorted())
        #expect(multi.stdout.contains("acts/blocks.3.hook_attn_out.npy: blocks.3.hook_attn_out, "))
        for hook in hooks {
            let single = try ep(["activations", "smollm2", "--hook", hook, "-o", "\(hook).npy"] + text, in: f.folder)
            #expect(single.status == 0, "\(single.stderr)")
            let a = try ReadOnlyFile(path: "\(f.folder)/acts/\(hook).npy"), b = try ReadOnlyFile(path: "\(f.folder)/\(hook).npy")
            #expect(try a.readBytes(count: a.size, at: 0) == b.readBytes(count: b.size, at: 0), "\(hook)")
        }
        // The folder holds .npy files, which carry no writer mark: replaced only with --force; anything else never.
        let again = try ep(["activations", "smollm2", "--hook", hooks[0], "--hook", hooks[1], "-o", "acts"] + text, in: f.folder)
        #expect(again.status != 0 && again.stderr.contains("--force"))
        let forced = try ep(["activations", "smollm2", "--hook", hooks[0], "--hook", hooks[1], "-o", "acts", "--force"] + text, in: f.folder)
        #expect(forced.status == 0, "\(forced.stderr)")
        #expect(listing(f.folder + "/acts") == [hooks[1], hooks[0]].map { "\($0).npy" })
        try AtomicOutput.write(string: "mine\n", to: f.folder + "/acts/notes.txt")
        let foreign = try ep(["activations", "smollm2", "--hook", hooks[0], "--hook", hooks[1], "-o", "acts", "--force"] + text, in: f.folder)
        #expect(foreign.status != 0 && foreign.stderr.contains("notes.txt"))
        let twice = try ep(["activations", "smollm2", "--hook", hooks[0], "--hook", hooks[0], "-o", "y"] + text, in: f.folder)
        #expect(twice.status != 0 && twice.stderr.contains("given twice"))
    }
}
