import CamwatchTensor

/// A failure to draw or write a chart: which file, and why.
///
/// `description` is one line, `"<file>: <reason>"` (or just the reason when no file is concerned), e.g.
/// `/srv/out/timeline.png: cannot create file: Permission denied`.
public struct ChartError: Error, Sendable, Equatable, CustomStringConvertible {
    /// The picture file, when the failure concerns one.
    public var path: String?
    /// What went wrong, in words (e.g. the cairo call and its status).
    public var reason: String

    /// Creates an error; `reason` should read well after `"<path>: "`.
    public init(path: String? = nil, reason: String) {
        self.path = path
        self.reason = reason
    }

    public var description: String {
        let line = reason.oneLine
        return path.map { "\($0): \(line)" } ?? line
    }
}
