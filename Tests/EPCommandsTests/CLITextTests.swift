import EPFormats
import EPStore
import EPTestSupport
import Foundation
import Testing

/// A small corpus and the `ep build` arguments of a fast build from it (SmolLM2, layer 5, 48-token windows).
struct TextFixture {
    let folder: String
    /// Calibration cache and model-hash cache of these tests, apart from the user's.
    let environment: [String: String]

    init() throws {
        folder = makeTemporaryFolder("ep-cli-text")
        try SmallCorpus.write(to: folder + "/corpus.jsonl", documents: 12)
        environment = ["EP_CACHE_DIR": folder + "/cache"]
    }

    func buildArguments(output: String, extra: [String] = []) -> [String] {
        ["build", "--model", "smollm2", "--hook", "blocks.5.hook_resid_post", "--corpus", "corpus.jsonl", "--percentile", "2",
         "--context", "48", "--min-window", "8", "--shuffle-buffer", "16", "--seed", "11", "--batch-windows", "6",
         "--calibration-tokens", "500", "--max-tokens", "0", "--saturation-window", "0", "--checkpoint-every", "1", "--reservoir",
         "-o", output] + extra
    }

    /// The files of a dictionary that must not depend on how the build ran.
    func stableFiles(_ dictionary: String) throws -> [[UInt8]] {
        try [DictionaryStore.regionsFile, DictionaryStore.contextsFile, DictionaryStore.reservoirFile].map { name in
            let file = try ReadOnlyFile(path: "\(folder)/\(dictionary)/\(name)")
            return try file.readBytes(count: file.size, at: 0)
        }
    }

    /// Batches recorded by the last checkpoint of `dictionary`, or nil before the first.
    func checkpointBatches(_ dictionary: String) -> Int? {
        guard let value = try? JSONValue.read(path: "\(folder)/\(dictionary)/build_state.json"),
            let fields = try? JSONFields(value, path: "state") else { return nil }
        return try? fields.integer("batches")
    }
}

/// Starts `ep` in the background (output discarded) and returns the process.
func startEP(_ arguments: [String], in folder: String, environment: [String: String]) throws -> Process {
    let process = Process()
    process.executableURL = URL(fileURLWithPath: epBinary)
    process.arguments = arguments
    process.currentDirectoryURL = URL(fileURLWithPath: folder)
    process.environment = ProcessInfo.processInfo.environment.merging(environment) { $1 }
    process.standardOutput = FileHandle.nullDevice
    process.standardError = FileHandle.nullDevice
    try process.run()
    return process
}

@Suite(.serialized) struct CLITextTests {
    /// SIGKILL at a random checkpoint, then --resume: the same dictionary as an uninterrupted build. Ctrl-C
    /// (SIGINT) stops cleanly with a usable dictionary that --resume completes the same way.
    @Test func killedAndInterruptedBuildsResumeToTheSameDictionary() throws {
        let f = try TextFixture()
        let whole = try ep(f.buildArguments(output: "whole"), in: f.folder, environment: f.environment)
        #expect(whole.status == 0, "\(whole.stderr)")
        let totalBatches = try #require(f.checkpointBatches("whole"))
        #expect(totalBatches >= 6)

        var generator = SystemRandomNumberGenerator()
        let killAt = Int.random(in: 1...(totalBatches - 2), using: &generator)
        let victim = try startEP(f.buildArguments(output: "killed"), in: f.folder, environment: f.environment)
        while victim.isRunning && (f.checkpointBatches("killed") ?? 0) < killAt { usleep(2000) }
        kill(victim.processIdentifier, SIGKILL)
        victim.waitUntilExit()
        #expect(victim.terminationReason == .uncaughtSignal, "the build finished before the kill at batch \(killAt)")
        let info = try ep(["info", "killed"], in: f.folder)
        #expect(info.status == 0, "the checkpoint left by SIGKILL is a usable dictionary: \(info.stderr)")
        let refused = try ep(f.buildArguments(output: "killed"), in: f.folder, environment: f.environment)
        #expect(refused.status != 0 && refused.stderr.contains("--resume"))
        let resumed = try ep(f.buildArguments(output: "killed", extra: ["--resume"]), in: f.folder, environment: f.environment)
        #expect(resumed.status == 0, "\(resumed.stderr)")
        #expect(resumed.stdout.contains("resumed at batch"))
        #expect(try f.stableFiles("killed") == f.stableFiles("whole"), "killed at batch \(killAt) and resumed")

        let interrupted = try startEP(f.buildArguments(output: "stopped"), in: f.folder, environment: f.environment)
        while interrupted.isRunning && (f.checkpointBatches("stopped") ?? 0) < 2 { usleep(2000) }
        kill(interrupted.processIdentifier, SIGINT)
        interrupted.waitUntilExit()
        #expect(interrupted.terminationStatus == 0 && interrupted.terminationReason == .exit)
        let status = try DictionaryStore.readManifest(f.folder + "/stopped").build.text?.status
        #expect(status == .interrupted || status == .complete)
        #expect(try ep(f.buildArguments(output: "stopped", extra: ["--resume"]), in: f.folder, environment: f.environment).status == 0)
        #expect(try f.stableFiles("stopped") == f.stableFiles("whole"))
    }

    @Test func inspectAndAssignReadARealDictionary() throws {
        let f = try TextFixture()
        #expect(try ep(f.buildArguments(output: "d", extra: ["--max-tokens", "1500"]), in: f.folder, environment: f.environment).status == 0)
        let inspect = try ep(["inspect", "d", "--top", "3", "--contexts", "2"], in: f.folder, environment: f.environment)
        #expect(inspect.status == 0, "\(inspect.stderr)")
        #expect(inspect.stdout.components(separatedBy: "\nregion ").count == 4)
        #expect(inspect.stdout.contains("lens (exemplar): '") && inspect.stdout.contains("lens (mean):"))
        #expect(inspect.stdout.contains("["), "a member token is bracketed when stdout is not a terminal")
        let json = try ep(["inspect", "d", "--region", "0", "--json"], in: f.folder, environment: f.environment)
        let regions = try JSONValue.parse(Array(json.stdout.utf8), path: "stdout")
        guard case .array(let list) = regions, case .object(let first) = list.first else { Issue.record("not a list of regions"); return }
        #expect(first["id"] == .integer(0) && first["lens_exemplar"] != nil && first["closest"] != nil)

        let assign = try ep(["assign", "d", "--text", "def f(x):\n    return x * 2"], in: f.folder, environment: f.environment)
        #expect(assign.status == 0, "\(assign.stderr)")
        #expect(assign.stdout.contains("(not extracted)") && assign.stdout.contains("' return'"))
        #expect(assign.stdout.contains("tokens assigned at blocks.5.hook_resid_post"))
        let mismatch = try ep(["assign", "d", "--text", "hello", "--context", "64"], in: f.folder, environment: f.environment)
        #expect(mismatch.status != 0 && mismatch.stderr.contains("built with windows of 48 tokens"))
        let badRegion = try ep(["inspect", "d", "--region", "99999"], in: f.folder, environment: f.environment)
        #expect(badRegion.status != 0 && badRegion.stderr.contains("region 99999 does not exist"))
    }

    @Test func badTextInputsAreClearErrors() throws {
        let f = try TextFixture()
        try AtomicOutput.write(string: "{\"text\": \"fine line of text here\"}\nnot json\n{\"body\": \"x\"}\n", to: f.folder + "/bad.jsonl")
        try AtomicOutput.write([0x66, 0x6F, 0xFF, 0xFE, 0x20, 0x6F, 0x6B], to: f.folder + "/latin1.txt")
        func build(_ extra: [String], output: String = "x") throws -> Run {
            var arguments = f.buildArguments(output: output)
            let corpus = arguments.firstIndex(of: "--corpus")!
            arguments.removeSubrange(corpus...(corpus + 1))
            return try ep(arguments + extra, in: f.folder, environment: f.environment)
        }
        let missing = try build(["--corpus", "nowhere.txt"])
        #expect(missing.status != 0 && missing.errorLines.last == "Error: nowhere.txt: no such file or folder")
        let stop = try build(["--corpus", "bad.jsonl", "--bad-lines", "stop"])
        #expect(stop.status != 0 && stop.stderr.contains("bad.jsonl:2: not valid JSON"))
        let field = try build(["--corpus", "bad.jsonl", "--jsonl-field", "body", "--bad-lines", "stop"])
        #expect(field.status != 0 && field.stderr.contains("bad.jsonl:1: no field 'body'"))
        let utf8 = try build(["--corpus", "latin1.txt", "--invalid-utf8", "stop"])
        #expect(utf8.status != 0 && utf8.stderr.contains("latin1.txt: invalid UTF-8"))
        let hook = try build(["--corpus", "corpus.jsonl", "--hook", "blocks.40.hook_resid_post"])
        #expect(hook.status != 0 && hook.stderr.contains("blocks.40.hook_resid_post") && hook.stderr.contains("hook_resid_post"))
        let noModel = try ep(["build", "--corpus", "corpus.jsonl", "--percentile", "2", "-o", "y"], in: f.folder, environment: f.environment)
        #expect(noModel.status != 0 && noModel.stderr.contains("--corpus needs --model"))
        #expect(!listing(f.folder).contains("x") && !listing(f.folder).contains("y"))

        // Skipped bad lines are counted and reported; missing folders above the output are created.
        let skipped = try build(["--corpus", "bad.jsonl", "--corpus", "corpus.jsonl"], output: "deep/ok")
        #expect(skipped.status == 0, "\(skipped.stderr)")
        #expect(skipped.stdout.contains("2 JSONL lines skipped") && skipped.stdout.contains("bad.jsonl:2: not valid JSON"))
        #expect(try DictionaryStore.readManifest(f.folder + "/deep/ok").build.text?.corpus.skippedLines == 2)

        // A dictionary built for another hook or model is refused where the model runs again.
        // (The fixture's hook replaced, not added to: two --hook options build a folder of dictionaries by hook.)
        var l6 = f.buildArguments(output: "l6").map { $0 == "blocks.5.hook_resid_post" ? "blocks.6.hook_resid_post" : $0 }
        l6 += ["--max-tokens", "800"]
        let otherModel = try ep(l6, in: f.folder, environment: f.environment)
        #expect(otherModel.status == 0)
        var manifest = try String(contentsOfFile: f.folder + "/l6/manifest.json", encoding: .utf8)
        let sha = try #require(manifest.range(of: #""model_sha256": ""#))
        manifest.replaceSubrange(sha.upperBound..<manifest.index(sha.upperBound, offsetBy: 4), with: "0000")
        try AtomicOutput.write(string: manifest, to: f.folder + "/l6/manifest.json")
        let wrong = try ep(["assign", "l6", "--text", "hello"], in: f.folder, environment: f.environment)
        #expect(wrong.status != 0 && wrong.stderr.contains("SHA-256"))
    }
}

@Suite(.serialized) struct CLIDictionaryUseTests {
    /// A small dictionary of the fixture corpus, built once per test.
    func built(_ f: TextFixture, output: String = "d", extra: [String] = []) throws {
        let run = try ep(f.buildArguments(output: output, extra: ["--max-tokens", "1500"] + extra), in: f.folder, environment: f.environment)
        #expect(run.status == 0, "\(run.stderr)")
    }

    @Test func steerAndAblateCompareContinuationsWithSharedSeeds() throws {
        let f = try TextFixture()
        try built(f)
        let steer = try ep(["steer", "d", "--region", "0", "--prompt", "The river", "--max-tokens", "6", "--seeds", "2", "--sweep", "0,40"], in: f.folder, environment: f.environment)
        #expect(steer.status == 0, "\(steer.stderr)")
        let lines = steer.stdout.split(separator: "\n").map(String.init)
        #expect(lines[0].hasPrefix("region 0 (exemplar direction) at blocks.5.hook_resid_post; target tokens (its logit lens): '"))
        // α = 0 adds nothing: its continuations equal the unsteered ones with the same seed.
        let unsteered = lines.filter { $0.hasPrefix("  unsteered") }.map { $0.dropFirst("  unsteered".count).trimmingCharacters(in: .whitespaces) }
        let zero = lines.filter { $0.hasPrefix("  α = 0.0") }.map { $0.dropFirst("  α = 0.0".count).trimmingCharacters(in: .whitespaces) }
        #expect(unsteered.count == 2 && unsteered == zero)
        #expect(steer.stdout.contains("continuations with a target token") && steer.stdout.contains("/2"))

        let ablate = try ep(["ablate", "d", "--region", "0", "--prompt", "The river", "--max-tokens", "4", "--temperature", "0",
                             "--corpus", "corpus.jsonl", "--corpus-tokens", "400"], in: f.folder, environment: f.environment)
        #expect(ablate.status == 0, "\(ablate.stderr)")
        #expect(ablate.stdout.contains("  unablated") && ablate.stdout.contains("  ablated"))
        #expect(ablate.stdout.contains("held-out contexts:") && ablate.stdout.contains("mean P(target tokens) at the next position:"))
        let missing = try ep(["steer", "d", "--region", "99999", "--prompt", "x"], in: f.folder, environment: f.environment)
        #expect(missing.status != 0 && missing.stderr.contains("region 99999 does not exist"))
        let greedySeeds = try ep(["steer", "d", "--region", "0", "--prompt", "x", "--temperature", "0", "--seeds", "3"], in: f.folder, environment: f.environment)
        #expect(greedySeeds.status != 0 && greedySeeds.stderr.contains("greedy"))
    }

    @Test func regionGatedSteeringAndAblation() throws {
        let f = try TextFixture()
        try built(f)
        let common = ["--region", "0", "--prompt", "The river carefully examines the old bridge", "--max-tokens", "6", "--seed", "4"]
        let gated = try ep(["steer", "d"] + common + ["--alpha", "40", "--gate-regions", "3, 0"], in: f.folder, environment: f.environment)
        #expect(gated.status == 0, "\(gated.stderr)")
        #expect(gated.stdout.hasPrefix("region 0 (exemplar direction) at blocks.5.hook_resid_post; only at positions nearest to region 0, 3; target tokens"))
        // The unsteered continuation does not depend on the gate.
        let plain = try ep(["steer", "d"] + common + ["--alpha", "40"], in: f.folder, environment: f.environment)
        func line(_ out: String, _ label: String) -> String? { out.split(separator: "\n").first { $0.hasPrefix("  " + label) }.map(String.init) }
        #expect(line(gated.stdout, "unsteered") != nil && line(gated.stdout, "unsteered") == line(plain.stdout, "unsteered"))
        let ablate = try ep(["ablate", "d"] + common + ["--gate-regions", "0", "--corpus", "corpus.jsonl", "--corpus-tokens", "300"], in: f.folder, environment: f.environment)
        #expect(ablate.status == 0, "\(ablate.stderr)")
        #expect(ablate.stdout.contains("  ablated") && ablate.stdout.contains("held-out contexts:"))
        let missing = try ep(["steer", "d"] + common + ["--gate-regions", "0,99999"], in: f.folder, environment: f.environment)
        #expect(missing.status != 0 && missing.stderr.contains("--gate-regions: gate region 99999 does not exist"), "\(missing.stderr)")
        let malformed = try ep(["steer", "d"] + common + ["--gate-regions", "0,x"], in: f.folder, environment: f.environment)
        #expect(malformed.status != 0 && malformed.stderr.contains("--gate-regions: expected comma-separated region ids (integers ≥ 0), found '0,x'"), "\(malformed.stderr)")
    }

    @Test func matchCoverageEncodeAndDecode() throws {
        let f = try TextFixture()
        try built(f)
        try built(f, output: "e", extra: ["--seed", "12"])
        let same = try ep(["match", "d", "d", "--json"], in: f.folder, environment: f.environment)
        #expect(same.status == 0, "\(same.stderr)")
        let fields = try JSONFields(try JSONValue.parse(Array(same.stdout.utf8), path: "stdout"), path: "stdout")
        #expect(try fields.double("share_matched_within_theta_a") == 1)
        for case .object(let pair) in try fields.array("pairs") {
            #expect(pair["a"] == pair["b"] && pair["distance"] == .number(0))
        }
        let seeds = try ep(["match", "d", "e", "--top", "2"], in: f.folder, environment: f.environment)
        #expect(seeds.status == 0 && seeds.stdout.contains("matched within θ:") && seeds.stdout.contains("closest pairs:"))

        let coverage = try ep(["coverage", "d", "--corpus", "corpus.jsonl", "--random-tokens", "4", "--max-tokens", "600", "--documents", "2"], in: f.folder, environment: f.environment)
        #expect(coverage.status == 0, "\(coverage.stderr)")
        #expect(coverage.stdout.contains("corpus.jsonl") && coverage.stdout.contains("random tokens (4 windows)") && coverage.stdout.contains("documents farthest outside"))

        // Top-1 codes of a text decode to vectors whose nearest region is the code's region.
        let encode = try ep(["encode", "d", "--text", "def f(x):\n    return x", "--readout", "topk", "-o", "codes.safetensors", "--positions-out", "positions.npy"], in: f.folder, environment: f.environment)
        #expect(encode.status == 0, "\(encode.stderr)")
        let codes = try SafetensorsFile(path: f.folder + "/codes.safetensors")
        #expect(codes.tensors["indices"]?.dtype == .int32 && codes.tensors["values"]?.shape.last == 1)
        let decode = try ep(["decode", "d", "codes.safetensors", "-o", "decoded.npy"], in: f.folder)
        #expect(decode.status == 0, "\(decode.stderr)")
        let assign = try ep(["assign", "d", "decoded.npy", "-o", "regions.csv"], in: f.folder)
        #expect(assign.status == 0, "\(assign.stderr)")
        let decodedRegions = try String(contentsOfFile: f.folder + "/regions.csv", encoding: .utf8).split(separator: "\n").dropFirst().map { Int32($0.split(separator: ",")[1])! }
        let codeRegions = try codes.integers("indices").map { Int32($0) }
        let values = try codes.floats("values")
        #expect(zip(zip(decodedRegions, codeRegions), values).allSatisfy { $1 == 0 || $0.0 == $0.1 })
        let dense = try ep(["encode", "d", "decoded.npy", "--readout", "cosine", "-o", "dense.npy"], in: f.folder)
        #expect(dense.status == 0 && dense.stdout.contains("rows encoded with cosine"))
        let wrongSuffix = try ep(["encode", "d", "decoded.npy", "--readout", "topk", "-o", "codes.npy"], in: f.folder)
        #expect(wrongSuffix.status != 0 && wrongSuffix.stderr.contains(".safetensors"))
    }
}
