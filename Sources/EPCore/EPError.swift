/// Why an EP computation refused its input. Every case says what was expected; callers that know where the data
/// came from (a file, a flag) add that context.
public enum EPError: Error, Equatable, Sendable, CustomStringConvertible {
    /// Calibration or a build received no rows at all.
    case noActivations
    /// The percentile is not strictly between 0 and 100.
    case percentileOutOfRange(Double)
    /// The threshold is not a finite cosine distance strictly between 0 and 2.
    case invalidThreshold(Double)
    /// The center has the wrong length or non-finite values.
    case invalidCenter(String)
    /// No calibration batch had at least two rows, so no pairwise distance exists.
    case calibrationBatchesTooSmall(largest: Int)
    /// A row contains NaN or an infinity (or values whose squares overflow `Float`); `row` counts from 0 within the
    /// batch or stream that was passed.
    case nonFiniteValue(row: Int)
    /// A calibration row lies so close to the center that it has no direction (‖x − c‖ below
    /// ``Calibration/directionFloor``), so its cosine distances are undefined; `row` counts as for `nonFiniteValue`.
    case noDirection(row: Int, norm: Double)
    /// A batch's width differs from the dictionary's or calibration's width.
    case widthMismatch(expected: Int, found: Int)
    /// A setting is out of its range (name, value, what is allowed).
    case invalidSetting(name: String, value: String, expected: String)
    /// Region statistics given to a dictionary disagree with each other.
    case inconsistentState(String)

    public var description: String {
        switch self {
        case .noActivations:
            return "no activations: the input has no rows"
        case .percentileOutOfRange(let p):
            return "percentile \(p) is outside (0, 100); use e.g. 1, 2, 4, 8 or 10"
        case .invalidThreshold(let t):
            return "threshold \(t) is not a cosine-distance threshold in (0, 2)"
        case .invalidCenter(let why):
            return "invalid center: \(why)"
        case .calibrationBatchesTooSmall(let largest):
            return "calibration needs batches of at least 2 rows to measure pairwise distances; the largest batch had \(largest)"
        case .nonFiniteValue(let row):
            return "row \(row) is not finite (NaN, an infinity, or values too large to square in Float); activations must be finite"
        case .noDirection(let row, let norm):
            return "row \(row) has no direction: its distance to the center, \(norm), is below \(Calibration.directionFloor) (all-zero, denormal or center-equal rows have no cosine distance)"
        case .widthMismatch(let expected, let found):
            return "width mismatch: expected rows of \(expected) values, found \(found)"
        case .invalidSetting(let name, let value, let expected):
            return "\(name) = \(value) is invalid: expected \(expected)"
        case .inconsistentState(let why):
            return "inconsistent dictionary state: \(why)"
        }
    }
}
