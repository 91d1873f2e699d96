import EPCore
import EPFormats
import EPStore
import Foundation

/// Calibrations of builds from text, cached on disk so that later builds of the same model, hook and extraction
/// skip the calibration pass (docs/build.md). A cached calibration is used when it was computed on at least as many
/// activations as asked for. Files are calibration records (``CalibrationRecord``, the format of `ep calibrate`)
/// named by the key, in `$EP_CALIBRATION_CACHE` or `<ep cache folder>/calibration`.
///
/// The key is the model file's SHA-256, the hook, the extractor, the context length, the BOS token, whether
/// position 0 is left out, the percentile and its method, and (when not f32) the precision activations are rounded
/// to. Like the reference, it does not include the corpus: a calibration is reused across corpora (the record's
/// `source.inputs` says which corpus it came from).
public struct CalibrationCache: Sendable {
    /// The folder holding the records.
    public let folder: String

    /// The cache in `folder`, or in the default folder.
    public init(folder: String? = nil) {
        let environment = ProcessInfo.processInfo.environment
        self.folder = folder ?? environment["EP_CALIBRATION_CACHE"].flatMap { $0.isEmpty ? nil : $0 } ?? ModelIdentity.cacheFolder + "/calibration"
    }

    /// What identifies a calibration apart from its percentile.
    public struct Key: Sendable, Equatable {
        public var modelSHA256: String
        public var hook: String
        public var extractor: ExtractorKind
        public var context: Int
        public var bosTokenID: Int32?
        public var excludeFirstPosition: Bool
        public var method: PercentileMethod
        /// The precision activations were rounded to (a calibration of rounded activations is another one).
        public var activationDType: ActivationDType

        public init(
            modelSHA256: String, hook: String, extractor: ExtractorKind, context: Int, bosTokenID: Int32?, excludeFirstPosition: Bool, method: PercentileMethod,
            activationDType: ActivationDType = .f32
        ) {
            self.activationDType = activationDType
            self.modelSHA256 = modelSHA256
            self.hook = hook
            self.extractor = extractor
            self.context = context
            self.bosTokenID = bosTokenID
            self.excludeFirstPosition = excludeFirstPosition
            self.method = method
        }

        /// The file name for `percentile`.
        func fileName(percentile: Double) -> String {
            let p = percentile == percentile.rounded() ? String(Int(percentile)) : String(percentile)
            let bos = bosTokenID.map { "bos\($0)" } ?? "nobos"
            let first = excludeFirstPosition ? "skip0" : "keep0"
            // f32 keeps the names of caches written before the precision was a setting.
            let precision = activationDType == .f32 ? "" : "__\(activationDType.rawValue)"
            return "\(modelSHA256.prefix(16))__\(hook)__\(extractor.rawValue)__ctx\(context)__\(bos)__\(first)__\(method.rawValue)\(precision)__pct\(p).json"
        }
    }

    /// The cached record for `key` at `percentile` made from at least `calibrationTokens` activations, or nil. A
    /// record that cannot be read counts as missing (it will be replaced).
    public func lookup(_ key: Key, percentile: Double, calibrationTokens: Int) -> CalibrationRecord? {
        let path = folder + "/" + key.fileName(percentile: percentile)
        guard FileManager.default.fileExists(atPath: path), let record = try? CalibrationRecord.read(path: path) else { return nil }
        guard record.calibration.activationCount >= calibrationTokens, record.calibration.percentile == percentile else { return nil }
        return record
    }

    /// Stores `record` under `key` (atomically). A folder that cannot be written is not an error — the calibration
    /// is only recomputed next time — but the store says why it did not keep the record: nil when it did, else
    /// the reason.
    @discardableResult
    public func store(_ record: CalibrationRecord, key: Key) -> String? {
        guard let percentile = record.calibration.percentile else { return "the calibration has no percentile (θ was given)" }
        do {
            try FileManager.default.createDirectory(atPath: folder, withIntermediateDirectories: true)
            try record.write(to: folder + "/" + key.fileName(percentile: percentile))
            return nil
        } catch {
            return "\(folder) cannot be written (\((error as? FileFormatError)?.problem ?? error.localizedDescription))"
        }
    }
}
