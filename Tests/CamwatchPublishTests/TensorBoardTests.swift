import CamwatchImage
import CamwatchMonitor
@testable import CamwatchPublish
import CamwatchTestSupport
import Foundation
import Testing

@Suite struct TFRecordTests {
    @Test("CRC-32C: the standard check values (\"123456789\", 32 zero bytes, RFC 3720)")
    func crcCheckValues() {
        #expect(CRC32C.checksum(Array("123456789".utf8)) == 0xe306_9283)
        #expect(CRC32C.checksum([UInt8](repeating: 0, count: 32)) == 0x8a91_36aa)
        #expect(CRC32C.checksum([UInt8](repeating: 0xff, count: 32)) == 0x62a8_ab43)
    }

    @Test("records read back whole; reading stops at a torn or corrupted record")
    func framingAndTornTails() {
        let payloads: [[UInt8]] = [[], Array("event one".utf8), [UInt8](repeating: 7, count: 1000)]
        let file = payloads.flatMap(TFRecord.frame)
        #expect(file.count == payloads.map { $0.count + 16 }.reduce(0, +))
        let whole = TFRecord.records(in: file)
        #expect(whole.records.map { Array($0.data) } == payloads)
        #expect(whole.validEnd == file.count)
        let secondEnd = payloads[0].count + payloads[1].count + 32
        // Every cut inside the last record leaves the first two, and says where they end.
        for cut in stride(from: secondEnd + 1, to: file.count, by: 37) {
            let torn = TFRecord.records(in: Array(file[..<cut]))
            #expect(torn.records.count == 2 && torn.validEnd == secondEnd, "cut at \(cut)")
        }
        var flipped = file
        flipped[secondEnd + 20] ^= 0x10
        #expect(TFRecord.records(in: flipped).records.count == 2)
        var badLength = file
        badLength[secondEnd + 2] ^= 0x01
        #expect(TFRecord.records(in: badLength).validEnd == secondEnd)
    }
}

@Suite struct TensorBoardLogTests {
    static func eventFiles(_ directory: URL) throws -> [String] {
        try FileManager.default.contentsOfDirectory(atPath: directory.path).filter { $0.contains("tfevents") }.sorted()
    }

    @Test("resume: a reopened log writes only the steps it lacks; one file, file_version first, each step once")
    func resumeWritesEachStepOnce() throws {
        let root = try Fixtures.temporaryDirectory("camwatch-tb")
        defer { try? FileManager.default.removeItem(at: root) }
        let directory = root.appendingPathComponent("tb").path
        let export = TensorBoardExport()
        let early = PublishFixture.make(processed: 3, failedAfter: [1])
        var log = try TensorBoardLog.open(directory: directory)
        let first = try export.publish(
            report: early.report, archive: early.archive, probeImages: early.probeImages, to: &log, now: 1_800_000_500)
        #expect(first == [100, 200, 300])
        // Published again with nothing new: nothing written.
        #expect(try export.publish(report: early.report, archive: early.archive, probeImages: early.probeImages, to: &log, now: 0) == [])

        // "Restart": a new log object reads the steps back from the file.
        let later = PublishFixture.make(processed: 5, failedAfter: [1])
        var reopened = try TensorBoardLog.open(directory: directory)
        #expect(reopened.writtenSteps == [100, 200, 300])
        let second = try export.publish(
            report: later.report, archive: later.archive, probeImages: later.probeImages, to: &reopened, now: 1_800_000_900)
        #expect(second == [400, 500])

        let files = try Self.eventFiles(URL(fileURLWithPath: directory))
        #expect(files.count == 1)
        let name = try #require(files.first)
        #expect(name.hasPrefix("events.out.tfevents.1800000500.") && name.hasSuffix(".camwatch"))
        let events = try TensorBoardLog.events(inFile: directory + "/" + name)
        #expect(events.first?.fileVersion == "brain.Event:2")
        #expect(events.dropFirst().map(\.step) == [100, 200, 300, 400, 500])
        // The failed checkpoints have no event; every processed one has the scalars and one image per probe.
        for event in events.dropFirst() {
            let tags = event.summary.value.map(\.tag)
            #expect(tags.filter { $0.hasPrefix("camwatch/heatmap/") }.count == PublishFixture.probeIDs.count)
            #expect(tags.contains("camwatch/stable"))
        }
    }

    @Test("a record torn by a crash is cut off at open, and the next append follows the last whole record")
    func tornTailIsRepaired() throws {
        let root = try Fixtures.temporaryDirectory("camwatch-tb")
        defer { try? FileManager.default.removeItem(at: root) }
        let directory = root.appendingPathComponent("tb").path
        let fixture = PublishFixture.make(processed: 2)
        var log = try TensorBoardLog.open(directory: directory)
        try TensorBoardExport().publish(
            report: fixture.report, archive: fixture.archive, probeImages: fixture.probeImages, to: &log, now: 1)
        let path = try #require(log.file)
        let whole = try #require(FileManager.default.contents(atPath: path)).count
        // Half of a third record, as a crash in the middle of a write leaves it.
        let more = PublishFixture.make(processed: 3)
        let event = try TensorBoardExport().event(
            for: more.report.checkpoints[2], step: 300, report: more.report, archive: more.archive,
            probeImages: more.probeImages)
        let record = try TensorBoardLog.record(event, path: path)
        let handle = try #require(FileHandle(forWritingAtPath: path))
        try handle.seekToEnd()
        try handle.write(contentsOf: Data(record.prefix(record.count / 2)))
        try handle.close()

        var reopened = try TensorBoardLog.open(directory: directory)
        #expect(reopened.repairs.count == 1 && reopened.repairs.first?.bytes == record.count / 2)
        #expect(try #require(FileManager.default.contents(atPath: path)).count == whole)
        #expect(reopened.writtenSteps == [100, 200])
        #expect(try TensorBoardExport().publish(
            report: more.report, archive: more.archive, probeImages: more.probeImages, to: &reopened, now: 2) == [300])
        #expect(try TensorBoardLog.events(inFile: path).map(\.step) == [0, 100, 200, 300])
    }

    @Test("step: the checkpoint's step, else its epoch, else its position in the report")
    func stepFallback() {
        let entry = Report.CheckpointEntry(name: "a.h5", id: "a", step: 1234, epoch: 5, status: .ok, seconds: 0, processedAt: 0, state: .changing)
        #expect(TensorBoardExport.step(of: entry, index: 9) == 1234)
        var noStep = entry
        noStep.step = nil
        #expect(TensorBoardExport.step(of: noStep, index: 9) == 5)
        noStep.epoch = nil
        #expect(TensorBoardExport.step(of: noStep, index: 9) == 10)
    }

    @Test("the directory cannot be created: one error naming it")
    func unusableDirectory() throws {
        let root = try Fixtures.temporaryDirectory("camwatch-tb")
        defer { try? FileManager.default.removeItem(at: root) }
        let blocker = root.appendingPathComponent("file")
        try Data("x".utf8).write(to: blocker)
        #expect(throws: PublishError.self) { try TensorBoardLog.open(directory: blocker.appendingPathComponent("tb").path) }
        do {
            _ = try TensorBoardLog.open(directory: blocker.path)
            Issue.record("a regular file was accepted as the TensorBoard directory")
        } catch {
            #expect(error.path == blocker.path)
        }
    }
}

/// TensorBoard's own reader (`EventAccumulator`, Scripts/tensorboard/read_events.py) on what camwatch wrote.
@Suite struct TensorBoardReaderTests {
    struct Dump: Decodable {
        struct Scalar: Decodable {
            var step: Int64
            var value: Double
        }
        struct Image: Decodable {
            var step: Int64
            var width: Int
            var height: Int
            var png: String
        }
        var scalars: [String: [Scalar]]
        var images: [String: [Image]]
    }

    static let script = Fixtures.packageRoot.appendingPathComponent("Scripts/tensorboard/read_events.py").path

    static func read(_ directory: String) throws -> Dump {
        let python = try #require(ExternalTools.tensorboardPython)
        let run = try ExternalTools.run(python, [script, directory])
        #expect(run.status == 0, "read_events.py: \(run.stderr)")
        return try JSONDecoder().decode(Dump.self, from: Data(run.stdout.utf8))
    }

    @Test(
        "EventAccumulator reads every scalar equal to the report (float32) and every image as the overlay, each step once",
        .enabled(if: ExternalTools.tensorboardPython != nil, Comment(rawValue: ExternalTools.tensorboardMissing)))
    func tensorboardReadsWhatCamwatchWrote() throws {
        let root = try Fixtures.temporaryDirectory("camwatch-tb")
        defer { try? FileManager.default.removeItem(at: root) }
        let directory = root.appendingPathComponent("tb").path
        let overlay = ProbeOverlay(colormap: .turbo, alpha: 0.4)
        let export = TensorBoardExport(overlay: overlay)
        // Written in two sessions, as a watcher restarted in the middle of a run writes it.
        let early = PublishFixture.make(processed: 3, failedAfter: [0])
        var log = try TensorBoardLog.open(directory: directory)
        try export.publish(report: early.report, archive: early.archive, probeImages: early.probeImages, to: &log, now: 1)
        var fixture = PublishFixture.make(processed: 6, failedAfter: [0, 4])
        // Batch-norm statistics drift on the checkpoints only this session writes (the first wrote steps to 300).
        for index in fixture.report.checkpoints.indices where (fixture.report.checkpoints[index].step ?? 0) > 300 {
            fixture.report.checkpoints[index].statisticsDrift = 0.0123 * Double(index)
        }
        var reopened = try TensorBoardLog.open(directory: directory)
        try export.publish(
            report: fixture.report, archive: fixture.archive, probeImages: fixture.probeImages, to: &reopened, now: 2)

        let dump = try Self.read(directory)
        let processed = fixture.report.checkpoints.filter { $0.status == .ok }
        var expected: [String: [(Int64, Double)]] = [:]
        for entry in processed {
            let step = Int64(try #require(entry.step))
            if let drift = entry.drift {
                expected["camwatch/drift_mean", default: []].append((step, drift.mean))
                expected["camwatch/drift_max", default: []].append((step, drift.max))
                for (probe, metrics) in drift.perProbe {
                    expected["camwatch/drift/\(probe)", default: []].append((step, metrics.drift))
                }
            }
            if let weightDrift = entry.weightDrift { expected["camwatch/weight_drift", default: []].append((step, weightDrift)) }
            if let drift = entry.statisticsDrift, entry.status == .ok {
                expected["camwatch/statistics_drift", default: []].append((step, drift))
            }
            expected["camwatch/stable", default: []].append((step, entry.state == .stable ? 1 : 0))
            expected["camwatch/collapsed", default: []].append((step, entry.state == .collapsed ? 1 : 0))
        }
        #expect(Set(dump.scalars.keys) == Set(expected.keys))
        for (tag, values) in expected {
            let read = dump.scalars[tag] ?? []
            // Each step once, in order, and the value exactly the report's rounded to float32.
            #expect(read.map(\.step) == values.map(\.0), "\(tag)")
            for (got, want) in zip(read, values) {
                #expect(Float(got.value) == Float(want.1), "\(tag) at step \(got.step): \(got.value) vs \(want.1)")
            }
        }
        #expect(dump.scalars["camwatch/stable"]?.map(\.value) == [0, 0, 0, 0, 1, 1])

        #expect(Set(dump.images.keys) == Set(PublishFixture.probeIDs.map { "camwatch/heatmap/\($0)" }))
        for probe in PublishFixture.probeIDs {
            let images = dump.images["camwatch/heatmap/\(probe)"] ?? []
            #expect(images.map(\.step) == processed.compactMap { $0.step.map(Int64.init) })
            for (image, entry) in zip(images, processed) {
                let heatmap = try #require(fixture.archive.entry(id: entry.id)?.heatmaps[probe])
                let want = try #require(overlay.render(heatmap, over: fixture.probeImages[probe]))
                #expect(image.width == want.width && image.height == want.height)
                let png = root.appendingPathComponent("decoded.png")
                try #require(Data(base64Encoded: image.png)).write(to: png)
                let decoded = try PNGDecoder.decode(path: png.path)
                let wantRGB = (0..<(want.width * want.height)).flatMap { p in (0..<3).map { Float(want.rgba[p * 4 + $0]) } }
                #expect(decoded.width == want.width && decoded.height == want.height)
                #expect(decoded.pixels == wantRGB, "\(probe) at step \(image.step)")
            }
        }
    }
}
