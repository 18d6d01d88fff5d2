import CamwatchCheckpoint
import CamwatchHDF5
import CamwatchImage
import CamwatchMonitor
import CamwatchNN
import CamwatchSaliency
import CamwatchTestSupport
import Foundation
import Testing

/// The per-checkpoint pipeline on the sample run's real checkpoints (Checkpoints/, made by
/// Scripts/sample/train_sample.py), with two probes to keep debug builds quick.
@Suite(.serialized) struct MonitorSessionTests {
    static let root = Fixtures.packageRoot

    static func probes() throws -> ProbeSet {
        var set = try ProbeSet.load(directory: root.appendingPathComponent("Probes").path)
        set.probes = set.probes.filter { ["probe-00-circle", "probe-09-ring-clutter"].contains($0.description.id) }
        return set
    }

    static func analyze(_ epoch: Int, probes: ProbeSet) throws -> (Checkpoint, CheckpointAnalysis, CheckpointLabel) {
        try analyzeCheckpoint(
            at: root.appendingPathComponent(String(format: "Checkpoints/epoch-%03d.h5", epoch)).path, epoch: epoch,
            probes: probes)
    }

    static func fresh(_ probes: ProbeSet, layer: String = "") -> Report {
        Report(model: Report.Model(arch: nil, layer: layer, inputSize: []), probes: probes.descriptions)
    }

    @Test func processesResumesAndDropsUncommittedHeatmaps() throws {
        let out = try temporaryDirectory()
        defer { removeDirectory(out) }
        let probes = try Self.probes()
        let (c1, a1, l1) = try Self.analyze(1, probes: probes)
        let (c24, a24, l24) = try Self.analyze(24, probes: probes)
        // The spec's input_size (64) decided the preprocessing; the default target is block4.relu.
        #expect(a1.inputSize == [64, 64])
        #expect(a1.layer == "block4.relu")

        var session = try MonitorSession.open(directory: out, probes: probes, fresh: Self.fresh(probes), now: 0)
        let first = session.recordProcessed(label: l1, checkpoint: c1, analysis: a1, seconds: 1, now: 10)
        #expect(first.entry.drift == nil && first.entry.weightDrift == nil)
        #expect(first.entry.epoch == 1 && first.entry.step == 63)
        #expect(first.entry.attributes["val_acc"]?.number != nil)
        #expect(session.report.model.layer == "block4.relu" && session.report.model.inputSize == [64, 64])
        let second = session.recordProcessed(label: l24, checkpoint: c24, analysis: a24, seconds: 1, now: 11)
        let drift = try #require(second.entry.drift)
        // The drift equals the metric on the full-resolution heatmaps computed independently.
        for probe in ["probe-00-circle", "probe-09-ring-clutter"] {
            let before = try #require(a1.heatmaps[probe]).upsampled()
            let after = try #require(a24.heatmaps[probe]).upsampled()
            let expected = try DriftMetrics(previous: before, current: after)
            expectClose(try #require(drift.perProbe[probe]).drift, expected.drift, tolerance: 1e-12)
        }
        #expect(drift.mean > 0.01, "epoch 1 vs 24 should differ clearly")
        // The trained network predicts both probes' manifest classes; the probability is a softmax value.
        for (probe, expectedClass) in [("probe-00-circle", 0), ("probe-09-ring-clutter", 4)] {
            let prediction = try #require(second.entry.predictions[probe])
            #expect(prediction.classIndex == expectedClass && prediction.predicted == expectedClass)
            #expect((0.2...1).contains(try #require(prediction.probability)))
        }
        let weightDrift = try #require(second.entry.weightDrift)
        #expect(weightDrift > 0.1 && weightDrift < 10)
        try session.save()

        // Reopen: everything is back; a crash after the archive but before the report would leave heatmaps of
        // an unlisted checkpoint, which opening drops.
        var archive = try HeatmapArchive.load(directory: out)
        archive.record(HeatmapArchive.Entry(checkpoint: CheckpointLabel(id: "uncommitted", name: "x.h5"), heatmaps: a1.heatmaps))
        try archive.save(directory: out)
        let resumed = try MonitorSession.open(directory: out, probes: probes, fresh: Self.fresh(probes), now: 0)
        #expect(resumed.knownIDs == ["id-1", "id-24"])
        #expect(resumed.archive.entries.map(\.checkpoint.id) == ["id-1", "id-24"])
        #expect(resumed.report == session.report)

        // A report made for another layer is refused rather than mixed with new heatmaps.
        #expect(performing: {
            try MonitorSession.open(directory: out, probes: probes, fresh: Self.fresh(probes, layer: "block3.relu"), now: 0)
        }, throws: { "\($0)".contains("made for layer 'block4.relu', not 'block3.relu'") })
    }

    @Test func failuresLeaveTheConvergenceStateAlone() throws {
        let out = try temporaryDirectory()
        defer { removeDirectory(out) }
        let probes = try Self.probes()
        var session = try MonitorSession.open(directory: out, probes: probes, fresh: Self.fresh(probes), now: 0)
        let (entry, events) = session.recordFailure(
            label: CheckpointLabel(id: "bad", name: "bad.h5"), reason: "/x/bad.h5: not an HDF5 file", seconds: 0, now: 5)
        #expect(entry.status == .failed && entry.error == "/x/bad.h5: not an HDF5 file" && entry.diverged == nil)
        #expect(events.isEmpty && entry.state == .warmingUp)
        #expect(session.report.convergence.processed == 0)
        #expect(session.knownIDs == ["bad"])
    }

    @Test func analysisErrorsNameTheProbe() throws {
        var probes = try Self.probes()
        probes.probes[0].description.classIndex = 99
        #expect(performing: { try Self.analyze(1, probes: probes) },
                throws: { "\($0)".hasPrefix("probe 'probe-00-circle': class 99 is out of range") })
        #expect(performing: {
            let path = Self.root.appendingPathComponent("Checkpoints/epoch-001.h5").path
            let checkpoint = try CheckpointLoader.load(path: path)
            let network = try ArchitectureSource.automatic.network(for: checkpoint, path: path).network
            _ = try CheckpointAnalysis.run(network: network, probes: probes, layer: "nope", preprocessing: Preprocessing(),
                                           options: ScoreCAM.Options())
        }, throws: { "\($0)".contains("no layer named 'nope'") })
    }
}

/// Reports written by camwatch versions that gave up on a checkpoint after three failed reader children
/// (`failed … (3 attempts)`): opening them moves those entries to `retrying`, so the checkpoint is read again;
/// a verdict on a file stays `failed`.
@Suite struct ReaderFailureReleaseTests {
    @Test("an old reader failure is released to retrying at start; a file's own failure stays failed")
    func oldReaderFailuresAreReadAgain() throws {
        let out = try temporaryDirectory()
        defer { removeDirectory(out) }
        let probes = try MonitorSessionTests.probes()
        var old = try MonitorSession.open(directory: out, probes: probes, fresh: MonitorSessionTests.fresh(probes), now: 0)
        let killed = "/run/epoch-004.h5: the checkpoint reader was killed (signal 9, SIGKILL: out of memory, or killed "
            + "from outside) (3 attempts)"
        _ = old.recordFailure(label: label(4), reason: killed, seconds: 16, now: 1)
        _ = old.recordFailure(label: label(5), reason: "/run/epoch-005.h5: not an HDF5 file", seconds: 0, now: 2)
        try old.saveReport()

        let session = try MonitorSession.open(
            directory: out, probes: probes, fresh: MonitorSessionTests.fresh(probes), now: 50)
        #expect(session.report.checkpoints.map(\.id) == [label(5).id])
        #expect(session.knownIDs == [label(5).id], "the reader failure is offered to the watcher again")
        let retrying = try #require(session.report.retrying?.first)
        #expect(session.report.retrying?.count == 1)
        #expect(retrying.id == label(4).id && retrying.name == label(4).name && retrying.error == killed)
        #expect(retrying.attempts == 3 && retrying.nextAttemptAt == 50)
        #expect(session.readerAttempts(id: label(4).id) == 3)
    }
}
