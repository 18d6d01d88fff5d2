import CSystemCalls
import CamwatchMonitor
import CamwatchTensor
import Glibc

// Every C call of the daemon goes through this file: the watcher's directory listing, stat, copying, inotify and
// poll; the output lock; systemd's notification socket and monotonic clock; the start-up check's stats and its
// test for a live process. (Child processes are `ChildProcess`, in CamwatchCheckpoint.)
// Linux only (inotify, FICLONE).
// Failures come back as `SystemCallFailure` (the call and errno); callers add the path and the context.
// A call a signal interrupts (`EINTR`) is made again through `retryingAfterInterrupts`, never by a loop of its own.

/// A C call that failed, with the `errno` it left.
struct SystemCallFailure: Error, Sendable, Equatable, CustomStringConvertible {
    var call: String
    var code: Int32

    /// The failure of `call` with the current `errno`.
    init(_ call: String) {
        self.call = call
        self.code = errno
    }

    init(_ call: String, code: Int32) {
        self.call = call
        self.code = code
    }

    /// `strerror` text, e.g. "No such file or directory".
    var message: String { String(cString: strerror(code)) }

    /// The call, the system's message and the number: `sendto(@camwatch): Connection refused (errno 111)`.
    var description: String { "\(call): \(message) (errno \(code))" }

    var isNotFound: Bool { code == ENOENT || code == ENOTDIR }

    var isPermissionDenied: Bool { code == EACCES || code == EPERM }

    /// `open` with `O_NOFOLLOW` met a symbolic link.
    var isSymbolicLink: Bool { code == ELOOP }

    /// A non-blocking lock is held by another process.
    var isHeldElsewhere: Bool { code == EWOULDBLOCK }

    /// A `WatcherError` about `path`, with `context` before the system's message.
    func error(_ kind: WatcherError.Kind, _ path: String, _ context: String) -> WatcherError {
        WatcherError(kind, path: path, reason: "\(context): \(message)", call: call)
    }
}

/// What `lstat`/`fstat` say about a file, reduced to what the watcher uses.
struct FileStatus: Sendable, Equatable {
    var device: UInt64
    var inode: UInt64
    var size: Int64
    var modificationNanoseconds: Int64
    var isRegularFile: Bool
    var isDirectory: Bool
    /// Hard links to the inode.
    var linkCount: UInt64
}

/// One name in a directory listing.
struct DirectoryEntry: Sendable, Equatable {
    /// The name's bytes, exactly as the file system holds them.
    var raw: [UInt8]
    /// Whether `raw` is UTF-8; when it is not, no `String` path reaches the file.
    var isValidUTF8: Bool
    /// The name as a `String`: `raw` decoded, or, when it is not UTF-8, with each invalid byte as `\xNN`.
    var name: String

    init(raw: [UInt8]) {
        self.raw = raw
        if let text = String(validating: raw, as: UTF8.self) {
            name = text
            isValidUTF8 = true
        } else {
            name = DisplayText.escaped(bytes: raw)
            isValidUTF8 = false
        }
    }
}

enum DaemonSystemCalls {
    // MARK: - Files and directories

    /// `lstat(path)`: the link itself, never its target.
    static func linkStatus(_ path: String) -> Result<FileStatus, SystemCallFailure> {
        var status = camwatch_file_status()
        guard camwatch_path_status(path, 0, &status) == 0 else { return .failure(SystemCallFailure("lstat")) }
        return .success(FileStatus(status))
    }

    /// `stat(path)`, following symlinks.
    static func pathStatus(_ path: String) -> Result<FileStatus, SystemCallFailure> {
        var status = camwatch_file_status()
        guard camwatch_path_status(path, 1, &status) == 0 else { return .failure(SystemCallFailure("stat")) }
        return .success(FileStatus(status))
    }

    /// `fstat(fd)`.
    static func status(of descriptor: Int32) -> Result<FileStatus, SystemCallFailure> {
        var status = camwatch_file_status()
        guard camwatch_descriptor_status(descriptor, &status) == 0 else { return .failure(SystemCallFailure("fstat")) }
        return .success(FileStatus(status))
    }

    /// The entries of a directory, without `.` and `..`, each with its name's bytes as `readdir` gave them.
    static func directoryEntries(_ path: String) -> Result<[DirectoryEntry], SystemCallFailure> {
        guard let stream = opendir(path) else { return .failure(SystemCallFailure("opendir")) }
        defer { closedir(stream) }
        var entries: [DirectoryEntry] = []
        while true {
            errno = 0
            guard let entry = readdir(stream) else {
                if errno != 0 { return .failure(SystemCallFailure("readdir")) }
                return .success(entries)
            }
            let raw = withUnsafeBytes(of: entry.pointee.d_name) { bytes in
                Array(bytes.prefix(bytes.firstIndex(of: 0) ?? bytes.count))
            }
            if raw != [0x2E] && raw != [0x2E, 0x2E] { entries.append(DirectoryEntry(raw: raw)) }
        }
    }

    /// `lstat` of `entry` in `directory` by the name's own bytes (a name that is not UTF-8 has no `String` path).
    static func linkStatus(_ entry: DirectoryEntry, in directory: String) -> Result<FileStatus, SystemCallFailure> {
        var path = Array(directory.utf8)
        if path.last != 0x2F { path.append(0x2F) }
        path += entry.raw
        path.append(0)
        var status = camwatch_file_status()
        let result = path.withUnsafeBufferPointer { buffer in
            buffer.withMemoryRebound(to: CChar.self) { chars in
                chars.baseAddress.map { camwatch_path_status($0, 0, &status) } ?? -1
            }
        }
        guard result == 0 else { return .failure(SystemCallFailure("lstat")) }
        return .success(FileStatus(status))
    }

    /// Whether `name` matches the shell pattern (`fnmatch(3)` without flags).
    static func matches(_ name: String, pattern: String) -> Bool {
        fnmatch(pattern, name, 0) == 0
    }

    /// Opens a file read-only without following a final symlink; no lock of any kind is taken.
    static func openForReading(_ path: String) -> Result<Int32, SystemCallFailure> {
        let descriptor = open(path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW)
        return descriptor >= 0 ? .success(descriptor) : .failure(SystemCallFailure("open"))
    }

    /// Creates a new file that must not exist yet, readable only by its owner.
    static func createExclusive(_ path: String) -> Result<Int32, SystemCallFailure> {
        let descriptor = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0o600)
        return descriptor >= 0 ? .success(descriptor) : .failure(SystemCallFailure("open"))
    }

    /// Creates a directory (one level) unless it exists.
    static func makeDirectory(_ path: String, mode: mode_t = 0o700) -> SystemCallFailure? {
        if mkdir(path, mode) == 0 || errno == EEXIST { return nil }
        return SystemCallFailure("mkdir")
    }

    // MARK: - The output lock

    /// Opens or creates the lock file read-write. Never through a link: the pid written to it would truncate
    /// and overwrite whatever a symlink or a hard link named (`ln -s ~/.bashrc out/.camwatch.lock`).
    /// `O_NONBLOCK`: a FIFO planted there must not hang.
    static func openLockFile(_ path: String) -> Result<Int32, SystemCallFailure> {
        let descriptor = open(path, O_RDWR | O_CREAT | O_CLOEXEC | O_NOFOLLOW | O_NONBLOCK, 0o644)
        return descriptor >= 0 ? .success(descriptor) : .failure(SystemCallFailure("open"))
    }

    /// An exclusive `flock` without waiting; the kernel releases it when the process ends, however it ends.
    static func lockExclusively(_ descriptor: Int32) -> SystemCallFailure? {
        flock(descriptor, LOCK_EX | LOCK_NB) == 0 ? nil : SystemCallFailure("flock")
    }

    /// Replaces the whole content of the open file with `bytes` (best effort: the lock file's pid is a hint).
    static func overwrite(_ descriptor: Int32, with bytes: [UInt8]) {
        _ = ftruncate(descriptor, 0)
        _ = bytes.withUnsafeBytes { pwrite(descriptor, $0.baseAddress, $0.count, 0) }
    }

    /// Up to `count` bytes from the start of the open file (fewer, or none, when it is shorter or unreadable).
    static func leadingBytes(_ descriptor: Int32, count: Int) -> [UInt8] {
        var buffer = [UInt8](repeating: 0, count: count)
        let read = buffer.withUnsafeMutableBytes { pread(descriptor, $0.baseAddress, $0.count, 0) }
        return Array(buffer.prefix(max(read, 0)))
    }

    static var processID: Int32 { getpid() }

    static func closeDescriptor(_ descriptor: Int32) {
        _ = close(descriptor)
    }

    /// Removes a file; a file that is already gone is not an error.
    @discardableResult
    static func remove(_ path: String) -> SystemCallFailure? {
        if unlink(path) == 0 || errno == ENOENT { return nil }
        return SystemCallFailure("unlink")
    }

    static func synchronize(_ descriptor: Int32) -> SystemCallFailure? {
        fsync(descriptor) == 0 ? nil : SystemCallFailure("fsync")
    }

    /// Copies everything from `source` (read from its start) to `target`, returning the bytes written.
    ///
    /// Tries a reflink first (`FICLONE`: instant and copy-on-write on btrfs, XFS, bcachefs), then a plain
    /// read/write loop. Neither takes a lock on the source.
    static func copyContents(from source: Int32, to target: Int32) -> Result<Int64, SystemCallFailure> {
        // FICLONE = _IOW(0x94, 9, int) from <linux/fs.h>, which Glibc's module does not export.
        let ficlone: UInt = 0x4004_9409
        if ioctl(target, ficlone, source) == 0 {
            return status(of: target).map(\.size)
        }
        let chunk = 1 << 20
        var buffer = [UInt8](repeating: 0, count: chunk)
        var total: Int64 = 0
        while true {
            let count = retryingAfterInterrupts {
                buffer.withUnsafeMutableBytes { read(source, $0.baseAddress, chunk) }
            }
            if count < 0 { return .failure(SystemCallFailure("read")) }
            if count == 0 { return .success(total) }
            var offset = 0
            while offset < count {
                let written = retryingAfterInterrupts {
                    buffer.withUnsafeBytes { raw in write(target, raw.baseAddress.map { $0 + offset }, count - offset) }
                }
                if written < 0 { return .failure(SystemCallFailure("write")) }
                offset += written
            }
            total += Int64(count)
        }
    }

    // MARK: - Events

    /// The inotify mask the watcher listens for on its directory.
    static let directoryEventMask: UInt32 =
        UInt32(IN_CLOSE_WRITE) | UInt32(IN_MOVED_TO) | UInt32(IN_CREATE) | UInt32(IN_DELETE) | UInt32(IN_MODIFY)
        | UInt32(IN_ATTRIB) | UInt32(IN_MOVED_FROM) | UInt32(IN_DELETE_SELF) | UInt32(IN_MOVE_SELF)
        | UInt32(IN_ONLYDIR)

    /// A non-blocking, close-on-exec inotify descriptor.
    static func inotifyDescriptor() -> Result<Int32, SystemCallFailure> {
        let descriptor = inotify_init1(Int32(IN_NONBLOCK | IN_CLOEXEC))
        return descriptor >= 0 ? .success(descriptor) : .failure(SystemCallFailure("inotify_init1"))
    }

    /// Adds (or replaces) the watch on `directory`; returns the watch descriptor.
    static func addWatch(_ descriptor: Int32, directory: String) -> Result<Int32, SystemCallFailure> {
        let watch = inotify_add_watch(descriptor, directory, directoryEventMask)
        return watch >= 0 ? .success(watch) : .failure(SystemCallFailure("inotify_add_watch"))
    }

    /// Reads every pending event from a non-blocking inotify descriptor; returns whether the kernel removed the
    /// watch (the directory was deleted, moved or unmounted). Queue overflows need nothing: a full rescan follows.
    static func drainInotify(_ descriptor: Int32) -> Bool {
        var watchRemoved = false
        let capacity = 64 * 1024
        var buffer = [UInt8](repeating: 0, count: capacity)
        let headerSize = MemoryLayout<inotify_event>.size
        let removal = UInt32(IN_IGNORED) | UInt32(IN_DELETE_SELF) | UInt32(IN_MOVE_SELF)
        while true {
            let count = retryingAfterInterrupts {
                buffer.withUnsafeMutableBytes { read(descriptor, $0.baseAddress, capacity) }
            }
            if count <= 0 { return watchRemoved }
            var offset = 0
            while offset + headerSize <= count {
                let (mask, nameLength) = buffer.withUnsafeBytes { raw in
                    let event = raw.loadUnaligned(fromByteOffset: offset, as: inotify_event.self)
                    return (event.mask, Int(event.len))
                }
                if mask & removal != 0 { watchRemoved = true }
                offset += headerSize + nameLength
            }
        }
    }

    /// A pipe whose ends are both non-blocking and close-on-exec (Glibc's module has no `pipe2`).
    static func nonBlockingPipe() -> Result<(read: Int32, write: Int32), SystemCallFailure> {
        var ends: [Int32] = [-1, -1]
        guard pipe(&ends) == 0 else { return .failure(SystemCallFailure("pipe")) }
        for end in ends {
            let flags = fcntl(end, F_GETFL)
            guard flags >= 0, fcntl(end, F_SETFL, flags | O_NONBLOCK) == 0, fcntl(end, F_SETFD, FD_CLOEXEC) == 0 else {
                let failure = SystemCallFailure("fcntl")
                for descriptor in ends { _ = close(descriptor) }
                return .failure(failure)
            }
        }
        return .success((ends[0], ends[1]))
    }

    /// Writes one byte to a non-blocking pipe (a full pipe is already signalled, which is enough).
    static func signal(_ descriptor: Int32) {
        var byte: UInt8 = 1
        _ = write(descriptor, &byte, 1)
    }

    /// Empties a non-blocking descriptor of whatever it holds.
    static func drain(_ descriptor: Int32) {
        var buffer = [UInt8](repeating: 0, count: 256)
        while true {
            let count = retryingAfterInterrupts {
                buffer.withUnsafeMutableBytes { read(descriptor, $0.baseAddress, $0.count) }
            }
            if count <= 0 { return }
        }
    }

    /// `poll(2)` for readability; returns which descriptors are readable (all false on timeout).
    /// A negative descriptor is ignored, as `poll` itself does.
    static func waitReadable(_ descriptors: [Int32], milliseconds: Int32) -> Result<[Bool], SystemCallFailure> {
        var entries = descriptors.map { pollfd(fd: $0, events: Int16(POLLIN), revents: 0) }
        let count = retryingAfterInterrupts { poll(&entries, nfds_t(entries.count), milliseconds) }
        guard count >= 0 else { return .failure(SystemCallFailure("poll")) }
        return .success(entries.map { $0.revents & Int16(POLLIN | POLLERR | POLLHUP) != 0 })
    }

    // MARK: - systemd's notification socket, the clock, processes

    /// The bytes `sockaddr_un.sun_path` holds.
    static var socketPathCapacity: Int { MemoryLayout.size(ofValue: sockaddr_un().sun_path) }

    /// CLOCK_MONOTONIC in microseconds (systemd's `MONOTONIC_USEC`).
    static func monotonicMicroseconds() -> Int64 { camwatch_monotonic_microseconds() }

    /// Sends `payload` as one datagram to the `AF_UNIX` address (a path, or an abstract name starting with a
    /// NUL byte), never blocking; the failure, or `nil`.
    static func sendDatagram(_ payload: [UInt8], to address: [UInt8]) -> SystemCallFailure? {
        let fd = socket(AF_UNIX, Int32(SOCK_DGRAM.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0)
        guard fd >= 0 else { return SystemCallFailure("socket(AF_UNIX, SOCK_DGRAM)") }
        defer { close(fd) }

        var storage = sockaddr_un()
        storage.sun_family = sa_family_t(AF_UNIX)
        withUnsafeMutableBytes(of: &storage.sun_path) { path in
            path.copyBytes(from: address)
        }
        // Abstract names are exactly as long as given; paths include their terminating NUL.
        let pathOffset = MemoryLayout<sockaddr_un>.offset(of: \sockaddr_un.sun_path) ?? 2
        let length = pathOffset + address.count + (address.first == 0 ? 0 : 1)
        let sent = retryingAfterInterrupts {
            payload.withUnsafeBytes { bytes in
                withUnsafePointer(to: &storage) { pointer in
                    pointer.withMemoryRebound(to: sockaddr.self, capacity: 1) { socketAddress in
                        sendto(
                            fd, bytes.baseAddress, bytes.count, Int32(MSG_NOSIGNAL) | Int32(MSG_DONTWAIT),
                            socketAddress, socklen_t(length))
                    }
                }
            }
        }
        if sent >= 0 { return nil }
        let name = String(decoding: address.map { $0 == 0 ? UInt8(ascii: "@") : $0 }, as: UTF8.self)
        return SystemCallFailure("sendto(\(name))")
    }

    /// Whether a process with this id is known to be gone (`kill(pid, 0)` says `ESRCH`); a process of another
    /// user counts as alive.
    static func processIsGone(_ pid: Int32) -> Bool {
        kill(pid, 0) != 0 && errno == ESRCH
    }
}

extension FileStatus {
    fileprivate init(_ status: camwatch_file_status) {
        self.init(
            device: status.device, inode: status.inode, size: status.size,
            modificationNanoseconds: status.modification_nanoseconds, isRegularFile: status.is_regular_file != 0,
            isDirectory: status.is_directory != 0, linkCount: status.link_count)
    }
}
