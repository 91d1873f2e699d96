import EPTensors

/// Sums of new members' directions and distances per region, for one contiguous partition of a batch's rows.
///
/// A batch's member rows are summed per region over ``ExemplarDictionary/memberPartitions`` fixed partitions of
/// its rows (each in row order), and the partitions' sums are then added in partition order. The partitions are
/// the same on any number of cores, so results do not depend on the machine; the order of additions differs from
/// NumPy's strictly sequential `U[R].sum(axis=0)` only by this fixed grouping (a few ulps).
final class MemberSums {
    let width: Int
    /// Slot of each region touched so far, −1 for the others (indexed by region).
    private var slotOf: [Int32] = []
    /// The region of each slot, in first-touch order.
    private(set) var regions: [Int] = []
    /// Per slot: the sum of member directions.
    let sums: RowBuffer
    /// Per slot: members, Σ distance, Σ distance².
    private(set) var counts: [Int] = []
    private(set) var distanceSums: [Double] = []
    private(set) var squareSums: [Double] = []

    init(width: Int) {
        self.width = width
        sums = RowBuffer(width: width)
    }

    /// Empties the sums for a dictionary of `regionCount` regions.
    func reset(regionCount: Int) {
        for region in regions { slotOf[region] = -1 }
        if slotOf.count < regionCount { slotOf += [Int32](repeating: -1, count: regionCount - slotOf.count) }
        regions.removeAll(keepingCapacity: true)
        counts.removeAll(keepingCapacity: true)
        distanceSums.removeAll(keepingCapacity: true)
        squareSums.removeAll(keepingCapacity: true)
        sums.resize(rows: 0)
    }

    /// Adds one member of `region` with direction `unit` and recorded distance `distance`.
    @inline(__always)
    func add(region: Int, unit: UnsafePointer<Float>, distance: Float) {
        var slot = Int(slotOf[region])
        if slot < 0 {
            slot = regions.count
            slotOf[region] = Int32(slot)
            regions.append(region)
            counts.append(0)
            distanceSums.append(0)
            squareSums.append(0)
            sums.resize(rows: slot + 1)
            sums.row(slot).update(repeating: 0, count: width)
        }
        Kernels.add(unit, into: sums.row(slot), count: width)
        let delta = Double(distance)
        counts[slot] += 1
        distanceSums[slot] += delta
        squareSums[slot] += delta * delta
    }

    /// The slot of `region`, if touched.
    func slot(of region: Int) -> Int? {
        guard region < slotOf.count, slotOf[region] >= 0 else { return nil }
        return Int(slotOf[region])
    }
}
