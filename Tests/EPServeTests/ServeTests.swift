import EPTensors
import Foundation
import Testing
@testable import EPServe

/// The parts of `ep serve` that need no model: request decoding and its messages, the bounded model queue, static
/// files, the nearest regions of a row. The API over loopback, the page in Chromium, the load test and the fuzzing
/// run the real server (scripts/check_serve.py).
@Suite struct ServeTests {
    @Test func malformedBodiesAreAnsweredWithTheFieldAndWhatWasExpected() throws {
        func message(_ json: String) -> String? {
            do {
                _ = try APICoding.decode(InterventionRequest.self, from: Data(json.utf8))
                return nil
            } catch { return error.message }
        }
        #expect(message(#"{"dictionary": "d", "prompt": "p"}"#) == "missing field 'region'")
        #expect(message(#"{"dictionary": "d", "prompt": "p", "region": "3"}"#) == "field 'region': expected an integer")
        #expect(message(#"{"dictionary": "d", "prompt": "p", "region": 3, "gate_regions": [1, "x"]}"#) == "field 'gate_regions[1]': expected an integer")
        #expect(message(#"{"dictionary": "d", "prompt": null, "region": 3}"#) == "field 'prompt': expected a string, found null")
        #expect(message(#"{"dictionary": "d", "#)?.hasPrefix("malformed JSON") == true)
        #expect(message("[1, 2]")?.hasPrefix("the body: expected a JSON object") == true)
        let ok = try APICoding.decode(InterventionRequest.self, from: Data(#"{"dictionary": "d", "prompt": "p", "region": 3, "max_tokens": 5, "gate_regions": [2]}"#.utf8))
        #expect(ok.region == 3 && ok.maxTokens == 5 && ok.gateRegions == [2] && ok.alpha == nil)
        let encoded = String(decoding: try APICoding.encode(APIError("x")), as: UTF8.self)
        #expect(encoded == #"{"error":"x"}"#)
    }

    @Test func theModelQueueRunsJobsInOrderAndRefusesOneMoreThanItsCapacity() async throws {
        let queue = ModelQueue(capacity: 2, timeout: 30)
        let gate = DispatchSemaphore(value: 0)
        let first = Task { try await queue.run { () -> Int in
            gate.wait()
            return 1
        } }
        while queue.pending < 1 { try await Task.sleep(nanoseconds: 1_000_000) }
        let second = Task { try await queue.run { 2 } }
        // Both are admitted (one runs, blocked; one waits); a third is refused at once with Retry-After.
        while queue.pending < 2 { try await Task.sleep(nanoseconds: 1_000_000) }
        await #expect(throws: ServeError.busy(retryAfter: 2)) { try await queue.run { 3 } }
        gate.signal()
        let results = (try await first.value, try await second.value)
        #expect(results == (1, 2))
        #expect(queue.pending == 0)
        #expect(try await queue.run { 4 } == 4)
    }

    @Test func aJobPastTheTimeoutIsAnsweredAndOneStillWaitingNeverRuns() async throws {
        let queue = ModelQueue(capacity: 4, timeout: 0.2)
        let ran = Counter()
        let gate = DispatchSemaphore(value: 0)
        let slow = Task { try await queue.run { gate.wait() } }
        while queue.pending < 1 { try await Task.sleep(nanoseconds: 1_000_000) }
        let waiting = Task { try await queue.run { ran.add() } }
        await #expect(throws: ServeError.timeout("the request took longer than 0.2 s")) { try await slow.value }
        await #expect(throws: ServeError.timeout("the request took longer than 0.2 s")) { try await waiting.value }
        gate.signal()
        while queue.pending > 0 { try await Task.sleep(nanoseconds: 1_000_000) }
        #expect(ran.value == 0)
    }

    @Test func staticFilesStayInsideTheirFolder() throws {
        let root = FileManager.default.temporaryDirectory.appendingPathComponent("ep-serve-static-\(UUID().uuidString)").path
        try FileManager.default.createDirectory(atPath: root + "/site/data", withIntermediateDirectories: true)
        try Data("ok".utf8).write(to: URL(fileURLWithPath: root + "/site/data/a.js"))
        try Data("secret".utf8).write(to: URL(fileURLWithPath: root + "/secret.txt"))
        try FileManager.default.createSymbolicLink(atPath: root + "/site/link.txt", withDestinationPath: root + "/secret.txt")
        defer { try? FileManager.default.removeItem(atPath: root) }
        let site = root + "/site"
        #expect(try StaticFiles.resolve(["data", "a.js"], under: site).hasSuffix("/site/data/a.js"))
        for bad in [["..", "secret.txt"], ["%2e%2e", "secret.txt"], ["data", "..", "..", "secret.txt"], ["link.txt"], ["data"], [".hidden"],
                    ["data%2f..%2f..%2fsecret.txt"], ["a\0b"], []] {
            #expect(throws: ServeError.self, "\(bad)") { try StaticFiles.resolve(bad, under: site) }
        }
        #expect(StaticFiles.contentType("x/region.html") == "text/html; charset=utf-8" && StaticFiles.contentType("a.js") == "text/javascript; charset=utf-8")
    }

    @Test func theNearestRegionsOfARowAreTheSmallestDistancesInOrder() {
        let m = Matrix(rows: 2, columns: 5, storage: [0.5, 0.1, 0.9, 0.1, 0.3, 1, 1, 1, 1, 0])
        #expect(ServedDictionary.nearest(m, row: 0, count: 3) == [RegionDistance(region: 1, distance: Double(Float(0.1))), RegionDistance(region: 3, distance: Double(Float(0.1))), RegionDistance(region: 4, distance: Double(Float(0.3)))])
        #expect(ServedDictionary.nearest(m, row: 1, count: 2).map(\.region) == [4, 0])
    }
}

private final class Counter: @unchecked Sendable {
    private let lock = NSLock()
    private var n = 0
    func add() { lock.withLock { n += 1 } }
    var value: Int { lock.withLock { n } }
}

extension Error {
    var message: String { (self as? ServeError)?.message ?? "\(self)" }
}
