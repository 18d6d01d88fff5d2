/// Crash-safe replacement of output files: readers see the old file or the new one, never a mix.
///
/// The new content goes to a temporary name in the same directory (same file system, so `rename` is
/// atomic), is flushed with `fsync`, renamed over the target, and the directory is flushed so the rename
/// itself survives a power cut (docs/architecture.md §6). Temporary names start with `.` and never end in the
/// target's extension, so node_exporter's textfile collector (which reads `*.prom`) skips them. The C calls
/// are in `MonitorSystemCalls`.
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
    static func replace(_ path: String, with bytes: [UInt8], mode: UInt32 = 0o644) throws(MonitorError) {
        try replace(
            path,
            creatingWith: { (temporary: String) throws(MonitorError) in
                let fd = try MonitorSystemCalls.createExclusive(temporary, mode: mode)
                defer { MonitorSystemCalls.closeDescriptor(fd) }
                if let failure = bytes.withUnsafeBytes({ MonitorSystemCalls.writeAll($0, to: fd, path: temporary) }) {
                    throw failure
                }
                try MonitorSystemCalls.synchronize(fd, path: temporary)
            })
    }

    /// Copies the file at `source` to a new file `destination` (which must not exist), byte for byte.
    /// - Throws: `MonitorError` (`.io`) naming the failing call; `destination` may then be partly written.
    static func copy(_ source: String, to destination: String) throws(MonitorError) {
        let input = try MonitorSystemCalls.openForReading(source)
        defer { MonitorSystemCalls.closeDescriptor(input) }
        let output = try MonitorSystemCalls.createExclusive(destination)
        defer { MonitorSystemCalls.closeDescriptor(output) }
        var buffer = [UInt8](repeating: 0, count: 1 << 20)
        while true {
            let count = try MonitorSystemCalls.readChunk(input, into: &buffer, path: source)
            if count == 0 { return }
            let failure = buffer.withUnsafeBytes { raw in
                MonitorSystemCalls.writeAll(UnsafeRawBufferPointer(rebasing: raw.prefix(count)), to: output, path: destination)
            }
            if let failure { throw failure }
        }
    }

    /// Replaces `path` with a file that `body` creates at the temporary path it is given.
    ///
    /// `body` must create the file and close it; it is then flushed, renamed over `path`, and the
    /// directory flushed. Used where a library (libhdf5) writes the file itself.
    /// - Throws: `MonitorError`, `body`'s or `.io`; the temporary file is removed on failure.
    static func replace(_ path: String, creatingWith body: (String) throws(MonitorError) -> Void) throws(MonitorError) {
        let directory = directoryName(of: path)
        let temporary = directory + "/." + baseName(of: path)
            + ".tmp-\(MonitorSystemCalls.processID)-\(UInt32.random(in: 0...UInt32.max))"
        do throws(MonitorError) {
            try body(temporary)
            try syncFile(temporary)
            try MonitorSystemCalls.move(temporary, to: path)
        } catch {
            MonitorSystemCalls.remove(temporary)
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
        MonitorSystemCalls.names(in: directory).filter { name in
            guard name.hasPrefix(prefix), isTemporaryName(name) else { return false }
            let path = directory + "/" + name
            return MonitorSystemCalls.isRegularFile(path) && MonitorSystemCalls.remove(path)
        }.sorted()
    }

    /// The whole content of `path`, or `nil` when there is no such file.
    /// - Throws: `MonitorError` (`.io`) when the file exists but cannot be read.
    static func readIfPresent(_ path: String) throws(MonitorError) -> [UInt8]? {
        guard let fd = try MonitorSystemCalls.openForReadingIfPresent(path) else { return nil }
        defer { MonitorSystemCalls.closeDescriptor(fd) }
        var bytes: [UInt8] = []
        var chunk = [UInt8](repeating: 0, count: 1 << 16)
        while true {
            let count = try MonitorSystemCalls.readChunk(fd, into: &chunk, path: path)
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
        while try MonitorSystemCalls.exists(candidate) {
            attempt += 1
            candidate = stem + "-\(attempt)"
        }
        try MonitorSystemCalls.move(path, to: candidate)
        try syncDirectory(directoryName(of: path))
        return candidate
    }

    /// `20250102T030405Z` for a Unix time.
    static func utcStamp(_ seconds: Double) -> String { MonitorSystemCalls.utcStamp(seconds) }

    static func directoryName(of path: String) -> String {
        guard let slash = path.lastIndex(of: "/") else { return "." }
        return slash == path.startIndex ? "/" : String(path[..<slash])
    }

    static func baseName(of path: String) -> String {
        guard let slash = path.lastIndex(of: "/") else { return path }
        return String(path[path.index(after: slash)...])
    }

    private static func syncFile(_ path: String) throws(MonitorError) {
        let fd = try MonitorSystemCalls.openForReading(path)
        defer { MonitorSystemCalls.closeDescriptor(fd) }
        try MonitorSystemCalls.synchronize(fd, path: path)
    }

    private static func syncDirectory(_ path: String) throws(MonitorError) {
        let fd = try MonitorSystemCalls.openForReading(path, directory: true)
        defer { MonitorSystemCalls.closeDescriptor(fd) }
        try MonitorSystemCalls.synchronize(fd, path: path)
    }
}
