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

    /// Makes glibc serve allocations up to 32 MiB from its heap and keep freed memory there.
    ///
    /// A forward pass frees and allocates activations of a few to a few tens of MB at every layer. By
    /// default glibc maps each from fresh pages, which the kernel zeroes on first touch: a third of
    /// Score-CAM's run time in measurements. Call once at start-up, before other threads run. The
    /// corresponding C function is `mallopt`.
    public static func keepLargeBuffersInHeap() {
        #if canImport(Glibc)
            _ = mallopt(M_MMAP_THRESHOLD, 32 << 20)
            _ = mallopt(M_TRIM_THRESHOLD, 1 << 30)
        #endif
    }
}
