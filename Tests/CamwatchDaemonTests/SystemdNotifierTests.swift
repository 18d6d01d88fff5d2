import CamwatchTestSupport
import Foundation
import Glibc
import Testing

@testable import CamwatchDaemon

@Suite struct SystemdNotifierTests {
    /// A socket path in a fresh temporary directory, and a receiver bound to it.
    static func boundSocket() throws -> (directory: URL, path: String, receiver: DatagramReceiver) {
        let directory = try Fixtures.temporaryDirectory("camwatch-notify")
        let path = directory.appendingPathComponent("notify.sock").path
        let receiver = try #require(DatagramReceiver(address: path))
        return (directory, path, receiver)
    }

    @Test func sendsEachNotificationAsOneDatagram() throws {
        let (directory, path, receiver) = try Self.boundSocket()
        defer { try? FileManager.default.removeItem(at: directory) }
        let notifier = SystemdNotifier(environment: ["NOTIFY_SOCKET": path])
        #expect(notifier.isEnabled)
        #expect(notifier.socket == path)

        #expect(notifier.ready(status: "watching /srv/run7") == .sent)
        #expect(receiver.receive() == "READY=1\nSTATUS=watching /srv/run7\n")
        #expect(notifier.ready() == .sent)
        #expect(receiver.receive() == "READY=1\n")
        #expect(notifier.status("12 checkpoints;\nlast drift 0.031") == .sent)
        #expect(receiver.receive() == "STATUS=12 checkpoints; last drift 0.031\n")
        #expect(notifier.watchdog() == .sent)
        #expect(receiver.receive() == "WATCHDOG=1\n")
        #expect(notifier.stopping(status: "stopping") == .sent)
        #expect(receiver.receive() == "STATUS=stopping\nSTOPPING=1\n")
        #expect(notifier.send(["B": "2", "A": "1", "BAD=KEY": "x", "": "y", "C\nD": "z"]) == .sent)
        #expect(receiver.receive() == "A=1\nB=2\n")
    }

    @Test func reloadingCarriesTheMonotonicClock() throws {
        let (directory, path, receiver) = try Self.boundSocket()
        defer { try? FileManager.default.removeItem(at: directory) }
        // CLOCK_MONOTONIC through the system-call shim: glibc's timespec read from Swift belongs to whichever
        // Clang module imported it first, which changes between builds.
        let low = DaemonSystemCalls.monotonicMicroseconds()
        #expect(SystemdNotifier(environment: ["NOTIFY_SOCKET": path]).reloading() == .sent)
        let high = DaemonSystemCalls.monotonicMicroseconds()

        let lines = try #require(receiver.receive()).split(separator: "\n").map(String.init)
        #expect(lines.count == 2)
        #expect(lines.last == "RELOADING=1")
        let first = try #require(lines.first)
        #expect(first.hasPrefix("MONOTONIC_USEC="))
        let usec = try #require(Int64(first.dropFirst("MONOTONIC_USEC=".count)))
        #expect(low <= usec && usec <= high, "\(usec) not in \(low)...\(high)")
    }

    @Test func abstractSocket() throws {
        let name = "@camwatch-test-\(UUID().uuidString)"
        let receiver = try #require(DatagramReceiver(address: name))
        let notifier = SystemdNotifier(environment: ["NOTIFY_SOCKET": name])
        #expect(notifier.isEnabled)
        #expect(notifier.ready() == .sent)
        #expect(receiver.receive() == "READY=1\n")
        // `@` becomes the NUL byte that marks the abstract namespace; no terminating NUL is added.
        #expect(SystemdNotifier.socketAddress(name) == [0] + Array(name.utf8.dropFirst()))
    }

    @Test func withoutNotifySocketEverythingIsANoOp() {
        for environment in [[:], ["NOTIFY_SOCKET": ""]] {
            let notifier = SystemdNotifier(environment: environment)
            #expect(!notifier.isEnabled)
            #expect(notifier.ready() == .notConfigured)
            #expect(notifier.watchdog() == .notConfigured)
            #expect(notifier.reloading() == .notConfigured)
        }
        // Neither a path nor an abstract name (and too long for sun_path): ignored, not fatal.
        for value in ["relative/notify.sock", "@", "/" + String(repeating: "x", count: 200)] {
            let notifier = SystemdNotifier(environment: ["NOTIFY_SOCKET": value])
            #expect(!notifier.isEnabled, "\(value)")
            #expect(notifier.stopping() == .notConfigured)
        }
    }

    @Test func anUnreachableSocketIsReportedNotFatal() throws {
        let directory = try Fixtures.temporaryDirectory("camwatch-notify")
        defer { try? FileManager.default.removeItem(at: directory) }
        let notifier = SystemdNotifier(environment: ["NOTIFY_SOCKET": directory.path + "/nobody.sock"])
        guard case .failed(let reason) = notifier.ready() else {
            Issue.record("sending to a missing socket should fail")
            return
        }
        #expect(reason.contains("sendto(") && reason.contains("nobody.sock") && reason.contains("errno"))
    }

    @Test func watchdogIntervalIsHalfOfWatchdogUsec() {
        let pid = getpid()
        #expect(SystemdNotifier(environment: ["WATCHDOG_USEC": "30000000"]).watchdogInterval == .seconds(15))
        #expect(
            SystemdNotifier(environment: ["WATCHDOG_USEC": "1000001", "WATCHDOG_PID": "\(pid)"]).watchdogInterval
                == .nanoseconds(500_000_500))
        #expect(SystemdNotifier(environment: [:]).watchdogInterval == nil)
        for bad in ["0", "-5", "ten", ""] {
            #expect(SystemdNotifier(environment: ["WATCHDOG_USEC": bad]).watchdogInterval == nil, "\(bad)")
        }
    }

    @Test func watchdogMeantForAnotherProcessIsIgnored() {
        let other = getpid() + 1
        #expect(
            SystemdNotifier(environment: ["WATCHDOG_USEC": "30000000", "WATCHDOG_PID": "\(other)"]).watchdogInterval
                == nil)
        #expect(
            SystemdNotifier(environment: ["WATCHDOG_USEC": "30000000", "WATCHDOG_PID": "garbage"]).watchdogInterval
                == nil)
        #expect(SystemdNotifier.watchdogInterval(microseconds: "4000", pid: "77", ownPID: 77) == .milliseconds(2))
        #expect(SystemdNotifier.watchdogInterval(microseconds: "4000", pid: "78", ownPID: 77) == nil)
    }
}
