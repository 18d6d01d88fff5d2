import CamwatchTestSupport
import Foundation
import Testing

/// `camwatch watch --tensorboard` and `camwatch report --format html` as a user runs them, across a restart.
@Suite(.serialized)
struct PublishEndToEndTests {
    /// `watch --tensorboard --once` on two checkpoints, then again after a third and a file that is not a
    /// checkpoint were added; report.json's entries.
    static func watchTwice(in root: URL) throws
        -> (out: URL, tensorboard: URL, probes: String, entries: [[String: Any]])
    {
        let checkpoints = root.appendingPathComponent("ckpt"), out = root.appendingPathComponent("out")
        let tensorboard = root.appendingPathComponent("tb")
        let probes = try WatchEndToEndTests.probes(in: root)
        let config = try WatchEndToEndTests.config(in: root, extra: "tensorboard: \(tensorboard.path)")
        let arguments = ["watch", checkpoints.path, "--probes", probes, "--out", out.path, "--config", config, "--once"]

        try WatchEndToEndTests.copySample(["epoch-001.h5", "epoch-002.h5"], to: checkpoints)
        let first = try CommandRunner.run(arguments)
        #expect(first.status == 0, "\(first.stderr)")
        try WatchEndToEndTests.copySample(["epoch-003.h5"], to: checkpoints)
        // A file that is not a checkpoint: a failed entry, which the page lists with its reason.
        try Data("not HDF5".utf8).write(to: checkpoints.appendingPathComponent("broken.h5"))
        let second = try CommandRunner.run(arguments)
        #expect(second.status == 0, "\(second.stderr)")
        return (out, tensorboard, probes, WatchEndToEndTests.entries(out))
    }

    @Test("watch --tensorboard, restart, watch again: index.html and report --format html list every checkpoint")
    func tensorboardAndPageAcrossARestart() throws {
        let root = try Fixtures.temporaryDirectory("camwatch-publish-e2e")
        defer { try? FileManager.default.removeItem(at: root) }
        let (out, tensorboard, probes, entries) = try Self.watchTwice(in: root)
        #expect(entries.map { $0["name"] as? String ?? "" }.sorted() == ["broken.h5", "epoch-001.h5", "epoch-002.h5", "epoch-003.h5"])
        let files = try FileManager.default.contentsOfDirectory(atPath: tensorboard.path)
        #expect(files.count == 1 && files[0].hasPrefix("events.out.tfevents.") && files[0].hasSuffix(".camwatch"), "\(files)")

        let page = try String(contentsOf: out.appendingPathComponent("index.html"), encoding: .utf8)
        #expect(page.components(separatedBy: "<tr class=\"checkpoint ").count - 1 == 4)
        #expect(page.contains("<li class=\"failure\"><b>broken.h5</b>"))
        let printed = try CommandRunner.run(["report", out.path, "--format", "html", "--probes", probes])
        #expect(printed.status == 0, "\(printed.stderr)")
        #expect(printed.stdout.hasPrefix("<!DOCTYPE html>"))
        #expect(printed.stdout.components(separatedBy: "<tr class=\"checkpoint ").count - 1 == 4)
    }

    // Needs TensorBoard's own reader; without its Python environment the test is reported as skipped.
    @Test(
        "watch --tensorboard, restart, watch again: TensorBoard reads each step once, equal to report.json",
        .enabled(if: ExternalTools.tensorboardPython != nil, Comment(rawValue: ExternalTools.tensorboardMissing)))
    func tensorboardReadsEachStepOnce() throws {
        let root = try Fixtures.temporaryDirectory("camwatch-publish-e2e")
        defer { try? FileManager.default.removeItem(at: root) }
        let (_, tensorboard, _, entries) = try Self.watchTwice(in: root)
        let python = try #require(ExternalTools.tensorboardPython)
        let script = Fixtures.packageRoot.appendingPathComponent("Scripts/tensorboard/read_events.py").path
        let read = try ExternalTools.run(python, [script, tensorboard.path])
        #expect(read.status == 0, "\(read.stderr)")
        let dump = try #require(try JSONSerialization.jsonObject(with: Data(read.stdout.utf8)) as? [String: Any])
        let scalars = try #require(dump["scalars"] as? [String: [[String: Any]]])
        let images = try #require(dump["images"] as? [String: [[String: Any]]])
        let processed = entries.filter { $0["status"] as? String == "ok" }
        let steps = processed.compactMap { $0["step"] as? Int }
        #expect(steps.count == 3)
        func series(_ tag: String) -> [(Int, Double)] {
            (scalars[tag] ?? []).map { (($0["step"] as? Int) ?? -1, ($0["value"] as? Double) ?? .nan) }
        }
        #expect(series("camwatch/stable").map(\.0) == steps)
        #expect(series("camwatch/drift_mean").map(\.0) == Array(steps.dropFirst()))
        for entry in processed {
            let step = entry["step"] as? Int ?? -1
            let drift = entry["drift"] as? [String: Any]
            let mean = try #require(series("camwatch/drift_mean").first { $0.0 == step }?.1 ?? (drift == nil ? 0 : nil))
            if let drift {
                #expect(Float(mean) == Float(drift["mean"] as? Double ?? .nan))
                let perProbe = drift["per_probe"] as? [String: [String: Any]] ?? [:]
                for (probe, metrics) in perProbe {
                    let value = series("camwatch/drift/\(probe)").first { $0.0 == step }?.1
                    #expect(value.map(Float.init) == Float(metrics["drift"] as? Double ?? .nan), "\(probe) at \(step)")
                }
            }
        }
        #expect(images.count == 3)
        for (tag, list) in images {
            #expect(list.compactMap { $0["step"] as? Int } == steps, "\(tag)")
            #expect(list.allSatisfy { $0["width"] as? Int == 64 && $0["height"] as? Int == 64 })
        }
    }
}
