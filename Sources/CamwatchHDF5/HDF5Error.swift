import CamwatchTensor

/// A failure to read or write an HDF5 file: which file, which object, and why.
///
/// `description` is one line, `"<file>: <reason>"`, ready for a log or stderr, e.g.
/// `/x/ckpt.h5: truncated HDF5 file (600000 bytes, header says 1051008)`.
public struct HDF5Error: Error, Sendable, Equatable, CustomStringConvertible {
    /// The file the operation was about.
    public var path: String
    /// The dataset, group or attribute concerned, when there is one (e.g. `layer1/0/conv1/weight`).
    public var object: String?
    /// What went wrong, in words; includes the object name when there is one.
    public var reason: String
    /// The libhdf5 function that failed (e.g. `H5Dread`), when the failure came from the library.
    public var call: String?

    /// Creates an error; `reason` should read well after `"<path>: "`.
    public init(path: String, object: String? = nil, reason: String, call: String? = nil) {
        self.path = path
        self.object = object
        self.reason = reason
        self.call = call
    }

    public var description: String {
        // One line, whatever libhdf5 put into its message.
        let line = reason.oneLine
        return "\(path): \(line)"
    }
}
