import EPFormats
import EPStore
import EPTestSupport
import Foundation
import Testing

/// The Slurm cluster `make test` starts (scripts/slurm/with_cluster.sh), or nil.
private let slurmConfiguration = ProcessInfo.processInfo.environment["SLURM_CONF"]

/// Sharded builds on a real Slurm cluster of three nodes (issue 14's tests a–c): `ep slurm submit` runs the
/// extraction array and the merge, and the dictionary is byte-identical to `ep build` in one process.
@Suite(.serialized, .enabled(if: slurmConfiguration != nil, "no Slurm cluster: SLURM_CONF is not set (make test starts one with scripts/slurm/with_cluster.sh)"))
struct CLISlurmTests {
    /// Two hooks and two percentiles, on the small corpus of the text tests: four dictionaries.
    static func buildFlags(_ f: TextFixture) -> [String] {
        Array(f.buildArguments(output: "unused").dropFirst().dropLast(2)).map { $0 == "blocks.5.hook_resid_post" ? "blocks.3.hook_resid_post" : $0 }
            .replacingPercentile(with: "2,5") + ["--hook", "blocks.5.hook_resid_post"]
    }

    static let dictionaries = ["blocks.3.hook_resid_post/p2", "blocks.3.hook_resid_post/p5", "blocks.5.hook_resid_post/p2", "blocks.5.hook_resid_post/p5"]

    /// Plans `run` in 4 shards and builds the same in one process (`single`), with f16 activations.
    static func prepare(_ f: TextFixture) throws {
        let plan = try ep(["shards", "plan", "--shards", "4", "-o", "run"] + buildFlags(f), in: f.folder, environment: f.environment)
        #expect(plan.status == 0, "\(plan.stderr)")
        let single = try ep(["build"] + buildFlags(f) + ["--activation-dtype", "f16", "-o", "single"], in: f.folder, environment: f.environment)
        #expect(single.status == 0, "\(single.stderr)")
    }

    /// Waits until the merge of `run` is done (its status record), failing with Slurm's logs when the queue empties
    /// first or after `limit` seconds.
    static func waitForMerge(_ f: TextFixture, limit: Double = 600) throws {
        let started = Date()
        while Date().timeIntervalSince(started) < limit {
            if let value = try? JSONValue.read(path: f.folder + "/run/status/merge.json"), case .object(let o) = value, o["state"] == .string("done") {
                return
            }
            let queue = try command("squeue", ["-h", "-o", "%i %T"])
            if queue.trimmingCharacters(in: .whitespacesAndNewlines).isEmpty, Date().timeIntervalSince(started) > 5 {
                if let value = try? JSONValue.read(path: f.folder + "/run/status/merge.json"), case .object(let o) = value, o["state"] == .string("done") { return }
                Issue.record("the queue emptied but the merge is not done; logs:\n\(logs(f))")
                return
            }
            usleep(200_000)
        }
        Issue.record("the sharded build did not finish within \(limit) s; logs:\n\(logs(f))")
    }

    /// Waits until Slurm's queue is empty.
    static func waitForEmptyQueue(limit: Double = 300) throws {
        let started = Date()
        while Date().timeIntervalSince(started) < limit {
            if try command("squeue", ["-h", "-o", "%i"]).trimmingCharacters(in: .whitespacesAndNewlines).isEmpty { return }
            usleep(200_000)
        }
        Issue.record("Slurm's queue did not empty within \(limit) s")
    }

    static func logs(_ f: TextFixture) -> String {
        listing(f.folder + "/run/logs").map { name in
            "== \(name)\n" + ((try? String(contentsOfFile: f.folder + "/run/logs/" + name, encoding: .utf8)) ?? "")
        }.joined(separator: "\n")
    }

    static func expectIdentical(_ f: TextFixture, _ label: String) throws {
        for d in dictionaries {
            #expect(try f.stableFiles("dict/" + d) == f.stableFiles("single/" + d), "\(label): \(d) differs from the build in one process")
        }
    }

    /// (a) A 4-shard build submitted through `ep slurm submit`: array tasks on the three nodes, then the merge.
    @Test func aSubmittedBuildEqualsTheBuildInOneProcess() throws {
        let f = try TextFixture()
        try Self.prepare(f)
        let submit = try ep(["slurm", "submit", "run", "-o", "dict", "--max-concurrent", "3", "--time", "10:00"], in: f.folder, environment: f.environment)
        #expect(submit.status == 0, "\(submit.stderr)")
        #expect(submit.stdout.contains("extraction: job array") && submit.stdout.contains("4 shards"))
        try Self.waitForMerge(f)
        try Self.expectIdentical(f, "submitted")
        // The tasks ran on different nodes, and the status command reports every shard done with its rate.
        let nodes = Set(Self.logs(f).split(separator: "\n").compactMap { line -> String? in
            guard line.hasPrefix("ep slurm: shard"), let on = line.range(of: " on ") else { return nil }
            return String(line[on.upperBound...].prefix { $0 != "," })
        })
        #expect(nodes.count >= 2, "array tasks ran on \(nodes)")
        let status = try ep(["shards", "status", "run", "--json"], in: f.folder)
        #expect(status.status == 0 && status.stdout.contains("\"done\""), "\(status.stdout)")
        // A second submission finds every shard done: no array, only a merge, which finds the dictionary complete.
        let again = try ep(["slurm", "submit", "run", "-o", "dict"], in: f.folder, environment: f.environment)
        #expect(again.status == 0 && again.stdout.contains("every shard is done"), "\(again.stdout)\(again.stderr)")
        try Self.waitForEmptyQueue()
        #expect(Self.logs(f).contains("already complete"), "the second merge continued the finished dictionary")
        try Self.expectIdentical(f, "resubmitted")
    }

    /// (b) The extraction of one shard is killed mid-way (SIGKILL to its process): the task retries it in place,
    /// and the dictionary is still byte-identical.
    @Test func aKilledExtractionIsRetried() throws {
        let f = try TextFixture()
        try Self.prepare(f)
        #expect(try ep(["slurm", "submit", "run", "-o", "dict", "--max-concurrent", "2"], in: f.folder, environment: f.environment).status == 0)
        var killed: Int32?
        let started = Date()
        while killed == nil && Date().timeIntervalSince(started) < 300 {
            if let value = try? JSONValue.read(path: f.folder + "/run/status/shard-00001.json"), case .object(let o) = value,
                o["state"] == .string("running"), case .integer(let pid)? = o["pid"],
                !FileManager.default.fileExists(atPath: f.folder + "/run/shards/shard-00001.safetensors"), kill(Int32(pid), SIGKILL) == 0 {
                killed = Int32(pid)
            }
            usleep(5_000)
        }
        #expect(killed != nil, "shard 1's extraction was never seen running")
        try Self.waitForMerge(f)
        let log = Self.logs(f)
        #expect(log.contains("ep slurm: attempt 1 ended with status 137") && log.contains("shard 1 on") && log.contains("attempt 2 of 3"), "\(log)")
        try Self.expectIdentical(f, "after a killed extraction")
    }

    /// (c) A corrupted shard, and a shard of another plan, are refused by the merge, naming the file.
    @Test func damagedAndForeignShardsAreRefusedByTheMerge() throws {
        let f = try TextFixture()
        try Self.prepare(f)
        #expect(try ep(["slurm", "submit", "run", "-o", "dict"], in: f.folder, environment: f.environment).status == 0)
        try Self.waitForMerge(f)
        // Another plan of the same corpus (other shards) gives a shard 2 that is not this plan's.
        #expect(try ep(["shards", "plan", "--shards", "3", "-o", "other"] + Self.buildFlags(f), in: f.folder, environment: f.environment).status == 0)
        #expect(try ep(["shards", "extract", "other", "--index", "2"], in: f.folder, environment: f.environment).status == 0)
        let shard2 = f.folder + "/run/shards/shard-00002.safetensors"
        try FileManager.default.removeItem(atPath: shard2)
        try FileManager.default.copyItem(atPath: f.folder + "/other/shards/shard-00002.safetensors", toPath: shard2)
        let foreign = try ep(["shards", "merge", "run", "-o", "again", "--wait", "0"], in: f.folder, environment: f.environment)
        #expect(foreign.status == 1 && foreign.stderr.contains("shard-00002.safetensors") && foreign.stderr.contains("plan"), "\(foreign.stderr)")
        // A truncated shard 1.
        let shard1 = f.folder + "/run/shards/shard-00001.safetensors"
        let bytes = try ReadOnlyFile(path: shard1).readBytes(count: 4096, at: 0)
        try FileManager.default.removeItem(atPath: shard1)
        try AtomicOutput.write(bytes, to: shard1)
        let damaged = try ep(["shards", "merge", "run", "-o", "again2", "--wait", "0"], in: f.folder, environment: f.environment)
        #expect(damaged.status == 1 && damaged.stderr.contains("shard-00001.safetensors"), "\(damaged.stderr)")
    }
}

extension Array where Element == String {
    /// The flags with `--percentile`'s value replaced.
    fileprivate func replacingPercentile(with value: String) -> [String] {
        var out = self
        if let i = out.firstIndex(of: "--percentile"), i + 1 < out.count { out[i + 1] = value }
        return out
    }
}

/// Runs a command found on PATH and returns its standard output.
private func command(_ name: String, _ arguments: [String]) throws -> String {
    let process = Process()
    process.executableURL = URL(fileURLWithPath: "/usr/bin/env")
    process.arguments = [name] + arguments
    let out = Pipe()
    process.standardOutput = out
    process.standardError = FileHandle.nullDevice
    try process.run()
    let data = out.fileHandleForReading.readDataToEndOfFile()
    process.waitUntilExit()
    return String(decoding: data, as: UTF8.self)
}
