import CamwatchHDF5
public import CamwatchTensor
import Foundation
import Synchronization

/// Loads a checkpoint in a child process, so that libhdf5 crashing or hanging on a damaged file cannot take
/// the caller down.
///
/// libhdf5 1.10.8 validates file metadata incompletely: in tests, about 1 in 250 single-bit flips of an h5py
/// checkpoint made it segfault or loop forever, all inside attribute and global-heap (string) metadata. No
/// in-process check can rule that out, so a long-running caller (the daemon) should parse untrusted files
/// through this type. The child is any command that ends up calling `CheckpointSubprocess.serve()`, e.g. a
/// hidden `camwatch` subcommand; the request travels in the environment variable `requestVariable`, the
/// reply on the child's standard output.
public enum CheckpointSubprocess {
    /// The environment variable that carries the request (JSON) to the child.
    public static let requestVariable = "CAMWATCH_CHECKPOINT_REQUEST"

    /// Loads `path` by running `command` (executable path first, then arguments) as a child process.
    ///
    /// - Parameters:
    ///   - path: the checkpoint file.
    ///   - command: the child, e.g. `["/usr/bin/camwatch", "load-checkpoint-child"]`.
    ///   - format: as `CheckpointLoader.load(path:format:allowNonFinite:)`.
    ///   - allowNonFinite: as `CheckpointLoader.load(path:format:allowNonFinite:)`.
    ///   - timeout: how long the child may take before it is killed (`.readerFailed`). Generous: at
    ///     `resources.priority` idle a busy trainer can starve the reader for minutes.
    ///   - priority: the CPU and I/O priority the child lowers itself to before reading.
    ///   - heartbeatInterval: how often `heartbeat` is called while the child runs.
    ///   - heartbeat: called every `heartbeatInterval` while waiting, so a caller under a watchdog (systemd's
    ///     `WatchdogSec=` is shorter than `timeout`) can show it is alive.
    /// - Returns: what `CheckpointLoader.load` returns in the child.
    /// - Throws: `CheckpointError`: the child's own error (a verdict on the file), or `.readerFailed` when the
    ///   child could not start, crashed, was killed, hung or replied with garbage (worth retrying), or
    ///   `.damaged` when it used up its CPU time (libhdf5 looping on a damaged file).
    public static func load(
        path: String, command: [String], format: String? = nil, allowNonFinite: Bool = false,
        timeout: Duration = .seconds(300), priority: ComputePriority = .normal,
        heartbeatInterval: Duration = .seconds(5), heartbeat: (@Sendable () -> Void)? = nil
    ) throws(CheckpointError) -> Checkpoint {
        precondition(!command.isEmpty, "the child command is empty")
        let request = Request(
            path: path, format: format, allowNonFinite: allowNonFinite, priority: priority == .normal ? nil : priority)
        return try run(
            command, request: request, path: path, timeout: timeout,
            heartbeat: heartbeat.map { (heartbeatInterval, $0) })
    }

    /// The child side: loads the checkpoint named in `requestVariable` and writes the reply to standard
    /// output (the checkpoint, or the `CheckpointError`); returns the exit status to use (0 unless the
    /// request is missing or malformed). Before reading, the process limits its own memory and CPU time
    /// (`ReaderLimits`), so even libhdf5's own allocations and loops stay bounded.
    public static func serve() -> Int32 {
        serve(environment: ProcessInfo.processInfo.environment, limitsProcess: true) {
            // Straight from the tensor's storage: no copy on the way to the pipe.
            try? FileHandle.standardOutput.write(contentsOf: $0)
        }
    }

    static func serve(
        environment: [String: String], limitsProcess: Bool = false, write: (UnsafeRawBufferPointer) -> Void
    ) -> Int32 {
        guard let json = environment[requestVariable],
            let request = try? JSONDecoder().decode(Request.self, from: Data(json.utf8))
        else {
            FileHandle.standardError.write(Data("no checkpoint request in \(requestVariable)\n".utf8))
            return 2
        }
        if limitsProcess {
            let size = (try? FileManager.default.attributesOfItem(atPath: request.path)[.size] as? NSNumber)?.int64Value
            ReaderLimits.apply(fileSize: size ?? 0)
        }
        // The child is single-threaded here, so lowering this thread lowers the whole reader.
        if let priority = request.priority { ComputeThreads.lowerCurrentThread(to: priority) }
        reply(for: request, write: write)
        return 0
    }

    // MARK: - Protocol

    struct Request: Codable {
        var path: String
        var format: String?
        var allowNonFinite: Bool
        var priority: ComputePriority? = nil
    }

    /// The reply's header; float32 little-endian tensor data follows in `tensors` order.
    struct Header: Codable {
        struct TensorEntry: Codable {
            var name: String
            var shape: [Int]
        }
        struct Failure: Codable {
            var kind: String
            var object: String?
            var reason: String
        }
        var failure: Failure?
        var format: String = ""
        var tensors: [TensorEntry] = []
        var storedTypes: [String: String] = [:]
        var attributes: [String: CheckpointAttribute] = [:]
        var skipped: [String: String] = [:]
        /// Optional in the JSON: a header without it is still a header.
        var notes: [String]?
    }

    static let magic = Array("CAMWATCH-CHECKPOINT 1\n".utf8)

    /// How the reply's JSON spells non-finite numbers: a metric attribute such as `val_loss = nan` is a fact
    /// about training, and plain JSON has no NaN.
    static let nonFinite = (positiveInfinity: "inf", negativeInfinity: "-inf", nan: "nan")

    /// The bytes `serve()` writes for a request: magic, header length (UInt64 LE), header JSON, tensor data.
    static func reply(for request: Request) -> [UInt8] {
        var bytes: [UInt8] = []
        reply(for: request) { bytes += $0 }
        return bytes
    }

    /// Writes the reply in pieces, one tensor at a time, so the reader never holds a second copy of every
    /// tensor.
    static func reply(for request: Request, write: (UnsafeRawBufferPointer) -> Void) {
        var header = Header()
        var tensors: [Tensor] = []
        do {
            let checkpoint = try CheckpointLoader.load(
                path: request.path, format: request.format, allowNonFinite: request.allowNonFinite)
            header.format = checkpoint.format
            header.storedTypes = checkpoint.storedTypes
            header.attributes = checkpoint.attributes
            header.skipped = checkpoint.skipped
            header.notes = checkpoint.notes
            for name in checkpoint.tensors.keys.sorted() {
                guard let tensor = checkpoint.tensors[name] else { continue }
                header.tensors.append(.init(name: name, shape: tensor.shape))
                tensors.append(tensor)
            }
        } catch let error as CheckpointError {
            header = Header(failure: .init(kind: "\(error.kind)", object: error.object, reason: error.reason))
            tensors = []
        } catch {
            header = Header(failure: .init(kind: "damaged", object: nil, reason: "\(error)"))
            tensors = []
        }
        let encoder = JSONEncoder()
        encoder.nonConformingFloatEncodingStrategy = .convertToString(
            positiveInfinity: nonFinite.positiveInfinity, negativeInfinity: nonFinite.negativeInfinity,
            nan: nonFinite.nan)
        let json = [UInt8]((try? encoder.encode(header)) ?? Data())
        var length = UInt64(json.count).littleEndian
        (magic + withUnsafeBytes(of: &length) { Array($0) } + json).withUnsafeBytes { write($0) }
        for tensor in tensors {
            #if _endian(little)
                tensor.scalars.withUnsafeBytes { write($0) }
            #else
                tensor.scalars.map { $0.bitPattern.littleEndian }.withUnsafeBytes { write($0) }
            #endif
        }
    }

    /// Decodes a whole reply held in memory (tests, and replies saved for them).
    static func decodeReply(_ bytes: [UInt8], path: String) throws(CheckpointError) -> Checkpoint {
        var offset = 0
        return try decodeReply(path: path) { destination in
            let count = min(destination.count, bytes.count - offset)
            bytes.withUnsafeBytes { source in
                destination.copyMemory(from: UnsafeRawBufferPointer(rebasing: source[offset..<(offset + count)]))
            }
            offset += count
            return count
        }
    }

    /// Decodes a reply as it arrives from `read` (which fills the front of a buffer and returns how many bytes
    /// it wrote, 0 at the end), each tensor's data read straight into the tensor's own storage: the reader
    /// never holds the reply and the tensors at once (for vgg16, 528 MB that would otherwise be the run's
    /// peak memory).
    static func decodeReply(
        path: String, read: (UnsafeMutableRawBufferPointer) -> Int
    ) throws(CheckpointError) -> Checkpoint {
        func garbage(_ what: String) -> CheckpointError {
            CheckpointError(
                .readerFailed, path: path, reason: "unreadable reply from the checkpoint reader process (\(what))")
        }
        /// Fills `buffer` completely; false when the reply ends first.
        func fill(_ buffer: UnsafeMutableRawBufferPointer) -> Bool {
            var done = 0
            while done < buffer.count {
                let count = read(UnsafeMutableRawBufferPointer(rebasing: buffer[done...]))
                guard count > 0 else { return false }
                done += count
            }
            return true
        }
        var prefix = [UInt8](repeating: 0, count: magic.count + 8)
        guard prefix.withUnsafeMutableBytes(fill), prefix.starts(with: magic) else { throw garbage("no header") }
        var length: UInt64 = 0
        for (shift, byte) in prefix[magic.count...].enumerated() { length |= UInt64(byte) << UInt64(8 * shift) }
        // Grown as it arrives, so a damaged length costs what was sent, not what it claims.
        var json: [UInt8] = []
        while UInt64(json.count) < length {
            var chunk = [UInt8](repeating: 0, count: Int(min(length - UInt64(json.count), 1 << 20)))
            guard chunk.withUnsafeMutableBytes(fill) else { throw garbage("header cut short") }
            json += chunk
        }
        let header: Header
        do {
            let decoder = JSONDecoder()
            decoder.nonConformingFloatDecodingStrategy = .convertFromString(
                positiveInfinity: nonFinite.positiveInfinity, negativeInfinity: nonFinite.negativeInfinity,
                nan: nonFinite.nan)
            header = try decoder.decode(Header.self, from: Data(json))
        } catch {
            throw garbage("bad header")
        }
        if let failure = header.failure {
            let kind = CheckpointError.Kind.allCases.first { "\($0)" == failure.kind } ?? .damaged
            throw CheckpointError(kind, path: path, object: failure.object, reason: failure.reason)
        }
        // What the child may send is what CheckpointLoader reads at most: a damaged header cannot make this
        // side allocate more.
        var counts: [Int] = []
        var total = 0
        for entry in header.tensors {
            guard entry.shape.allSatisfy({ $0 >= 0 }),
                let count = HDF5File.elementCount(entry.shape, atMost: CheckpointLoader.maximumElements - total)
            else { throw garbage("tensor shapes beyond the reader's limit") }
            total += count
            counts.append(count)
        }
        var tensors: [String: Tensor] = [:]
        for (entry, count) in zip(header.tensors, counts) {
            var complete = false
            var scalars = [Float](unsafeUninitializedCapacity: count) { buffer, initialized in
                // The wire format is the machine's byte order on little-endian machines: no conversion.
                complete = fill(UnsafeMutableRawBufferPointer(buffer))
                initialized = count
            }
            guard complete else { throw garbage("tensor data cut short") }
            #if !_endian(little)
                for i in scalars.indices { scalars[i] = Float(bitPattern: UInt32(littleEndian: scalars[i].bitPattern)) }
            #endif
            tensors[entry.name] = Tensor(shape: entry.shape, scalars: scalars)
        }
        var extra: UInt8 = 0
        guard withUnsafeMutableBytes(of: &extra, { read($0) }) == 0 else { throw garbage("trailing bytes") }
        return Checkpoint(
            path: path, format: header.format, tensors: tensors, storedTypes: header.storedTypes,
            attributes: header.attributes, skipped: header.skipped, notes: header.notes ?? [])
    }

    // MARK: - Running the child

    /// The reply decoded from the child's standard output on another thread.
    private final class Collected: Sendable {
        let reply = Mutex<Result<Checkpoint, CheckpointError>?>(nil)
    }

    private static func run(
        _ command: [String], request: Request, path: String, timeout: Duration,
        heartbeat: (interval: Duration, beat: @Sendable () -> Void)?
    ) throws(CheckpointError) -> Checkpoint {
        var environment = ProcessInfo.processInfo.environment
        environment[requestVariable] = String(decoding: (try? JSONEncoder().encode(request)) ?? Data(), as: UTF8.self)
        // A crash should end the child at once, not after the Swift runtime has printed a backtrace.
        environment["SWIFT_BACKTRACE"] = "enable=no"
        func cannotStart(_ reason: String) -> CheckpointError {
            CheckpointError(.readerFailed, path: path, reason: "cannot start the checkpoint reader process \(command[0]): \(reason)")
        }
        // Every descriptor opened here is closed here: one left open per checkpoint once exhausted the daemon's.
        let pipe: (read: Int32, write: Int32)
        switch ChildProcess.makePipe() {
        case .success(let ends): pipe = ends
        case .failure(let failure): throw cannotStart(failure.reason)
        }
        defer { ChildProcess.close(pipe.read) }
        let null = (input: ChildProcess.nullDevice(forWriting: false), error: ChildProcess.nullDevice(forWriting: true))
        defer {
            ChildProcess.close(null.input)
            ChildProcess.close(null.error)
        }
        // The reader stays in camwatch's process group: a Ctrl-C at the terminal stops it with camwatch.
        let started = ChildProcess.spawn(
            executable: command[0], arguments: Array(command.dropFirst()), environment: environment,
            input: null.input, output: pipe.write, error: null.error, ownGroup: false)
        // The child holds its own copy of the write end; with ours open, reading would never reach end-of-file.
        ChildProcess.close(pipe.write)
        let process: ChildProcess
        switch started {
        case .success(let child): process = child
        case .failure(let failure): throw cannotStart(failure.reason)
        }
        // Decode stdout concurrently, and read it to the end even after a bad reply: a child blocked on a full
        // pipe would never exit.
        let collected = Collected()
        let drained = DispatchSemaphore(value: 0)
        let reader = pipe.read
        Thread.detachNewThread {
            let reply = Result { () throws(CheckpointError) in
                try decodeReply(path: path) { ChildProcess.read(reader, into: $0) }
            }
            ChildProcess.discardToEnd(reader)
            collected.reply.withLock { $0 = reply }
            drained.signal()
        }
        guard let termination = process.wait(within: timeout, heartbeat: heartbeat) else {
            process.signal(SIGKILL)
            _ = process.wait()
            drained.wait()
            throw CheckpointError(
                .readerFailed, path: path,
                reason: "reading the file did not finish within \(formatted(timeout.seconds)) s (a busy machine "
                    + "starving the reader, or libhdf5 looping on a damaged file)")
        }
        drained.wait()
        switch termination {
        case .signaled(let signal): throw signalError(signal, path: path)
        case .exited(let status) where status != 0:
            throw CheckpointError(
                .readerFailed, path: path, reason: "the checkpoint reader process failed (exit status \(status))")
        case .exited:
            guard let reply = collected.reply.withLock({ $0 }) else { preconditionFailure("the reader thread ended without a reply") }
            return try reply.get()
        }
    }

    /// The error for a child ended by `signal`: running out of its CPU time is a verdict on the file (libhdf5
    /// looping), anything else a failure of the reader.
    private static func signalError(_ signal: Int32, path: String) -> CheckpointError {
        switch signal {
        case SIGXCPU:
            return CheckpointError(
                .damaged, path: path,
                reason: "reading the file used up the reader's \(ReaderLimits.cpuSeconds) CPU seconds "
                    + "(libhdf5 loops on some damaged files)")
        case SIGKILL:
            return CheckpointError(
                .readerFailed, path: path,
                reason: "the checkpoint reader was killed (signal 9, SIGKILL: out of memory, or killed from outside)")
        default:
            let name = signalNames[signal].map { ", \($0)" } ?? ""
            return CheckpointError(
                .readerFailed, path: path,
                reason: "the checkpoint reader crashed (signal \(signal)\(name); libhdf5 crashes on some damaged files)")
        }
    }

    private static let signalNames: [Int32: String] = [
        SIGILL: "SIGILL", SIGTRAP: "SIGTRAP", SIGABRT: "SIGABRT", SIGBUS: "SIGBUS", SIGFPE: "SIGFPE",
        SIGSEGV: "SIGSEGV", SIGTERM: "SIGTERM",
    ]

    private static func formatted(_ seconds: Double) -> String {
        seconds == seconds.rounded() ? "\(Int(seconds))" : "\(seconds)"
    }
}
