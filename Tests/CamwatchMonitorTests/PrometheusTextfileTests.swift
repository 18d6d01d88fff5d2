import CamwatchMonitor
import Foundation
import Testing

@Suite struct PrometheusTextfileTests {
    /// Three checkpoints: the first processed, the second with drift 0.5 (cat 0.25, dog 0.75), the third failed.
    static func report() -> Report {
        var tracker = ConvergenceTracker(threshold: 0.02)
        _ = tracker.update(checkpoint: label(0), status: .ok, drift: nil)
        _ = tracker.update(checkpoint: label(1), status: .ok, drift: 0.5)
        let drift = CheckpointDrift(perProbe: [
            "dog": DriftMetrics(drift: 0.75, l1: 0.1, iou: 0.5), "cat": DriftMetrics(drift: 0.25, l1: 0.1, iou: 0.5),
        ])
        return Report(
            model: Report.Model(arch: "resnet18", layer: "layer4", inputSize: [224, 224]),
            probes: [Report.Probe(id: "cat", file: "cat.png"), Report.Probe(id: "dog", file: "dog.png")],
            checkpoints: [
                Report.CheckpointEntry(
                    name: "a.h5", id: "id-0", status: .ok, seconds: 2.5, processedAt: 1_700_000_000, state: .warmingUp),
                Report.CheckpointEntry(
                    name: "b.h5", id: "id-1", status: .ok, seconds: 3, processedAt: 1_700_000_100.5, drift: drift,
                    weightDrift: 0.125, state: .changing),
                Report.CheckpointEntry(
                    name: "c.h5", id: "id-2", status: .failed, error: "c.h5: truncated", seconds: 0.25,
                    processedAt: 1_700_000_200, state: .changing),
            ],
            convergence: tracker)
    }

    @Test func rendersTheExpectedTextfile() {
        let expected = #"""
            # HELP camwatch_saliency_drift_ratio Saliency drift (1 - Pearson r) between the last two processed checkpoints, per probe; probe="all" is the mean.
            # TYPE camwatch_saliency_drift_ratio gauge
            camwatch_saliency_drift_ratio{job_name="resnet-a",probe="all"} 0.5
            camwatch_saliency_drift_ratio{job_name="resnet-a",probe="cat"} 0.25
            camwatch_saliency_drift_ratio{job_name="resnet-a",probe="dog"} 0.75
            # HELP camwatch_saliency_drift_max_ratio Largest per-probe saliency drift between the last two processed checkpoints.
            # TYPE camwatch_saliency_drift_max_ratio gauge
            camwatch_saliency_drift_max_ratio{job_name="resnet-a"} 0.75
            # HELP camwatch_weight_drift_ratio Relative weight change ||w_i - w_(i-1)|| / ||w_(i-1)|| between the last two processed checkpoints.
            # TYPE camwatch_weight_drift_ratio gauge
            camwatch_weight_drift_ratio{job_name="resnet-a"} 0.125
            # HELP camwatch_saliency_converged 1 when the saliency maps have stopped changing (state stable), else 0.
            # TYPE camwatch_saliency_converged gauge
            camwatch_saliency_converged{job_name="resnet-a"} 0
            # HELP camwatch_model_collapsed 1 when the model no longer reads its input (state collapsed: constant heatmaps, or the same output for every probe), else 0.
            # TYPE camwatch_model_collapsed gauge
            camwatch_model_collapsed{job_name="resnet-a"} 0
            # HELP camwatch_convergence_state Convergence state of the run, one-hot.
            # TYPE camwatch_convergence_state gauge
            camwatch_convergence_state{job_name="resnet-a",state="warming-up"} 0
            camwatch_convergence_state{job_name="resnet-a",state="changing"} 1
            camwatch_convergence_state{job_name="resnet-a",state="stable"} 0
            camwatch_convergence_state{job_name="resnet-a",state="collapsed"} 0
            camwatch_convergence_state{job_name="resnet-a",state="diverged"} 0
            # HELP camwatch_convergence_streak Consecutive settled checkpoints up to the last one.
            # TYPE camwatch_convergence_streak gauge
            camwatch_convergence_streak{job_name="resnet-a"} 0
            # HELP camwatch_checkpoints_processed_total Checkpoints handled, failed ones included.
            # TYPE camwatch_checkpoints_processed_total counter
            camwatch_checkpoints_processed_total{job_name="resnet-a"} 3
            # HELP camwatch_checkpoints_failed_total Checkpoints that could not be processed.
            # TYPE camwatch_checkpoints_failed_total counter
            camwatch_checkpoints_failed_total{job_name="resnet-a"} 1
            # HELP camwatch_checkpoints_retrying Checkpoints camwatch's own reader failed on (killed, crashed), waiting to be read again.
            # TYPE camwatch_checkpoints_retrying gauge
            camwatch_checkpoints_retrying{job_name="resnet-a"} 0
            # HELP camwatch_last_checkpoint_timestamp_seconds Unix time at which the last checkpoint was handled.
            # TYPE camwatch_last_checkpoint_timestamp_seconds gauge
            camwatch_last_checkpoint_timestamp_seconds{job_name="resnet-a"} 1700000200.0
            # HELP camwatch_scorecam_seconds Wall time spent on the last processed checkpoint (loading and Score-CAM over all probes).
            # TYPE camwatch_scorecam_seconds gauge
            camwatch_scorecam_seconds{job_name="resnet-a"} 3.0
            # HELP camwatch_saliency_method_info The CAM method the saliency maps are made with (always 1).
            # TYPE camwatch_saliency_method_info gauge
            camwatch_saliency_method_info{job_name="resnet-a",method="scorecam"} 1

            """#
        #expect(PrometheusTextfile.render(Self.report(), jobName: "resnet-a") == expected)
    }

    @Test func firstCheckpointHasNoDriftFamiliesAndStableIsOne() {
        var report = Self.report()
        report.checkpoints = [report.checkpoints[0]]
        let text = PrometheusTextfile.render(report, jobName: "j")
        #expect(!text.contains("drift"))
        #expect(text.contains("camwatch_checkpoints_processed_total{job_name=\"j\"} 1\n"))
        #expect(text.contains("camwatch_scorecam_seconds{job_name=\"j\"} 2.5\n"))

        var tracker = ConvergenceTracker(threshold: 0.02, patience: 1)
        _ = tracker.update(checkpoint: label(0), status: .ok, drift: nil)
        _ = tracker.update(checkpoint: label(1), status: .ok, drift: 0.001)
        report.convergence = tracker
        let stable = PrometheusTextfile.render(report, jobName: "j")
        #expect(stable.contains("camwatch_saliency_converged{job_name=\"j\"} 1\n"))
        #expect(stable.contains("camwatch_convergence_state{job_name=\"j\",state=\"stable\"} 1\n"))
        #expect(stable.contains("camwatch_convergence_state{job_name=\"j\",state=\"changing\"} 0\n"))
    }

    @Test("checkpoints waiting to be read again are counted, not failed")
    func retryingIsAGauge() {
        var report = Self.report()
        report.retrying = ["x.h5", "y.h5"].map {
            Report.RetryingCheckpoint(name: $0, id: "id-\($0)", attempts: 3, error: "\($0): killed", nextAttemptAt: 0)
        }
        let text = PrometheusTextfile.render(report, jobName: "j")
        #expect(text.contains("camwatch_checkpoints_retrying{job_name=\"j\"} 2\n"), "\(text)")
        #expect(text.contains("camwatch_checkpoints_failed_total{job_name=\"j\"} 1\n"), "\(text)")
    }

    @Test func labelValuesAreEscaped() {
        var report = Self.report()
        let metrics = DriftMetrics(drift: 1e-05, l1: 0, iou: 1)
        report.checkpoints[1].drift = CheckpointDrift(perProbe: ["x\"y\\z\r\nw": metrics])
        let text = PrometheusTextfile.render(report, jobName: "a\"b\\c\nd")
        #expect(text.contains(#"camwatch_saliency_drift_max_ratio{job_name="a\"b\\c\nd"} 1e-05"#))
        #expect(text.contains(#"{job_name="a\"b\\c\nd",probe="x\"y\\z"# + "\r" + #"\nw"} 1e-05"#))
        // Every sample is one line: name{labels} value, no timestamp.
        for line in text.split(separator: "\n") where !line.hasPrefix("#") {
            let value = line.split(separator: "}").last.map { $0.trimmingCharacters(in: .whitespaces) } ?? ""
            #expect(!value.contains(" "), "no timestamp in \(line)")
        }
        #expect(text.hasSuffix("\n"))
    }

    @Test func specialValuesUsePrometheusSpelling() {
        var report = Self.report()
        report.checkpoints[1].weightDrift = .infinity
        #expect(
            PrometheusTextfile.render(report, jobName: "j").contains(
                "camwatch_weight_drift_ratio{job_name=\"j\"} +Inf\n"))
        report.checkpoints[1].weightDrift = .nan
        #expect(
            PrometheusTextfile.render(report, jobName: "j").contains(
                "camwatch_weight_drift_ratio{job_name=\"j\"} NaN\n"))
    }

    @Test func writeIsAtomic() throws {
        let directory = try temporaryDirectory()
        defer { removeDirectory(directory) }
        try PrometheusTextfile.write(Self.report(), jobName: "resnet-a", directory: directory)
        try PrometheusTextfile.write(Self.report(), jobName: "resnet-a", directory: directory)
        #expect(try listing(directory) == ["camwatch.prom"])
        let written = try String(contentsOfFile: directory + "/camwatch.prom", encoding: .utf8)
        #expect(written == PrometheusTextfile.render(Self.report(), jobName: "resnet-a"))
    }
}
