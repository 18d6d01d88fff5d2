import CamwatchDaemon
import CamwatchTestSupport
import Foundation
import Testing

/// `.keras` files (zip archives, not HDF5) in the watched directory: a half-written archive waits, a complete
/// one is taken and its private copy passes the gate.
extension CheckpointWatcherTests {
    @Test func halfWrittenKerasArchiveWaitsThenIsTaken() throws {
        let scratch = try CheckpointWatcherScratch()
        defer { scratch.remove() }
        let bytes = try [UInt8](Data(contentsOf: URL(fileURLWithPath: Fixtures.path("keras/functional.keras"))))
        try scratch.write(Array(bytes[..<(bytes.count / 2)]), to: "epoch-01.keras")
        var watcher = try CheckpointWatcher(directory: scratch.directory, pattern: "*.keras",
                                            incompleteAfter: .seconds(300))

        #expect(watcher.scan(now: at(0)).events.isEmpty)
        // Stable for longer than the settle interval, but without its end record: still waiting, not failed.
        let waiting = watcher.scan(now: at(5))
        #expect(waiting.events.isEmpty)
        #expect(waiting.pending.map(\.name) == ["epoch-01.keras"])

        try scratch.append(Array(bytes[(bytes.count / 2)...]), to: "epoch-01.keras")
        let events = watcher.scan(now: at(6)).events + watcher.scan(now: at(9)).events
        #expect(events.map(\.file.name) == ["epoch-01.keras"])
        guard case .ready(let file) = try #require(events.first) else {
            Issue.record("expected .ready, got \(events)")
            return
        }
        let staging = scratch.root.appendingPathComponent("staging").path
        let snapshot = try watcher.snapshot(file, into: staging)
        #expect(FileManager.default.contents(atPath: snapshot.path) == Data(bytes))
    }
}
