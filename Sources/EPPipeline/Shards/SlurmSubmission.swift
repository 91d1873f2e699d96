import EPFormats
import EPStore
import Foundation

/// A shard plan submitted to Slurm: a job array whose task `i` runs `ep shards extract RUN` for shard `i` (reading
/// `SLURM_ARRAY_TASK_ID`), and a merge job that starts when every task has succeeded
/// (`--dependency=afterok:ARRAY`, cancelled by Slurm if a task fails for good) and runs `ep shards merge RUN -o DICT
/// --resume`.
///
/// Failures: each task retries its extraction in place (`retries` attempts: a killed or crashed `ep` runs again,
/// a shard already written is not extracted twice); both jobs are `--requeue`d, so a task on a node that fails runs
/// again elsewhere; SIGTERM from the scheduler (a time limit, `scancel`) ends a task without a half-written shard.
/// Submitting the same run again submits only the shards that are not done, and a new merge that continues the old
/// one. The scripts are kept in `RUN/slurm/`, Slurm's output in `RUN/logs/`, and the job ids in
/// `RUN/slurm/submissions.json`.
public enum SlurmSubmission {
    /// The knobs passed to `sbatch`.
    public struct Options: Sendable {
        public var partition: String?
        public var time: String?
        public var cpusPerTask: Int?
        public var memory: String?
        public var account: String?
        /// Further `#SBATCH` lines, as `sbatch` flags (`--qos=high`, `--constraint=avx512`).
        public var sbatchArguments: [String] = []
        /// At most this many extraction tasks at once (`--array=…%K`).
        public var maxConcurrent: Int?
        /// Extraction attempts per task before it fails.
        public var retries = 3
        /// The `ep` executable the jobs run (must exist at this path on the nodes).
        public var executable: String
        /// The `sbatch` command.
        public var sbatch = "sbatch"
        /// The `squeue` command, to see whether an earlier submission still runs.
        public var squeue = "squeue"

        public init(executable: String) { self.executable = executable }
    }

    /// What was submitted.
    public struct Submission: Codable, Sendable, Equatable {
        /// The array job's id (nil when every shard was already done).
        public var arrayJob: String?
        /// The merge job's id.
        public var mergeJob: String
        /// The shards the array extracts.
        public var indices: [Int]
        /// The merge's output.
        public var output: String
        /// When.
        public var submitted: String

        enum CodingKeys: String, CodingKey {
            case arrayJob = "array_job"
            case mergeJob = "merge_job"
            case indices, output, submitted
        }
    }

    /// `submissions.json` (format "ep-slurm-submissions", version 1): every submission of a run's plan.
    struct SubmissionsFile: Codable {
        static let format = "ep-slurm-submissions"
        var planID: String?
        var submissions: [Submission]

        enum CodingKeys: String, CodingKey {
            case planID = "plan_id"
            case submissions
        }
    }

    /// The `--array` value for `indices` with at most `maxConcurrent` tasks at once: `0-3`, `1,4-6%2`.
    public static func arraySpecification(_ indices: [Int], maxConcurrent: Int?) -> String {
        var parts: [String] = []
        var start = 0
        let sorted = indices.sorted()
        while start < sorted.count {
            var end = start
            while end + 1 < sorted.count && sorted[end + 1] == sorted[end] + 1 { end += 1 }
            parts.append(start == end ? "\(sorted[start])" : "\(sorted[start])-\(sorted[end])")
            start = end + 1
        }
        return parts.joined(separator: ",") + (maxConcurrent.map { "%\($0)" } ?? "")
    }

    /// A shell word: `'…'` with embedded quotes escaped.
    static func quoted(_ word: String) -> String {
        "'" + word.replacingOccurrences(of: "'", with: "'\\''") + "'"
    }

    /// The `#SBATCH` lines every job gets.
    static func commonDirectives(_ options: Options) -> [String] {
        var lines: [String] = []
        if let partition = options.partition { lines.append("--partition=\(partition)") }
        if let time = options.time { lines.append("--time=\(time)") }
        if let cpus = options.cpusPerTask { lines.append("--cpus-per-task=\(cpus)") }
        if let memory = options.memory { lines.append("--mem=\(memory)") }
        if let account = options.account { lines.append("--account=\(account)") }
        lines += options.sbatchArguments
        return lines
    }

    /// The extraction array's batch script.
    public static func extractionScript(run: ShardRun, plan: ShardPlan, indices: [Int], options: Options) -> String {
        let directives = [
            "--job-name=ep-extract-\(plan.planID.prefix(8))",
            "--array=\(arraySpecification(indices, maxConcurrent: options.maxConcurrent))",
            "--output=\(run.folder)/logs/extract-%A_%a.out",
            "--requeue",
        ] + commonDirectives(options)
        return """
            #!/bin/bash
            \(directives.map { "#SBATCH \($0)" }.joined(separator: "\n"))
            # Written by `ep slurm submit` for the plan \(plan.planID) (\(plan.shards.count) shards). Task i extracts shard i
            # (SLURM_ARRAY_TASK_ID); a failed or killed extraction is retried in place, up to \(options.retries) attempts. A shard
            # already written is not extracted again. SIGTERM (time limit, scancel) ends the task without a half-written shard.
            set -u
            status=1
            for attempt in $(seq 1 \(options.retries)); do
              echo "ep slurm: shard ${SLURM_ARRAY_TASK_ID} on ${SLURMD_NODENAME:-?}, attempt ${attempt} of \(options.retries)" >&2
              \(quoted(options.executable)) shards extract \(quoted(run.folder)) --index "${SLURM_ARRAY_TASK_ID}"
              status=$?
              [ "$status" -eq 0 ] && exit 0
              echo "ep slurm: attempt ${attempt} ended with status ${status}" >&2
              sleep 2
            done
            exit "$status"

            """
    }

    /// The merge job's batch script.
    public static func mergeScript(run: ShardRun, plan: ShardPlan, output: String, options: Options) -> String {
        let directives = [
            "--job-name=ep-merge-\(plan.planID.prefix(8))",
            "--output=\(run.folder)/logs/merge-%j.out",
            "--requeue",
        ] + commonDirectives(options)
        return """
            #!/bin/bash
            \(directives.map { "#SBATCH \($0)" }.joined(separator: "\n"))
            # Written by `ep slurm submit` for the plan \(plan.planID): clusters the shards in plan order into the dictionary.
            # --resume continues a merge that was interrupted or requeued.
            set -u
            exec \(quoted(options.executable)) shards merge \(quoted(run.folder)) -o \(quoted(output)) --resume --wait 600

            """
    }

    /// The earlier submissions of `run` (empty when there are none).
    public static func submissions(_ run: ShardRun) throws -> [Submission] {
        let path = submissionsPath(run)
        guard FileManager.default.fileExists(atPath: path) else { return [] }
        return try JSONValueDecoder().decode(SubmissionsFile.self, path: path).submissions
    }

    static func submissionsPath(_ run: ShardRun) -> String { "\(run.folder)/slurm/submissions.json" }

    /// The jobs of earlier submissions that Slurm still lists (pending or running).
    public static func activeJobs(_ run: ShardRun, options: Options) throws -> [String] {
        let ids = try submissions(run).flatMap { [$0.arrayJob, $0.mergeJob].compactMap { $0 } }
        guard !ids.isEmpty else { return [] }
        let listed = try runCommand(options.squeue, ["-h", "-o", "%i", "-j", ids.joined(separator: ",")], allowFailure: true)
        let live = Set(listed.split(whereSeparator: \.isNewline).map { String($0.split(separator: "_").first ?? "") })
        return ids.filter(live.contains)
    }

    /// Submits the shards of `run` that are not done, and a merge into `output`. Refuses while an earlier
    /// submission of the run still has jobs in Slurm's queue.
    public static func submit(run: ShardRun, output: String, options: Options) throws -> Submission {
        let plan = try ShardPlan.read(path: run.planPath)
        let active = try activeJobs(run, options: options)
        guard active.isEmpty else {
            throw PipelineError("\(run.folder): an earlier submission still has jobs in the queue (\(active.joined(separator: ", "))); wait for them or scancel them, then submit again")
        }
        guard options.retries >= 1 else { throw PipelineError("--retries: expected a number of attempts ≥ 1, found \(options.retries)") }
        if let k = options.maxConcurrent, k < 1 { throw PipelineError("--max-concurrent: expected a number of tasks ≥ 1, found \(k)") }
        let status = ShardRunStatus.read(run, plan: plan)
        let indices = status.shards.filter { $0.state != .done }.map(\.index)
        for folder in ["slurm", "logs"] {
            try FileManager.default.createDirectory(atPath: "\(run.folder)/\(folder)", withIntermediateDirectories: true)
        }
        var arrayJob: String?
        if !indices.isEmpty {
            let script = "\(run.folder)/slurm/extract.sbatch"
            try AtomicOutput.write(string: extractionScript(run: run, plan: plan, indices: indices, options: options), to: script)
            arrayJob = try jobID(runCommand(options.sbatch, ["--parsable", script]))
        }
        let mergeScriptPath = "\(run.folder)/slurm/merge.sbatch"
        try AtomicOutput.write(string: mergeScript(run: run, plan: plan, output: output, options: options), to: mergeScriptPath)
        let dependency = arrayJob.map { ["--dependency=afterok:\($0)", "--kill-on-invalid-dep=yes"] } ?? []
        let mergeJob = try jobID(runCommand(options.sbatch, ["--parsable"] + dependency + [mergeScriptPath]))
        let submission = Submission(
            arrayJob: arrayJob, mergeJob: mergeJob, indices: indices, output: output, submitted: DictionaryManifest.timestamp(Date()))
        let all = try submissions(run) + [submission]
        let json = JSONValueEncoder.value(of: JSONRecordFile(
            format: SubmissionsFile.format, version: 1, record: SubmissionsFile(planID: plan.planID, submissions: all)))
        try AtomicOutput.write(string: json.rendered() + "\n", to: submissionsPath(run))
        return submission
    }

    /// The job id `sbatch --parsable` printed (`1234` or `1234;cluster`).
    static func jobID(_ output: String) throws -> String {
        let first = output.split(whereSeparator: \.isNewline).first.map(String.init) ?? ""
        let id = String(first.split(separator: ";").first ?? "").trimmingCharacters(in: .whitespaces)
        guard !id.isEmpty, id.allSatisfy(\.isNumber) else { throw PipelineError("sbatch printed no job id: '\(output)'") }
        return id
    }

    /// Runs `command` with `arguments` (found on PATH) and returns its standard output; a failure is an error with
    /// its standard error, unless `allowFailure`.
    static func runCommand(_ command: String, _ arguments: [String], allowFailure: Bool = false) throws -> String {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: "/usr/bin/env")
        process.arguments = [command] + arguments
        let out = Pipe(), err = Pipe()
        process.standardOutput = out
        process.standardError = err
        do { try process.run() } catch {
            throw PipelineError("cannot run \(command): \(error.localizedDescription)")
        }
        let outData = out.fileHandleForReading.readDataToEndOfFile()
        let errData = err.fileHandleForReading.readDataToEndOfFile()
        process.waitUntilExit()
        if process.terminationStatus != 0 && !allowFailure {
            let message = String(decoding: errData, as: UTF8.self).trimmingCharacters(in: .whitespacesAndNewlines)
            throw PipelineError("\(command) \(arguments.joined(separator: " ")) failed (status \(process.terminationStatus)): \(message.isEmpty ? "no message" : message)")
        }
        return String(decoding: outData, as: UTF8.self)
    }
}
