import ArgumentParser
import EPCore
import EPFormats
import EPStore
import EPTensors
import Foundation

/// `ep assign`: the nearest region of every row of activation files (read-only, spec §6.6).
struct Assign: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Assign activation rows to their nearest region.",
        discussion: """
            For every input row: the nearest region (by clamped cosine distance to its exemplar), that distance, and \
            whether it is within θ. The output format follows the extension of -o: \
            .npz — arrays `region` (int64), `distance` (float32), `within_threshold` (bool), held in memory until \
            written (13 bytes per row); \
            .csv — columns row,region,distance,within_threshold, streamed.
            """)

    @Argument(help: "Dictionary folder.")
    var dictionary: String

    @OptionGroup var input: ActivationInput

    @Option(help: "Rows per batch.")
    var batchSize = 16_384

    @Option(name: [.short, .customLong("output")], help: "Output file: .npz or .csv.")
    var output: String

    func run() throws {
        try requirePositive(batchSize, flag: "--batch-size")
        let lower = output.lowercased()
        guard lower.hasSuffix(".npz") || lower.hasSuffix(".csv") else {
            throw CommandError("-o \(output): unsupported output type; use a .npz or .csv path")
        }
        let loaded = try DictionaryStore.load(dictionary, reservoir: false)
        let dictionary = loaded.dictionary
        let stream = try input.open()
        guard stream.width == dictionary.width else {
            throw FileFormatError(stream.files[0].path, "rows have width \(stream.width) but the dictionary \(self.dictionary) has width \(dictionary.width)")
        }
        let theta = dictionary.thresholdFloat
        var batch = Matrix(rows: 0, columns: stream.width)
        if lower.hasSuffix(".csv") {
            let file = try AtomicFile(path: output)
            try file.sink.write(string: "row,region,distance,within_threshold\n")
            var row = 0
            try forEachBatch(stream, dictionary, &batch) { result in
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
            try forEachBatch(stream, dictionary, &batch) { result in
                regions += result.regions
                distances += result.distances
            }
            var npz = NPZWriter()
            npz.add("region", regions, shape: [regions.count])
            npz.add("distance", distances, shape: [distances.count])
            npz.add("within_threshold", distances.map { $0 <= theta }, shape: [distances.count])
            try npz.write(to: output)
        }
        print("\(grouped(stream.totalRows)) rows assigned to \(grouped(dictionary.regionCount)) regions → \(output)")
    }

    private func forEachBatch(
        _ stream: ActivationStream, _ dictionary: ExemplarDictionary, _ batch: inout Matrix, _ body: (Assignment) throws -> Void
    ) throws {
        while true {
            let start = stream.position
            guard try stream.next(into: &batch, maxRows: batchSize) else { return }
            let current = batch
            try body(try naming(stream, batchStart: start) { try dictionary.assign(current) })
        }
    }
}
