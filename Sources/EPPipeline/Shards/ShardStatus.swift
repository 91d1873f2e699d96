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
}

/// The state of every shard of a plan and of its merge, as `ep shards status` shows it.
public struct ShardRunStatus: Sendable {
    /// Where a shard stands.
    public enum State: String, Sendable {
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
