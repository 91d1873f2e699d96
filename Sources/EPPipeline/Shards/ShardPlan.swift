import EPCore
import EPFormats
import EPRuntime
import EPStore
import Foundation

/// The plan of a sharded build (`RUN/plan.json`, format `ep-shard-plan` version 1): the settings of the build, the
/// model, and the windows the build in one process would consume — its deterministic window order (the seeded
/// shuffle included), cut into batches of `batchWindows` windows and the batches into contiguous shards balanced by
/// tokens. Extraction steps (``ShardExtraction``) write one shard each; the merge (``ShardBatchSource`` under
/// ``TextDictionaryBuilder``) clusters the shards in order and writes the dictionary the build in one process
/// writes.
///
/// The window list ends where the build in one process stops: at the batch that reaches the token budget (or, when
/// calibrating needs more batches than the budget, at the last calibration batch), or at the end of the corpus.
/// `plan_id` is the SHA-256 of the plan's JSON text without `plan_id` and `created`; shards record it.
public struct ShardPlan: Sendable {
    /// The value of the `format` field.
    public static let formatName = "ep-shard-plan"
    /// The format version written and read.
    public static let formatVersion = 1

    /// The model: as the user named it (recorded in the dictionary), the file it resolved to when the plan was
    /// made, its SHA-256 identity, and the widths.
    public struct Model: Sendable, Equatable {
        public var name: String
        public var path: String
        public var sha256: String
        /// Width of the residual stream.
        public var width: Int
        /// Width of each hook's rows, in the settings' hook order.
        public var hookWidths: [Int]

        public init(name: String, path: String, sha256: String, width: Int, hookWidths: [Int]) {
            self.name = name
            self.path = path
            self.sha256 = sha256
            self.width = width
            self.hookWidths = hookWidths
        }
    }

    /// The windows of the plan.
    public struct Corpus: Sendable, Equatable {
        public var windows: Int64
        public var tokens: Int
        public var rows: Int
        public var batches: Int
        /// SHA-256 of the token ids of every window, in order (``WindowDigest``; a build's `consumed_sha256` at the
        /// plan's end).
        public var windowsSHA256: String
        /// Whether the corpus ended within the plan (the build then stops with `corpus exhausted`).
        public var exhausted: Bool
        /// Batches a calibration computed by the build takes (nil: the calibration is given, or the corpus ends first).
        public var calibrationBatches: Int?
        /// The batch (1-based count) at which the token budget is reached (nil: no budget, or the corpus ends first).
        public var budgetBatches: Int?

        public init(windows: Int64, tokens: Int, rows: Int, batches: Int, windowsSHA256: String, exhausted: Bool, calibrationBatches: Int?, budgetBatches: Int?) {
            self.windows = windows
            self.tokens = tokens
            self.rows = rows
            self.batches = batches
            self.windowsSHA256 = windowsSHA256
            self.exhausted = exhausted
            self.calibrationBatches = calibrationBatches
            self.budgetBatches = budgetBatches
        }
    }

    /// One shard: whole, contiguous batches.
    public struct Shard: Sendable, Equatable {
        public var index: Int
        public var batches: Range<Int>
        public var windows: Range<Int64>
        public var tokens: Int
        public var rows: Int
        /// SHA-256 of the token ids of its windows (``WindowDigest``).
        public var windowsSHA256: String

        public init(index: Int, batches: Range<Int>, windows: Range<Int64>, tokens: Int, rows: Int, windowsSHA256: String) {
            self.index = index
            self.batches = batches
            self.windows = windows
            self.tokens = tokens
            self.rows = rows
            self.windowsSHA256 = windowsSHA256
        }
    }

    /// SHA-256 of the plan's content.
    public var planID: String
    /// When the plan was made (ISO-8601 UTC).
    public var created: String
    /// The ep version that made it; extraction and merge must be the same version.
    public var epVersion: String
    /// The `ep shards plan` arguments it was made from.
    public var arguments: [String]
    /// The working directory of the plan step: relative corpus paths are relative to it.
    public var workingDirectory: String
    public var model: Model
    /// Every setting of the build.
    public var settings: TextBuildSettings
    public var corpus: Corpus
    /// The windows per batch of each batch (all `settings.batchWindows` but the last when the corpus ends).
    public var shards: [Shard]

    /// The shard holding batch `batch`.
    public func shard(holding batch: Int) -> Shard? {
        shards.first { $0.batches.contains(batch) }
    }

    /// The plan without its id, as JSON (the content the id is computed from, plus `created`).
    private func content(created: Bool) -> JSONObject {
        var o = JSONObject()
        o["format"] = .string(Self.formatName)
        o["format_version"] = .integer(Int64(Self.formatVersion))
        if created { o["created"] = .string(self.created) }
        o["ep_version"] = .string(epVersion)
        o["arguments"] = .array(arguments.map { .string($0) })
        o["working_directory"] = .string(workingDirectory)
        var widths = JSONObject()
        for (hook, width) in zip(settings.hooks, model.hookWidths) { widths[hook] = .integer(Int64(width)) }
        o["model"] = .object(JSONObject([
            "name": .string(model.name), "path": .string(model.path), "sha256": .string(model.sha256), "width": .integer(Int64(model.width)),
            "hook_widths": .object(widths),
        ]))
        o["settings"] = settings.json
        o["fingerprint"] = .object(settings.fingerprint(modelSHA256: model.sha256))
        o["corpus"] = .object(JSONObject([
            "windows": .integer(corpus.windows), "tokens": .integer(Int64(corpus.tokens)), "rows": .integer(Int64(corpus.rows)),
            "batches": .integer(Int64(corpus.batches)), "windows_sha256": .string(corpus.windowsSHA256), "exhausted": .bool(corpus.exhausted),
            "calibration_batches": corpus.calibrationBatches.map { .integer(Int64($0)) } ?? .null,
            "budget_batches": corpus.budgetBatches.map { .integer(Int64($0)) } ?? .null,
        ]))
        o["shards"] = .array(shards.map { s in
            .object(JSONObject([
                "index": .integer(Int64(s.index)),
                "batches": .array([.integer(Int64(s.batches.lowerBound)), .integer(Int64(s.batches.upperBound))]),
                "windows": .array([.integer(s.windows.lowerBound), .integer(s.windows.upperBound)]),
                "tokens": .integer(Int64(s.tokens)), "rows": .integer(Int64(s.rows)), "windows_sha256": .string(s.windowsSHA256),
            ]))
        })
        return o
    }

    /// The id of the plan's content.
    public var computedID: String {
        var h = SHA256()
        h.update(Array(JSONValue.object(content(created: false)).rendered().utf8))
        return h.hexDigest
    }

    /// The plan as JSON: `format`, `format_version`, `plan_id`, then the content.
    public var json: JSONValue {
        var o = JSONObject()
        let body = content(created: true)
        for key in body.keys.prefix(2) { o[key] = body[key] }
        o["plan_id"] = .string(planID)
        for key in body.keys.dropFirst(2) { o[key] = body[key] }
        return .object(o)
    }

    /// Writes the plan to `path` atomically.
    public func write(to path: String) throws {
        try AtomicOutput.write(string: json.rendered() + "\n", to: path)
    }

    /// Reads and checks a plan: format, version, fields, the shards' ranges, and that `plan_id` is the content's.
    public static func read(path: String) throws -> ShardPlan {
        let f = try JSONFields(try JSONValue.read(path: path), path: path)
        let format = try f.string("format")
        guard format == formatName else { throw f.error("format", "expected \"\(formatName)\", found \"\(format)\" (not an ep shard plan)") }
        let version = try f.integer("format_version")
        guard version == formatVersion else { throw f.error("format_version", "this ep reads shard plans of version \(formatVersion), found \(version)") }
        let settings = try TextBuildSettings(json: try f.value("settings"), path: path)
        let m = try f.object("model")
        let widths = try m.object("hook_widths")
        guard widths.object.keys == settings.hooks else {
            throw m.error("hook_widths", "expected the widths of \(settings.hooks.joined(separator: ", ")), found \(widths.object.keys.joined(separator: ", "))")
        }
        let model = Model(
            name: try m.string("name"), path: try m.string("path"), sha256: try m.string("sha256"), width: try m.integer("width"),
            hookWidths: try settings.hooks.map { try widths.integer($0) })
        let c = try f.object("corpus")
        let corpus = Corpus(
            windows: Int64(try c.integer("windows")), tokens: try c.integer("tokens"), rows: try c.integer("rows"), batches: try c.integer("batches"),
            windowsSHA256: try c.string("windows_sha256"), exhausted: try c.bool("exhausted"),
            calibrationBatches: try c.optionalInteger("calibration_batches"), budgetBatches: try c.optionalInteger("budget_batches"))
        var shards: [Shard] = []
        for (i, value) in try f.array("shards").enumerated() {
            let s = try JSONFields(value, path: path).prefixed("shards[\(i)]")
            func range(_ key: String) throws -> (Int, Int) {
                let pair = try s.array(key)
                guard pair.count == 2, case .integer(let a) = pair[0], case .integer(let b) = pair[1], a >= 0, b > a else {
                    throw s.error(key, "expected [first, end] with 0 ≤ first < end")
                }
                return (Int(a), Int(b))
            }
            let batches = try range("batches"), windows = try range("windows")
            let shard = Shard(
                index: try s.integer("index"), batches: batches.0..<batches.1, windows: Int64(windows.0)..<Int64(windows.1),
                tokens: try s.integer("tokens"), rows: try s.integer("rows"), windowsSHA256: try s.string("windows_sha256"))
            let expectedStart = shards.last.map { ($0.batches.upperBound, $0.windows.upperBound) } ?? (0, 0)
            guard shard.index == i, shard.batches.lowerBound == expectedStart.0, shard.windows.lowerBound == expectedStart.1 else {
                throw s.error("index", "shards must be numbered 0, 1, … and cover the batches and windows contiguously")
            }
            shards.append(shard)
        }
        guard !shards.isEmpty, shards.last!.batches.upperBound == corpus.batches, shards.last!.windows.upperBound == corpus.windows else {
            throw f.error("shards", "the shards must cover the plan's \(corpus.batches) batches and \(corpus.windows) windows")
        }
        let plan = ShardPlan(
            planID: try f.string("plan_id"), created: try f.string("created"), epVersion: try f.string("ep_version"),
            arguments: try f.strings("arguments"), workingDirectory: try f.string("working_directory"), model: model, settings: settings,
            corpus: corpus, shards: shards)
        guard plan.computedID == plan.planID else {
            throw f.error("plan_id", "does not match the plan's content (was plan.json edited?); make the plan again with ep shards plan")
        }
        return plan
    }
}

extension JSONFields {
    /// The same fields, naming their keys under `prefix` in errors.
    func prefixed(_ prefix: String) -> JSONFields { JSONFields(object, path: path, prefix: prefix) }
}
