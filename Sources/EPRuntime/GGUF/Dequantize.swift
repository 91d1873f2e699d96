import EPFormats
import EPTensors

extension GGMLType {
    /// The types ``Dequantize`` decodes, in the order error messages list them.
    public static let dequantizable: [GGMLType] = [.f32, .f16, .bf16, .q8_0, .q4_0, .q4_1, .q5_0, .q5_1, .q4_K, .q5_K, .q6_K]

    /// Whether ``Dequantize`` decodes this type.
    public var isDequantizable: Bool { Self.dequantizable.contains(self) }
}

/// Decoding of GGML tensor data (plain and block-quantized) into `Float`.
public enum Dequantize {
    /// Decodes `count` elements of `type` from `source` (any alignment) into `destination`.
    ///
    /// `count` must be a multiple of the type's block size and `source` must hold `count / blockSize · blockBytes`
    /// bytes; `type` must be one of ``GGMLType/dequantizable`` (``GGUFFile/dequantize(_:into:)`` checks all
    /// three and throws).
    public static func decode(_ type: GGMLType, from source: UnsafeRawPointer, count: Int, into destination: UnsafeMutablePointer<Float>) {
        precondition(count % type.blockSize == 0, "Dequantize: \(count) elements is not a multiple of the \(type) block size")
        let blocks = count / type.blockSize
        switch type {
        case .f32: UnsafeMutableRawPointer(destination).copyMemory(from: source, byteCount: 4 * count)
        case .f16: HalfPrecision.convertHalf(source, count: count, into: destination)
        case .bf16: HalfPrecision.convertBFloat16(source, count: count, into: destination)
        case .q8_0: BlockDecoders.q8_0(source, blocks: blocks, destination)
        case .q4_0: BlockDecoders.q4_0(source, blocks: blocks, destination)
        case .q4_1: BlockDecoders.q4_1(source, blocks: blocks, destination)
        case .q5_0: BlockDecoders.q5_0(source, blocks: blocks, destination)
        case .q5_1: BlockDecoders.q5_1(source, blocks: blocks, destination)
        case .q4_K: BlockDecoders.q4_K(source, blocks: blocks, destination)
        case .q5_K: BlockDecoders.q5_K(source, blocks: blocks, destination)
        case .q6_K: BlockDecoders.q6_K(source, blocks: blocks, destination)
        case .q8_1, .q2_K, .q3_K, .q8_K: preconditionFailure("Dequantize: \(type) is not decodable")
        }
    }
}

extension GGUFFile {
    /// Throws unless this runtime can decode `tensor`'s type; the message lists the types it can.
    public func checkDecodable(_ tensor: GGUFTensorInfo) throws {
        guard tensor.type.isDequantizable else {
            let supported = GGMLType.dequantizable.map(\.description).joined(separator: ", ")
            throw FileFormatError(path, "tensor '\(tensor.name)' has type \(tensor.type), which this runtime cannot decode (supported: \(supported))")
        }
    }

    /// Decodes rows `rows` of `tensor` (rows of ``GGUFTensorInfo/rowLength`` elements) into `destination`.
    public func dequantize(_ tensor: GGUFTensorInfo, rows: Range<Int>, into destination: UnsafeMutablePointer<Float>) throws {
        try checkDecodable(tensor)
        guard rows.lowerBound >= 0, rows.upperBound <= tensor.rowCount else {
            throw FileFormatError(path, "tensor '\(tensor.name)': rows \(rows) out of range 0..<\(tensor.rowCount)")
        }
        let rowBytes = tensor.rowLength / tensor.type.blockSize * tensor.type.blockBytes
        Dequantize.decode(
            tensor.type, from: file.bytes + tensor.offset + rows.lowerBound * rowBytes, count: rows.count * tensor.rowLength,
            into: destination)
    }

    /// Decodes all of `tensor` into `destination`, which must have room for ``GGUFTensorInfo/elementCount`` floats.
    public func dequantize(_ tensor: GGUFTensorInfo, into destination: UnsafeMutablePointer<Float>) throws {
        try dequantize(tensor, rows: 0..<tensor.rowCount, into: destination)
    }

    /// All of `tensor`, decoded into a new array.
    public func floats(_ tensor: GGUFTensorInfo) throws -> [Float] {
        try checkDecodable(tensor)
        return try [Float](unsafeUninitializedCapacity: tensor.elementCount) { buffer, count in
            try dequantize(tensor, into: buffer.baseAddress!)
            count = tensor.elementCount
        }
    }
}
