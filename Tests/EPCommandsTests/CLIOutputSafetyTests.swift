import EPCore
import EPFormats
import EPStore
import EPTestSupport
import Foundation
import Testing

/// The bytes of every file under `path` (a file or a folder), by relative path: to show that a refused command
/// left its inputs exactly as they were.
private func snapshot(_ path: String) -> [String: [UInt8]] {
    var isFolder: ObjCBool = false
    guard FileManager.default.fileExists(atPath: path, isDirectory: &isFolder) else { return [:] }
    func bytes(_ file: String) -> [UInt8] { (try? ReadOnlyFile(path: file)).flatMap { try? $0.readBytes(count: $0.size, at: 0) } ?? [] }
    guard isFolder.boolValue else { return ["": bytes(path)] }
    var out: [String: [UInt8]] = [:]
    for name in FileManager.default.enumerator(atPath: path)?.compactMap({ $0 as? String }) ?? [] {
        var sub: ObjCBool = false
        if FileManager.default.fileExists(atPath: path + "/" + name, isDirectory: &sub), !sub.boolValue { out[name] = bytes(path + "/" + name) }
    }
    return out
}

/// Issue 12's commands that lost data, and the other output rules: each ends in a clear error with its inputs and
/// other files untouched, or in a correct result.
@Suite(.serialized) struct CLIOutputSafetyTests {
    /// A folder with three activation files and a dictionary of one of them.
    static func fixture() throws -> String {
        let folder = makeTemporaryFolder("ep-cli-outputs")
        var data = SyntheticClusters(width: 16, clusters: 6, noise: 0.4, offset: 1, seed: 9)
        for name in ["acts", "b", "c"] {
            try NPY.write(data.batch(rows: 300).storage, shape: [300, 16], to: "\(folder)/\(name).npy")
        }
        return folder
    }

    static func build(_ input: String, _ extra: [String], in folder: String) throws -> Run {
        try ep(["build", input, "--percentile", "5", "--batch-size", "32"] + extra, in: folder)
    }

    @Test func theIssuesDataLossCommandsAreRefused() throws {
        let f = try Self.fixture()
        try FileManager.default.createDirectory(atPath: f + "/run1", withIntermediateDirectories: true)
        try FileManager.default.copyItem(atPath: f + "/acts.npy", toPath: f + "/run1/acts.npy")
        try FileManager.default.createDirectory(atPath: f + "/notes", withIntermediateDirectories: true)
        try AtomicOutput.write(string: "my notes\n", to: f + "/notes/todo.txt")
        #expect(try Self.build("b.npy", ["-o", "dictB"], in: f).status == 0)
        #expect(try Self.build("b.npy", ["-o", "dictE"], in: f).status == 0)
        let before = [f + "/run1", f + "/notes", f + "/b.npy", f + "/c.npy", f + "/dictB", f + "/dictE"].map(snapshot)

        let cases: [([String], String)] = [
            (["build", "run1/acts.npy", "--percentile", "5", "--batch-size", "32", "-o", "run1"], "run1: contains an input of this command (run1/acts.npy)"),
            (["build", "acts.npy", "--percentile", "5", "--batch-size", "32", "-o", "notes"], "notes: holds todo.txt and no manifest.json: it is not an ep dictionary"),
            (["build", "b.npy", "--percentile", "5", "--batch-size", "32", "--assignments", "b.npy", "-o", "dictB2"], "b.npy: is an input of this command"),
            (["build", "b.npy", "--percentile", "5", "--batch-size", "32", "--assignments", "b.npy", "-o", "dictB2", "--force"], "b.npy: is an input of this command"),
            (["calibrate", "c.npy", "--percentile", "5", "--batch-size", "32", "-o", "c.npy"], "c.npy: is an input of this command"),
            (["export", "dictB", "--format", "npy", "-o", "dictB"], "dictB: is an input of this command"),
            (["report", "dictE", "-o", "dictE"], "dictE: is an input of this command"),
            (["report", "dictE", "-o", "dictE/site"], "dictE/site: lies inside the input folder dictE"),
            (["export", "dictB", "--format", "saelens", "-o", "notes"], "notes: holds todo.txt that ep did not write as a SAELens export"),
            (["build", "c.npy", "--percentile", "5", "--batch-size", "32", "-o", ""], "an empty output path"),
        ]
        for (arguments, message) in cases {
            let run = try ep(arguments, in: f)
            #expect(run.status == 1 && run.errorLines.count == 1 && run.stderr.contains(message), "ep \(arguments.joined(separator: " ")): \(run.stderr)")
        }
        let after = [f + "/run1", f + "/notes", f + "/b.npy", f + "/c.npy", f + "/dictB", f + "/dictE"].map(snapshot)
        #expect(after == before, "a refused command changed a file")
        #expect(!FileManager.default.fileExists(atPath: f + "/dictB2"))
        #expect(listing(f).allSatisfy { !$0.hasPrefix(".") }, "no lock or temporary left: \(listing(f))")
    }

    @Test func outputsOfTheSameKindAreReplacedAndUnmarkedFilesNeedForce() throws {
        let f = try Self.fixture()
        #expect(try Self.build("b.npy", ["-o", "d"], in: f).status == 0)
        // Running a command again over its own outputs works for every marked kind.
        for _ in 0..<2 {
            for arguments in [
                ["build", "c.npy", "--percentile", "5", "--batch-size", "32", "-o", "d"],
                ["calibrate", "c.npy", "--percentile", "5", "--batch-size", "32", "-o", "calib.json"],
                ["export", "d", "--format", "npy", "-o", "npy"], ["export", "d", "--format", "npz", "-o", "e.npz"],
                ["export", "d", "--format", "saelens", "-o", "sae"], ["report", "d", "-o", "site"],
                ["assign", "d", "b.npy", "-o", "a.npz"], ["assign", "d", "b.npy", "-o", "a.csv"],
                ["encode", "d", "b.npy", "--readout", "topk", "-o", "codes.safetensors"],
            ] {
                let run = try ep(arguments, in: f)
                #expect(run.status == 0, "ep \(arguments.joined(separator: " ")): \(run.stderr)")
            }
        }
        // One kind over another is refused.
        let crossed: [([String], String)] = [
            (["report", "d", "-o", "npy"], "npy: holds center.npy"),
            (["export", "d", "--format", "npy", "-o", "site"], "site: holds assets"),
            (["build", "b.npy", "--percentile", "5", "--batch-size", "32", "-o", "sae"], "sae: holds cfg.json"),
            (["calibrate", "b.npy", "--percentile", "5", "--batch-size", "32", "-o", "a.csv"], "a.csv: exists and is not a JSON file written by ep"),
            (["assign", "d", "b.npy", "-o", "e.npz"], "e.npz: is a .npz archive of another kind"),
        ]
        for (arguments, message) in crossed {
            let run = try ep(arguments, in: f)
            #expect(run.status == 1 && run.stderr.contains(message), "ep \(arguments.joined(separator: " ")): \(run.stderr)")
        }
        // An .npy output carries no writer mark: replaced only with --force.
        #expect(try Self.build("b.npy", ["-o", "d", "--assignments", "ids.npy"], in: f).status == 0)
        let again = try Self.build("b.npy", ["-o", "d", "--assignments", "ids.npy"], in: f)
        #expect(again.status == 1 && again.stderr.contains("ids.npy: exists, and ep cannot tell that it wrote it") && again.stderr.contains("--force"))
        #expect(try Self.build("b.npy", ["-o", "d", "--assignments", "ids.npy", "--force"], in: f).status == 0)
        #expect(try NPY.readIntegers(path: f + "/ids.npy").shape == [300])
    }

    /// A folder output given with a trailing slash names the folder (its temporary is a sibling, not inside it),
    /// written anew and then replaced.
    @Test func folderOutputsWithATrailingSlash() throws {
        let f = try Self.fixture()
        for _ in 0..<2 {
            for arguments in [
                ["build", "b.npy", "--percentile", "5", "--batch-size", "32", "-o", "d/"],
                ["export", "d", "--format", "saelens", "-o", "sae//"], ["report", "d/", "-o", "site/"],
            ] {
                let run = try ep(arguments, in: f)
                #expect(run.status == 0, "ep \(arguments.joined(separator: " ")): \(run.stderr)")
            }
        }
        #expect(try DictionaryStore.load(f + "/d").dictionary.regionCount > 0)
        #expect(FileManager.default.fileExists(atPath: f + "/sae/cfg.json") && FileManager.default.fileExists(atPath: f + "/site/index.html"))
        #expect(listing(f).filter { $0.hasPrefix(".") && !$0.hasSuffix(".lock") }.isEmpty, "no temporary left: \(listing(f))")
    }

    @Test func allOutputsOfACommandAppearTogetherOrNone() throws {
        let f = try Self.fixture()
        // The assignments cannot be written (their folder cannot be made): refused before any work, no dictionary.
        let run = try Self.build("b.npy", ["-o", "d", "--assignments", "/proc/ep-no-such-folder/ids.npy"], in: f)
        #expect(run.status == 1 && run.stderr.contains("/proc/ep-no-such-folder"), "\(run.stderr)")
        #expect(!FileManager.default.fileExists(atPath: f + "/d"))
        // Both outputs written: both present.
        #expect(try Self.build("b.npy", ["-o", "d", "--assignments", "ids.npy"], in: f).status == 0)
        #expect(FileManager.default.fileExists(atPath: f + "/d/manifest.json") && FileManager.default.fileExists(atPath: f + "/ids.npy"))
    }

    @Test func aSecondWriterIsRefusedAndAKilledOnesLeftoversAreCleared() throws {
        let f = try Self.fixture()
        // Another process holds the lock (this test, as an ep build would): the build is refused at once, naming it.
        let fd = open(f + "/.d.lock", O_RDWR | O_CREAT, 0o644)
        #expect(fd >= 0 && flock(fd, LOCK_EX | LOCK_NB) == 0)
        let pid = "\(getpid())\n"
        _ = pid.withCString { write(fd, $0, strlen($0)) }
        let second = try Self.build("b.npy", ["-o", "d"], in: f)
        #expect(second.status == 1 && second.stderr.contains("d: is being written by another ep process (pid \(getpid()))"), "\(second.stderr)")
        #expect(!FileManager.default.fileExists(atPath: f + "/d"))
        // The holder ends without removing its lock file (as a killed process would), and an interrupted write left a
        // temporary folder: the next run takes the lock over and clears the leftovers.
        close(fd)
        try FileManager.default.createDirectory(atPath: f + "/.d.tmp-99999-1", withIntermediateDirectories: true)
        try AtomicOutput.write(string: "partial", to: f + "/.d.tmp-99999-1/regions.safetensors")
        let third = try Self.build("b.npy", ["-o", "d"], in: f)
        #expect(third.status == 0, "\(third.stderr)")
        #expect(third.stderr.contains("took over the lock of process \(getpid())"))
        #expect(third.stderr.contains("removed 1 temporary file left by an interrupted write (.d.tmp-99999-1)"))
        #expect(listing(f).filter { $0.hasPrefix(".") }.isEmpty, "\(listing(f))")
    }

    @Test func numbersAndFlagsAreCheckedAsTheIssueAsks() throws {
        let f = try Self.fixture()
        #expect(try Self.build("b.npy", ["-o", "d"], in: f).status == 0)
        let cases: [([String], String)] = [
            (["inspect", "d", "--top", "-1"], "--top: expected a positive number of regions, found -1"),
            (["inspect", "d", "--region", "-3"], "region -3 does not exist"),
            (["assign", "d", "--text", "hi", "--model", "smollm2", "--threads", "0"], "--threads: expected a positive number of threads, found 0"),
            (["build", "b.npy", "--percentile", "-5", "-o", "x"], "--percentile: expected a number strictly between 0 and 100, found -5"),
        ]
        for (arguments, message) in cases {
            let run = try ep(arguments, in: f)
            #expect(run.status != 0 && run.stderr.contains(message), "ep \(arguments.joined(separator: " ")): \(run.stderr)")
        }
    }
}

/// The same for builds from text: locks and leftovers, a resume that finds another corpus, SIGTERM, flags.
@Suite(.serialized) struct CLITextOutputSafetyTests {
    @Test func aResumeOverAChangedCorpusIsRefused() throws {
        let f = try TextFixture()
        let victim = try startEP(f.buildArguments(output: "d"), in: f.folder, environment: f.environment)
        while victim.isRunning && (f.checkpointBatches("d") ?? 0) < 2 { usleep(2000) }
        kill(victim.processIdentifier, SIGKILL)
        victim.waitUntilExit()
        #expect(victim.terminationReason == .uncaughtSignal, "the build finished before the kill")
        // Drop the corpus's first document: the windows the checkpoint consumed are no longer those of the corpus.
        let corpus = try String(contentsOfFile: f.folder + "/corpus.jsonl", encoding: .utf8)
        try AtomicOutput.write(string: corpus.split(separator: "\n").dropFirst().joined(separator: "\n") + "\n", to: f.folder + "/corpus.jsonl")
        let resumed = try ep(f.buildArguments(output: "d", extra: ["--resume"]), in: f.folder, environment: f.environment)
        #expect(resumed.status == 1 && resumed.stderr.contains("cannot resume: the corpus changed since the build was saved"), "\(resumed.stderr)")
        let state = try DictionaryStore.readManifest(f.folder + "/d").build.text?.status
        #expect(state == .inProgress, "the refused resume left the checkpoint as it was")
    }

    @Test func sigtermStopsABuildWithACheckpointThatResumes() throws {
        let f = try TextFixture()
        #expect(try ep(f.buildArguments(output: "whole"), in: f.folder, environment: f.environment).status == 0)
        let stopped = try startEP(f.buildArguments(output: "d"), in: f.folder, environment: f.environment)
        while stopped.isRunning && (f.checkpointBatches("d") ?? 0) < 2 { usleep(2000) }
        kill(stopped.processIdentifier, SIGTERM)
        stopped.waitUntilExit()
        #expect(stopped.terminationReason == .exit && stopped.terminationStatus == 0)
        let status = try DictionaryStore.readManifest(f.folder + "/d").build.text?.status
        #expect(status == .interrupted || status == .complete)
        #expect(try ep(f.buildArguments(output: "d", extra: ["--resume"]), in: f.folder, environment: f.environment).status == 0)
        #expect(try f.stableFiles("d") == f.stableFiles("whole"))
    }

    @Test func textBuildFlagsAreCheckedBeforeAnyWork() throws {
        let f = try TextFixture()
        let cases: [([String], String)] = [
            (f.buildArguments(output: "x", extra: ["--resume", "--recalibrate"]), "--recalibrate with --resume"),
            (f.buildArguments(output: "x", extra: ["--min-window", "60"]), "--min-window must be between 2 and the context length 48, got 60"),
            (f.buildArguments(output: ""), "an empty output path"),
            (f.buildArguments(output: "corpus.jsonl"), "corpus.jsonl: is an input of this command"),
        ]
        for (arguments, message) in cases {
            let run = try ep(arguments, in: f.folder, environment: f.environment)
            #expect(run.status == 1 && run.stderr.contains(message), "\(run.stderr)")
        }
        // A calibration cache that cannot be written is reported as not cached.
        try AtomicOutput.write(string: "a file, not a folder", to: f.folder + "/cachefile")
        let run = try ep(f.buildArguments(output: "d", extra: ["--max-tokens", "600"]), in: f.folder, environment: ["EP_CALIBRATION_CACHE": f.folder + "/cachefile/calibration", "EP_CACHE_DIR": f.folder + "/cache"])
        #expect(run.status == 0, "\(run.stderr)")
        #expect(run.stderr.contains("not cached: ") && !run.stderr.contains("cached in"), "\(run.stderr)")
    }
}
