import Foundation
import Hummingbird
import NIOCore

/// Where and how a server listens.
public struct ServeSettings: Sendable, Equatable {
    public var host = "127.0.0.1"
    public var port = 8080
    public var limits = ServeLimits()

    public init() {}

    /// Whether the host is a loopback address (only this machine can connect).
    public var isLoopback: Bool { ["127.0.0.1", "localhost", "::1"].contains(host) || host.hasPrefix("127.") }
}

/// The live dictionary browser (docs/serve.md): the report's pages of every served dictionary, the page that
/// assigns typed text and steers (`/`), and the JSON API of docs/serve-openapi.json, on Hummingbird. Model work
/// goes through one bounded ``ModelQueue``. `run` returns after SIGINT or SIGTERM once the requests in flight are
/// answered.
public final class DictionaryServer: Sendable {
    public let settings: ServeSettings
    public let queue: ModelQueue
    private let dictionaries: [String: ServedDictionary]
    private let order: [String]

    /// The content security policy of every answer: the report's (scripts and styles from this server only, no
    /// inline script, no other origin), with requests to this server's API.
    public static let contentSecurityPolicy =
        "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; connect-src 'self'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'"

    /// A server of `dictionaries` (names unique) with `settings`.
    public init(_ dictionaries: [ServedDictionary], settings: ServeSettings) throws {
        var byName: [String: ServedDictionary] = [:]
        for d in dictionaries {
            guard byName[d.name] == nil else { throw ServeError.badRequest("two dictionaries are named \(d.name): give folders with different names") }
            byName[d.name] = d
        }
        self.dictionaries = byName
        order = dictionaries.map(\.name)
        self.settings = settings
        queue = ModelQueue(capacity: settings.limits.queueCapacity, timeout: settings.limits.requestSeconds)
    }

    /// Serves until SIGINT or SIGTERM (then finishes the requests in flight and returns). `onRunning` is called
    /// with the bound port once the server listens.
    public func run(onRunning: @escaping @Sendable (Int) -> Void = { _ in }) async throws {
        let app = Application(
            router: router(),
            configuration: .init(address: .hostname(settings.host, port: settings.port), serverName: "ep-serve"),
            onServerRunning: { channel in onRunning(channel.localAddress?.port ?? -1) })
        try await app.runService()
    }

    // MARK: routes

    func router() -> Router<BasicRequestContext> {
        let router = Router()
        router.add(middleware: AnswerMiddleware())
        router.get("/api/health") { _, _ in
            try Self.json(HealthResponse(status: "ok", dictionaries: self.order.count, queued: self.queue.pending, queueCapacity: self.queue.capacity))
        }
        router.get("/api/dictionaries") { _, _ in
            try Self.json(DictionaryList(dictionaries: self.order.map { self.dictionaries[$0]!.summary }))
        }
        router.get("/api/dictionaries/{name}/regions/{id}") { _, context in
            let served = try self.dictionary(context.parameters.get("name") ?? "")
            let text = context.parameters.get("id") ?? ""
            guard let id = Int(text), id >= 0 else { throw ServeError.badRequest("region id: expected an integer ≥ 0, found '\(text)'") }
            guard id < served.loaded.dictionary.regionCount else {
                throw ServeError.notFound("region \(id) does not exist: \(served.name) has regions 0…\(served.loaded.dictionary.regionCount - 1)")
            }
            return try Self.json(try await self.queue.run { try served.region(id) })
        }
        router.post("/api/assign") { request, _ in
            let body = try await self.decode(AssignRequest.self, request)
            let served = try self.dictionary(body.dictionary)
            try self.checkLength(body.text, field: "text")
            return try Self.json(try await self.queue.run { try served.assign(body.text) })
        }
        for (path, steer) in [("/api/steer", true), ("/api/ablate", false)] {
            router.post(RouterPath(path)) { request, _ in
                let body = try await self.decode(InterventionRequest.self, request)
                let served = try self.dictionary(body.dictionary)
                try self.checkLength(body.prompt, field: "prompt")
                let limits = self.settings.limits
                return try Self.json(try await self.queue.run { try served.intervene(body, steer: steer, limits: limits) })
            }
        }
        router.get("/") { _, _ in Self.file(Array(ServePage.html.utf8), type: "text/html; charset=utf-8") }
        router.get("/serve.js") { _, _ in Self.file(Array(ServePage.script.utf8), type: "text/javascript; charset=utf-8") }
        router.get("/serve.css") { _, _ in Self.file(Array(ServePage.style.utf8), type: "text/css; charset=utf-8") }
        // Browsers ask for an icon (the report's pages name none): nothing, without an error in their console.
        router.get("/favicon.ico") { _, _ in Response(status: .noContent) }
        router.get("/reports/{name}/**") { _, context in
            let served = try self.dictionary(context.parameters.get("name") ?? "")
            let path = try StaticFiles.resolve(context.parameters.getCatchAll().map(String.init), under: served.reportFolder)
            return Self.file(try StaticFiles.read(path), type: StaticFiles.contentType(path))
        }
        return router
    }

    private func dictionary(_ name: String) throws -> ServedDictionary {
        guard let d = dictionaries[name] else {
            throw ServeError.notFound("no dictionary named '\(name)' is served (served: \(order.joined(separator: ", ")))")
        }
        return d
    }

    private func checkLength(_ text: String, field: String) throws {
        let n = text.count
        guard n <= settings.limits.textCharacters else {
            throw ServeError.badRequest("field '\(field)': \(n) characters; the limit is \(settings.limits.textCharacters)")
        }
    }

    private func decode<T: Decodable>(_ type: T.Type, _ request: Request) async throws -> T {
        var request = request
        let buffer: ByteBuffer
        do {
            buffer = try await request.collectBody(upTo: settings.limits.bodyBytes)
        } catch is NIOTooManyBytesError {
            throw ServeError.tooLarge("the body is larger than \(settings.limits.bodyBytes) bytes")
        }
        return try APICoding.decode(type, from: Data(buffer.readableBytesView))
    }

    static func json<T: Encodable>(_ value: T, status: HTTPResponse.Status = .ok) throws -> Response {
        let data = try APICoding.encode(value)
        return Response(
            status: status, headers: [.contentType: "application/json"], body: ResponseBody(byteBuffer: ByteBuffer(bytes: data)))
    }

    static func file(_ bytes: [UInt8], type: String) -> Response {
        Response(status: .ok, headers: [.contentType: type, .cacheControl: "no-cache"], body: ResponseBody(byteBuffer: ByteBuffer(bytes: bytes)))
    }
}

/// Turns every error into a JSON answer with its status (``APIError``), and adds the content security policy and
/// `nosniff` to every answer.
struct AnswerMiddleware: RouterMiddleware {
    typealias Context = BasicRequestContext

    func handle(_ request: Request, context: Context, next: (Request, Context) async throws -> Response) async throws -> Response {
        var response: Response
        do {
            response = try await next(request, context)
        } catch let error as ServeError {
            response = Self.answer(error)
        } catch let error as HTTPError {
            let message = error.body ?? (error.status == .notFound ? "no such page or endpoint: \(request.method) \(request.uri.path)" : error.status.reasonPhrase)
            response = Self.answer(status: error.status, message: message)
        } catch {
            response = Self.answer(ServeError.failed("\(error)"))
        }
        response.headers[.contentSecurityPolicy] = DictionaryServer.contentSecurityPolicy
        response.headers[.xContentTypeOptions] = "nosniff"
        return response
    }

    static func answer(_ error: ServeError) -> Response {
        var response = answer(status: HTTPResponse.Status(code: error.status), message: error.message)
        if case .busy(let seconds) = error { response.headers[.retryAfter] = "\(seconds)" }
        return response
    }

    static func answer(status: HTTPResponse.Status, message: String) -> Response {
        let data = (try? APICoding.encode(APIError(message))) ?? Data("{\"error\":\"error\"}".utf8)
        return Response(status: status, headers: [.contentType: "application/json"], body: ResponseBody(byteBuffer: ByteBuffer(bytes: data)))
    }
}

/// Files of a report folder, by path components from a URL, never outside the folder.
enum StaticFiles {
    /// The file `components` name under `root`: each component percent-decoded and refused when empty, `.` or
    /// `..`, hidden, or holding a slash, backslash or NUL; the resolved path (links followed) must lie in `root`.
    static func resolve(_ components: [String], under root: String) throws -> String {
        guard !components.isEmpty else { throw ServeError.notFound("no file named") }
        var parts: [String] = []
        for raw in components {
            guard let part = raw.removingPercentEncoding, !part.isEmpty, !part.hasPrefix("."),
                !part.contains("/"), !part.contains("\\"), !part.contains("\0")
            else { throw ServeError.notFound("no such file: \(components.joined(separator: "/"))") }
            parts.append(part)
        }
        let base = URL(fileURLWithPath: root).resolvingSymlinksInPath().path
        let path = URL(fileURLWithPath: base + "/" + parts.joined(separator: "/")).resolvingSymlinksInPath().path
        var isFolder: ObjCBool = false
        guard path.hasPrefix(base + "/"), FileManager.default.fileExists(atPath: path, isDirectory: &isFolder), !isFolder.boolValue else {
            throw ServeError.notFound("no such file: \(parts.joined(separator: "/"))")
        }
        return path
    }

    static func read(_ path: String) throws -> [UInt8] {
        guard let data = FileManager.default.contents(atPath: path) else { throw ServeError.notFound("cannot read \(path)") }
        return [UInt8](data)
    }

    static func contentType(_ path: String) -> String {
        switch URL(fileURLWithPath: path).pathExtension.lowercased() {
        case "html": "text/html; charset=utf-8"
        case "js": "text/javascript; charset=utf-8"
        case "css": "text/css; charset=utf-8"
        case "json": "application/json"
        case "png": "image/png"
        case "svg": "image/svg+xml"
        default: "application/octet-stream"
        }
    }
}
