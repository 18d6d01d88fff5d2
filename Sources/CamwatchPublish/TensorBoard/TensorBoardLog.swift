import CamwatchTensor
import Foundation
import SwiftProtobuf

#if canImport(Glibc)
    import Glibc
#elseif canImport(Darwin)
    import Darwin
#endif

/// camwatch's event files in a TensorBoard log directory, appended to checkpoint by checkpoint.
///
/// camwatch writes only files named `events.out.tfevents.<unix time>.<host>.<pid>.camwatch` and never
/// touches others (the trainer's own event files may share the directory). `open` reads camwatch's files
/// back: the steps they hold are never written again, which makes a restarted watcher resume-safe. A record
/// torn by a crash at the end of a file is cut off first, so TensorBoard's reader never stops at it.
/// Appends go to the newest of camwatch's files (a new one, beginning with the `file_version` record, when
/// there is none); each append is one `write` followed by `fsync`, and a failed append is truncated away.
public struct TensorBoardLog: Sendable {
    /// The end of camwatch's event file names.
    public static let fileSuffix = ".camwatch"
    /// The first record of every event file.
    static let fileVersion = "brain.Event:2"

    /// The log directory (`tensorboard --logdir` points here or above).
    public let directory: String
    /// Steps that already have camwatch's summaries.
    public private(set) var writtenSteps: Set<Int64>
    /// The file appends go to; `nil` until the first append when there was none.
    public private(set) var file: String?
    /// Files whose torn last record `open` cut off, with the number of bytes removed.
    public private(set) var repairs: [(path: String, bytes: Int)] = []

    /// Opens (creating it if needed) the log directory and reads camwatch's event files in it.
    /// - Throws: `PublishError` when the directory cannot be created or listed, or an event file cannot be
    ///   read or repaired.
    public static func open(directory: String) throws(PublishError) -> TensorBoardLog {
        do {
            try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        } catch {
            throw PublishError(path: directory, reason: "cannot create the TensorBoard directory: \(reason(error))")
        }
        let names: [String]
        do { names = try FileManager.default.contentsOfDirectory(atPath: directory) } catch {
            throw PublishError(path: directory, reason: "cannot list the TensorBoard directory: \(reason(error))")
        }
        let ours = names.filter { $0.contains("tfevents") && $0.hasSuffix(fileSuffix) && !$0.hasPrefix(".") }.sorted()
        var log = TensorBoardLog(directory: directory, writtenSteps: [], file: nil)
        for name in ours {
            let path = log.path(name)
            let bytes = try read(path)
            let (records, validEnd) = TFRecord.records(in: bytes)
            for record in records {
                guard let event = try? Tensorboard_Event(serializedBytes: Array(record.data)) else { continue }
                if case .summary? = event.what { log.writtenSteps.insert(event.step) }
            }
            if validEnd < bytes.count {
                guard truncate(path, off_t(validEnd)) == 0 else { throw systemError("truncate", path) }
                log.repairs.append((path, bytes.count - validEnd))
            }
            log.file = path
        }
        return log
    }

    private init(directory: String, writtenSteps: Set<Int64>, file: String?) {
        self.directory = directory
        self.writtenSteps = writtenSteps
        self.file = file
    }

    /// Appends `events` (each with a summary) as records and remembers their steps.
    /// - Parameter now: Unix seconds, for the name and `file_version` record of a new file.
    /// - Throws: `PublishError` naming the failing call; the file is then as it was before.
    mutating func append(_ events: [Tensorboard_Event], now: Double) throws(PublishError) {
        guard !events.isEmpty else { return }
        var bytes: [UInt8] = []
        for event in events { bytes += try Self.record(event, path: directory) }
        let path: String
        let fd: Int32
        if let file {
            path = file
            fd = openFile(path, O_WRONLY | O_APPEND | O_CLOEXEC)
            guard fd >= 0 else { throw Self.systemError("open", path) }
        } else {
            path = self.path(Self.newFileName(now: now))
            fd = openFile(path, O_WRONLY | O_APPEND | O_CREAT | O_EXCL | O_CLOEXEC, 0o644)
            guard fd >= 0 else { throw Self.systemError("open", path) }
            var version = Tensorboard_Event()
            version.wallTime = now
            version.fileVersion = Self.fileVersion
            do throws(PublishError) { bytes = try Self.record(version, path: path) + bytes } catch {
                close(fd)
                throw error
            }
        }
        defer { close(fd) }
        let start = lseek(fd, 0, SEEK_END)
        guard start >= 0 else { throw Self.systemError("lseek", path) }
        do throws(PublishError) {
            var offset = 0
            while offset < bytes.count {
                let written = retryingAfterInterrupts {
                    bytes.withUnsafeBytes { raw in write(fd, raw.baseAddress.map { $0 + offset }, raw.count - offset) }
                }
                if written < 0 { throw Self.systemError("write", path) }
                offset += written
            }
            guard fsync(fd) == 0 else { throw Self.systemError("fsync", path) }
        } catch {
            // No torn record may stay behind: TensorBoard's reader would stop there.
            _ = ftruncate(fd, start)
            throw error
        }
        if file == nil {
            file = path
            Self.syncDirectory(directory)
        }
        for event in events { writtenSteps.insert(event.step) }
    }

    /// `event` as one TFRecord.
    static func record(_ event: Tensorboard_Event, path: String) throws(PublishError) -> [UInt8] {
        do { return TFRecord.frame(try event.serializedBytes()) } catch {
            throw PublishError(path: path, context: "cannot encode an event", cause: ErrorCause(error))
        }
    }

    /// Every event in the event file at `path` (for tests and tools).
    /// - Throws: `PublishError` when the file cannot be read or holds a record that is not an event.
    static func events(inFile path: String) throws(PublishError) -> [Tensorboard_Event] {
        var events: [Tensorboard_Event] = []
        for record in TFRecord.records(in: try read(path)).records {
            do { events.append(try Tensorboard_Event(serializedBytes: Array(record.data))) } catch {
                throw PublishError(path: path, context: "a record is not an Event", cause: ErrorCause(error))
            }
        }
        return events
    }

    /// `events.out.tfevents.<unix time>.<host>.<pid>.camwatch`, the pattern TensorFlow's writers use plus
    /// camwatch's suffix.
    static func newFileName(now: Double) -> String {
        var host = [CChar](repeating: 0, count: 256)
        let name =
            gethostname(&host, host.count - 1) == 0
            ? String(decoding: host.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self) : "localhost"
        let seconds = now.isFinite ? Int64(now.rounded(.down)) : 0
        return "events.out.tfevents.\(seconds).\(name.isEmpty ? "localhost" : name).\(getpid())\(fileSuffix)"
    }

    private func path(_ name: String) -> String {
        (directory.hasSuffix("/") ? directory : directory + "/") + name
    }

    private static func read(_ path: String) throws(PublishError) -> [UInt8] {
        guard let data = FileManager.default.contents(atPath: path) else {
            throw PublishError(path: path, reason: "cannot read the event file")
        }
        return [UInt8](data)
    }

    private static func syncDirectory(_ path: String) {
        let fd = openFile(path, O_RDONLY | O_DIRECTORY | O_CLOEXEC)
        guard fd >= 0 else { return }
        _ = fsync(fd)
        close(fd)
    }

    private static func systemError(_ call: String, _ path: String) -> PublishError {
        PublishError(path: path, reason: "\(call) failed: \(String(cString: strerror(errno)))")
    }

    private static func reason(_ error: any Error) -> String {
        (error as NSError).localizedDescription
    }
}

/// `open(2)`; outside the type, whose own `open` would shadow it.
private func openFile(_ path: String, _ flags: Int32, _ mode: mode_t = 0) -> Int32 {
    open(path, flags, mode)
}
