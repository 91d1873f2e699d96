import EPFormats

/// `build_state.json` in each dictionary of a build from text: where the build stood when the dictionary was saved,
/// so that `--resume` continues it (format "ep-build-state", version 1).
struct BuildStateFile: Codable {
    static let format = "ep-build-state"
    static let version = 1

    /// The dictionary's label (its percentile, or "given").
    var label: String
    /// The settings fingerprint (``TextBuildSettings``): a resume with other settings is refused.
    var settings: JSONValue
    /// Totals of the whole build.
    var windows: Int
    var tokens: Int
    var activations: Int
    var batches: Int
    /// Windows and tokens this dictionary saw.
    var dictionaryWindows: Int
    var dictionaryTokens: Int
    /// Seconds the build ran before this save.
    var elapsed: Double
    /// The digest of the windows consumed (absent in checkpoints written before it was recorded).
    var consumedSHA256: String?

    enum CodingKeys: String, CodingKey {
        case label, settings, windows, tokens, activations, batches
        case dictionaryWindows = "dictionary_windows"
        case dictionaryTokens = "dictionary_tokens"
        case elapsed = "elapsed_s"
        case consumedSHA256 = "consumed_sha256"
    }

    /// The file's JSON: the format header, then the fields.
    var fileJSON: JSONValue { JSONValueEncoder.value(of: JSONRecordFile(format: Self.format, version: Self.version, record: self)) }
}
