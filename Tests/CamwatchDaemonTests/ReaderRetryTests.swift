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

    @Test("the pauses between reader attempts double from 5 s and stay at 10 minutes")
    func pausesGrowToTenMinutes() {
        let processor = CheckpointProcessor(
            childCommand: ["/bin/true"], configuration: WatchConfiguration(checkpoints: "/c", probes: "/p", out: "/o"))
        #expect([1, 2, 3, 4, 5, 6, 7, 8, 9, 50, Int.max].map { processor.pause(after: $0) } == [
            5, 10, 20, 40, 80, 160, 320, 600, 600, 600, 600,
        ].map { Duration.seconds($0) })
    }

    @Test("a later round makes one attempt and counts on from the earlier ones")
    func laterRoundCountsOn() throws {
        let directory = try Fixtures.temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: directory) }
        let pending = Self.processor(Self.flakyReader(killed: 99, in: directory)).load(
            Self.trainerFile, snapshotPath: Self.good, attemptsBefore: 3)
        let failure = try #require(throws: CheckpointFailure.self) { try pending.loaded.get() }
        #expect(failure.isReaderFailure && failure.description.hasSuffix("(4 attempts)"), "\(failure)")
        #expect(Self.runs(in: directory) == 1)
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

/// The daemon around a reader that keeps failing: the checkpoint is never a `failed` entry, it waits in
/// `retrying` and is read again later (at growing pauses), or at the next start; `--once` ends in bounded time
/// with a non-zero status. The service is the real one in this process, its reader child the real one behind
/// a shell that kills the first runs.
@Suite(.realTime, .serialized) struct ReaderRetryServiceTests {
    /// Pauses of 10 ms, 20 ms, 40 ms, … instead of 5 s, 10 s, 20 s, ….
    static let pause: Duration = .milliseconds(10)

    @Test("a reader killed five times (OOM killer, an operator) is read again later; the checkpoint is processed, never failed")
    func daemonReadsAgainLater() async throws {
        let scratch = try ServiceScratch("camwatch-reread", samples: ["epoch-001.h5"])
        defer { scratch.remove() }
        var prepared = try scratch.prepare(childCommand: ReaderRetryTests.flakyReader(killed: 5, in: scratch.root))
        prepared.readerRetryPause = Self.pause
        let service = scratch.service(prepared)
        // An unstructured task does not inherit the suite's executor: ask for it, or the service's pings wait
        // behind the numeric tests on the cooperative pool.
        let running = Task(executorPreference: RealTimeExecutor.shared) { try await service.run() }
        defer { running.cancel() }
        let processed = BackgroundProcess.eventually(timeout: 300) {
            scratch.entries("checkpoints").contains { $0["status"] as? String == "ok" }
        }
        let log = scratch.recorder.entries.map(\.message)
        #expect(processed, "log: \(log)")
        #expect(scratch.entries("checkpoints").map { $0["status"] as? String } == ["ok"])
        #expect(scratch.entries("retrying").isEmpty)
        #expect(ReaderRetryTests.runs(in: scratch.root) == 6)
        // Three attempts one after the other, then two later rounds, each said in one line.
        let later = log.filter { $0.contains("camwatch's own reader failed, not the file: it is read again in") }
        #expect(later.count == 3, "\(log)")
        running.cancel()
        try await running.value
    }

    @Test("--once with a reader killed every time: exits non-zero in bounded time, no failed entry; the next start reads it")
    func onceLeavesItForTheNextStart() async throws {
        let scratch = try ServiceScratch("camwatch-reread-once", samples: ["epoch-001.h5"])
        defer { scratch.remove() }
        let failure = try await Self.runOnce(scratch, reader: ReaderRetryTests.flakyReader(killed: 99, in: scratch.root))
        #expect(failure?.contains("1 checkpoint(s) left unread") == true, "\(failure ?? "nil")")
        #expect(ReaderRetryTests.runs(in: scratch.root) == 3)
        #expect(scratch.entries("checkpoints").isEmpty, "\(scratch.entries("checkpoints"))")
        let retrying = scratch.entries("retrying")
        #expect(retrying.map { $0["name"] as? String } == ["epoch-001.h5"])
        #expect(retrying.first?["attempts"] as? Int == 3)
        #expect((retrying.first?["error"] as? String)?.contains("the checkpoint reader was killed") == true)

        // A restart with a reader that works reads it.
        #expect(try await Self.runOnce(scratch, reader: ServiceScratch.reader) == nil)
        #expect(scratch.entries("checkpoints").map { $0["status"] as? String } == ["ok"])
        #expect(scratch.entries("retrying").isEmpty)
    }

    /// Runs `watch --once` to its end and returns why it failed, if it did.
    static func runOnce(_ scratch: ServiceScratch, reader: [String]) async throws -> String? {
        var prepared = try scratch.prepare(once: true, childCommand: reader)
        prepared.readerRetryPause = pause
        let service = scratch.service(prepared)
        try await service.run()
        return service.onceFailure
    }
}
