import ArgumentParser
import EPServe
import EPStore
import Foundation

/// `ep serve`: the live dictionary browser.
struct Serve: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Serve dictionaries live: type text and see its tokens' regions, open region pages, steer and ablate from the page.",
        discussion: """
            Opens http://HOST:PORT/: a text box whose tokens are coloured by their nearest region and distance \
            (hover for the region and the 3 nearest, click for the region's report page), and a panel that \
            continues a prompt with and without a region's direction added (steer) or removed (ablate), optionally \
            only at positions of given regions (region-gated), with both continuations side by side. The same runs \
            through a JSON API: POST /api/assign, GET /api/dictionaries, GET /api/dictionaries/NAME/regions/ID, \
            POST /api/steer, POST /api/ablate, GET /api/health (docs/serve.md, docs/serve-openapi.json). Each \
            dictionary is served under its folder's name; each report is written at start into a temporary folder \
            and removed on exit. One model serves every request, one job at a time: at most --queue jobs wait or \
            run, and one more is answered 503 with Retry-After. Listens on 127.0.0.1 unless told otherwise (any \
            other address is warned about: the API has no authentication). SIGINT or SIGTERM stops it after the \
            requests in flight.
            """)

    @Argument(help: "Dictionary folders built from text (all from the same model).")
    var dictionaries: [String]

    @Option(help: "Model (default: the one the first dictionary was built from; every dictionary's SHA-256 must match).")
    var model: String?

    @Option(help: "Address to listen on.")
    var host = "127.0.0.1"

    @Option(parsing: .unconditional, help: "Port to listen on (0: any free port, printed at start).")
    var port = 8080

    @Option(parsing: .unconditional, help: "Model jobs waiting or running at once; one more gets 503.")
    var queue = 8

    @Option(parsing: .unconditional, help: "Characters of an assigned text or a prompt.")
    var maxText = 4000

    @Option(parsing: .unconditional, help: "Tokens generated per continuation.")
    var maxGenerated = 64

    @Option(parsing: .unconditional, help: "Seconds a request may wait for and use the model (then 504).")
    var timeout: Double = 60

    @Option(parsing: .unconditional, help: "Threads (default: all active processors).")
    var threads: Int?

    func run() throws {
        guard !dictionaries.isEmpty else { throw CommandError("give at least one dictionary folder") }
        guard (0...65535).contains(port) else { throw CommandError("--port: expected 0…65535, found \(port)") }
        try requirePositive(queue, flag: "--queue", unit: "jobs")
        try requirePositive(maxText, flag: "--max-text", unit: "characters")
        try requirePositive(maxGenerated, flag: "--max-generated", unit: "tokens")
        guard timeout.isFinite, timeout > 0 else { throw CommandError("--timeout: expected a positive number of seconds, found \(timeout)") }
        var settings = ServeSettings()
        (settings.host, settings.port) = (host, port)
        settings.limits.queueCapacity = queue
        settings.limits.textCharacters = maxText
        settings.limits.generatedTokens = maxGenerated
        settings.limits.requestSeconds = timeout

        let loaded = try dictionaries.map { try DictionaryStore.load($0, reservoir: false, contexts: true) }
        guard let name = model ?? loaded[0].manifest.build.source?.model else { throw CommandError("give --model: \(dictionaries[0]) records no model") }
        let opened = try OpenedModel(name, threads: threads)
        let reports = FileManager.default.temporaryDirectory.appendingPathComponent("ep-serve-\(ProcessInfo.processInfo.processIdentifier)").path
        defer { try? FileManager.default.removeItem(atPath: reports) }
        try FileManager.default.createDirectory(atPath: reports, withIntermediateDirectories: true)
        var served: [ServedDictionary] = []
        for (path, dictionary) in zip(dictionaries, loaded) {
            try opened.requireSameModel(as: dictionary.manifest, dictionary: path)
            let folder = URL(fileURLWithPath: path).standardizedFileURL.lastPathComponent
            guard !served.contains(where: { $0.name == folder }) else {
                throw CommandError("\(path): another dictionary is also named \(folder); serve folders with different names")
            }
            let started = Date()
            served.append(try ServedDictionary(name: folder, loaded: dictionary, model: opened.model, tokenizer: opened.tokenizer, reportFolder: reports + "/" + folder))
            serveLine("\(folder): \(dictionary.dictionary.regionCount) regions, report written in \(fixed(Date().timeIntervalSince(started), 1)) s")
        }
        if !settings.isLoopback {
            serveLine("warning: listening on \(host), not a loopback address: anyone who can reach this machine can use the model through the API (no authentication)")
        }
        let server = try DictionaryServer(served, settings: settings)
        let names = served.map(\.name).joined(separator: ", ")
        let failure = Mutex<(any Error)?>(nil)
        let done = DispatchSemaphore(value: 0)
        Task {
            do {
                try await server.run { port in
                    FileHandle.standardOutput.write(Data("serving \(names) on http://\(host):\(port)/\n".utf8))
                }
            } catch {
                failure.set(error)
            }
            done.signal()
        }
        done.wait()
        if let error = failure.get() { throw CommandError("ep serve: \(error)") }
        serveLine("stopped")
    }
}

/// A value set on one thread and read on another.
private final class Mutex<T>: @unchecked Sendable {
    private let lock = NSLock()
    private var value: T
    init(_ value: T) { self.value = value }
    func set(_ v: T) { lock.withLock { value = v } }
    func get() -> T { lock.withLock { value } }
}

/// A line on stderr.
private func serveLine(_ message: String) {
    FileHandle.standardError.write(Data("\(message)\n".utf8))
}
