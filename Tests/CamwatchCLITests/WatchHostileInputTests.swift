import CamwatchTestSupport
import Foundation
import Testing

/// End to end: the real binary against hostile names, a directory of junk, an output directory it
/// cannot write, leftovers of a killed run, a bind-mounted `--out`, and a killed parent of the reader child.
@Suite(.serialized)
struct WatchHostileInputTests {
    typealias E2E = WatchEndToEndTests

    /// A scratch root with `ckpt/`, three probes and the short-interval config (`extra` appended).
    struct Scratch {
        let root: URL
        let probes: String
        let config: String
        var checkpoints: URL { root.appendingPathComponent("ckpt") }
        var out: URL { root.appendingPathComponent("out") }

        init(_ label: String, samples: [String] = [], extra: String = "") throws {
            root = try Fixtures.temporaryDirectory(label)
            try FileManager.default.createDirectory(
                at: root.appendingPathComponent("ckpt"), withIntermediateDirectories: true)
            try E2E.copySample(samples, to: root.appendingPathComponent("ckpt"))
            probes = try E2E.probes(in: root)
            config = try E2E.config(in: root, extra: extra)
        }

        func remove() { try? FileManager.default.removeItem(at: root) }

        var arguments: [String] {
            ["watch", checkpoints.path, "--probes", probes, "--out", out.path, "--config", config]
        }

        /// Copies a sample checkpoint to a name given as raw bytes (which may not be UTF-8).
        func copy(_ sample: String, toRawName name: [UInt8]) throws {
            let source = try Data(contentsOf: URL(fileURLWithPath: "\(E2E.sampleCheckpoints)/\(sample)"))
            try Self.python(
                "import sys; open(sys.argv[1].encode() + b'/' + bytes.fromhex(sys.argv[2]), 'wb').write(sys.stdin.buffer.read())",
                [checkpoints.path, name.map { String(format: "%02x", $0) }.joined()], input: source)
        }

        /// Runs Debian's python3 on `script`; fails the test when it fails.
        static func python(_ script: String, _ arguments: [String], input: Data? = nil) throws {
            let process = Process()
            process.executableURL = URL(fileURLWithPath: E2E.python)
            process.arguments = ["-c", script] + arguments
            let pipe = Pipe()
            process.standardInput = input == nil ? FileHandle.nullDevice : pipe
            try process.run()
            if let input {
                try pipe.fileHandleForWriting.write(contentsOf: input)
                try pipe.fileHandleForWriting.close()
            }
            process.waitUntilExit()
            #expect(process.terminationStatus == 0, "python failed: \(script)")
        }
    }

    @Test("a 255-byte name, a name that is not UTF-8, terminal escapes in a name: one entry each, nothing raw printed")
    func hostileNames() throws {
        let scratch = try Scratch("camwatch-names")
        defer { scratch.remove() }
        let long = Array(String(repeating: "l", count: 252).utf8) + Array(".h5".utf8)
        try scratch.copy("epoch-001.h5", toRawName: long)
        try scratch.copy("epoch-002.h5", toRawName: Array("bad-".utf8) + [0xFF, 0xFE] + Array(".h5".utf8))
        let escape = "esc-\u{1B}[31mred\u{1B}[0m.h5"
        try scratch.copy("epoch-003.h5", toRawName: Array(escape.utf8))

        let run = try CommandRunner.run(scratch.arguments + ["--once"])
        #expect(run.status == 0, "\(run.stderr)")
        let entries = E2E.entries(scratch.out)
        let byName = Dictionary(entries.map { ($0["name"] as? String ?? "", $0) }) { a, _ in a }
        #expect(entries.count == 3, "\(entries.map { $0["name"] ?? "" })")
        #expect(byName[String(decoding: long, as: UTF8.self)]?["status"] as? String == "ok", "\(run.stderr)")
        #expect(byName[escape]?["status"] as? String == "ok", "\(run.stderr)")
        #expect(!run.stderr.contains("\u{1B}"), "a raw escape reached the log")
        #expect(run.stderr.contains(#"esc-\x1b[31mred\x1b[0m.h5"#), "\(run.stderr)")
        for format in ["text", "markdown"] {
            let report = try CommandRunner.run(["report", scratch.out.path, "--format", format])
            #expect(report.status == 0)
            #expect(!report.stdout.contains("\u{1B}"), "\(format): a raw escape reached the report")
            // Markdown also escapes its own syntax (`\` is `\\` and `[` is `\[` there; rendered as written here).
            let shown = format == "markdown" ? #"esc-\\x1b\[31mred\\x1b\[0m.h5"# : #"esc-\x1b[31mred\x1b[0m.h5"#
            #expect(report.stdout.contains(shown), "\(format): \(report.stdout)")
        }

        let bad = try #require(byName[#"bad-\xff\xfe.h5"#], "the escaped name is in report.json: \(byName.keys)")
        #expect(bad["status"] as? String == "failed")
        #expect((bad["error"] as? String ?? "").contains("not valid UTF-8"))
    }

    @Test("50 junk files beside real checkpoints: one commit for the junk, heatmaps.h5 written per checkpoint only")
    func junkDoesNotStarveCheckpoints() throws {
        let scratch = try Scratch("camwatch-junk", samples: ["epoch-001.h5", "epoch-002.h5"], extra: "log_level: debug")
        defer { scratch.remove() }
        for index in 1...50 {
            let junk = (0..<2048).map { UInt8(truncatingIfNeeded: $0 &* 31 &+ index) }
            try Data(junk).write(to: scratch.checkpoints.appendingPathComponent(String(format: "junk-%02d.h5", index)))
        }
        // And five real HDF5 files that are no checkpoints: they pass the header check and fail in the reader.
        try Scratch.python(
            "import h5py, sys\nfor i in range(5):\n    h5py.File(f'{sys.argv[1]}/table-{i}.h5', 'w').create_dataset('x', data=[1, 2, 3])\n",
            [scratch.checkpoints.path])
        let start = ContinuousClock.now
        let run = try CommandRunner.run(scratch.arguments + ["--once"])
        let seconds = (ContinuousClock.now - start).components.seconds
        #expect(run.status == 0, "\(run.stderr)")
        let entries = E2E.entries(scratch.out)
        #expect(entries.count == 57)
        #expect(entries.filter { $0["status"] as? String == "ok" }.count == 2)
        let commits = run.stderrLines.filter { $0.contains("committed report.json") }
        let withArchive = commits.filter { $0.contains("and heatmaps.h5") }
        #expect(withArchive.count == 2, "heatmaps.h5 once per processed checkpoint: \(commits)")
        // The 50 header failures in one commit, the 5 reader failures of the batch in another.
        #expect(commits.count == 4, "\(commits)")
        #expect(seconds < 120, "\(seconds) s")
    }

    @Test("--once when --out cannot take a write (RLIMIT_FSIZE): non-zero, one line naming --out and the reason")
    func onceWithOutputsThatCannotBeWritten() throws {
        let scratch = try Scratch("camwatch-fsize", samples: ["epoch-001.h5"])
        defer { scratch.remove() }
        // Files may not grow past 64 KiB (the 200 KiB private copy fails with EFBIG, SIGXFSZ ignored): works
        // unprivileged and as root, unlike a read-only or full file system.
        let limited = """
            import os, resource, signal, sys
            signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
            resource.setrlimit(resource.RLIMIT_FSIZE, (65536, 65536))
            os.execv(sys.argv[1], sys.argv[1:])
            """
        let run = try BackgroundProcess(
            ["-c", limited, CommandRunner.binary.path] + scratch.arguments + ["--once"],
            executable: URL(fileURLWithPath: E2E.python))
        let status = run.wait(timeout: 120)
        #expect(status != nil && status != 0, "\(run.stderr)")
        let last = run.stderr.split(separator: "\n").last.map(String.init) ?? ""
        #expect(last.contains(scratch.out.path) && last.contains("cannot write the outputs"), "\(run.stderr)")
        #expect(last.contains("File too large"), "\(run.stderr)")
    }

    @Test("the watcher cannot commit (report.json is a directory): logged once, kept, committed when possible")
    func commitIsRetried() throws {
        let scratch = try Scratch("camwatch-retry")
        defer { scratch.remove() }
        let watcher = try BackgroundProcess(scratch.arguments)
        #expect(BackgroundProcess.eventually(timeout: 60) { watcher.stderr.contains("watching ") }, "\(watcher.stderr)")
        // rename(2) cannot put a file over a directory: every commit fails until it is gone.
        let blocker = scratch.out.appendingPathComponent("report.json")
        try FileManager.default.createDirectory(at: blocker, withIntermediateDirectories: false)
        try E2E.copySample(["epoch-001.h5"], to: scratch.checkpoints)
        #expect(
            BackgroundProcess.eventually(timeout: 120) { watcher.stderr.contains("cannot save the run's state") },
            "\(watcher.stderr)")
        Thread.sleep(forTimeInterval: 1.5)  // several scans: each retries, none logs again
        #expect(watcher.stderr.components(separatedBy: "cannot save the run's state").count == 2, "\(watcher.stderr)")
        try FileManager.default.removeItem(at: blocker)
        #expect(
            BackgroundProcess.eventually(timeout: 30) { E2E.entries(scratch.out).count == 1 },
            "the checkpoint was lost: \(watcher.stderr)")
        #expect(watcher.stderr.contains("written again"), "\(watcher.stderr)")
        watcher.signal(SIGTERM)
        #expect(watcher.wait(timeout: 30) == 0)
    }

    @Test("a checkpoint camwatch may not read waits, said once, and is processed once it is made readable")
    func unreadableCheckpointIsTakenWhenReadable() throws {
        let scratch = try Scratch("camwatch-denied")
        defer { scratch.remove() }
        // As root, run camwatch as nobody: root reads a mode-000 file anyway.
        let asNobody = geteuid() == 0
        if asNobody {
            #expect(chmod(scratch.root.path, 0o777) == 0)
            #expect(chmod(scratch.checkpoints.path, 0o755) == 0)
        }
        try E2E.copySample(["epoch-001.h5"], to: scratch.checkpoints)
        let checkpoint = scratch.checkpoints.appendingPathComponent("epoch-001.h5").path
        #expect(chmod(checkpoint, 0) == 0)
        func launch(_ arguments: [String]) throws -> BackgroundProcess {
            guard asNobody else { return try BackgroundProcess(arguments) }
            return try BackgroundProcess(
                ["--reuid=65534", "--regid=65534", "--clear-groups", CommandRunner.binary.path] + arguments,
                executable: URL(fileURLWithPath: "/usr/bin/setpriv"))
        }
        let watcher = try launch(scratch.arguments)
        #expect(
            BackgroundProcess.eventually(timeout: 60) { watcher.stderr.contains("Permission denied") }, "\(watcher.stderr)")
        Thread.sleep(forTimeInterval: 4)  // past incomplete_after (3 s): still no failed entry
        #expect(E2E.entries(scratch.out).isEmpty, "\(E2E.entries(scratch.out))")
        #expect(watcher.stderr.components(separatedBy: "Permission denied").count == 2, "once: \(watcher.stderr)")
        #expect(chmod(checkpoint, 0o644) == 0)
        #expect(
            BackgroundProcess.eventually(timeout: 120) {
                E2E.entries(scratch.out).first?["status"] as? String == "ok"
            }, "\(watcher.stderr)")
        watcher.signal(SIGTERM)
        #expect(watcher.wait(timeout: 30) == 0)

        // --once with an unreadable checkpoint: it says which, and does not claim success.
        try E2E.copySample(["epoch-002.h5"], to: scratch.checkpoints)
        let second = scratch.checkpoints.appendingPathComponent("epoch-002.h5").path
        #expect(chmod(second, 0) == 0)
        let once = try launch(scratch.arguments + ["--once"])
        let status = once.wait(timeout: 60)
        #expect(status != nil && status != 0, "\(once.stderr)")
        let last = once.stderr.split(separator: "\n").last.map(String.init) ?? ""
        #expect(last.contains("epoch-002.h5") && last.contains("may not read"), "\(once.stderr)")
    }

    @Test("temporary files a killed run left in --out are removed at start, nothing else")
    func leftoversAreRemovedAtStart() throws {
        let scratch = try Scratch("camwatch-leftover")
        defer { scratch.remove() }
        try Data(repeating: 0x5A, count: 4096).write(to: scratch.checkpoints.appendingPathComponent("a.h5"))
        let staging = scratch.out.appendingPathComponent(".staging")
        try FileManager.default.createDirectory(at: staging, withIntermediateDirectories: true)
        let stale = [".report.json.tmp-999999-1", ".heatmaps.h5.tmp-999999-2"]
        for name in stale + ["notes.txt"] {
            try Data("x".utf8).write(to: scratch.out.appendingPathComponent(name))
        }
        try Data("x".utf8).write(to: staging.appendingPathComponent("1-2-3-epoch-9.h5"))
        let run = try CommandRunner.run(scratch.arguments + ["--once"])
        let notice = run.stderrLines.first { $0.contains("temporary file(s) left by a camwatch that was killed") }
        #expect(notice?.contains(".report.json.tmp-999999-1") == true, "\(run.stderr)")
        #expect(notice?.contains(".staging/1-2-3-epoch-9.h5") == true, "\(run.stderr)")
        let left = Set(try FileManager.default.contentsOfDirectory(atPath: scratch.out.path))
        #expect(left.isDisjoint(with: stale) && left.contains("notes.txt"), "\(left)")
        #expect(!FileManager.default.fileExists(atPath: staging.appendingPathComponent("1-2-3-epoch-9.h5").path))
    }

    /// Whether this machine gives a process a private mount namespace in which it may bind-mount
    /// (`unshare -rm`): containers and hardened kernels often refuse, and then a bind mount cannot be built.
    static let canBindMountPrivately: Bool = {
        guard let root = try? Fixtures.temporaryDirectory("camwatch-unshare-probe") else { return false }
        defer { try? FileManager.default.removeItem(at: root) }
        let source = root.appendingPathComponent("source"), target = root.appendingPathComponent("target")
        for directory in [source, target] {
            guard (try? FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)) != nil
            else { return false }
        }
        let probe = try? BackgroundProcess(
            ["-rm", "mount", "--bind", source.path, target.path], executable: URL(fileURLWithPath: "/usr/bin/unshare"))
        return probe?.wait(timeout: 30) == 0
    }()

    @Test(
        "--out bind-mounted onto the watched directory is refused (compared by device and inode)",
        .enabled(
            if: WatchHostileInputTests.canBindMountPrivately,
            "no private mount namespace here (unshare -rm): a bind mount cannot be built"))
    func bindMountedOutput() throws {
        let scratch = try Scratch("camwatch-bind", samples: ["epoch-001.h5"])
        defer { scratch.remove() }
        let bound = scratch.root.appendingPathComponent("bound")
        try FileManager.default.createDirectory(at: bound, withIntermediateDirectories: true)
        // A private mount namespace (as an unprivileged user namespace's root): nothing leaks to the host.
        let script = #"mount --bind "$1" "$2" || exit 77; shift 2; exec "$@""#
        let arguments = ["watch", scratch.checkpoints.path, "--probes", scratch.probes, "--out", bound.path,
                         "--config", scratch.config, "--once"]
        let run = try BackgroundProcess(
            ["-rm", "sh", "-c", script, "sh", scratch.checkpoints.path, bound.path, CommandRunner.binary.path] + arguments,
            executable: URL(fileURLWithPath: "/usr/bin/unshare"))
        let status = run.wait(timeout: 120)
        // The probe could bind-mount: a failure to do so now is a failure of the test, not a reason to pass.
        try #require(status != 77 && !run.stderr.contains("unshare:"), "the bind mount failed: \(run.stderr)")
        #expect(status != 0, "\(run.stderr)")
        #expect(run.stderr.contains("is the watched directory"), "\(run.stderr)")
        let listing = try FileManager.default.contentsOfDirectory(atPath: scratch.checkpoints.path)
        #expect(listing == ["epoch-001.h5"], "nothing may be written into the watched directory: \(listing)")
    }

    @Test("the reader child dies with its parent (kill -9), instead of staying blocked on a checkpoint")
    func readerChildDiesWithItsParent() throws {
        let root = try Fixtures.temporaryDirectory("camwatch-orphan")
        defer { try? FileManager.default.removeItem(at: root) }
        // Opening a FIFO without a writer blocks: the child hangs in its read as on a stalled network disk.
        let fifo = root.appendingPathComponent("stalled.h5").path
        #expect(mkfifo(fifo, 0o600) == 0)
        let request = #"{"path":"\#(fifo)","allowNonFinite":false}"#
        let pidFile = root.appendingPathComponent("child.pid").path
        let parent = try BackgroundProcess(
            ["-c", #""$1" load-checkpoint-child > /dev/null & echo $! > "$2"; wait"#, "sh", CommandRunner.binary.path,
             pidFile],
            executable: URL(fileURLWithPath: "/bin/sh"), environment: ["CAMWATCH_CHECKPOINT_REQUEST": request])
        #expect(BackgroundProcess.eventually(timeout: 10) { FileManager.default.fileExists(atPath: pidFile) })
        let child = try #require(Int32(String(contentsOfFile: pidFile, encoding: .utf8)
            .trimmingCharacters(in: .whitespacesAndNewlines)))
        Thread.sleep(forTimeInterval: 1)
        #expect(Self.isAlive(child), "the child should be blocked on the FIFO")
        parent.signal(SIGKILL)
        _ = parent.wait(timeout: 5)
        #expect(BackgroundProcess.eventually(timeout: 2) { !Self.isAlive(child) }, "the reader outlived its parent")
        if Self.isAlive(child) { kill(child, SIGKILL) }
    }

    /// Running or sleeping (a zombie waiting for a reaper that never comes in a container is dead enough).
    static func isAlive(_ pid: Int32) -> Bool {
        guard let stat = try? String(contentsOfFile: "/proc/\(pid)/stat", encoding: .utf8),
            let close = stat.lastIndex(of: ")")
        else { return false }
        let state = stat[stat.index(close, offsetBy: 2)]
        return state != "Z" && state != "X"
    }
}
