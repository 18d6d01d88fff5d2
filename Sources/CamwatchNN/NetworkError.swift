/// Why a spec, a set of weights or an input does not make a working network.
///
/// The description is one line; callers prefix the file it concerns.
public struct NetworkError: Error, Sendable, CustomStringConvertible, Equatable {
    public var message: String

    public init(_ message: String) { self.message = message }

    public var description: String { message }
}

/// Formats a shape as `[64, 3, 7, 7]`.
func shapeText(_ shape: [Int]) -> String { "[" + shape.map(String.init).joined(separator: ", ") + "]" }
