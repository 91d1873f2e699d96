/// A growable row-major `Float` buffer with a stable base address between growths, for the hot paths of the
/// clustering (exemplar table, batch directions, similarity blocks). Not copyable in meaning: it is a class.
final class RowBuffer {
    let width: Int
    private(set) var rows = 0
    private(set) var capacity: Int
    private(set) var base: UnsafeMutablePointer<Float>

    init(width: Int, capacity: Int = 16) {
        self.width = width
        self.capacity = max(capacity, 1)
        base = .allocate(capacity: self.capacity * max(width, 1))
    }

    deinit { base.deallocate() }

    /// Makes room for at least `rows` rows (doubling the capacity), keeping the content.
    func reserve(rows wanted: Int) {
        guard wanted > capacity else { return }
        let newCapacity = max(wanted, 2 * capacity)
        let grown = UnsafeMutablePointer<Float>.allocate(capacity: newCapacity * max(width, 1))
        grown.update(from: base, count: rows * width)
        base.deallocate()
        base = grown
        capacity = newCapacity
    }

    /// Sets the row count (growing the capacity if needed); new rows are uninitialised scratch.
    func resize(rows newRows: Int) {
        reserve(rows: newRows)
        rows = newRows
    }

    /// Row `r`.
    @inline(__always)
    func row(_ r: Int) -> UnsafeMutablePointer<Float> { base + r * width }
}
