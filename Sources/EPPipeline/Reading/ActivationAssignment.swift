import EPCore
import EPFormats
import Foundation

/// The nearest region of every row of activation files (`ep assign ACTS… -o OUT`), written as a file: `.npz` with
/// arrays `region` (int64), `distance` (float32) and `within_threshold` (bool), held in memory until written (13
/// bytes a row), or `.csv` with columns row,region,distance,within_threshold, streamed.
public enum ActivationAssignment {
    /// The CSV output's header line, which marks it as ep's.
    public static let csvHeader = "row,region,distance,within_threshold"
    public static let csvKind = OutputKind.text("assignments (.csv)", firstLines: [csvHeader])
    /// The `.npz` output's ZIP comment, which marks it as ep's.
    public static let npzMark = "ep assign (region, distance, within_threshold)"
    public static let npzKind = OutputKind.npz("assignments (.npz)", mark: npzMark)

    /// The output kind of `path` (by its extension), nil when it is neither `.npz` nor `.csv`.
    public static func outputKind(of path: String) -> OutputKind? {
        let lower = path.lowercased()
        return lower.hasSuffix(".csv") ? csvKind : lower.hasSuffix(".npz") ? npzKind : nil
    }

    /// Assigns every row of `stream` from where it is to its end, `batchSize` rows at a time, to its nearest region
    /// of `dictionary`, and writes the result to `path` (`.csv`, otherwise `.npz`) atomically.
    public static func write(_ dictionary: ExemplarDictionary, _ stream: ActivationStream, batchSize: Int, to path: String) throws {
        let theta = dictionary.thresholdFloat
        if path.lowercased().hasSuffix(".csv") {
            let file = try AtomicFile(path: path)
            try file.sink.write(string: csvHeader + "\n")
            var row = 0
            try stream.forEachBatch(batchSize: batchSize, { try dictionary.assign($0) }) { result in
                var text = ""
                for (region, distance) in zip(result.regions, result.distances) {
                    text += "\(row),\(region),\(distance),\(distance <= theta ? 1 : 0)\n"
                    row += 1
                }
                try file.sink.write(string: text)
            }
            try file.commit()
        } else {
            var regions: [Int64] = []
            var distances: [Float] = []
            regions.reserveCapacity(stream.totalRows)
            distances.reserveCapacity(stream.totalRows)
            try stream.forEachBatch(batchSize: batchSize, { try dictionary.assign($0) }) { result in
                regions += result.regions
                distances += result.distances
            }
            var npz = NPZWriter()
            npz.comment = npzMark
            npz.add("region", regions, shape: [regions.count])
            npz.add("distance", distances, shape: [distances.count])
            npz.add("within_threshold", distances.map { $0 <= theta }, shape: [distances.count])
            try npz.write(to: path)
        }
    }
}
