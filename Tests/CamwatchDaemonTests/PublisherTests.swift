@testable import CamwatchDaemon
import ArgumentParser
import CamwatchImage
import CamwatchMonitor
import CamwatchPublish
import CamwatchTestSupport
import Foundation
import Logging
import Testing

@Suite(.realTime) struct PublisherTests {
    /// Two processed checkpoints (steps 100, 200) of one probe, with their heatmaps.
    static func snapshot() -> Publisher.Snapshot {
        var report = Report(
            model: Report.Model(arch: "resnet18", layer: "layer4", inputSize: [8, 8]),
            probes: [Report.Probe(id: "p", file: "p.png", classIndex: 1)])
        var archive = HeatmapArchive()
        for k in 0..<2 {
            let label = CheckpointLabel(id: "id-\(k)", name: "ckpt-\(k).h5")
            archive.record(
                HeatmapArchive.Entry(
                    checkpoint: label,
                    heatmaps: ["p": HeatmapArchive.Heatmap(
                        classIndex: 1, score: 1, shape: [2, 2], values: [0, 0.5, 1, Float(k) / 2], inputSize: [8, 8])]))
            report.record(
                Report.CheckpointEntry(
                    name: label.name, id: label.id, step: (k + 1) * 100, status: .ok, seconds: 1, processedAt: 0,
                    drift: k == 0 ? nil : CheckpointDrift(perProbe: ["p": DriftMetrics(drift: 0.25, l1: 0.1, iou: 0.5)]),
                    state: k == 0 ? .warmingUp : .changing))
        }
        let image = RGBImage(width: 8, height: 8, pixels: [Float](repeating: 200, count: 8 * 8 * 3))
        return Publisher.Snapshot(report: report, archive: archive, probeImages: ["p": image])
    }

    @Test("a failure to write index.html or the events is logged, not fatal, and the next snapshot writes everything")
    func failureIsLoggedAndRetried() throws {
        let root = try Fixtures.temporaryDirectory("camwatch-publisher")
        defer { try? FileManager.default.removeItem(at: root) }
        // Regular files where the directories should be: nothing can be written under them.
        let out = root.appendingPathComponent("out"), tensorboard = root.appendingPathComponent("tb")
        try Data("x".utf8).write(to: out)
        try Data("x".utf8).write(to: tensorboard)
        let recorder = LogRecorder()
        let publisher = Publisher(logger: recorder.logger)
        let settings = Publisher.Settings(out: out.path, tensorboard: tensorboard.path, jobName: "job")

        let failed = publisher.publish(Self.snapshot(), settings, now: 1)
        #expect(failed == Publisher.Outcome(page: false, tensorboard: false, steps: []))
        let warnings = recorder.entries.filter { $0.level == .warning }.map(\.message)
        #expect(warnings.count == 2, "\(warnings)")
        #expect(warnings.contains { $0.hasPrefix("cannot write index.html: \(out.path)/index.html: ") && $0.hasSuffix("trying again at the next checkpoint") })
        #expect(warnings.contains { $0.hasPrefix("cannot write TensorBoard events: \(tensorboard.path): ") })

        // The obstacles go away; the next checkpoint's snapshot writes the page and every step.
        try FileManager.default.removeItem(at: out)
        try FileManager.default.removeItem(at: tensorboard)
        try FileManager.default.createDirectory(at: out, withIntermediateDirectories: true)
        let retried = publisher.publish(Self.snapshot(), settings, now: 2)
        #expect(retried == Publisher.Outcome(page: true, tensorboard: true, steps: [100, 200]))
        #expect(FileManager.default.fileExists(atPath: out.appendingPathComponent("index.html").path))
        // And once written, a step is not written again.
        #expect(publisher.publish(Self.snapshot(), settings, now: 3).steps == [])
        #expect(recorder.entries.filter { $0.level == .warning }.count == 2)
    }

    @Test("run() publishes what was submitted and returns after finish(); submitting never waits")
    func submitAndRun() async throws {
        let root = try Fixtures.temporaryDirectory("camwatch-publisher")
        defer { try? FileManager.default.removeItem(at: root) }
        let publisher = Publisher(logger: LogRecorder().logger)
        let settings = Publisher.Settings(out: root.path, tensorboard: root.appendingPathComponent("tb").path, jobName: "job")
        let started = ContinuousClock.now
        for _ in 0..<50 { publisher.submit(Self.snapshot(), settings) }
        #expect(ContinuousClock.now - started < .seconds(1))
        publisher.finish()
        await publisher.run()
        let page = try String(contentsOf: root.appendingPathComponent("index.html"), encoding: .utf8)
        #expect(page.components(separatedBy: "<tr class=\"checkpoint ").count - 1 == 2)
        let files = try FileManager.default.contentsOfDirectory(atPath: root.appendingPathComponent("tb").path)
        #expect(files.count == 1 && files.allSatisfy { $0.hasPrefix("events.out.tfevents.") })
    }

    @Test("tensorboard: in the config file, --tensorboard over it, absent by default")
    func configuration() throws {
        let directory = try Fixtures.temporaryDirectory("camwatch-config")
        defer { try? FileManager.default.removeItem(at: directory) }
        let path = directory.appendingPathComponent("camwatch.yaml").path
        try "checkpoints: /c\nprobes: /p\nout: /o\ntensorboard: /srv/tb/run7\n".write(toFile: path, atomically: true, encoding: .utf8)
        #expect(try WatchConfiguration.resolve(file: path, overrides: .parse([])).tensorboard == "/srv/tb/run7")
        var overrides = try WatchConfiguration.Overrides.parse([])
        overrides.tensorboard = "/tmp/tb"
        #expect(try WatchConfiguration.resolve(file: path, overrides: overrides).tensorboard == "/tmp/tb")
        overrides = try WatchConfiguration.Overrides.parse([])
        overrides.checkpoints = "/c"
        overrides.probes = "/p"
        overrides.out = "/o"
        #expect(try WatchConfiguration.resolve(file: nil, overrides: overrides).tensorboard == nil)
        #expect(Publisher.Settings(try WatchConfiguration.resolve(file: path, overrides: .parse([]))).tensorboard == "/srv/tb/run7")
    }
}
