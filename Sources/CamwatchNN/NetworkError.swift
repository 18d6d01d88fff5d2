public import CamwatchTensor

/// Why a spec, a set of weights or an input does not make a working network.
///
/// The description is one line; callers prefix the file it concerns.
public struct NetworkError: Error, Sendable, CustomStringConvertible, Equatable {
    /// What is wrong in camwatch's words, before the cause's.
    public var context: String
    /// The error of another library (the YAML parser's) this one comes from, when there is one.
    public var cause: ErrorCause?

    public init(_ message: String) { context = message }

    /// An error that comes from `cause`; `context` reads before its words, which are folded to one line.
    public init(_ context: String, cause: ErrorCause) {
        self.context = context
        self.cause = cause
    }

    /// The message: `context`, then the cause's words on the same line.
    public var message: String { cause.map { $0.following(context).oneLine } ?? context }

    public var description: String { message }
}

/// Formats a shape as `[64, 3, 7, 7]`.
func shapeText(_ shape: [Int]) -> String { "[" + shape.map(String.init).joined(separator: ", ") + "]" }
