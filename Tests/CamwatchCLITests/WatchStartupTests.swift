import CamwatchTestSupport
import Foundation
import Testing

/// `camwatch watch` failing loudly at start-up (docs/architecture.md §6): the output directory, the architecture, layer and
/// input size checked against the first checkpoint before anything is written, `--once`'s exit status, and
/// the input size and class warnings. Each case runs the real binary on copies of sample checkpoints.
@Suite(.serialized)
struct WatchStartupTests {
    static let sampleCheckpoints = Fixtures.packageRoot.appendingPathComponent("Checkpoints")
    static let sampleProbes = Fixtures.packageRoot.appendingPathComponent("Probes")

    /// A scratch directory with `ckpt/` (copies of sample checkpoints), `probes/` (two sample probes with their
    /// manifest entries, classes optionally shifted) and a config with short intervals.
    struct Scratch {
        let root: URL
        var checkpoints: String { root.appendingPathComponent("ckpt").path }
        var probes: String { root.appendingPathComponent("probes").path }
        var out: String { root.appendingPathComponent("out").path }
        var config: String { root.appendingPathComponent("camwatch.yaml").path }

        init(_ names: [String], shiftClasses: Bool = false) throws {
            root = try Fixtures.temporaryDirectory("camwatch-startup")
            let fm = FileManager.default
            try fm.createDirectory(atPath: root.appendingPathComponent("ckpt").path, withIntermediateDirectories: true)
            for name in names {
                try fm.copyItem(
                    at: WatchStartupTests.sampleCheckpoints.appendingPathComponent(name),
                    to: root.appendingPathComponent("ckpt/\(name)"))
            }
            let probes = root.appendingPathComponent("probes")
            try fm.createDirectory(at: probes, withIntermediateDirectories: true)
            let keep = ["probe-00-circle", "probe-03-cross", "probe-05-circle-small"]
            let manifest = try JSONSerialization.jsonObject(
                with: Data(contentsOf: WatchStartupTests.sampleProbes.appendingPathComponent("probes.json")))
            var entries = (manifest as? [[String: Any]] ?? []).filter { keep.contains($0["id"] as? String ?? "") }
            for (index, entry) in entries.enumerated() {
                if let file = entry["file"] as? String {
                    try fm.copyItem(
                        at: WatchStartupTests.sampleProbes.appendingPathComponent(file),
                        to: probes.appendingPathComponent(file))
                }
                if shiftClasses, let label = entry["class"] as? Int { entries[index]["class"] = (label + 1) % 5 }
            }
            try JSONSerialization.data(withJSONObject: entries).write(to: probes.appendingPathComponent("probes.json"))
            try """
                watch: {interval: 0.5, settle: 0.3, incomplete_after: 3}
                resources: {priority: normal, threads: 1}

                """.write(toFile: config, atomically: true, encoding: .utf8)
        }

        func remove() { try? FileManager.default.removeItem(at: root) }

        /// Copies one more sample checkpoint into `ckpt/`.
        func add(_ name: String) throws {
            try FileManager.default.copyItem(
                at: WatchStartupTests.sampleCheckpoints.appendingPathComponent(name),
                to: URL(fileURLWithPath: checkpoints + "/" + name))
        }

        func watch(_ extra: [String] = [], out: String? = nil) throws -> CommandRunner.Result {
            try CommandRunner.run(
                ["watch", checkpoints, "--probes", probes, "--out", out ?? self.out, "--config", config, "--once"] + extra)
        }

        /// Runs Debian's python3-h5py on `script` with the checkpoint directory as argv[1].
        func h5py(_ script: String) throws {
            let process = Process()
            process.executableURL = URL(fileURLWithPath: "/usr/bin/python3")
            process.arguments = ["-c", script, checkpoints]
            try process.run()
            process.waitUntilExit()
            #expect(process.terminationStatus == 0, "h5py script failed")
        }
    }

    /// How often `needle` occurs in `text`.
    static func occurrences(_ needle: String, in text: String) -> Int {
        text.components(separatedBy: needle).count - 1
    }

    @Test("--out equal to or inside the watched directory is refused before anything is written")
    func outInsideTheWatchedDirectory() throws {
        let scratch = try Scratch(["epoch-001.h5"])
        defer { scratch.remove() }
        for out in [scratch.checkpoints, scratch.checkpoints + "/camwatch-out", scratch.checkpoints + "/./"] {
            let run = try scratch.watch(out: out)
            #expect(run.status != 0)
            #expect(run.stderrLines.count == 1, "\(run.stderr)")
            #expect(run.stderr.contains("watched directory") && run.stderr.contains("heatmaps.h5"), "\(run.stderr)")
        }
        let listing = try FileManager.default.contentsOfDirectory(atPath: scratch.checkpoints)
        #expect(listing == ["epoch-001.h5"], "nothing may be written into the watched directory: \(listing)")
    }

    @Test("a layer the checkpoint's own architecture lacks: non-zero exit at start-up, --out never created, path once")
    func unknownLayerAgainstTheFirstCheckpoint() throws {
        let scratch = try Scratch(["epoch-001.h5", "epoch-002.h5"])
        defer { scratch.remove() }
        let run = try scratch.watch(["--layer", "layer5"])
        #expect(run.status != 0)
        #expect(run.stderrLines.count == 1, "\(run.stderr)")
        #expect(run.stderr.contains("'layer5'") && run.stderr.contains("block4.relu"), "\(run.stderr)")
        let path = scratch.checkpoints + "/epoch-001.h5"
        #expect(Self.occurrences(path, in: run.stderr) == 1, "the checkpoint's path, once: \(run.stderr)")
        #expect(!FileManager.default.fileExists(atPath: scratch.out), "--out must not be created")
    }

    @Test("a checkpoint without arch or camwatch_model is a failed entry naming the arch attribute; the start goes on")
    func noArchitectureNamesTheArchAttribute() throws {
        let scratch = try Scratch(["epoch-001.h5"])
        defer { scratch.remove() }
        try scratch.h5py(
            "import h5py, sys\nwith h5py.File(sys.argv[1] + '/epoch-001.h5', 'a') as f:\n    del f.attrs['camwatch_model']\n")
        let run = try scratch.watch()
        #expect(run.status != 0, "--once: the only checkpoint failed")
        #expect(run.stderrLines.last?.contains("the only checkpoint failed") == true, "\(run.stderr)")
        #expect(try Self.statuses(scratch.out) == ["epoch-001.h5": "failed"])
        let error = try Self.errors(scratch.out)["epoch-001.h5"] ?? ""
        #expect(error.contains("root attribute arch") && error.contains("--arch"), "\(error)")
        #expect(Self.occurrences(scratch.checkpoints + "/epoch-001.h5", in: error) == 1, "\(error)")
    }

    @Test("a kernel of 0 in the oldest checkpoints' camwatch_model: failed entries, the start goes on, and again after a restart")
    func brokenOldestCheckpointDoesNotStopTheStart() throws {
        let scratch = try Scratch(["epoch-001.h5"])
        defer { scratch.remove() }
        try scratch.h5py(
            "import h5py, sys\nwith h5py.File(sys.argv[1] + '/epoch-001.h5', 'a') as f:\n"
                + "    f.attrs['camwatch_model'] = f.attrs['camwatch_model'].replace('\"kernel\":3', '\"kernel\":0', 1)\n")
        // Three broken files: as many as the start-up check tries.
        for copy in ["epoch-001-b.h5", "epoch-001-c.h5"] {
            try FileManager.default.copyItem(atPath: scratch.checkpoints + "/epoch-001.h5", toPath: scratch.checkpoints + "/" + copy)
        }
        let broken = ["epoch-001.h5": "failed", "epoch-001-b.h5": "failed", "epoch-001-c.h5": "failed"]
        let first = try scratch.watch()
        #expect(first.stderr.contains("start-up check: none of the first 3 checkpoint(s) can be analysed"), "\(first.stderr)")
        #expect(first.stderrLines.last?.contains("all 3 checkpoints failed") == true, "\(first.stderr)")
        #expect(try Self.statuses(scratch.out) == broken)
        #expect(try Self.errors(scratch.out)["epoch-001.h5"]?.contains("kernel = 0") == true)

        // A restart with the broken files recorded failed and a good one beside them: the check skips what the
        // report already judged and takes the good one.
        try scratch.add("epoch-002.h5")
        let second = try scratch.watch()
        #expect(second.status == 0, "\(second.stderr)")
        #expect(!second.stderr.contains("start-up check: none"), "\(second.stderr)")
        #expect(try Self.statuses(scratch.out) == broken.merging(["epoch-002.h5": "ok"]) { a, _ in a })

        // A --layer the model lacks is still wrong for every checkpoint: the start stops on the good one.
        let layer = try scratch.watch(["--layer", "layer5"])
        #expect(layer.status != 0)
        #expect(layer.stderrLines.count == 1 && layer.stderr.contains("no layer named 'layer5'"), "\(layer.stderr)")
    }

    @Test("another checkpoint directory or other probe images into an --out that holds a run: one line naming both, --out untouched")
    func anotherRunIntoTheSameOutIsRefused() throws {
        let scratch = try Scratch(["epoch-001.h5"])
        defer { scratch.remove() }
        #expect(try scratch.watch().status == 0)
        let fm = FileManager.default
        func contents() throws -> [String: Data] {
            var files: [String: Data] = [:]
            for name in try fm.contentsOfDirectory(atPath: scratch.out) where name != ".camwatch.lock" {
                files[name] = try Data(contentsOf: URL(fileURLWithPath: scratch.out + "/" + name))
            }
            return files
        }
        let before = try contents()
        let report = try #require(try Self.report(scratch.out))
        let run = try #require(report["run"] as? [String: Any])
        #expect(run["checkpoints"] as? String == URL(fileURLWithPath: scratch.checkpoints).resolvingSymlinksInPath().path)
        #expect((report["probes"] as? [[String: Any]])?.allSatisfy { ($0["digest"] as? String)?.count == 16 } == true)

        // Another checkpoint directory.
        let other = scratch.root.appendingPathComponent("other").path
        try fm.createDirectory(atPath: other, withIntermediateDirectories: true)
        try fm.copyItem(atPath: Self.sampleCheckpoints.appendingPathComponent("epoch-002.h5").path, toPath: other + "/epoch-002.h5")
        let refused = try CommandRunner.run(
            ["watch", other, "--probes", scratch.probes, "--out", scratch.out, "--config", scratch.config, "--once"])
        #expect(refused.status != 0)
        #expect(refused.stderrLines.count == 1, "\(refused.stderr)")
        let resolved = { (path: String) in URL(fileURLWithPath: path).resolvingSymlinksInPath().path }
        #expect(refused.stderr.contains(resolved(scratch.checkpoints)) && refused.stderr.contains(resolved(other)), "\(refused.stderr)")
        #expect(refused.stderr.contains("another --out") && refused.stderr.contains("remove \(scratch.out)"), "\(refused.stderr)")
        #expect(try contents() == before, "--out must stay as it was")

        // The same directory, with one probe image replaced by another under the same id.
        let circle = scratch.probes + "/probe-00-circle.png"
        let original = try Data(contentsOf: URL(fileURLWithPath: circle))
        try Data(contentsOf: URL(fileURLWithPath: scratch.probes + "/probe-03-cross.png")).write(to: URL(fileURLWithPath: circle))
        let probes = try scratch.watch()
        #expect(probes.status != 0)
        #expect(probes.stderrLines.count == 1, "\(probes.stderr)")
        #expect(probes.stderr.contains("probe 'probe-00-circle' is another image"), "\(probes.stderr)")
        #expect(try contents() == before, "--out must stay as it was")
        try original.write(to: URL(fileURLWithPath: circle))

        // The directory renamed (same device and inode): the same run, which now records the new path.
        let renamed = scratch.root.appendingPathComponent("renamed").path
        try fm.moveItem(atPath: scratch.checkpoints, toPath: renamed)
        try fm.copyItem(atPath: other + "/epoch-002.h5", toPath: renamed + "/epoch-002.h5")
        let moved = try CommandRunner.run(
            ["watch", renamed, "--probes", scratch.probes, "--out", scratch.out, "--config", scratch.config, "--once"])
        #expect(moved.status == 0, "\(moved.stderr)")
        #expect(((try Self.report(scratch.out))?["run"] as? [String: Any])?["checkpoints"] as? String == resolved(renamed))
    }

    @Test("a report.json from before the run was recorded is adopted: the run goes on and records its identity")
    func anOldReportIsAdopted() throws {
        let scratch = try Scratch(["epoch-001.h5"])
        defer { scratch.remove() }
        #expect(try scratch.watch().status == 0)
        let path = scratch.out + "/report.json"
        var report = try #require(try Self.report(scratch.out))
        report["run"] = nil
        report["probes"] = (report["probes"] as? [[String: Any]])?.map { $0.filter { $0.key != "digest" } }
        try JSONSerialization.data(withJSONObject: report).write(to: URL(fileURLWithPath: path))
        try scratch.add("epoch-002.h5")
        let run = try scratch.watch()
        #expect(run.status == 0, "\(run.stderr)")
        #expect(try Self.statuses(scratch.out) == ["epoch-001.h5": "ok", "epoch-002.h5": "ok"])
        #expect(try Self.report(scratch.out)?["run"] is [String: Any])
    }

    @Test("--tensorboard the watched directory or inside it, and tensorboard: '': refused with one line, nothing written")
    func tensorBoardInsideTheWatchedDirectory() throws {
        let scratch = try Scratch(["epoch-001.h5"])
        defer { scratch.remove() }
        for directory in [scratch.checkpoints, scratch.checkpoints + "/tb", scratch.checkpoints + "/./"] {
            let run = try scratch.watch(["--tensorboard", directory])
            #expect(run.status != 0)
            #expect(run.stderrLines.count == 1, "\(run.stderr)")
            #expect(run.stderr.contains("tensorboard (--tensorboard)") && run.stderr.contains("watched directory"), "\(run.stderr)")
        }
        try "watch: {interval: 0.5, settle: 0.3}\ntensorboard: ''\n".write(toFile: scratch.config, atomically: true, encoding: .utf8)
        let empty = try scratch.watch()
        #expect(empty.status != 0)
        #expect(empty.stderrLines.count == 1 && empty.stderr.contains("tensorboard (--tensorboard) is empty"), "\(empty.stderr)")
        let listing = try FileManager.default.contentsOfDirectory(atPath: scratch.checkpoints)
        #expect(listing == ["epoch-001.h5"], "nothing may be written into the watched directory: \(listing)")
        #expect(!FileManager.default.fileExists(atPath: scratch.out), "--out must not be created")
    }

    @Test("a 512 KiB job_name or layer in the config: one short line naming the key and the limit, nothing written")
    func hugeStringSettings() throws {
        let scratch = try Scratch(["epoch-001.h5"])
        defer { scratch.remove() }
        for key in ["job_name", "layer"] {
            let huge = String(repeating: "j", count: 512 << 10)
            try "watch: {interval: 0.5, settle: 0.3}\n\(key): \(huge)\n".write(toFile: scratch.config, atomically: true, encoding: .utf8)
            let run = try scratch.watch()
            #expect(run.status != 0)
            #expect(run.stderrLines.count == 1 && run.stderr.utf8.count < 1000, "\(run.stderr.prefix(500))")
            #expect(run.stderr.contains("\(key)") && run.stderr.contains("at most 256"), "\(run.stderr.prefix(500))")
            #expect(!FileManager.default.fileExists(atPath: scratch.out), "--out must not be created")
        }
    }

    @Test("--once with no file matching the pattern: non-zero, naming the files seen but not watched")
    func onceWithNothingMatching() throws {
        let scratch = try Scratch([])
        defer { scratch.remove() }
        for name in ["model.keras", "run.log"] {
            try Data("x".utf8).write(to: URL(fileURLWithPath: scratch.checkpoints + "/" + name))
        }
        let run = try scratch.watch()
        #expect(run.status != 0)
        let last = try #require(run.stderrLines.last)
        #expect(last.contains("no file matches the pattern '*.h5'"), "\(run.stderr)")
        #expect(last.contains("model.keras") && last.contains("run.log"), "\(run.stderr)")
    }

    @Test("--once when every checkpoint failed: non-zero; with one good checkpoint among bad ones: 0")
    func onceWhenEveryCheckpointFailed() throws {
        let scratch = try Scratch([])
        defer { scratch.remove() }
        try Data(repeating: 0x5A, count: 4096).write(to: URL(fileURLWithPath: scratch.checkpoints + "/a.h5"))
        let failed = try scratch.watch()
        #expect(failed.status != 0)
        #expect(failed.stderrLines.last?.contains("the only checkpoint failed") == true, "\(failed.stderr)")

        try FileManager.default.copyItem(
            atPath: Self.sampleCheckpoints.appendingPathComponent("epoch-001.h5").path,
            toPath: scratch.checkpoints + "/b.h5")
        let mixed = try scratch.watch()
        #expect(mixed.status == 0, "\(mixed.stderr)")
    }

    @Test("input_size, mean and std from the checkpoint's attributes; probe-size and misclassification warnings")
    func inputFromTheCheckpointAndWarnings() throws {
        // Without the attributes: the spec's 64 px, the probes' own size, right classes: no warning.
        let plain = try Scratch(["epoch-024.h5"])
        defer { plain.remove() }
        let quiet = try plain.watch()
        #expect(quiet.status == 0, "\(quiet.stderr)")
        #expect(!quiet.stderr.contains("warning"), "\(quiet.stderr)")
        #expect(try Self.inputSize(plain.out) == [64, 64])

        // input_size 32 stored in the checkpoint beats the spec's 64; probes (64 px) now differ; classes shifted.
        let stored = try Scratch(["epoch-024.h5"], shiftClasses: true)
        defer { stored.remove() }
        try stored.h5py(
            "import h5py, sys\nwith h5py.File(sys.argv[1] + '/epoch-024.h5', 'a') as f:\n"
                + "    f.attrs['input_size'] = 32\n    f.attrs['mean'] = [0.5, 0.5, 0.5]\n    f.attrs['std'] = [0.25, 0.25, 0.25]\n")
        let warned = try stored.watch()
        #expect(warned.status == 0, "\(warned.stderr)")
        #expect(try Self.inputSize(stored.out) == [32, 32])
        #expect(Self.occurrences("probes of another size", in: warned.stderr) == 1, "\(warned.stderr)")
        #expect(warned.stderr.contains("the checkpoint's input_size attribute"), "\(warned.stderr)")
        #expect(Self.occurrences("predicted as another class", in: warned.stderr) == 1, "\(warned.stderr)")

        // A bad input_size attribute is the checkpoint's fault: a failed entry naming the file and the attribute.
        let bad = try Scratch(["epoch-024.h5"])
        defer { bad.remove() }
        try bad.h5py("import h5py, sys\nwith h5py.File(sys.argv[1] + '/epoch-024.h5', 'a') as f:\n    f.attrs['input_size'] = 0\n")
        let refused = try bad.watch()
        #expect(refused.status != 0)
        let error = try Self.errors(bad.out)["epoch-024.h5"] ?? ""
        #expect(error.contains("input_size") && error.contains("epoch-024.h5"), "\(error)")
    }

    @Test("settle: .inf in the config, or --interval inf / 0 / -1 / 0.05: one line naming the key and bounds, non-zero exit")
    func infiniteDurationsAreOneLine() throws {
        let scratch = try Scratch(["epoch-001.h5"])
        defer { scratch.remove() }
        try "watch: {interval: 0.5, settle: .inf}\n".write(toFile: scratch.config, atomically: true, encoding: .utf8)
        let settle = try scratch.watch()
        // A trap (SIGILL) shows as a status above 128 from a shell, or a crash report on stderr.
        #expect(settle.status == 1 || settle.status == 64, "status \(settle.status): \(settle.stderr)")
        #expect(settle.stderrLines.count == 1, "\(settle.stderr)")
        #expect(settle.stderr.contains("watch.settle must be a number of seconds") && settle.stderr.contains(scratch.config),
                "\(settle.stderr)")
        #expect(!FileManager.default.fileExists(atPath: scratch.out), "--out must not be created")

        try "watch: {settle: 0.3}\n".write(toFile: scratch.config, atomically: true, encoding: .utf8)
        // One rule for every value, whichever side of it: 0 and -1 get the bounds too (no separate "positive" check).
        for value in ["inf", "0", "-1", "0.05"] {
            let interval = try scratch.watch(["--interval=\(value)"])
            #expect(interval.status == 1 || interval.status == 64, "status \(interval.status): \(interval.stderr)")
            #expect(interval.stderrLines.count == 1, "\(interval.stderr)")
            #expect(interval.stderr.contains("watch.interval (--interval) must be a number of seconds, at least 0.1"),
                    "\(interval.stderr)")
        }
    }

    @Test("a checkpoint whose camwatch_model has a kernel of 2^40 is a failed entry naming the key; the run goes on")
    func hostileSpecInACheckpointIsAFailedEntry() throws {
        let scratch = try Scratch(["epoch-001.h5", "epoch-002.h5"])
        defer { scratch.remove() }
        try scratch.h5py(
            "import h5py, sys\nwith h5py.File(sys.argv[1] + '/epoch-002.h5', 'a') as f:\n"
                + "    f.attrs['camwatch_model'] = f.attrs['camwatch_model'].replace('\"kernel\":3', '\"kernel\":1099511627776', 1)\n")
        let run = try scratch.watch()
        #expect(run.status == 0, "\(run.stderr)")
        let data = try Data(contentsOf: URL(fileURLWithPath: scratch.out + "/report.json"))
        let report = try JSONSerialization.jsonObject(with: data) as? [String: Any]
        let entries = report?["checkpoints"] as? [[String: Any]] ?? []
        let status = Dictionary(entries.map { ($0["name"] as? String ?? "", $0["status"] as? String ?? "") }) { a, _ in a }
        #expect(status == ["epoch-001.h5": "ok", "epoch-002.h5": "failed"], "\(entries)")
        let error = entries.first { $0["name"] as? String == "epoch-002.h5" }?["error"] as? String ?? ""
        #expect(error.contains("epoch-002.h5") && error.contains("kernel = 1099511627776 is outside 1...4096"), "\(error)")
    }

    static func report(_ out: String) throws -> [String: Any]? {
        let data = try Data(contentsOf: URL(fileURLWithPath: out + "/report.json"))
        return try JSONSerialization.jsonObject(with: data) as? [String: Any]
    }

    /// Each checkpoint's status in report.json, by file name.
    static func statuses(_ out: String) throws -> [String: String] {
        try entries(out).mapValues { $0["status"] as? String ?? "" }
    }

    /// Each checkpoint's error in report.json, by file name.
    static func errors(_ out: String) throws -> [String: String] {
        try entries(out).compactMapValues { $0["error"] as? String }
    }

    static func entries(_ out: String) throws -> [String: [String: Any]] {
        let entries = try report(out)?["checkpoints"] as? [[String: Any]] ?? []
        return Dictionary(entries.map { ($0["name"] as? String ?? "", $0) }) { first, _ in first }
    }

    static func inputSize(_ out: String) throws -> [Int]? {
        let data = try Data(contentsOf: URL(fileURLWithPath: out + "/report.json"))
        let report = try JSONSerialization.jsonObject(with: data) as? [String: Any]
        return (report?["model"] as? [String: Any])?["input_size"] as? [Int]
    }
}
