@testable import CamwatchDaemon
import Foundation
import Synchronization
import Testing

/// A pipeline starved of CPU (at `priority: idle` beside a trainer that keeps every core busy) is not a hung one:
/// while its threads wait on the run queue the watchdog keeps hearing from camwatch, though the heartbeat is stale.
@Suite struct WatchdogStarvationTests {
    /// `WATCHDOG_USEC` of 200 ms: a beat older than 200 ms is stale.
    static func heartbeat(_ socket: String, delay: @escaping @Sendable () -> UInt64?) -> WatchdogHeartbeat {
        let notifier = SystemdNotifier(environment: ["NOTIFY_SOCKET": socket, "WATCHDOG_USEC": "200000"])
        return WatchdogHeartbeat(notifier: notifier, runQueueDelay: delay)
    }

    static func line(_ receiver: DatagramReceiver, _ milliseconds: Int32) -> String? {
        receiver.receive(milliseconds: milliseconds)?.trimmingCharacters(in: .whitespacesAndNewlines)
    }

    static func socketPath(_ name: String) -> String {
        FileManager.default.temporaryDirectory.appendingPathComponent("camwatch-\(name)-\(getpid()).sock").path
    }

    @Test("a stale heartbeat pings while the run-queue delay grows with the clock, and not when it stands still")
    func starvationIsNotAHang() throws {
        let path = Self.socketPath("starved")
        defer { unlink(path) }
        let receiver = try #require(DatagramReceiver(address: path))
        // The fake delay: either keeps pace with the clock (runnable, no core) or stands still (asleep: a hang).
        let starved = Atomic<Bool>(true)
        let origin = ContinuousClock.now
        let frozen = Mutex<UInt64>(0)
        let heartbeat = Self.heartbeat(path) {
            let elapsed = ContinuousClock.now - origin
            let nanoseconds = UInt64(elapsed.components.seconds) * 1_000_000_000
                + UInt64(elapsed.components.attoseconds / 1_000_000_000)
            return frozen.withLock { value in
                if starved.load(ordering: .relaxed) { value = nanoseconds }
                return value
            }
        }
        heartbeat.beat()
        heartbeat.pingIfProgressing()
        #expect(Self.line(receiver, 500) == "WATCHDOG=1", "a fresh beat pings")

        Thread.sleep(forTimeInterval: 0.3)  // the beat is now stale
        heartbeat.pingIfProgressing()
        #expect(Self.line(receiver, 500) == "WATCHDOG=1", "starved the whole time since the last look: ping")

        starved.store(false, ordering: .relaxed)
        Thread.sleep(forTimeInterval: 0.3)
        heartbeat.pingIfProgressing()
        #expect(Self.line(receiver, 300) == nil, "no progress and no wait for a CPU: a hang, no ping")
    }

    @Test("without the kernel's run-queue figures a stale heartbeat never pings")
    func noSchedstatNoExcuse() throws {
        let path = Self.socketPath("nostat")
        defer { unlink(path) }
        let receiver = try #require(DatagramReceiver(address: path))
        let heartbeat = Self.heartbeat(path) { nil }
        heartbeat.beat()
        Thread.sleep(forTimeInterval: 0.3)
        heartbeat.pingIfProgressing()
        heartbeat.pingIfProgressing()
        #expect(Self.line(receiver, 300) == nil)
    }

    @Test("schedstat and stat lines parse; only SCHED_IDLE threads are counted")
    func readsSchedstat() {
        #expect(RunQueueDelay.parse("76904517 695023157 35\n") == 695_023_157)
        #expect(RunQueueDelay.parse("12") == nil)
        #expect(RunQueueDelay.parse("1 x 2") == nil)
        #expect(RunQueueDelay.total(taskDirectory: "/nonexistent") == nil)
        // A command name with spaces and a parenthesis; policy (field 41) 5 = SCHED_IDLE.
        let fields = (3...52).map { $0 == 41 ? "5" : "\($0)" }.joined(separator: " ")
        #expect(RunQueueDelay.policy("4242 (camwatch (x) y) " + fields) == 5)
        #expect(RunQueueDelay.policy("4242 (short) 1 2 3") == nil)
        if FileManager.default.fileExists(atPath: "/proc/self/schedstat") {
            let idle = Thread {
                var parameters = sched_param(sched_priority: 0)
                _ = sched_setscheduler(0, Int32(RunQueueDelay.idlePolicy), &parameters)
                Thread.sleep(forTimeInterval: 0.5)
            }
            idle.start()
            Thread.sleep(forTimeInterval: 0.2)
            #expect(RunQueueDelay.total() != nil, "an idle-class thread's run-queue delay is read")
        }
    }
}
