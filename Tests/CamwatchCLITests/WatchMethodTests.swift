import CamwatchTestSupport
import Foundation
import Testing

/// `saliency.method` end to end: `watch --once` on two sample checkpoints measures drift with Grad-CAM and
/// says so in report.json and camwatch.prom; the same output directory refuses another method.
@Suite struct WatchMethodTests {
    @Test func gradCAMDriftIsReportedAsGradCAMAndTheDirectoryKeepsItsMethod() throws {
        let root = try Fixtures.temporaryDirectory("camwatch-method")
        defer { try? FileManager.default.removeItem(at: root) }
        let checkpoints = root.appendingPathComponent("ckpt"), out = root.appendingPathComponent("out")
        try WatchEndToEndTests.copySample(["epoch-001.h5", "epoch-002.h5"], to: checkpoints)
        let probes = try WatchEndToEndTests.probes(in: root)
        let arguments = ["watch", checkpoints.path, "--probes", probes, "--out", out.path, "--once", "--config"]
        let gradCAM = try WatchEndToEndTests.config(in: root, extra: "saliency: {method: gradcam}")
        let run = try CommandRunner.run(arguments + [gradCAM])
        #expect(run.status == 0, "\(run.stderr)")
        let report = try #require(WatchEndToEndTests.report(out))
        #expect((report["model"] as? [String: Any])?["method"] as? String == "gradcam")
        let entries = WatchEndToEndTests.entries(out)
        #expect(entries.count == 2 && entries.allSatisfy { $0["status"] as? String == "ok" }, "\(run.stderr)")
        #expect((entries.last?["drift"] as? [String: Any])?["mean"] is Double)
        let prom = try String(contentsOf: out.appendingPathComponent("camwatch.prom"), encoding: .utf8)
        #expect(prom.contains("camwatch_saliency_method_info{job_name=\"e2e\",method=\"gradcam\"} 1"), "\(prom)")

        // Drift against Score-CAM maps would measure the change of method: refused, one line.
        let scoreCAM = try WatchEndToEndTests.config(in: root, extra: "saliency: {method: scorecam}")
        let again = try CommandRunner.run(arguments + [scoreCAM])
        #expect(again.status != 0 && again.status < 128, "\(again.stderr)")
        #expect(again.stderrLines.count == 1, "\(again.stderr)")
        #expect(again.stderr.contains("made with Grad-CAM, not Score-CAM"), "\(again.stderr)")
    }
}
