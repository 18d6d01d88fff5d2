public import CamwatchTensor

/// A failure to write a published output (a TensorBoard event file, the HTML page): which file and why.
///
/// `description` is one line, `"<file>: <reason>"`.
public struct PublishError: Error, Sendable, Equatable, CustomStringConvertible {
    /// The file or directory concerned.
    public var path: String
    /// What went wrong in camwatch's words, before the cause's.
    public var context: String
    /// The error of another library (the protobuf codec's) this one comes from, when there is one.
    public var cause: ErrorCause?

    /// What went wrong, in words: `context`, then the cause's words.
    public var reason: String { cause?.following(context) ?? context }

    public init(path: String, reason: String) {
        self.path = path
        self.context = reason
    }

    /// Creates an error that comes from `cause`; `context` reads before its words.
    public init(path: String, context: String, cause: ErrorCause) {
        self.init(path: path, reason: context)
        self.cause = cause
    }

    public var description: String {
        "\(path): " + reason.oneLine
    }
}
