import CamwatchTestSupport
import Foundation
import Testing

/// `camwatch watch` on the committed collapse fixture (the sample run with block4 switched off from epoch 20,
/// Scripts/fixtures/make_collapse_fixtures.py), as a user would run it: the run is `collapsed`, never `stable`, and
/// every output says so.
@Suite struct CollapseEndToEndTests {
    static let fixture = Fixtures.packageRoot.appendingPathComponent("Tests/Fixtures/checkpoints/collapse")

    @Test func aRunWhoseModelDiedIsCollapsedInEveryOutput() throws {
        let root = try Fixtures.temporaryDirectory("camwatch-collapse")
        defer { try? FileManager.default.removeItem(at: root) }
        let out = root.appendingPathComponent("out")
        let config = root.appendingPathComponent("camwatch.yaml")
        // An exec hook that keeps each alert's event, to see the collapse alert leave the daemon.
        let events = root.appendingPathComponent("events")
        let hook = root.appendingPathComponent("hook.sh")
        try "#!/bin/sh\necho \"$CAMWATCH_EVENT\" >> \(events.path)\n".write(to: hook, atomically: true, encoding: .utf8)
        try FileManager.default.setAttributes([.posixPermissions: 0o755], ofItemAtPath: hook.path)
        try """
            score_cam: {batch_size: 16, threads: 1}
            resources: {priority: normal}
            job_name: dead
            alerts: {exec: {command: [\(hook.path)]}}
            """.write(to: config, atomically: true, encoding: .utf8)
        let watch = try CommandRunner.run([
            "watch", Self.fixture.path, "--probes", Self.fixture.appendingPathComponent("probes").path, "--out", out.path,
            "--config", config.path, "--once",
        ])
        #expect(watch.status == 0, "\(watch.stderr)")
        #expect(watch.stderr.contains("model collapsed at epoch-021.h5"), "\(watch.stderr)")
        // The warning about misclassified probes is left to the collapse alert.
        #expect(!watch.stderr.contains("predicted as another class"), "\(watch.stderr)")

        let data = try Data(contentsOf: out.appendingPathComponent("report.json"))
        let report = try #require(try JSONSerialization.jsonObject(with: data) as? [String: Any])
        let entries = try #require(report["checkpoints"] as? [[String: Any]])
        #expect(entries.map { $0["state"] as? String } == ["warming-up", "changing", "changing", "collapsed", "collapsed"])
        let evidence = try #require(entries[3]["collapse"] as? [String: Any])
        #expect(evidence["constant_heatmaps"] as? Bool == true && evidence["same_class"] as? Int == 3)
        #expect(entries[0]["collapse"] is NSNull)
        #expect((report["model"] as? [String: Any])?["arch"] as? String == "camwatch-sample-shapes")

        let check = try CommandRunner.run(["report", out.path, "--check"])
        #expect(check.status == 2)
        #expect(check.stdout.hasPrefix("Verdict: collapsed since epoch-020.h5 (epoch 20)"), "\(check.stdout)")

        let prom = try String(contentsOf: out.appendingPathComponent("camwatch.prom"), encoding: .utf8)
        #expect(prom.contains("camwatch_model_collapsed{job_name=\"dead\"} 1\n"))
        #expect(prom.contains("camwatch_saliency_converged{job_name=\"dead\"} 0\n"))
        let fired = BackgroundProcess.eventually(timeout: 10) {
            ((try? String(contentsOf: events, encoding: .utf8)) ?? "").contains("collapsed")
        }
        #expect(fired, "hook saw: \((try? String(contentsOf: events, encoding: .utf8)) ?? "nothing")")
        let page = try String(contentsOf: out.appendingPathComponent("index.html"), encoding: .utf8)
        #expect(page.contains("class=\"verdict state-collapsed\""))
    }
}
