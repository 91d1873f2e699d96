import EPTensors

/// The activations of a list of texts, position by position: text `t` owns rows `offsets[t] ..< offsets[t + 1]` of
/// ``rows`` (one row per extracted position, in order). Every text has at least one row.
///
/// This is the one extraction every evaluation method reads: detectors score a text by the maximum of a per-position
/// score over its rows; probes read its rows pooled by their mean.
public struct TextActivations: Sendable {
    /// All positions of all texts, text after text.
    public let rows: Matrix
    /// `count + 1` ascending row offsets, from 0 to `rows.rows`.
    public let offsets: [Int]

    /// Checks that `offsets` starts at 0, ends at `rows.rows` and gives every text at least one row.
    public init(rows: Matrix, offsets: [Int]) throws {
        guard let first = offsets.first, first == 0, offsets.last == rows.rows else {
            throw EvaluationError("text activations: offsets must run from 0 to the \(rows.rows) rows, found \(offsets.first.map(String.init) ?? "none") … \(offsets.last.map(String.init) ?? "none")")
        }
        for t in 0..<(offsets.count - 1) where offsets[t + 1] <= offsets[t] {
            throw EvaluationError("text activations: text \(t) has no rows (offsets \(offsets[t]) and \(offsets[t + 1]))")
        }
        self.rows = rows
        self.offsets = offsets
    }

    /// Number of texts.
    public var count: Int { offsets.count - 1 }

    /// Width of a row.
    public var width: Int { rows.columns }

    /// The rows of text `t`.
    public func positions(of t: Int) -> Range<Int> { offsets[t]..<offsets[t + 1] }

    /// Each text's rows averaged (accumulated in `Double`): one row per text of `texts`, in that order.
    public func meanPooled(_ texts: [Int]) -> Matrix {
        let d = width
        var out = Matrix(rows: texts.count, columns: d)
        var sum = [Double](repeating: 0, count: d)
        rows.storage.withUnsafeBufferPointer { x in
            for (i, t) in texts.enumerated() {
                for j in 0..<d { sum[j] = 0 }
                let range = positions(of: t)
                sum.withUnsafeMutableBufferPointer { s in
                    for r in range { MixedKernels.axpy(1, x.baseAddress! + r * d, s.baseAddress!, count: d) }
                }
                let n = Double(range.count)
                for j in 0..<d { out.storage[i * d + j] = Float(sum[j] / n) }
            }
        }
        return out
    }

    /// The rows of `texts` stacked in that order, and for each stacked row the position in `texts` of its text.
    public func stackedRows(_ texts: [Int]) -> (rows: Matrix, owners: [Int]) {
        let d = width
        let total = texts.reduce(0) { $0 + positions(of: $1).count }
        var out = Matrix(rows: total, columns: d)
        var owners: [Int] = []
        owners.reserveCapacity(total)
        var next = 0
        rows.storage.withUnsafeBufferPointer { x in
            out.storage.withUnsafeMutableBufferPointer { o in
                for (i, t) in texts.enumerated() {
                    let range = positions(of: t)
                    (o.baseAddress! + next * d).update(from: x.baseAddress! + range.lowerBound * d, count: range.count * d)
                    next += range.count
                    owners += repeatElement(i, count: range.count)
                }
            }
        }
        return (out, owners)
    }

    /// For stacked rows of `owners` (as ``stackedRows(_:)`` returns them) and a score per row, the largest score of
    /// each of the `groups` owners.
    public static func maximum(of scores: [Double], owners: [Int], groups: Int) -> [Double] {
        var best = [Double](repeating: -.infinity, count: groups)
        for (score, owner) in zip(scores, owners) where score > best[owner] { best[owner] = score }
        return best
    }
}

/// A problem with evaluation inputs (sizes, empty classes, unknown names), as one readable line.
public struct EvaluationError: Error, Equatable, Sendable, CustomStringConvertible {
    public let description: String

    /// An error with the given message.
    public init(_ description: String) { self.description = description }
}
