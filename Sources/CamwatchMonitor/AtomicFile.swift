#if canImport(Glibc)
    import Glibc
#elseif canImport(Darwin)
    import Darwin
#endif

/// Crash-safe replacement of output files: readers see the old file or the new one, never a mix.
///
/// The new content goes to a temporary name in the same directory (same file system, so `rename` is
/// atomic), is flushed with `fsync`, renamed over the target, and the directory is flushed so the rename
/// itself survives a power cut (docs/architecture.md §6). Temporary names start with `.` and never end in the
/// target's extension, so node_exporter's textfile collector (which reads `*.prom`) skips them.
public enum AtomicFile {
    /// Replaces `path` with `bytes` (mode 0644 before the umask): for the outputs other modules publish.
    /// - Throws: `MonitorError` (`.io`) naming the failing call; the previous file is then untouched.
    public static func publish(_ bytes: [UInt8], to path: String) throws(MonitorError) {
        try replace(path, with: bytes)
    }

    /// Replaces `path` with `bytes`.
    ///
    /// - Parameter mode: permissions of the new file before the umask; 0644 lets a collector running as
    ///   another user read it, and a service's `UMask=` still narrows it.
    /// - Throws: `MonitorError` (`.io`) naming the failing call; the temporary file is removed.
    static func replace(_ path: String, with bytes: [UInt8], mode: mode_t = 0o644) throws(MonitorError) {
        try replace(
            path,
            creatingWith: { (temporary: String) throws(MonitorError) in
                let fd = open(temporary, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, mode)
                guard fd >= 0 else { throw systemError("open", temporary) }
                defer { close(fd) }
                if let failure = bytes.withUnsafeBytes({ writeAll($0, to: fd, path: temporary) }) { throw failure }
                guard fsync(fd) == 0 else { throw systemError("fsync", temporary) }
            })
    }

    /// Copies the file at `source` to a new file `destination` (which must not exist), byte for byte.
    /// - Throws: `MonitorError` (`.io`) naming the failing call; `destination` may then be partly written.
    static func copy(_ source: String, to destination: String) throws(MonitorError) {
        let input = open(source, O_RDONLY | O_CLOEXEC)
        guard input >= 0 else { throw systemError("open", source) }
        defer { close(input) }
        let output = open(destination, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0o644)
        guard output >= 0 else { throw systemError("open", destination) }
        defer { close(output) }
        var buffer = [UInt8](repeating: 0, count: 1 << 20)
        while true {
            let count = buffer.withUnsafeMutableBytes { read(input, $0.baseAddress, $0.count) }
            if count == 0 { return }
            if count < 0 {
                if errno == EINTR { continue }
                throw systemError("read", source)
            }
            let failure = buffer.withUnsafeBytes { raw in
                writeAll(UnsafeRawBufferPointer(rebasing: raw.prefix(count)), to: output, path: destination)
            }
            if let failure { throw failure }
        }
    }

    /// Writes all of `bytes` to `fd`, resuming after short writes and interruptions; the error, if any (a
    /// value, not a throw, so it can leave the `withUnsafeBytes` closure with its type).
    private static func writeAll(_ bytes: UnsafeRawBufferPointer, to fd: Int32, path: String) -> MonitorError? {
        var offset = 0
        while offset < bytes.count {
            let written = write(fd, bytes.baseAddress.map { $0 + offset }, bytes.count - offset)
            if written < 0 {
                if errno == EINTR { continue }
                return systemError("write", path)
            }
            offset += written
        }
        return nil
    }

    /// Replaces `path` with a file that `body` creates at the temporary path it is given.
    ///
    /// `body` must create the file and close it; it is then flushed, renamed over `path`, and the
    /// directory flushed. Used where a library (libhdf5) writes the file itself.
    /// - Throws: `MonitorError`, `body`'s or `.io`; the temporary file is removed on failure.
    static func replace(_ path: String, creatingWith body: (String) throws(MonitorError) -> Void) throws(MonitorError) {
        let directory = directoryName(of: path)
        let temporary = directory + "/." + baseName(of: path) + ".tmp-\(getpid())-\(UInt32.random(in: 0...UInt32.max))"
        do throws(MonitorError) {
            try body(temporary)
            try syncFile(temporary)
            guard rename(temporary, path) == 0 else { throw systemError("rename", path) }
        } catch {
            unlink(temporary)
            throw error
        }
        try syncDirectory(directory)
    }

    /// Whether `name` is one of the temporary names `replace` gives (`.<target>.tmp-<pid>-<random>`).
    public static func isTemporaryName(_ name: String) -> Bool {
        guard name.hasPrefix("."), let marker = name.ranges(of: ".tmp-").last else { return false }
        let suffix = name[marker.upperBound...].split(separator: "-", omittingEmptySubsequences: false)
        return marker.lowerBound > name.index(after: name.startIndex) && suffix.count == 2
            && suffix.allSatisfy { !$0.isEmpty && $0.allSatisfy(\.isASCII) && $0.allSatisfy(\.isNumber) }
    }

    /// Deletes the temporary files a killed writer left in `directory` (only names `isTemporaryName` takes,
    /// and only regular files); returns their names. Call it only while no other writer uses the directory
    /// (the daemon holds its output lock).
    /// - Parameter prefix: only names starting with it (in a directory other programs write to as well).
    public static func removeStaleTemporaries(in directory: String, prefix: String = ".") -> [String] {
        guard let stream = opendir(directory) else { return [] }
        var names: [String] = []
        while let entry = readdir(stream) {
            let name = withUnsafeBytes(of: entry.pointee.d_name) { bytes in
                String(decoding: bytes.prefix(bytes.firstIndex(of: 0) ?? bytes.count), as: UTF8.self)
            }
            if name.hasPrefix(prefix), isTemporaryName(name) { names.append(name) }
        }
        closedir(stream)
        return names.filter { name in
            let path = directory + "/" + name
            var status = stat()
            guard lstat(path, &status) == 0, status.st_mode & S_IFMT == S_IFREG else { return false }
            return unlink(path) == 0
        }.sorted()
    }

    /// The whole content of `path`, or `nil` when there is no such file.
    /// - Throws: `MonitorError` (`.io`) when the file exists but cannot be read.
    static func readIfPresent(_ path: String) throws(MonitorError) -> [UInt8]? {
        let fd = open(path, O_RDONLY | O_CLOEXEC)
        if fd < 0 {
            if errno == ENOENT { return nil }
            throw systemError("open", path)
        }
        defer { close(fd) }
        var bytes: [UInt8] = []
        var chunk = [UInt8](repeating: 0, count: 1 << 16)
        while true {
            let count = chunk.withUnsafeMutableBytes { read(fd, $0.baseAddress, $0.count) }
            if count < 0 {
                if errno == EINTR { continue }
                throw systemError("read", path)
            }
            if count == 0 { return bytes }
            bytes += chunk[0..<count]
        }
    }

    /// Moves `path` to `<path>.corrupt-<UTC time>` (with `-2`, `-3` … if that name is taken) and returns
    /// the new path; the content is kept byte for byte for a human to inspect.
    /// - Throws: `MonitorError` (`.io`) when the rename fails.
    static func setAside(_ path: String, now: Double) throws(MonitorError) -> String {
        let stem = path + ".corrupt-" + utcStamp(now)
        var candidate = stem
        var attempt = 1
        var status = stat()
        while lstat(candidate, &status) == 0 {
            attempt += 1
            candidate = stem + "-\(attempt)"
        }
        guard rename(path, candidate) == 0 else { throw systemError("rename", path) }
        try syncDirectory(directoryName(of: path))
        return candidate
    }

    /// `20250102T030405Z` for a Unix time.
    static func utcStamp(_ seconds: Double) -> String {
        var time = time_t(seconds.isFinite ? seconds.rounded(.down) : 0)
        var parts = tm()
        gmtime_r(&time, &parts)
        func two(_ value: Int32) -> String { value < 10 ? "0\(value)" : "\(value)" }
        return "\(parts.tm_year + 1900)\(two(parts.tm_mon + 1))\(two(parts.tm_mday))T"
            + "\(two(parts.tm_hour))\(two(parts.tm_min))\(two(parts.tm_sec))Z"
    }

    static func directoryName(of path: String) -> String {
        guard let slash = path.lastIndex(of: "/") else { return "." }
        return slash == path.startIndex ? "/" : String(path[..<slash])
    }

    static func baseName(of path: String) -> String {
        guard let slash = path.lastIndex(of: "/") else { return path }
        return String(path[path.index(after: slash)...])
    }

    private static func syncFile(_ path: String) throws(MonitorError) {
        let fd = open(path, O_RDONLY | O_CLOEXEC)
        guard fd >= 0 else { throw systemError("open", path) }
        defer { close(fd) }
        guard fsync(fd) == 0 else { throw systemError("fsync", path) }
    }

    private static func syncDirectory(_ path: String) throws(MonitorError) {
        let fd = open(path, O_RDONLY | O_DIRECTORY | O_CLOEXEC)
        guard fd >= 0 else { throw systemError("open", path) }
        defer { close(fd) }
        guard fsync(fd) == 0 else { throw systemError("fsync", path) }
    }

    /// The current `errno` as an error naming the call, e.g. `rename failed: No space left on device`.
    static func systemError(_ call: String, _ path: String) -> MonitorError {
        let code = errno
        return MonitorError(.io, path: path, reason: "\(call) failed: \(String(cString: strerror(code)))")
    }
}
