import EPFormats
import EPTensors
import Foundation

/// The forward pass of an architecture over groups of stacked sequences (see ``DecoderGraph``).
protocol TransformerGraph: AnyObject, Sendable {
    var config: TransformerConfig { get }
    /// Runs the plan on one group's rows, writing the plan's outputs; safe to call for different groups at once.
    func run(_ group: ForwardGroup, plan: ForwardPlan)
    /// The logits of `rows` residual-stream rows (`modelWidth` wide) as the end of the model makes them: the final
    /// normalisation with its weight, then the LM head, into `rows × vocabularySize` floats at `logits`.
    func unembed(_ x: UnsafePointer<Float>, rows: Int, into logits: UnsafeMutablePointer<Float>)
}

/// Token ids or sequence lengths the model cannot take.
public struct ModelInputError: Error, CustomStringConvertible, Sendable {
    /// What was wrong with the input.
    public let message: String
    public var description: String { message }
}

/// A language model loaded from a GGUF file or a Hugging Face folder, ready to run batches of token windows with
/// hooks, and to generate.
///
/// Each ``forward(_:hooks:logits:)`` call stacks its sequences into matrices with one row per token. With two or
/// more sequences and `threadCount` ≥ 2, the sequences are split into `threadCount` groups run in parallel, each
/// with single-threaded BLAS (no synchronisation inside the pass); a single sequence uses multi-threaded BLAS.
/// The model sets OpenBLAS's thread count for its own calls and restores it afterwards; forward calls from several
/// threads run one after the other, holding ``BLAS/threadCountLock`` (as does EPCore's single-threaded BLAS
/// section), and other BLAS work in the process should not run at the same time.
public final class LanguageModel: @unchecked Sendable {
    /// The file or folder the model was loaded from.
    public let path: String
    /// The GGUF file, when the model was loaded from one.
    public let gguf: GGUFFile?
    /// The Hugging Face folder, when the model was loaded from one.
    public let folder: HuggingFaceFolder?
    /// Threads used per forward call.
    public let threadCount: Int
    let graph: TransformerGraph

    /// The model's hyperparameters.
    public var config: TransformerConfig { graph.config }

    /// Loads the model at `path`: a GGUF file, or a Hugging Face folder (`config.json`, `*.safetensors`);
    /// `threads` defaults to the number of active processors, `storage` says how to hold the weights.
    public convenience init(path: String, threads: Int? = nil, storage: WeightStorage = .automatic) throws {
        var isDirectory: ObjCBool = false
        if FileManager.default.fileExists(atPath: path, isDirectory: &isDirectory), isDirectory.boolValue {
            try self.init(folder: HuggingFaceFolder(path: path), threads: threads, storage: storage)
        } else {
            try self.init(gguf: GGUFFile(path: path), threads: threads, storage: storage)
        }
    }

    /// Loads the model of an opened GGUF file (its matrices decoded to fp32 or left in their stored form, as
    /// `storage` says). Unknown architectures, missing or misshapen tensors and tensor types the runtime cannot
    /// decode are errors that say so.
    public init(gguf: GGUFFile, threads: Int? = nil, storage: WeightStorage = .automatic) throws {
        path = gguf.path
        self.gguf = gguf
        folder = nil
        threadCount = max(1, threads ?? ProcessInfo.processInfo.activeProcessorCount)
        graph = try DecoderGraph(config: TransformerConfig(gguf: gguf), weights: ModelWeights(gguf: gguf, storage: storage))
    }

    /// Loads the model of a Hugging Face folder. Unknown `model_type`s, missing or misshapen tensors and
    /// unsupported dtypes are errors that say so.
    public init(folder: HuggingFaceFolder, threads: Int? = nil, storage: WeightStorage = .automatic) throws {
        path = folder.path
        gguf = nil
        self.folder = folder
        threadCount = max(1, threads ?? ProcessInfo.processInfo.activeProcessorCount)
        let config = try TransformerConfig(huggingFace: folder.config)
        graph = try DecoderGraph(config: config, weights: ModelWeights(folder: folder, config: config, storage: storage))
    }

    /// The end-of-sequence token id of the metadata (`tokenizer.ggml.eos_token_id`, or `eos_token_id` of
    /// `config.json`, the first when it lists several), if any.
    public var eosTokenID: Int32? {
        if let gguf { return gguf.metadata["tokenizer.ggml.eos_token_id"]?.integer.flatMap { Int32(exactly: $0) } }
        switch folder?.config.object["eos_token_id"] {
        case .integer(let id)?: return Int32(exactly: id)
        case .array(let ids)?:
            if case .integer(let id)? = ids.first { return Int32(exactly: id) }
            return nil
        default: return nil
        }
    }

    /// Every hook point of the model, in forward order.
    public var hookPoints: [HookPoint] { HookPoint.all(layerCount: config.layerCount) }

    /// The hook point named `name` (TransformerLens style), or a ``HookError`` listing the valid names.
    public func hookPoint(named name: String) throws -> HookPoint {
        try HookPoint(name: name, layerCount: config.layerCount)
    }

    /// Width of the activation at `point`.
    public func width(of point: HookPoint) -> Int { config.modelWidth }

    /// Runs `batch` (sequences of token ids, each starting at position 0, of any lengths up to the context
    /// length) with `hooks`, returning the captured activations (all positions) and the requested logits.
    ///
    /// Blocks after the last captured point are skipped when no logits are requested (early exit).
    public func forward(_ batch: [[Int32]], hooks: Hooks = Hooks(), logits: LogitsRequest = .none) throws -> ForwardResult {
        var result = ForwardResult()
        try forward(batch, hooks: hooks, logits: logits, into: &result)
        return result
    }

    /// Like ``forward(_:hooks:logits:)``, but writes into `result`, reusing the storage of its matrices where the
    /// shapes match (for streams of equally shaped batches: no fresh memory for large outputs such as logits at
    /// every position). Storage that other copies still share is copied first, as any array would be.
    public func forward(_ batch: [[Int32]], hooks: Hooks = Hooks(), logits: LogitsRequest = .none, into result: inout ForwardResult) throws {
        var slices: [SequenceSlice] = []
        for (i, tokens) in batch.enumerated() {
            try validate(tokens, past: 0, label: "sequence \(i)")
            slices.append(SequenceSlice(index: i, tokens: tokens, firstRow: 0, past: 0, cache: nil))
        }
        try execute(slices, hooks: hooks, logits: logits, into: &result)
    }

    /// The activations at `point` for every token of `batch`, rows stacked in batch order (early exit after
    /// `point`).
    public func activations(_ batch: [[Int32]], at point: HookPoint) throws -> Matrix {
        try forward(batch, hooks: Hooks(captures: [point])).activations[point]!
    }

    /// The logit lens: the logits the model's final normalisation and LM head give each row of `x`, a residual-stream
    /// vector (`modelWidth` wide) such as a region's direction (TransformerLens `unembed(ln_final(x))`). The final
    /// RMSNorm divides by the row's RMS, so any positive multiple of a row gives the same logits.
    public func logitLens(_ x: Matrix) throws -> Matrix {
        guard x.columns == config.modelWidth else {
            throw ModelInputError(message: "logit lens: rows of width \(x.columns), expected the model width \(config.modelWidth)")
        }
        var logits = Matrix(rows: x.rows, columns: config.vocabularySize)
        guard x.rows > 0 else { return logits }
        BLAS.threadCountLock.lock()
        defer { BLAS.threadCountLock.unlock() }
        let previous = BLAS.threadCount
        defer { BLAS.threadCount = previous }
        BLAS.threadCount = threadCount
        x.storage.withUnsafeBufferPointer { input in
            logits.storage.withUnsafeMutableBufferPointer { output in
                graph.unembed(input.baseAddress!, rows: x.rows, into: output.baseAddress!)
            }
        }
        return logits
    }

    func validate(_ tokens: [Int32], past: Int, label: String) throws {
        guard !tokens.isEmpty else { throw ModelInputError(message: "\(label) is empty") }
        guard past + tokens.count <= config.contextLength else {
            throw ModelInputError(message: "\(label): \(past + tokens.count) positions exceed the context length \(config.contextLength)")
        }
        if let bad = tokens.first(where: { $0 < 0 || Int($0) >= config.vocabularySize }) {
            throw ModelInputError(message: "\(label): token id \(bad) is outside the vocabulary 0..<\(config.vocabularySize)")
        }
    }

    /// Runs `slices` (their `firstRow` is set here) with the hooks, on one or several threads, into `result`
    /// (whose matrices' storage is reused where the sizes match).
    func execute(_ slices: [SequenceSlice], hooks: Hooks, logits: LogitsRequest, fullDepth: Bool = false, into result: inout ForwardResult) throws {
        let c = config
        var edits: [HookPoint: [PreparedEdit]] = [:]
        for point in hooks.points {
            guard HookPoint.all(layerCount: c.layerCount).contains(point) else {
                throw HookError(message: "hook point \(point.name) does not exist in a model with \(c.layerCount) blocks")
            }
        }
        for (point, list) in hooks.edits {
            edits[point] = try list.map { try PreparedEdit($0, point: point, width: width(of: point)) }
        }
        let rowOffsets = slices.reduce(into: [0]) { $0.append($0.last! + $1.tokens.count) }
        let rows = rowOffsets.last!
        let stopOrder = logits != .none || fullDepth ? Int.max : hooks.captures.map(\.order).max() ?? -1
        let captured = hooks.captures.sorted()
        var sizes = captured.map { rows * width(of: $0) }
        switch logits {
        case .none: break
        case .all: sizes.append(rows * c.vocabularySize)
        case .last: sizes.append(slices.count * c.vocabularySize)
        }
        // Take the storage out of `result`, so that it is uniquely referenced when the caller kept no copy.
        var arrays = captured.map { result.activations.removeValue(forKey: $0)?.storage ?? [] }
        if logits != .none { arrays.append(result.logits?.storage ?? []) }
        result = ForwardResult(rowOffsets: rowOffsets, activations: [:], logits: nil)
        if slices.isEmpty {
            arrays = sizes.map { _ in [] }
        } else {
            withOutputStorage(&arrays, sizes: sizes) { outputs in
                var captures: [HookPoint: UnsafeMutablePointer<Float>] = [:]
                for (point, output) in zip(captured, outputs) { captures[point] = output }
                let plan = ForwardPlan(
                    stopOrder: stopOrder, logits: logits, edits: edits, captures: captures,
                    logitOutput: logits == .none ? nil : outputs.last)
                run(groups(slices, rowOffsets: rowOffsets), plan: plan)
            }
        }
        for (i, point) in captured.enumerated() {
            result.activations[point] = Matrix(rows: rows, columns: width(of: point), storage: arrays[i])
        }
        if logits != .none {
            result.logits = Matrix(rows: logits == .all ? rows : slices.count, columns: c.vocabularySize, storage: arrays.last!)
        }
    }

    /// Splits the slices into at most `threadCount` contiguous groups of about equal row counts. A single group
    /// (one sequence, or one thread) gets every thread for its element-wise work and attention, unless it has
    /// too few rows for that to pay.
    ///
    /// Independent groups beat one group whose products run on all of BLAS's threads, even for mapped 16-bit
    /// weights that each group then converts itself: on 2 vCPUs of a Zen 4 EPYC, 8 windows of 128 tokens to block
    /// 12 of a Gemma-2-2B-shaped BF16 folder ran at 86 tokens/s as two groups against 78 as one (OpenBLAS's
    /// threaded sgemm packs the activations more often, and its idle threads spin while the element-wise work
    /// runs), SmolLM2 to block 15 at 1,550 against 1,400.
    private func groups(_ slices: [SequenceSlice], rowOffsets: [Int]) -> [ForwardGroup] {
        let total = rowOffsets.last!
        let count = min(threadCount, slices.count)
        if count == 1 {
            var members = slices
            for i in members.indices { members[i].firstRow = rowOffsets[i] }
            var group = ForwardGroup(slices: members, firstOutputRow: 0)
            group.threads = total >= 8 ? threadCount : 1
            return [group]
        }
        var groups: [ForwardGroup] = []
        var start = 0
        for g in 0..<count {
            var end = start + 1
            if g == count - 1 {
                end = slices.count
            } else {
                let target = total * (g + 1) / count
                while end < slices.count - (count - 1 - g), rowOffsets[end + 1] <= target { end += 1 }
            }
            var members = Array(slices[start..<end])
            for i in members.indices { members[i].firstRow = rowOffsets[start + i] - rowOffsets[start] }
            groups.append(ForwardGroup(slices: members, firstOutputRow: rowOffsets[start]))
            start = end
        }
        return groups
    }

    /// Runs the groups holding ``BLAS/threadCountLock``: OpenBLAS's thread count is global, and results depend on it in
    /// the last bits, so calls must not change it under each other. (Each call already uses every core.)
    private func run(_ groups: [ForwardGroup], plan: ForwardPlan) {
        BLAS.threadCountLock.lock()
        defer { BLAS.threadCountLock.unlock() }
        let previous = BLAS.threadCount
        defer { BLAS.threadCount = previous }
        if groups.count == 1 {
            // One token (a generation step) is matrix-vector products, bound by memory: a second BLAS thread
            // only adds its wake-up cost.
            BLAS.threadCount = groups[0].rows == 1 ? 1 : threadCount
            graph.run(groups[0], plan: plan)
        } else {
            BLAS.threadCount = 1
            let graph = graph
            DispatchQueue.concurrentPerform(iterations: groups.count) { graph.run(groups[$0], plan: plan) }
        }
    }
}

/// Gives `body` pointers to the storage of `arrays`, first resized to `sizes` (an array of the right size is kept,
/// any other replaced by uninitialised storage), for `body` to fill: it must write every element.
private func withOutputStorage(_ arrays: inout [[Float]], sizes: [Int], _ body: ([UnsafeMutablePointer<Float>]) -> Void) {
    for (i, size) in sizes.enumerated() where arrays[i].count != size {
        arrays[i] = [Float](unsafeUninitializedCapacity: size) { _, count in count = size }
    }
    func nest(_ i: Int, _ pointers: [UnsafeMutablePointer<Float>]) {
        guard i < arrays.count else { return body(pointers) }
        var current = arrays[i]
        arrays[i] = []
        current.withUnsafeMutableBufferPointer { nest(i + 1, pointers + [$0.baseAddress!]) }
        arrays[i] = current
    }
    nest(0, [])
}
