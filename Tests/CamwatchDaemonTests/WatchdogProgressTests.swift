@testable import CamwatchDaemon
import CamwatchTensor
import CamwatchTestSupport
import Dispatch
import Foundation
import Synchronization
import Testing

/// The systemd watchdog hears from the pipeline's progress, not from a timer: while checkpoints are processed
/// `WATCHDOG=1` keeps coming, and when a stage hangs (here an output write that never returns) the pings stop,
/// so systemd restarts the service. The service is the real one, reading real checkpoints through the real
/// reader child, and notifying a datagram socket this test listens on.
@Suite(.realTime, .serialized) struct WatchdogProgressTests {
    /// `WATCHDOG_USEC`: pings every 1.25 s, a hang is one without a ping for 5 s (long enough for a debug-build
    /// Score-CAM batch beside the other tests).
    static let period: Duration = .seconds(5)

    @Test("WATCHDOG=1 keeps coming while checkpoints are processed and stops while an output write hangs")
    func pingsFollowProgress() async throws {
        let scratch = try ServiceScratch("camwatch-watchdog", samples: ["epoch-001.h5", "epoch-002.h5"])
        defer { scratch.remove() }
        var prepared = try scratch.prepare()
        let stall = OutputStall()
        prepared.beforeOutputs = { stall.pass() }
        let socket = scratch.root.appendingPathComponent("notify.sock").path
        let receiver = try #require(DatagramReceiver(address: socket))
        let notifier = SystemdNotifier(
            environment: ["NOTIFY_SOCKET": socket, "WATCHDOG_USEC": "\(Self.period.components.seconds * 1_000_000)"])
        let service = scratch.service(prepared, notifier: notifier)
        // An unstructured task does not inherit the suite's executor: ask for it, or the service's pings wait
        // behind the numeric tests on the cooperative pool.
        let running = Task(executorPreference: RealTimeExecutor.shared) { try await service.run() }
        defer {
            stall.resume()
            running.cancel()
        }

        // Normal work: both checkpoints processed, never a whole period without a ping (from READY=1 to the
        // status line of the second checkpoint).
        let working = receiver.lines(timeout: 300) { $0.hasPrefix("STATUS=2 checkpoints") }
        let log = scratch.recorder.entries.map(\.message)
        try #require(working.contains { $0.line.hasPrefix("STATUS=2 checkpoints") }, "\(working.map(\.line)); log: \(log)")
        let start = try #require(working.first { $0.line == "READY=1" }?.time, "\(working.map(\.line))")
        let end = try #require(working.last?.time)
        let pings = working.filter { $0.line == "WATCHDOG=1" }.map(\.time)
        let gaps = zip([start] + pings, pings + [end]).map { $1 - $0 }
        #expect(gaps.allSatisfy { $0 < Self.period }, "gaps between pings while working: \(gaps)")

        // A third checkpoint whose outputs are never written: the pings stop within a period.
        stall.arm()
        try scratch.addCheckpoint("epoch-003.h5")
        var stalled: ContinuousClock.Instant?
        let waiting = receiver.lines(timeout: 300) { _ in
            stalled = stall.stalledAt
            return stalled != nil
        }
        if stalled == nil { stalled = stall.stalledAt }
        let since = try #require(stalled, "the third checkpoint never reached its outputs; \(waiting.map(\.line))")
        let during = receiver.lines(timeout: 2 * Self.period.seconds) { _ in false }
        // Pings may go on until the last beat before the stall is a period old (the ping task looks every 1.25 s).
        let late = during.filter { $0.line == "WATCHDOG=1" && $0.time > since + Self.period + .milliseconds(1500) }
        #expect(late.isEmpty, "pings went on during the hang: \(late.map { ($0.time - since) })")

        // Released, the checkpoint is committed and the pings come back.
        stall.resume()
        let after = receiver.lines(timeout: 300) { $0 == "WATCHDOG=1" }
        #expect(after.contains { $0.line == "WATCHDOG=1" }, "\(after.map(\.line))")
        running.cancel()
        try await running.value
    }
}

/// Holds the pipeline at its output write once armed, until resumed.
final class OutputStall: Sendable {
    private let state = Mutex<(armed: Bool, stalledAt: ContinuousClock.Instant?)>((false, nil))
    private let released = DispatchSemaphore(value: 0)

    func arm() { state.withLock { $0.armed = true } }

    /// When the pipeline was held, if it was.
    var stalledAt: ContinuousClock.Instant? { state.withLock { $0.stalledAt } }

    /// Called by the pipeline: returns at once unless armed, else when `resume()` is called.
    func pass() {
        let hold = state.withLock { s in
            guard s.armed else { return false }
            (s.armed, s.stalledAt) = (false, .now)
            return true
        }
        if hold { released.wait() }
    }

    func resume() { released.signal() }
}

extension DatagramReceiver {
    /// The lines of the datagrams received, each with when it arrived, until one satisfies `done` or
    /// `timeout` seconds pass.
    func lines(
        timeout: Double, until done: (String) -> Bool
    ) -> [(time: ContinuousClock.Instant, line: String)] {
        let deadline = ContinuousClock.now + .seconds(timeout)
        var lines: [(time: ContinuousClock.Instant, line: String)] = []
        while ContinuousClock.now < deadline {
            guard let datagram = receive(milliseconds: 100) else {
                if done("") { return lines }
                continue
            }
            let time = ContinuousClock.now
            for line in datagram.split(separator: "\n").map(String.init) {
                lines.append((time, line))
                if done(line) { return lines }
            }
        }
        return lines
    }
}
