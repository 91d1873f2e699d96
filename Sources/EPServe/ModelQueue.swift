import Dispatch
import Foundation

/// An error of a request, with its HTTP status.
public enum ServeError: Error, Equatable, Sendable {
    /// 400: the request is malformed or out of limits.
    case badRequest(String)
    /// 404: no such dictionary, region or file.
    case notFound(String)
    /// 413: the body is larger than the limit.
    case tooLarge(String)
    /// 503: the model's queue is full; try again after `retryAfter` seconds.
    case busy(retryAfter: Int)
    /// 504: the request waited or ran longer than the limit.
    case timeout(String)
    /// 500: anything else (a bug or a failure of the model).
    case failed(String)

    public var status: Int {
        switch self {
        case .badRequest: 400
        case .notFound: 404
        case .tooLarge: 413
        case .busy: 503
        case .timeout: 504
        case .failed: 500
        }
    }

    public var message: String {
        switch self {
        case .badRequest(let m), .notFound(let m), .tooLarge(let m), .timeout(let m), .failed(let m): m
        case .busy(let s): "the model is busy (its queue is full); retry after \(s) s"
        }
    }
}

/// The one model shared by every request: jobs run one at a time, in order, on one thread of their own (the model
/// itself uses every core for each job). At most `capacity` jobs wait or run; one more is refused at once
/// (``ServeError/busy(retryAfter:)``), so memory never grows with the load. A job that has not finished `timeout`
/// seconds after it was queued is answered with ``ServeError/timeout(_:)``; one still waiting then is dropped
/// without running.
public final class ModelQueue: Sendable {
    public let capacity: Int
    public let timeout: Double
    private let queue = DispatchQueue(label: "ep.serve.model")
    private let state = Mutex(0)

    public init(capacity: Int, timeout: Double) {
        self.capacity = capacity
        self.timeout = timeout
    }

    /// Jobs waiting or running.
    public var pending: Int { state.withLock { $0 } }

    /// The result of `body`, run on the model's thread after the jobs queued before it.
    public func run<T: Sendable>(_ body: @escaping @Sendable () throws -> T) async throws -> T {
        let admitted = state.withLock { count in
            guard count < capacity else { return false }
            count += 1
            return true
        }
        guard admitted else { throw ServeError.busy(retryAfter: 2) }
        let job = Job<T>()
        let deadline = DispatchTime.now() + timeout
        let limit = timeout
        return try await withCheckedThrowingContinuation { continuation in
            job.attach(continuation)
            queue.async { [state] in
                // The slot is given back before the answer goes out, so a client that sends its next request on
                // the answer finds it free.
                guard DispatchTime.now() < deadline, !job.isFinished else {
                    state.withLock { $0 -= 1 }
                    job.finish(.failure(ServeError.timeout("the request waited longer than \(Self.seconds(limit)) for the model")))
                    return
                }
                let result = Result { try body() }
                state.withLock { $0 -= 1 }
                job.finish(result)
            }
            DispatchQueue.global().asyncAfter(deadline: deadline) {
                job.finish(.failure(ServeError.timeout("the request took longer than \(Self.seconds(limit))")))
            }
        }
    }

    static func seconds(_ s: Double) -> String { s == s.rounded() ? "\(Int(s)) s" : "\(s) s" }
}

/// One job's outcome, delivered once (by the job or by its timeout, whichever comes first).
private final class Job<T: Sendable>: @unchecked Sendable {
    private let lock = NSLock()
    private var continuation: CheckedContinuation<T, any Error>?
    private var pending: Result<T, any Error>?
    private var done = false

    var isFinished: Bool { lock.withLock { done } }

    func attach(_ c: CheckedContinuation<T, any Error>) {
        lock.withLock {
            if let pending { c.resume(with: pending) } else { continuation = c }
        }
    }

    func finish(_ result: Result<T, any Error>) {
        lock.withLock {
            guard !done else { return }
            done = true
            if let continuation { continuation.resume(with: result) } else { pending = result }
            continuation = nil
        }
    }
}

/// A value behind a lock.
final class Mutex<Value>: @unchecked Sendable {
    private let lock = NSLock()
    private var value: Value

    init(_ value: Value) { self.value = value }

    func withLock<R>(_ body: (inout Value) throws -> R) rethrows -> R {
        lock.lock()
        defer { lock.unlock() }
        return try body(&value)
    }
}
