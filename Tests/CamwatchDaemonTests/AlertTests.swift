import CamwatchMonitor
import Foundation
import Testing

@testable import CamwatchDaemon

extension Alert {
    /// A `stable` alert as the watcher would raise it.
    static func testSample(job: String = "run7") -> Alert {
        Alert(
            event: .stable, job: job, checkpoint: "epoch-021.h5", checkpointID: "2049:1700000000123456789:1048576",
            step: 21000, epoch: 21, drift: 0.012, state: .stable,
            message: "\(job): saliency stable since epoch-021.h5 (drift 0.012 < 0.02 for 3 checkpoints)",
            reportPath: "/var/lib/camwatch/\(job)/report.json", time: 1_700_000_000.5)
    }
}

@Suite struct AlertTests {
    static func entry(
        _ index: Int, status: CheckpointStatus = .ok, state: ConvergenceState, drift: Double? = nil,
        error: String? = nil
    ) -> Report.CheckpointEntry {
        Report.CheckpointEntry(
            name: String(format: "epoch-%03d.h5", index), id: "id-\(index)", step: 1000 * index, epoch: index,
            status: status, error: error, seconds: 1, processedAt: 1_700_000_000 + Double(index),
            drift: drift.flatMap { CheckpointDrift(perProbe: ["cat": DriftMetrics(drift: $0, l1: 0, iou: 1)]) },
            state: state)
    }

    @Test func jsonHasSnakeCaseKeysAndExplicitNulls() throws {
        var alert = Alert.testSample()
        alert.step = nil
        alert.drift = nil
        let object = try #require(try JSONSerialization.jsonObject(with: Data(alert.jsonBytes())) as? [String: Any])
        #expect(
            Set(object.keys) == [
                "event", "job", "checkpoint", "checkpoint_id", "step", "epoch", "drift", "state", "message", "count",
                "report_path", "time",
            ])
        #expect(object["step"] is NSNull)
        #expect(object["drift"] is NSNull)
        #expect(object["event"] as? String == "stable")
        #expect(object["checkpoint_id"] as? String == "2049:1700000000123456789:1048576")
        #expect(object["report_path"] as? String == "/var/lib/camwatch/run7/report.json")
        #expect(object["epoch"] as? Int == 21)
        #expect(object["time"] as? Double == 1_700_000_000.5)
        // Sorted keys, no escaped slashes: stable bytes for hooks that diff or grep them.
        let text = String(decoding: alert.jsonBytes(), as: UTF8.self)
        #expect(text.hasPrefix(#"{"checkpoint":"epoch-021.h5","checkpoint_id":"#))
        #expect(text.contains(#""report_path":"/var/lib/camwatch/run7/report.json""#))

        let decoded = try JSONDecoder().decode(Alert.self, from: Data(alert.jsonBytes()))
        #expect(decoded == alert)
    }

    @Test func convergenceTransitionsBecomeStableAndChangingAlerts() throws {
        var tracker = ConvergenceTracker(threshold: 0.02, patience: 3, hysteresis: 1.5)
        var events: [(ConvergenceEvent, Report.CheckpointEntry)] = []
        for (index, drift) in [nil, 0.2, 0.011, 0.015, 0.012, 0.025, 0.047].enumerated() {
            let label = CheckpointLabel(id: "id-\(index)", name: String(format: "epoch-%03d.h5", index))
            let transitions = tracker.update(checkpoint: label, status: .ok, drift: drift)
            let entry = Self.entry(index, state: tracker.state, drift: drift)
            events += transitions.map { ($0, entry) }
        }
        #expect(events.map(\.0.kind) == [.warmedUp, .converged, .driftSpike])

        let (warmedUp, warmedUpEntry) = events[0]
        #expect(
            Alert(
                transition: warmedUp, entry: warmedUpEntry, convergence: tracker, job: "run7", reportPath: "r", time: 1)
                == nil)

        let (converged, convergedEntry) = events[1]
        let stable = try #require(
            Alert(
                transition: converged, entry: convergedEntry, convergence: tracker, job: "run7",
                reportPath: "/var/lib/camwatch/run7/report.json", time: 5))
        #expect(stable.event == .stable)
        #expect(stable.message == "run7: saliency stable since epoch-004.h5 (drift 0.012 < 0.02 for 3 checkpoints)")
        #expect(stable.checkpoint == "epoch-004.h5")
        #expect(stable.checkpointID == "id-4")
        #expect(stable.step == 4000)
        #expect(stable.epoch == 4)
        #expect(stable.drift == 0.012)
        #expect(stable.state == .stable)
        #expect(stable.time == 5)

        let (spike, spikeEntry) = events[2]
        let changing = try #require(
            Alert(transition: spike, entry: spikeEntry, convergence: tracker, job: "run7", reportPath: "r", time: 6))
        #expect(changing.event == .changing)
        #expect(changing.state == .changing)
        #expect(
            changing.message
                == "run7: saliency changing again at epoch-006.h5 (drift 0.047 > 0.03 = 1.5 x threshold 0.02)")
    }

    @Test func failureAndRecoveryAlerts() {
        let failed = Alert(
            failure: Self.entry(
                7, status: .failed, state: .changing,
                error: "/srv/run7/epoch-007.h5: truncated HDF5 file\n(10 bytes, header says 20)"),
            job: "run7", reportPath: "r", time: 7)
        #expect(failed.event == .failed)
        #expect(failed.drift == nil)
        #expect(failed.state == .changing)
        let expected = "run7: checkpoint epoch-007.h5 failed: /srv/run7/epoch-007.h5: truncated HDF5 file"
        #expect(failed.message == expected + " (10 bytes, header says 20)")

        let recovered = Alert(
            recovery: Self.entry(8, state: .changing, drift: 0.05), failures: 2, job: "run7", reportPath: "r", time: 8)
        #expect(recovered.event == .recovered)
        #expect(recovered.drift == 0.05)
        #expect(recovered.message == "run7: checkpoint epoch-008.h5 processed again after 2 failed checkpoints")
    }

    @Test func messagesAreOneBoundedLine() {
        let alert = Alert(
            event: .failed, job: "j", checkpoint: "c", checkpointID: "i", state: .changing,
            message: "line one\r\nline two\n" + String(repeating: "x", count: 5000), reportPath: "r", time: 0)
        let hasNewline = alert.message.contains { $0.isNewline }
        #expect(!hasNewline)
        #expect(alert.message.hasPrefix("line one line two x"))
        #expect(alert.message.count == Alert.maximumMessageLength)
        #expect(alert.message.hasSuffix("…"))
    }

    @Test func nonFiniteDriftStillEncodes() throws {
        var alert = Alert.testSample()
        alert.drift = .nan
        let object = try #require(try JSONSerialization.jsonObject(with: Data(alert.jsonBytes())) as? [String: Any])
        #expect(object["drift"] as? String == "NaN")
    }
}
