public import Foundation

/// A process the test starts and stops itself (a watcher, a simulated trainer), with its output in files.
/// Not `Sendable` (Foundation's `Process` is not): a test drives one instance from one task.
public final class BackgroundProcess {
    public let process = Process()
    public let stdoutURL: URL
    public let stderrURL: URL
    private let scratch: URL

    /// Starts `executable` (default: the camwatch binary) with `arguments`.
    public init(_ arguments: [String], executable: URL = CommandRunner.binary, environment: [String: String] = [:])
        throws
    {
        scratch = try Fixtures.temporaryDirectory("camwatch-bg")
        stdoutURL = scratch.appendingPathComponent("stdout")
        stderrURL = scratch.appendingPathComponent("stderr")
        _ = FileManager.default.createFile(atPath: stdoutURL.path, contents: nil)
        _ = FileManager.default.createFile(atPath: stderrURL.path, contents: nil)
        process.executableURL = executable
        process.arguments = arguments
        process.environment = ProcessInfo.processInfo.environment.merging(environment) { $1 }
        process.standardOutput = try FileHandle(forWritingTo: stdoutURL)
        process.standardError = try FileHandle(forWritingTo: stderrURL)
        process.standardInput = FileHandle.nullDevice
        try process.run()
    }

    deinit {
        if process.isRunning { kill(process.processIdentifier, SIGKILL) }
        try? FileManager.default.removeItem(at: scratch)
    }

    public var pid: Int32 { process.processIdentifier }
    public var stdout: String { (try? String(contentsOf: stdoutURL, encoding: .utf8)) ?? "" }
    public var stderr: String { (try? String(contentsOf: stderrURL, encoding: .utf8)) ?? "" }

    public func signal(_ signal: Int32) { kill(process.processIdentifier, signal) }

    /// Waits for the process to exit; `nil` when it is still running after `timeout` seconds.
    public func wait(timeout: Double) -> Int32? {
        let deadline = Date().addingTimeInterval(timeout)
        while process.isRunning && Date() < deadline { usleep(50_000) }
        if process.isRunning { return nil }
        return process.terminationStatus
    }

    /// Polls `condition` every 100 ms until it holds or `timeout` seconds pass.
    public static func eventually(timeout: Double, _ condition: () -> Bool) -> Bool {
        let deadline = Date().addingTimeInterval(timeout)
        while Date() < deadline {
            if condition() { return true }
            usleep(100_000)
        }
        return condition()
    }
}
