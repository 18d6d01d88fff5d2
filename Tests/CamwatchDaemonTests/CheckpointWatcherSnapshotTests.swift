import CamwatchHDF5
import Foundation
import Testing

@testable import CamwatchDaemon

/// Private copies of ready checkpoints: content, change detection, failures and retries.
@Suite struct CheckpointWatcherSnapshotTests {
    let t0 = ContinuousClock.now

    func at(_ seconds: Double) -> ContinuousClock.Instant { t0 + .milliseconds(Int64(seconds * 1000)) }

    /// A watcher that has just reported `name` ready.
    func readyWatcher(_ scratch: CheckpointWatcherScratch, _ name: String) throws -> (CheckpointWatcher, CheckpointFile)
    {
        var watcher = try CheckpointWatcher(directory: scratch.directory)
        _ = watcher.scan(now: at(0))
        let file = try #require(watcher.scan(now: at(2)).ready.first { $0.name == name })
        return (watcher, file)
    }

    @Test func snapshotIsAPrivateByteForByteCopy() throws {
        let scratch = try CheckpointWatcherScratch()
        defer { scratch.remove() }
        let bytes = try CheckpointWatcherScratch.completeV0()
        try scratch.write(bytes, to: "epoch-1.h5")
        var (watcher, file) = try readyWatcher(scratch, "epoch-1.h5")
        let staging = scratch.root.appendingPathComponent("state/staging").path
        try FileManager.default.createDirectory(
            atPath: scratch.root.appendingPathComponent("state").path, withIntermediateDirectories: true)

        let snapshot = try watcher.snapshot(file, into: staging)
        #expect(snapshot.file == file)
        #expect(snapshot.path == staging + "/" + file.id + "-epoch-1.h5")
        #expect(try scratch.contents(snapshot.path) == bytes)
        #expect(try HDF5Superblock.inspect(snapshot.path).status == .complete)
        let opened = try HDF5File.open(snapshot.path)
        #expect(try opened.datasetPaths().isEmpty == false)
        try opened.close()
        #expect(try scratch.contents(file.path) == bytes)  // the trainer's file is untouched

        snapshot.remove()
        #expect(!FileManager.default.fileExists(atPath: snapshot.path))
        snapshot.remove()  // already gone: fine
        #expect(watcher.scan(now: at(10)).events.isEmpty)  // a successful snapshot does not bring it back
    }

    @Test func changeDuringTheCopyDiscardsItAndTheFileSettlesAgain() throws {
        let scratch = try CheckpointWatcherScratch()
        defer { scratch.remove() }
        try scratch.write(CheckpointWatcherScratch.completeV0(), to: "last.h5")
        var (watcher, file) = try readyWatcher(scratch, "last.h5")
        let staging = scratch.root.appendingPathComponent("staging").path
        // The trainer appends to the file between the copy and the re-stat.
        watcher.afterCopy = { file in try? CheckpointWatcherScratch.append([1, 2, 3, 4], toPath: file.path) }

        let error = try #require(throws: WatcherError.self) { try watcher.snapshot(file, into: staging) }
        #expect(error.kind == .changedDuringCopy)
        #expect(error.path == file.path)
        #expect(error.description.contains("changed while it was copied"))
        #expect(try FileManager.default.contentsOfDirectory(atPath: staging).isEmpty)

        watcher.afterCopy = nil
        #expect(watcher.scan(now: at(3)).events.isEmpty)  // settling again, under its new identity
        let again = try #require(watcher.scan(now: at(5)).ready.first)
        #expect(again.name == "last.h5")
        #expect(again.size == file.size + 4)
        #expect(again.id != file.id)
        let snapshot = try watcher.snapshot(again, into: staging)
        #expect(try scratch.contents(snapshot.path).count == Int(again.size))
    }

    @Test func fileReplacedAfterTheScanIsNotCopied() throws {
        let scratch = try CheckpointWatcherScratch()
        defer { scratch.remove() }
        try scratch.write(CheckpointWatcherScratch.completeV0(), to: "last.h5")
        var (watcher, file) = try readyWatcher(scratch, "last.h5")
        try scratch.replace("last.h5", with: CheckpointWatcherScratch.completeV3())
        let staging = scratch.root.appendingPathComponent("staging").path
        let error = try #require(throws: WatcherError.self) { try watcher.snapshot(file, into: staging) }
        #expect(error.kind == .changedDuringCopy)
        #expect(try FileManager.default.contentsOfDirectory(atPath: staging).isEmpty)
    }

    @Test func vanishedFileIsReportedAsSuch() throws {
        let scratch = try CheckpointWatcherScratch()
        defer { scratch.remove() }
        try scratch.write(CheckpointWatcherScratch.completeV0(), to: "epoch-1.h5")
        var (watcher, file) = try readyWatcher(scratch, "epoch-1.h5")
        try scratch.delete("epoch-1.h5")
        let error = try #require(throws: WatcherError.self) {
            try watcher.snapshot(file, into: scratch.root.appendingPathComponent("staging").path)
        }
        #expect(error.kind == .fileVanished)
        #expect(error.description == "\(file.path): disappeared before it was copied: No such file or directory (open)")
    }

    @Test func stagingFailureDoesNotCountAgainstTheFile() throws {
        let scratch = try CheckpointWatcherScratch()
        defer { scratch.remove() }
        try scratch.write(CheckpointWatcherScratch.completeV0(), to: "epoch-1.h5")
        var (watcher, file) = try readyWatcher(scratch, "epoch-1.h5")
        let notADirectory = scratch.root.appendingPathComponent("occupied").path
        try Data([1]).write(to: URL(fileURLWithPath: notADirectory))
        watcher.maximumCopyAttempts = 1

        let error = try #require(throws: WatcherError.self) { try watcher.snapshot(file, into: notADirectory) }
        #expect(error.kind == .stagingFailed)
        #expect(error.call == "open")
        // Back to settling, and still ready (not incomplete) once the staging directory works.
        #expect(watcher.scan(now: at(3)).events.isEmpty)
        #expect(watcher.scan(now: at(5)).ready == [file])

        let same = try #require(throws: WatcherError.self) { try watcher.snapshot(file, into: scratch.directory) }
        #expect(same.kind == .stagingFailed)
        #expect(same.reason == "the staging directory is the watched directory")
    }

    @Test func repeatedCopyFailuresEndAsIncomplete() throws {
        let scratch = try CheckpointWatcherScratch()
        defer { scratch.remove() }
        try scratch.write(CheckpointWatcherScratch.completeV0(), to: "epoch-1.h5")
        var (watcher, file) = try readyWatcher(scratch, "epoch-1.h5")
        let staging = scratch.root.appendingPathComponent("staging").path
        // Something damages every private copy (say, a full disk that truncates it).
        watcher.afterCopy = { _ in
            guard let name = try? FileManager.default.contentsOfDirectory(atPath: staging).first else { return }
            _ = truncate(staging + "/" + name, 100)
        }
        watcher.maximumCopyAttempts = 2
        var clock = 2.0
        for attempt in 1...2 {
            let error = try #require(throws: WatcherError.self) { try watcher.snapshot(file, into: staging) }
            #expect(error.kind == .incompleteCopy, "attempt \(attempt)")
            #expect(error.reason.contains("truncated HDF5 file (100 bytes, header says 11736)"))
            clock += 1
            #expect(watcher.scan(now: at(clock)).events.isEmpty)
            clock += 2
            let events = watcher.scan(now: at(clock)).events
            if attempt == 1 {
                #expect(events == [.ready(file)])
            } else {
                #expect(events.count == 1)
                #expect(events.first?.failureReason?.hasPrefix("could not be copied (2 attempts)") == true)
            }
        }
        #expect(watcher.scan(now: at(100)).events.isEmpty)
    }
}
