import CamwatchTestSupport
import Foundation
import Testing

/// A checkpoint of another architecture mid-run, as `camwatch watch` meets it: a new segment, not a drift between
/// two networks.
@Suite struct NewModelEndToEndTests {
    @Test func anotherArchitectureMidRunStartsANewSegment() throws {
        let root = try Fixtures.temporaryDirectory("camwatch-new-model")
        defer { try? FileManager.default.removeItem(at: root) }
        let checkpoints = root.appendingPathComponent("ckpt"), out = root.appendingPathComponent("out")
        try WatchEndToEndTests.copySample(["epoch-001.h5", "epoch-002.h5"], to: checkpoints)
        // tinynet (its own camwatch_model spec, epoch 7): another network in the same directory.
        try FileManager.default.copyItem(
            at: Fixtures.packageRoot.appendingPathComponent("Tests/Fixtures/checkpoints/tiny_flat.h5"),
            to: checkpoints.appendingPathComponent("epoch-007.h5"))
        let config = root.appendingPathComponent("camwatch.yaml")
        try "score_cam: {threads: 1}\nresources: {priority: normal}\n".write(to: config, atomically: true, encoding: .utf8)
        // Probes of classes 0–2, which both networks have.
        let probes = root.appendingPathComponent("probes")
        try FileManager.default.createDirectory(at: probes, withIntermediateDirectories: true)
        var manifest: [[String: Any]] = []
        for (index, id) in ["probe-00-circle", "probe-01-square", "probe-02-triangle"].enumerated() {
            try FileManager.default.copyItem(
                at: Fixtures.packageRoot.appendingPathComponent("Probes/\(id).png"),
                to: probes.appendingPathComponent("\(id).png"))
            manifest.append(["id": id, "file": "\(id).png", "class": index])
        }
        try JSONSerialization.data(withJSONObject: manifest).write(to: probes.appendingPathComponent("probes.json"))
        let watch = try CommandRunner.run([
            "watch", checkpoints.path, "--probes", probes.path, "--out", out.path,
            "--config", config.path, "--once",
        ])
        #expect(watch.status == 0, "\(watch.stderr)")
        let entries = WatchEndToEndTests.entries(out)
        #expect(entries.map { $0["status"] as? String } == ["ok", "ok", "ok"], "\(watch.stderr)")
        #expect(entries.map { $0["state"] as? String } == ["warming-up", "changing", "warming-up"])
        let third = try #require(entries.last)
        #expect(third["drift"] is NSNull && third["weight_drift"] is NSNull)
        let reason = try #require(third["new_model"] as? String)
        #expect(reason.hasPrefix("architecture camwatch-sample-shapes → "), "\(reason)")
        #expect(watch.stderr.contains("another model than the previous checkpoint"), "\(watch.stderr)")
        // The report describes the model now watched, with a layer of its own.
        let model = try #require(WatchEndToEndTests.report(out)?["model"] as? [String: Any])
        #expect(model["arch"] as? String != "camwatch-sample-shapes")
        #expect(model["layer"] as? String != "block4.relu")
    }
}
