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

    /// The plan's content without `plan_id` and `created`, as the id is computed from it.
    public var computedID: String {
        guard case .object(var content) = json else { preconditionFailure("a plan encodes as an object") }
        content[CodingKeys.planID.stringValue] = nil
        content[CodingKeys.created.stringValue] = nil
        var h = SHA256()
        h.update(Array(JSONValue.object(content).rendered().utf8))
        return h.hexDigest
    }

    /// The plan as JSON: `format`, `format_version`, `plan_id`, `created`, then the content.
    public var json: JSONValue { JSONValueEncoder.value(of: self) }

    /// Writes the plan to `path` atomically.
    public func write(to path: String) throws {
        try AtomicOutput.write(string: json.rendered() + "\n", to: path)
    }

    /// Reads and checks a plan: format, version, fields, the shards' ranges, and that `plan_id` is the content's.
    public static func read(path: String) throws -> ShardPlan {
        let plan = try JSONValueDecoder().decode(ShardPlan.self, path: path)
        guard plan.computedID == plan.planID else {
            throw FileFormatError(path, "field 'plan_id': does not match the plan's content (was plan.json edited?); make the plan again with ep shards plan")
        }
        return plan
    }
}

extension ShardPlan: Codable {
    enum CodingKeys: String, CodingKey {
        case format, formatVersion = "format_version", planID = "plan_id", created, epVersion = "ep_version", arguments
        case workingDirectory = "working_directory", model, settings, fingerprint, corpus, shards
    }

    public func encode(to encoder: Encoder) throws {
        var c = encoder.container(keyedBy: CodingKeys.self)
        try c.encode(Self.formatName, forKey: .format)
        try c.encode(Self.formatVersion, forKey: .formatVersion)
        try c.encode(planID, forKey: .planID)
        try c.encode(created, forKey: .created)
        try c.encode(epVersion, forKey: .epVersion)
        try c.encode(arguments, forKey: .arguments)
        try c.encode(workingDirectory, forKey: .workingDirectory)
        try model.encode(to: c.superEncoder(forKey: .model), hooks: settings.hooks)
        try c.encode(settings, forKey: .settings)
        try c.encode(JSONValue.object(settings.fingerprint(modelSHA256: model.sha256)), forKey: .fingerprint)
        try c.encode(corpus, forKey: .corpus)
        try c.encode(shards, forKey: .shards)
    }

    public init(from decoder: Decoder) throws {
        let c = try decoder.container(keyedBy: CodingKeys.self)
        try c.requireFormat(.format, Self.formatName, what: "an ep shard plan")
        let version = try c.decode(Int.self, forKey: .formatVersion)
        guard version == Self.formatVersion else {
            throw c.fieldError(.formatVersion, "this ep reads shard plans of version \(Self.formatVersion), found \(version)")
        }
        settings = try c.decode(TextBuildSettings.self, forKey: .settings)
        do { try settings.validate() } catch let error as PipelineError {
            throw c.fieldError(.settings, "the settings are not valid: \(error.description)")
        }
        model = try Model(from: c.superDecoder(forKey: .model), hooks: settings.hooks)
        corpus = try c.decode(Corpus.self, forKey: .corpus)
        shards = try c.decode([Shard].self, forKey: .shards)
        for (i, shard) in shards.enumerated() {
            let expectedStart = i == 0 ? (0, 0) : (shards[i - 1].batches.upperBound, shards[i - 1].windows.upperBound)
            guard shard.index == i, shard.batches.lowerBound == expectedStart.0, shard.windows.lowerBound == expectedStart.1 else {
                throw c.fieldError(.shards, "element \(i): shards must be numbered 0, 1, … and cover the batches and windows contiguously")
            }
        }
        guard let last = shards.last, last.batches.upperBound == corpus.batches, last.windows.upperBound == corpus.windows else {
            throw c.fieldError(.shards, "the shards must cover the plan's \(corpus.batches) batches and \(corpus.windows) windows")
        }
        planID = try c.decode(String.self, forKey: .planID)
        created = try c.decode(String.self, forKey: .created)
        epVersion = try c.decode(String.self, forKey: .epVersion)
        arguments = try c.decode([String].self, forKey: .arguments)
        workingDirectory = try c.decode(String.self, forKey: .workingDirectory)
    }
}

extension ShardPlan.Model {
    enum CodingKeys: String, CodingKey {
        case name, path, sha256, width, hookWidths = "hook_widths"
    }

    /// The model as a plan records it, with `hook_widths` an object keyed by `hooks` (the settings' hooks, in order).
    func encode(to encoder: Encoder, hooks: [String]) throws {
        var c = encoder.container(keyedBy: CodingKeys.self)
        try c.encode(name, forKey: .name)
        try c.encode(path, forKey: .path)
        try c.encode(sha256, forKey: .sha256)
        try c.encode(width, forKey: .width)
        try c.encode(JSONOrderedObject(zip(hooks, hookWidths).map { (key: $0, value: $1) }), forKey: .hookWidths)
    }

    /// The model of a plan whose settings name `hooks`: `hook_widths` must give the width of each, in order.
    init(from decoder: Decoder, hooks: [String]) throws {
        let c = try decoder.container(keyedBy: CodingKeys.self)
        let widths = try c.nestedContainer(keyedBy: JSONKey.self, forKey: .hookWidths)
        let found = widths.allKeys.map(\.stringValue)
        guard found == hooks else {
            throw c.fieldError(.hookWidths, "expected the widths of \(hooks.joined(separator: ", ")), found \(found.joined(separator: ", "))")
        }
        self.init(
            name: try c.decode(String.self, forKey: .name), path: try c.decode(String.self, forKey: .path),
            sha256: try c.decode(String.self, forKey: .sha256), width: try c.decode(Int.self, forKey: .width),
            hookWidths: try hooks.map { try widths.decode(Int.self, forKey: JSONKey($0)) })
    }
}

extension ShardPlan.Corpus: Codable {
    enum CodingKeys: String, CodingKey {
        case windows, tokens, rows, batches, windowsSHA256 = "windows_sha256", exhausted, calibrationBatches = "calibration_batches"
        case budgetBatches = "budget_batches"
    }
}

extension ShardPlan.Shard: Codable {
    enum CodingKeys: String, CodingKey {
        case index, batches, windows, tokens, rows, windowsSHA256 = "windows_sha256"
    }

    /// Ranges are written `[first, end]`.
    public init(from decoder: Decoder) throws {
        let c = try decoder.container(keyedBy: CodingKeys.self)
        func range(_ key: CodingKeys) throws -> Range<Int> {
            let pair = try c.decode([Int].self, forKey: key)
            guard pair.count == 2, pair[0] >= 0, pair[1] > pair[0] else { throw c.fieldError(key, "expected [first, end] with 0 ≤ first < end") }
            return pair[0]..<pair[1]
        }
        let windows = try range(.windows)
        self.init(
            index: try c.decode(Int.self, forKey: .index), batches: try range(.batches), windows: Int64(windows.lowerBound)..<Int64(windows.upperBound),
            tokens: try c.decode(Int.self, forKey: .tokens), rows: try c.decode(Int.self, forKey: .rows),
            windowsSHA256: try c.decode(String.self, forKey: .windowsSHA256))
    }

    public func encode(to encoder: Encoder) throws {
        var c = encoder.container(keyedBy: CodingKeys.self)
        try c.encode(index, forKey: .index)
        try c.encode([batches.lowerBound, batches.upperBound], forKey: .batches)
        try c.encode([windows.lowerBound, windows.upperBound], forKey: .windows)
        try c.encode(tokens, forKey: .tokens)
        try c.encode(rows, forKey: .rows)
        try c.encode(windowsSHA256, forKey: .windowsSHA256)
    }
}
