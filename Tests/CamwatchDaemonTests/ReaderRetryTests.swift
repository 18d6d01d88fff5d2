import CamwatchCheckpoint
import CamwatchHDF5
@testable import CamwatchDaemon
import CamwatchTestSupport
import Foundation
import Synchronization
import Testing

/// A reader child that is killed (memory pressure beside a trainer, an operator) costs a retry, not the
/// checkpoint: the daemon fails it only when the reader fails three times, and never retries a verdict on
/// the file. The child is the real `camwatch load-checkpoint-child`, behind a shell that kills the first tries.
@Suite struct ReaderRetryTests {
    static let good = Fixtures.path("checkpoints/tiny_flat.h5")
    static let trainerFile = CheckpointFile(
        path: "/trainer/run/epoch-007.h5", name: "epoch-007.h5", inode: 7, size: 1, mtimeNanoseconds: 1)

    /// A child command that is SIGKILLed on its first `killed` runs, then execs the real reader; it counts
    /// its runs in `directory/runs`.
    static func flakyReader(killed: Int, in directory: URL) -> [String] {
        let script = """
            runs="$0/runs"; n=$(cat "$runs" 2>/dev/null || echo 0); echo $((n + 1)) > "$runs"
            [ "$n" -ge "$1" ] && exec "$2" load-checkpoint-child
            kill -9 $$
            """
        return ["/bin/sh", "-c", script, directory.path, "\(killed)", CommandRunner.binary.path]
    }

    static func runs(in directory: URL) -> Int {
        Int((try? String(contentsOfFile: directory.appendingPathComponent("runs").path, encoding: .utf8))?
            .trimmingCharacters(in: .whitespacesAndNewlines) ?? "") ?? 0
    }

    static func processor(_ command: [String]) -> CheckpointProcessor {
        var processor = CheckpointProcessor(
            childCommand: command, configuration: WatchConfiguration(checkpoints: "/trainer/run", probes: "/p", out: "/o"))
        processor.retryPause = .milliseconds(10)
        return processor
    }

    @Test("a reader killed twice is retried, and the third attempt loads the checkpoint")
    func killedReaderIsRetried() throws {
        let directory = try Fixtures.temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: directory) }
        let retries = Mutex<[String]>([])
        let pending = Self.processor(Self.flakyReader(killed: 2, in: directory)).load(
            Self.trainerFile, snapshotPath: Self.good, retrying: { line in retries.withLock { $0.append(line) } })
        let checkpoint = try pending.loaded.get()
        #expect(checkpoint.tensors.count == 10)
        #expect(checkpoint.path == Self.trainerFile.path, "the loaded checkpoint is the trainer's file, not the copy")
        #expect(Self.runs(in: directory) == 3)
        #expect(
            retries.withLock { $0 } == [1, 2].map { attempt in
                "/trainer/run/epoch-007.h5: the checkpoint reader was killed (signal 9, SIGKILL: out of memory, or "
                    + "killed from outside); trying again (attempt \(attempt + 1) of 3)"
            })
    }

    @Test("a reader killed every time fails the checkpoint after three attempts, naming the trainer's file")
    func readerKilledEveryTimeFails() throws {
        let directory = try Fixtures.temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: directory) }
        let pending = Self.processor(Self.flakyReader(killed: 99, in: directory)).load(
            Self.trainerFile, snapshotPath: Self.good)
        let failure = try #require(throws: CheckpointFailure.self) { try pending.loaded.get() }
        #expect(
            failure.description
                == "/trainer/run/epoch-007.h5: the checkpoint reader was killed (signal 9, SIGKILL: out of memory, "
                + "or killed from outside) (3 attempts)")
        guard case .unreadable(let error, let attempts) = failure else { throw failure }
        #expect(error.kind == .readerFailed && error.path == Self.trainerFile.path && attempts == 3)
        #expect(Self.runs(in: directory) == 3)
    }

    @Test("no retry once the service is stopping")
    func noRetryWhenCancelled() throws {
        let directory = try Fixtures.temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: directory) }
        let pending = Self.processor(Self.flakyReader(killed: 2, in: directory)).load(
            Self.trainerFile, snapshotPath: Self.good, isCancelled: { true })
        #expect(throws: CheckpointFailure.self) { try pending.loaded.get() }
        #expect(Self.runs(in: directory) == 1)
    }

    @Test("a verdict on the file is not retried")
    func verdictIsNotRetried() throws {
        let directory = try Fixtures.temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: directory) }
        let empty = directory.appendingPathComponent("empty.h5").path
        #expect(FileManager.default.createFile(atPath: empty, contents: Data()))
        let pending = Self.processor(Self.flakyReader(killed: 0, in: directory)).load(
            Self.trainerFile, snapshotPath: empty)
        let failure = try #require(throws: CheckpointFailure.self) { try pending.loaded.get() }
        #expect(failure.description == "/trainer/run/epoch-007.h5: empty file (0 bytes), not yet written?")
        // The error itself is about the trainer's file: the private copy's path is nowhere in it.
        guard case .unreadable(let error, let attempts) = failure else { throw failure }
        #expect(error.path == Self.trainerFile.path && error.kind == .empty && attempts == nil)
        #expect(!failure.description.contains(directory.path))
        #expect(Self.runs(in: directory) == 1)
    }

    @Test("what is found wrong with a loaded checkpoint later (an input attribute) names the trainer's file, not the copy")
    func laterErrorsNameTheTrainersFile() throws {
        let directory = try Fixtures.temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: directory) }
        let processor = Self.processor(Self.flakyReader(killed: 0, in: directory))
        var checkpoint = try processor.load(Self.trainerFile, snapshotPath: Self.good).loaded.get()
        checkpoint.attributes["input_size"] = .int(0)
        let failure = try #require(throws: CheckpointFailure.self) {
            _ = try processor.preprocessing(for: checkpoint, spec: nil)
        }
        #expect(
            failure.description
                == "/trainer/run/epoch-007.h5: root attribute input_size = 0 is not a size in 1...4096, [H, W] or [C, H, W]")
    }
}
