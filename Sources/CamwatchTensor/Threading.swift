internal import CBLAS

/// Process-wide control of the BLAS thread pool.
public enum ComputeThreads {
    /// Sets how many threads OpenBLAS uses for each matrix product.
    ///
    /// The corresponding C function is `openblas_set_num_threads`.
    public static func setBLASThreads(_ count: Int) {
        openblas_set_num_threads(Int32(max(1, count)))
    }

    /// The number of threads OpenBLAS currently uses.
    public static var blasThreads: Int { Int(openblas_get_num_threads()) }
}
