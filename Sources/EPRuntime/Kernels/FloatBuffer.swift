/// An owned, uninitialised buffer of `Float` (weights, activations, scratch) whose pointer can be shared with
/// worker threads.
final class FloatBuffer: @unchecked Sendable {
    let pointer: UnsafeMutablePointer<Float>
    let count: Int

    init(count: Int) {
        self.count = count
        pointer = .allocate(capacity: max(count, 1))
    }

    deinit { pointer.deallocate() }

    subscript(_ offset: Int) -> UnsafeMutablePointer<Float> { pointer + offset }
}

/// A pointer that may cross into `DispatchQueue.concurrentPerform` closures; the code sharing it writes disjoint
/// ranges from each thread.
struct SharedPointer<T>: @unchecked Sendable {
    let pointer: UnsafeMutablePointer<T>
}
