internal import CHDF5
import Synchronization

/// The one lock around libhdf5: every call into the library runs inside `HDF5Library.serialized`.
///
/// Debian's libhdf5 is built thread-safe, but thread safety is a build option of HDF5 and camwatch must not
/// depend on it; Swift Testing and the daemon call in from many threads. This `Mutex` is the project's one
/// documented exception to "no shared mutable state": it guards state that lives inside the C library.
enum HDF5Library {
    private static let mutex = Mutex<Void>(())

    /// Whether libhdf5 was confined to the files it is asked to open (`chdf5_confine_to_file`): no filter
    /// plugins loaded from disk, no external links traversed. Set up once, on the first call into the library;
    /// a checkpoint could otherwise make libhdf5 read any file the service user can read, or load code.
    /// Read it only inside `serialized`; files must not be opened for reading when it is false.
    static let confined: Bool = chdf5_confine_to_file() >= 0

    /// Keeps libhdf5 from registering its exit handler; must come before any other call into the library.
    ///
    /// At exit libhdf5 closes every identifier still open, and after a failed `H5Fclose` (a write that
    /// failed: a full disk) libhdf5 1.10 keeps the file registered with freed internals, so that handler
    /// crashed the process on its way out (exit status 139). camwatch closes every file it opens and writes
    /// its outputs from memory, so there is nothing left for the handler to do.
    private static let exitHandlerOff: Void = { _ = H5dont_atexit() }()

    /// Runs `body` with exclusive access to libhdf5 and its automatic error printing switched off.
    ///
    /// Not reentrant: code running inside `body` must not call `serialized` again.
    static func serialized<R, E: Error>(_ body: () throws(E) -> R) throws(E) -> R {
        try mutex.withLock { _ throws(E) -> R in
            _ = exitHandlerOff
            // The error-printing setting is per thread in a thread-safe build, so set it on every entry.
            _ = chdf5_silence_errors()
            _ = confined
            return try body()
        }
    }
}
