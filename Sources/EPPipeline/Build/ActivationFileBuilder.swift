import EPCore
import EPFormats
import EPStore
import EPTensors
import Foundation

extension ActivationStream {
    /// Runs `body` on the batch read at stream row `batchStart`, turning an `EPError` about a row of it into an
    /// error naming the file and the row in it.
    public func naming<T>(batchStart: Int, _ body: () throws -> T) throws -> T {
        do {
            return try body()
        } catch EPError.nonFiniteValue(let row) {
            let (file, index) = location(ofRow: batchStart + row)
            throw FileFormatError(file.path, "row \(index) is not finite (NaN, an infinity, or values too large to square in Float); activations must be finite (rows count from 0)")
        } catch EPError.noDirection(let row, let norm) {
            let (file, index) = location(ofRow: batchStart + row)
            throw FileFormatError(file.path, "row \(index) has no direction: its distance to the calibration center is \(norm), below \(Calibration.directionFloor) (all-zero, denormal or center-equal rows); calibration needs rows that differ from the center (rows count from 0)")
        }
    }

    /// Reads the stream from where it is to its end in batches of at most `batchSize` rows: `transform` turns
    /// each batch into a result (its errors about a row of the batch name the file and the row), which `consume`
    /// takes.
    public func forEachBatch<T>(batchSize: Int, _ transform: (Matrix) throws -> T, consume: (T) throws -> Void) throws {
        var batch = Matrix(rows: 0, columns: width)
        while true {
            let start = position
            guard try next(into: &batch, maxRows: batchSize) else { return }
            let current = batch
            try consume(try naming(batchStart: start) { try transform(current) })
        }
    }
}

/// Where a calibration from activation files is.
public enum StreamCalibrationProgress: Sendable {
    /// Pass 1: rows read into the center so far.
    case center(rows: Int)
    /// Pass 2: the threshold batch being read (from 1) and the number of batches.
    case threshold(batch: Int, of: Int)
}

extension Calibration {
    /// Calibrates from the first rows of `stream` (both passes, docs/method.md, re-reading the same batches instead
    /// of holding them), leaving the stream rewound.
    public static func calibrate(
        _ stream: ActivationStream, settings: CalibrationSettings, progress: (StreamCalibrationProgress) -> Void = { _ in }
    ) throws -> Calibration {
        var center = CenterEstimator(width: stream.width, settings: settings)
        var batch = Matrix(rows: 0, columns: stream.width)
        while !center.isComplete {
            let start = stream.position
            guard try stream.next(into: &batch, maxRows: settings.batchSize) else { break }
            try stream.naming(batchStart: start) { try center.add(batch) }
            progress(.center(rows: center.rowCount))
        }
        stream.rewind()
        var threshold = try ThresholdEstimator(center: try center.center(), settings: settings)
        for (i, rows) in center.batchRowCounts.enumerated() {
            let start = stream.position
            _ = try stream.next(into: &batch, maxRows: rows)
            try stream.naming(batchStart: start) { try threshold.add(batch) }
            progress(.threshold(batch: i + 1, of: center.batchRowCounts.count))
        }
        stream.rewind()
        return try threshold.finish(batchRowCounts: center.batchRowCounts)
    }
}

/// Builds a dictionary from activation files: every row of the stream, from where it is, clustered in batches of
/// `batchSize` rows with a given calibration (the library side of `ep build ACTS...`).
public struct ActivationFileBuilder {
    public let calibration: Calibration
    public var batchSize: Int
    /// The seed of the member reservoir; nil keeps no reservoir.
    public var reservoirSeed: UInt64?

    public init(calibration: Calibration, batchSize: Int = 16_384, reservoirSeed: UInt64? = nil) {
        self.calibration = calibration
        self.batchSize = batchSize
        self.reservoirSeed = reservoirSeed
    }

    /// Clusters the rows of `stream`, calling `onBatch` after every batch with the dictionary so far and the
    /// region of each row of the batch, in order.
    public func build(_ stream: ActivationStream, onBatch: (ExemplarDictionary, [Int]) throws -> Void = { _, _ in }) throws -> ExemplarDictionary {
        let dictionary = try ExemplarDictionary(calibration: calibration, reservoirSeed: reservoirSeed)
        try stream.forEachBatch(batchSize: batchSize, { try dictionary.addBatch($0) }, consume: { try onBatch(dictionary, $0.regions) })
        return dictionary
    }

    /// The provenance of a dictionary this builder made from `stream`, with `source` the provenance of its rows.
    public func provenance(of dictionary: ExemplarDictionary, source: ActivationSource?) -> BuildProvenance {
        BuildProvenance(
            batchSize: batchSize, seed: reservoirSeed.map { Int($0) }, batchCount: dictionary.batchHistory.count,
            activationCount: Int(dictionary.rowsSeen), saturated: dictionary.isSaturated(window: 1), reservoir: reservoirSeed != nil,
            newRegionRate: dictionary.newRegionRate, source: source)
    }
}
