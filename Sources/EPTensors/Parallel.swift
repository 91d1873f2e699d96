import Dispatch
#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// Coarse-grained data parallelism over the machine's cores, for work between BLAS calls.
///
/// The rule of docs/runtime.md (*Kernels*) is kept: parallelism happens at one level at a time.
/// ``forEachRange(count:minimumPerWorker:_:)`` never overlaps with multi-threaded BLAS because callers run it
/// between BLAS calls, and ``withSingleThreadedBLAS(_:)`` drops BLAS to one thread while workers call it.
public enum Parallel {
    /// Workers used: `OPENBLAS_NUM_THREADS` when set (as OpenBLAS reads it), otherwise the number of online CPUs;
    /// so limiting BLAS to one thread makes the whole process single-threaded.
    public static let workerCount: Int = {
        if let text = getenv("OPENBLAS_NUM_THREADS"), let n = Int(String(cString: text)), n > 0 { return n }
        return max(1, Int(sysconf(Int32(_SC_NPROCESSORS_ONLN))))
    }()

    /// Splits `0..<count` into one contiguous range per worker (fewer when a range would be shorter than
    /// `minimumPerWorker`) and runs `body(range, worker)` on them concurrently, returning when all are done.
    public static func forEachRange(count: Int, minimumPerWorker: Int, _ body: (Range<Int>, Int) -> Void) {
        let workers = max(1, min(workerCount, count / max(1, minimumPerWorker)))
        if workers == 1 {
            if count > 0 { body(0..<count, 0) }
            return
        }
        withoutActuallyEscaping(body) { escapable in
            let shared = UncheckedSendable(escapable)
            DispatchQueue.concurrentPerform(iterations: workers) { w in
                let lower = count * w / workers, upper = count * (w + 1) / workers
                shared.value(lower..<upper, w)
            }
        }
    }

    /// Runs `body(i)` for every `i` in `0..<iterations`, concurrently on the workers (in order on one worker).
    public static func forEach(iterations: Int, _ body: (Int) -> Void) {
        if workerCount == 1 || iterations <= 1 {
            for i in 0..<iterations { body(i) }
            return
        }
        withoutActuallyEscaping(body) { escapable in
            let shared = UncheckedSendable(escapable)
            DispatchQueue.concurrentPerform(iterations: iterations) { shared.value($0) }
        }
    }

    /// Runs `body` with BLAS limited to one thread per call (so that several workers may each call BLAS), then
    /// restores the previous thread count; holds ``BLAS/threadCountLock`` meanwhile.
    public static func withSingleThreadedBLAS<T>(_ body: () throws -> T) rethrows -> T {
        BLAS.threadCountLock.lock()
        defer { BLAS.threadCountLock.unlock() }
        let saved = BLAS.threadCount
        if saved > 1 { BLAS.threadCount = 1 }
        defer { if saved > 1 { BLAS.threadCount = saved } }
        return try body()
    }
}

/// A value handed across threads whose safety the caller guarantees (disjoint ranges of one buffer).
struct UncheckedSendable<T>: @unchecked Sendable {
    let value: T
    init(_ value: T) { self.value = value }
}
