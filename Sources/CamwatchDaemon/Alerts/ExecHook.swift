import CamwatchCheckpoint
import CamwatchMonitor
import CamwatchTensor
import Foundation

/// Runs a user's program for each alert (docs/architecture.md §9.5): argv directly, no shell,
/// the alert in `CAMWATCH_*` environment variables and as JSON on stdin, killed after a timeout.
///
/// The program inherits the daemon's environment (less systemd's `NOTIFY_SOCKET`, `WATCHDOG_USEC` and
/// `WATCHDOG_PID`, which are the daemon's own) and its stderr; its stdout goes to stderr too, so both
/// land in the journal. It starts with default signal handling (see `ChildProcess`) in its own process
/// group, and on timeout the whole group gets `SIGTERM`, then `SIGKILL` a moment later. Nothing here
/// throws: the outcome says what happened and the caller logs it.
public struct ExecHook: Sendable {
    /// The `alerts.exec` section of the configuration file.
    public struct Configuration: Sendable, Equatable {
        /// argv: the program (an absolute path, or a name looked up in `PATH`) and its arguments.
        public var command: [String]
        /// How long the program may run before it is killed.
        public var timeout: Duration

        public init(command: [String], timeout: Duration = .seconds(10)) {
            self.command = command
            self.timeout = timeout
        }
    }

    /// How one run ended.
    public enum Outcome: Sendable, Equatable, CustomStringConvertible {
        /// The program exited with this status.
        case exited(Int32)
        /// The program was killed by this signal (not by us).
        case signaled(Int32)
        /// The program outlived the timeout and was killed.
        case timedOut(Duration)
        /// The program could not be started; the reason names the program.
        case couldNotStart(String)
        /// The calling task was cancelled (shutdown past its bound) and the program was killed.
        case cancelled

        /// Exit status 0.
        public var succeeded: Bool { self == .exited(0) }

        public var description: String {
            switch self {
            case .exited(let status): "exited with status \(status)"
            case .signaled(let signal): "killed by signal \(signal)"
            case .timedOut(let timeout): "timed out after \(ExecHook.seconds(timeout)) s and was killed"
            case .couldNotStart(let reason): "could not start: \(reason)"
            case .cancelled: "killed at shutdown"
            }
        }
    }

    public let configuration: Configuration
    /// How long a timed-out program has between `SIGTERM` and `SIGKILL`.
    let killGrace: Duration

    public init(_ configuration: Configuration) {
        self.init(configuration, killGrace: .seconds(2))
    }

    init(_ configuration: Configuration, killGrace: Duration) {
        self.configuration = configuration
        self.killGrace = killGrace
    }

    /// The `CAMWATCH_*` variables for `alert`; absent values are empty strings, so scripts under
    /// `set -u` still run.
    public static func environment(for alert: Alert) -> [String: String] {
        [
            "CAMWATCH_EVENT": alert.event.rawValue,
            "CAMWATCH_JOB": alert.job,
            "CAMWATCH_CHECKPOINT": DisplayText.escaped(alert.checkpoint),
            "CAMWATCH_CHECKPOINT_ID": alert.checkpointID,
            "CAMWATCH_STEP": alert.step.map(String.init) ?? "",
            "CAMWATCH_EPOCH": alert.epoch.map(String.init) ?? "",
            "CAMWATCH_DRIFT": alert.drift.map { "\($0)" } ?? "",
            "CAMWATCH_STATE": alert.state.rawValue,
            "CAMWATCH_MESSAGE": alert.message,
            "CAMWATCH_REPORT": alert.reportPath,
            "CAMWATCH_COUNT": String(alert.count),
        ]
    }

    /// Runs the program for `alert` and waits for it, at most `timeout` (plus the kill grace).
    ///
    /// Cancelling the calling task (shutdown past its bound) kills the program's group at once.
    public func run(_ alert: Alert) async -> Outcome {
        var environment = ProcessInfo.processInfo.environment
        for key in ["NOTIFY_SOCKET", "WATCHDOG_USEC", "WATCHDOG_PID"] { environment[key] = nil }
        environment.merge(Self.environment(for: alert)) { $1 }

        guard let program = configuration.command.first, !program.isEmpty else {
            return .couldNotStart("no command configured")
        }
        guard let executable = Self.resolve(program, searchPath: environment["PATH"]) else {
            return .couldNotStart("\(program): no such executable")
        }

        // stdin is an unlinked temporary file rather than a pipe (`ChildProcess.inputFile`).
        let input = ChildProcess.inputFile(alert.jsonBytes())
        defer { ChildProcess.close(input) }
        let process: ChildProcess
        switch ChildProcess.spawn(
            executable: executable, arguments: Array(configuration.command.dropFirst()), environment: environment,
            input: input, output: STDERR_FILENO, error: STDERR_FILENO, ownGroup: true)
        {
        case .success(let started): process = started
        case .failure(let failure): return .couldNotStart("\(executable): \(failure.reason)")
        }

        if let termination = await Self.waitForExit(process, within: configuration.timeout) {
            return Self.outcome(termination)
        }
        if Task.isCancelled {
            process.signal(SIGKILL)
            _ = await Self.waitForExit(process, within: .seconds(1), ignoringCancellation: true)
            return .cancelled
        }
        process.signal(SIGTERM)
        _ = await Self.waitForExit(process, within: killGrace)
        // Also when the program is gone: children that ignore SIGTERM may remain in its group.
        process.signal(SIGKILL)
        _ = await Self.waitForExit(process, within: .seconds(1))
        return .timedOut(configuration.timeout)
    }

    // MARK: - Helpers

    /// How the program ended, once it has within `limit`; `nil` on timeout or (unless
    /// `ignoringCancellation`) cancellation.
    ///
    /// Polls: a hook runs rarely and briefly, and reaping it here needs no SIGCHLD handler.
    static func waitForExit(
        _ process: ChildProcess, within limit: Duration, ignoringCancellation: Bool = false
    ) async -> ChildProcess.Termination? {
        let clock = ContinuousClock()
        let deadline = clock.now + limit
        while true {
            if let termination = process.poll() { return termination }
            guard clock.now < deadline else { return nil }
            if Task.isCancelled {
                guard ignoringCancellation else { return nil }
                usleep(10_000)
            } else {
                try? await Task.sleep(for: .milliseconds(10))
            }
        }
    }

    static func outcome(_ termination: ChildProcess.Termination) -> Outcome {
        switch termination {
        case .exited(let status): .exited(status)
        case .signaled(let signal): .signaled(signal)
        }
    }

    /// `program` itself when it contains a `/`, else the first executable match in `searchPath`.
    static func resolve(_ program: String, searchPath: String?) -> String? {
        if program.contains("/") {
            return ChildProcess.isExecutable(program) ? program : nil
        }
        for directory in (searchPath ?? "/usr/local/bin:/usr/bin:/bin").split(separator: ":") {
            let candidate = directory + "/" + program
            if case .success(let info) = DaemonSystemCalls.pathStatus(candidate), info.isRegularFile,
                ChildProcess.isExecutable(candidate)
            {
                return candidate
            }
        }
        return nil
    }

    static func seconds(_ duration: Duration) -> String {
        let value = duration.seconds
        return value == value.rounded() ? String(Int64(value)) : String(format: "%.3g", value)
    }
}
