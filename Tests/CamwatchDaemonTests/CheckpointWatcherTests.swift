import CamwatchDaemon
import CamwatchHDF5
import Foundation
import Testing

/// Scanning decisions: settle, header gate, incomplete writers, names, identities. Time is injected.
@Suite struct CheckpointWatcherTests {
    let t0 = ContinuousClock.now

    func at(_ seconds: Double) -> ContinuousClock.Instant { t0 + .milliseconds(Int64(seconds * 1000)) }

    @Test func completeFileIsReadyOnceAfterSettling() throws {
        let scratch = try CheckpointWatcherScratch()
        defer { scratch.remove() }
        let path = try scratch.write(CheckpointWatcherScratch.completeV0(), to: "epoch-1.h5")
        var watcher = try CheckpointWatcher(directory: scratch.directory)

        let first = watcher.scan(now: at(0))
        #expect(first.events.isEmpty)
        #expect(first.pending.map(\.name) == ["epoch-1.h5"])
        #expect(watcher.scan(now: at(1.9)).events.isEmpty)
        let ready = watcher.scan(now: at(2)).ready
        #expect(ready.map(\.name) == ["epoch-1.h5"])

        let file = try #require(ready.first)
        let attributes = try FileManager.default.attributesOfItem(atPath: path)
        #expect(file.path == path)
        #expect(file.size == 11736)
        #expect(file.inode == (attributes[.systemFileNumber] as? NSNumber)?.uint64Value)
        #expect(file.id == "\(file.inode)-\(file.mtimeNanoseconds)-11736")
        let mtime = try #require(attributes[.modificationDate] as? Date)
        #expect(abs(file.modificationTime - mtime.timeIntervalSince1970) < 0.01)

        #expect(watcher.scan(now: at(10)).events.isEmpty)
        #expect(watcher.scan(now: at(20)).pending.isEmpty)
    }

    @Test("a file offered again later (its reader failed) is a candidate once the instant has passed, and only then")
    func retryLaterOffersTheFileAgain() throws {
        let scratch = try CheckpointWatcherScratch()
        defer { scratch.remove() }
        var (watcher, file) = try readyAfterSettling("epoch-1.h5", in: scratch)
        watcher.retryLater(file, at: at(30))
        #expect(watcher.nextDecision() == at(30), "the loop wakes for it")
        let waiting = watcher.scan(now: at(29))
        #expect(waiting.events.isEmpty && waiting.pending.isEmpty)
        #expect(watcher.scan(now: at(30)).events.isEmpty, "a candidate again: it settles first")
        #expect(watcher.scan(now: at(32)).ready == [file])
        #expect(watcher.scan(now: at(40)).events.isEmpty, "reported once again, not twice")
    }

    @Test func firstSightingNeverDecidesEvenWithoutSettleInterval() throws {
        let scratch = try CheckpointWatcherScratch()
        defer { scratch.remove() }
        try scratch.write(CheckpointWatcherScratch.completeV3(), to: "latest.h5")
        var watcher = try CheckpointWatcher(directory: scratch.directory, settleInterval: .zero)
        #expect(watcher.scan(now: at(0)).events.isEmpty)
        #expect(watcher.scan(now: at(0)).ready.map(\.name) == ["latest.h5"])
    }

    @Test func growingFileIsNotReadyUntilStableForTheSettleInterval() throws {
        let scratch = try CheckpointWatcherScratch()
        defer { scratch.remove() }
        let bytes = try CheckpointWatcherScratch.completeV0()
        try scratch.write(Array(bytes[..<4000]), to: "epoch-1.h5")
        var watcher = try CheckpointWatcher(directory: scratch.directory)

        #expect(watcher.scan(now: at(0)).events.isEmpty)
        try scratch.append(Array(bytes[4000..<8000]), to: "epoch-1.h5")
        #expect(watcher.scan(now: at(3)).events.isEmpty)  // changed since the last scan: settling starts again
        try scratch.append(Array(bytes[8000...]), to: "epoch-1.h5")
        #expect(watcher.scan(now: at(6)).events.isEmpty)
        #expect(watcher.scan(now: at(7.5)).events.isEmpty)  // unchanged for 1.5 s only
        let ready = watcher.scan(now: at(8)).ready
        #expect(ready.map(\.size) == [11736])
    }

    @Test func writerThatDiedIsReportedIncompleteExactlyOnce() throws {
        let scratch = try CheckpointWatcherScratch()
        defer { scratch.remove() }
        try scratch.write(CheckpointWatcherScratch.openForWritingV0(), to: "epoch-4.h5")
        var watcher = try CheckpointWatcher(directory: scratch.directory, incompleteAfter: .seconds(300))

        #expect(watcher.scan(now: at(0)).events.isEmpty)
        let settled = watcher.scan(now: at(2))
        #expect(settled.events.isEmpty)
        #expect(settled.pending.map(\.name) == ["epoch-4.h5"])
        #expect(watcher.nextDecision() == at(300))
        #expect(watcher.scan(now: at(299)).events.isEmpty)

        let late = watcher.scan(now: at(300)).events
        #expect(late.count == 1)
        guard case .incomplete(let file, let reason)? = late.first else {
            Issue.record("expected .incomplete, got \(late)")
            return
        }
        #expect(file.name == "epoch-4.h5")
        #expect(reason.contains("still open for writing, or its writer crashed (superblock status flags 0x1)"))
        #expect(reason.contains("writer may have died"))
        #expect(late.first?.failureReason == reason)
        #expect(watcher.scan(now: at(400)).events.isEmpty)
        #expect(watcher.scan(now: at(4000)).events.isEmpty)

        // Fixed later (h5clear, or the trainer saved again): a new identity, a new candidate.
        try scratch.replace("epoch-4.h5", with: CheckpointWatcherScratch.completeV0())
        #expect(watcher.scan(now: at(4001)).events.isEmpty)
        let ready = watcher.scan(now: at(4003)).ready
        #expect(ready.map(\.name) == ["epoch-4.h5"])
        #expect(ready.first?.id != file.id)
    }

    @Test func fileHeldOpenByLibhdf5IsTakenOnlyAfterClose() throws {
        let scratch = try CheckpointWatcherScratch()
        defer { scratch.remove() }
        let writer = try HDF5File.create(scratch.path("run.h5"))
        try writer.write([Float](repeating: 0.5, count: 64), shape: [8, 8], to: "conv1.weight")
        try writer.flush()
        var watcher = try CheckpointWatcher(directory: scratch.directory)

        #expect(watcher.scan(now: at(0)).events.isEmpty)
        let waiting = watcher.scan(now: at(5))
        #expect(waiting.events.isEmpty)
        #expect(waiting.pending.map(\.name) == ["run.h5"])

        try writer.close()
        let after = watcher.scan(now: at(6)).events + watcher.scan(now: at(9)).events + watcher.scan(now: at(20)).events
        #expect(after.map(\.file.name) == ["run.h5"])
        #expect(after.first.map { if case .ready = $0 { true } else { false } } == true)
    }

    @Test func stableFileThatIsNotHDF5FailsOnceWithoutWaitingForIncompleteAfter() throws {
        let scratch = try CheckpointWatcherScratch()
        defer { scratch.remove() }
        try scratch.write(Array("epoch,loss\n1,0.5\n".utf8), to: "notes.h5")
        try scratch.write([0x89, 0x50, 0x4E, 0x47, 0x0D, 0x0A, 0x1A, 0x0A, 0, 0, 0, 13], to: "picture.h5")
        var watcher = try CheckpointWatcher(directory: scratch.directory, incompleteAfter: .seconds(300))

        #expect(watcher.scan(now: at(0)).events.isEmpty)
        let events = watcher.scan(now: at(2)).events
        #expect(events.map(\.file.name) == ["notes.h5", "picture.h5"])
        for event in events {
            guard case .notCheckpoint(_, let reason) = event else {
                Issue.record("expected .notCheckpoint, got \(event)")
                continue
            }
            #expect(reason.hasPrefix("not an HDF5 file"))
        }
        #expect(events.last?.failureReason?.contains("a PNG image") == true)
        #expect(watcher.scan(now: at(400)).events.isEmpty)
    }

    @Test func emptyFileWaitsLikeAWriterThatHasNotStarted() throws {
        let scratch = try CheckpointWatcherScratch()
        defer { scratch.remove() }
        try scratch.write([], to: "epoch-9.h5")
        var watcher = try CheckpointWatcher(directory: scratch.directory, incompleteAfter: .seconds(60))
        #expect(watcher.scan(now: at(0)).events.isEmpty)
        #expect(watcher.scan(now: at(30)).events.isEmpty)
        let events = watcher.scan(now: at(61)).events
        #expect(events.count == 1)
        #expect(events.first?.failureReason?.hasPrefix("empty file") == true)
    }

    @Test func temporaryNameIsIgnoredAndTheRenamedFileReportedOnce() throws {
        let scratch = try CheckpointWatcherScratch()
        defer { scratch.remove() }
        let bytes = try CheckpointWatcherScratch.completeV0()
        try scratch.write(bytes, to: "epoch-3.h5.tmp")
        try scratch.write(bytes, to: ".epoch-3.h5.a1b2c3.tmp")
        try scratch.write(bytes, to: "tmpab12cd34")
        try scratch.write(bytes, to: "epoch-3.h5.tmp9f8e7d")
        var watcher = try CheckpointWatcher(directory: scratch.directory, pattern: "*")

        #expect(watcher.scan(now: at(0)).pending.isEmpty)
        #expect(watcher.scan(now: at(5)).events.isEmpty)
        try scratch.rename("epoch-3.h5.tmp", to: "epoch-3.h5")
        #expect(watcher.scan(now: at(6)).events.isEmpty)
        #expect(watcher.scan(now: at(8)).ready.map(\.name) == ["epoch-3.h5"])
        #expect(watcher.scan(now: at(9)).events.isEmpty)
        #expect(watcher.scan(now: at(60)).events.isEmpty)
    }

    @Test func reusedNameWithNewContentIsANewCheckpoint() throws {
        let scratch = try CheckpointWatcherScratch()
        defer { scratch.remove() }
        var (watcher, first) = try readyAfterSettling("last.h5", in: scratch)

        try scratch.replace("last.h5", with: CheckpointWatcherScratch.completeV3())
        #expect(watcher.scan(now: at(3)).events.isEmpty)
        let second = try #require(watcher.scan(now: at(5)).ready.first)
        #expect(second.name == "last.h5")
        #expect(second.id != first.id)
        #expect(second.size == 2072)
        #expect(watcher.scan(now: at(9)).events.isEmpty)
    }

    @Test func deletedFileIsDroppedSilently() throws {
        let scratch = try CheckpointWatcherScratch()
        defer { scratch.remove() }
        try scratch.write(CheckpointWatcherScratch.completeV0(), to: "epoch-1.h5")
        try scratch.write(CheckpointWatcherScratch.openForWritingV0(), to: "epoch-2.h5")
        var watcher = try CheckpointWatcher(directory: scratch.directory)
        #expect(watcher.scan(now: at(0)).pending.count == 2)
        try scratch.delete("epoch-1.h5")
        try scratch.delete("epoch-2.h5")
        let scan = watcher.scan(now: at(400))
        #expect(scan == WatchScan())
        #expect(watcher.nextDecision() == nil)
    }

    @Test func idsSeenInAnEarlierRunAreSkipped() throws {
        let scratch = try CheckpointWatcherScratch()
        defer { scratch.remove() }
        try scratch.write(CheckpointWatcherScratch.completeV0(), to: "epoch-1.h5")
        try scratch.write(CheckpointWatcherScratch.completeV3(), to: "epoch-2.h5")
        try scratch.write(CheckpointWatcherScratch.openForWritingV0(), to: "epoch-3.h5")
        var earlier = try CheckpointWatcher(directory: scratch.directory, incompleteAfter: .seconds(10))
        _ = earlier.scan(now: at(0))
        let firstRun = earlier.scan(now: at(2)).events + earlier.scan(now: at(10)).events
        #expect(firstRun.map(\.file.name) == ["epoch-1.h5", "epoch-2.h5", "epoch-3.h5"])

        // The restart knows epoch-1 (processed) and epoch-3 (reported failed) from report.json.
        let seen: Set = [firstRun[0].file.id, firstRun[2].file.id]
        var restarted = try CheckpointWatcher(directory: scratch.directory, alreadySeen: seen)
        #expect(restarted.scan(now: at(100)).pending.map(\.name) == ["epoch-2.h5"])
        #expect(restarted.scan(now: at(102)).ready.map(\.name) == ["epoch-2.h5"])
        #expect(restarted.scan(now: at(1000)).events.isEmpty)
    }

    @Test func readyBatchIsInNaturalNameOrder() throws {
        let scratch = try CheckpointWatcherScratch()
        defer { scratch.remove() }
        for name in ["epoch-10.h5", "epoch-2.h5", "Epoch-3.h5", "epoch-1.h5", "epoch-100.h5"] {
            try scratch.write(CheckpointWatcherScratch.completeV3(), to: name)
        }
        var watcher = try CheckpointWatcher(directory: scratch.directory)
        _ = watcher.scan(now: at(0))
        #expect(
            watcher.scan(now: at(2)).ready.map(\.name)
                == ["epoch-1.h5", "epoch-2.h5", "Epoch-3.h5", "epoch-10.h5", "epoch-100.h5"])
    }

    @Test func globSelectsTheCheckpointNames() throws {
        let scratch = try CheckpointWatcherScratch()
        defer { scratch.remove() }
        let bytes = try CheckpointWatcherScratch.completeV3()
        for name in ["model.weights.h5", "model.h5", "model.keras", "model.weights.h5.part"] {
            try scratch.write(bytes, to: name)
        }
        try FileManager.default.createDirectory(
            atPath: scratch.path("sub.weights.h5"), withIntermediateDirectories: true)
        try FileManager.default.createSymbolicLink(
            atPath: scratch.path("link.weights.h5"), withDestinationPath: "model.h5")

        var keras = try CheckpointWatcher(directory: scratch.directory, pattern: "*.weights.h5")
        _ = keras.scan(now: at(0))
        #expect(keras.scan(now: at(2)).ready.map(\.name) == ["model.weights.h5"])

        var all = try CheckpointWatcher(directory: scratch.directory + "/")
        _ = all.scan(now: at(0))
        #expect(all.scan(now: at(2)).ready.map(\.name) == ["model.h5", "model.weights.h5"])
        #expect(all.directory == scratch.directory)
    }

    @Test func missingDirectoryIsAnErrorAtStart() throws {
        let scratch = try CheckpointWatcherScratch()
        defer { scratch.remove() }
        let missing = scratch.directory + "/nope"
        let error = try #require(throws: WatcherError.self) { try CheckpointWatcher(directory: missing) }
        #expect(error.kind == .directoryUnavailable)
        #expect(error.call == "opendir")
        #expect(
            error.description
                == "\(missing): cannot watch the checkpoint directory: No such file or directory (opendir)")

        let file = try scratch.write([1, 2, 3], to: "plain.h5")
        let notDirectory = try #require(throws: WatcherError.self) { try CheckpointWatcher(directory: file) }
        #expect(notDirectory.description.hasSuffix("Not a directory (opendir)"))
    }

    @Test func directoryThatDisappearsLaterYieldsAProblemAndNoEvents() throws {
        let scratch = try CheckpointWatcherScratch()
        defer { scratch.remove() }
        try scratch.write(CheckpointWatcherScratch.completeV0(), to: "epoch-1.h5")
        var watcher = try CheckpointWatcher(directory: scratch.directory)
        _ = watcher.scan(now: at(0))
        try FileManager.default.removeItem(atPath: scratch.directory)

        let scan = watcher.scan(now: at(5))
        #expect(scan.events.isEmpty)
        let problem = try #require(scan.problem)
        #expect(problem.kind == .directoryUnavailable)
        #expect(problem.description.hasPrefix("\(scratch.directory): cannot list the checkpoint directory"))

        // Back again (the job restarted and recreated it): scanning resumes.
        try FileManager.default.createDirectory(atPath: scratch.directory, withIntermediateDirectories: true)
        try scratch.write(CheckpointWatcherScratch.completeV3(), to: "epoch-2.h5")
        #expect(watcher.scan(now: at(6)).problem == nil)
        #expect(watcher.scan(now: at(8)).ready.map(\.name) == ["epoch-2.h5"])
    }

    @Test func suggestedWaitStopsAtTheNextDecision() throws {
        let scratch = try CheckpointWatcherScratch()
        defer { scratch.remove() }
        var watcher = try CheckpointWatcher(directory: scratch.directory, settleInterval: .seconds(2))
        _ = watcher.scan(now: at(0))
        #expect(watcher.suggestedWait(upTo: .seconds(10), now: at(0)) == .seconds(10))

        try scratch.write(CheckpointWatcherScratch.openForWritingV0(), to: "epoch-1.h5")
        _ = watcher.scan(now: at(1))
        #expect(watcher.suggestedWait(upTo: .seconds(10), now: at(1)) == .seconds(2))
        #expect(watcher.suggestedWait(upTo: .seconds(1), now: at(1)) == .seconds(1))
        #expect(watcher.suggestedWait(upTo: .seconds(10), now: at(5)) == .zero)
        _ = watcher.scan(now: at(3))  // settled; the header says "still writing": next decision is incomplete-after
        #expect(watcher.nextDecision() == at(301))
    }

    /// A watcher of `scratch` with one complete file `name`, scanned at 0 s and 2 s: the file is ready.
    private func readyAfterSettling(_ name: String, in scratch: CheckpointWatcherScratch) throws
        -> (CheckpointWatcher, CheckpointFile)
    {
        try scratch.write(CheckpointWatcherScratch.completeV0(), to: name)
        var watcher = try CheckpointWatcher(directory: scratch.directory)
        _ = watcher.scan(now: at(0))
        let file = try #require(watcher.scan(now: at(2)).ready.first)
        return (watcher, file)
    }
}
