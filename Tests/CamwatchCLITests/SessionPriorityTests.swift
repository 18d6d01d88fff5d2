import CamwatchTestSupport
import Foundation
import Testing

/// Lowering camwatch's CPU share between sessions (autogroup nice 19) must never touch the
/// session that started it. The real binary runs from a shell that leads a session of its own (as a login shell
/// or a CI job does); the shell reads its own autogroup before and after a `watch --once`.
@Suite(.serialized) struct SessionPriorityTests {
    static let autogroupsEnabled =
        (try? String(contentsOfFile: "/proc/sys/kernel/sched_autogroup_enabled", encoding: .utf8))?
            .trimmingCharacters(in: .whitespacesAndNewlines) == "1"

    /// `/autogroup-<id> nice <n>` → (id, n).
    static func autogroup(_ line: Substring) -> (id: Int, nice: Int)? {
        let parts = line.split(separator: " ")
        guard parts.count == 3, let id = Int(parts[0].replacingOccurrences(of: "/autogroup-", with: "")),
            let nice = Int(parts[2])
        else { return nil }
        return (id, nice)
    }

    @Test(
        "watch lowers its own session's autogroup, never the one of the shell that started it",
        .enabled(if: autogroupsEnabled, "kernel.sched_autogroup_enabled is not 1: this kernel has no autogroup to lower"))
    func theStartingSessionKeepsItsShare() throws {
        let scratch = try WatchStartupTests.Scratch(["epoch-001.h5"])
        defer { scratch.remove() }
        // resources.priority low (not idle, so a busy test machine still gives the analysis some CPU) lowers the
        // session's share as idle does.
        try "watch: {interval: 0.5, settle: 0.3, incomplete_after: 3}\nresources: {priority: low, threads: 1}\n"
            .write(toFile: scratch.config, atomically: true, encoding: .utf8)
        let record = scratch.root.appendingPathComponent("autogroups").path
        let log = scratch.root.appendingPathComponent("log").path
        let quoted = [CommandRunner.binary.path, "watch", scratch.checkpoints, "--probes", scratch.probes, "--out", scratch.out,
                      "--config", scratch.config, "--once"].map { "'\($0)'" }.joined(separator: " ")
        // The shell is not exec'd into camwatch (two commands follow), so camwatch starts as an ordinary member of
        // the shell's session and process group, as from a script.
        let script = "cat /proc/$$/autogroup > '\(record)'; \(quoted) 2> '\(log)'; echo \"status $?\" >> '\(record)'; "
            + "cat /proc/$$/autogroup >> '\(record)'"
        let shell = Process()
        shell.executableURL = URL(fileURLWithPath: "/usr/bin/setsid")
        shell.arguments = ["--wait", "/bin/sh", "-c", script]
        try shell.run()
        shell.waitUntilExit()
        let lines = try String(contentsOfFile: record, encoding: .utf8).split(separator: "\n")
        let stderr = (try? String(contentsOfFile: log, encoding: .utf8)) ?? ""
        try #require(lines.count == 3, "\(lines) \(stderr)")
        #expect(lines[1] == "status 0", "\(stderr)")
        let before = try #require(Self.autogroup(lines[0])), after = try #require(Self.autogroup(lines[2]))
        #expect(after.id == before.id)
        #expect(after.nice == before.nice, "the shell's session was demoted to nice \(after.nice): \(stderr)")
        // camwatch's own session got the lowered share: the kernel's reading, as camwatch logged it.
        let lowered = try #require(stderr.split(separator: "\n").first { $0.contains("lowered the CPU share of camwatch's own session") },
                                   "\(stderr)")
        let reading = try #require(lowered.firstMatch(of: /autogroup-(\d+) nice (\d+)/), "\(lowered)")
        #expect(Int(reading.output.1) != before.id, "\(lowered)")
        #expect(reading.output.2 == "19", "\(lowered)")
    }
}
