import Foundation
#if canImport(Accelerate)
import Accelerate
#elseif canImport(COpenBLAS)
import COpenBLAS
#endif

/// Single-precision matrix products through the platform BLAS: OpenBLAS on Linux, Accelerate on Apple platforms.
///
/// All matrices are row-major. The wrappers take `Int` sizes and check them, so callers never deal with `Int32`
/// or CBLAS enums.
public enum BLAS {
    /// Whether an operand is used as stored or transposed.
    public enum Operand: Sendable {
        case asStored
        case transposed
    }

    /// `C = alpha · op(A) · op(B) + beta · C`, where `op(A)` is m×k, `op(B)` is k×n and C is m×n (row-major).
    ///
    /// `lda`, `ldb` and `ldc` are the row strides of the matrices as stored.
    @inlinable
    public static func gemm(
        _ opA: Operand, _ opB: Operand, m: Int, n: Int, k: Int,
        alpha: Float = 1, a: UnsafePointer<Float>, lda: Int,
        b: UnsafePointer<Float>, ldb: Int,
        beta: Float = 0, c: UnsafeMutablePointer<Float>, ldc: Int
    ) {
        precondition(m >= 0 && n >= 0 && k >= 0, "gemm: negative size")
        if m == 0 || n == 0 { return }
        precondition(m <= Int(Int32.max) && n <= Int(Int32.max) && k <= Int(Int32.max), "gemm: size exceeds Int32")
        cblas_sgemm(
            CblasRowMajor, opA == .asStored ? CblasNoTrans : CblasTrans, opB == .asStored ? CblasNoTrans : CblasTrans,
            blasInt(m), blasInt(n), blasInt(k), alpha, a, blasInt(lda), b, blasInt(ldb), beta, c, blasInt(ldc))
    }

    /// `y = alpha · op(A) · x + beta · y` for a row-major A with `rows`×`columns` as stored.
    @inlinable
    public static func gemv(
        _ opA: Operand, rows: Int, columns: Int, alpha: Float = 1, a: UnsafePointer<Float>, lda: Int,
        x: UnsafePointer<Float>, beta: Float = 0, y: UnsafeMutablePointer<Float>
    ) {
        if rows == 0 || columns == 0 { return }
        cblas_sgemv(
            CblasRowMajor, opA == .asStored ? CblasNoTrans : CblasTrans, blasInt(rows), blasInt(columns), alpha, a,
            blasInt(lda), x, 1, beta, y, 1)
    }

    /// `C = alpha · A · Aᵀ + beta · C` on the upper triangle of the n×n matrix C, for a row-major n×k matrix A.
    /// Only the upper triangle (j ≥ i) of C is written.
    @inlinable
    public static func syrkUpper(
        n: Int, k: Int, alpha: Float = 1, a: UnsafePointer<Float>, lda: Int,
        beta: Float = 0, c: UnsafeMutablePointer<Float>, ldc: Int
    ) {
        if n == 0 { return }
        cblas_ssyrk(CblasRowMajor, CblasUpper, CblasNoTrans, blasInt(n), blasInt(k), alpha, a, blasInt(lda), beta, c, blasInt(ldc))
    }

    /// Held by code that sets the BLAS thread count for its own calls and runs them (a model's forward pass,
    /// single-threaded BLAS inside parallel workers): OpenBLAS's thread count is global, and results depend on it in
    /// the last bits, so such sections must not change it under each other. Recursive: a section may call another.
    public static let threadCountLock = NSRecursiveLock()

    /// The number of threads BLAS uses for one call. Setting it affects every later call in the process.
    public static var threadCount: Int {
        get {
            #if canImport(Accelerate)
            return 0
            #else
            return Int(openblas_get_num_threads())
            #endif
        }
        set {
            #if !canImport(Accelerate)
            openblas_set_num_threads(Int32(max(1, newValue)))
            #endif
        }
    }

    /// A short description of the BLAS in use, e.g. `OpenBLAS (Cooperlake kernels)`.
    public static var implementationName: String {
        #if canImport(Accelerate)
        return "Accelerate"
        #else
        if let name = openblas_get_corename() { return "OpenBLAS (\(String(cString: name)) kernels)" }
        return "OpenBLAS"
        #endif
    }

    @usableFromInline
    static func blasInt(_ value: Int) -> Int32 { Int32(truncatingIfNeeded: value) }
}
