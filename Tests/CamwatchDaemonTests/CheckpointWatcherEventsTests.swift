import CamwatchDaemon
import CamwatchTestSupport
import Foundation
import Testing

/// `DirectoryEvents`: inotify wake-ups, timeouts, cancellation, and the polling fallback. Real time, kept short.
@Suite(.realTime) struct CheckpointWatcherEventsTests {
    let clock = ContinuousClock()

    @Test func renameIntoTheDirectoryWakesPromptly() async throws {
        let scratch = try CheckpointWatcherScratch()
        defer { scratch.remove() }
        let outside = scratch.root.appendingPathComponent("epoch-1.h5.tmp").path
        try Data(CheckpointWatcherScratch.completeV0()).write(to: URL(fileURLWithPath: outside))
        var watcher = try CheckpointWatcher(directory: scratch.directory)
        let events = DirectoryEvents(directory: scratch.directory)
        #expect(events.mode == .inotify)

        async let wake = events.nextWake(timeout: .seconds(5))
        try await Task.sleep(for: .milliseconds(150))
        let renamed = clock.now
        try scratch.rename(fromPath: outside, to: "epoch-1.h5")
        #expect(await wake == .changed)
        let latency = renamed.duration(to: clock.now)
        #expect(latency < .seconds(1), "woke \(latency) after the rename")
        #expect(watcher.scan().pending.map(\.name) == ["epoch-1.h5"])
    }

    @Test func eventsBetweenWaitsAreNotLost() async throws {
        let scratch = try CheckpointWatcherScratch()
        defer { scratch.remove() }
        let events = DirectoryEvents(directory: scratch.directory, coalescing: .zero)
        try scratch.write([1, 2, 3], to: "a.h5")
        let start = clock.now
        #expect(await events.nextWake(timeout: .seconds(5)) == .changed)
        #expect(start.duration(to: clock.now) < .milliseconds(500))
        let second = await events.nextWake(timeout: .milliseconds(50))
        #expect(second == .timeout)
    }

    @Test func quietDirectoryTimesOut() async throws {
        let scratch = try CheckpointWatcherScratch()
        defer { scratch.remove() }
        let events = DirectoryEvents(directory: scratch.directory)
        let start = clock.now
        #expect(await events.nextWake(timeout: .milliseconds(150)) == .timeout)
        let waited = start.duration(to: clock.now)
        #expect(waited >= .milliseconds(150) && waited < .seconds(2))
    }

    @Test(arguments: [true, false])
    func cancellationEndsTheWaitPromptly(useInotify: Bool) async throws {
        let scratch = try CheckpointWatcherScratch()
        defer { scratch.remove() }
        let events = DirectoryEvents(directory: scratch.directory, useInotify: useInotify)
        let start = clock.now
        // A child task (not `Task {}`): it inherits the suite's executor (see `RealTimeTrait`).
        let woken = await withTaskGroup(of: DirectoryEvents.Wake.self) { group in
            group.addTask { await events.nextWake(timeout: .seconds(30)) }
            try? await Task.sleep(for: .milliseconds(100))
            group.cancelAll()
            return await group.next()
        }
        #expect(woken == .cancelled)
        #expect(start.duration(to: clock.now) < .seconds(1))
        // A later wait by a live task is not confused by the earlier cancellation.
        let next = await events.nextWake(timeout: .milliseconds(50))
        #expect(next != .cancelled)
    }

    @Test func pollingFallbackSleepsTheWholeInterval() async throws {
        let scratch = try CheckpointWatcherScratch()
        defer { scratch.remove() }
        let events = DirectoryEvents(directory: scratch.directory, useInotify: false)
        #expect(events.mode == .polling(reason: "inotify disabled by configuration"))
        var watcher = try CheckpointWatcher(directory: scratch.directory, settleInterval: .zero)

        let start = clock.now
        async let wake = events.nextWake(timeout: .milliseconds(300))
        try await Task.sleep(for: .milliseconds(50))
        try scratch.write(CheckpointWatcherScratch.completeV3(), to: "epoch-1.h5")
        #expect(await wake == .timeout)
        #expect(start.duration(to: clock.now) >= .milliseconds(300))
        // The scan after the interval finds the file all the same.
        #expect(watcher.scan().pending.map(\.name) == ["epoch-1.h5"])
        #expect(watcher.scan().ready.map(\.name) == ["epoch-1.h5"])
    }

    @Test func directoryDeletedAndRecreatedIsWatchedAgain() async throws {
        let scratch = try CheckpointWatcherScratch()
        defer { scratch.remove() }
        let events = DirectoryEvents(directory: scratch.directory, coalescing: .zero)
        try FileManager.default.removeItem(atPath: scratch.directory)
        #expect(await events.nextWake(timeout: .seconds(5)) == .changed)  // the watch is gone with the directory

        try FileManager.default.createDirectory(atPath: scratch.directory, withIntermediateDirectories: false)
        async let wake = events.nextWake(timeout: .seconds(5))
        try await Task.sleep(for: .milliseconds(100))
        let written = clock.now
        try scratch.write([1], to: "epoch-1.h5")
        #expect(await wake == .changed)
        #expect(written.duration(to: clock.now) < .seconds(1))
    }

    @Test func directoryCreatedAfterStartIsWatchedOnceItExists() async throws {
        let scratch = try CheckpointWatcherScratch()
        defer { scratch.remove() }
        let later = scratch.root.appendingPathComponent("later").path
        let events = DirectoryEvents(directory: later)
        #expect(events.mode == .inotify)
        #expect(await events.nextWake(timeout: .milliseconds(20)) == .timeout)

        try FileManager.default.createDirectory(atPath: later, withIntermediateDirectories: false)
        async let wake = events.nextWake(timeout: .seconds(5))
        try await Task.sleep(for: .milliseconds(100))
        let written = clock.now
        try Data([1]).write(to: URL(fileURLWithPath: later + "/epoch-1.h5"))
        #expect(await wake == .changed)
        #expect(written.duration(to: clock.now) < .seconds(1))
    }
}
