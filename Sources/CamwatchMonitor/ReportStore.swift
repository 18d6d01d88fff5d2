/// `report.json` in an output directory: loaded on start so a restart resumes, saved atomically.
///
/// Saving writes the whole report to a temporary file in the same directory, `fsync`s it, renames it
/// over `report.json` and `fsync`s the directory: a crash leaves the previous report or the new one,
/// never a truncated file. The store never drops a report it cannot read: `read(directory:)` fails
/// with the reason, and `open(directory:fresh:now:)` moves the unreadable file aside as
/// `report.json.corrupt-<UTC time>` before starting over, and says so in `recovery`.
public struct ReportStore: Sendable {
    /// The report's file name in the output directory.
    public static let fileName = "report.json"

    /// The output directory.
    public let directory: String
    /// The report as it will be saved.
    public var report: Report
    /// Set when `open` found an unreadable report and moved it aside; the daemon logs it as an error.
    public private(set) var recovery: CorruptFileRecovery?
    /// The entries' JSON from the last save, shared by copies of this store (they save the same file).
    private let entryCache = ReportEntryCache()

    /// The report file's path.
    public var path: String { Self.path(in: directory) }

    /// A store for `report` in `directory`, without reading anything.
    public init(directory: String, report: Report) {
        self.directory = directory
        self.report = report
    }

    /// The path of `report.json` in `directory`.
    public static func path(in directory: String) -> String {
        (directory.hasSuffix("/") ? directory : directory + "/") + fileName
    }

    /// Reads the report in `directory`, changing nothing on disk (what `camwatch report` uses).
    /// - Returns: the report, or `nil` when there is no `report.json`.
    /// - Throws: `MonitorError`: `.corrupt` with the reason, `.unsupportedVersion`, or `.io`.
    public static func read(directory: String) throws(MonitorError) -> Report? {
        let path = path(in: directory)
        guard let bytes = try AtomicFile.readIfPresent(path) else { return nil }
        guard !bytes.isEmpty else { throw MonitorError(.corrupt, path: path, reason: "empty file (0 bytes)") }
        return try Report.decode(bytes, path: path)
    }

    /// Opens the store for a watcher: resumes the existing report, or starts `fresh`.
    ///
    /// A corrupt report is moved aside (see the type's documentation) and `fresh` is used; `recovery`
    /// tells what happened. A report from a newer camwatch, or one that cannot be read for an I/O
    /// reason, is left where it is and the error thrown: overwriting it would lose data.
    /// - Parameters:
    ///   - fresh: the report of a new run (model, probes, convergence settings); used only when there is
    ///     no readable report. A resumed report keeps its own model, probes and convergence settings;
    ///     whether they still match the configuration is the caller's decision.
    ///   - now: Unix seconds, for the name of a set-aside file.
    /// - Throws: `MonitorError`.
    public static func open(directory: String, fresh: Report, now: Double) throws(MonitorError) -> ReportStore {
        do throws(MonitorError) {
            guard let existing = try read(directory: directory) else {
                return ReportStore(directory: directory, report: fresh)
            }
            return ReportStore(directory: directory, report: existing)
        } catch  where error.kind == .corrupt {
            let moved = try AtomicFile.setAside(path(in: directory), now: now)
            var store = ReportStore(directory: directory, report: fresh)
            store.recovery = CorruptFileRecovery(error: error, setAsidePath: moved)
            return store
        }
    }

    /// Adds an entry, or replaces the one with the same id; see `Report.record(_:)`.
    public mutating func record(_ entry: Report.CheckpointEntry) {
        report.record(entry)
    }

    /// Writes the report atomically.
    /// - Throws: `MonitorError` (`.io`) naming the failing call; the previous file is then untouched.
    public func save() throws(MonitorError) {
        try AtomicFile.replace(path, with: try report.jsonBytes(reusing: entryCache))
    }
}
