import Foundation

/// Another library's error that is the reason for one of camwatch's (a JSON or YAML decoder's, a zip reader's,
/// a file handle's, a protobuf codec's): kept as the value it was thrown as, for callers that look at it, and
/// put into words only where the owning error builds its one-line `description`.
public struct ErrorCause: Sendable, Equatable, CustomStringConvertible {
    /// How the error is put into words.
    public enum Wording: Sendable, Equatable {
        /// `String(describing:)`: what a Swift error prints (a parser's message with its position).
        case described
        /// Foundation's `localizedDescription`, which reads best for a file handle's or file manager's error.
        case localized
    }

    /// Where the words go after the owning error's own reason.
    public enum Placement: Sendable, Equatable {
        /// `reason: cause`.
        case afterColon
        /// `reason (cause)`.
        case inParentheses
    }

    /// The error as it was thrown.
    public let error: any Error
    public let wording: Wording
    public let placement: Placement

    public init(_ error: any Error, wording: Wording = .described, placement: Placement = .afterColon) {
        self.error = error
        self.wording = wording
        self.placement = placement
    }

    public var description: String {
        switch wording {
        case .described: "\(error)"
        case .localized: error.localizedDescription
        }
    }

    /// `reason` and then this cause, as `placement` says; the cause alone when `reason` is empty.
    public func following(_ reason: String) -> String {
        guard !reason.isEmpty else { return description }
        return switch placement {
        case .afterColon: "\(reason): \(description)"
        case .inParentheses: "\(reason) (\(description))"
        }
    }

    /// Two causes are the same when they are errors of the same type, worded and placed alike, that say the same.
    public static func == (lhs: Self, rhs: Self) -> Bool {
        type(of: lhs.error) == type(of: rhs.error) && lhs.wording == rhs.wording && lhs.placement == rhs.placement
            && lhs.description == rhs.description
    }
}
