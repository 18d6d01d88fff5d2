import Foundation

/// One watcher per output directory: an exclusive `flock` on `<out>/.camwatch.lock`, held while the
/// process lives (the kernel releases it when the process dies, even by `kill -9`, so a stale lock file
/// never blocks a restart). The C calls are in `DaemonSystemCalls`.
public final class OutputLock: Sendable {
    public static let fileName = ".camwatch.lock"
    private let descriptor: Int32
    public let path: String

    /// Creates the output directory if needed and takes the lock.
    /// - Throws: `ConfigurationError` naming the directory: it cannot be created or written, or another
    ///   watcher (whose pid the lock file holds) already uses it.
    public init(directory: String) throws(ConfigurationError) {
        try Self.makeDirectory(directory)
        path = (directory.hasSuffix("/") ? directory : directory + "/") + Self.fileName
        let fd: Int32
        switch DaemonSystemCalls.openLockFile(path) {
        case .success(let opened): fd = opened
        case .failure(let failure) where failure.isSymbolicLink:
            throw ConfigurationError(
                path: path, reason: "is a symbolic link; camwatch does not follow it (remove it and start again)")
        case .failure(let failure):
            throw ConfigurationError(path: directory, reason: "output directory is not writable (\(failure.message))")
        }
        guard case .success(let status) = DaemonSystemCalls.status(of: fd), status.isRegularFile, status.linkCount == 1
        else {
            DaemonSystemCalls.closeDescriptor(fd)
            throw ConfigurationError(
                path: path, reason: "is not a plain file of its own (a hard link, FIFO or device); remove it and start again")
        }
        if let failure = DaemonSystemCalls.lockExclusively(fd) {
            let reason = failure.isHeldElsewhere ? "already used by another camwatch watcher\(Self.holder(fd))"
                : "cannot lock \(Self.fileName) (\(failure.message))"
            DaemonSystemCalls.closeDescriptor(fd)
            throw ConfigurationError(path: directory, reason: reason)
        }
        descriptor = fd
        DaemonSystemCalls.overwrite(fd, with: Array("\(DaemonSystemCalls.processID)\n".utf8))
    }

    deinit { DaemonSystemCalls.closeDescriptor(descriptor) }

    private static func holder(_ fd: Int32) -> String {
        let text = String(decoding: DaemonSystemCalls.leadingBytes(fd, count: 32), as: UTF8.self)
        guard let pid = Int(text.trimmingCharacters(in: .whitespacesAndNewlines)) else { return "" }
        return " (pid \(pid))"
    }

    /// `mkdir -p`.
    static func makeDirectory(_ path: String) throws(ConfigurationError) {
        if case .success(let status) = DaemonSystemCalls.pathStatus(path) {
            guard status.isDirectory else { throw ConfigurationError(path: path, reason: "not a directory") }
            return
        }
        let parent = path.split(separator: "/", omittingEmptySubsequences: false).dropLast().joined(separator: "/")
        if !parent.isEmpty, parent != path { try makeDirectory(parent) }
        if let failure = DaemonSystemCalls.makeDirectory(path, mode: 0o755) {
            throw ConfigurationError(path: path, reason: "cannot create the directory (\(failure.message))")
        }
    }
}
