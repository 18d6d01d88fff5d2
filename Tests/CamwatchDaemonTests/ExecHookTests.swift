import CamwatchTestSupport
import Foundation
import Glibc
import Testing

@testable import CamwatchDaemon

@Suite(.realTime) struct ExecHookTests {
    /// Writes an executable shell script into `directory`.
    ///
    /// Close-on-exec, so a hook another test starts meanwhile cannot inherit the write descriptor and
    /// make this script "text file busy".
    static func script(_ name: String, in directory: URL, _ body: String) throws -> String {
        let path = directory.appendingPathComponent(name).path
        let fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0o755)
        guard fd >= 0 else { throw POSIXError(POSIXErrorCode(rawValue: errno) ?? .EIO) }
        let bytes = Array(("#!/bin/sh\n" + body + "\n").utf8)
        let written = bytes.withUnsafeBytes { write(fd, $0.baseAddress, $0.count) }
        close(fd)
        guard written == bytes.count else { throw POSIXError(.EIO) }
        return path
    }

    static func seconds(since start: ContinuousClock.Instant) -> Double {
        let elapsed = ContinuousClock.now - start
        return Double(elapsed.components.seconds) + Double(elapsed.components.attoseconds) / 1e18
    }

    @Test func passesTheAlertInEnvironmentAndOnStdin() async throws {
        let directory = try Fixtures.temporaryDirectory("camwatch-exec")
        defer { try? FileManager.default.removeItem(at: directory) }
        let hook = try Self.script(
            "hook.sh", in: directory, #"env > "$1/env"; cat > "$1/stdin"; echo "$#" > "$1/argc""#)
        var alert = Alert.testSample()
        alert.message = "run7: saliency stable; quote ' and \" and $HOME stay literal"
        alert.step = nil

        let outcome = await ExecHook(.init(command: [hook, directory.path], timeout: .seconds(10))).run(alert)
        #expect(outcome == .exited(0))
        #expect(outcome.succeeded)

        let lines = try String(contentsOf: directory.appendingPathComponent("env"), encoding: .utf8)
            .split(separator: "\n").map(String.init)
        var environment: [String: String] = [:]
        for line in lines {
            guard let equals = line.firstIndex(of: "=") else { continue }
            environment[String(line[..<equals])] = String(line[line.index(after: equals)...])
        }
        #expect(environment["CAMWATCH_EVENT"] == "stable")
        #expect(environment["CAMWATCH_JOB"] == "run7")
        #expect(environment["CAMWATCH_CHECKPOINT"] == "epoch-021.h5")
        #expect(environment["CAMWATCH_CHECKPOINT_ID"] == "2049:1700000000123456789:1048576")
        #expect(environment["CAMWATCH_STEP"] == "")
        #expect(environment["CAMWATCH_EPOCH"] == "21")
        #expect(environment["CAMWATCH_DRIFT"] == "0.012")
        #expect(environment["CAMWATCH_STATE"] == "stable")
        #expect(environment["CAMWATCH_MESSAGE"] == alert.message)
        #expect(environment["CAMWATCH_REPORT"] == "/var/lib/camwatch/run7/report.json")
        // The daemon's environment is inherited.
        #expect(environment["PATH"] == ProcessInfo.processInfo.environment["PATH"])
        // argv went through without a shell: one argument, even though nothing was quoted.
        #expect(try String(contentsOf: directory.appendingPathComponent("argc"), encoding: .utf8) == "1\n")

        let stdin = try Data(contentsOf: directory.appendingPathComponent("stdin"))
        #expect(try JSONDecoder().decode(Alert.self, from: stdin) == alert)
    }

    @Test func reportsTheExitStatusAndSignals() async throws {
        let directory = try Fixtures.temporaryDirectory("camwatch-exec")
        defer { try? FileManager.default.removeItem(at: directory) }
        let fails = try Self.script("fails.sh", in: directory, "exit 3")
        let outcome = await ExecHook(.init(command: [fails])).run(.testSample())
        #expect(outcome == .exited(3))
        #expect(!outcome.succeeded)
        #expect(outcome.description == "exited with status 3")

        let killsItself = try Self.script("abort.sh", in: directory, "kill -KILL $$")
        #expect(await ExecHook(.init(command: [killsItself])).run(.testSample()) == .signaled(SIGKILL))

        // A bare name is looked up in PATH.
        #expect(await ExecHook(.init(command: ["true"])).run(.testSample()) == .exited(0))
    }

    @Test func aHookPastItsTimeoutIsKilledWithItsChildren() async throws {
        let directory = try Fixtures.temporaryDirectory("camwatch-exec")
        defer { try? FileManager.default.removeItem(at: directory) }
        let sleeper = try Self.script(
            "sleeper.sh", in: directory, #"sleep 30 & echo $! > "$1/child"; wait"#)
        let start = ContinuousClock.now
        let outcome = await ExecHook(.init(command: [sleeper, directory.path], timeout: .milliseconds(300)))
            .run(.testSample())
        #expect(outcome == .timedOut(.milliseconds(300)))
        #expect(outcome.description == "timed out after 0.3 s and was killed")
        // SIGTERM ended it, well before SIGKILL would after the 2 s grace: the hook did not inherit a
        // blocked or ignored SIGTERM from the test runner's threads.
        let elapsed = Self.seconds(since: start)
        #expect(elapsed < 1.5, "\(elapsed) s")

        // The script's own child (`sleep 30`) went with it: the whole process group was signalled.
        let child = try #require(
            pid_t(
                try String(contentsOf: directory.appendingPathComponent("child"), encoding: .utf8)
                    .trimmingCharacters(in: .whitespacesAndNewlines)))
        var gone = false
        for _ in 0..<100 where !gone {
            gone = !Self.isLiveProcess(child)
            if !gone { try await Task.sleep(for: .milliseconds(10)) }
        }
        #expect(gone, "the hook's child \(child) survived")
    }

    @Test func aHookIgnoringSigtermGetsSigkill() async throws {
        let directory = try Fixtures.temporaryDirectory("camwatch-exec")
        defer { try? FileManager.default.removeItem(at: directory) }
        let stubborn = try Self.script("stubborn.sh", in: directory, "trap '' TERM\nwhile :; do sleep 0.05; done")
        let start = ContinuousClock.now
        let outcome = await ExecHook(
            .init(command: [stubborn], timeout: .milliseconds(200)), killGrace: .milliseconds(200)
        )
        .run(.testSample())
        #expect(outcome == .timedOut(.milliseconds(200)))
        #expect(Self.seconds(since: start) < 3)
    }

    @Test func aMissingOrUnusableProgramIsReportedNotThrown() async throws {
        let directory = try Fixtures.temporaryDirectory("camwatch-exec")
        defer { try? FileManager.default.removeItem(at: directory) }
        let missing = directory.appendingPathComponent("no-such-hook").path
        #expect(
            await ExecHook(.init(command: [missing])).run(.testSample())
                == .couldNotStart("\(missing): no such executable"))
        let unknown = "camwatch-no-such-hook-\(UUID().uuidString)"
        #expect(
            await ExecHook(.init(command: [unknown])).run(.testSample())
                == .couldNotStart("\(unknown): no such executable"))
        #expect(await ExecHook(.init(command: [])).run(.testSample()) == .couldNotStart("no command configured"))

        let notExecutable = directory.appendingPathComponent("plain.txt").path
        try "echo hi\n".write(toFile: notExecutable, atomically: true, encoding: .utf8)
        guard case .couldNotStart(let reason) = await ExecHook(.init(command: [notExecutable])).run(.testSample())
        else {
            Issue.record("a non-executable file should not start")
            return
        }
        #expect(reason.hasPrefix(notExecutable))
    }

    @Test func environmentVariablesForAnAlert() {
        var alert = Alert.testSample()
        alert.epoch = nil
        alert.drift = 1e-05
        let environment = ExecHook.environment(for: alert)
        #expect(environment.count == 11)
        #expect(environment["CAMWATCH_COUNT"] == "1")
        #expect(environment["CAMWATCH_EPOCH"] == "")
        #expect(environment["CAMWATCH_STEP"] == "21000")
        #expect(environment["CAMWATCH_DRIFT"] == "1e-05")
    }

    /// Whether `pid` is a process that has not yet exited (zombies count as gone).
    static func isLiveProcess(_ pid: pid_t) -> Bool {
        guard let stat = try? String(contentsOfFile: "/proc/\(pid)/stat", encoding: .utf8),
            let close = stat.lastIndex(of: ")")
        else { return false }
        let state = stat[stat.index(after: close)...].trimmingCharacters(in: .whitespaces).first
        return state != "Z" && state != "X"
    }
}
