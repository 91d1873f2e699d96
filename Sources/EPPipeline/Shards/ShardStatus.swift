import EPFormats
import EPStore
import Foundation

/// What the last extraction of a shard did (`RUN/status/shard-00007.json`, format `ep-shard-status`): written
/// when it starts, after every batch, and when it ends.
public struct ShardStatusRecord: Sendable, Equatable, Codable {
    public static let formatName = "ep-shard-status"

    /// Where an extraction stands.
    public enum State: String, Sendable, JSONStringEnum {
        case running, done, failed
    }

    public var planID: String
    public var index: Int
    public var state: State
    public var host: String
    public var pid: Int
    /// ISO-8601 UTC times.
    public var started: String
    public var updated: String
    public var ended: String?
    /// Rows written so far, and the shard's rows.
    public var rows: Int
    public var rowsTotal: Int
    /// Seconds since the start (of the extraction proper: model opened to shard written).
    public var seconds: Double
    /// Why it failed.
    public var error: String?

    public init(planID: String, index: Int, state: State, host: String, pid: Int, started: String, updated: String, ended: String?, rows: Int, rowsTotal: Int, seconds: Double, error: String?) {
        self.planID = planID
        self.index = index
        self.state = state
        self.host = host
        self.pid = pid
        self.started = started
        self.updated = updated
        self.ended = ended
        self.rows = rows
        self.rowsTotal = rowsTotal
        self.seconds = seconds
        self.error = error
    }

    enum CodingKeys: String, CodingKey {
        case planID = "plan_id", index, state, host, pid, started, updated, ended, rows, rowsTotal = "rows_total", seconds, error
    }

    public var json: JSONValue { JSONValueEncoder.value(of: JSONRecordFile(format: Self.formatName, version: 1, record: self)) }

    /// Writes the record atomically.
    public func write(to path: String) throws {
        try AtomicOutput.write(string: json.rendered() + "\n", to: path)
    }

    /// Reads a record.
    public static func read(path: String) throws -> ShardStatusRecord {
        try JSONValueDecoder().decodeRecord(Self.self, path: path, format: formatName)
    }
}

/// What the merge is doing (`RUN/status/merge.json`, format `ep-shard-merge-status`).
public struct MergeStatusRecord: Sendable, Equatable, Codable {
    public static let formatName = "ep-shard-merge-status"

    public enum State: String, Sendable, JSONStringEnum {
        case running, waiting, done, failed, interrupted
    }

    public var planID: String
    /// The dictionary (folder) written, as an absolute path.
    public var output: String
    public var state: State
    public var host: String
    public var pid: Int
    public var started: String
    public var updated: String
    /// Batches clustered (of the plan's), and the shard being read.
    public var batches: Int
    public var batchesPlanned: Int
    public var shard: Int?
    /// The shard waited for, while waiting.
    public var waitingFor: Int?
    /// Rows clustered so far, and seconds of this run.
    public var rows: Int
    public var seconds: Double
    /// Why the build stopped, once it has.
    public var stopReason: String?
    public var error: String?

    public init(planID: String, output: String, state: State, host: String, pid: Int, started: String, updated: String, batches: Int, batchesPlanned: Int, shard: Int?, waitingFor: Int?, rows: Int, seconds: Double, stopReason: String?, error: String?) {
        self.planID = planID
        self.output = output
        self.state = state
        self.host = host
        self.pid = pid
        self.started = started
        self.updated = updated
        self.batches = batches
        self.batchesPlanned = batchesPlanned
        self.shard = shard
        self.waitingFor = waitingFor
        self.rows = rows
        self.seconds = seconds
        self.stopReason = stopReason
        self.error = error
    }

    enum CodingKeys: String, CodingKey {
        case planID = "plan_id", output, state, host, pid, started, updated, batches, batchesPlanned = "batches_planned", shard
        case waitingFor = "waiting_for", rows, seconds, stopReason = "stop_reason", error
    }

    public var json: JSONValue { JSONValueEncoder.value(of: JSONRecordFile(format: Self.formatName, version: 1, record: self)) }

    public func write(to path: String) throws {
        try AtomicOutput.write(string: json.rendered() + "\n", to: path)
    }

    public static func read(path: String) throws -> MergeStatusRecord {
        try JSONValueDecoder().decodeRecord(Self.self, path: path, format: formatName)
    }

    /// Whether the merge's process is gone (on this machine) while its record says it runs or waits.
    public var hasVanished: Bool {
        (state == .running || state == .waiting) && host == ShardRun.hostName && kill(Int32(pid), 0) != 0 && errno == ESRCH
    }
}

/// The state of every shard of a plan and of its merge, as `ep shards status` shows it.
public struct ShardRunStatus: Sendable {
    /// Where a shard stands.
    public enum State: String, Sendable, Encodable {
        /// Its file is there and belongs to the plan.
        case done
        /// An extraction is running (its status record says so and, on this machine, its process is alive).
        case running
        /// The last extraction failed (or, on this machine, its process ended without finishing: killed).
        case failed
        /// No extraction has written it yet.
        case pending
        /// A file is at its path but it is not a shard of this plan (or it is damaged).
        case invalid
    }

    public struct Shard: Sendable {
        public var index: Int
        public var state: State
        /// Why failed or invalid.
        public var detail: String?
        /// The last extraction's record, if any (of this plan).
        public var record: ShardStatusRecord?
        /// Planned rows and tokens.
        public var rows: Int
        public var tokens: Int

        /// Activations per second of a finished extraction (nil unless done, by an extraction of this plan).
        public var activationsPerSecond: Double? {
            guard state == .done, let r = record, r.state == .done, r.seconds > 0 else { return nil }
            return Double(r.rows) / r.seconds
        }
    }

    public var planID: String
    public var shards: [Shard]
    /// The merge's record, if a merge of this plan ran.
    public var merge: MergeStatusRecord?

    /// Counts by state.
    public func count(_ state: State) -> Int { shards.filter { $0.state == state }.count }

    /// The status of `run` (its plan `plan`). Every shard file present is opened and its metadata and windows
    /// are checked (not its activation bytes).
    public static func read(_ run: ShardRun, plan: ShardPlan) -> ShardRunStatus {
        let host = ShardRun.hostName
        var shards: [Shard] = []
        for s in plan.shards {
            let record = (try? ShardStatusRecord.read(path: run.statusPath(s.index))).flatMap { $0.planID == plan.planID ? $0 : nil }
            var shard = Shard(index: s.index, state: .pending, detail: nil, record: record, rows: s.rows, tokens: s.tokens)
            let path = run.shardPath(s.index)
            if FileManager.default.fileExists(atPath: path) {
                if let problem = ShardFile.check(path: path, plan: plan, index: s.index) {
                    shard.state = .invalid
                    shard.detail = problem
                } else {
                    shard.state = .done
                }
            } else if let record {
                switch record.state {
                case .running:
                    if record.host == host && kill(Int32(record.pid), 0) != 0 && errno == ESRCH {
                        shard.state = .failed
                        shard.detail = "its extraction (pid \(record.pid)) ended without finishing (killed?)"
                    } else {
                        shard.state = .running
                    }
                case .failed:
                    shard.state = .failed
                    shard.detail = record.error
                case .done:
                    shard.state = .pending
                    shard.detail = "extracted, but the file has since been removed"
                }
            }
            shards.append(shard)
        }
        let merge = (try? MergeStatusRecord.read(path: run.mergeStatusPath)).flatMap { $0.planID == plan.planID ? $0 : nil }
        return ShardRunStatus(planID: plan.planID, shards: shards, merge: merge)
    }
}

extension ShardRunStatus {
    /// What `ep shards status --json` prints: the plan, the count of shards in each state, every shard, and the
    /// merge's record (null before a merge ran).
    public struct Report: Sendable, Encodable {
        /// Shards in each state.
        public struct Counts: Sendable, Encodable {
            public var done: Int
            public var running: Int
            public var failed: Int
            public var pending: Int
            public var invalid: Int

            enum CodingKeys: String, CodingKey {
                case done, running, failed, pending, invalid
            }
        }

        /// A shard: its state and file, its planned tokens and activations, and what its last extraction did.
        public struct Shard: Sendable, Encodable {
            public var index: Int
            public var state: State
            public var path: String
            public var tokens: Int
            public var activations: Int
            /// Activations written (all of them once done).
            public var activationsDone: Int
            public var activationsPerSecond: Double?
            /// The last extraction's seconds, host and process id (null without one).
            public var seconds: Double?
            public var host: String?
            public var pid: Int?
            /// Why failed or invalid.
            public var detail: String?

            enum CodingKeys: String, CodingKey {
                case index, state, path, tokens, activations, activationsDone = "activations_done", activationsPerSecond = "activations_per_second"
                case seconds, host, pid, detail
            }
        }

        /// The merge's record (``MergeStatusRecord``'s fields but the plan id), with the state "vanished" when its
        /// process is gone (on this machine) while the record says it runs.
        public struct Merge: Sendable, Encodable {
            public var record: MergeStatusRecord
            public var vanished: Bool

            public func encode(to encoder: any Encoder) throws {
                guard case .object(let fields) = JSONValueEncoder.value(of: record) else { preconditionFailure("MergeStatusRecord: not an object") }
                var merge = JSONObject()
                for key in fields.keys where key != MergeStatusRecord.CodingKeys.planID.stringValue { merge[key] = fields[key] }
                if vanished { merge[MergeStatusRecord.CodingKeys.state.stringValue] = .string("vanished") }
                try JSONValue.object(merge).encode(to: encoder)
            }
        }

        public var planID: String
        /// The run folder.
        public var run: String
        public var shardCount: Int
        /// The plan's batches and tokens.
        public var batches: Int
        public var tokens: Int
        public var counts: Counts
        public var shards: [Shard]
        public var merge: Merge?

        enum CodingKeys: String, CodingKey {
            case planID = "plan_id", run, shardCount = "shard_count", batches, tokens, counts, shards, merge
        }

        /// The report of `status`, read from `run` (its plan `plan`).
        public init(_ status: ShardRunStatus, plan: ShardPlan, run: ShardRun) {
            planID = plan.planID
            self.run = run.folder
            shardCount = plan.shards.count
            batches = plan.corpus.batches
            tokens = plan.corpus.tokens
            counts = Counts(
                done: status.count(.done), running: status.count(.running), failed: status.count(.failed), pending: status.count(.pending),
                invalid: status.count(.invalid))
            shards = status.shards.map { s in
                Shard(
                    index: s.index, state: s.state, path: run.shardPath(s.index), tokens: s.tokens, activations: s.rows,
                    activationsDone: s.state == .done ? s.rows : s.record?.rows ?? 0, activationsPerSecond: s.activationsPerSecond,
                    seconds: s.record?.seconds, host: s.record?.host, pid: s.record?.pid, detail: s.detail)
            }
            merge = status.merge.map { Merge(record: $0, vanished: $0.hasVanished) }
        }
    }
}
