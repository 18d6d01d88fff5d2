import Foundation
public import Logging

/// The `sd_notify` protocol without libsystemd (docs/architecture.md §9.4).
///
/// Under a `Type=notify` unit systemd sets `NOTIFY_SOCKET` to an `AF_UNIX` datagram socket (a path, or
/// `@name` in the abstract namespace); each notification is one datagram of newline-separated
/// `KEY=VALUE` lines. Outside systemd the variable is unset and every call does nothing.
///
/// Notifying never fails the daemon: a failed send is logged (when a logger was given) and returned
/// as `.failed`, and sends never block (`MSG_DONTWAIT`: a full queue drops the datagram).
public struct SystemdNotifier: Sendable {
    /// What became of one notification.
    public enum Outcome: Sendable, Equatable {
        /// The datagram went out.
        case sent
        /// `NOTIFY_SOCKET` is unset (not running under systemd): nothing to do.
        case notConfigured
        /// The socket could not be reached; the reason names the failing call and `errno`.
        case failed(String)
    }

    /// `NOTIFY_SOCKET` as given, `nil` when unset or unusable.
    public let socket: String?
    /// How often to send `WATCHDOG=1`: half of `WATCHDOG_USEC`, `nil` when the unit has no
    /// `WatchdogSec=` or the watchdog is meant for another process (`WATCHDOG_PID` ≠ our pid).
    public let watchdogInterval: Duration?

    /// The socket address bytes for `sun_path` (abstract names start with a NUL byte).
    let address: [UInt8]?
    let logger: Logger?

    /// Reads `NOTIFY_SOCKET`, `WATCHDOG_USEC` and `WATCHDOG_PID`.
    ///
    /// - Parameters:
    ///   - environment: the variables to read; `nil` reads this process's environment.
    ///   - logger: where a failed send or an unusable `NOTIFY_SOCKET` is reported; `nil` reports nothing.
    public init(environment: [String: String]? = nil, logger: Logger? = nil) {
        let environment = environment ?? ProcessInfo.processInfo.environment
        self.logger = logger
        let value = environment["NOTIFY_SOCKET"].flatMap { $0.isEmpty ? nil : $0 }
        if let value, let address = Self.socketAddress(value) {
            socket = value
            self.address = address
        } else {
            if let value {
                logger?.warning(
                    "NOTIFY_SOCKET is neither a path nor an abstract socket name; systemd notifications are off",
                    metadata: ["systemd.notify_socket": "\(value)"])
            }
            socket = nil
            address = nil
        }
        watchdogInterval = Self.watchdogInterval(
            microseconds: environment["WATCHDOG_USEC"], pid: environment["WATCHDOG_PID"], ownPID: getpid())
    }

    /// Whether notifications go anywhere (`NOTIFY_SOCKET` set and usable).
    public var isEnabled: Bool { address != nil }

    /// Sends one notification with these assignments (`["READY": "1", "STATUS": "…"]`).
    ///
    /// Keys are sent in sorted order; a key that is empty or contains `=` or a newline is dropped, and
    /// newlines in values become spaces (each assignment is one line of the datagram).
    @discardableResult
    public func send(_ assignments: [String: String]) -> Outcome {
        guard let address else { return .notConfigured }
        var payload = ""
        for key in assignments.keys.sorted() {
            guard !key.isEmpty, !key.contains(where: { $0 == "=" || $0.isNewline }), let value = assignments[key]
            else { continue }
            payload += key + "=" + Self.oneLine(value) + "\n"
        }
        if let failure = DaemonSystemCalls.sendDatagram(Array(payload.utf8), to: address) {
            logger?.warning(
                "cannot notify systemd: \(failure)",
                metadata: ["systemd.notify_socket": "\(socket ?? "")"])
            return .failed(failure.description)
        }
        return .sent
    }

    /// `READY=1`: startup (or a reload) is complete; with an optional `STATUS=` line.
    @discardableResult
    public func ready(status: String? = nil) -> Outcome {
        var assignments = ["READY": "1"]
        if let status { assignments["STATUS"] = status }
        return send(assignments)
    }

    /// `STATUS=<line>`: the one line `systemctl status` shows.
    @discardableResult
    public func status(_ line: String) -> Outcome {
        send(["STATUS": line])
    }

    /// `WATCHDOG=1`: the main loop is alive. Send it every `watchdogInterval`.
    @discardableResult
    public func watchdog() -> Outcome {
        send(["WATCHDOG": "1"])
    }

    /// `STOPPING=1`: graceful shutdown has begun; with an optional `STATUS=` line.
    @discardableResult
    public func stopping(status: String? = nil) -> Outcome {
        var assignments = ["STOPPING": "1"]
        if let status { assignments["STATUS"] = status }
        return send(assignments)
    }

    /// `RELOADING=1` with `MONOTONIC_USEC=<CLOCK_MONOTONIC in µs>`: a reload has begun; send `ready()`
    /// when it is done.
    @discardableResult
    public func reloading() -> Outcome {
        send(["RELOADING": "1", "MONOTONIC_USEC": "\(DaemonSystemCalls.monotonicMicroseconds())"])
    }

    // MARK: - Parsing

    /// `sun_path` bytes for a `NOTIFY_SOCKET` value: an absolute path, or `@name` for the abstract
    /// namespace (the `@` becomes a NUL byte); `nil` for anything else or a name too long for `sun_path`.
    static func socketAddress(_ value: String) -> [UInt8]? {
        var bytes = Array(value.utf8)
        switch bytes.first {
        case UInt8(ascii: "/"):
            // A path needs its terminating NUL inside sun_path.
            guard !bytes.contains(0), bytes.count < DaemonSystemCalls.socketPathCapacity else { return nil }
        case UInt8(ascii: "@"):
            guard bytes.count > 1, bytes.count <= DaemonSystemCalls.socketPathCapacity else { return nil }
            bytes[0] = 0
        default:
            return nil
        }
        return bytes
    }

    /// Half of `WATCHDOG_USEC`, if it is a positive integer and `WATCHDOG_PID` is unset or `ownPID`.
    static func watchdogInterval(microseconds: String?, pid: String?, ownPID: pid_t) -> Duration? {
        guard let microseconds, let usec = Int64(microseconds), usec > 0 else { return nil }
        if let pid, !pid.isEmpty {
            guard let watched = Int64(pid), watched == Int64(ownPID) else { return nil }
        }
        return .microseconds(usec) / 2
    }

    static func oneLine(_ value: String) -> String {
        String(value.map { $0.isNewline ? " " : $0 })
    }
}
