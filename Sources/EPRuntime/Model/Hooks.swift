import EPTensors

/// The rows of one hook point during one forward call (or one part of it), handed to ``ActivationEdit/custom(_:)``
/// edits: `count` rows of `width` floats, row `i` at `values + i·width`.
public struct ActivationRows {
    /// The first value of the first row.
    public let values: UnsafeMutablePointer<Float>
    /// Number of rows.
    public let count: Int
    /// Values per row.
    public let width: Int
    /// For each row, the index of its sequence in the forward call's batch.
    public let sequences: [Int]
    /// For each row, its position in its sequence (counting positions held in a KV cache).
    public let positions: [Int]

    /// Row `i` as a mutable buffer.
    public func row(_ i: Int) -> UnsafeMutableBufferPointer<Float> {
        UnsafeMutableBufferPointer(start: values + i * width, count: width)
    }
}

/// An edit of the activation at a hook point. It applies to every position of every forward call made with the
/// hooks, generation steps included, before any capture at the same point sees the values.
public enum ActivationEdit: Sendable {
    /// x ← x + scale·vector (steering).
    case add(vector: [Float], scale: Float)
    /// x ← c + (x − c) − ((x − c)·u)·u with u = direction/|direction| and c = center (zero when nil): removes the
    /// direction's component in centered space (directional ablation).
    case projectOut(direction: [Float], center: [Float]?)
    /// x ← vector at every position.
    case replace(vector: [Float])
    /// Any in-place edit. It may run on several threads at once, each with its own rows.
    case custom(@Sendable (ActivationRows) -> Void)
    /// `edit` at the rows `select` chooses, the others left exactly as they are: `select` sees the rows before the
    /// edit and returns one flag per row (region-gated interventions). Like ``custom(_:)``, `select` may run on
    /// several threads at once, each with its own rows, inside the forward call: it must not take
    /// ``EPTensors/BLAS/threadCountLock`` (which the call holds).
    indirect case gated(ActivationEdit, select: @Sendable (ActivationRows) -> [Bool])
}

/// Which hook points a forward call captures, and the edits it applies.
public struct Hooks: Sendable {
    /// Points whose activations are copied out (all positions).
    public var captures: Set<HookPoint>
    /// Edits by point, applied in order.
    public var edits: [HookPoint: [ActivationEdit]]

    /// Hooks capturing `captures` and applying `edits`.
    public init(captures: Set<HookPoint> = [], edits: [HookPoint: [ActivationEdit]] = [:]) {
        self.captures = captures
        self.edits = edits
    }

    /// Adds an edit at `point` (after any already there).
    public mutating func edit(_ point: HookPoint, _ edit: ActivationEdit) {
        edits[point, default: []].append(edit)
    }

    /// Every point the hooks touch.
    var points: Set<HookPoint> { captures.union(edits.keys) }
}

/// An edit checked against the model and prepared for the inner loop.
enum PreparedEdit: Sendable {
    case add([Float])
    case projectOut(unit: [Float], centerDot: Float)
    case replace([Float])
    case custom(@Sendable (ActivationRows) -> Void)
    indirect case gated(PreparedEdit, select: @Sendable (ActivationRows) -> [Bool])

    /// Checks vector widths against `width` and precomputes what can be.
    init(_ edit: ActivationEdit, point: HookPoint, width: Int) throws {
        func check(_ v: [Float], _ what: String) throws {
            guard v.count == width else {
                throw HookError(message: "edit at \(point.name): \(what) has \(v.count) values, the activation has \(width)")
            }
            guard v.allSatisfy(\.isFinite) else { throw HookError(message: "edit at \(point.name): \(what) has non-finite values") }
        }
        switch edit {
        case .add(let vector, let scale):
            try check(vector, "vector")
            self = .add(vector.map { $0 * scale })
        case .projectOut(let direction, let center):
            try check(direction, "direction")
            let norm = direction.withUnsafeBufferPointer { Kernels.dotDouble($0.baseAddress!, $0.baseAddress!, count: width) }.squareRoot()
            guard norm > 0 else { throw HookError(message: "edit at \(point.name): the direction is zero") }
            let unit = direction.map { Float(Double($0) / norm) }
            var centerDot: Float = 0
            if let center {
                try check(center, "center")
                centerDot = unit.withUnsafeBufferPointer { u in center.withUnsafeBufferPointer { Kernels.dot(u.baseAddress!, $0.baseAddress!, count: width) } }
            }
            self = .projectOut(unit: unit, centerDot: centerDot)
        case .replace(let vector):
            try check(vector, "vector")
            self = .replace(vector)
        case .custom(let body):
            self = .custom(body)
        case .gated(let edit, let select):
            self = .gated(try PreparedEdit(edit, point: point, width: width), select: select)
        }
    }

    /// Applies the edit to every row.
    func apply(to rows: ActivationRows) {
        let width = rows.width
        switch self {
        case .add(let vector):
            vector.withUnsafeBufferPointer { v in
                for r in 0..<rows.count { Kernels.add(v.baseAddress!, into: rows.values + r * width, count: width) }
            }
        case .projectOut(let unit, let centerDot):
            unit.withUnsafeBufferPointer { u in
                for r in 0..<rows.count {
                    let x = rows.values + r * width
                    let a = Kernels.dot(x, u.baseAddress!, count: width) - centerDot
                    Kernels.axpy(-a, u.baseAddress!, x, count: width)
                }
            }
        case .replace(let vector):
            vector.withUnsafeBufferPointer { v in
                for r in 0..<rows.count { (rows.values + r * width).update(from: v.baseAddress!, count: width) }
            }
        case .custom(let body):
            body(rows)
        case .gated(let edit, let select):
            let chosen = select(rows)
            precondition(chosen.count == rows.count, "a gate chose \(chosen.count) flags for \(rows.count) rows")
            // Runs of chosen rows are edited as one view (the kernels are per row, so the values are those of an
            // ungated edit of the same rows).
            var r = 0
            while r < rows.count {
                guard chosen[r] else {
                    r += 1
                    continue
                }
                var end = r + 1
                while end < rows.count, chosen[end] { end += 1 }
                edit.apply(
                    to: ActivationRows(
                        values: rows.values + r * width, count: end - r, width: width, sequences: Array(rows.sequences[r..<end]),
                        positions: Array(rows.positions[r..<end])))
                r = end
            }
        }
    }
}
