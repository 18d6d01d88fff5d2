import CamwatchCheckpoint
import CamwatchMonitor
import CamwatchTestSupport
import Foundation
import Glibc
import Testing

@testable import CamwatchDaemon

/// Names and files a hostile or broken environment hands the daemon — names that are not UTF-8 or
/// are as long as the file system allows, terminal escapes in names, unreadable checkpoints, leftovers of a
/// killed run, a planted lock file — each handled without a crash, a silent drop or damage elsewhere.
@Suite struct HostileInputTests {
    let t0 = ContinuousClock.now

    func at(_ seconds: Double) -> ContinuousClock.Instant { t0 + .milliseconds(Int64(seconds * 1000)) }

    /// Creates `name` (raw bytes, not necessarily UTF-8) in `directory` with `bytes` as content.
    static func create(raw name: [UInt8], in directory: String, bytes: [UInt8]) throws {
        let path = Array(directory.utf8) + [0x2F] + name + [0]
        let fd = path.withUnsafeBufferPointer { buffer in
            buffer.withMemoryRebound(to: CChar.self) { chars in
                chars.baseAddress.map { open($0, O_WRONLY | O_CREAT | O_TRUNC, 0o644) } ?? -1
            }
        }
        guard fd >= 0 else { throw POSIXError(.init(rawValue: errno) ?? .EIO) }
        defer { close(fd) }
        let written = bytes.withUnsafeBytes { write(fd, $0.baseAddress, $0.count) }
        guard written == bytes.count else { throw POSIXError(.EIO) }
    }

    // MARK: - a. Names

    @Test func aNameThatIsNotUTF8FailsOnceWithItsBytesEscaped() throws {
        let scratch = try CheckpointWatcherScratch()
        defer { scratch.remove() }
        try Self.create(
            raw: Array("bad-".utf8) + [0xFF, 0xFE] + Array(".h5".utf8), in: scratch.directory,
            bytes: CheckpointWatcherScratch.completeV0())
        var watcher = try CheckpointWatcher(directory: scratch.directory)
        #expect(watcher.hasMatchingFiles())
        #expect(watcher.scan(now: at(0)).events.isEmpty)
        let events = watcher.scan(now: at(2)).events
        #expect(events.count == 1)
        let event = try #require(events.first)
        guard case .notCheckpoint(let file, let reason) = event else {
            Issue.record("expected a failure, got \(event)")
            return
        }
        #expect(file.name == #"bad-\xff\xfe.h5"#)
        #expect(reason.contains("not valid UTF-8"), "\(reason)")
        // Exactly once: later scans neither repeat it nor keep it pending.
        let later = watcher.scan(now: at(10))
        #expect(later.events.isEmpty && later.pending.isEmpty)
    }

    @Test func aNameOf255BytesIsCopiedAndProcessed() throws {
        let scratch = try CheckpointWatcherScratch()
        defer { scratch.remove() }
        let name = String(repeating: "é", count: 126) + ".h5"  // 252 + 3 bytes
        #expect(name.utf8.count == 255)
        try scratch.write(CheckpointWatcherScratch.completeV0(), to: name)
        var watcher = try CheckpointWatcher(directory: scratch.directory)
        _ = watcher.scan(now: at(0))
        let file = try #require(watcher.scan(now: at(2)).ready.first)
        #expect(file.name == name)
        let snapshot = try watcher.snapshot(file, into: scratch.root.appendingPathComponent("staging").path)
        defer { snapshot.remove() }
        let copied = URL(fileURLWithPath: snapshot.path).lastPathComponent
        #expect(copied.utf8.count <= 255 && copied.hasSuffix(".h5") && copied.hasPrefix(file.id), "\(copied)")
        #expect(try scratch.contents(snapshot.path) == CheckpointWatcherScratch.completeV0())
    }

    // MARK: - b. Control characters

    @Test func controlCharactersAreEscapedForPeople() {
        #expect(DisplayText.escaped("ckpt-\u{1B}[31mred\u{1B}[0m.h5") == #"ckpt-\x1b[31mred\x1b[0m.h5"#)
        #expect(DisplayText.escaped("a\rb\u{7F}c\u{85}d\u{202E}e\nf") == #"a\x0db\x7fc\u{0085}d\u{202e}e\x0af"#)
        #expect(DisplayText.escaped("line 1\nline\t2", keepingNewlines: true) == "line 1\nline\\x092")
        #expect(DisplayText.escaped("épreuve-Ω-🙂.h5") == "épreuve-Ω-🙂.h5")
        #expect(DisplayText.escaped(bytes: [0x61, 0xFF, 0xC3, 0xA9, 0xE2, 0x82, 0x1B]) == #"a\xffé\xe2\x82\x1b"#)
    }

    @Test func alertsAndReportsCarryNoRawEscapes() throws {
        let name = "evil-\u{1B}[2J\u{1B}[H.h5"
        var alert = Alert.testSample()
        alert = Alert(
            event: .failed, job: alert.job, checkpoint: name, checkpointID: "1-2-3", state: .warmingUp,
            message: "run7: checkpoint \(name) failed", reportPath: alert.reportPath, time: alert.time)
        #expect(!alert.message.contains("\u{1B}"))
        #expect(alert.message.contains(#"evil-\x1b[2J\x1b[H.h5"#))
        // A hook that echoes its environment to a terminal gets the escaped name; the JSON on stdin the exact one.
        #expect(ExecHook.environment(for: alert)["CAMWATCH_CHECKPOINT"] == #"evil-\x1b[2J\x1b[H.h5"#)
        #expect(alert.checkpoint == name)

        let entry = Report.CheckpointEntry(
            name: name, id: "1-2-3", status: .failed, error: "/ckpt/\(name): not an HDF5 file", seconds: 0,
            processedAt: 0, state: .warmingUp)
        let report = Report(
            model: Report.Model(arch: "tiny", layer: "conv", inputSize: [8, 8]), probes: [], checkpoints: [entry])
        for format in [ReportFormat.text, .markdown] {
            let text = try ReportRenderer.render(report, format: format)
            #expect(!text.contains("\u{1B}"), "\(format)")
            // Markdown also escapes its own syntax: `[` is `\[` there, rendered as `[`.
            let shown = format == .markdown ? #"evil-\x1b\[2J\x1b\[H.h5"# : #"evil-\x1b[2J\x1b[H.h5"#
            #expect(text.contains(shown), "\(format): \(text)")
        }
        // JSON escapes control characters itself: the name round-trips exactly.
        let decoded = try Report.decode(try report.jsonBytes(), path: "report.json")
        #expect(decoded.checkpoints.first?.name == name)
    }

    // MARK: - e. Permissions

    // root reads a mode-000 file anyway, so the case cannot be built there: reported as skipped, not passed.
    @Test(.enabled(if: geteuid() != 0, "running as root, which reads a mode-000 file anyway"))
    func anUnreadableCheckpointWaitsAndIsTakenOnceReadable() throws {
        let scratch = try CheckpointWatcherScratch()
        defer { scratch.remove() }
        let path = try scratch.write(CheckpointWatcherScratch.completeV0(), to: "epoch-1.h5")
        chmod(path, 0)
        var watcher = try CheckpointWatcher(
            directory: scratch.directory, settleInterval: .seconds(1), incompleteAfter: .seconds(5))
        _ = watcher.scan(now: at(0))
        let denied = watcher.scan(now: at(2))
        #expect(denied.events.isEmpty)
        #expect(denied.notices.count == 1 && denied.notices[0].contains("Permission denied"), "\(denied.notices)")
        // Long past incomplete_after: still waiting, said once, no failure.
        let later = watcher.scan(now: at(60))
        #expect(later.events.isEmpty && later.notices.isEmpty && later.pending.map(\.name) == ["epoch-1.h5"])
        #expect(watcher.nextDecision() == nil, "no deadline, or the loop would spin")
        chmod(path, 0o644)
        #expect(watcher.scan(now: at(61)).ready.map(\.name) == ["epoch-1.h5"])
    }

    // MARK: - g. Leftovers

    @Test func leftoversOfAKilledRunAreRemovedAtStart() throws {
        let root = try Fixtures.temporaryDirectory("camwatch-leftovers")
        defer { try? FileManager.default.removeItem(at: root) }
        let out = root.appendingPathComponent("out").path
        let textfiles = root.appendingPathComponent("textfiles").path
        let fm = FileManager.default
        try fm.createDirectory(atPath: out + "/.staging", withIntermediateDirectories: true)
        try fm.createDirectory(atPath: textfiles, withIntermediateDirectories: true)
        let ours = [".report.json.tmp-4242-123456", ".heatmaps.h5.tmp-4242-99", ".timeline.png.tmp-1-2"]
        let theirs = ["report.json", ".report.json.tmp-abc", ".keep", "notes.tmp-1-2", ".x.tmp-1-2-3"]
        func touch(_ path: String) throws { try Data("x".utf8).write(to: URL(fileURLWithPath: path)) }
        for name in ours + theirs { try touch(out + "/" + name) }
        try touch(out + "/.staging/1-2-3-epoch-1.h5")
        try touch(textfiles + "/.camwatch-run7.prom.tmp-4242-7")
        try touch(textfiles + "/.node.prom.tmp-4242-7")

        let removed = RunStartup.removeLeftovers(out: out, textfiles: textfiles, temporary: root.path)
        #expect(Set(removed) == Set(ours + [".camwatch-run7.prom.tmp-4242-7", ".staging/1-2-3-epoch-1.h5"]))
        #expect(Set(try fm.contentsOfDirectory(atPath: out)) == Set(theirs + [".staging"]))
        #expect(try fm.contentsOfDirectory(atPath: out + "/.staging").isEmpty)
        #expect(try fm.contentsOfDirectory(atPath: textfiles) == [".node.prom.tmp-4242-7"])
    }

    @Test("a start-up staging directory in the temporary directory goes when its process is gone, not before")
    func startupStagingOfADeadProcess() throws {
        let null = ChildProcess.nullDevice(forWriting: true)
        defer { ChildProcess.close(null) }
        let child = try ChildProcess.spawn(
            executable: "/bin/true", arguments: [], environment: [:], input: null, output: null, error: null,
            ownGroup: false
        ).get()
        #expect(child.wait(within: .seconds(10)) == .exited(0))
        #expect(DaemonSystemCalls.processIsGone(child.pid) && !DaemonSystemCalls.processIsGone(getpid()))
        // A temporary directory of this test's own: the real one is shared with tests running in parallel.
        let root = try Fixtures.temporaryDirectory("camwatch-startup-leftovers")
        defer { try? FileManager.default.removeItem(at: root) }
        let temporary = root.path + "/"
        let dead = temporary + StartupCheck.stagingPrefix + "\(child.pid)"
        let alive = temporary + StartupCheck.stagingPrefix + "\(getpid())"
        for directory in [dead, alive] { try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true) }
        let out = root.appendingPathComponent("out")
        try FileManager.default.createDirectory(at: out, withIntermediateDirectories: true)
        let removed = RunStartup.removeLeftovers(out: out.path, textfiles: nil, temporary: root.path)
        #expect(removed.contains(StartupCheck.stagingPrefix + "\(child.pid)"))
        #expect(!FileManager.default.fileExists(atPath: dead) && FileManager.default.fileExists(atPath: alive))
    }

    @Test func temporaryNamesAreExactlyTheOnesAtomicFileMakes() {
        #expect(AtomicFile.isTemporaryName(".report.json.tmp-12-34"))
        #expect(AtomicFile.isTemporaryName(".camwatch-job.prom.tmp-1-4294967295"))
        for name in ["report.json.tmp-12-34", ".report.json.tmp-12", ".report.json.tmp-a-1", ".tmp-1-2", ".x.tmp-1-"] {
            #expect(!AtomicFile.isTemporaryName(name), "\(name)")
        }
    }

    // MARK: - j. The lock file

    @Test func aLockFileThatIsALinkIsRefusedAndItsTargetUntouched() throws {
        let root = try Fixtures.temporaryDirectory("camwatch-lock")
        defer { try? FileManager.default.removeItem(at: root) }
        let out = root.appendingPathComponent("out").path
        let victim = root.appendingPathComponent("precious.txt").path
        try FileManager.default.createDirectory(atPath: out, withIntermediateDirectories: true)
        try "precious\n".write(toFile: victim, atomically: false, encoding: .utf8)
        let lockPath = out + "/" + OutputLock.fileName

        try FileManager.default.createSymbolicLink(atPath: lockPath, withDestinationPath: victim)
        let symlink = try #require(throws: ConfigurationError.self) { try OutputLock(directory: out) }
        #expect(symlink.description.contains("symbolic link"), "\(symlink)")
        #expect(!symlink.description.contains("\n"))
        #expect(try String(contentsOfFile: victim, encoding: .utf8) == "precious\n")

        try FileManager.default.removeItem(atPath: lockPath)
        try FileManager.default.linkItem(atPath: victim, toPath: lockPath)
        let hardLink = try #require(throws: ConfigurationError.self) { try OutputLock(directory: out) }
        #expect(hardLink.description.contains("hard link"), "\(hardLink)")
        #expect(try String(contentsOfFile: victim, encoding: .utf8) == "precious\n")

        // A plain lock file left by an earlier run is fine, and gets this process's pid.
        try FileManager.default.removeItem(atPath: lockPath)
        try "99999\n".write(toFile: lockPath, atomically: false, encoding: .utf8)
        let lock = try OutputLock(directory: out)
        #expect(try String(contentsOfFile: lockPath, encoding: .utf8) == "\(getpid())\n")
        // A second watcher on the same directory (flock conflicts between open files, even in one process) is
        // told whose it is; a missing directory is created with its parents.
        let second = try #require(throws: ConfigurationError.self) { try OutputLock(directory: out) }
        #expect(second.description == "\(out): already used by another camwatch watcher (pid \(getpid()))")
        _ = lock
        let nested = root.appendingPathComponent("a/b/c").path
        _ = try OutputLock(directory: nested)
        #expect(FileManager.default.fileExists(atPath: nested + "/" + OutputLock.fileName))
    }
}
