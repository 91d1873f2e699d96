import ArgumentParser
import EPFormats
import EPPipeline
import EPStore
import Foundation

/// `ep slurm`: run a shard plan on a Slurm cluster.
struct Slurm: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Run a shard plan (ep shards plan) on a Slurm cluster.",
        subcommands: [SlurmSubmit.self])
}

/// `ep slurm submit RUN -o DICT`: the extraction array and the merge job.
struct SlurmSubmit: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "submit",
        abstract: "Submit a shard plan to Slurm: an array job extracting the shards, and a merge job after it.",
        discussion: """
            Writes RUN/slurm/extract.sbatch and RUN/slurm/merge.sbatch and submits them with sbatch: a job array \
            (--array=0-N-1, at most --max-concurrent tasks at once) whose task i runs `ep shards extract RUN` for \
            shard i ($SLURM_ARRAY_TASK_ID), retrying a failed extraction in place up to --retries times, and a merge \
            job (--dependency=afterok on the array; Slurm cancels it if a task fails for good) running `ep shards \
            merge RUN -o DICT --resume`. Both are --requeue'd: a task on a failed node runs again elsewhere. RUN, \
            the model and the corpus must be at the same paths on every node (a shared file system), and so must \
            the ep executable (--ep). Slurm's output goes to RUN/logs/. Watch with `ep shards status RUN` (and \
            squeue). Submitting the same RUN again (after a failure or a cancel) submits only the shards that are \
            not done and a merge that continues the previous one; it is refused while an earlier submission still \
            has jobs in the queue.
            """)

    @Argument(help: ArgumentHelp("The run folder (ep shards plan -o RUN).", valueName: "RUN"))
    var runFolder: String

    @Option(name: [.short, .customLong("output")], help: "Dictionary folder the merge writes (as ep shards merge -o).")
    var output: String

    @Option(help: "Slurm partition (sbatch --partition).")
    var partition: String?

    @Option(help: "Time limit of each job (sbatch --time, e.g. 2:00:00).")
    var time: String?

    @Option(parsing: .unconditional, help: "CPUs per task (sbatch --cpus-per-task); the plan's thread count is what extraction uses.")
    var cpusPerTask: Int?

    @Option(help: "Memory per node (sbatch --mem, e.g. 16G).")
    var mem: String?

    @Option(help: "Account to charge (sbatch --account).")
    var account: String?

    @Option(name: .customLong("sbatch-arg"), parsing: .unconditionalSingleValue, help: "A further sbatch flag for both jobs, e.g. --sbatch-arg=--qos=high (repeatable).")
    var sbatchArguments: [String] = []

    @Option(parsing: .unconditional, help: "At most this many extraction tasks at once (--array=…%K).")
    var maxConcurrent: Int?

    @Option(parsing: .unconditional, help: "Extraction attempts per task before the task fails.")
    var retries = 3

    @Option(name: .customLong("ep"), help: "The ep executable the jobs run (default: this one).")
    var executable: String?

    func validate() throws {
        if let cpusPerTask, cpusPerTask < 1 { throw ValidationError("--cpus-per-task: expected a number ≥ 1, found \(cpusPerTask)") }
        if let maxConcurrent, maxConcurrent < 1 { throw ValidationError("--max-concurrent: expected a number of tasks ≥ 1, found \(maxConcurrent)") }
        guard retries >= 1 else { throw ValidationError("--retries: expected a number of attempts ≥ 1, found \(retries)") }
        for argument in sbatchArguments where !argument.hasPrefix("-") {
            throw ValidationError("--sbatch-arg \(argument): expected an sbatch flag such as --qos=high")
        }
    }

    func run() throws {
        let folder = ShardRun(absolutePath(runFolder))
        let plan = try readPlan(folder)
        // The merge job claims the dictionary when it starts; check now that it could (not an input, not foreign).
        try OutputGuard.claim(absolutePath(output), kind: buildOutputKind(plan.settings), inputs: [folder.folder]).release()

        var options = SlurmSubmission.Options(executable: try absolutePath(executable ?? Self.currentExecutable()))
        options.partition = partition
        options.time = time
        options.cpusPerTask = cpusPerTask
        options.memory = mem
        options.account = account
        options.sbatchArguments = sbatchArguments
        options.maxConcurrent = maxConcurrent
        options.retries = retries
        guard FileManager.default.isExecutableFile(atPath: options.executable) else {
            throw CommandError("--ep \(options.executable): not an executable file")
        }
        let submission = try SlurmSubmission.submit(run: folder, output: absolutePath(output), options: options)
        if let array = submission.arrayJob {
            let done = plan.shards.count - submission.indices.count
            print("extraction: job array \(array), \(submission.indices.count) shard\(submission.indices.count == 1 ? "" : "s")\(done > 0 ? " (\(done) already done)" : "") → \(folder.shardsFolder)")
        } else {
            print("extraction: every shard is done")
        }
        print("merge: job \(submission.mergeJob)\(submission.arrayJob.map { " after \($0)" } ?? "") → \(submission.output)")
        print("watch: ep shards status \(runFolder)   (Slurm output in \(folder.folder)/logs)")
    }

    /// The path of the running ep executable.
    static func currentExecutable() throws -> String {
        #if os(Linux)
        if let path = try? FileManager.default.destinationOfSymbolicLink(atPath: "/proc/self/exe") { return path }
        #endif
        return CommandLine.arguments[0]
    }
}
