/// A private copy of a ready checkpoint, for parsing with libhdf5 (file locking off) instead of the trainer's file.
///
/// Parsing a copy keeps camwatch from ever holding a lock on the trainer's file (a held lock makes the trainer's
/// next save of the same name fail, docs/architecture.md §9.2) and makes it immune to the trainer
/// truncating, rewriting or deleting the file while a checkpoint is processed.
public struct CheckpointSnapshot: Sendable, Hashable {
    /// The private copy: `<staging directory>/<id>-<name>`.
    public var path: String
    /// The identity of the trainer's file that was copied.
    public var file: CheckpointFile

    public init(path: String, file: CheckpointFile) {
        self.path = path
        self.file = file
    }

    /// Deletes the private copy; a copy that is already gone is fine.
    public func remove() {
        DaemonSystemCalls.remove(path)
    }

    /// Copies `file` with plain reads (or a reflink), then checks that the source did not change meanwhile and
    /// that the copy passes the HDF5 header gate.
    static func copy(
        _ file: CheckpointFile, into staging: String, watchedDirectory: String, synchronize: Bool,
        afterCopy: (@Sendable (CheckpointFile) -> Void)?
    ) throws(WatcherError) -> CheckpointSnapshot {
        if let failure = DaemonSystemCalls.makeDirectory(staging) {
            throw failure.error(.stagingFailed, staging, "cannot create the staging directory")
        }
        if case .success(let stagingStatus) = DaemonSystemCalls.pathStatus(staging),
            case .success(let watchedStatus) = DaemonSystemCalls.pathStatus(watchedDirectory),
            stagingStatus.device == watchedStatus.device && stagingStatus.inode == watchedStatus.inode
        {
            // The copies would match the glob and be found as new checkpoints, forever.
            throw WatcherError(.stagingFailed, path: staging, reason: "the staging directory is the watched directory")
        }

        let source: Int32
        switch DaemonSystemCalls.openForReading(file.path) {
        case .success(let descriptor): source = descriptor
        case .failure(let failure):
            if failure.isNotFound { throw failure.error(.fileVanished, file.path, "disappeared before it was copied") }
            if failure.isPermissionDenied { throw failure.error(.permissionDenied, file.path, "cannot open the checkpoint") }
            throw failure.error(.io, file.path, "cannot open the checkpoint")
        }
        defer { DaemonSystemCalls.closeDescriptor(source) }
        if case .success(let opened) = DaemonSystemCalls.status(of: source), !Self.matches(opened, file) {
            throw WatcherError(
                .changedDuringCopy, path: file.path,
                reason: "changed after it was found ready (\(Self.describe(opened)) instead of \(file.id))")
        }

        let target = staging + "/" + stagingName(for: file)
        DaemonSystemCalls.remove(target)  // a copy left behind by a crash
        let copy: Int32
        switch DaemonSystemCalls.createExclusive(target) {
        case .success(let descriptor): copy = descriptor
        case .failure(let failure): throw failure.error(.stagingFailed, target, "cannot create the private copy")
        }
        do throws(WatcherError) {
            try fill(copy, from: source, file: file, target: target, synchronize: synchronize)
            DaemonSystemCalls.closeDescriptor(copy)
        } catch {
            DaemonSystemCalls.closeDescriptor(copy)
            DaemonSystemCalls.remove(target)
            throw error
        }
        afterCopy?(file)

        let after: FileStatus
        switch DaemonSystemCalls.status(of: source) {
        case .success(let status): after = status
        case .failure(let failure):
            DaemonSystemCalls.remove(target)
            throw failure.error(.io, file.path, "cannot stat the checkpoint after copying it")
        }
        guard Self.matches(after, file) else {
            DaemonSystemCalls.remove(target)
            throw WatcherError(
                .changedDuringCopy, path: file.path,
                reason: "changed while it was copied (\(file.id) became \(Self.describe(after))); will retry")
        }
        // Judge the copy by its own size, so a damaged copy gets the gate's words (e.g. "truncated").
        var copied = file
        if case .success(let status) = DaemonSystemCalls.linkStatus(target) { copied.size = status.size }
        let why: String?
        switch CheckpointWatcher.gate(copied, at: target) {
        case .passed: why = copied.size == file.size ? nil : "it has \(copied.size) bytes instead of \(file.size)"
        case .waiting(let reason, _), .rejected(let reason), .denied(let reason): why = reason
        case .changed: why = "it changed while it was checked"
        }
        if let why {
            DaemonSystemCalls.remove(target)
            throw WatcherError(
                .incompleteCopy, path: target, reason: "the private copy of \(file.name) fails the HDF5 check: \(why)")
        }
        return CheckpointSnapshot(path: target, file: file)
    }

    /// The private copy's name: the id, then at most the last 64 bytes of the name (which keep its extension).
    ///
    /// A name of up to 255 bytes is legal in the watched directory; with the id in front it would not be in
    /// the staging directory (`ENAMETOOLONG`), and the checkpoint would be retried forever.
    static func stagingName(for file: CheckpointFile) -> String {
        var tail = String.UnicodeScalarView()
        var bytes = 0
        for scalar in file.name.unicodeScalars.reversed() {
            bytes += UTF8.width(scalar)
            if bytes > 64 { break }
            tail.insert(scalar, at: tail.startIndex)
        }
        return file.id + "-" + String(tail)
    }

    /// Copies the whole source into `copy` and checks that the byte count is the identity's size.
    private static func fill(
        _ copy: Int32, from source: Int32, file: CheckpointFile, target: String, synchronize: Bool
    ) throws(WatcherError) {
        switch DaemonSystemCalls.copyContents(from: source, to: copy) {
        case .success(let count):
            guard count == file.size else {
                throw WatcherError(
                    .changedDuringCopy, path: file.path,
                    reason: "changed while it was copied (\(count) bytes read, \(file.size) expected); will retry")
            }
        case .failure(let failure) where failure.call == "read":
            throw failure.error(.io, file.path, "cannot read the checkpoint")
        case .failure(let failure):
            throw failure.error(.stagingFailed, target, "cannot write the private copy")
        }
        if synchronize, let failure = DaemonSystemCalls.synchronize(copy) {
            throw failure.error(.stagingFailed, target, "cannot flush the private copy")
        }
    }

    private static func matches(_ status: FileStatus, _ file: CheckpointFile) -> Bool {
        status.inode == file.inode && status.size == file.size
            && status.modificationNanoseconds == file.mtimeNanoseconds
    }

    private static func describe(_ status: FileStatus) -> String {
        "\(status.inode)-\(status.modificationNanoseconds)-\(status.size)"
    }
}
