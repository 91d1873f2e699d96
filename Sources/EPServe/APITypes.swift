import Foundation
import EPFormats

// The JSON API of `ep serve` (docs/serve.md, docs/serve-openapi.json): one Codable struct per request and response
// body, field names in snake_case (CodingKeys where a name differs from the property). The encoder and decoder are in
// ``APICoding`` (one place).

/// `POST /api/assign`.
public struct AssignRequest: Codable, Sendable, Equatable {
    public var dictionary: String
    public var text: String

    public init(dictionary: String, text: String) {
        self.dictionary = dictionary
        self.text = text
    }
}

/// A region and a token's clamped cosine distance to its exemplar.
public struct RegionDistance: Codable, Sendable, Equatable {
    public var region: Int
    public var distance: Double

    public init(region: Int, distance: Double) {
        self.region = region
        self.distance = distance
    }
}

/// One token of an assigned text.
public struct AssignedToken: Codable, Sendable, Equatable {
    /// The token's text (its bytes as UTF-8) and id.
    public var piece: String
    public var tokenID: Int
    /// The window it fell in and its position there.
    public var window: Int
    public var position: Int
    /// Its nearest region, the clamped cosine distance to that region's exemplar and whether it is within θ; null
    /// at a position the dictionary's extraction leaves out (the BOS position).
    public var region: Int?
    public var distance: Double?
    public var withinThreshold: Bool?
    /// The nearest regions, nearest first (up to 3; empty where region is null).
    public var nearest: [RegionDistance]

    enum CodingKeys: String, CodingKey {
        case piece
        case tokenID = "token_id"
        case window
        case position
        case region
        case distance
        case withinThreshold = "within_threshold"
        case nearest
    }

    /// Region, distance and within_threshold are written as null when absent (not left out).
    public func encode(to encoder: any Encoder) throws {
        var c = encoder.container(keyedBy: CodingKeys.self)
        try c.encode(piece, forKey: .piece)
        try c.encode(tokenID, forKey: .tokenID)
        try c.encode(window, forKey: .window)
        try c.encode(position, forKey: .position)
        try c.encode(region, forKey: .region)
        try c.encode(distance, forKey: .distance)
        try c.encode(withinThreshold, forKey: .withinThreshold)
        try c.encode(nearest, forKey: .nearest)
    }
}

/// The answer to `POST /api/assign`.
public struct AssignResponse: Codable, Sendable, Equatable {
    public var dictionary: String
    /// The dictionary's threshold θ (clamped cosine distance).
    public var threshold: Double
    public var tokens: [AssignedToken]
}

/// One served dictionary (`GET /api/dictionaries`).
public struct DictionarySummary: Codable, Sendable, Equatable {
    public var name: String
    public var model: String?
    public var hook: String?
    public var width: Int
    public var regions: Int
    public var threshold: Double
    /// Activations the dictionary was built from.
    public var tokens: Int
    /// The report's index page on this server.
    public var report: String
}

/// The answer to `GET /api/dictionaries`.
public struct DictionaryList: Codable, Sendable, Equatable {
    public var dictionaries: [DictionarySummary]
}

/// A logit-lens token of a region's direction.
public struct LensEntry: Codable, Sendable, Equatable {
    public var piece: String
    public var tokenID: Int
    public var logit: Double

    enum CodingKeys: String, CodingKey {
        case piece
        case tokenID = "token_id"
        case logit
    }
}

/// A stored context of a region member: the text before the member token, the token, the text after.
public struct StoredContext: Codable, Sendable, Equatable {
    public var distance: Double
    public var before: String
    public var token: String
    public var after: String
}

/// The answer to `GET /api/dictionaries/{name}/regions/{id}`.
public struct RegionDetail: Codable, Sendable, Equatable {
    public var dictionary: String
    public var region: Int
    public var members: Int
    /// Mean cosine similarity of the members to their mean direction, and their mean distance to the exemplar
    /// (absent when not defined, e.g. for one member).
    public var coherence: Double?
    public var meanDistance: Double?
    /// Logit-lens tokens of the exemplar direction and of the members' mean direction.
    public var exemplarLens: [LensEntry]
    public var meanLens: [LensEntry]
    /// The closest and the farthest (boundary) stored members in context (empty when the dictionary stores no
    /// contexts).
    public var closest: [StoredContext]
    public var farthest: [StoredContext]
    /// The region's page in the report on this server.
    public var page: String

    enum CodingKeys: String, CodingKey {
        case dictionary
        case region
        case members
        case coherence
        case meanDistance = "mean_distance"
        case exemplarLens = "exemplar_lens"
        case meanLens = "mean_lens"
        case closest
        case farthest
        case page
    }
}

/// `POST /api/steer` and `POST /api/ablate` (ablation ignores alpha).
public struct InterventionRequest: Codable, Sendable, Equatable {
    public var dictionary: String
    public var prompt: String
    public var region: Int
    /// Steering strength α (default ‖c‖, the norm of the dictionary's center).
    public var alpha: Double?
    /// Tokens to generate per continuation (default 32).
    public var maxTokens: Int?
    /// Sampling seed of both continuations (default 0).
    public var seed: Int?
    /// Sampling temperature (default 0.8; 0 is greedy).
    public var temperature: Double?
    /// When given, intervene only at positions whose nearest region at the hook, before the intervention, is one of
    /// these (region-gated).
    public var gateRegions: [Int]?

    public init(dictionary: String, prompt: String, region: Int) {
        self.dictionary = dictionary
        self.prompt = prompt
        self.region = region
    }

    enum CodingKeys: String, CodingKey {
        case dictionary
        case prompt
        case region
        case alpha
        case maxTokens = "max_tokens"
        case seed
        case temperature
        case gateRegions = "gate_regions"
    }
}

/// A generated continuation.
public struct Continuation: Codable, Sendable, Equatable {
    public var text: String
    public var pieces: [String]
}

/// The answer to `POST /api/steer` and `POST /api/ablate`: both continuations, same seed.
public struct InterventionResponse: Codable, Sendable, Equatable {
    public var dictionary: String
    /// `steer` or `ablate`.
    public var intervention: String
    public var region: Int
    /// α used (steering only).
    public var alpha: Double?
    public var seed: Int
    public var temperature: Double
    public var gateRegions: [Int]?
    /// The region's logit-lens tokens (its exemplar direction).
    public var targets: [String]
    public var baseline: Continuation
    public var intervened: Continuation

    enum CodingKeys: String, CodingKey {
        case dictionary
        case intervention
        case region
        case alpha
        case seed
        case temperature
        case gateRegions = "gate_regions"
        case targets
        case baseline
        case intervened
    }
}

/// The answer to `GET /api/health`.
public struct HealthResponse: Codable, Sendable, Equatable {
    public var status: String
    public var dictionaries: Int
    /// Model jobs waiting or running, and how many may.
    public var queued: Int
    public var queueCapacity: Int

    enum CodingKeys: String, CodingKey {
        case status
        case dictionaries
        case queued
        case queueCapacity = "queue_capacity"
    }
}

/// Every error's body.
public struct APIError: Codable, Sendable, Equatable {
    public var error: String

    public init(_ error: String) { self.error = error }
}

/// The API's JSON encoding, on the Codable bridge of the JSON stack (``JSONValueEncoder``, ``JSONValueDecoder``):
/// compact text, keys in the order of each record's `CodingKeys`, optionals that are nil left out. The one place to
/// re-plug another encoder.
public enum APICoding {
    /// The compact JSON text of `value`; a number that is not finite is an error (JSON cannot write it).
    public static func encode<T: Encodable>(_ value: T) throws -> Data {
        let json = try JSONValueEncoder(omitsNilOptionals: true).encode(value)
        guard !json.containsNonFiniteNumber else {
            throw EncodingError.invalidValue(value, EncodingError.Context(codingPath: [], debugDescription: "a number in the answer is not finite"))
        }
        return Data(json.compactText.utf8)
    }

    /// `data` decoded as `T`, or a message naming the field and what was expected.
    public static func decode<T: Decodable>(_ type: T.Type, from data: Data) throws(ServeError) -> T {
        let json: JSONValue
        do {
            json = try JSONValue.parse([UInt8](data), path: "the body")
        } catch {
            throw .badRequest("malformed JSON: the body is not valid JSON")
        }
        do {
            return try JSONValueDecoder().decode(type, from: json)
        } catch let error as DecodingError {
            throw .badRequest(describe(error))
        } catch {
            throw .badRequest("malformed JSON: \(error)")
        }
    }

    static func describe(_ error: DecodingError) -> String {
        func path(_ context: DecodingError.Context) -> String {
            let names = context.codingPath.map { $0.intValue.map { "[\($0)]" } ?? $0.stringValue }
            return names.isEmpty ? "the body" : "field '" + names.joined(separator: ".").replacingOccurrences(of: ".[", with: "[") + "'"
        }
        switch error {
        case .keyNotFound(let key, let context):
            let parent = path(context)
            return "missing field '\(key.stringValue)'" + (context.codingPath.isEmpty ? "" : " in \(parent)")
        case .typeMismatch(_, let context), .valueNotFound(_, let context):
            return "\(path(context)): \(expectation(context.debugDescription))"
        case .dataCorrupted(let context):
            if context.codingPath.isEmpty { return "malformed JSON: the body is not valid JSON" }
            return "\(path(context)): \(context.debugDescription)"
        @unknown default:
            return "malformed JSON"
        }
    }

    /// What the bridge's "expected X, found Y" says was expected ("expected an integer"), keeping "found null".
    static func expectation(_ description: String) -> String {
        var text = Substring(description)
        if let found = text.range(of: ", found "), text[found.upperBound...] != "null" { text = text[..<found.lowerBound] }
        if let top = text.range(of: " at the top") { text.removeSubrange(top) }
        return String(text)
    }
}
