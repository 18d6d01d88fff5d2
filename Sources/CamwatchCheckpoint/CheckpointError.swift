public import CamwatchTensor

/// A checkpoint that cannot be loaded: which file, which tensor or attribute, and why.
///
/// `description` is one line, `"<file>: <reason>"`, e.g.
/// `/runs/a/ckpt.h5: truncated HDF5 file (600000 bytes, header says 1051008)`.
public struct CheckpointError: Error, Sendable, Equatable, CustomStringConvertible {
    /// What kind of problem it is, for callers that react differently (a daemon retries `.readerFailed`).
    public enum Kind: Sendable, Hashable, CaseIterable {
        /// No file at the path.
        case missing
        /// The file exists but cannot be read (permissions, a directory, an I/O error).
        case unreadable
        /// The file has 0 bytes (often a writer that has just created it).
        case empty
        /// The file is not HDF5 at all.
        case notHDF5
        /// Shorter than its HDF5 header says: a partial copy or a killed writer.
        case truncated
        /// An HDF5 writer has the file open, or crashed before closing it.
        case incomplete
        /// HDF5, but libhdf5 cannot read its structure or data.
        case damaged
        /// Readable HDF5 without anything camwatch recognizes as weights.
        case unsupported
        /// A tensor holds NaN or infinity (training diverged?).
        case nonFinite
        /// The reader process was killed, crashed, timed out, could not start or replied nonsense: a failure
        /// of camwatch's reader (memory pressure, a busy machine), not a verdict on the file. Worth retrying.
        case readerFailed
    }

    /// Whether loading again may succeed with the file unchanged (`.readerFailed`).
    public var isTransient: Bool { kind == .readerFailed }

    /// What kind of problem it is.
    public var kind: Kind
    /// The checkpoint file.
    public var path: String
    /// The tensor, dataset or attribute concerned, when there is one.
    public var object: String?
    /// What went wrong in camwatch's words, before the cause's; includes the object name when there is one.
    public var context: String
    /// The error of another library (the zip reader, the Keras builder) this one comes from, when there is one.
    /// It is words only once the error has crossed from the reader process (`CheckpointSubprocess`).
    public var cause: ErrorCause?

    /// What went wrong, in words: `context`, then the cause's words.
    public var reason: String { cause?.following(context) ?? context }

    /// Creates an error; `reason` should read well after `"<path>: "`.
    public init(_ kind: Kind, path: String, object: String? = nil, reason: String) {
        self.kind = kind
        self.path = path
        self.object = object
        self.context = reason
    }

    /// Creates an error that comes from `cause`; `context` (may be empty) reads before its words.
    public init(_ kind: Kind, path: String, object: String? = nil, context: String, cause: ErrorCause) {
        self.init(kind, path: path, object: object, reason: context)
        self.cause = cause
    }

    public var description: String {
        "\(path): " + reason.oneLine
    }

    /// Two errors are the same when they are of the same kind and say the same about the same file and object:
    /// a cause is compared by its words, which is all of it that crosses from the reader process.
    public static func == (lhs: Self, rhs: Self) -> Bool {
        lhs.kind == rhs.kind && lhs.path == rhs.path && lhs.object == rhs.object && lhs.reason == rhs.reason
    }
}
