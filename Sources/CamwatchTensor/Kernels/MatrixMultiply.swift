internal import CBLAS

/// Matrix products on row-major float buffers, through OpenBLAS.
package enum MatrixMultiply {
    /// `c[m×n] = a[m×k] · b[k×n] + beta · c` with optional transposes of `a` or `b` as stored.
    ///
    /// The corresponding C function is `cblas_sgemm`.
    @inline(__always)
    package static func gemm(
        m: Int, n: Int, k: Int,
        a: UnsafePointer<Float>, lda: Int, transposeA: Bool = false,
        b: UnsafePointer<Float>, ldb: Int, transposeB: Bool = false,
        c: UnsafeMutablePointer<Float>, ldc: Int, beta: Float = 0
    ) {
        cblas_sgemm(
            CblasRowMajor, transposeA ? CblasTrans : CblasNoTrans, transposeB ? CblasTrans : CblasNoTrans,
            Int32(m), Int32(n), Int32(k), 1, a, Int32(lda), b, Int32(ldb), beta, c, Int32(ldc))
    }
}
