import Foundation
#if canImport(Glibc)
    import Glibc
#endif

/// One watcher per output directory: an exclusive `flock` on `<out>/.camwatch.lock`, held while the
/// process lives (the kernel releases it when the process dies, even by `kill -9`, so a stale lock file
/// never blocks a restart).
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
        // Never through a link: the pid written below would truncate and overwrite whatever a symlink or a
        // hard link named (`ln -s ~/.bashrc out/.camwatch.lock`). O_NONBLOCK: a FIFO planted there must not hang.
        let fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC | O_NOFOLLOW | O_NONBLOCK, 0o644)
        guard fd >= 0 else {
            if errno == ELOOP {
                throw ConfigurationError(
                    path: path, reason: "is a symbolic link; camwatch does not follow it (remove it and start again)")
            }
            throw ConfigurationError(path: directory, reason: "output directory is not writable (\(String(cString: strerror(errno))))")
        }
        guard case .success(let status) = WatcherSystemCalls.status(of: fd), status.isRegularFile, status.linkCount == 1
        else {
            close(fd)
            throw ConfigurationError(
                path: path, reason: "is not a plain file of its own (a hard link, FIFO or device); remove it and start again")
        }
        guard flock(fd, LOCK_EX | LOCK_NB) == 0 else {
            let reason = errno == EWOULDBLOCK ? "already used by another camwatch watcher\(Self.holder(fd))"
                : "cannot lock \(Self.fileName) (\(String(cString: strerror(errno))))"
            close(fd)
            throw ConfigurationError(path: directory, reason: reason)
        }
        descriptor = fd
        let pid = Array("\(getpid())\n".utf8)
        _ = ftruncate(fd, 0)
        _ = pid.withUnsafeBytes { pwrite(fd, $0.baseAddress, $0.count, 0) }
    }

    deinit { close(descriptor) }

    private static func holder(_ fd: Int32) -> String {
        var buffer = [UInt8](repeating: 0, count: 32)
        let count = buffer.withUnsafeMutableBytes { pread(fd, $0.baseAddress, $0.count, 0) }
        let text = String(decoding: buffer[0..<max(count, 0)], as: UTF8.self)
        guard let pid = Int(text.trimmingCharacters(in: .whitespacesAndNewlines)) else { return "" }
        return " (pid \(pid))"
    }

    /// `mkdir -p`.
    static func makeDirectory(_ path: String) throws(ConfigurationError) {
        if case .success(let status) = WatcherSystemCalls.pathStatus(path) {
            guard status.isDirectory else { throw ConfigurationError(path: path, reason: "not a directory") }
            return
        }
        let parent = path.split(separator: "/", omittingEmptySubsequences: false).dropLast().joined(separator: "/")
        if !parent.isEmpty, parent != path { try makeDirectory(parent) }
        guard mkdir(path, 0o755) == 0 || errno == EEXIST else {
            throw ConfigurationError(path: path, reason: "cannot create the directory (\(String(cString: strerror(errno))))")
        }
    }
}
