import EPFormats
import EPTensors
import Foundation
import Testing
@testable import EPRuntime

/// The folder of the weight-format parity models (scripts/oracle/make_format_models.py, which `make setup` runs);
/// fails the test (never skips) when they are not there.
func requireFormatModels() throws -> String {
    let path = repositoryRoot + "/data/models/formats-2304"
    try #require(
        FileManager.default.fileExists(atPath: path + "/MANIFEST.json"),
        "the weight-format parity models are missing: run `make setup` (scripts/setup.sh writes them with scripts/oracle/make_format_models.py into data/models/formats-2304)")
    return path
}

/// One model with two Gemma-2-2B-shaped blocks (width 2304, MLP 9216) in every weight format the runtime reads,
/// against the numpy fp32 oracle run on the weights as the file stores them (quantized ones decoded by gguf-py), so
/// that the runtime and the oracle differ only in the order of fp32 arithmetic. Each format runs decoded to fp32 at
/// load and left in its stored form (converted panel by panel, or dotted directly by the fused kernels).
@Suite struct WeightFormatTests {
    /// The GGUF types, llama.cpp's Q4_K_M mix (Q4_K and Q6_K matrices, one fused Q/K/V matrix of both), then the
    /// BF16 Hugging Face folder.
    static let formats = ["F32", "F16", "BF16", "Q8_0", "Q4_0", "Q4_1", "Q4_K", "Q5_K", "Q6_K", "Q4_K_M", "hf-bf16"]

    static func paths(_ format: String) throws -> (model: String, oracle: String) {
        let folder = try requireFormatModels()
        let paths = format.hasPrefix("hf-")
            ? (folder + "/" + format, folder + "/" + format + "/oracle.safetensors")
            : (folder + "/gemma2-\(format).gguf", folder + "/gemma2-\(format)_oracle.safetensors")
        try #require(
            FileManager.default.fileExists(atPath: paths.1),
            "\(paths.1) is missing: run `make setup` (scripts/oracle/make_format_models.py --if-stale writes what is missing)")
        return paths
    }

    /// The stored types of the matrices of block 1 (Q/K/V, output, gate/up, down) and of the embedding, as the
    /// model file holds them.
    static func storedTypes(_ format: String) -> (block: [[GGMLType]], embedding: GGMLType) {
        switch format {
        case "hf-bf16": return ([[.bf16, .bf16, .bf16], [.bf16], [.bf16, .bf16], [.bf16]], .bf16)
        case "Q4_K_M": return ([[.q4_K, .q4_K, .q6_K], [.q4_K], [.q4_K, .q4_K], [.q6_K]], .q6_K)
        default:
            let type = GGMLType.allCases.first { $0.description == format }!
            return ([[type, type, type], [type], [type, type], [type]], type)
        }
    }

    static func graph(_ model: LanguageModel) throws -> DecoderGraph { try #require(model.graph as? DecoderGraph) }

    /// Two sequences in one call on two threads (two groups converting the same panels at once), every captured
    /// point and the logits at every position within 1e-4 relative error per row of the oracle.
    @Test(arguments: formats, [WeightStorage.decoded, .mapped])
    func matchesTheFP32Oracle(format: String, storage: WeightStorage) throws {
        let (path, oraclePath) = try Self.paths(format)
        let model = try LanguageModel(path: path, threads: 2, storage: storage)
        let graph = try Self.graph(model)
        #expect(model.config.modelWidth == 2304 && model.config.ffnWidth == 9216 && model.config.layerCount == 2)
        // The matrices are held as asked: one fp32 segment, or the file's own types where they lie in the file.
        let block = graph.blocks[1], stored = Self.storedTypes(format)
        for (matrix, types) in zip([block.qkv, block.output, block.up, block.down, graph.embedding], stored.block + [[stored.embedding]]) {
            if storage == .decoded {
                #expect(matrix.storage != nil && matrix.segments.map(\.type) == [.f32])
            } else {
                #expect(matrix.storage == nil && matrix.segments.map(\.type) == types)
            }
        }

        let oracle = try SafetensorsFile(path: oraclePath)
        let prompts = ["a", "b"]
        let batch = try prompts.map { try oracle.integers($0 + ".tokens").map { Int32($0) } }
        let keys = oracle.tensorNames.filter { $0.hasPrefix("a.") && $0.contains("hook") }.map { String($0.dropFirst(2)) }
        let points = try keys.map { try model.hookPoint(named: $0) }
        #expect(points.count == 8)
        let result = try model.forward(batch, hooks: Hooks(captures: Set(points)), logits: .all)
        var worst = 0.0
        for (s, prompt) in prompts.enumerated() {
            let rows = result.rowOffsets[s]..<result.rowOffsets[s + 1]
            for (key, point) in zip(keys, points) {
                let reference = Matrix(rows: rows.count, columns: 2304, storage: try oracle.floats(prompt + "." + key))
                let error = HuggingFaceModelTests.maxRowError(result.activations[point]!.rows(rows), reference)
                worst = max(worst, error)
                #expect(error <= 1e-4, "\(format) \(storage) \(prompt).\(key): relative error \(error)")
            }
            let logits = Matrix(rows: rows.count, columns: model.config.vocabularySize, storage: try oracle.floats(prompt + ".logits"))
            let error = HuggingFaceModelTests.maxRowError(result.logits!.rows(rows), logits)
            print("formats \(format) \(storage) \(prompt): activations max per-row relative error \(String(format: "%.2e", worst)), logits \(String(format: "%.2e", error))")
            #expect(error <= 1e-4, "\(format) \(storage) \(prompt) logits: relative error \(error)")
        }
    }

    /// Generation steps (single-row products: the fused Q8_0/Q4_1 dots, or small panels and sgemv) give the
    /// oracle's logits at each position.
    @Test(arguments: formats)
    func generationStepsMatchTheOracle(format: String) throws {
        let (path, oraclePath) = try Self.paths(format)
        let model = try LanguageModel(path: path, threads: 1, storage: .mapped)
        let oracle = try SafetensorsFile(path: oraclePath)
        let tokens = try oracle.integers("a.tokens").map { Int32($0) }
        let logits = Matrix(rows: tokens.count, columns: model.config.vocabularySize, storage: try oracle.floats("a.logits"))
        let session = InferenceSession(model: model)
        _ = try session.append(Array(tokens[..<18]))
        var worst = 0.0
        for (i, token) in tokens[18...].enumerated() {
            let step = try #require(try session.append([token]).logits)
            let error = HuggingFaceModelTests.maxRowError(step, logits.rows(18 + i..<19 + i))
            worst = max(worst, error)
            #expect(error <= 1e-4, "\(format) step \(i): relative error \(error)")
        }
        print("formats \(format) generation steps: logits max relative error \(String(format: "%.2e", worst))")
    }

    /// With the weights left mapped, early exit after block 0 never brings block 1's matrices into the process's
    /// memory (its pages are not in this process's page table: /proc/self/pagemap), while block 0's are; the
    /// decoded norm vectors of block 1 and the kernel's fault-around (at most 64 KiB around a touched page) may map
    /// a few pages next to them, hence the margin of 1 %.
    @Test(arguments: ["Q4_K", "BF16"])
    func earlyExitLeavesLaterBlocksUnread(format: String) throws {
        let (path, oraclePath) = try Self.paths(format)
        let gguf = try GGUFFile(path: path)
        let model = try LanguageModel(gguf: gguf, threads: 1, storage: .mapped)
        let tokens = try SafetensorsFile(path: oraclePath).integers("a.tokens").map { Int32($0) }
        _ = try model.activations([tokens], at: .residPost(layer: 0))
        let matrices = ["attn_q", "attn_k", "attn_v", "attn_output", "ffn_gate", "ffn_up", "ffn_down"]
        func residentFraction(block: Int) throws -> Double {
            var resident = 0, total = 0
            for name in matrices {
                let info = try gguf.requireTensor("blk.\(block).\(name).weight")
                let pages = try PageResidency.present(gguf.file.bytes + info.offset, count: info.byteCount)
                resident += pages.resident
                total += pages.total
            }
            return Double(resident) / Double(total)
        }
        let first = try residentFraction(block: 0), second = try residentFraction(block: 1)
        print("formats \(format) early exit after block 0: block 0's matrix pages resident \(first), block 1's \(second)")
        #expect(first >= 0.99)
        #expect(second <= 0.01)
    }
}

/// Which pages of a range of this process's memory are in its page table (bit 63 of each /proc/self/pagemap entry).
enum PageResidency {
    static func present(_ start: UnsafeRawPointer, count: Int) throws -> (resident: Int, total: Int) {
        let pageSize = Int(sysconf(Int32(_SC_PAGESIZE)))
        let first = Int(bitPattern: start) / pageSize, last = (Int(bitPattern: start) + count - 1) / pageSize
        let fd = open("/proc/self/pagemap", O_RDONLY)
        try #require(fd >= 0, "cannot open /proc/self/pagemap")
        defer { close(fd) }
        var entries = [UInt64](repeating: 0, count: last - first + 1)
        let read = entries.withUnsafeMutableBytes { pread(fd, $0.baseAddress!, $0.count, off_t(first * 8)) }
        try #require(read == entries.count * 8, "short read of /proc/self/pagemap")
        return (entries.filter { $0 >> 63 == 1 }.count, entries.count)
    }
}

/// Products over matrices left in their stored form, with tilings small enough that tiles split the rows and the
/// columns unevenly, against a double-precision product of the decoded matrix.
@Suite struct ProjectionTilingTests {
    /// Random blocks of `type` for `rows` rows of `k` values, with finite f16 scale fields (16-bit floats from
    /// random values); aligned for F32.
    static func randomRows(_ type: GGMLType, rows: Int, k: Int, using generator: inout SeededGenerator) -> UnsafeMutableRawPointer {
        let bytes = rows * k / type.blockSize * type.blockBytes
        let data = UnsafeMutableRawPointer.allocate(byteCount: bytes, alignment: 64)
        for i in 0..<bytes { data.storeBytes(of: UInt8.random(in: 0...255, using: &generator), toByteOffset: i, as: UInt8.self) }
        let scales: [Int]
        switch type {
        case .f32:
            for i in 0..<(rows * k) { data.storeBytes(of: Float.random(in: -1...1, using: &generator), toByteOffset: 4 * i, as: Float.self) }
            return data
        case .f16, .bf16:
            for i in 0..<(rows * k) {
                let v = Float.random(in: -1...1, using: &generator)
                let bits = type == .f16 ? HalfPrecision.halfBits(from: v) : HalfPrecision.bfloat16Bits(from: v)
                data.storeBytes(of: bits, toByteOffset: 2 * i, as: UInt16.self)
            }
            return data
        case .q4_1, .q5_1, .q4_K, .q5_K: scales = [0, 2]
        case .q6_K: scales = [208]
        default: scales = [0]
        }
        for b in 0..<(bytes / type.blockBytes) {
            for offset in scales {
                let scale = HalfPrecision.halfBits(from: Float.random(in: -0.05...0.05, using: &generator))
                data.storeBytes(of: scale, toByteOffset: b * type.blockBytes + offset, as: UInt16.self)
            }
        }
        return data
    }

    @Test(arguments: GGMLType.dequantizable)
    func tiledProductsMatchTheDecodedMatrix(type: GGMLType) throws {
        var generator = SeededGenerator(seed: UInt64(type.rawValue) + 11)
        let k = 768, upper = 37, lower = 29
        // Two segments: `type`, then Q6_K (a fused Q/K/V matrix whose rows are of two types).
        let first = Self.randomRows(type, rows: upper, k: k, using: &generator)
        let second = Self.randomRows(.q6_K, rows: lower, k: k, using: &generator)
        defer { first.deallocate(); second.deallocate() }
        let tensors = [
            WeightTensor(name: "upper", rows: upper, columns: k, type: type, data: UnsafeRawPointer(first)),
            WeightTensor(name: "lower", rows: lower, columns: k, type: .q6_K, data: UnsafeRawPointer(second)),
        ]
        let matrix = WeightMatrix(mapped: tensors)
        var w = [Float](repeating: 0, count: (upper + lower) * k)
        w.withUnsafeMutableBufferPointer { p in
            tensors[0].decode(into: p.baseAddress!)
            tensors[1].decode(into: p.baseAddress! + upper * k)
        }
        // Tiles of at most 10 rows (37 → 4 tiles of 10, 10, 10, 7) and 2,560 values (3 slices of 256 columns);
        // panels of 8 rows below 16 products.
        let tiling = Projection.Tiling(rows: 10, bytes: 10 * 256 * 4, smallPanelBytes: 1024, fewRows: 16)
        #expect(tiling.shape(rows: 33, outputs: upper, k: k, blockSize: type.blockSize) == (10, 256))
        #expect(tiling.shape(rows: 5, outputs: upper, k: k, blockSize: type.blockSize) == (8, 768))
        for rows in [1, 5, 16, 33] {
            for accumulate in [false, true] {
                let inputStride = k + 3, outputStride = upper + lower + 2
                let x = (0..<(rows * inputStride)).map { _ in Float.random(in: -1...1, using: &generator) }
                let start = (0..<(rows * outputStride)).map { _ in Float.random(in: -1...1, using: &generator) }
                var y = start
                x.withUnsafeBufferPointer { xp in
                    y.withUnsafeMutableBufferPointer { yp in
                        Projection.apply(rows: rows, x: xp.baseAddress!, inputStride: inputStride, weight: matrix, accumulate: accumulate,
                                         y: yp.baseAddress!, outputStride: outputStride, tiling: tiling)
                    }
                }
                var worst = 0.0
                for r in 0..<rows {
                    for o in 0..<(upper + lower) {
                        var sum = accumulate ? Double(start[r * outputStride + o]) : 0, scale = abs(sum)
                        for i in 0..<k {
                            sum += Double(w[o * k + i]) * Double(x[r * inputStride + i])
                            scale += abs(Double(w[o * k + i]) * Double(x[r * inputStride + i]))
                        }
                        worst = max(worst, abs(Double(y[r * outputStride + o]) - sum) / max(scale, 1e-30))
                    }
                    // The gaps between output rows are left alone.
                    #expect(y[r * outputStride + upper + lower] == start[r * outputStride + upper + lower])
                }
                #expect(worst <= 1e-6, "\(type) rows \(rows) accumulate \(accumulate): error \(worst) of the sum of |terms|")
            }
        }
    }
}
