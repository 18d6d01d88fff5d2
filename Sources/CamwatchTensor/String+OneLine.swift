extension StringProtocol {
    /// The text on one line: each run of line breaks becomes one space, and breaks at either end are dropped.
    ///
    /// Every error type's `description` is one line, whatever a parser, libhdf5 or the system put into the
    /// reason, so a log line or a `failed` entry never spans lines; this is the one place that fold is written.
    public var oneLine: String {
        split(whereSeparator: \.isNewline).joined(separator: " ")
    }
}
