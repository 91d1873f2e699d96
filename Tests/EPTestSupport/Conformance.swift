import EPFormats
import EPTensors
import Foundation

/// One golden case of `Tests/Fixtures/conformance/` (see its README; copied from `../shared/conformance/`): the
/// settings, scalar results and arrays.
public struct ConformanceCase: Sendable {
    public let name: String
    public let folder: String
    public let n: Int
    public let d: Int
    public let percentile: Double
    public let calibrationBatchSize: Int
    public let calibrationTokens: Int
    public let addBatchSize: Int
    public let threshold: Double
    public let calibrationActivations: Int
    public let regionCount: Int
    public let centerNorm: Double

    /// The conformance folder: `Tests/Fixtures/conformance` of this repository.
    public static let root: String = {
        var url = URL(fileURLWithPath: #filePath)
        for _ in 0..<2 { url.deleteLastPathComponent() }
        return url.appendingPathComponent("Fixtures/conformance").path
    }()

    /// The names of the cases the repository holds. Tests take their arguments from this list (not from the
    /// folder's contents), so a missing case fails its test instead of vanishing from the run.
    public static let names = ["medium-d64", "small-d16", "wide-d576"]

    /// The case `name` of ``root``; throws when its files are missing.
    public static func named(_ name: String) throws -> ConformanceCase {
        try ConformanceCase(folder: "\(root)/\(name)")
    }

    public init(folder: String) throws {
        self.folder = folder
        name = URL(fileURLWithPath: folder).lastPathComponent
        let data = try Data(contentsOf: URL(fileURLWithPath: folder + "/case.json"))
        let json = try JSONSerialization.jsonObject(with: data) as! [String: Any]
        func int(_ key: String) -> Int { (json[key] as! NSNumber).intValue }
        func double(_ key: String) -> Double { (json[key] as! NSNumber).doubleValue }
        n = int("n")
        d = int("d")
        percentile = double("percentile")
        calibrationBatchSize = int("calibration_batch_size")
        calibrationTokens = int("calibration_tokens")
        addBatchSize = int("add_batch_size")
        threshold = double("threshold")
        calibrationActivations = int("n_calibration_activations")
        regionCount = int("n_partitions")
        centerNorm = double("center_norm")
    }

    public func path(_ file: String) -> String { "\(folder)/\(file)" }

    /// The activations as `Float` (`n × d`).
    public func activations() throws -> Matrix {
        let (values, shape) = try NPY.readFloats(path: path("activations.npy"))
        return Matrix(rows: shape[0], columns: shape[1], storage: values)
    }

    public func floats(_ file: String) throws -> [Float] { try NPY.readFloats(path: path(file)).values }
    public func doubles(_ file: String) throws -> [Double] { try NPY.readDoubles(path: path(file)).values }
    public func integers(_ file: String) throws -> [Int] { try NPY.readIntegers(path: path(file)).values }

    /// Consecutive batches of `size` rows of `x`.
    public static func batches(_ x: Matrix, size: Int) -> [Matrix] {
        stride(from: 0, to: x.rows, by: size).map { x.rows($0 ..< min(x.rows, $0 + size)) }
    }
}

/// The largest relative difference `|a − b| / max(|b|, floor)` over two equally long arrays.
public func maxRelativeError<T: BinaryFloatingPoint>(_ a: [T], _ b: [T], floor: Double = 1e-12) -> Double {
    precondition(a.count == b.count, "maxRelativeError: \(a.count) vs \(b.count) values")
    return zip(a, b).reduce(0.0) { max($0, abs(Double($1.0) - Double($1.1)) / max(abs(Double($1.1)), floor)) }
}

/// The largest absolute difference over two equally long arrays.
public func maxAbsoluteError<T: BinaryFloatingPoint>(_ a: [T], _ b: [T]) -> Double {
    precondition(a.count == b.count, "maxAbsoluteError: \(a.count) vs \(b.count) values")
    return zip(a, b).reduce(0.0) { max($0, abs(Double($1.0) - Double($1.1))) }
}

/// A fresh temporary folder.
public func makeTemporaryFolder(_ prefix: String = "ep-test") -> String {
    let path = NSTemporaryDirectory() + "\(prefix)-\(UUID().uuidString)"
    try! FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: true)
    return path
}
