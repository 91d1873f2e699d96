import EPTensors

/// Applies a forward plan's hooks to one group's rows: edits in order, then the capture copy, and tells the graph
/// whether to go on (false once the plan's last needed point is done: early exit).
struct HookRunner {
    let group: ForwardGroup
    let plan: ForwardPlan

    /// Edits and captures at `point` on the group's `width`-wide rows at `x`; false when the forward stops here.
    func reach(_ point: HookPoint, _ x: UnsafeMutablePointer<Float>, width: Int) -> Bool {
        let rows = group.rows
        if let edits = plan.edits[point] {
            let view = activationRows(x, width: width)
            for edit in edits { edit.apply(to: view) }
        }
        if let output = plan.captures[point] {
            (output + group.firstOutputRow * width).update(from: x, count: rows * width)
        }
        return point.order < plan.stopOrder
    }

    /// `x += finish(input · weightᵀ + bias)` (the output projection of attention or of the MLP: `weight` has
    /// `modelWidth` rows of `width`; `finish` is a post-norm applied in place, Gemma's), with the hooks of `point` on
    /// the finished product. Without bias, post-norm or hooks there, the product accumulates into `x` directly;
    /// otherwise it goes through `scratch`.
    ///
    /// A capture alone (no edit) at a point the forward goes past does not change how `x` is computed: the product
    /// is computed once into `scratch` for the copy and once more accumulated into `x` as without the capture, so
    /// every later point holds the same bits whichever other points are captured (a build of several hooks gives
    /// each hook the values a build of that hook alone reads).
    func project(
        _ input: UnsafePointer<Float>, width: Int, through weight: WeightMatrix, bias: UnsafePointer<Float>? = nil,
        finish: ((UnsafeMutablePointer<Float>) -> Void)? = nil, at point: HookPoint,
        into x: UnsafeMutablePointer<Float>, scratch: UnsafeMutablePointer<Float>, rows: Int, modelWidth: Int
    ) -> Bool {
        let edited = plan.edits[point] != nil, captured = plan.captures[point] != nil, stops = point.order >= plan.stopOrder
        if !edited && !stops && bias == nil && finish == nil {
            if captured {
                Projection.apply(rows: rows, x: input, inputStride: width, weight: weight, y: scratch, outputStride: modelWidth)
                _ = reach(point, scratch, width: modelWidth)
            }
            Projection.apply(rows: rows, x: input, inputStride: width, weight: weight, accumulate: true, y: x, outputStride: modelWidth)
            return true
        }
        Projection.apply(rows: rows, x: input, inputStride: width, weight: weight, y: scratch, outputStride: modelWidth)
        if let bias { VectorMath.addRows(scratch, rows: rows, width: modelWidth, stride: modelWidth, bias: bias) }
        finish?(scratch)
        guard reach(point, scratch, width: modelWidth) else { return false }
        Kernels.add(scratch, into: x, count: rows * modelWidth)
        return true
    }

    private func activationRows(_ x: UnsafeMutablePointer<Float>, width: Int) -> ActivationRows {
        var sequences: [Int] = [], positions: [Int] = []
        for slice in group.slices {
            sequences += Array(repeating: slice.index, count: slice.tokens.count)
            positions += Array(slice.past..<(slice.past + slice.tokens.count))
        }
        return ActivationRows(values: x, count: group.rows, width: width, sequences: sequences, positions: positions)
    }
}
