import CamwatchTestSupport
import Foundation
import Testing

/// `camwatch watch` on the files a real Keras job wrote with ModelCheckpoint (Scripts/keras/live_job.py
/// --fixtures): each format copied into a watched directory epoch by epoch, the first one slowly in place,
/// with no `--arch` or `--model`.
@Suite(.serialized)
struct KerasWatchEndToEndTests {
    static let live = Fixtures.path("keras/live")

    /// Two sample probes without a manifest: the model has 4 classes, so each explains its predicted class.
    static func probes(in directory: URL) throws -> String {
        let probes = directory.appendingPathComponent("probes")
        try FileManager.default.createDirectory(at: probes, withIntermediateDirectories: true)
        for id in ["probe-00-circle", "probe-03-cross"] {
            try FileManager.default.copyItem(at: Fixtures.packageRoot.appendingPathComponent("Probes/\(id).png"),
                                             to: probes.appendingPathComponent("\(id).png"))
        }
        return probes.path
    }

    static func copySlowly(_ source: String, to target: String) throws {
        let bytes = try Data(contentsOf: URL(fileURLWithPath: source))
        let half = bytes.count / 2
        try bytes.prefix(half).write(to: URL(fileURLWithPath: target))
        // Longer than the settle interval: a half-written file must wait, not fail.
        Thread.sleep(forTimeInterval: 1.2)
        let handle = try FileHandle(forWritingTo: URL(fileURLWithPath: target))
        defer { try? handle.close() }
        try handle.seekToEnd()
        try handle.write(contentsOf: bytes.suffix(from: half))
    }

    @Test(arguments: [("keras", "*.keras", "epoch-%02d.keras"), ("weights", "*.weights.h5", "epoch-%02d.weights.h5"),
                      ("legacy", "*.h5", "epoch-%02d.h5")])
    func everyEpochOnceInOrder(_ format: String, _ pattern: String, _ nameFormat: String) throws {
        let root = try Fixtures.temporaryDirectory("camwatch-keras-e2e")
        defer { try? FileManager.default.removeItem(at: root) }
        let checkpoints = root.appendingPathComponent("ckpt"), out = root.appendingPathComponent("out")
        try FileManager.default.createDirectory(at: checkpoints, withIntermediateDirectories: true)
        if format == "weights" {
            try FileManager.default.copyItem(atPath: "\(Self.live)/weights/model.json",
                                             toPath: checkpoints.appendingPathComponent("model.json").path)
        }
        // A CSVLogger file beside the checkpoints (Tests/Fixtures/keras/csvlogger, written by Keras): its rows 0–2
        // are epochs 1–3.
        let logger = Fixtures.packageRoot.appendingPathComponent("Tests/Fixtures/keras/csvlogger")
        try FileManager.default.copyItem(
            at: logger.appendingPathComponent("training.log"), to: checkpoints.appendingPathComponent("training.log"))
        let config = try WatchEndToEndTests.config(in: root, extra: """
            pattern: "\(pattern)"
            preprocessing: {scale: 0.00392156862745098, mean: [0, 0, 0], std: [1, 1, 1]}
            """)
        let watcher = try BackgroundProcess([
            "watch", checkpoints.path, "--probes", try Self.probes(in: root), "--out", out.path,
            "--config", config,
        ])
        let names = (1...3).map { String(format: nameFormat, $0) }
        for (index, name) in names.enumerated() {
            let source = "\(Self.live)/\(format)/\(name)", target = checkpoints.appendingPathComponent(name).path
            if index == 0 { try Self.copySlowly(source, to: target) } else { try FileManager.default.copyItem(atPath: source, toPath: target) }
            let seen = BackgroundProcess.eventually(timeout: 120) { WatchEndToEndTests.entries(out).count > index }
            #expect(seen, "\(name) not processed: \(watcher.stderr)")
        }
        watcher.signal(SIGTERM)
        #expect(watcher.wait(timeout: 30) == 0)
        let entries = WatchEndToEndTests.entries(out)
        #expect(entries.compactMap { $0["name"] as? String } == names, "log: \(watcher.stderr)")
        #expect(entries.allSatisfy { $0["status"] as? String == "ok" }, "\(entries.map { $0["error"] ?? "" })")
        #expect(entries.compactMap { $0["epoch"] as? Int } == [1, 2, 3])
        #expect(entries.dropFirst().allSatisfy { ($0["drift"] as? [String: Any])?["mean"] is Double })
        let expected = try JSONSerialization.jsonObject(with: Data(contentsOf: logger.appendingPathComponent("expected.json")))
        let history = try #require((expected as? [String: Any])?["history"] as? [String: [Double]])
        let rates = entries.compactMap { ($0["attributes"] as? [String: Any])?["learning_rate"] as? Double }
        #expect(rates.count == 3 && zip(rates, history["learning_rate"] ?? []).allSatisfy { abs($0 - $1) <= 1e-12 * $1 })
        let accuracy = entries.compactMap { ($0["attributes"] as? [String: Any])?["val_accuracy"] as? Double }
        #expect(accuracy == (history["val_accuracy"] ?? []))
    }
}

/// `inspect`, `predict` and `explain` on Keras files, as a user runs them.
@Suite struct KerasCLITests {
    @Test func inspectListsKerasLayersAndTargets() throws {
        let result = try CommandRunner.run(["inspect", Fixtures.path("keras/tfk_functional.h5")])
        #expect(result.status == 0, "\(result.stderr)")
        let lines = result.stdout.split(separator: "\n").map { String($0).trimmingCharacters(in: .whitespaces) }
        #expect(result.stdout.contains("keras-h5, "))
        // The default target keeps a 7×7 map at least (a 2×2 map makes every heatmap a smooth gradient): concat's 8×8, not last_relu's 2×2.
        #expect(lines.contains { $0.hasPrefix("** concat  concat  [1, 14, 8, 8]") }, "\(result.stdout)")
        #expect(lines.contains { $0.hasPrefix("*  last_relu  relu  [1, 12, 2, 2]") }, "\(result.stdout)")
        #expect(lines.contains { $0.hasPrefix("*  last_conv  conv2d") })
        #expect(lines.contains { $0.hasPrefix("classifier/dense  linear  [1, 5]") })
        #expect(!lines.contains { $0.hasPrefix("classifier  softmax") })
    }

    @Test func weightsOnlyNeedTheKerasModel() throws {
        let weights = Fixtures.path("keras/tfk_functional_weights.h5")
        let png = Fixtures.path("cli/chelsea.png")
        let refused = try CommandRunner.run(["predict", "--json", "--weights", weights, png])
        #expect(refused.status != 0)
        #expect(refused.stderrLines.count == 1 && refused.stderr.contains("needs its model"), "\(refused.stderr)")
        let result = try CommandRunner.run(["predict", "--json", "--weights", weights, "--model",
                                            Fixtures.path("keras/tfk_functional.json"), png])
        #expect(result.status == 0, "\(result.stderr)")
        let json = try JSONSerialization.jsonObject(with: Data(result.stdout.utf8)) as? [String: Any]
        let first = (json?["results"] as? [[String: Any]])?.first
        #expect((first?["logits"] as? [Double])?.count == 5)
    }

    @Test func explainTakesAKerasLayerName() throws {
        let out = try Fixtures.temporaryDirectory("camwatch-keras-explain")
        defer { try? FileManager.default.removeItem(at: out) }
        let result = try CommandRunner.run(["explain", "--weights", Fixtures.path("keras/mobilenetv2.keras"), "--layer",
                                            "block_16_project", "--out", out.path, Fixtures.path("cli/chelsea.png")])
        #expect(result.status == 0, "\(result.stderr)")
        let unknown = try CommandRunner.run(["explain", "--weights", Fixtures.path("keras/mobilenetv2.keras"), "--layer",
                                             "no_such_layer", "--out", out.path, Fixtures.path("cli/chelsea.png")])
        #expect(unknown.status != 0)
        #expect(unknown.stderr.contains("out_relu"), "the message lists Keras layer names: \(unknown.stderr)")
    }
}
