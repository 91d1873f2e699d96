/// A dense row-major matrix of `Float`, the unit of exchange between modules (activation batches, exemplar
/// tables, weights).
///
/// Row `r` occupies `storage[r * columns ..< (r + 1) * columns]`.
public struct Matrix: Sendable, Equatable {
    /// Number of rows.
    public private(set) var rows: Int
    /// Number of columns (the row length).
    public let columns: Int
    /// The elements, row after row.
    public var storage: [Float]

    /// A `rows`×`columns` matrix filled with `value`.
    public init(rows: Int, columns: Int, repeating value: Float = 0) {
        precondition(rows >= 0 && columns >= 0, "Matrix: negative size")
        self.rows = rows
        self.columns = columns
        self.storage = [Float](repeating: value, count: rows * columns)
    }

    /// A matrix over existing row-major storage; `storage.count` must be `rows * columns`.
    public init(rows: Int, columns: Int, storage: [Float]) {
        precondition(storage.count == rows * columns, "Matrix: storage has \(storage.count) elements, expected \(rows)×\(columns)")
        self.rows = rows
        self.columns = columns
        self.storage = storage
    }

    /// A matrix from an array of equally long rows.
    public init(rowArrays: [[Float]]) {
        let columns = rowArrays.first?.count ?? 0
        precondition(rowArrays.allSatisfy { $0.count == columns }, "Matrix: rows of unequal length")
        self.init(rows: rowArrays.count, columns: columns, storage: rowArrays.flatMap { $0 })
    }

    /// Element at (`row`, `column`).
    @inlinable
    public subscript(row: Int, column: Int) -> Float {
        get { storage[row * columns + column] }
        set { storage[row * columns + column] = newValue }
    }

    /// A copy of one row.
    public func row(_ index: Int) -> [Float] {
        Array(storage[index * columns ..< (index + 1) * columns])
    }

    /// Appends one row; `values.count` must equal `columns`.
    public mutating func appendRow<C: Collection>(_ values: C) where C.Element == Float {
        precondition(values.count == columns, "Matrix.appendRow: \(values.count) values for \(columns) columns")
        storage.append(contentsOf: values)
        rows += 1
    }

    /// Appends all rows of `other`, which must have the same width.
    public mutating func appendRows(of other: Matrix) {
        precondition(other.columns == columns, "Matrix.appendRows: width \(other.columns) into \(columns)")
        storage.append(contentsOf: other.storage)
        rows += other.rows
    }

    /// Keeps only the rows whose indices are listed, in the order given.
    public func selectingRows<S: Sequence>(_ indices: S) -> Matrix where S.Element == Int {
        var result = Matrix(rows: 0, columns: columns)
        for index in indices { result.storage.append(contentsOf: storage[index * columns ..< (index + 1) * columns]) }
        result.rows = result.storage.count / max(columns, 1)
        if columns == 0 { result.rows = Array(indices).count }
        return result
    }

    /// Rows `range` as a new matrix.
    public func rows(_ range: Range<Int>) -> Matrix {
        Matrix(rows: range.count, columns: columns, storage: Array(storage[range.lowerBound * columns ..< range.upperBound * columns]))
    }

    /// Changes the number of rows in place: the first `min(rows, newRows)` rows are kept, added rows are zero, and
    /// the storage keeps its capacity (so a batch buffer can be refilled without reallocating).
    public mutating func resizeRows(to newRows: Int) {
        precondition(newRows >= 0, "Matrix.resizeRows: negative size")
        if newRows < rows {
            storage.removeLast((rows - newRows) * columns)
        } else if newRows > rows {
            storage.append(contentsOf: repeatElement(0, count: (newRows - rows) * columns))
        }
        rows = newRows
    }

    /// Removes all rows, keeping the capacity.
    public mutating func removeAllRows() {
        storage.removeAll(keepingCapacity: true)
        rows = 0
    }
}
