import EPCore
import EPFormats
import EPRuntime
import EPStore
import EPTensors

/// Which activations of a window a build takes (docs/build.md).
public enum ExtractorKind: String, Sendable, CaseIterable, JSONStringEnum {
    /// Every position of every window (the reference's `extract_per_position`), position 0 left out by default.
    case perPosition = "per-position"
    /// The last position of every window only (`extract_final_position`).
    case finalPosition = "final-position"
}

/// Which rows a window yields and how windows are run through the model.
public struct ExtractionSettings: Sendable, Equatable, Codable {
    /// Which positions are taken.
    public var extractor: ExtractorKind = .perPosition
    /// Leave position 0 of every window out (per-position only). On SmolLM2 its residual is an attention sink
    /// about 150× the median norm (docs/build.md, *From text*), whatever the first token is.
    public var excludeFirstPosition = true
    /// Windows per forward call (each call runs its windows on all cores).
    public var windowsPerForward = 16

    public init() {}

    /// The fields as a shard plan's settings record them (`settings.extraction`).
    enum CodingKeys: String, CodingKey {
        case extractor, excludeFirstPosition = "exclude_first_position", windowsPerForward = "windows_per_forward"
    }

    /// The positions of a window of `length` tokens that become activation rows.
    public func positions(inWindowOf length: Int) -> Range<Int> {
        switch extractor {
        case .perPosition: return (excludeFirstPosition ? min(1, length) : 0)..<length
        case .finalPosition: return length > (excludeFirstPosition ? 1 : 0) ? (length - 1)..<length : length..<length
        }
    }
}

/// Activations of a batch of windows with their provenance: row `i` (of every hook's rows) is the activation at
/// `references[i].position` of the window whose id is `references[i].source`.
public struct ActivationBatch: Sendable {
    /// Per hook of the extractor, in its order, the rows (one per extracted position); nil for a hook the batch did
    /// not capture.
    public var hookActivations: [Matrix?]
    /// Where each row came from (the same for every hook).
    public var references: [RowReference]
    /// The windows, in stream order.
    public var windows: [ContextWindow]
    /// Tokens of the windows (BOS included).
    public var tokens: Int { windows.reduce(0) { $0 + $1.tokens.count } }

    /// The rows of the extractor's first hook (the only one of a single-hook extractor); extracted whenever every
    /// hook is.
    public var activations: Matrix { hookActivations[0]! }

    /// Number of rows.
    public var rowCount: Int { references.count }
}

/// Runs windows through a model up to its deepest hook point (early exit) and keeps, at every hook point, the rows
/// the extraction settings select. One forward pass serves every hook; the rows of each hook are the same bits a
/// single-hook extractor of that hook gives.
public final class ActivationExtractor {
    /// The model.
    public let model: LanguageModel
    /// The hook points read, in the order given.
    public let points: [HookPoint]
    /// The settings in force.
    public let settings: ExtractionSettings
    private var result = ForwardResult()

    /// The first hook point (the only one of a single-hook extractor).
    public var point: HookPoint { points[0] }

    /// An extractor of `hook` (a TransformerLens name) from `model`; an unknown hook name is an error listing
    /// the valid ones.
    public convenience init(model: LanguageModel, hook: String, settings: ExtractionSettings) throws {
        try self.init(model: model, hooks: [hook], settings: settings)
    }

    /// An extractor of every hook of `hooks` (TransformerLens names, at least one, none twice) from `model`.
    public init(model: LanguageModel, hooks: [String], settings: ExtractionSettings) throws {
        guard !hooks.isEmpty else { throw PipelineError("--hook: give at least one hook point") }
        let points = try hooks.map { try model.hookPoint(named: $0) }
        if let twice = points.enumerated().first(where: { i, p in points[..<i].contains(p) }) {
            throw PipelineError("--hook: \(twice.element.name) is given twice")
        }
        self.model = model
        self.points = points
        self.settings = settings
        guard settings.windowsPerForward > 0 else { throw PipelineError("windows per forward call must be positive, got \(settings.windowsPerForward)") }
    }

    /// Width of the rows (every hook point of a model has the model's width).
    public var width: Int { model.width(of: points[0]) }

    /// The activations of `windows` at the hooks numbered `hooks` (indices into ``points``; all of them when nil):
    /// the forward pass stops after the deepest of them. `shouldStop` is asked between forward calls; when it says
    /// yes the batch is abandoned and nil returned.
    public func extract(_ windows: [ContextWindow], hooks: [Int]? = nil, shouldStop: () -> Bool = { false }) throws -> ActivationBatch? {
        let selected = hooks ?? Array(points.indices)
        let d = width
        let rowCount = windows.reduce(0) { $0 + settings.positions(inWindowOf: $1.tokens.count).count }
        var activations = [Matrix?](repeating: nil, count: points.count)
        for h in selected { activations[h] = Matrix(rows: rowCount, columns: d) }
        var references: [RowReference] = []
        references.reserveCapacity(rowCount)
        let captures = Hooks(captures: Set(selected.map { points[$0] }))
        var next = 0
        for start in stride(from: 0, to: windows.count, by: settings.windowsPerForward) {
            if shouldStop() { return nil }
            let group = windows[start..<min(start + settings.windowsPerForward, windows.count)]
            if !selected.isEmpty {
                try model.forward(group.map(\.tokens), hooks: captures, logits: .none, into: &result)
            }
            for h in selected {
                result.activations[points[h]]!.storage.withUnsafeBufferPointer { source in
                    activations[h]!.storage.withUnsafeMutableBufferPointer { destination in
                        var row = next
                        for (i, window) in group.enumerated() {
                            let positions = settings.positions(inWindowOf: window.tokens.count)
                            guard !positions.isEmpty else { continue }
                            let first = result.rowOffsets[i] + positions.lowerBound
                            (destination.baseAddress! + row * d).update(from: source.baseAddress! + first * d, count: positions.count * d)
                            row += positions.count
                        }
                    }
                }
            }
            for window in group {
                for p in settings.positions(inWindowOf: window.tokens.count) {
                    references.append(RowReference(source: window.id, position: Int32(p)))
                }
            }
            next = references.count
        }
        return ActivationBatch(hookActivations: activations, references: references, windows: windows)
    }
}
