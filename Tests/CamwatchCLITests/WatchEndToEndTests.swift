import CamwatchTestSupport
import Foundation
import Testing

/// `camwatch watch` as a user runs it, against directories a simulated trainer (Scripts/testing/sim_trainer.py,
/// Debian's python3-h5py) fills the way real trainers do.
@Suite(.serialized)
struct WatchEndToEndTests {
    static let python = "/usr/bin/python3"
    static let trainer = Fixtures.packageRoot.appendingPathComponent("Scripts/testing/sim_trainer.py").path
    static let sampleCheckpoints = Fixtures.packageRoot.appendingPathComponent("Checkpoints").path

    /// Three of the sample probes (with their manifest entries), to keep debug-build runs short.
    static func probes(in directory: URL) throws -> String {
        let probes = directory.appendingPathComponent("probes")
        try FileManager.default.createDirectory(at: probes, withIntermediateDirectories: true)
        let source = Fixtures.packageRoot.appendingPathComponent("Probes")
        let keep = ["probe-00-circle", "probe-03-cross", "probe-09-ring-clutter"]
        for id in keep {
            try FileManager.default.copyItem(
                at: source.appendingPathComponent("\(id).png"), to: probes.appendingPathComponent("\(id).png"))
        }
        let manifest = try JSONSerialization.jsonObject(with: Data(contentsOf: source.appendingPathComponent("probes.json")))
        let entries = (manifest as? [[String: Any]] ?? []).filter { keep.contains($0["id"] as? String ?? "") }
        try JSONSerialization.data(withJSONObject: entries).write(to: probes.appendingPathComponent("probes.json"))
        return probes.path
    }

    /// A config with short intervals, so the test needs seconds, not minutes.
    static func config(in directory: URL, extra: String = "") throws -> String {
        let path = directory.appendingPathComponent("camwatch.yaml")
        let text = """
            watch: {interval: 0.5, settle: 0.4, incomplete_after: 3}
            score_cam: {batch_size: 16, threads: 1}
            resources: {priority: normal}
            job_name: e2e
            \(extra)
            """
        try text.write(toFile: path.path, atomically: true, encoding: .utf8)
        return path.path
    }

    static func report(_ out: URL) -> [String: Any]? {
        guard let data = try? Data(contentsOf: out.appendingPathComponent("report.json")) else { return nil }
        return (try? JSONSerialization.jsonObject(with: data)) as? [String: Any]
    }

    static func entries(_ out: URL) -> [[String: Any]] {
        (report(out)?["checkpoints"] as? [[String: Any]]) ?? []
    }

    static func copySample(_ names: [String], to directory: URL) throws {
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        for name in names {
            try FileManager.default.copyItem(
                atPath: "\(sampleCheckpoints)/\(name)", toPath: directory.appendingPathComponent(name).path)
        }
    }

    @Test("a directory filled the way real trainers do: every complete checkpoint once, in order; bad ones failed")
    func simulatedTrainer() throws {
        let root = try Fixtures.temporaryDirectory("camwatch-e2e")
        defer { try? FileManager.default.removeItem(at: root) }
        let checkpoints = root.appendingPathComponent("ckpt"), out = root.appendingPathComponent("out")
        try FileManager.default.createDirectory(at: checkpoints, withIntermediateDirectories: true)
        let watcher = try BackgroundProcess([
            "watch", checkpoints.path, "--probes", try Self.probes(in: root), "--out", out.path,
            "--config", try Self.config(in: root),
        ])
        let trainer = try BackgroundProcess(
            [Self.trainer, Self.sampleCheckpoints, checkpoints.path, "mixed", "--pace", "1", "--wait-for", out.path],
            executable: URL(fileURLWithPath: Self.python))
        #expect(trainer.wait(timeout: 300) == 0, "trainer: \(trainer.stdout) \(trainer.stderr) watcher: \(watcher.stderr)")
        let expected = ["epoch-001.h5", "epoch-002.h5", "last.h5", "epoch-004.h5", "killed.h5", "last.h5", "epoch-006.h5"]
        let done = BackgroundProcess.eventually(timeout: 120) { Self.entries(out).count >= expected.count }
        #expect(done, "watcher log: \(watcher.stderr)")
        #expect(watcher.process.isRunning, "the watcher stopped: \(watcher.stderr)")
        watcher.signal(SIGTERM)
        #expect(watcher.wait(timeout: 30) == 0)

        let entries = Self.entries(out)
        let names = entries.compactMap { $0["name"] as? String }
        // Failures are decided by time (a dead writer after incomplete_after), so only the complete checkpoints
        // have a fixed order; every name appears as often as the trainer produced it.
        #expect(names.sorted() == expected.sorted(), "log: \(watcher.stderr)")
        #expect(entries.filter { $0["status"] as? String == "ok" }.compactMap { $0["name"] as? String }
                    == ["epoch-001.h5", "epoch-002.h5", "last.h5", "last.h5", "epoch-006.h5"])
        let ids = entries.compactMap { $0["id"] as? String }
        #expect(Set(ids).count == ids.count, "a checkpoint appears twice")
        let status = Dictionary(entries.map { ($0["id"] as? String ?? "", $0["status"] as? String ?? "") }) { a, _ in a }
        for entry in entries {
            let name = entry["name"] as? String ?? ""
            let id = entry["id"] as? String ?? ""
            if name == "epoch-004.h5" || name == "killed.h5" {
                #expect(status[id] == "failed")
                #expect((entry["error"] as? String ?? "").contains(name), "the reason names the file: \(entry)")
            } else {
                #expect(status[id] == "ok", "\(name): \(entry["error"] ?? "")")
            }
        }
        #expect(!names.contains("epoch-gone.h5"))
        // The ok checkpoints carry their epochs in trainer order; drift exists from the second one on.
        let ok = entries.filter { $0["status"] as? String == "ok" }
        #expect(ok.compactMap { $0["epoch"] as? Int } == [1, 2, 3, 5, 6])
        #expect(ok.dropFirst().allSatisfy { ($0["drift"] as? [String: Any])?["mean"] is Double })
        for file in ["timeline.png", "drift.png", "heatmaps.h5", "camwatch.prom"] {
            #expect(FileManager.default.fileExists(atPath: out.appendingPathComponent(file).path), "\(file) missing")
        }
        // No temporary or staging leftovers in the trainer's directory.
        let left = try FileManager.default.contentsOfDirectory(atPath: checkpoints.path).sorted()
        #expect(left == ["epoch-002.h5", "epoch-004.h5", "epoch-006.h5", "killed.h5", "last.h5"])
    }

    @Test("kill -9 in the middle of a checkpoint, restart: valid report, nothing lost or duplicated")
    func killNineAndResume() throws {
        let root = try Fixtures.temporaryDirectory("camwatch-kill9")
        defer { try? FileManager.default.removeItem(at: root) }
        let checkpoints = root.appendingPathComponent("ckpt"), out = root.appendingPathComponent("out")
        let names = (1...6).map { String(format: "epoch-%03d.h5", $0) }
        try Self.copySample(names, to: checkpoints)
        let probes = try Self.probes(in: root), config = try Self.config(in: root)
        let arguments = ["watch", checkpoints.path, "--probes", probes, "--out", out.path, "--config", config]
        let first = try BackgroundProcess(arguments)
        // Kill it while it works on a later checkpoint: at least two recorded, not all.
        let started = BackgroundProcess.eventually(timeout: 120) { Self.entries(out).count >= 2 }
        #expect(started, "log: \(first.stderr)")
        first.signal(SIGKILL)
        _ = first.wait(timeout: 10)
        let before = Self.entries(out)
        #expect(Self.report(out) != nil, "report.json is not valid JSON after kill -9")

        let second = try CommandRunner.run(arguments + ["--once"])
        #expect(second.status == 0, "\(second.stderr)")
        let after = Self.entries(out)
        #expect(after.compactMap { $0["name"] as? String } == names, "log: \(second.stderr)")
        #expect(after.allSatisfy { $0["status"] as? String == "ok" })
        // What was recorded before the kill is kept as it was (not recomputed).
        for (old, new) in zip(before, after) {
            #expect(old["id"] as? String == new["id"] as? String)
            #expect(old["processed_at"] as? Double == new["processed_at"] as? Double)
        }
        // And a third run has nothing to do.
        let third = try CommandRunner.run(arguments + ["--once"])
        #expect(third.status == 0)
        #expect(Self.entries(out).count == names.count)
    }

    @Test("the trainer is never disturbed: h5py re-saves the same name while camwatch reads it")
    func trainerResavesWhileWatched() throws {
        let root = try Fixtures.temporaryDirectory("camwatch-resave")
        defer { try? FileManager.default.removeItem(at: root) }
        let checkpoints = root.appendingPathComponent("ckpt"), out = root.appendingPathComponent("out")
        try FileManager.default.createDirectory(at: checkpoints, withIntermediateDirectories: true)
        let config = try Self.config(in: root, extra: "")
        let watcher = try BackgroundProcess([
            "watch", checkpoints.path, "--probes", try Self.probes(in: root), "--out", out.path, "--config", config,
        ])
        // Re-save last.h5 in place (mode "w": truncate, lock, write) 150 times while the watcher copies it.
        let trainer = try BackgroundProcess(
            [Self.trainer, Self.sampleCheckpoints, checkpoints.path, "resave", "150"],
            executable: URL(fileURLWithPath: Self.python))
        #expect(trainer.wait(timeout: 120) == 0, "a save failed: \(trainer.stdout) \(trainer.stderr)")
        #expect(trainer.stdout.contains("150/150 saves succeeded"))
        // The last version settles and is processed.
        #expect(BackgroundProcess.eventually(timeout: 60) { Self.entries(out).contains { $0["status"] as? String == "ok" } },
                "log: \(watcher.stderr)")
        watcher.signal(SIGTERM)
        #expect(watcher.wait(timeout: 30) == 0)
    }

    @Test("SIGTERM mid-checkpoint: exit 0 promptly, report consistent")
    func gracefulStop() throws {
        let root = try Fixtures.temporaryDirectory("camwatch-term")
        defer { try? FileManager.default.removeItem(at: root) }
        let checkpoints = root.appendingPathComponent("ckpt"), out = root.appendingPathComponent("out")
        try Self.copySample((1...4).map { String(format: "epoch-%03d.h5", $0) }, to: checkpoints)
        let watcher = try BackgroundProcess([
            "watch", checkpoints.path, "--probes", try Self.probes(in: root), "--out", out.path,
            "--config", try Self.config(in: root),
        ])
        #expect(BackgroundProcess.eventually(timeout: 120) { Self.entries(out).count >= 1 }, "log: \(watcher.stderr)")
        watcher.signal(SIGTERM)
        #expect(watcher.wait(timeout: 30) == 0, "log: \(watcher.stderr)")
        let entries = Self.entries(out)
        #expect(!entries.isEmpty)
        #expect(Set(entries.compactMap { $0["id"] as? String }).count == entries.count)
    }
}
