import CamwatchTensor

/// A failure of the checkpoint watcher: which path, what went wrong, and the system call that failed.
///
/// `description` is one line, `"<path>: <reason> (<call>)"`, e.g.
/// `/runs/7/ckpt: cannot list the checkpoint directory: No such file or directory (opendir)`.
public struct WatcherError: Error, Sendable, Equatable, CustomStringConvertible {
    /// What kind of problem it is, for callers that react differently (retry, drop, stop).
    public enum Kind: Sendable, Hashable, CaseIterable {
        /// The watched directory is missing, not a directory, or cannot be listed.
        case directoryUnavailable
        /// The checkpoint disappeared before or while it was copied (the trainer deleted or renamed it).
        case fileVanished
        /// The trainer's file changed while it was copied; the copy was discarded, retry on a later scan.
        case changedDuringCopy
        /// The private copy does not pass the HDF5 header gate although the source looked complete.
        case incompleteCopy
        /// The private copy could not be written (staging directory missing, read-only, disk full); not the
        /// checkpoint's fault, so it does not count against the file.
        case stagingFailed
        /// The checkpoint may not be read (permissions); retried once its mode changes, never counted against it.
        case permissionDenied
        /// Any other failed system call (permissions, disk full, I/O error).
        case io
    }

    /// What kind of problem it is.
    public var kind: Kind
    /// The file or directory concerned.
    public var path: String
    /// What went wrong, in words.
    public var reason: String
    /// The C function that failed (e.g. `opendir`, `read`), when the failure came from one.
    public var call: String?

    /// Creates an error; `reason` should read well after `"<path>: "`.
    public init(_ kind: Kind, path: String, reason: String, call: String? = nil) {
        self.kind = kind
        self.path = path
        self.reason = reason
        self.call = call
    }

    public var description: String {
        let line = reason.oneLine
        return call.map { "\(path): \(line) (\($0))" } ?? "\(path): \(line)"
    }
}
