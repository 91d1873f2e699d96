import EPFormats
import Foundation

/// The folder of a sharded build (`RUN`): the plan, the shards the extraction steps write, their status records,
/// and room for runners' logs and Slurm scripts.
///
/// ```
/// RUN/plan.json                         the plan (ShardPlan, format ep-shard-plan)
/// RUN/shards/shard-00007.safetensors    shard 7 (ShardFile, format ep-shard), written atomically
/// RUN/status/shard-00007.json           what the last extraction of shard 7 did (running, done, failed)
/// RUN/status/merge.json                 what the merge is doing
/// RUN/logs/, RUN/slurm/                 for runners (ep writes nothing there)
/// ```
public struct ShardRun: Sendable {
    /// The folder.
    public let folder: String

    public init(_ folder: String) {
        var path = folder
        while path.count > 1 && path.hasSuffix("/") { path.removeLast() }
        self.folder = path
    }

    public var planPath: String { "\(folder)/plan.json" }
    public var shardsFolder: String { "\(folder)/shards" }
    public var statusFolder: String { "\(folder)/status" }
    public var mergeStatusPath: String { "\(folder)/status/merge.json" }

    /// The file name of shard `index` (`shard-00007.safetensors`).
    public static func shardName(_ index: Int) -> String { "shard-\(padded(index)).safetensors" }

    /// The path of shard `index`.
    public func shardPath(_ index: Int) -> String { "\(shardsFolder)/\(Self.shardName(index))" }

    /// The path of shard `index`'s status record.
    public func statusPath(_ index: Int) -> String { "\(statusFolder)/shard-\(Self.padded(index)).json" }

    private static func padded(_ index: Int) -> String {
        let digits = String(index)
        return digits.count >= 5 ? digits : String(repeating: "0", count: 5 - digits.count) + digits
    }

    /// What a run folder may hold at its top level.
    public static let entries: Set<String> = ["plan.json", "shards", "status", "logs", "slurm"]

    /// The plan folder as an output (`ep shards plan -o RUN`): recognised by its `plan.json` (format
    /// `ep-shard-plan`), and holding nothing but the entries above.
    public static let outputKind = OutputKind(name: "shard plan folder", isFolder: true) { path in
        let listed = OutputGuard.entries(of: path)
        if listed.isEmpty { return .ours }
        let others = listed.filter { !entries.contains($0) && !$0.hasPrefix(".plan.json.tmp-") }
        if !others.isEmpty { return .foreign("holds \(OutputGuard.describe(others)), which ep did not write in a shard plan folder") }
        guard let value = try? JSONValue.read(path: "\(path)/plan.json"), case .object(let o) = value, o["format"] == .string(ShardPlan.formatName) else {
            return .foreign("has no plan.json of format \"\(ShardPlan.formatName)\": it is not a shard plan folder")
        }
        return .ours
    }

    /// A shard file as an output (recognised by its `format` metadata).
    public static let shardKind = OutputKind.safetensors("shard", key: "format", value: ShardFile.formatName)

    /// The name of this machine, for status records.
    public static var hostName: String {
        var buffer = [CChar](repeating: 0, count: 256)
        guard gethostname(&buffer, buffer.count - 1) == 0 else { return "unknown" }
        return String(decoding: buffer.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self)
    }
}
