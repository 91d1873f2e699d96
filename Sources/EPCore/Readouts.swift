import EPTensors

/// The unit directions a readout projects on and decodes with (docs/use.md).
public enum DirectionBasis: String, Sendable, CaseIterable {
    /// Each region's exemplar: the founding activation's centered unit direction (a fixed point of top-1 decoding).
    case exemplar
    /// Each region's unit mean member direction.
    case mean
}

/// How an activation becomes a code over the K regions (the reference's SAE adapter, docs/use.md). With
/// `x_c = x − c`, `P = x_c·Bᵀ` and `P̂ = P / max(‖x_c‖, 1e-12)` for the basis rows B:
public enum Readout: String, Sendable, CaseIterable {
    /// The k largest entries of P, ReLU'd; zero elsewhere (SAE-style sparse code).
    case topk
    /// P itself (dense, signed linear readout).
    case signed
    /// P̂ (dense, in [−1, 1]).
    case cosine
    /// P̂ as well: the reference computes it identically to `cosine` (docs/use.md).
    case signedNorm = "signed_norm"
    /// The k largest entries of P̂, ReLU'd.
    case topkNorm = "topk_norm"
    /// 1 at the argmax of P̂, 0 elsewhere (one-hot region code; k must be 1).
    case binary

    /// Whether the code keeps k entries per row (stored sparse) rather than all K.
    public var isSparse: Bool { self == .topk || self == .topkNorm || self == .binary }
}

/// Codes of N activations over K regions: dense (`N × K`) or sparse (k region indices and values per row).
public struct ReadoutCodes: Sendable, Equatable {
    /// Rows N and regions K.
    public var rows: Int
    public var regions: Int
    /// Dense codes, for dense readouts.
    public var dense: Matrix?
    /// Sparse codes: for row r, entries `k·r ..< k·(r+1)` of `indices` (region ids, largest value first) and `values`.
    public var k: Int
    public var indices: [Int32]
    public var values: [Float]

    /// Dense codes.
    public init(dense: Matrix) {
        rows = dense.rows
        regions = dense.columns
        self.dense = dense
        k = 0
        indices = []
        values = []
    }

    /// Sparse codes of `rows` rows with `k` entries each over `regions` regions.
    public init(rows: Int, regions: Int, k: Int, indices: [Int32], values: [Float]) {
        precondition(indices.count == rows * k && values.count == rows * k, "ReadoutCodes: \(indices.count) entries for \(rows) rows of \(k)")
        self.rows = rows
        self.regions = regions
        dense = nil
        self.k = k
        self.indices = indices
        self.values = values
    }
}

/// A dictionary seen as an SAE-style encoder/decoder (docs/use.md): `W_dec` = the basis rows, `W_enc = W_decᵀ`,
/// `b_dec` = the center. `decode(f) = f·W_dec + c`. With the exemplar basis and the top-1 readout, any
/// `x = c + s·e_j` with s > 0 is a fixed point of encode∘decode.
public struct RegionReadout: Sendable {
    /// The center c.
    public let center: [Float]
    /// The basis rows (K × D), unit vectors.
    public let basis: Matrix
    /// The readout and its k (1 for dense readouts and binary).
    public let readout: Readout
    public let k: Int

    /// The readout of `dictionary` over `basis` directions; k must be ≥ 1 for the top-k readouts and 1 for binary.
    public init(_ dictionary: ExemplarDictionary, basis: DirectionBasis, readout: Readout, k: Int = 1) throws {
        guard dictionary.regionCount > 0 else { throw EPError.invalidSetting(name: "dictionary", value: "empty", expected: "at least one region") }
        switch readout {
        case .topk, .topkNorm:
            guard k >= 1 else { throw EPError.invalidSetting(name: "k", value: String(k), expected: "at least 1 for \(readout.rawValue)") }
        case .binary:
            guard k == 1 else { throw EPError.invalidSetting(name: "k", value: String(k), expected: "1 for the binary readout") }
        case .signed, .cosine, .signedNorm:
            break
        }
        let r = dictionary.regions
        center = dictionary.center
        self.basis = Matrix(rows: r.count, columns: r.width, storage: basis == .exemplar ? r.exemplarDirections : r.meanMemberDirections)
        self.readout = readout
        self.k = readout.isSparse ? min(k, r.count) : 1
    }

    /// Region count K and width D.
    public var regionCount: Int { basis.rows }
    public var width: Int { basis.columns }

    /// The codes of the rows of `x` (N × D).
    public func encode(_ x: Matrix) throws -> ReadoutCodes {
        guard x.columns == width else { throw EPError.widthMismatch(expected: width, found: x.columns) }
        let n = x.rows, d = width, kk = regionCount
        var dense = [Float](repeating: 0, count: readout.isSparse ? 0 : n * kk)
        var indices = [Int32](), values = [Float]()
        if readout.isSparse {
            indices.reserveCapacity(n * k)
            values.reserveCapacity(n * k)
        }
        let block = max(1, min(n, (1 << 22) / max(kk, 1)))
        var centered = [Float](repeating: 0, count: block * d)
        var projection = [Float](repeating: 0, count: block * kk)
        var norms = [Float](repeating: 0, count: block)
        for first in stride(from: 0, to: n, by: block) {
            let m = min(block, n - first)
            x.storage.withUnsafeBufferPointer { xs in
                center.withUnsafeBufferPointer { c in
                    centered.withUnsafeMutableBufferPointer { out in
                        for i in 0..<m {
                            Kernels.subtract(xs.baseAddress! + (first + i) * d, c.baseAddress!, into: out.baseAddress! + i * d, count: d)
                            norms[i] = max(Kernels.sumOfSquares(out.baseAddress! + i * d, count: d).squareRoot(), 1e-12)
                        }
                    }
                }
            }
            basis.storage.withUnsafeBufferPointer { b in
                centered.withUnsafeBufferPointer { a in
                    projection.withUnsafeMutableBufferPointer { p in
                        BLAS.gemm(.asStored, .transposed, m: m, n: kk, k: d, a: a.baseAddress!, lda: d, b: b.baseAddress!, ldb: d, c: p.baseAddress!, ldc: kk)
                    }
                }
            }
            let normalised = readout == .cosine || readout == .signedNorm || readout == .topkNorm || readout == .binary
            if normalised {
                for i in 0..<m {
                    let scale = 1 / norms[i]
                    for j in 0..<kk { projection[i * kk + j] *= scale }
                }
            }
            if !readout.isSparse {
                dense.replaceSubrange((first * kk)..<((first + m) * kk), with: projection[0..<(m * kk)])
                continue
            }
            for i in 0..<m {
                let top = Self.largest(projection, from: i * kk, count: kk, k: k)
                for (j, v) in top {
                    indices.append(Int32(j))
                    values.append(readout == .binary ? 1 : max(v, 0))
                }
            }
        }
        if !readout.isSparse { return ReadoutCodes(dense: Matrix(rows: n, columns: kk, storage: dense)) }
        return ReadoutCodes(rows: n, regions: kk, k: k, indices: indices, values: values)
    }

    /// `f·W_dec + c` for every row of `codes`.
    public func decode(_ codes: ReadoutCodes) throws -> Matrix {
        guard codes.regions == regionCount else {
            throw EPError.invalidSetting(name: "codes", value: "\(codes.regions) regions", expected: "the dictionary's \(regionCount)")
        }
        let d = width
        var out = Matrix(rows: codes.rows, columns: d)
        if let dense = codes.dense {
            dense.storage.withUnsafeBufferPointer { f in
                basis.storage.withUnsafeBufferPointer { b in
                    out.storage.withUnsafeMutableBufferPointer { o in
                        BLAS.gemm(.asStored, .asStored, m: codes.rows, n: d, k: regionCount, a: f.baseAddress!, lda: regionCount, b: b.baseAddress!, ldb: d, c: o.baseAddress!, ldc: d)
                    }
                }
            }
        } else {
            for (t, j) in codes.indices.enumerated() where j >= 0 {
                guard Int(j) < regionCount else {
                    throw EPError.invalidSetting(name: "codes", value: "region \(j)", expected: "ids below \(regionCount)")
                }
                let r = t / codes.k, v = codes.values[t]
                for c in 0..<d { out.storage[r * d + c] += v * basis.storage[Int(j) * d + c] }
            }
        }
        for r in 0..<codes.rows {
            for c in 0..<d { out.storage[r * d + c] += center[c] }
        }
        return out
    }

    /// The `k` largest of `values[start ..< start + count]` as (offset, value), largest first, ties by offset.
    static func largest(_ values: [Float], from start: Int, count: Int, k: Int) -> [(Int, Float)] {
        var best: [(Int, Float)] = []
        best.reserveCapacity(k + 1)
        for j in 0..<count {
            let v = values[start + j]
            if best.count == k {
                guard v > best[k - 1].1 else { continue }
                best.removeLast()
            }
            var i = best.count
            while i > 0 && best[i - 1].1 < v { i -= 1 }
            best.insert((j, v), at: i)
        }
        return best
    }
}
