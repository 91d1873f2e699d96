import EPCore
import EPFormats
import EPStore

extension TextBuildSettings {
    /// Every setting, as JSON (a shard plan records them, so that the merge runs the build the plan describes):
    /// ``init(json:path:)`` reads it back to equal settings.
    public var json: JSONValue {
        var o = JSONObject()
        o["model"] = .string(model)
        o["hooks"] = .array(hooks.map { .string($0) })
        o["corpus"] = .array(corpus.map { .string($0) })
        o["corpus_options"] = .object(JSONObject([
            "jsonl_field": .string(corpusOptions.jsonlField),
            "split": .string(corpusOptions.split.rawValue),
            "include": .array(corpusOptions.include.map { .string($0.pattern) }),
            "exclude": .array(corpusOptions.exclude.map { .string($0.pattern) }),
            "stdin_jsonl": .bool(corpusOptions.standardInputIsJSONL),
            "bad_lines": .string(corpusOptions.badLines.rawValue),
            "invalid_utf8": .string(corpusOptions.invalidUTF8.rawValue),
        ]))
        o["windows"] = .object(JSONObject([
            "context": .integer(Int64(windows.context)),
            "mode": .string(windows.mode.rawValue),
            "min_window": .integer(Int64(windows.minimumTokens)),
            "bos_token_id": windows.bos.map { .integer(Int64($0)) } ?? .null,
            "shuffle_buffer": .integer(Int64(windows.shuffleBuffer)),
            "seed": .integer(Int64(windows.seed)),
        ]))
        o["extraction"] = .object(JSONObject([
            "extractor": .string(extraction.extractor.rawValue),
            "exclude_first_position": .bool(extraction.excludeFirstPosition),
            "windows_per_forward": .integer(Int64(extraction.windowsPerForward)),
        ]))
        o["percentiles"] = .array(percentiles.map { .number($0) })
        o["given_calibration"] = givenCalibration?.json ?? .null
        o["method"] = .string(method.rawValue)
        o["calibration_tokens"] = .integer(Int64(calibrationTokens))
        o["batch_windows"] = .integer(Int64(batchWindows))
        o["max_tokens"] = maxTokens.map { .integer(Int64($0)) } ?? .null
        o["saturation_window"] = .integer(Int64(saturationWindow))
        o["checkpoint_every"] = .integer(Int64(checkpointEvery))
        o["reservoir"] = .bool(reservoir)
        o["recalibrate"] = .bool(recalibrate)
        o["threads"] = .integer(Int64(threads))
        o["activation_dtype"] = .string(activationDType.rawValue)
        return .object(o)
    }

    /// Settings read from ``json``; errors name `path` and the field.
    public init(json value: JSONValue, path: String) throws {
        let f = try JSONFields(value, path: path)
        func choice<T: RawRepresentable & CaseIterable>(_ fields: JSONFields, _ key: String, _: T.Type) throws -> T where T.RawValue == String {
            let name = try fields.string(key)
            guard let parsed = T(rawValue: name) else {
                throw fields.error(key, "expected one of \(T.allCases.map(\.rawValue).joined(separator: ", ")), found \"\(name)\"")
            }
            return parsed
        }
        self.init(model: try f.string("model"), hooks: try f.strings("hooks"), corpus: try f.strings("corpus"), threads: try f.integer("threads"))
        let c = try f.object("corpus_options")
        corpusOptions.jsonlField = try c.string("jsonl_field")
        corpusOptions.split = try choice(c, "split", CorpusOptions.DocumentSplit.self)
        corpusOptions.include = try c.strings("include").map(Glob.init)
        corpusOptions.exclude = try c.strings("exclude").map(Glob.init)
        corpusOptions.standardInputIsJSONL = try c.bool("stdin_jsonl")
        corpusOptions.badLines = try choice(c, "bad_lines", CorpusOptions.BadLinePolicy.self)
        corpusOptions.invalidUTF8 = try choice(c, "invalid_utf8", CorpusOptions.InvalidUTF8Policy.self)
        let w = try f.object("windows")
        windows.context = try w.integer("context")
        windows.mode = try choice(w, "mode", WindowSettings.Mode.self)
        windows.minimumTokens = try w.integer("min_window")
        windows.bos = try w.optionalInteger("bos_token_id").map { try Self.int32($0, w, "bos_token_id") }
        windows.shuffleBuffer = try w.integer("shuffle_buffer")
        let seed = try w.integer("seed")
        guard seed >= 0 else { throw w.error("seed", "expected a number ≥ 0, found \(seed)") }
        windows.seed = UInt64(seed)
        let e = try f.object("extraction")
        extraction.extractor = try choice(e, "extractor", ExtractorKind.self)
        extraction.excludeFirstPosition = try e.bool("exclude_first_position")
        extraction.windowsPerForward = try e.integer("windows_per_forward")
        percentiles = try f.doubles("percentiles")
        if f.has("given_calibration") {
            givenCalibration = try CalibrationRecord.parse(try f.value("given_calibration"), path: "\(path) (given_calibration)")
        }
        method = try choice(f, "method", PercentileMethod.self)
        calibrationTokens = try f.integer("calibration_tokens")
        batchWindows = try f.integer("batch_windows")
        maxTokens = try f.optionalInteger("max_tokens")
        saturationWindow = try f.integer("saturation_window")
        checkpointEvery = try f.integer("checkpoint_every")
        reservoir = try f.bool("reservoir")
        recalibrate = try f.bool("recalibrate")
        activationDType = try choice(f, "activation_dtype", ActivationDType.self)
        do { try validate() } catch let error as PipelineError { throw FileFormatError(path, "the settings are not valid: \(error.description)") }
    }

    private static func int32(_ value: Int, _ fields: JSONFields, _ key: String) throws -> Int32 {
        guard let v = Int32(exactly: value) else { throw fields.error(key, "expected a token id, found \(value)") }
        return v
    }
}
