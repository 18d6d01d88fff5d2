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
    ///   - timeout: how long the child may take before it is killed and the file reported as damaged.
    ///   - priority: the CPU and I/O priority the child lowers itself to before reading.
    /// - Returns: what `CheckpointLoader.load` returns in the child.
    /// - Throws: `CheckpointError`: the child's own error, or `.damaged` when it crashed, hung or replied with
    ///   garbage, or `.unreadable` when it could not be started.
    public static func load(
        path: String, command: [String], format: String? = nil, allowNonFinite: Bool = false,
        timeout: Duration = .seconds(300), priority: ComputePriority = .normal
    ) throws -> Checkpoint {
        precondition(!command.isEmpty, "the child command is empty")
        let request = Request(
            path: path, format: format, allowNonFinite: allowNonFinite, priority: priority == .normal ? nil : priority)
        let output = try run(command, request: request, path: path, timeout: timeout)
        return try decodeReply(output, path: path)
    }

    /// The child side: loads the checkpoint named in `requestVariable` and writes the reply to standard
    /// output (the checkpoint, or the `CheckpointError`); returns the exit status to use (0 unless the
    /// request is missing or malformed).
    public static func serve() -> Int32 {
        serve(environment: ProcessInfo.processInfo.environment) { FileHandle.standardOutput.write(Data($0)) }
    }

    static func serve(environment: [String: String], write: ([UInt8]) -> Void) -> Int32 {
        guard let json = environment[requestVariable],
            let request = try? JSONDecoder().decode(Request.self, from: Data(json.utf8))
        else {
            FileHandle.standardError.write(Data("no checkpoint request in \(requestVariable)\n".utf8))
            return 2
        }
        // The child is single-threaded here, so lowering this thread lowers the whole reader.
        if let priority = request.priority { ComputeThreads.lowerCurrentThread(to: priority) }
        write(reply(for: request))
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
    }

    static let magic = Array("CAMWATCH-CHECKPOINT 1\n".utf8)

    /// The bytes `serve()` writes for a request: magic, header length (UInt64 LE), header JSON, tensor data.
    static func reply(for request: Request) -> [UInt8] {
        var header = Header()
        var data: [UInt8] = []
        do {
            let checkpoint = try CheckpointLoader.load(
                path: request.path, format: request.format, allowNonFinite: request.allowNonFinite)
            header.format = checkpoint.format
            header.storedTypes = checkpoint.storedTypes
            header.attributes = checkpoint.attributes
            header.skipped = checkpoint.skipped
            for name in checkpoint.tensors.keys.sorted() {
                guard let tensor = checkpoint.tensors[name] else { continue }
                header.tensors.append(.init(name: name, shape: tensor.shape))
                data.reserveCapacity(data.count + tensor.scalarCount * 4)
                for value in tensor.scalars {
                    withUnsafeBytes(of: value.bitPattern.littleEndian) { data.append(contentsOf: $0) }
                }
            }
        } catch let error as CheckpointError {
            header = Header(failure: .init(kind: "\(error.kind)", object: error.object, reason: error.reason))
            data = []
        } catch {
            header = Header(failure: .init(kind: "damaged", object: nil, reason: "\(error)"))
            data = []
        }
        let json = [UInt8]((try? JSONEncoder().encode(header)) ?? Data())
        var length = UInt64(json.count).littleEndian
        return magic + withUnsafeBytes(of: &length) { Array($0) } + json + data
    }

    static func decodeReply(_ bytes: [UInt8], path: String) throws(CheckpointError) -> Checkpoint {
        func garbage(_ what: String) -> CheckpointError {
            CheckpointError(
                .damaged, path: path, reason: "unreadable reply from the checkpoint reader process (\(what))")
        }
        guard bytes.starts(with: magic), bytes.count >= magic.count + 8 else { throw garbage("no header") }
        var length: UInt64 = 0
        for (shift, byte) in bytes[magic.count..<(magic.count + 8)].enumerated() {
            length |= UInt64(byte) << UInt64(8 * shift)
        }
        let start = magic.count + 8
        guard length <= UInt64(bytes.count - start) else { throw garbage("header cut short") }
        let headerEnd = start + Int(length)
        let header: Header
        do {
            header = try JSONDecoder().decode(Header.self, from: Data(bytes[start..<headerEnd]))
        } catch {
            throw garbage("bad header")
        }
        if let failure = header.failure {
            let kind = CheckpointError.Kind.allCases.first { "\($0)" == failure.kind } ?? .damaged
            throw CheckpointError(kind, path: path, object: failure.object, reason: failure.reason)
        }
        var tensors: [String: Tensor] = [:]
        var offset = headerEnd
        for entry in header.tensors {
            guard entry.shape.allSatisfy({ $0 >= 0 }) else { throw garbage("negative dimension") }
            let count = entry.shape.reduce(1) { $0.multipliedReportingOverflow(by: $1).partialValue }
            guard count >= 0, count <= (bytes.count - offset) / 4 else { throw garbage("tensor data cut short") }
            var scalars = [Float](repeating: 0, count: count)
            for i in 0..<count {
                let at = offset + 4 * i
                let bits =
                    UInt32(bytes[at]) | UInt32(bytes[at + 1]) << 8 | UInt32(bytes[at + 2]) << 16
                    | UInt32(bytes[at + 3]) << 24
                scalars[i] = Float(bitPattern: bits)
            }
            offset += 4 * count
            tensors[entry.name] = Tensor(shape: entry.shape, scalars: scalars)
        }
        guard offset == bytes.count else { throw garbage("trailing bytes") }
        return Checkpoint(
            path: path, format: header.format, tensors: tensors, storedTypes: header.storedTypes,
            attributes: header.attributes, skipped: header.skipped)
    }

    // MARK: - Running the child

    /// Bytes collected from the child's standard output on another thread.
    private final class Collected: Sendable {
        let bytes = Mutex<[UInt8]>([])
    }

    private static func run(
        _ command: [String], request: Request, path: String, timeout: Duration
    ) throws(CheckpointError) -> [UInt8] {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: command[0])
        process.arguments = Array(command.dropFirst())
        var environment = ProcessInfo.processInfo.environment
        environment[requestVariable] = String(decoding: (try? JSONEncoder().encode(request)) ?? Data(), as: UTF8.self)
        // A crash should end the child at once, not after the Swift runtime has printed a backtrace.
        environment["SWIFT_BACKTRACE"] = "enable=no"
        process.environment = environment
        let stdout = Pipe()
        process.standardOutput = stdout
        process.standardError = FileHandle.nullDevice
        process.standardInput = FileHandle.nullDevice

        let finished = DispatchSemaphore(value: 0)
        process.terminationHandler = { _ in finished.signal() }
        let collected = Collected()
        let drained = DispatchSemaphore(value: 0)
        let reader = stdout.fileHandleForReading
        do {
            try process.run()
        } catch {
            throw CheckpointError(
                .unreadable, path: path,
                reason: "cannot start the checkpoint reader process \(command[0]): \(error.localizedDescription)")
        }
        // Drain stdout concurrently: a child blocked on a full pipe would never exit.
        Thread.detachNewThread {
            let data = reader.readDataToEndOfFile()
            collected.bytes.withLock { $0 = [UInt8](data) }
            drained.signal()
        }
        let seconds = Double(timeout.components.seconds) + Double(timeout.components.attoseconds) * 1e-18
        if finished.wait(timeout: .now() + seconds) == .timedOut {
            kill(process.processIdentifier, SIGKILL)
            finished.wait()
            drained.wait()
            throw CheckpointError(
                .damaged, path: path,
                reason: "reading the file did not finish within \(formatted(seconds)) s "
                    + "(libhdf5 loops on some damaged files)")
        }
        drained.wait()
        if process.terminationReason == .uncaughtSignal {
            throw CheckpointError(
                .damaged, path: path,
                reason: "the checkpoint reader crashed (signal \(process.terminationStatus)): "
                    + "libhdf5 cannot parse this damaged file")
        }
        guard process.terminationStatus == 0 else {
            throw CheckpointError(
                .damaged, path: path,
                reason: "the checkpoint reader process failed (exit status \(process.terminationStatus))")
        }
        return collected.bytes.withLock { $0 }
    }

    private static func formatted(_ seconds: Double) -> String {
        seconds == seconds.rounded() ? "\(Int(seconds))" : "\(seconds)"
    }
}
