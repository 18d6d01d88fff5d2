import CamwatchMonitor
import CamwatchTestSupport
import Foundation
import Testing

/// `camwatch.prom` read back by Prometheus' own Python client parser (python3-prometheus-client), so
/// the textfile is checked against a real implementation of the exposition format, not our idea of it.
@Suite struct PrometheusParseTests {
    /// Prints `[[family, type, [[sample, labels, value], …]], …]` as JSON for the file named in argv[1].
    static let parser = """
        import json, math, sys
        from prometheus_client.parser import text_string_to_metric_families
        text = open(sys.argv[1], encoding="utf-8").read()
        out = []
        for family in text_string_to_metric_families(text):
            samples = [[s.name, s.labels, "NaN" if math.isnan(s.value) else s.value] for s in family.samples]
            out.append([family.name, family.type, family.documentation, samples])
        print(json.dumps(out))
        """

    /// The first Python 3 that can import `prometheus_client`: Debian's `/usr/bin/python3` (where
    /// python3-prometheus-client installs it) before whatever `python3` is first in PATH.
    static func python() async -> String? {
        for candidate in ["/usr/bin/python3", "python3"] {
            if let result = try? await run(candidate, ["-c", "import prometheus_client"]), result.status == 0 {
                return candidate
            }
        }
        return nil
    }

    /// Runs `program` (looked up in PATH) and waits for it without blocking a cooperative thread.
    static func run(
        _ program: String, _ arguments: [String]
    ) async throws -> (status: Int32, stdout: String, stderr: String) {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: "/usr/bin/env")
        process.arguments = [program] + arguments
        let scratch = try Fixtures.temporaryDirectory("camwatch-python")
        defer { try? FileManager.default.removeItem(at: scratch) }
        let outURL = scratch.appendingPathComponent("out")
        let errURL = scratch.appendingPathComponent("err")
        _ = FileManager.default.createFile(atPath: outURL.path, contents: nil)
        _ = FileManager.default.createFile(atPath: errURL.path, contents: nil)
        let out = try FileHandle(forWritingTo: outURL)
        let err = try FileHandle(forWritingTo: errURL)
        defer {
            try? out.close()
            try? err.close()
        }
        process.standardOutput = out
        process.standardError = err
        process.standardInput = FileHandle.nullDevice
        try process.run()
        while process.isRunning { try await Task.sleep(for: .milliseconds(10)) }
        return (
            process.terminationStatus, try String(contentsOf: outURL, encoding: .utf8),
            try String(contentsOf: errURL, encoding: .utf8)
        )
    }

    /// Four checkpoints: two processed, one failed, one processed with drift 0.2 (cat 0.1, dog 0.3).
    static func report() -> Report {
        var tracker = ConvergenceTracker(threshold: 0.02, patience: 3, hysteresis: 1.5)
        func label(_ n: Int) -> CheckpointLabel { CheckpointLabel(id: "id-\(n)", name: "epoch-\(n).h5") }
        let first = CheckpointDrift(perProbe: [
            "cat": DriftMetrics(drift: 0.4, l1: 0.1, iou: 0.5), "dog": DriftMetrics(drift: 0.6, l1: 0.1, iou: 0.5),
        ])
        let last = CheckpointDrift(perProbe: [
            "dog": DriftMetrics(drift: 0.3, l1: 0.1, iou: 0.5), "cat": DriftMetrics(drift: 0.1, l1: 0.1, iou: 0.5),
        ])
        _ = tracker.update(checkpoint: label(0), status: .ok, drift: nil)
        _ = tracker.update(checkpoint: label(1), status: .ok, drift: first?.mean)
        _ = tracker.update(checkpoint: label(2), status: .failed, drift: nil)
        _ = tracker.update(checkpoint: label(3), status: .ok, drift: last?.mean)
        return Report(
            model: Report.Model(arch: "resnet18", layer: "layer4", inputSize: [224, 224]),
            probes: [Report.Probe(id: "cat", file: "cat.png"), Report.Probe(id: "dog", file: "dog.png")],
            checkpoints: [
                Report.CheckpointEntry(
                    name: "epoch-0.h5", id: "id-0", status: .ok, seconds: 2.5, processedAt: 1_700_000_000,
                    state: .warmingUp),
                Report.CheckpointEntry(
                    name: "epoch-1.h5", id: "id-1", status: .ok, seconds: 2.75, processedAt: 1_700_000_060,
                    drift: first, weightDrift: 0.5, state: .changing),
                Report.CheckpointEntry(
                    name: "epoch-2.h5", id: "id-2", status: .failed, error: "epoch-2.h5: truncated", seconds: 0.25,
                    processedAt: 1_700_000_120, state: .changing),
                Report.CheckpointEntry(
                    name: "epoch-3.h5", id: "id-3", status: .ok, seconds: 3.25, processedAt: 1_700_000_180.5,
                    drift: last, weightDrift: 0.125, state: .changing),
            ],
            convergence: tracker)
    }

    @Test func prometheusClientParsesTheTextfile() async throws {
        guard let python = await Self.python() else {
            Issue.record(
                """
                no python3 can import prometheus_client: this test needs Prometheus' parser \
                (Debian: apt-get install python3-prometheus-client, used through /usr/bin/python3)
                """)
            return
        }
        // A job name that needs every escape the format has.
        let job = "run \"7\"\\a\nb"
        let directory = try Fixtures.temporaryDirectory("camwatch-prom")
        defer { try? FileManager.default.removeItem(at: directory) }
        let path = directory.appendingPathComponent(PrometheusTextfile.fileName).path
        try PrometheusTextfile.render(Self.report(), jobName: job).write(
            toFile: path, atomically: true, encoding: .utf8)

        let result = try await Self.run(python, ["-c", Self.parser, path])
        try #require(result.status == 0, "prometheus_client rejected camwatch.prom: \(result.stderr)")
        let parsed = try #require(try JSONSerialization.jsonObject(with: Data(result.stdout.utf8)) as? [[Any]])

        // family name → (type, [(sample name, labels, value)])
        var families: [String: (type: String, samples: [(String, [String: String], Double)])] = [:]
        for family in parsed {
            let name = try #require(family[0] as? String)
            let type = try #require(family[1] as? String)
            #expect((family[2] as? String)?.isEmpty == false, "\(name) has no HELP")
            let samples = try #require(family[3] as? [[Any]]).map { sample in
                (
                    sample[0] as? String ?? "", sample[1] as? [String: String] ?? [:],
                    (sample[2] as? NSNumber)?.doubleValue ?? .nan
                )
            }
            families[name] = (type, samples)
        }
        // prometheus_client names a counter family without its `_total` suffix.
        #expect(
            Set(families.keys) == [
                "camwatch_saliency_drift_ratio", "camwatch_saliency_drift_max_ratio", "camwatch_weight_drift_ratio",
                "camwatch_saliency_converged", "camwatch_convergence_state", "camwatch_checkpoints_processed",
                "camwatch_checkpoints_failed", "camwatch_last_checkpoint_timestamp_seconds",
                "camwatch_scorecam_seconds", "camwatch_convergence_streak", "camwatch_saliency_method_info",
                "camwatch_model_collapsed", "camwatch_checkpoints_retrying",
            ])

        func value(_ family: String, _ labels: [String: String] = [:]) -> Double? {
            families[family]?.samples.first { $0.1 == ["job_name": job].merging(labels) { $1 } }?.2
        }
        #expect(families["camwatch_saliency_drift_ratio"]?.type == "gauge")
        #expect(families["camwatch_saliency_drift_ratio"]?.samples.count == 3)
        #expect(value("camwatch_saliency_drift_ratio", ["probe": "all"]).map { abs($0 - 0.2) < 1e-12 } == true)
        #expect(value("camwatch_saliency_drift_ratio", ["probe": "cat"]) == 0.1)
        #expect(value("camwatch_saliency_drift_ratio", ["probe": "dog"]) == 0.3)
        #expect(value("camwatch_saliency_drift_max_ratio") == 0.3)
        #expect(value("camwatch_weight_drift_ratio") == 0.125)
        #expect(value("camwatch_saliency_converged") == 0)
        #expect(value("camwatch_model_collapsed") == 0)
        #expect(families["camwatch_convergence_state"]?.samples.count == 5)
        #expect(value("camwatch_convergence_state", ["state": "diverged"]) == 0)
        #expect(value("camwatch_convergence_state", ["state": "collapsed"]) == 0)
        #expect(value("camwatch_convergence_state", ["state": "changing"]) == 1)
        #expect(value("camwatch_convergence_state", ["state": "stable"]) == 0)
        #expect(value("camwatch_convergence_state", ["state": "warming-up"]) == 0)
        #expect(families["camwatch_checkpoints_processed"]?.type == "counter")
        #expect(families["camwatch_checkpoints_processed"]?.samples.first?.0 == "camwatch_checkpoints_processed_total")
        #expect(value("camwatch_checkpoints_processed") == 4)
        #expect(value("camwatch_checkpoints_failed") == 1)
        #expect(value("camwatch_last_checkpoint_timestamp_seconds") == 1_700_000_180.5)
        #expect(value("camwatch_scorecam_seconds") == 3.25)
        #expect(value("camwatch_convergence_streak") == 0)
    }

    @Test func relativeRuleNumbersParseAndEqualTheReport() async throws {
        guard let python = await Self.python() else {
            Issue.record("no python3 can import prometheus_client (Debian: python3-prometheus-client)")
            return
        }
        var report = Self.report()
        var tracker = ConvergenceTracker(rule: ConvergenceRule(mode: .relative))
        let drifts: [(Double?, Double?)] = [(nil, nil), (0.9, 0.8), (0.3, 0.2), (0.4, 0.25), (0.1, 0.02), (0.05, 0.01)]
        for (index, step) in drifts.enumerated() {
            _ = tracker.update(
                checkpoint: CheckpointLabel(id: "r\(index)", name: "r\(index).h5"), status: .ok, drift: step.0,
                weightDrift: step.1)
        }
        report.convergence = tracker
        let directory = try Fixtures.temporaryDirectory("camwatch-prom-relative")
        defer { try? FileManager.default.removeItem(at: directory) }
        let path = directory.appendingPathComponent(PrometheusTextfile.fileName).path
        try PrometheusTextfile.render(report, jobName: "j").write(toFile: path, atomically: true, encoding: .utf8)
        let result = try await Self.run(python, ["-c", Self.parser, path])
        try #require(result.status == 0, "prometheus_client rejected camwatch.prom: \(result.stderr)")
        let parsed = try #require(try JSONSerialization.jsonObject(with: Data(result.stdout.utf8)) as? [[Any]])
        var values: [String: Double] = [:]
        for family in parsed {
            for sample in (family[3] as? [[Any]]) ?? [] {
                let labels = sample[1] as? [String: String] ?? [:]
                let key = "\(sample[0] as? String ?? ""):\(labels["signal"] ?? "")"
                values[key] = (sample[2] as? NSNumber)?.doubleValue
            }
        }
        // Saliency medians of 3: 0.4, 0.3, 0.1 → reference 0.4; weights: 0.25, 0.2, 0.02 → 0.25. The last
        // checkpoint's drifts over them: 0.05 / 0.4 and 0.01 / 0.25; the two last checkpoints are settled.
        #expect(values["camwatch_convergence_drift_reference:saliency"] == 0.4)
        #expect(values["camwatch_convergence_drift_reference:weights"] == 0.25)
        #expect(values["camwatch_convergence_drift_level_ratio:saliency"] == 0.05 / 0.4)
        #expect(values["camwatch_convergence_drift_level_ratio:weights"] == 0.01 / 0.25)
        #expect(values["camwatch_convergence_settle_ratio:saliency"] == 0.35)
        #expect(values["camwatch_convergence_settle_ratio:weights"] == 0.15)
        #expect(values["camwatch_convergence_streak:"] == Double(tracker.streak))
        #expect(tracker.streak == 2 && tracker.state == .stable)
    }
}
