public import CamwatchTensor

/// A failure in drift, convergence or output handling: which file, and why.
///
/// `description` is one line, `"<file>: <reason>"` (or just the reason when no file is concerned), e.g.
/// `/srv/out/report.json: not valid JSON (unexpected end of file)`.
public struct MonitorError: Error, Sendable, Equatable, CustomStringConvertible {
    /// What kind of problem it is, for callers that react differently (e.g. set a corrupt file aside).
    public enum Kind: Sendable, Hashable, CaseIterable {
        /// The file does not exist.
        case missing
        /// The file exists but its content cannot be understood (bad JSON, damaged HDF5, wrong layout).
        case corrupt
        /// The file was written by a newer camwatch whose schema this one does not know.
        case unsupportedVersion
        /// A system call failed (permissions, disk full, I/O error).
        case io
        /// Inputs that must agree do not (heatmaps of different sizes, non-finite values).
        case mismatch
    }

    /// What kind of problem it is.
    public var kind: Kind
    /// The file concerned, when there is one.
    public var path: String?
    /// What went wrong in camwatch's words, before the cause's.
    public var context: String
    /// The error of another library (a JSON or YAML decoder's) this one comes from, when there is one.
    public var cause: ErrorCause?

    /// What went wrong, in words: `context`, then the cause's words.
    public var reason: String { cause?.following(context) ?? context }

    /// Creates an error; `reason` should read well after `"<path>: "`.
    public init(_ kind: Kind, path: String? = nil, reason: String) {
        self.kind = kind
        self.path = path
        self.context = reason
    }

    /// Creates an error that comes from `cause`; `context` (may be empty) reads before its words.
    public init(_ kind: Kind, path: String? = nil, context: String, cause: ErrorCause) {
        self.init(kind, path: path, reason: context)
        self.cause = cause
    }

    public var description: String {
        // One line, whatever a decoder or the C library put into the reason.
        let line = reason.oneLine
        return path.map { "\($0): \(line)" } ?? line
    }
}

/// What was done about an output file that could not be read when a watcher started: it was moved
/// aside, byte for byte, and the watcher started that output afresh.
public struct CorruptFileRecovery: Sendable, Equatable {
    /// Why the file could not be read.
    public var error: MonitorError
    /// Where the unreadable file now is (`<name>.corrupt-<UTC time>`).
    public var setAsidePath: String

    public init(error: MonitorError, setAsidePath: String) {
        self.error = error
        self.setAsidePath = setAsidePath
    }
}
