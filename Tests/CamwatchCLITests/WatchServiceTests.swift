import CamwatchTestSupport
import Foundation
import Glibc
import Testing

/// `camwatch watch` as a service (docs/architecture.md §6–8): the systemd notify protocol, SIGHUP reloads, start-up
/// errors, alerts through the exec hook, and `camwatch report --check` for monitoring scripts.
///
/// Every test runs the real binary on a few sample checkpoints and two probes, with short watch intervals, and
/// waits by polling with a timeout, never by sleeping for a fixed time.
@Suite(.serialized)
struct WatchServiceTests {
    static let sampleCheckpoints = Fixtures.packageRoot.appendingPathComponent("Checkpoints")
    static let sampleProbes = Fixtures.packageRoot.appendingPathComponent("Probes")

    // MARK: - 1. systemd notify

    @Test("systemd notify: READY=1, STATUS=, WATCHDOG=1 every half WATCHDOG_USEC, STOPPING=1 on SIGTERM, exit 0")
    func systemdNotifyProtocol() throws {
        let run = try Run("camwatch-notify", checkpoints: ["epoch-001.h5", "epoch-002.h5"])
        defer { run.remove() }
        // A long scan interval: idle pings then come only from the watchdog bound on the wait.
        let config = try run.config(interval: 10)
        let socket = try NotifySocket(path: run.root.appendingPathComponent("notify.sock").path)
        let watcher = try BackgroundProcess(
            run.watchArguments(config: config),
            environment: ["NOTIFY_SOCKET": socket.path, "WATCHDOG_USEC": "1000000", "WATCHDOG_PID": ""])

        let ready = socket.collect(timeout: 30) { $0.contains("READY=1") }
        #expect(ready, "no READY=1; datagrams \(socket.lines); log: \(watcher.stderr)")
        // The STATUS after both checkpoints: "2 checkpoints; state …; last epoch-002.h5 ok, drift …".
        let processed = socket.collect(timeout: 150) { $0.hasPrefix("STATUS=2 checkpoints") }
        #expect(processed, "no STATUS= naming 2 checkpoints; datagrams \(socket.lines); log: \(watcher.stderr)")
        let statuses = socket.lines.filter { $0.hasPrefix("STATUS=") }
        #expect(statuses.contains { $0.contains("checkpoints") && $0.contains("last epoch-002.h5 ok") }, "\(statuses)")
        #expect(statuses.first?.hasPrefix("STATUS=0 checkpoints; state warming-up") == true, "\(statuses)")
        let pingsWhileWorking = socket.lines.filter { $0 == "WATCHDOG=1" }.count
        #expect(pingsWhileWorking >= 1, "no WATCHDOG=1 while processing: \(socket.lines)")

        // Idle with a 10 s scan interval: WATCHDOG=1 still every 0.5 s.
        socket.lines.removeAll()
        _ = socket.collect(timeout: 3) { _ in false }
        let idlePings = socket.lines.filter { $0 == "WATCHDOG=1" }.count
        #expect(idlePings >= 3, "\(idlePings) WATCHDOG=1 in 3 s; datagrams \(socket.lines)")
        #expect(!socket.lines.contains("STOPPING=1"))

        watcher.signal(SIGTERM)
        let stopping = socket.collect(timeout: 30) { $0 == "STOPPING=1" }
        #expect(stopping, "no STOPPING=1; datagrams \(socket.lines); log: \(watcher.stderr)")
        #expect(watcher.wait(timeout: 30) == 0, "log: \(watcher.stderr)")
        #expect(socket.lines.contains { $0.hasPrefix("STATUS=stopping; 2 checkpoints") }, "\(socket.lines)")
    }

    @Test("systemd notify: no WATCHDOG=1 when WATCHDOG_PID names another process")
    func watchdogForAnotherProcess() throws {
        let run = try Run("camwatch-notify-pid", checkpoints: [])
        defer { run.remove() }
        let socket = try NotifySocket(path: run.root.appendingPathComponent("notify.sock").path)
        let watcher = try BackgroundProcess(
            run.watchArguments(config: try run.config(interval: 0.5)),
            environment: ["NOTIFY_SOCKET": socket.path, "WATCHDOG_USEC": "1000000", "WATCHDOG_PID": "1"])
        #expect(socket.collect(timeout: 30) { $0 == "READY=1" }, "no READY=1; log: \(watcher.stderr)")
        _ = socket.collect(timeout: 3) { _ in false }
        #expect(!socket.lines.contains("WATCHDOG=1"), "\(socket.lines)")
        #expect(watcher.process.isRunning, "log: \(watcher.stderr)")
        watcher.signal(SIGTERM)
        #expect(socket.collect(timeout: 30) { $0 == "STOPPING=1" }, "\(socket.lines)")
        #expect(watcher.wait(timeout: 30) == 0, "log: \(watcher.stderr)")
        #expect(!socket.lines.contains("WATCHDOG=1"), "\(socket.lines)")
    }

    // MARK: - 2. SIGHUP

    @Test("SIGHUP: a new alert hook takes effect, state is kept; a broken config is rejected and the old one stays")
    func reloadOnHangup() throws {
        let run = try Run("camwatch-hup", checkpoints: ["epoch-020.h5", "epoch-021.h5"])
        defer { run.remove() }
        let logA = run.root.appendingPathComponent("A.log")
        let logB = run.root.appendingPathComponent("B.log")
        let hookA = try run.script("hook-a.sh", "echo \"$CAMWATCH_EVENT $CAMWATCH_CHECKPOINT\" >> '\(logA.path)'")
        let hookB = try run.script("hook-b.sh", "echo \"$CAMWATCH_EVENT $CAMWATCH_CHECKPOINT\" >> '\(logB.path)'")
        func alertsConfig(_ hook: String, threshold: Double = 0.9) -> String {
            """
            convergence: {threshold: \(threshold), patience: 1}
            alerts:
              exec: {command: ["\(hook)"], timeout: 10}
            """
        }
        let config = try run.config(extra: alertsConfig(hookA))
        let watcher = try BackgroundProcess(run.watchArguments(config: config))

        // With patience 1 the second checkpoint makes the run stable; hook A hears of it.
        #expect(
            eventually(120) { lines(logA).contains("stable epoch-021.h5") },
            "A: \(lines(logA)); log: \(watcher.stderr)")
        let before = run.entries()
        #expect(before.compactMap { $0["name"] as? String } == ["epoch-020.h5", "epoch-021.h5"])

        // Point the hook at B (and change a setting that needs a restart), reload.
        try run.writeConfig(config, alertsConfig(hookB, threshold: 0.5))
        watcher.signal(SIGHUP)
        #expect(
            eventually(30) { logLines(watcher).contains { $0.contains("SIGHUP: reloaded") } }, "log: \(watcher.stderr)")
        let reloaded = logLines(watcher).first { $0.contains("SIGHUP: reloaded") } ?? ""
        #expect(reloaded.contains(config) && reloaded.contains("needs a restart to change: convergence"), "\(reloaded)")

        // Later alerts go to B: a corrupt checkpoint (`failed`), then a good one (`recovered`).
        try run.addCheckpoint(garbage: "broken-030.h5")
        #expect(
            eventually(60) { lines(logB).contains("failed broken-030.h5") }, "B: \(lines(logB)); log: \(watcher.stderr)"
        )
        try run.addCheckpoint(sample: "epoch-022.h5")
        #expect(
            eventually(120) { lines(logB).contains("recovered epoch-022.h5") },
            "B: \(lines(logB)); log: \(watcher.stderr)")
        #expect(lines(logA) == ["stable epoch-021.h5"], "hook A ran after the reload")

        // The state survived the reload: the earlier entries are there, unchanged; convergence kept its settings.
        let after = run.entries()
        #expect(
            after.compactMap { $0["name"] as? String } == [
                "epoch-020.h5", "epoch-021.h5", "broken-030.h5", "epoch-022.h5",
            ])
        for (old, new) in zip(before, after) {
            #expect(old["id"] as? String == new["id"] as? String)
            #expect(old["processed_at"] as? Double == new["processed_at"] as? Double)
        }
        let convergence = run.report()?["convergence"] as? [String: Any]
        #expect(convergence?["state"] as? String == "stable")
        let rule = convergence?["rule"] as? [String: Any]
        #expect(rule?["threshold"] as? Double == 0.9, "convergence settings changed without a restart")

        // Broken files, both pointing back at A: each reload is refused with one line; B stays in force.
        let brokenYAML = "alerts:\n  exec: {command: [\"\(hookA)\"], timeout: 10\nwatch: [\n"
        let unknownKey = alertsConfig(hookA) + "\nwatch: {interval: 0.5, setle: 0.4}\n"
        for (text, reason) in [(brokenYAML, "invalid YAML"), (unknownKey, "unknown key 'watch.setle'")] {
            try text.write(toFile: config, atomically: true, encoding: .utf8)
            let seen = logLines(watcher).count
            watcher.signal(SIGHUP)
            #expect(
                eventually(30) { logLines(watcher).dropFirst(seen).contains { $0.contains("SIGHUP") } },
                "no SIGHUP line for \(reason); log: \(watcher.stderr)")
            let rejected = logLines(watcher).dropFirst(seen).filter { $0.contains("SIGHUP") }
            #expect(
                rejected.count == 1 && rejected.allSatisfy { $0.contains(config) && $0.contains(reason) }, "\(rejected)"
            )
            #expect(!rejected.contains { $0.contains("reloaded") }, "\(rejected)")
            #expect(watcher.process.isRunning, "the watcher stopped on a broken config: \(watcher.stderr)")
        }
        try run.addCheckpoint(garbage: "broken-031.h5")
        #expect(
            eventually(60) { lines(logB).contains("failed broken-031.h5") }, "B: \(lines(logB)); log: \(watcher.stderr)"
        )
        #expect(lines(logA) == ["stable epoch-021.h5"], "a rejected config was applied")

        watcher.signal(SIGTERM)
        #expect(watcher.wait(timeout: 30) == 0, "log: \(watcher.stderr)")
    }

    @Test("SIGHUP as soon as READY=1 is out (systemctl reload right after start): reloaded, not killed")
    func hangupRightAfterReady() throws {
        let run = try Run("camwatch-hup-early", checkpoints: [])
        defer { run.remove() }
        let config = try run.config()
        // The window is short; a few starts make it likely that a missing handler is hit.
        for attempt in 1...10 {
            let socket = try NotifySocket(path: run.root.appendingPathComponent("notify-\(attempt).sock").path)
            let out = run.root.appendingPathComponent("out-\(attempt)").path
            let watcher = try BackgroundProcess(
                ["watch", run.checkpoints.path, "--probes", run.probes, "--out", out, "--config", config],
                environment: ["NOTIFY_SOCKET": socket.path])
            #expect(
                socket.collect(timeout: 30) { $0 == "READY=1" },
                "attempt \(attempt): no READY=1; log: \(watcher.stderr)")
            watcher.signal(SIGHUP)
            func reloadLogged() -> Bool { logLines(watcher).contains { $0.contains("SIGHUP: reloaded") } }
            _ = eventually(15) { reloadLogged() || !watcher.process.isRunning }
            let reloaded = watcher.process.isRunning && reloadLogged()
            let ending =
                watcher.process.isRunning
                ? "still running"
                : watcher.process.terminationReason == .uncaughtSignal
                    ? "killed by signal \(watcher.process.terminationStatus)"
                    : "exit \(watcher.process.terminationStatus)"
            #expect(reloaded, "attempt \(attempt): SIGHUP right after READY=1: \(ending); log: \(watcher.stderr)")
            watcher.signal(SIGTERM)
            _ = watcher.wait(timeout: 30)
            guard reloaded else { break }
        }
    }

    @Test("SIGHUP with an unreadable webhook url_file: rejected with one line, the webhook stays on")
    func hangupWithUnreadableWebhookFile() throws {
        let run = try Run("camwatch-hup-webhook", checkpoints: [])
        defer { run.remove() }
        // Nothing listens on port 1: every delivery fails fast, and says so in one log line naming the host.
        let urlFile = run.root.appendingPathComponent("webhook.url")
        try "http://127.0.0.1:1/hook\n".write(to: urlFile, atomically: true, encoding: .utf8)
        let config = try run.config(extra: "alerts:\n  webhook: {url_file: \(urlFile.path), timeout: 1, retries: 0}")
        let watcher = try BackgroundProcess(run.watchArguments(config: config))
        func deliveries() -> Int { logLines(watcher).filter { $0.contains("webhook to 127.0.0.1") }.count }

        try run.addCheckpoint(garbage: "broken-001.h5")
        #expect(eventually(60) { deliveries() == 1 }, "log: \(watcher.stderr)")

        try FileManager.default.removeItem(at: urlFile)
        let seen = logLines(watcher).count
        watcher.signal(SIGHUP)
        #expect(
            eventually(30) { logLines(watcher).dropFirst(seen).contains { $0.contains("SIGHUP") } },
            "log: \(watcher.stderr)")
        let lines = logLines(watcher).dropFirst(seen).filter { $0.contains("SIGHUP") }
        #expect(
            lines.count == 1 && lines.allSatisfy { $0.contains(urlFile.path) && !$0.contains("reloaded") },
            "the reload should be refused naming \(urlFile.path): \(lines)")

        try run.addCheckpoint(garbage: "broken-002.h5")
        #expect(eventually(60) { run.entries().count == 2 }, "log: \(watcher.stderr)")
        // A second failure within the failure interval is held for the next `failed` alert; shutdown sends it.
        watcher.signal(SIGTERM)
        #expect(watcher.wait(timeout: 30) == 0, "log: \(watcher.stderr)")
        #expect(deliveries() == 2, "the reload turned the webhook off; log: \(watcher.stderr)")
    }

    // MARK: - 3. Start-up errors

    @Test("bad input at start-up: one line naming the file and the reason, non-zero exit, fast, --out untouched")
    func startupErrors() throws {
        let run = try Run("camwatch-badstart", checkpoints: [])
        defer { run.remove() }
        try FileManager.default.createDirectory(at: run.out, withIntermediateDirectories: true)
        try HandReport.changing.json().write(to: run.out.appendingPathComponent("report.json"))
        let config = try run.config()
        let root = run.root.path

        let garbageProbes = run.root.appendingPathComponent("garbage-probes")
        try FileManager.default.copyItem(atPath: run.probes, toPath: garbageProbes.path)
        let garbagePNG = garbageProbes.appendingPathComponent("probe-03-cross.png").path
        try Data(noise(2000)).write(to: URL(fileURLWithPath: garbagePNG))

        let unknownKey = run.root.appendingPathComponent("unknown-key.yaml").path
        try "watch: {interval: 0.5, setle: 0.4}\nscore_cam: {threads: 1}\n".write(
            toFile: unknownKey, atomically: true, encoding: .utf8)
        let badYAML = run.root.appendingPathComponent("bad-yaml.yaml").path
        try "watch: {interval: 0.5, settle: 0.4\nscore_cam: [threads\n".write(
            toFile: badYAML, atomically: true, encoding: .utf8)
        let regularFile = run.root.appendingPathComponent("file")
        try Data("not a directory\n".utf8).write(to: regularFile)

        let checkpoints = run.checkpoints.path
        let out = run.out.path
        let probes = run.probes
        let cases: [(label: String, arguments: [String], outDirectory: String, mentions: [String])] = [
            (
                "missing probe dir",
                ["watch", checkpoints, "--probes", "\(root)/nope", "--out", out, "--config", config],
                out, ["\(root)/nope", "does not exist"]
            ),
            (
                "garbage probe PNG",
                ["watch", checkpoints, "--probes", garbageProbes.path, "--out", out, "--config", config],
                out, [garbagePNG, "unreadable probe image"]
            ),
            (
                "unknown config key", ["watch", checkpoints, "--probes", probes, "--out", out, "--config", unknownKey],
                out, [unknownKey, "unknown key 'watch.setle'"]
            ),
            (
                "invalid YAML", ["watch", checkpoints, "--probes", probes, "--out", out, "--config", badYAML],
                out, [badYAML, "invalid YAML"]
            ),
            (
                "unknown layer",
                [
                    "watch", checkpoints, "--probes", probes, "--out", out, "--config", config, "--arch", "resnet18",
                    "--layer", "nope",
                ],
                out, ["'nope'", "resnet18", "unknown layer"]
            ),
            (
                "unknown arch",
                ["watch", checkpoints, "--probes", probes, "--out", out, "--config", config, "--arch", "resnet999"],
                out, ["'resnet999'", "unknown architecture"]
            ),
            (
                "out under a regular file",
                ["watch", checkpoints, "--probes", probes, "--out", "\(regularFile.path)/out", "--config", config],
                root, [regularFile.path, "not a directory"]
            ),
        ]
        for item in cases {
            let snapshot = try directorySnapshot(item.outDirectory)
            let result = try runBounded(item.arguments + ["--once"])
            let lines = result.stderr.split(whereSeparator: \.isNewline).filter { !$0.allSatisfy(\.isWhitespace) }
            #expect(
                result.status != nil && result.status != 0, "\(item.label): status \(String(describing: result.status))"
            )
            #expect(lines.count == 1, "\(item.label): stderr \(result.stderr)")
            for word in item.mentions {
                #expect(lines.first?.contains(word) == true, "\(item.label): '\(word)' not in \(result.stderr)")
            }
            #expect(result.seconds < 10, "\(item.label): took \(result.seconds) s")
            let after = try directorySnapshot(item.outDirectory)
            #expect(after == snapshot, "\(item.label): changed in the output directory: \(changes(snapshot, after))")
        }

        // A second watcher on the same --out while the first runs: refused by the lock.
        let first = try BackgroundProcess(run.watchArguments(config: config))
        #expect(eventually(30) { first.stderr.contains("watching") }, "log: \(first.stderr)")
        // The first watcher writes its metrics and pictures right after start-up; wait until the directory is quiet.
        let snapshot = try #require(
            quietSnapshot(out, containing: ["camwatch.prom", "timeline.png", "drift.png"]), "log: \(first.stderr)")
        let second = try runBounded(run.watchArguments(config: config) + ["--once"])
        let lines = second.stderr.split(whereSeparator: \.isNewline).filter { !$0.allSatisfy(\.isWhitespace) }
        #expect(second.status != nil && second.status != 0, "status \(String(describing: second.status))")
        #expect(lines.count == 1, "stderr: \(second.stderr)")
        #expect(
            lines.first?.contains(out) == true
                && lines.first?.contains("already used by another camwatch watcher") == true,
            "\(second.stderr)")
        #expect(lines.first?.contains("pid \(first.pid)") == true, "\(second.stderr)")
        #expect(second.seconds < 10)
        let after = try directorySnapshot(out)
        #expect(
            after == snapshot,
            "the second watcher changed the first one's output directory: \(changes(snapshot, after))")
        #expect(first.process.isRunning, "log: \(first.stderr)")
        first.signal(SIGTERM)
        #expect(first.wait(timeout: 30) == 0, "log: \(first.stderr)")
        // The hand-written report was resumed, not replaced.
        #expect(run.entries().compactMap { $0["name"] as? String } == ["epoch-001.h5", "epoch-002.h5"])
    }

    // MARK: - 4. Alerts

    @Test("alerts end to end: the exec hook gets CAMWATCH_* and the alert JSON for `stable` and `failed`")
    func execHookAlerts() throws {
        let run = try Run("camwatch-alerts", checkpoints: ["epoch-020.h5", "epoch-021.h5", "epoch-022.h5"])
        defer { run.remove() }
        try Data(noise(4096)).write(to: run.checkpoints.appendingPathComponent("epoch-000.h5"))
        let calls = run.root.appendingPathComponent("calls")
        try FileManager.default.createDirectory(at: calls, withIntermediateDirectories: true)
        let hook = try run.script(
            "record.sh",
            """
            base=$(mktemp '\(calls.path)/alert.XXXXXX') || exit 1
            env | grep '^CAMWATCH_' > "$base.env"
            cat > "$base.json"
            : > "$base.done"
            """)
        let config = try run.config(
            extra: """
                job_name: alert-job
                convergence: {threshold: 0.9, patience: 1}
                alerts:
                  exec: {command: ["\(hook)"], timeout: 10}
                """)
        let result = try runBounded(run.watchArguments(config: config) + ["--once"], timeout: 240)
        #expect(result.status == 0, "log: \(result.stderr)")

        let done = try FileManager.default.contentsOfDirectory(atPath: calls.path).filter { $0.hasSuffix(".done") }
            .sorted()
        var alerts: [(environment: [String: String], json: [String: Any])] = []
        for name in done {
            let base = calls.appendingPathComponent(String(name.dropLast(".done".count)))
            let environment = lines(base.appendingPathExtension("env")).reduce(into: [String: String]()) {
                result, line in
                guard let equals = line.firstIndex(of: "=") else { return }
                result[String(line[..<equals])] = String(line[line.index(after: equals)...])
            }
            let data = try Data(contentsOf: base.appendingPathExtension("json"))
            let json = try #require(try JSONSerialization.jsonObject(with: data) as? [String: Any], "stdin: \(data)")
            alerts.append((environment, json))
        }
        let events = alerts.compactMap { $0.environment["CAMWATCH_EVENT"] }.sorted()
        #expect(events == ["failed", "recovered", "stable"], "log: \(result.stderr)")

        let entries = run.entries()
        let reportPath = run.out.appendingPathComponent("report.json").path
        let keys: Set<String> = [
            "event", "job", "checkpoint", "checkpoint_id", "step", "epoch", "drift", "state", "message",
            "report_path", "time", "count",
        ]
        for (environment, json) in alerts {
            #expect(Set(json.keys) == keys, "\(json)")
            #expect(json["event"] as? String == environment["CAMWATCH_EVENT"])
            #expect(json["checkpoint"] as? String == environment["CAMWATCH_CHECKPOINT"])
            #expect(json["checkpoint_id"] as? String == environment["CAMWATCH_CHECKPOINT_ID"])
            #expect(json["message"] as? String == environment["CAMWATCH_MESSAGE"])
            #expect(environment["CAMWATCH_JOB"] == "alert-job" && json["job"] as? String == "alert-job")
            #expect(environment["CAMWATCH_REPORT"] == reportPath && json["report_path"] as? String == reportPath)
            // The id is the report's id for that checkpoint.
            let entry = entries.first { $0["id"] as? String == environment["CAMWATCH_CHECKPOINT_ID"] }
            #expect(entry?["name"] as? String == environment["CAMWATCH_CHECKPOINT"], "\(environment)")
        }

        let stable = try #require(alerts.first { $0.environment["CAMWATCH_EVENT"] == "stable" })
        #expect(stable.environment["CAMWATCH_CHECKPOINT"] == "epoch-021.h5", "\(stable.environment)")
        #expect(stable.environment["CAMWATCH_STATE"] == "stable" && stable.json["state"] as? String == "stable")
        #expect(stable.environment["CAMWATCH_EPOCH"] == "21" && stable.json["epoch"] as? Int == 21)
        let drift = try #require(stable.environment["CAMWATCH_DRIFT"].flatMap(Double.init), "\(stable.environment)")
        #expect(drift >= 0 && drift < 0.9)
        #expect(abs((stable.json["drift"] as? Double ?? -1) - drift) <= 1e-12)
        let reportedDrift = (entries.first { $0["name"] as? String == "epoch-021.h5" }?["drift"] as? [String: Any])?[
            "mean"]
        #expect(abs((reportedDrift as? Double ?? -1) - drift) <= 1e-12, "the alert's drift is not the report's")
        #expect(stable.environment["CAMWATCH_MESSAGE"]?.contains("stable since epoch-021.h5") == true)

        let failed = try #require(alerts.first { $0.environment["CAMWATCH_EVENT"] == "failed" })
        #expect(failed.environment["CAMWATCH_CHECKPOINT"] == "epoch-000.h5", "\(failed.environment)")
        #expect(failed.json["drift"] is NSNull, "\(failed.json)")
        #expect(failed.environment["CAMWATCH_DRIFT"] == "")
        let message = failed.environment["CAMWATCH_MESSAGE"] ?? ""
        #expect(message.contains("epoch-000.h5") && message.contains("not an HDF5 file"), "\(message)")
        let failedEntry = entries.first { $0["name"] as? String == "epoch-000.h5" }
        #expect(failedEntry?["status"] as? String == "failed", "\(entries)")

        // Every alert is also a log line, and the hook's outcome is logged.
        #expect(result.stderr.contains("alert-job: saliency stable since epoch-021.h5"), "\(result.stderr)")
        #expect(result.stderr.contains("alert-job: checkpoint epoch-000.h5 failed"), "\(result.stderr)")
        #expect(result.stderr.contains("exec hook exited with status 0"), "\(result.stderr)")

        // The real report: stable, last checkpoint ok → `report --check` says 1.
        let check = try CommandRunner.run(["report", run.out.path, "--check"])
        #expect(check.status == 1, "\(check.stdout) \(check.stderr)")
        #expect(check.stdout.hasPrefix("Verdict: stable since epoch-021.h5 (epoch 21)"), "\(check.stdout)")
    }

    // MARK: - 5. camwatch report

    @Test("report --check: 0 warming up or changing, 1 stable, 2 last checkpoint failed or no readable report")
    func reportCheckExitCodes() throws {
        let root = try Fixtures.temporaryDirectory("camwatch-check")
        defer { try? FileManager.default.removeItem(at: root) }
        let cases: [(label: String, report: HandReport?, status: Int32, verdict: String)] = [
            ("warming-up", .warmingUp, 0, "Verdict: warming up: 1 checkpoint processed"),
            ("changing", .changing, 0, "Verdict: still changing: last drift 0.3, threshold 0.02, 0/3"),
            ("stable", .stable, 1, "Verdict: stable since epoch-003.h5 (epoch 3)"),
            ("last failed", .lastFailed, 2, "Last checkpoint epoch-004.h5 failed"),
            ("failed then ok", .recovered, 1, "Verdict: stable since epoch-003.h5"),
            ("missing report", nil, 2, "report.json: no report"),
        ]
        for item in cases {
            let out = root.appendingPathComponent(item.label)
            try FileManager.default.createDirectory(at: out, withIntermediateDirectories: true)
            if let report = item.report { try report.json().write(to: out.appendingPathComponent("report.json")) }
            let result = try CommandRunner.run(["report", out.path, "--check"])
            #expect(result.status == item.status, "\(item.label): \(result.stdout) \(result.stderr)")
            #expect(result.stdout.contains(item.verdict), "\(item.label): \(result.stdout)")
        }
        // No directory at all, and a report that is not JSON: 2 as well.
        let missing = try CommandRunner.run(["report", root.appendingPathComponent("nowhere").path, "--check"])
        #expect(missing.status == 2, "\(missing.stdout) \(missing.stderr)")
        let garbled = root.appendingPathComponent("garbled")
        try FileManager.default.createDirectory(at: garbled, withIntermediateDirectories: true)
        try Data("{\"schema_version\": 1, \"checkp".utf8).write(to: garbled.appendingPathComponent("report.json"))
        let corrupt = try CommandRunner.run(["report", garbled.path, "--check"])
        #expect(corrupt.status == 2, "\(corrupt.stdout) \(corrupt.stderr)")
        #expect(corrupt.stdout.contains("report.json"), "\(corrupt.stdout)")
    }

    @Test("report --format markdown|json|text prints the table, the verdict, or report.json itself")
    func reportFormats() throws {
        let root = try Fixtures.temporaryDirectory("camwatch-format")
        defer { try? FileManager.default.removeItem(at: root) }
        let file = root.appendingPathComponent("report.json")
        try HandReport.lastFailed.json().write(to: file)
        let verdict = "Verdict: stable since epoch-003.h5 (epoch 3): drift below 0.05 for 1 consecutive checkpoint."

        let markdown = try CommandRunner.run(["report", root.path, "--format", "markdown"])
        #expect(markdown.status == 0, "\(markdown.stderr)")
        let rows = markdown.stdout.split(separator: "\n").map(String.init)
        #expect(
            rows.first == "| checkpoint | epoch | step | status | drift | drift max | weight drift | state | val_acc |",
            "\(markdown.stdout)")
        #expect(rows.dropFirst().first.map { $0.allSatisfy { "|-: ".contains($0) } && $0.contains("---") } == true)
        #expect(
            rows.contains("| epoch-002.h5 | 2 | 200 | ok | 0.3 | 0.5 | 0.1 | changing | 0.85 |"), "\(markdown.stdout)")
        #expect(rows.contains("| epoch-004.h5 | - | - | failed | - | - | - | stable | - |"), "\(markdown.stdout)")
        #expect(rows.filter { $0.hasPrefix("| epoch-") }.count == 4)
        #expect(rows.last?.hasPrefix("**" + verdict) == true, "\(markdown.stdout)")

        let text = try CommandRunner.run(["report", root.path, "--format", "text"])
        #expect(text.status == 0, "\(text.stderr)")
        let textRows = text.stdout.split(separator: "\n").map(String.init)
        #expect(textRows.first?.split(separator: " ").first == "checkpoint", "\(text.stdout)")
        let second = textRows.first { $0.hasPrefix("epoch-002.h5") }?.split(separator: " ").map(String.init)
        #expect(
            second == ["epoch-002.h5", "2", "200", "ok", "0.3", "0.5", "0.1", "changing", "0.85"], "\(text.stdout)")
        #expect(textRows.last?.hasPrefix(verdict) == true, "\(text.stdout)")
        let plain = try CommandRunner.run(["report", root.path])
        #expect(plain.stdout == text.stdout, "text is the default format")

        let json = try CommandRunner.run(["report", root.path, "--format", "json"])
        #expect(json.status == 0, "\(json.stderr)")
        let printed = try JSONSerialization.jsonObject(with: Data(json.stdout.utf8)) as? NSDictionary
        let stored = try JSONSerialization.jsonObject(with: Data(contentsOf: file)) as? NSDictionary
        #expect(printed != nil && printed == stored, "\(json.stdout)")
        #expect((printed?["checkpoints"] as? [Any])?.count == 4)

        let bad = try CommandRunner.run(["report", root.path, "--format", "pdf"])
        #expect(bad.status != 0 && bad.stderr.contains("--format"), "\(bad.stderr)")
        let none = try CommandRunner.run(["report", root.appendingPathComponent("nowhere").path])
        #expect(none.status != 0, "\(none.stdout)")
        #expect(none.stderr.split(separator: "\n").count == 1 && none.stderr.contains("no report"), "\(none.stderr)")
    }
}

// MARK: - Helpers

/// One watched run's directories in a fresh temporary directory: checkpoints (copies of the sample's), two
/// probes with their manifest entries, an output directory.
private struct Run {
    let root: URL
    let checkpoints: URL
    let out: URL
    let probes: String

    init(_ label: String, checkpoints names: [String]) throws {
        root = try Fixtures.temporaryDirectory(label)
        checkpoints = root.appendingPathComponent("ckpt")
        out = root.appendingPathComponent("out")
        try FileManager.default.createDirectory(at: checkpoints, withIntermediateDirectories: true)
        for name in names {
            try FileManager.default.copyItem(
                at: WatchServiceTests.sampleCheckpoints.appendingPathComponent(name),
                to: checkpoints.appendingPathComponent(name))
        }
        let probeDirectory = root.appendingPathComponent("probes")
        try FileManager.default.createDirectory(at: probeDirectory, withIntermediateDirectories: true)
        let keep = ["probe-00-circle", "probe-03-cross"]
        for id in keep {
            try FileManager.default.copyItem(
                at: WatchServiceTests.sampleProbes.appendingPathComponent("\(id).png"),
                to: probeDirectory.appendingPathComponent("\(id).png"))
        }
        let manifest = try JSONSerialization.jsonObject(
            with: Data(contentsOf: WatchServiceTests.sampleProbes.appendingPathComponent("probes.json")))
        let entries = (manifest as? [[String: Any]] ?? []).filter { keep.contains($0["id"] as? String ?? "") }
        precondition(entries.count == keep.count, "Probes/probes.json lacks \(keep)")
        try JSONSerialization.data(withJSONObject: entries).write(
            to: probeDirectory.appendingPathComponent("probes.json"))
        probes = probeDirectory.path
    }

    func remove() { try? FileManager.default.removeItem(at: root) }

    /// `camwatch.yaml` with short watch intervals and one Score-CAM thread, plus `extra`.
    func config(interval: Double = 0.5, extra: String = "") throws -> String {
        let path = root.appendingPathComponent("camwatch.yaml").path
        try writeConfig(path, extra, interval: interval)
        return path
    }

    func writeConfig(_ path: String, _ extra: String, interval: Double = 0.5) throws {
        let text = """
            watch: {interval: \(interval), settle: 0.4, incomplete_after: 3}
            score_cam: {threads: 1}
            resources: {priority: normal}
            \(extra)

            """
        try text.write(toFile: path, atomically: true, encoding: .utf8)
    }

    func watchArguments(config: String) -> [String] {
        ["watch", checkpoints.path, "--probes", probes, "--out", out.path, "--config", config]
    }

    /// An executable `/bin/sh` script.
    func script(_ name: String, _ body: String) throws -> String {
        let path = root.appendingPathComponent(name).path
        try "#!/bin/sh\n\(body)\n".write(toFile: path, atomically: true, encoding: .utf8)
        try FileManager.default.setAttributes([.posixPermissions: 0o755], ofItemAtPath: path)
        return path
    }

    /// Moves a complete file into the checkpoint directory, as a trainer's rename would.
    private func arrive(_ name: String, _ write: (URL) throws -> Void) throws {
        let staging = root.appendingPathComponent("incoming-\(name)")
        try write(staging)
        try FileManager.default.moveItem(at: staging, to: checkpoints.appendingPathComponent(name))
    }

    func addCheckpoint(sample name: String) throws {
        try arrive(name) {
            try FileManager.default.copyItem(
                at: WatchServiceTests.sampleCheckpoints.appendingPathComponent(name), to: $0)
        }
    }

    /// A "checkpoint" of noise: not HDF5, so the watcher fails it.
    func addCheckpoint(garbage name: String) throws {
        try arrive(name) { try Data(noise(4096)).write(to: $0) }
    }

    func report() -> [String: Any]? {
        guard let data = try? Data(contentsOf: out.appendingPathComponent("report.json")) else { return nil }
        return (try? JSONSerialization.jsonObject(with: data)) as? [String: Any]
    }

    func entries() -> [[String: Any]] { (report()?["checkpoints"] as? [[String: Any]]) ?? [] }
}

/// An `AF_UNIX` datagram socket bound at a path, standing in for systemd's `NOTIFY_SOCKET`.
private final class NotifySocket {
    let path: String
    private let fd: Int32
    /// Every `KEY=VALUE` line received so far, in order.
    var lines: [String] = []

    struct Failure: Error, CustomStringConvertible {
        var description: String
    }

    init(path: String) throws {
        self.path = path
        var address = sockaddr_un()
        let bytes = Array(path.utf8)
        guard bytes.count < MemoryLayout.size(ofValue: address.sun_path) else {
            throw Failure(description: "\(path): too long for sun_path")
        }
        fd = socket(AF_UNIX, Int32(SOCK_DGRAM.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0)
        guard fd >= 0 else { throw Failure(description: "socket: errno \(errno)") }
        address.sun_family = sa_family_t(AF_UNIX)
        withUnsafeMutableBytes(of: &address.sun_path) { $0.copyBytes(from: bytes) }
        let bound = withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) {
                bind(fd, $0, socklen_t(MemoryLayout<sockaddr_un>.size))
            }
        }
        guard bound == 0 else {
            let code = errno
            close(fd)
            throw Failure(description: "bind(\(path)): errno \(code)")
        }
        var timeout = timeval(tv_sec: 0, tv_usec: 100_000)
        _ = setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &timeout, socklen_t(MemoryLayout<timeval>.size))
    }

    deinit {
        close(fd)
        unlink(path)
    }

    /// Receives datagrams into `lines` until a line satisfies `stop` (true) or `timeout` seconds pass (false).
    func collect(timeout: Double, until stop: (String) -> Bool) -> Bool {
        let deadline = Date().addingTimeInterval(timeout)
        var buffer = [UInt8](repeating: 0, count: 4096)
        while Date() < deadline {
            let count = buffer.withUnsafeMutableBytes { recv(fd, $0.baseAddress, $0.count, 0) }
            guard count > 0 else { continue }  // timeout (EAGAIN) or EINTR
            let received = String(decoding: buffer.prefix(count), as: UTF8.self)
                .split(separator: "\n").map(String.init)
            lines += received
            if received.contains(where: stop) { return true }
        }
        return false
    }
}

/// Reports written by hand in `report.json`'s encoding (Sources/CamwatchMonitor/Report.swift).
private enum HandReport {
    case warmingUp, changing, stable, lastFailed, recovered

    func json() throws -> Data {
        func entry(_ n: Int, status: String = "ok", drift: Double? = nil, state: String, epoch: Bool = true) -> [String:
            Any]
        {
            let name = String(format: "epoch-%03d.h5", n)
            var entry: [String: Any] = [
                "name": name, "id": "id-\(n)", "status": status, "seconds": 1.5,
                "processed_at": 1_700_000_000.0 + Double(n), "state": state,
                "step": NSNull(), "epoch": NSNull(), "error": NSNull(), "drift": NSNull(), "weight_drift": NSNull(),
                "predictions": [String: Any](), "attributes": [String: Any](),
            ]
            if epoch {
                entry["step"] = n * 100
                entry["epoch"] = n
            }
            if status == "ok" {
                let prediction: [String: Any] = ["class": 0, "score": 3.25]
                entry["predictions"] = ["probe-00-circle": prediction]
                let attributes: [String: Any] = ["epoch": Double(n), "val_acc": 0.75 + 0.05 * Double(n)]
                entry["attributes"] = attributes
            } else {
                entry["error"] = "/run/ckpt/\(name): not an HDF5 file"
            }
            if let drift {
                let summary: [String: Any] = ["mean": drift, "max": drift + 0.2, "per_probe": [String: Any]()]
                entry["drift"] = summary
                entry["weight_drift"] = 0.1
            }
            return entry
        }
        func convergence(_ state: String, processed: Int, streak: Int, last: Int, at: Int? = nil) -> [String: Any] {
            var tracker: [String: Any] = [
                "state": state, "converged_at": NSNull(), "converged_at_id": NSNull(), "threshold": threshold,
                "patience": patience, "hysteresis": 1.5, "streak": streak, "processed": processed,
                "last_checkpoint_id": "id-\(last)",
            ]
            if let at {
                tracker["converged_at"] = String(format: "epoch-%03d.h5", at)
                tracker["converged_at_id"] = "id-\(at)"
            }
            return tracker
        }
        let checkpoints: [[String: Any]]
        let tracker: [String: Any]
        switch self {
        case .warmingUp:
            checkpoints = [entry(1, state: "warming-up")]
            tracker = convergence("warming-up", processed: 1, streak: 0, last: 1)
        case .changing:
            checkpoints = [entry(1, state: "warming-up"), entry(2, drift: 0.3, state: "changing")]
            tracker = convergence("changing", processed: 2, streak: 0, last: 2)
        case .stable:
            checkpoints = [
                entry(1, state: "warming-up"), entry(2, drift: 0.3, state: "changing"),
                entry(3, drift: 0.01, state: "stable"),
            ]
            tracker = convergence("stable", processed: 3, streak: 1, last: 3, at: 3)
        case .lastFailed:
            checkpoints = [
                entry(1, state: "warming-up"), entry(2, drift: 0.3, state: "changing"),
                entry(3, drift: 0.01, state: "stable"), entry(4, status: "failed", state: "stable", epoch: false),
            ]
            tracker = convergence("stable", processed: 3, streak: 1, last: 3, at: 3)
        case .recovered:
            checkpoints = [
                entry(1, state: "warming-up"), entry(2, status: "failed", state: "warming-up", epoch: false),
                entry(3, drift: 0.01, state: "stable"),
            ]
            tracker = convergence("stable", processed: 2, streak: 1, last: 3, at: 3)
        }
        let report: [String: Any] = [
            "schema_version": 1,
            "model": ["arch": NSNull(), "layer": "", "input_size": [64, 64]] as [String: Any],
            "probes": [
                [
                    "id": "probe-00-circle", "file": "probe-00-circle.png", "class": 0, "label": "circle",
                    "bbox": NSNull(),
                ] as [String: Any]
            ],
            "checkpoints": checkpoints, "convergence": tracker,
        ]
        return try JSONSerialization.data(withJSONObject: report, options: [.prettyPrinted, .sortedKeys])
    }

    private var threshold: Double { self == .changing || self == .warmingUp ? 0.02 : 0.05 }
    private var patience: Int { self == .changing || self == .warmingUp ? 3 : 1 }
}

/// Polls `condition` until it holds or `seconds` pass.
private func eventually(_ seconds: Double, _ condition: () -> Bool) -> Bool {
    BackgroundProcess.eventually(timeout: seconds, condition)
}

/// A text file's non-empty lines; none when it does not exist.
private func lines(_ url: URL) -> [String] {
    ((try? String(contentsOf: url, encoding: .utf8)) ?? "").split(separator: "\n").map(String.init)
}

private func logLines(_ process: BackgroundProcess) -> [String] {
    process.stderr.split(separator: "\n").map(String.init)
}

/// Deterministic bytes that are neither HDF5 nor PNG.
private func noise(_ count: Int) -> [UInt8] {
    var state: UInt64 = 0x9E37_79B9_7F4A_7C15
    return (0..<count).map { _ in
        state = state &* 6_364_136_223_846_793_005 &+ 1_442_695_040_888_963_407
        return UInt8(truncatingIfNeeded: state >> 33)
    }
}

/// Every file under `path` (relative name → bytes); empty when `path` does not exist.
private func directorySnapshot(_ path: String) throws -> [String: Data] {
    guard let enumerator = FileManager.default.enumerator(atPath: path) else { return [:] }
    var files: [String: Data] = [:]
    while let name = enumerator.nextObject() as? String {
        let full = (path as NSString).appendingPathComponent(name)
        var isDirectory: ObjCBool = false
        guard FileManager.default.fileExists(atPath: full, isDirectory: &isDirectory) else { continue }
        files[name] = isDirectory.boolValue ? Data("<dir>".utf8) : try Data(contentsOf: URL(fileURLWithPath: full))
    }
    return files
}

/// The names whose bytes differ between two snapshots (added, removed or rewritten).
private func changes(_ before: [String: Data], _ after: [String: Data]) -> [String] {
    Set(before.keys).union(after.keys).filter { before[$0] != after[$0] }.sorted()
}

/// `directorySnapshot(path)` once it holds `names` and has not changed for `quiet` seconds; `nil` after `timeout`.
private func quietSnapshot(_ path: String, containing names: [String], quiet: Double = 1, timeout: Double = 30)
    -> [String: Data]?
{
    var last: [String: Data] = [:]
    var since = Date()
    let deadline = Date().addingTimeInterval(timeout)
    while Date() < deadline {
        let now = (try? directorySnapshot(path)) ?? [:]
        if now != last {
            last = now
            since = Date()
        } else if names.allSatisfy({ now[$0] != nil }) && Date().timeIntervalSince(since) >= quiet {
            return now
        }
        usleep(100_000)
    }
    return nil
}

/// Runs camwatch and waits at most `timeout` seconds (then kills it: status `nil`).
private func runBounded(_ arguments: [String], timeout: Double = 20) throws
    -> (status: Int32?, stdout: String, stderr: String, seconds: Double)
{
    let start = Date()
    let process = try BackgroundProcess(arguments)
    let status = process.wait(timeout: timeout)
    if status == nil {
        process.signal(SIGKILL)
        _ = process.wait(timeout: 5)
    }
    return (status, process.stdout, process.stderr, Date().timeIntervalSince(start))
}
