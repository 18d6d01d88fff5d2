import CamwatchTensor

/// A failure to read or write an image: which file and why.
///
/// `description` is one line, `"<file>: <reason>"`, e.g. `/probes/cat.png: not a PNG image (no PNG signature)`.
public struct ImageError: Error, Sendable, Equatable, CustomStringConvertible {
    /// The image file.
    public var path: String
    /// The part of the file concerned (e.g. a PNG chunk), when known.
    public var object: String?
    /// What went wrong, in words.
    public var reason: String

    /// Creates an error; `reason` should read well after `"<path>: "`.
    public init(path: String, object: String? = nil, reason: String) {
        self.path = path
        self.object = object
        self.reason = reason
    }

    public var description: String {
        "\(path): " + reason.oneLine
    }
}
