import CamwatchTensor

/// A failure to write a published output (a TensorBoard event file, the HTML page): which file and why.
///
/// `description` is one line, `"<file>: <reason>"`.
public struct PublishError: Error, Sendable, Equatable, CustomStringConvertible {
    /// The file or directory concerned.
    public var path: String
    /// What went wrong, in words.
    public var reason: String

    public init(path: String, reason: String) {
        self.path = path
        self.reason = reason
    }

    public var description: String {
        "\(path): " + reason.oneLine
    }
}
