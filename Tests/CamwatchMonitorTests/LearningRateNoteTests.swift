import CamwatchMonitor
import Foundation
import Testing

/// The verdict's note when "stable" coincides with a learning-rate drop.
@Suite struct LearningRateNoteTests {
    /// A relative-rule run: drift high for five checkpoints, then halving until it settles; `lr` per checkpoint.
    static func report(lr: [Double?]) -> Report {
        let drifts = [0.3, 0.28, 0.32, 0.3, 0.29, 0.15, 0.07, 0.035, 0.017, 0.008]
        let probe = Report.Probe(id: "p", file: "p.png", classIndex: 0)
        var tracker = ConvergenceTracker(rule: ConvergenceRule(mode: .relative))
        var report = Report(model: Report.Model(arch: nil, layer: "l", inputSize: [8, 8]), probes: [probe])
        for k in 0...drifts.count {
            let drift = k == 0 ? nil : CheckpointDrift(perProbe: [probe.id: DriftMetrics(drift: drifts[k - 1], l1: 0, iou: 1)])
            let label = CheckpointLabel(id: "id-\(k)", name: "c\(k + 1).h5")
            _ = tracker.update(checkpoint: label, status: .ok, drift: drift?.mean)
            var attributes: [String: Report.AttributeValue] = [:]
            if k < lr.count, let rate = lr[k] { attributes["lr"] = .number(rate) }
            report.record(
                Report.CheckpointEntry(
                    name: label.name, id: label.id, epoch: k + 1, status: .ok, seconds: 1, processedAt: Double(k),
                    drift: drift, state: tracker.state, attributes: attributes))
        }
        report.convergence = tracker
        return report
    }

    @Test("a step drop at or just before the stable checkpoint is named in the verdict with both rates")
    func dropAtTheStableCheckpoint() throws {
        let probe = Self.report(lr: [])
        let stableAt = try #require(probe.convergence.convergedAt?.id)
        let index = try #require(probe.checkpoints.firstIndex { $0.id == stableAt })
        for dropAt in [index, index - 1] {
            // 0.1 until the drop, then 0.01.
            let rates: [Double?] = (0..<probe.checkpoints.count).map { $0 < dropAt ? 0.1 : 0.01 }
            let report = Self.report(lr: rates)
            let drop = try #require(report.learningRateDropAtStable, "drop at \(dropAt), stable at \(index)")
            #expect(drop.before == 0.1 && drop.after == 0.01 && drop.at.id == stableAt)
            let verdict = ReportRenderer.verdict(for: report)
            #expect(verdict.contains("learning-rate drop (lr 0.1 → 0.01 by epoch \(index + 1))"), "\(verdict)")
            #expect(!ReportRenderer.verdict(for: report, learningRate: false).contains("learning-rate"))
        }
    }

    @Test("no note: a constant rate, a drop long before, a gentle decay, no lr attribute, or a run not yet stable")
    func noNoteOtherwise() throws {
        let count = Self.report(lr: []).checkpoints.count
        let constant = Self.report(lr: Array(repeating: 0.1, count: count))
        let early = Self.report(lr: (0..<count).map { $0 < 2 ? 0.1 : 0.01 })
        let gentle = Self.report(lr: (0..<count).map { 0.1 * pow(0.9, Double($0)) })
        for report in [constant, early, gentle, Self.report(lr: [])] {
            #expect(report.convergence.state == .stable)
            #expect(report.learningRateDropAtStable == nil)
            #expect(ReportRenderer.learningRateNote(for: report) == nil)
        }
        var changing = Self.report(lr: (0..<count).map { $0 < count - 1 ? 0.1 : 0.01 })
        changing.convergence = ConvergenceTracker(rule: ConvergenceRule(mode: .relative))
        #expect(changing.learningRateDropAtStable == nil)
    }
}
