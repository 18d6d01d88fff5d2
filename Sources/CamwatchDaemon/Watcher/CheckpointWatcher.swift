import CamwatchHDF5
import CamwatchMonitor
import CamwatchTensor

/// What a scan decided about one checkpoint file. Each identity is reported at most once.
public enum CheckpointEvent: Sendable, Equatable {
    /// Unchanged for the settle interval and the HDF5 header says closed and complete: snapshot it and process
    /// the copy.
    case ready(CheckpointFile)
    /// Unchanged for the incomplete-after interval while the HDF5 header still says open for writing, truncated
    /// or empty: the writer probably died. A later change to the file makes it a new candidate.
    case incomplete(CheckpointFile, reason: String)
    /// Unchanged for the settle interval but not an HDF5 file at all (no signature, damaged header).
    case notCheckpoint(CheckpointFile, reason: String)

    /// The file the event is about.
    public var file: CheckpointFile {
        switch self {
        case .ready(let file), .incomplete(let file, _), .notCheckpoint(let file, _): file
        }
    }

    /// Why the file will not be processed, for a `failed` report entry; `nil` for `.ready`.
    public var failureReason: String? {
        switch self {
        case .ready: nil
        case .incomplete(_, let reason), .notCheckpoint(_, let reason): reason
        }
    }
}

/// The outcome of one `CheckpointWatcher.scan(now:)`.
public struct WatchScan: Sendable, Equatable {
    /// New decisions, in natural name order (then mtime).
    public var events: [CheckpointEvent]
    /// Candidates still settling or waiting for their writer, in natural name order.
    public var pending: [CheckpointFile]
    /// Set when the directory could not be listed (deleted, unmounted, permissions changed); the scan then
    /// reports nothing and keeps its candidates for the next one.
    public var problem: WatcherError?
    /// Lines for the log about candidates that wait for something only a person can fix (a file camwatch
    /// may not read), each said once per file version.
    public var notices: [String] = []

    public init(events: [CheckpointEvent] = [], pending: [CheckpointFile] = [], problem: WatcherError? = nil) {
        self.events = events
        self.pending = pending
        self.problem = problem
    }

    /// The files that are ready to be snapshotted and processed, in order.
    public var ready: [CheckpointFile] {
        events.compactMap { if case .ready(let file) = $0 { file } else { nil } }
    }
}

/// Finds the complete checkpoints in a directory a trainer writes to, each version once.
///
/// The watcher only lists, `lstat`s and reads the first bytes of files; it never opens the trainer's file
/// with libhdf5 and never takes a lock on it (docs/architecture.md §9.3). A file becomes ready when
/// its (inode, size, mtime) has been unchanged across two scans at least `settleInterval` apart and its HDF5
/// superblock says closed, with the stored end of file within the file. Time comes from the caller
/// (`scan(now:)`), so tests need no sleeping; what the watcher remembers lives only as long as the value.
public struct CheckpointWatcher: Sendable {
    /// The watched directory, without a trailing slash.
    public let directory: String
    /// The glob and the temporary-name rules.
    public let filter: CheckpointNameFilter
    /// How long a file must stay unchanged (across at least two scans) before its header is checked.
    public let settleInterval: Duration
    /// How long a file whose header says "still being written" may stay unchanged before it is reported
    /// `.incomplete` (the writer crashed or hangs).
    public let incompleteAfter: Duration
    /// How many snapshots of one unchanged file may fail before it is reported `.incomplete`.
    public var maximumCopyAttempts = 3
    /// Whether `snapshot(_:into:)` fsyncs the private copy (not needed for a scratch directory).
    public var synchronizesSnapshots = false

    /// Ids processed in an earlier run (from report.json); never reported.
    private var alreadySeen: Set<String>
    /// Ids reported by this watcher.
    private var reported: Set<String> = []
    /// Undecided files, by name.
    private var candidates: [String: Candidate] = [:]
    /// Files to be offered again no earlier than the instant, by id (`retryLater`).
    private var deferred: [String: ContinuousClock.Instant] = [:]
    /// Failed snapshots of unchanged files, by id.
    private var copyFailures: [String: CopyFailure] = [:]
    /// Test seam: runs between the copy and the re-stat of the source in `snapshot(_:into:)`.
    var afterCopy: (@Sendable (CheckpointFile) -> Void)?

    private struct Candidate: Sendable {
        var file: CheckpointFile
        /// When this identity was first seen.
        var firstSeen: ContinuousClock.Instant
        /// How many scans have seen this identity.
        var observations = 1
        /// Why the header gate said "not yet", when it did.
        var waitingReason: String?
        /// The name is not UTF-8: `file.path` (with `\xNN` escapes) reaches no file, so it cannot be read.
        var unusableName = false
        /// The file may not be read (permissions): it waits, however long, and is taken once it can be read.
        var denied = false
        /// Whether the log was told about `denied`.
        var deniedNoted = false
    }

    private struct CopyFailure: Sendable {
        var count: Int
        var reason: String
    }

    /// Creates a watcher and checks that the directory can be listed.
    ///
    /// - Parameters:
    ///   - directory: the trainer's checkpoint directory.
    ///   - pattern: the `fnmatch(3)` pattern for checkpoint names.
    ///   - settleInterval: how long a file must stay unchanged before it is considered.
    ///   - incompleteAfter: how long a file still marked open for writing may stay unchanged before it is
    ///     reported `.incomplete`.
    ///   - alreadySeen: ids of checkpoints an earlier run processed or reported as failed.
    /// - Throws: `WatcherError` (`.directoryUnavailable`) when the directory is missing or cannot be listed.
    public init(
        directory: String, pattern: String = "*.h5", settleInterval: Duration = .seconds(2),
        incompleteAfter: Duration = .seconds(300), alreadySeen: Set<String> = []
    ) throws(WatcherError) {
        precondition(settleInterval >= .zero && incompleteAfter >= .zero, "negative watcher interval")
        var trimmed = directory
        while trimmed.count > 1 && trimmed.hasSuffix("/") { trimmed.removeLast() }
        self.directory = trimmed
        self.filter = CheckpointNameFilter(pattern: pattern)
        self.settleInterval = settleInterval
        self.incompleteAfter = incompleteAfter
        self.alreadySeen = alreadySeen
        if case .failure(let failure) = DaemonSystemCalls.directoryEntries(trimmed) {
            throw failure.error(.directoryUnavailable, trimmed, "cannot watch the checkpoint directory")
        }
    }

    /// Adds ids processed in an earlier run (known only once the output directory's report is open).
    public mutating func skip(_ ids: Set<String>) {
        alreadySeen.formUnion(ids)
    }

    /// Offers a reported file again, as a new candidate, once `instant` has passed (camwatch's reader failed
    /// on it: no verdict on the file). A new version of the file is a new candidate anyway.
    public mutating func retryLater(_ file: CheckpointFile, at instant: ContinuousClock.Instant) {
        reported.remove(file.id)
        deferred[file.id] = instant
    }

    // MARK: - Scanning

    /// Lists the directory once and returns the decisions that became due at `now`.
    ///
    /// Call it on every wake-up (see `DirectoryEvents`) and at least every polling interval; `suggestedWait`
    /// says when the next decision is due. Files that vanish are forgotten silently.
    public mutating func scan(now: ContinuousClock.Instant = .now) -> WatchScan {
        let entries: [DirectoryEntry]
        switch DaemonSystemCalls.directoryEntries(directory) {
        case .success(let listed): entries = listed
        case .failure(let failure):
            let problem = failure.error(.directoryUnavailable, directory, "cannot list the checkpoint directory")
            return WatchScan(pending: pending, problem: problem)
        }
        var events: [CheckpointEvent] = []
        var notices: [String] = []
        var present: Set<String> = []
        var stillDeferred: Set<String> = []
        for entry in entries where filter.accepts(entry.name) {
            let name = entry.name
            guard case .success(let status) = DaemonSystemCalls.linkStatus(entry, in: directory), status.isRegularFile
            else { continue }
            let file = CheckpointFile(
                path: path(name), name: name, inode: status.inode, size: status.size,
                mtimeNanoseconds: status.modificationNanoseconds)
            if alreadySeen.contains(file.id) || reported.contains(file.id) { continue }
            if let due = deferred[file.id] {
                guard now >= due else {
                    stillDeferred.insert(file.id)
                    continue
                }
                // Due: a candidate like any new file from here on.
                deferred[file.id] = nil
            }
            present.insert(name)
            var candidate = Candidate(file: file, firstSeen: now, unusableName: !entry.isValidUTF8)
            if let known = candidates[name], known.file.sameIdentity(as: file) {
                candidate = known
                candidate.observations += 1
            }
            let event = decide(&candidate, now: now)
            if candidate.denied, !candidate.deniedNoted, let reason = candidate.waitingReason {
                candidate.deniedNoted = true
                notices.append("\(file.path): \(reason); it is taken as soon as it can be read")
            }
            if let event {
                events.append(event)
                reported.insert(file.id)
                present.remove(name)
            } else {
                candidates[name] = candidate
            }
        }
        candidates = candidates.filter { present.contains($0.key) }
        // A deferred file that is gone, or became another version, is no longer waited for.
        deferred = deferred.filter { stillDeferred.contains($0.key) }
        events.sort { CheckpointFile.naturalOrder($0.file, $1.file) }
        var scan = WatchScan(events: events, pending: pending)
        scan.notices = notices
        return scan
    }

    /// Regular files in the directory whose names the pattern does not take (temporary names left out), in
    /// natural order: what a user may have expected to be watched (`model.keras` under `*.h5`).
    public func unmatchedNames() -> [String] {
        guard case .success(let entries) = DaemonSystemCalls.directoryEntries(directory) else { return [] }
        return entries.filter { entry in
            guard !filter.accepts(entry.name), !CheckpointNameFilter.isTemporary(entry.name) else { return false }
            guard case .success(let status) = DaemonSystemCalls.linkStatus(entry, in: directory) else { return false }
            return status.isRegularFile
        }.map { DisplayText.escaped($0.name) }.sorted { CheckpointFile.naturalOrder($0, $1) }
    }

    /// Up to `limit` files matching the pattern whose HDF5 header says complete, in natural order (processed
    /// before or not, except the ids in `skipping`): what a start-up check can read now.
    public func completeFiles(limit: Int, skipping: Set<String> = []) -> [CheckpointFile] {
        guard case .success(let entries) = DaemonSystemCalls.directoryEntries(directory) else { return [] }
        var found: [CheckpointFile] = []
        let usable = entries.filter { $0.isValidUTF8 && filter.accepts($0.name) }
        for entry in usable.sorted(by: { CheckpointFile.naturalOrder($0.name, $1.name) }) {
            guard case .success(let status) = DaemonSystemCalls.linkStatus(entry, in: directory), status.isRegularFile
            else { continue }
            let file = CheckpointFile(
                path: path(entry.name), name: entry.name, inode: status.inode, size: status.size,
                mtimeNanoseconds: status.modificationNanoseconds)
            guard !skipping.contains(file.id), Self.gate(file) == .passed else { continue }
            found.append(file)
            if found.count >= limit { break }
        }
        return found
    }

    /// Whether any regular file in the directory matches the pattern (processed before or not).
    public func hasMatchingFiles() -> Bool {
        guard case .success(let entries) = DaemonSystemCalls.directoryEntries(directory) else { return false }
        return entries.contains { entry in
            guard filter.accepts(entry.name) else { return false }
            guard case .success(let status) = DaemonSystemCalls.linkStatus(entry, in: directory) else { return false }
            return status.isRegularFile
        }
    }

    /// The path of `name` in the watched directory.
    private func path(_ name: String) -> String {
        directory == "/" ? "/" + name : directory + "/" + name
    }

    /// Candidates not yet decided, in natural order.
    public var pending: [CheckpointFile] {
        candidates.values.map(\.file).sorted(by: CheckpointFile.naturalOrder)
    }

    /// The pending candidates camwatch may not read (permissions), in natural order.
    public var unreadable: [CheckpointFile] {
        candidates.values.filter(\.denied).map(\.file).sorted(by: CheckpointFile.naturalOrder)
    }

    /// The earliest instant at which a scan can decide about a pending candidate, or `nil` when none is pending.
    public func nextDecision() -> ContinuousClock.Instant? {
        // A file camwatch may not read has no deadline: a change of its mode wakes the loop (inotify), or the
        // polling interval passes.
        let candidates = candidates.values.filter { !$0.denied }.map { candidate in
            candidate.firstSeen + (candidate.waitingReason == nil ? settleInterval : incompleteAfter)
        }
        return (candidates + deferred.values).min()
    }

    /// How long to wait for events before the next scan: `interval`, or less when a decision is due sooner.
    public func suggestedWait(upTo interval: Duration, now: ContinuousClock.Instant = .now) -> Duration {
        guard let next = nextDecision() else { return interval }
        return min(interval, max(.zero, now.duration(to: next)))
    }

    /// Advances one candidate; returns the event when it is decided.
    private mutating func decide(_ candidate: inout Candidate, now: ContinuousClock.Instant) -> CheckpointEvent? {
        let file = candidate.file
        let unchanged = candidate.firstSeen.duration(to: now)
        guard candidate.observations >= 2, unchanged >= settleInterval else { return nil }
        if candidate.unusableName {
            // Reported once, as a failure the user can act on, instead of a file nobody ever mentions.
            return .notCheckpoint(
                file, reason: "the file name is not valid UTF-8 (shown with \\xNN escapes); rename it to have it processed")
        }
        if let failure = copyFailures[file.id], failure.count >= maximumCopyAttempts {
            copyFailures[file.id] = nil
            return .incomplete(file, reason: "could not be copied (\(failure.count) attempts): \(failure.reason)")
        }
        switch Self.gate(file) {
        case .passed:
            return .ready(file)
        case .rejected(let reason):
            return .notCheckpoint(file, reason: reason)
        case .changed:
            // Modified between the lstat and the header read: the next scan sees the new identity.
            return nil
        case .denied(let reason):
            // Not the file's fault, and fixed by a chmod that leaves its identity (inode, size, mtime) as it
            // is: never `.incomplete`, or the fixed file would never be looked at again.
            candidate.waitingReason = reason
            candidate.denied = true
            return nil
        case .waiting(let reason, let writerMayHaveDied):
            candidate.denied = false
            candidate.waitingReason = reason
            guard unchanged >= incompleteAfter else { return nil }
            let hint = writerMayHaveDied ? "; the writer may have died" : ""
            return .incomplete(file, reason: "\(reason), unchanged for \(Self.seconds(unchanged)) s\(hint)")
        }
    }

    // MARK: - Header gate

    enum GateVerdict: Sendable, Equatable {
        case passed
        /// Could still become complete (open for writing, truncated, empty, unreadable).
        case waiting(String, writerMayHaveDied: Bool = true)
        /// Will never be a checkpoint as it is.
        case rejected(String)
        /// camwatch may not read it (permissions): a person can fix that without touching the file's content.
        case denied(String)
        /// The size differs from the identity being judged (or the file is gone).
        case changed
    }

    /// The superblock check of docs/architecture.md §9.3, without libhdf5 and without a lock.
    static func gate(_ file: CheckpointFile, at path: String? = nil) -> GateVerdict {
        let path = path ?? file.path
        if let verdict = archiveGate(file, at: path) { return verdict }
        let superblock: HDF5Superblock
        do {
            superblock = try HDF5Superblock.inspect(path)
        } catch {
            if case .failure(let failure) = DaemonSystemCalls.linkStatus(path), failure.isNotFound { return .changed }
            if case .failure(let failure) = DaemonSystemCalls.openForReading(path).map(DaemonSystemCalls.closeDescriptor),
                failure.isPermissionDenied
            {
                return .denied("cannot be read: \(failure.message)")
            }
            return .waiting("unreadable (\(error.reason))", writerMayHaveDied: false)
        }
        guard superblock.fileSize == file.size else { return .changed }
        guard let problem = superblock.problem else { return .passed }
        switch superblock.status {
        // A writer may still finish these, and an empty file it has only just created.
        case .openForWriting, .truncated: return .waiting(problem)
        case .notHDF5 where file.size == 0: return .waiting(problem)
        default: return .rejected(problem)
        }
    }

    private static func seconds(_ duration: Duration) -> Int64 {
        duration.components.seconds
    }

    // MARK: - Snapshots

    /// Copies a ready checkpoint into `stagingDirectory` and checks the copy; parse only the copy.
    ///
    /// When the copy fails because the trainer changed the file, the file goes back to settling (its new
    /// identity is a new candidate). Other failures of an unchanged file are retried on later scans, up to
    /// `maximumCopyAttempts`, after which the file is reported `.incomplete`.
    /// A staging failure (`.stagingFailed`) puts the file back to settling without counting against it.
    /// - Throws: `WatcherError`: `.changedDuringCopy`, `.fileVanished`, `.incompleteCopy`, `.stagingFailed`, `.io`.
    public mutating func snapshot(_ file: CheckpointFile, into stagingDirectory: String) throws(WatcherError)
        -> CheckpointSnapshot
    {
        let copied = copy(file, into: stagingDirectory)
        noteCopy(of: file, copied)
        return try copied.get()
    }

    /// The copy half of ``snapshot(_:into:)``: reads nothing the watcher changes, so a caller that shares the
    /// watcher behind a lock copies outside it (a copy of a large checkpoint takes seconds) and hands the
    /// result to ``noteCopy(of:_:)`` under the lock.
    public func copy(_ file: CheckpointFile, into stagingDirectory: String) -> Result<CheckpointSnapshot, WatcherError> {
        Result { () throws(WatcherError) in
            try CheckpointSnapshot.copy(
                file, into: stagingDirectory, watchedDirectory: directory, synchronize: synchronizesSnapshots,
                afterCopy: afterCopy)
        }
    }

    /// The bookkeeping half of ``snapshot(_:into:)``: what a copy's outcome means for the file's next scans.
    public mutating func noteCopy(of file: CheckpointFile, _ copied: Result<CheckpointSnapshot, WatcherError>) {
        switch copied {
        case .success: copyFailures[file.id] = nil
        case .failure(let error):
            switch error.kind {
            case .changedDuringCopy, .stagingFailed, .permissionDenied:
                reported.remove(file.id)
            case .incompleteCopy, .io:
                reported.remove(file.id)
                copyFailures[file.id, default: CopyFailure(count: 0, reason: "")].count += 1
                copyFailures[file.id]?.reason = error.description
            case .fileVanished, .directoryUnavailable:
                break
            }
        }
    }
}
