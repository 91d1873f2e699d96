import EPCore
import EPRuntime
import EPStore
import EPTensors

/// Which activations of a window a build takes (spec §4).
public enum ExtractorKind: String, Sendable, CaseIterable {
    /// Every position of every window (the reference's `extract_per_position`), position 0 left out by default.
    case perPosition = "per-position"
    /// The last position of every window only (`extract_final_position`).
    case finalPosition = "final-position"
}

/// Which rows a window yields and how windows are run through the model.
public struct ExtractionSettings: Sendable, Equatable {
    /// Which positions are taken.
    public var extractor: ExtractorKind = .perPosition
    /// Leave position 0 of every window out (per-position only). On SmolLM2 its residual is an attention sink
    /// about 150× the median norm (`../shared/spec/models-data.md` §5), whatever the first token is.
    public var excludeFirstPosition = true
    /// Windows per forward call (each call runs its windows on all cores).
    public var windowsPerForward = 16

    public init() {}

    /// The positions of a window of `length` tokens that become activation rows.
    public func positions(inWindowOf length: Int) -> Range<Int> {
        switch extractor {
        case .perPosition: return (excludeFirstPosition ? min(1, length) : 0)..<length
        case .finalPosition: return length > (excludeFirstPosition ? 1 : 0) ? (length - 1)..<length : length..<length
        }
    }
}

/// Activations of a batch of windows with their provenance: row `i` is the activation at `references[i].position`
/// of the window whose id is `references[i].source`.
public struct ActivationBatch: Sendable {
    /// The rows, one per extracted position.
    public var activations: Matrix
    /// Where each row came from.
    public var references: [RowReference]
    /// The windows, in stream order.
    public var windows: [ContextWindow]
    /// Tokens of the windows (BOS included).
    public var tokens: Int { windows.reduce(0) { $0 + $1.tokens.count } }
}

/// Runs windows through a model up to one hook point (early exit) and keeps the rows the extraction settings
/// select.
public final class ActivationExtractor {
    /// The model.
    public let model: LanguageModel
    /// The hook point read.
    public let point: HookPoint
    /// The settings in force.
    public let settings: ExtractionSettings
    private var result = ForwardResult()

    /// An extractor of `hook` (a TransformerLens name) from `model`; an unknown hook name is an error listing
    /// the valid ones.
    public init(model: LanguageModel, hook: String, settings: ExtractionSettings) throws {
        self.model = model
        point = try model.hookPoint(named: hook)
        self.settings = settings
        guard settings.windowsPerForward > 0 else { throw PipelineError("windows per forward call must be positive, got \(settings.windowsPerForward)") }
    }

    /// Width of the rows.
    public var width: Int { model.width(of: point) }

    /// The activations of `windows`. `shouldStop` is asked between forward calls; when it says yes the batch is
    /// abandoned and nil returned.
    public func extract(_ windows: [ContextWindow], shouldStop: () -> Bool = { false }) throws -> ActivationBatch? {
        let d = width
        let rowCount = windows.reduce(0) { $0 + settings.positions(inWindowOf: $1.tokens.count).count }
        var activations = Matrix(rows: rowCount, columns: d)
        var references: [RowReference] = []
        references.reserveCapacity(rowCount)
        var next = 0
        for start in stride(from: 0, to: windows.count, by: settings.windowsPerForward) {
            if shouldStop() { return nil }
            let group = windows[start..<min(start + settings.windowsPerForward, windows.count)]
            try model.forward(group.map(\.tokens), hooks: Hooks(captures: [point]), logits: .none, into: &result)
            let rows = result.activations[point]!
            rows.storage.withUnsafeBufferPointer { source in
                activations.storage.withUnsafeMutableBufferPointer { destination in
                    for (i, window) in group.enumerated() {
                        let positions = settings.positions(inWindowOf: window.tokens.count)
                        guard !positions.isEmpty else { continue }
                        let first = result.rowOffsets[i] + positions.lowerBound
                        (destination.baseAddress! + next * d).update(from: source.baseAddress! + first * d, count: positions.count * d)
                        next += positions.count
                        for p in positions { references.append(RowReference(source: window.id, position: Int32(p))) }
                    }
                }
            }
        }
        return ActivationBatch(activations: activations, references: references, windows: windows)
    }
}
