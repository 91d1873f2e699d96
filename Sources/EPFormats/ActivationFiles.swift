import EPTensors

/// One file of activations: a 2-D array `rows × width` in a `.npy` file (float32 or float16, C order) or one named
/// tensor of a `.safetensors` file (F32, F16 or BF16). Rows are read on demand with positioned reads; the file is
/// never loaded whole.
public final class ActivationFile: @unchecked Sendable {
    /// Element encodings an activation file may use.
    public enum Encoding: String, Sendable {
        case float32, float16, bfloat16

        var size: Int { self == .float32 ? 4 : 2 }
    }

    /// The file's path.
    public let path: String
    /// The tensor read (safetensors only).
    public let tensor: String?
    /// Number of rows.
    public let rows: Int
    /// Values per row.
    public let width: Int
    /// How values are stored.
    public let encoding: Encoding
    private let file: ReadOnlyFile
    private let dataOffset: Int

    /// The `.npy` dtypes activations are read from.
    static let acceptedNPY = "float32 '<f4', float16 '<f2'"

    /// Opens `path` by its extension (`.npy` or `.safetensors`). For safetensors, `tensor` names the tensor to
    /// read; without it the file must hold exactly one 2-D tensor. Every problem is a ``FileFormatError`` naming
    /// the file.
    public init(path: String, tensor: String? = nil) throws {
        self.path = path
        let lower = path.lowercased()
        if lower.hasSuffix(".npy") {
            file = try ReadOnlyFile(path: path)
            let header = try NPY.readHeader(file, accepted: Self.acceptedNPY)
            guard header.shape.count == 2 else {
                throw FileFormatError(path, "expected a 2-D array (rows, width), found shape \(NPY.shapeText(header.shape))")
            }
            guard !header.fortranOrder else {
                throw FileFormatError(path, "the array is in Fortran order; save it in C order (np.ascontiguousarray)")
            }
            switch header.elementType {
            case .float32: encoding = .float32
            case .float16: encoding = .float16
            default:
                throw FileFormatError(path, "unsupported dtype '\(header.elementType.rawValue)' for activations (supported: \(Self.acceptedNPY))")
            }
            self.tensor = nil
            rows = header.shape[0]
            width = header.shape[1]
            dataOffset = header.dataOffset
        } else if lower.hasSuffix(".safetensors") {
            let st = try SafetensorsFile(path: path)
            file = st.file
            let describe = { (info: SafetensorsTensorInfo) in "\(info.name) \(info.dtype.rawValue) \(info.shape)" }
            let info: SafetensorsTensorInfo
            if let tensor {
                info = try st.info(tensor)
                guard info.shape.count == 2 else {
                    throw FileFormatError(path, "tensor '\(tensor)' has shape \(info.shape), expected 2-D (rows, width)")
                }
            } else {
                let candidates = st.tensorNames.compactMap { st.tensors[$0] }.filter { $0.shape.count == 2 }
                guard let only = candidates.first else {
                    throw FileFormatError(path, "no 2-D tensor to read as activations (tensors: \(st.tensorNames.compactMap { st.tensors[$0] }.map(describe).joined(separator: ", ")))")
                }
                guard candidates.count == 1 else {
                    throw FileFormatError(path, "several 2-D tensors (\(candidates.map(describe).joined(separator: ", "))); choose one with --tensor NAME")
                }
                info = only
            }
            switch info.dtype {
            case .float32: encoding = .float32
            case .float16: encoding = .float16
            case .bfloat16: encoding = .bfloat16
            default:
                throw FileFormatError(path, "tensor '\(info.name)' has dtype \(info.dtype.rawValue); activations must be F32, F16 or BF16")
            }
            self.tensor = info.name
            rows = info.shape[0]
            width = info.shape[1]
            dataOffset = info.byteRange.lowerBound
        } else {
            throw FileFormatError(path, "unknown activation file type: expected a .npy or .safetensors file")
        }
        guard width > 0 || rows == 0 else { throw FileFormatError(path, "rows have width 0") }
    }

    /// Reads rows `range` as `Float` into `destination` (`range.count × width` values). `scratch` is reused for
    /// 16-bit encodings.
    public func read(rows range: Range<Int>, into destination: UnsafeMutablePointer<Float>, scratch: inout [UInt8]) throws {
        precondition(range.lowerBound >= 0 && range.upperBound <= rows, "ActivationFile.read: rows \(range) outside 0..<\(rows)")
        let count = range.count * width
        let offset = dataOffset + range.lowerBound * width * encoding.size
        switch encoding {
        case .float32:
            try file.read(into: destination, count: count * 4, at: offset)
        case .float16, .bfloat16:
            if scratch.count < count * 2 { scratch = [UInt8](repeating: 0, count: count * 2) }
            try scratch.withUnsafeMutableBytes { raw in
                try file.read(into: raw.baseAddress!, count: count * 2, at: offset)
                if encoding == .float16 {
                    HalfPrecision.convertHalf(raw.baseAddress!, count: count, into: destination)
                } else {
                    HalfPrecision.convertBFloat16(raw.baseAddress!, count: count, into: destination)
                }
            }
        }
    }
}

/// Several activation files read as one stream of rows, in order, in batches (a batch may span files).
///
/// Every file must have the same width. A row holding NaN or an infinity stops the stream with an error naming the
/// file and the row's index in it (counted from 0): such rows are rejected, never skipped.
public final class ActivationStream {
    /// The files, in order.
    public let files: [ActivationFile]
    /// Values per row.
    public let width: Int
    /// Rows in all files.
    public let totalRows: Int
    /// Rows delivered so far.
    public private(set) var position = 0
    private var scratch: [UInt8] = []

    /// Opens `paths` in order (with `tensor` for safetensors files) and checks their widths agree.
    public init(paths: [String], tensor: String? = nil) throws {
        guard !paths.isEmpty else { throw FileFormatError("(no files)", "no activation files given") }
        var files: [ActivationFile] = []
        for path in paths {
            let file = try ActivationFile(path: path, tensor: tensor)
            if let head = files.first, file.width != head.width {
                throw FileFormatError(path, "rows have width \(file.width), but \(head.path) has width \(head.width); all activation files must have the same width")
            }
            files.append(file)
        }
        self.files = files
        width = files.first?.width ?? 0
        totalRows = files.reduce(0) { $0 + $1.rows }
    }

    /// The paths, for messages.
    public var pathList: String { files.map(\.path).joined(separator: ", ") }

    /// The file holding stream row `row`, and the row's index in that file.
    public func location(ofRow row: Int) -> (file: ActivationFile, row: Int) {
        var start = 0
        for file in files {
            if row < start + file.rows { return (file, row - start) }
            start += file.rows
        }
        return (files.last!, row - start + files.last!.rows)
    }

    /// Fills `batch` with the next rows (at most `maxRows`, fewer at the end of the stream) and returns whether any
    /// were read. The matrix's storage is reused when it has the right width.
    public func next(into batch: inout Matrix, maxRows: Int) throws -> Bool {
        precondition(maxRows > 0, "ActivationStream.next: maxRows must be positive")
        let n = min(maxRows, totalRows - position)
        guard n > 0 else { return false }
        if batch.columns != width { batch = Matrix(rows: n, columns: width) } else { batch.resizeRows(to: n) }
        try batch.storage.withUnsafeMutableBufferPointer { out in
            var filled = 0
            while filled < n {
                let (file, row) = location(ofRow: position + filled)
                let take = min(n - filled, file.rows - row)
                let destination = out.baseAddress! + filled * width
                try file.read(rows: row..<(row + take), into: destination, scratch: &scratch)
                for r in 0..<take where !Kernels.allFinite(destination + r * width, count: width) {
                    throw FileFormatError(file.path, "row \(row + r) contains NaN or an infinity; activations must be finite (rows count from 0)")
                }
                filled += take
            }
        }
        position += n
        return true
    }

    /// Starts again from the first row.
    public func rewind() {
        position = 0
    }
}
