import ArgumentParser
import CamwatchCheckpoint
import CamwatchHDF5
@testable import CamwatchDaemon
import CamwatchMonitor
import CamwatchTensor
import CamwatchTestSupport
import Dispatch
import Foundation
import Synchronization
import Testing

/// The checkpoint pipeline in this process, without the binary: a reader stub answers for each file, a clock
/// the test moves replaces waiting for settle intervals and backoff, and `handle` runs synchronously.
@Suite struct CheckpointPipelineTests {
    /// A clock the test moves by hand.
    final class ManualClock: PipelineClock {
        private let start = ContinuousClock.now
        private let elapsed = Mutex<Duration>(.zero)
        var now: ContinuousClock.Instant { start + elapsed.withLock { $0 } }
        var wallSeconds: Double { 1_800_000_000 + elapsed.withLock { $0 }.seconds }
        /// A pause between reader attempts passes at once, and counts.
        func sleep(for duration: Duration) { advance(by: duration) }
        func advance(by duration: Duration) { elapsed.withLock { $0 += duration } }
    }

    /// Answers each read by the watched file's name (the private copy's name ends with it): one answer per call,
    /// the last one repeated.
    final class StubReader: Sendable {
        let answers: [String: [Result<Checkpoint, CheckpointError>]]
        private let calls = Mutex<[String: Int]>([:])

        init(_ answers: [String: [Result<Checkpoint, CheckpointError>]]) { self.answers = answers }

        func calls(_ name: String) -> Int { calls.withLock { $0[name, default: 0] } }

        var reader: SnapshotReader {
            SnapshotReader { path, _, _ throws(CheckpointError) in
                guard let (name, results) = self.answers.first(where: { path.hasSuffix("-" + $0.key) }) else {
                    throw CheckpointError(.unsupported, path: path, reason: "no stub answer")
                }
                let call = self.calls.withLock { calls in
                    defer { calls[name, default: 0] += 1 }
                    return calls[name, default: 0]
                }
                return try results[min(call, results.count - 1)].get()
            }
        }
    }

    /// Values a callback on the pipeline's thread hands to the test.
    final class Recorded<Value: Sendable>: Sendable {
        private let storage = Mutex<[Value]>([])
        func append(_ value: Value) { storage.withLock { $0.append(value) } }
        var values: [Value] { storage.withLock { $0 } }
    }

    /// The sample run's first checkpoint, read in this process once.
    static let sample: Checkpoint? = try? CheckpointLoader.load(
        path: Fixtures.packageRoot.appendingPathComponent("Checkpoints/epoch-001.h5").path)

    /// A watch run started as `camwatch watch` starts it (empty directory: the start-up check finds nothing),
    /// with a pipeline on `reader` and `clock`.
    struct Run {
        let scratch: ServiceScratch
        let prepared: RunStartup.Prepared
        let pipeline: CheckpointPipeline
        let clock: ManualClock
        /// The alerts the pipeline sent.
        let alerts: Recorded<Alert>

        /// - Parameters:
        ///   - files: written into the watched directory before start-up (the start-up check reads them).
        ///   - layer: `--layer`.
        init(
            _ label: String, reader: SnapshotReader, files: [String] = [], layer: String? = nil,
            watcher adjust: (inout CheckpointWatcher) -> Void = { _ in }
        ) throws {
            scratch = try ServiceScratch(label, samples: [])
            for name in files { try Self.write(name, into: scratch) }
            // Score-CAM on the 4 strongest channels only: the test is about the pipeline, not the heatmaps.
            try "watch: {interval: 0.5, settle: 0.2}\nresources: {priority: normal, top_channels: 4}\n"
                .write(to: scratch.root.appendingPathComponent("camwatch.yaml"), atomically: true, encoding: .utf8)
            var overrides = try WatchConfiguration.Overrides.parse([])
            overrides.checkpoints = scratch.checkpoints.path
            overrides.probes = scratch.root.appendingPathComponent("probes").path
            overrides.out = scratch.out.path
            overrides.layer = layer
            var prepared = try RunStartup.prepare(
                configurationPath: scratch.root.appendingPathComponent("camwatch.yaml").path, overrides: overrides,
                childCommand: [], reader: reader, logger: scratch.recorder.logger)
            adjust(&prepared.watcher)
            self.prepared = prepared
            let (clock, alerts) = (ManualClock(), Recorded<Alert>())
            (self.clock, self.alerts) = (clock, alerts)
            pipeline = CheckpointPipeline(
                configuration: prepared.configuration, session: prepared.session, watcher: prepared.watcher,
                reader: reader, clock: clock,
                events: .init(alert: { alerts.append($0) }, status: { _ in }, heartbeat: {}),
                logger: scratch.recorder.logger)
        }

        /// Writes the sample checkpoint's bytes as `name` in the watched directory.
        func write(_ name: String) throws { try Self.write(name, into: scratch) }

        static func write(_ name: String, into scratch: ServiceScratch) throws {
            try FileManager.default.copyItem(
                at: Fixtures.packageRoot.appendingPathComponent("Checkpoints/epoch-001.h5"),
                to: scratch.checkpoints.appendingPathComponent(name))
        }

        /// Two scans a settle interval apart on the test's clock: what is ready by then.
        func settledScan() -> WatchScan {
            _ = pipeline.scan()
            clock.advance(by: .seconds(1))
            return pipeline.scan()
        }

        func entry(_ name: String) -> Report.CheckpointEntry? {
            pipeline.report.checkpoints.first { $0.name == name }
        }
    }

    @Test("a checkpoint that loads is processed and one that fails is recorded failed, in one synchronous scan")
    func loadsAndFails() throws {
        let sample = try #require(Self.sample)
        let stub = StubReader([
            "a.h5": [.success(sample)],
            "b.h5": [.failure(CheckpointError(.damaged, path: "copy", reason: "stub says damaged"))],
        ])
        let run = try Run("pipeline-loads", reader: stub.reader)
        defer { run.scratch.remove() }
        try run.write("a.h5")
        try run.write("b.h5")
        let scan = run.settledScan()
        #expect(scan.ready.map(\.name).sorted() == ["a.h5", "b.h5"])
        run.pipeline.handle(scan, stop: StopSignal())

        let processed = try #require(run.entry("a.h5"))
        #expect(processed.status == .ok)
        #expect(processed.predictions.count == 1)
        let failed = try #require(run.entry("b.h5"))
        #expect(failed.status == .failed)
        #expect(failed.error == run.scratch.checkpoints.appendingPathComponent("b.h5").path + ": stub says damaged")
        #expect(run.alerts.values.contains { $0.event == .failed })
        #expect(run.pipeline.status.checkpoints == 2)
        #expect(run.pipeline.statusLine().hasPrefix("2 checkpoints; state "))
        // Nothing was written by a real clock: the report's times come from the injected one.
        #expect(processed.processedAt >= 1_800_000_000)
    }

    @Test("a reader that fails three times is retried after its backoff, on the test's clock, and then loads")
    func retryAfterBackoff() throws {
        let sample = try #require(Self.sample)
        let killed = CheckpointError(.readerFailed, path: "copy", reason: "the checkpoint reader was killed")
        let stub = StubReader(["c.h5": [.failure(killed), .failure(killed), .failure(killed), .success(sample)]])
        let run = try Run("pipeline-retry", reader: stub.reader)
        defer { run.scratch.remove() }
        try run.write("c.h5")
        let before = run.clock.now
        run.pipeline.handle(run.settledScan(), stop: StopSignal())

        #expect(stub.calls("c.h5") == 3)
        // Two pauses between the three attempts (5 s, 10 s) passed on the test's clock, not in real time.
        #expect(run.clock.now - before == .seconds(16))
        let retrying = try #require(run.pipeline.report.retrying?.first)
        #expect(retrying.name == "c.h5" && retrying.attempts == 3)
        #expect(retrying.nextAttemptAt == run.clock.wallSeconds + 20, "the fourth attempt waits 5 s · 2² = 20 s")
        #expect(run.entry("c.h5") == nil)

        // Not offered before the backoff is over…
        run.clock.advance(by: .seconds(18))
        #expect(run.settledScan().ready.isEmpty)
        // …and offered, read and processed after it.
        run.clock.advance(by: .seconds(2))
        let due = run.settledScan()
        #expect(due.ready.map(\.name) == ["c.h5"])
        run.pipeline.handle(due, stop: StopSignal())
        #expect(stub.calls("c.h5") == 4)
        #expect(run.entry("c.h5")?.status == .ok)
        #expect(run.pipeline.report.retrying?.isEmpty ?? true)
    }

    @Test("the status value is read while a checkpoint is being copied, without waiting for the copy")
    func statusDuringCopy() throws {
        let sample = try #require(Self.sample)
        let stub = StubReader(["d.h5": [.success(sample)]])
        let pipelineBox = Mutex<CheckpointPipeline?>(nil)
        let readInTime = Recorded<Bool>()
        let run = try Run("pipeline-status", reader: stub.reader) { watcher in
            watcher.afterCopy = { _ in
                // In the middle of the copy: another thread asks for the status.
                guard let pipeline = pipelineBox.withLock({ $0 }) else { return }
                let answered = DispatchSemaphore(value: 0)
                Thread.detachNewThread {
                    _ = pipeline.status
                    answered.signal()
                }
                let inTime = answered.wait(timeout: .now() + 2) == .success
                readInTime.append(inTime)
            }
        }
        defer { run.scratch.remove() }
        pipelineBox.withLock { $0 = run.pipeline }
        try run.write("d.h5")
        #expect(run.pipeline.status.checkpoints == 0)
        run.pipeline.handle(run.settledScan(), stop: StopSignal())
        #expect(readInTime.values == [true])
        #expect(run.pipeline.status.lastName == "d.h5")
        #expect(run.pipeline.statusLine().hasSuffix("; last d.h5 ok"))
    }

    @Test("the start-up check binds through the pipeline's path: a checkpoint's own bad attribute is the same reason in both")
    func startupCheckAndPipelineAgree() throws {
        var sample = try #require(Self.sample)
        sample.attributes["mean"] = .doubles([0.5, 0.5])
        let stub = StubReader(["bad.h5": [.success(sample)]])
        let run = try Run("pipeline-startup-agrees", reader: stub.reader, files: ["bad.h5"])
        defer { run.scratch.remove() }
        // The start-up check read it through the same reader, found it unusable and starts anyway.
        #expect(stub.calls("bad.h5") == 1)
        let notice = try #require(run.prepared.notices.first { $0.hasPrefix("start-up check: none of the first 1") })
        run.pipeline.handle(run.settledScan(), stop: StopSignal())
        let failed = try #require(run.entry("bad.h5"))
        #expect(failed.status == .failed)
        let reason = try #require(failed.error)
        #expect(reason.contains("mean"), "\(reason)")
        #expect(notice.contains("(\(reason))"), "start-up: \(notice)\npipeline: \(reason)")
    }

    @Test("a --layer the checkpoint's network lacks stops the start, found by the pipeline's bind")
    func startupCheckRefusesUnknownLayer() throws {
        let sample = try #require(Self.sample)
        let stub = StubReader(["e.h5": [.success(sample)]])
        #expect {
            _ = try Run("pipeline-startup-layer", reader: stub.reader, files: ["e.h5"], layer: "nope")
        } throws: { error in
            let line = "\(error)"
            return line.contains("'nope'") && line.contains("(architecture from ") && line.contains("e.h5")
        }
        #expect(stub.calls("e.h5") == 1)
    }
}
