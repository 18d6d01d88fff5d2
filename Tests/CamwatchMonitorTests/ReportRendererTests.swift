import CamwatchMonitor
import Foundation
import Testing

@Suite struct ReportRendererTests {
    @Test func textTableAndVerdictWhileChanging() throws {
        let report = sampleReport(drifts: [nil, 0.3, 0.01])
        let text = try ReportRenderer.render(report, format: .text)
        let lines = text.split(separator: "\n", omittingEmptySubsequences: false).map(String.init)
        #expect(
            lines[0].split(separator: " ", omittingEmptySubsequences: true) == [
                "checkpoint", "epoch", "step", "status", "drift", "drift", "max", "weight", "drift", "state", "val_acc",
            ])
        #expect(lines[1].split(separator: " ") == ["ckpt_0.h5", "0", "0", "ok", "-", "-", "-", "warming-up", "0.5"])
        #expect(
            lines[2].split(separator: " ") == [
                "ckpt_1.h5", "1", "100", "ok", "0.3", "0.45", "0.01", "changing", "0.51",
            ])
        #expect(
            lines[3].split(separator: " ") == [
                "ckpt_2.h5", "2", "200", "ok", "0.01", "0.015", "0.01", "changing", "0.52",
            ])
        // Columns line up: every row as wide as the header after padding.
        #expect(lines[4] == "")
        #expect(
            lines[5]
                == "Verdict: still changing: last drift 0.01, threshold 0.05, 1/2 consecutive checkpoints below it.")
        #expect(text.hasSuffix("\n"))
    }

    @Test func verdictsForEveryState() {
        #expect(ReportRenderer.verdict(for: sampleReport(drifts: [])) == "Verdict: no checkpoints processed yet.")
        #expect(
            ReportRenderer.verdict(for: sampleReport(drifts: [nil]))
                == "Verdict: warming up: 1 checkpoint processed, drift needs 2.")
        #expect(
            ReportRenderer.verdict(for: sampleReport(drifts: [nil, 0.3, 0.01, 0.02]))
                == "Verdict: stable since ckpt_3.h5 (epoch 3): drift below 0.05 for 2 consecutive checkpoints.")
        #expect(
            ReportRenderer.verdict(for: sampleReport(drifts: [nil, 0.3, 0.01, 0.02, nil], failedAt: [4]))
                == "Verdict: stable since ckpt_3.h5 (epoch 3): drift below 0.05 for 2 consecutive checkpoints. "
                + "Last checkpoint ckpt_4.h5 failed: /runs/a/ckpt_4.h5: truncated HDF5 file (10 bytes, header says 20)."
        )
    }

    @Test("checkpoints waiting to be read again are named after the verdict")
    func verdictNamesRetryingCheckpoints() {
        var report = sampleReport(drifts: [nil])
        report.retrying = ["a.h5", "b.h5", "c.h5", "d.h5"].map {
            Report.RetryingCheckpoint(name: $0, id: "id-\($0)", attempts: 3, error: "\($0): killed", nextAttemptAt: 0)
        }
        #expect(
            ReportRenderer.verdict(for: report)
                == "Verdict: warming up: 1 checkpoint processed, drift needs 2. 4 checkpoints to be read again "
                + "(camwatch's reader failed on them, not the file): a.h5, b.h5, c.h5, ….")
        report.retrying = Array(report.retrying!.prefix(1))
        #expect(ReportRenderer.verdict(for: report).hasSuffix(" 1 checkpoint to be read again (camwatch's reader failed on it, not the file): a.h5."))
    }

    /// The relative rule's verdict, computed by hand: the saliency reference is the highest median of 3 among
    /// (0.5, 0.2, 0.2, 0.2) = 0.2, the weight reference 0.1; checkpoints 5 and 6 are settled (0.04 / 0.2 = 0.2 and
    /// 0.03 / 0.2 = 0.15 < 0.35; weights 0.01 / 0.1 = 0.1 < 0.15), so the run is stable since checkpoint 6.
    @Test func relativeVerdictStatesTheNumbersTheRuleUsed() {
        let drifts: [Double?] = [nil, 0.5, 0.2, 0.2, 0.2, 0.04, 0.03]
        let weights: [Double?] = [nil, 0.1, 0.1, 0.1, 0.1, 0.01, 0.01]
        var report = Report(
            model: Report.Model(arch: "resnet18", layer: "layer4", inputSize: [224, 224]),
            probes: [Report.Probe(id: "cat", file: "cat.png")], convergence: ConvergenceTracker())
        var verdicts: [String] = []
        for index in drifts.indices {
            _ = report.convergence.update(
                checkpoint: label(index), status: .ok, drift: drifts[index], weightDrift: weights[index])
            report.record(
                Report.CheckpointEntry(
                    name: label(index).name, id: label(index).id, step: 100 * index, epoch: index, status: .ok,
                    error: nil, seconds: 1, processedAt: 1_700_000_000 + Double(index), predictions: [:],
                    drift: drifts[index].flatMap { CheckpointDrift(perProbe: ["cat": DriftMetrics(drift: $0, l1: 0, iou: 1)]) },
                    weightDrift: weights[index], state: report.convergence.state, attributes: [:]))
            verdicts.append(ReportRenderer.verdict(for: report))
        }
        #expect(
            verdicts[4]
                == "Verdict: still changing: last saliency drift 1 of its reference level 0.2 (settled below 0.35), "
                + "weight drift 1 of its reference 0.1 (settled below 0.15); 0/2 settled checkpoints in a row.")
        #expect(
            verdicts[6]
                == "Verdict: stable since ckpt_6.h5 (epoch 6): last saliency drift 0.15 of its reference level 0.2 "
                + "(settled below 0.35), weight drift 0.1 of its reference 0.1 (settled below 0.15); stable after 2 "
                + "settled checkpoints in a row.")
    }

    @Test func markdownTable() throws {
        let markdown = try ReportRenderer.render(sampleReport(drifts: [nil, 0.3]), format: .markdown)
        let lines = markdown.split(separator: "\n").map(String.init)
        #expect(
            lines[0] == "| checkpoint | epoch | step | status | drift | drift max | weight drift | state | val_acc |")
        #expect(lines[1] == "| --- | ---: | ---: | --- | ---: | ---: | ---: | --- | ---: |")
        #expect(lines[3] == "| ckpt_1.h5 | 1 | 100 | ok | 0.3 | 0.45 | 0.01 | changing | 0.51 |")
        #expect(lines.last?.hasPrefix("**Verdict: still changing") == true)
    }

    @Test func markdownKeepsTheTrainersTextLiteral() throws {
        // A file name and an attribute key written to inject HTML, a link and emphasis into a page rendering the
        // Markdown.
        var report = sampleReport(drifts: [nil, 0.3])
        let hostile = "\"><img src=x onerror=alert(1)>[x](javascript:y)|*a*`c`\\.h5"
        report.checkpoints[1].name = hostile
        report.checkpoints[1].attributes["val_<b>x</b>"] = .number(1)
        let markdown = try ReportRenderer.render(report, format: .markdown)
        #expect(!markdown.contains("<img") && !markdown.contains("<b>"))
        #expect(markdown.contains(
            "| \"&gt;&lt;img src=x onerror=alert(1)&gt;\\[x\\](javascript:y)\\|\\*a\\*\\`c\\`\\\\.h5 | 1 |"),
            "\(markdown)")
        #expect(markdown.contains("val_&lt;b&gt;x&lt;/b&gt;"))
        // Every row still has the header's number of cells: no `|` of the name splits one.
        let rows = markdown.split(separator: "\n").filter { $0.hasPrefix("| ") }
        let cells = rows.map { $0.replacingOccurrences(of: "\\|", with: "").filter { $0 == "|" }.count }
        #expect(Set(cells).count == 1)
    }

    @Test func jsonFormatIsTheReport() throws {
        let report = sampleReport(drifts: [nil, 0.3])
        let json = try ReportRenderer.render(report, format: .json)
        #expect(try Report.decode(Array(json.utf8)) == report)
    }

    @Test func checkStatusCodes() throws {
        #expect(ReportRenderer.checkStatus(for: sampleReport(drifts: [])) == .changing)
        #expect(ReportRenderer.checkStatus(for: sampleReport(drifts: [nil])) == .changing)
        #expect(ReportRenderer.checkStatus(for: sampleReport(drifts: [nil, 0.3])) == .changing)
        #expect(ReportRenderer.checkStatus(for: sampleReport(drifts: [nil, 0.3, 0.01, 0.02])) == .stable)
        #expect(
            ReportRenderer.checkStatus(for: sampleReport(drifts: [nil, 0.3, 0.01, 0.02, nil], failedAt: [4])) == .failed
        )
        #expect(
            ReportRenderer.checkStatus(for: sampleReport(drifts: [nil, nil], failedAt: [0])) == .changing,
            "an earlier failure does not matter once a later checkpoint worked")
        #expect([CheckStatus.changing, .stable, .failed].map(\.rawValue) == [0, 1, 2])

        let directory = try temporaryDirectory()
        defer { removeDirectory(directory) }
        let missing = ReportRenderer.checkStatus(directory: directory)
        #expect(missing.status == .failed)
        #expect(missing.message.hasPrefix(ReportStore.path(in: directory) + ": no report"))

        try ReportStore(directory: directory, report: sampleReport(drifts: [nil, 0.3, 0.01, 0.02])).save()
        let stable = ReportRenderer.checkStatus(directory: directory)
        #expect(stable.status == .stable)
        #expect(stable.message.hasPrefix("Verdict: stable since ckpt_3.h5"))

        #expect(FileManager.default.createFile(atPath: ReportStore.path(in: directory), contents: Data("[1,".utf8)))
        let corrupt = ReportRenderer.checkStatus(directory: directory)
        #expect(corrupt.status == .failed)
        #expect(corrupt.message.hasPrefix(ReportStore.path(in: directory) + ": not valid JSON"))
    }
}
