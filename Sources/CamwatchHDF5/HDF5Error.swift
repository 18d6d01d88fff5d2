public import CamwatchTensor

/// A failure to read or write an HDF5 file: which file, which object, and why.
///
/// `description` is one line, `"<file>: <reason>"`, ready for a log or stderr, e.g.
/// `/x/ckpt.h5: truncated HDF5 file (600000 bytes, header says 1051008)`.
public struct HDF5Error: Error, Sendable, Equatable, CustomStringConvertible {
    /// The file the operation was about.
    public var path: String
    /// The dataset, group or attribute concerned, when there is one (e.g. `layer1/0/conv1/weight`).
    public var object: String?
    /// What went wrong in camwatch's words, before the cause's; includes the object name when there is one.
    public var context: String
    /// The libhdf5 function that failed (e.g. `H5Dread`), when the failure came from the library.
    public var call: String?
    /// The error of another library (Foundation's file handle) this one comes from, when there is one.
    public var cause: ErrorCause?

    /// What went wrong, in words: `context`, then the cause's words.
    public var reason: String { cause?.following(context) ?? context }

    /// Creates an error; `reason` should read well after `"<path>: "`.
    public init(path: String, object: String? = nil, reason: String, call: String? = nil) {
        self.path = path
        self.object = object
        self.context = reason
        self.call = call
    }

    /// Creates an error that comes from `cause`; `context` reads before its words.
    public init(path: String, context: String, cause: ErrorCause) {
        self.init(path: path, reason: context)
        self.cause = cause
    }

    public var description: String {
        // One line, whatever libhdf5 put into its message.
        let line = reason.oneLine
        return "\(path): \(line)"
    }
}
