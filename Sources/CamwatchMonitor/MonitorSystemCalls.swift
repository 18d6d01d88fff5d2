import CSystemCalls
import CamwatchTensor
#if canImport(Glibc)
    import Glibc
#elseif canImport(Darwin)
    import Darwin
#endif

// Every C call of the monitor goes through this file: the crash-safe output files (`AtomicFile`) and the
// heatmap archive's existence check. Each call returns plain values; a failure is a `MonitorError` (`.io`)
// naming the call and the path, e.g. `rename failed: No space left on device`. glibc's structs (`stat`,
// `tm`) are read in the CSystemCalls shim, never from Swift (see its header for why).
enum MonitorSystemCalls {
    /// The current `errno` as an error naming the call and the path.
    static func failure(_ call: String, _ path: String) -> MonitorError {
        let code = errno
        return MonitorError(.io, path: path, reason: "\(call) failed: \(String(cString: strerror(code)))")
    }

    // MARK: - Descriptors

    /// Creates `path`, which must not exist, for writing.
    static func createExclusive(_ path: String, mode: UInt32 = 0o644) throws(MonitorError) -> Int32 {
        let descriptor = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, mode_t(mode))
        guard descriptor >= 0 else { throw failure("open", path) }
        return descriptor
    }

    /// Opens `path` read-only; `directory` opens a directory (to flush its entries).
    static func openForReading(_ path: String, directory: Bool = false) throws(MonitorError) -> Int32 {
        let descriptor = open(path, O_RDONLY | O_CLOEXEC | (directory ? O_DIRECTORY : 0))
        guard descriptor >= 0 else { throw failure("open", path) }
        return descriptor
    }

    /// Opens `path` read-only; `nil` when there is no such file.
    static func openForReadingIfPresent(_ path: String) throws(MonitorError) -> Int32? {
        let descriptor = open(path, O_RDONLY | O_CLOEXEC)
        if descriptor < 0 {
            if errno == ENOENT { return nil }
            throw failure("open", path)
        }
        return descriptor
    }

    static func closeDescriptor(_ descriptor: Int32) {
        _ = close(descriptor)
    }

    /// Reads up to `buffer.count` bytes, resuming after interruptions; 0 at the end of the file.
    static func readChunk(_ descriptor: Int32, into buffer: inout [UInt8], path: String) throws(MonitorError) -> Int {
        let count = retryingAfterInterrupts {
            buffer.withUnsafeMutableBytes { read(descriptor, $0.baseAddress, $0.count) }
        }
        guard count >= 0 else { throw failure("read", path) }
        return count
    }

    /// Writes all of `bytes`, resuming after short writes and interruptions; the error, if any (a value, not a
    /// throw, so it can leave a `withUnsafeBytes` closure with its type).
    static func writeAll(_ bytes: UnsafeRawBufferPointer, to descriptor: Int32, path: String) -> MonitorError? {
        var offset = 0
        while offset < bytes.count {
            let written = retryingAfterInterrupts {
                write(descriptor, bytes.baseAddress.map { $0 + offset }, bytes.count - offset)
            }
            if written < 0 { return failure("write", path) }
            offset += written
        }
        return nil
    }

    static func synchronize(_ descriptor: Int32, path: String) throws(MonitorError) {
        guard fsync(descriptor) == 0 else { throw failure("fsync", path) }
    }

    // MARK: - Names

    static func move(_ source: String, to destination: String) throws(MonitorError) {
        guard rename(source, destination) == 0 else { throw failure("rename", destination) }
    }

    /// Removes `path`; whether it did.
    @discardableResult
    static func remove(_ path: String) -> Bool { unlink(path) == 0 }

    /// Whether anything (a link, too) has the name `path`; `false` only for "no such file".
    static func exists(_ path: String) throws(MonitorError) -> Bool {
        var status = camwatch_file_status()
        guard camwatch_path_status(path, 0, &status) == 0 else {
            if errno == ENOENT { return false }
            throw failure("stat", path)
        }
        return true
    }

    /// Whether `path` names something reachable (`access(F_OK)`: through a symlink, to its target).
    static func isReachable(_ path: String) -> Bool { access(path, F_OK) == 0 }

    /// Whether `path` is a regular file itself (`lstat`: a symlink is not).
    static func isRegularFile(_ path: String) -> Bool {
        var status = camwatch_file_status()
        return camwatch_path_status(path, 0, &status) == 0 && status.is_regular_file != 0
    }

    /// The names in `directory` (`.` and `..` included, as `readdir` gives them); none when it cannot be read.
    static func names(in directory: String) -> [String] {
        guard let stream = opendir(directory) else { return [] }
        defer { closedir(stream) }
        var names: [String] = []
        while let entry = readdir(stream) {
            names.append(withUnsafeBytes(of: entry.pointee.d_name) { bytes in
                String(decoding: bytes.prefix(bytes.firstIndex(of: 0) ?? bytes.count), as: UTF8.self)
            })
        }
        return names
    }

    // MARK: - Process and time

    static var processID: Int32 { getpid() }

    /// `20250102T030405Z` for a Unix time (rounded down; a non-finite or unconvertible time is the epoch).
    static func utcStamp(_ seconds: Double) -> String {
        let whole = seconds.isFinite && abs(seconds) < 1e15 ? Int64(seconds.rounded(.down)) : 0
        var text = [CChar](repeating: 0, count: 32)
        guard camwatch_utc_stamp(whole, &text, text.count) == 0 || camwatch_utc_stamp(0, &text, text.count) == 0 else {
            return "19700101T000000Z"
        }
        return String(decoding: text.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self)
    }
}
