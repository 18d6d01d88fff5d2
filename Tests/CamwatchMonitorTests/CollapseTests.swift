import CamwatchCheckpoint
import CamwatchImage
import CamwatchMonitor
import CamwatchNN
import CamwatchSaliency
import CamwatchTensor
import CamwatchTestSupport
import Foundation
import Testing

/// Signs of collapse (`CollapseEvidence`), the `collapsed` state, the batch-norm statistics signal and new
/// segments on another model: constructed values with known answers, then the committed collapse fixture (the
/// sample run with block4 switched off from epoch 20, Scripts/fixtures/make_collapse_fixtures.py).
@Suite struct CollapseTests {
    static func heatmap(_ values: [Float]) -> HeatmapArchive.Heatmap {
        HeatmapArchive.Heatmap(classIndex: 0, score: 1, shape: [2, 2], values: values, inputSize: [8, 8])
    }

    // MARK: - Evidence

    @Test func aHealthyCheckpointShowsNoSign() {
        let heatmaps = ["a": Self.heatmap([0, 0.5, 1, 0.2]), "b": Self.heatmap([1, 0, 0, 0.3])]
        // Two probes the network tells apart, each predicted as its own class.
        let logits: [String: [Float]] = ["a": [3.0, -1.0, 0.5], "b": [-0.5, 2.5, 0.1]]
        #expect(CollapseEvidence.evaluate(heatmaps: heatmaps, logits: logits, manifestClasses: [0, 1]) == nil)
    }

    @Test func constantHeatmapsAloneAreASign() throws {
        let heatmaps = ["a": Self.heatmap([0, 0, 0, 0]), "b": Self.heatmap([0.5, 0.5, 0.5, 0.5])]
        let logits: [String: [Float]] = ["a": [3.0, -1.0, 0.5], "b": [-0.5, 2.5, 0.1]]
        let evidence = try #require(CollapseEvidence.evaluate(heatmaps: heatmaps, logits: logits, manifestClasses: [0, 1]))
        #expect(evidence.constantHeatmaps && !evidence.inputIndependent && evidence.sameClass == nil)
        #expect(evidence.summary == "every probe's heatmap is constant")
        // One probe with any structure is enough to clear it.
        let mixed = ["a": Self.heatmap([0, 0, 0, 0]), "b": Self.heatmap([0, 1, 0, 0])]
        #expect(CollapseEvidence.evaluate(heatmaps: mixed, logits: logits, manifestClasses: [0, 1]) == nil)
    }

    @Test func outputsThatIgnoreTheInputAreASign() throws {
        let heatmaps = ["a": Self.heatmap([0, 0.5, 1, 0.2]), "b": Self.heatmap([1, 0, 0, 0.3])]
        // Equal up to a shift (softmax ignores it) and rounding: input dependence ~1e-7.
        let same: [String: [Float]] = ["a": [2.0, -1.0, 0.5], "b": [12.0, 9.0, 10.500001]]
        let evidence = try #require(CollapseEvidence.evaluate(heatmaps: heatmaps, logits: same, manifestClasses: []))
        #expect(evidence.inputIndependent)
        #expect(try #require(evidence.inputDependence) < 1e-5)
        // No manifest classes: "one class for all" is not judged.
        #expect(evidence.sameClass == nil)
        // Two probes, the second's logits pushed δ·(1, −1, 0) from the first's (1, −1, 0): each is δ/√2 from
        // the mean, the mean spread is √2 (1 + δ/2), so the dependence is δ / (2 + δ).
        func dependence(_ delta: Float) -> Double? {
            CollapseEvidence.inputDependence(of: [[1, -1, 0], [1 + delta, -1 - delta, 0]])
        }
        expectClose(try #require(dependence(0.018)), 0.018 / 2.018, tolerance: 1e-6)
        #expect(try #require(dependence(0.018)) <= CollapseEvidence.inputDependenceLimit)
        #expect(try #require(dependence(0.06)) > CollapseEvidence.inputDependenceLimit)
        // Fewer than 2 probes: nothing to compare.
        #expect(CollapseEvidence.inputDependence(of: [[1, 2, 3]]) == nil)
        // Every logit equal for every probe (all-zero output): independent.
        #expect(CollapseEvidence.inputDependence(of: [[0, 0], [0, 0]]) == 0)
    }

    @Test func oneClassForEveryProbeNeedsSeveralManifestClassesAndCloseScores() throws {
        let heatmaps = ["a": Self.heatmap([0, 0.5, 1, 0.2]), "b": Self.heatmap([1, 0, 0, 0.3])]
        // Both predicted as class 2 with probabilities 0.59 and 0.61, logits otherwise different.
        let close: [String: [Float]] = ["a": [0.0, 0.3, 0.9], "b": [0.4, -0.1, 1.0]]
        let evidence = try #require(CollapseEvidence.evaluate(heatmaps: heatmaps, logits: close, manifestClasses: [0, 1]))
        #expect(evidence.sameClass == 2 && !evidence.inputIndependent && !evidence.constantHeatmaps)
        #expect(evidence.summary.contains("class 2") && evidence.summary.contains("names 2 classes"))
        // The manifest names one class only: agreeing is what it should do.
        #expect(CollapseEvidence.evaluate(heatmaps: heatmaps, logits: close, manifestClasses: [2]) == nil)
        // The same class with clearly different confidence (0.45 vs 0.9): the input still matters.
        let apart: [String: [Float]] = ["a": [0.0, 0.3, 0.5], "b": [0.0, 0.3, 3.0]]
        #expect(CollapseEvidence.evaluate(heatmaps: heatmaps, logits: apart, manifestClasses: [0, 1]) == nil)
    }

    @Test func evidenceRoundTripsThroughJSONWithItsSummary() throws {
        let evidence = CollapseEvidence(constantHeatmaps: true, inputDependence: 0, sameClass: 3, manifestClasses: 5)
        let data = try JSONEncoder().encode(evidence)
        let object = try #require(try JSONSerialization.jsonObject(with: data) as? [String: Any])
        #expect(object["summary"] as? String == evidence.summary)
        #expect(object["same_class"] as? Int == 3)
        #expect(try JSONDecoder().decode(CollapseEvidence.self, from: data) == evidence)
    }

    // MARK: - The state machine

    /// Feeds ok checkpoints with (drift, collapsed); returns the states and event kinds.
    static func run(_ steps: [(drift: Double?, collapsed: Bool)], weights: Double? = 0.01)
        -> (states: [ConvergenceState], events: [ConvergenceEvent.Kind])
    {
        var tracker = ConvergenceTracker()
        var states: [ConvergenceState] = []
        var events: [ConvergenceEvent.Kind] = []
        for (index, step) in steps.enumerated() {
            events += tracker.update(
                checkpoint: label(index), status: .ok, drift: step.drift, weightDrift: index == 0 ? nil : weights,
                collapsed: step.collapsed
            ).map(\.kind)
            states.append(tracker.state)
        }
        return (states, events)
    }

    @Test func aDeadRunIsCollapsedAtItsSecondDeadCheckpointAndNeverStable() {
        // Training moves (0.3), then dies at checkpoint 5: drift 1 (maps went flat), then 0 forever.
        var steps: [(drift: Double?, collapsed: Bool)] = [(nil, false)] + Array(repeating: (0.3, false), count: 4)
        steps += [(1.0, true)] + Array(repeating: (0.0, true), count: 8)
        let (states, events) = Self.run(steps, weights: 0)
        #expect(states[5] == .changing)
        #expect(Array(states[6...]) == Array(repeating: .collapsed, count: 8))
        #expect(!states.contains(.stable))
        #expect(events == [.warmedUp, .collapsed])
    }

    @Test func withoutTheSignsTheSameDriftsWouldHaveBeenStable() {
        // The same drifts with the collapse signs ignored: today's rule calls the dead run stable. This is
        // the false verdict the signs prevent.
        var steps: [(drift: Double?, collapsed: Bool)] = [(nil, false)] + Array(repeating: (0.3, false), count: 4)
        steps += [(1.0, false)] + Array(repeating: (0.0, false), count: 8)
        #expect(Self.run(steps, weights: 0).states.contains(.stable))
    }

    @Test func oneDeadCheckpointIsNoVerdictAndARecoveredRunLeavesCollapsed() {
        // Dead at checkpoint 0 only (a layer frozen for an epoch): never collapsed.
        let blip = Self.run([(nil, true), (1.0, false), (0.3, false), (0.3, false)])
        #expect(!blip.states.contains(.collapsed))
        // Dead at 3 and 4, alive from 5: collapsed at 4, changing at 5, and the levels start over, so the
        // run can settle again only after a full window of its own.
        var steps: [(drift: Double?, collapsed: Bool)] = [(nil, false), (0.5, false), (0.5, false)]
        steps += [(1.0, true), (0.0, true), (1.0, false)]
        steps += [(0.4, false), (0.4, false), (0.4, false), (0.01, false), (0.01, false)]
        let (states, events) = Self.run(steps, weights: nil)
        #expect(states[4] == .collapsed && states[5] == .changing)
        #expect(events == [.warmedUp, .collapsed, .revived, .converged])
        #expect(states.firstIndex(of: .stable) == 10)
    }

    @Test func aStableRunThatDiesLeavesStable() {
        var steps: [(drift: Double?, collapsed: Bool)] = [(nil, false), (1.0, false)]
        steps += [(0.5, false), (0.5, false), (0.5, false), (0.05, false), (0.05, false), (0.05, false)]
        steps += [(1.0, true), (0.0, true)]
        let (states, events) = Self.run(steps, weights: nil)
        #expect(states[6] == .stable)
        #expect(states[9] == .collapsed)
        #expect(events.suffix(2) == [.converged, .collapsed])
    }

    /// Saliency and weights settle from checkpoint 8; the running statistics then either relax one way by
    /// 0.8 × per checkpoint (Keras's slow average catching up) or jitter at the same size.
    static func statisticsRun(trend: StatisticsTrend?) -> (states: [ConvergenceState], tracker: ConvergenceTracker) {
        var tracker = ConvergenceTracker()
        var states: [ConvergenceState] = []
        for index in 0..<20 {
            let drift: Double? = index == 0 ? nil : (index < 8 ? 0.4 : 0.02)
            let weights: Double? = index == 0 ? nil : (index < 8 ? 0.2 : 0.005)
            // 0.3 early (the reference), then from 0.02 down by 0.8 per checkpoint.
            let statistics: Double? = index == 0 ? nil : (index < 8 ? 0.3 : 0.02 * pow(0.8, Double(index - 8)))
            _ = tracker.update(
                checkpoint: label(index), status: .ok, drift: drift, weightDrift: weights, statisticsDrift: statistics,
                statisticsTrend: index < 9 ? nil : trend)
            states.append(tracker.state)
        }
        return (states, tracker)
    }

    @Test func statisticsStillRelaxingKeepARunChangingUntilLittleIsLeft() throws {
        // A relaxation by 0.8 per step has 5 × its step left: 0.02 × 0.8^k × 5 / 0.3 falls below 0.15 at k = 4
        // (0.137; 0.171 at k = 3), so checkpoints 12 and 13 are the first settled pair.
        let relaxing = Self.statisticsRun(trend: StatisticsTrend(cosine: 0.98, shrink: 0.8))
        #expect(relaxing.states.firstIndex(of: .stable) == 13)
        #expect(relaxing.tracker.reading?.statisticsTrend == true)
        // The same sizes as jitter (cosine −0.5): 0.02 / 0.3 is under the noise bound 0.35 at once.
        let jitter = Self.statisticsRun(trend: StatisticsTrend(cosine: -0.5, shrink: 0.8))
        #expect(jitter.states.firstIndex(of: .stable) == 9)
        #expect(jitter.tracker.reading?.statisticsTrend == false)
        // Steps that do not shrink never settle while they point one way.
        let steady = Self.statisticsRun(trend: StatisticsTrend(cosine: 0.9, shrink: 1.0))
        #expect(!steady.states.contains(.stable))
        // Without statistics the run is stable as early as saliency and weights allow.
        var plain = ConvergenceTracker()
        var first: Int?
        for index in 0..<20 {
            _ = plain.update(
                checkpoint: label(index), status: .ok, drift: index == 0 ? nil : (index < 8 ? 0.4 : 0.02),
                weightDrift: index == 0 ? nil : (index < 8 ? 0.2 : 0.005))
            if plain.state == .stable, first == nil { first = index }
        }
        #expect(first == 9)
    }

    @Test func theTrendOfTwoChangesIsTheirCosineAndSizeRatio() throws {
        let before: [String: [Float]] = ["bn.running_mean": [1, 0], "bn.running_var": [0, 0]]
        let along: [String: [Float]] = ["bn.running_mean": [0.5, 0], "bn.running_var": [0, 0]]
        let back: [String: [Float]] = ["bn.running_mean": [-0.3, 0.4], "bn.running_var": [0, 0]]
        let same = try #require(StatisticsTrend.between(previous: before, current: along))
        expectClose(same.cosine, 1)
        expectClose(same.shrink, 0.5)
        expectClose(try #require(same.remaining(drift: 0.1)), 0.2)
        let turned = try #require(StatisticsTrend.between(previous: before, current: back))
        expectClose(turned.cosine, -0.6, tolerance: 1e-7)
        #expect(!turned.isTrend && turned.remaining(drift: 0.1) == nil)
        #expect(StatisticsTrend.between(previous: before, current: ["bn.running_mean": [0, 0]]) == nil)
        // The step between two checkpoints covers running statistics only.
        func tensor(_ values: [Float]) -> Tensor { Tensor(shape: [values.count], scalars: values) }
        let step = DriftMetrics.statisticsStep(
            previous: ["bn.running_mean": tensor([1, 2]), "conv.weight": tensor([1]), "bn.num_batches_tracked": tensor([1])],
            current: ["bn.running_mean": tensor([1.5, 2]), "conv.weight": tensor([3]), "bn.num_batches_tracked": tensor([2])])
        #expect(step == ["bn.running_mean": [0.5, 0]])
    }

    @Test func aStableRunWhoseWeightsGoNaNIsDivergedUntilTheyAreFiniteAgain() {
        var tracker = ConvergenceTracker()
        for index in 0..<8 {
            _ = tracker.update(
                checkpoint: label(index), status: .ok, drift: index == 0 ? nil : (index < 4 ? 0.5 : 0.01))
        }
        #expect(tracker.state == .stable)
        // Another failure (a truncated file) is no news about training.
        #expect(tracker.update(checkpoint: label(8), status: .failed, drift: nil).isEmpty)
        #expect(tracker.state == .stable)
        let diverged = tracker.update(checkpoint: label(9), status: .failed, drift: nil, diverged: true)
        #expect(diverged.map(\.kind) == [.diverged])
        #expect(tracker.state == .diverged && tracker.convergedAt == nil && tracker.saliency.reference == nil)
        // A second NaN checkpoint stays diverged without a second alert.
        #expect(tracker.update(checkpoint: label(10), status: .failed, drift: nil, diverged: true).isEmpty)
        let back = tracker.update(checkpoint: label(11), status: .ok, drift: 0.01)
        #expect(back.map(\.kind) == [.revived] && tracker.state == .changing)
        // Levels start over: a low drift is no reason to settle until a window of its own is full.
        _ = tracker.update(checkpoint: label(12), status: .ok, drift: 0.01)
        #expect(tracker.state == .changing)
    }

    @Test func aNewSegmentStartsOverWithoutAnEvent() {
        var tracker = ConvergenceTracker()
        for index in 0..<8 {
            _ = tracker.update(
                checkpoint: label(index), status: .ok, drift: index == 0 ? nil : (index < 4 ? 0.5 : 0.01),
                weightDrift: nil)
        }
        #expect(tracker.state == .stable)
        let events = tracker.update(checkpoint: label(8), status: .ok, drift: nil, newSegment: true)
        #expect(events.isEmpty)
        #expect(tracker.state == .warmingUp && tracker.processed == 1 && tracker.convergedAt == nil)
        #expect(tracker.saliency.reference == nil)
        _ = tracker.update(checkpoint: label(9), status: .ok, drift: 0.4)
        #expect(tracker.state == .changing)
    }

    @Test func theCollapseStreakSurvivesARestart() throws {
        var tracker = ConvergenceTracker()
        _ = tracker.update(checkpoint: label(0), status: .ok, drift: nil)
        _ = tracker.update(checkpoint: label(1), status: .ok, drift: 1, collapsed: true)
        let data = try JSONEncoder().encode(tracker)
        var resumed = try JSONDecoder().decode(ConvergenceTracker.self, from: data)
        #expect(resumed == tracker && resumed.collapseStreak == 1)
        let events = resumed.update(checkpoint: label(2), status: .ok, drift: 0, collapsed: true)
        #expect(events.map(\.kind) == [.collapsed])
    }

    // MARK: - Statistics drift

    @Test func statisticsDriftCoversRunningStatisticsOnly() throws {
        func tensor(_ values: [Float]) -> Tensor { Tensor(shape: [values.count], scalars: values) }
        let before = [
            "conv.weight": tensor([1, 1]), "bn.running_mean": tensor([3, 4]), "bn.running_var": tensor([0, 0]),
            "bn.num_batches_tracked": tensor([100]),
        ]
        var after = before
        after["bn.running_mean"] = tensor([3, 4.5])
        after["bn.num_batches_tracked"] = tensor([200])
        // ‖(0, 0.5)‖ / ‖(3, 4, 0, 0)‖ = 0.1; the counter and the weights are left out.
        expectClose(try #require(DriftMetrics.statisticsDrift(previous: before, current: after)), 0.1)
        #expect(DriftMetrics.weightDrift(previous: before, current: after) == 0)
        let plain = ["conv.weight": tensor([1, 1])]
        #expect(DriftMetrics.statisticsDrift(previous: plain, current: plain) == nil)
    }

    // MARK: - Model identity

    @Test func anotherModelIsNamedByWhatChanged() {
        func tensors(_ classes: Int) -> [String: Tensor] {
            ["conv.weight": Tensor(shape: [4, 3, 3, 3]), "fc.weight": Tensor(shape: [classes, 4])]
        }
        let five = ModelIdentity(architecture: "resnet18", tensors: tensors(5))
        let ten = ModelIdentity(architecture: "resnet18", tensors: tensors(10))
        #expect(five.change(from: five) == nil)
        #expect(ModelIdentity(architecture: "resnet18", tensors: tensors(5)) == five)
        #expect(ten.change(from: five, previousTensors: tensors(5), tensors: tensors(10)) == "parameter fc.weight [5, 4] → [10, 4]")
        #expect(ten.change(from: five)?.hasPrefix("parameter shapes changed (fingerprint") == true)
        let other = ModelIdentity(architecture: "mobilenet_v2", tensors: tensors(5))
        #expect(other.change(from: five) == "architecture resnet18 → mobilenet_v2")
    }
}

/// The committed collapse fixture through the per-checkpoint pipeline: epochs 18 and 19 of the sample run, then
/// 20–22 with block4 switched off (every probe gets fc.bias as logits and an all-zero block4 map).
@Suite(.serialized) struct CollapseFixtureTests {
    static let directory = Fixtures.packageRoot.appendingPathComponent("Tests/Fixtures/checkpoints/collapse")

    static func analyze(_ epoch: Int, probes: ProbeSet) throws -> (Checkpoint, CheckpointAnalysis, CheckpointLabel) {
        try analyzeCheckpoint(
            at: directory.appendingPathComponent(String(format: "epoch-%03d.h5", epoch)).path, epoch: epoch,
            probes: probes)
    }

    /// The fixture's probes and a fresh session in `out`.
    static func open(_ out: String) throws -> (ProbeSet, MonitorSession) {
        let probes = try ProbeSet.load(directory: directory.appendingPathComponent("probes").path)
        let session = try MonitorSession.open(
            directory: out, probes: probes,
            fresh: Report(model: Report.Model(arch: nil, layer: "", inputSize: []), probes: probes.descriptions), now: 0)
        return (probes, session)
    }

    @Test func theDeadEpochsShowEverySignAndTheRunIsCollapsedNotStable() throws {
        let out = try temporaryDirectory()
        defer { removeDirectory(out) }
        var (probes, session) = try Self.open(out)
        var states: [ConvergenceState] = []
        var kinds: [ConvergenceEvent.Kind] = []
        for epoch in 18...22 {
            let (checkpoint, analysis, label) = try Self.analyze(epoch, probes: probes)
            if epoch < 20 {
                #expect(analysis.collapse == nil, "epoch \(epoch): \(analysis.collapse?.summary ?? "")")
            } else {
                let evidence = try #require(analysis.collapse)
                #expect(evidence.constantHeatmaps)
                #expect(evidence.inputDependence == 0)
                #expect(evidence.sameClass == 3 && evidence.manifestClasses == 5)
            }
            let (entry, events) = session.recordProcessed(
                label: label, checkpoint: checkpoint, analysis: analysis, seconds: 1, now: Double(epoch))
            states.append(entry.state)
            kinds += events.map(\.kind)
            #expect(entry.model?.tensorCount == checkpoint.tensors.count)
            #expect(entry.newModel == nil)
            if epoch > 18 { #expect(entry.statisticsDrift != nil) }
        }
        #expect(states == [.warmingUp, .changing, .changing, .collapsed, .collapsed])
        #expect(kinds == [.warmedUp, .collapsed])
        #expect(session.report.collapseStart?.name == "epoch-20.h5")
        #expect(ReportRenderer.checkStatus(for: session.report) == .failed)
        #expect(ReportRenderer.verdict(for: session.report).hasPrefix("Verdict: collapsed since epoch-20.h5 (epoch 20)"))
        let prom = PrometheusTextfile.render(session.report, jobName: "dead")
        #expect(prom.contains("camwatch_model_collapsed{job_name=\"dead\"} 1\n"))
        #expect(prom.contains("camwatch_saliency_converged{job_name=\"dead\"} 0\n"))
        #expect(prom.contains("camwatch_convergence_state{job_name=\"dead\",state=\"collapsed\"} 1\n"))
        // The report names the architecture the checkpoints carry, not "model spec".
        #expect(session.report.model.arch == "camwatch-sample-shapes")
    }

    @Test func anotherModelMidRunIsANewSegmentWithoutDrift() throws {
        let out = try temporaryDirectory()
        defer { removeDirectory(out) }
        var (probes, session) = try Self.open(out)
        let (c18, a18, l18) = try Self.analyze(18, probes: probes)
        let (c19, a19, l19) = try Self.analyze(19, probes: probes)
        _ = session.recordProcessed(label: l18, checkpoint: c18, analysis: a18, seconds: 1, now: 1)
        _ = session.recordProcessed(label: l19, checkpoint: c19, analysis: a19, seconds: 1, now: 2)
        #expect(session.report.convergence.state == .changing)
        // The same heatmaps, but the checkpoint is another model: a wider classifier under another name.
        var wider = c19
        wider.tensors["fc.weight"] = Tensor(shape: [10, c19.tensors["fc.weight"]?.shape.last ?? 1])
        var renamed = a19
        renamed.architecture = "SampleNetWide"
        let (entry, events) = session.recordProcessed(
            label: CheckpointLabel(id: "id-wide", name: "wide.h5"), checkpoint: wider, analysis: renamed, seconds: 1,
            now: 3)
        #expect(entry.newModel == "architecture camwatch-sample-shapes → SampleNetWide")
        #expect(entry.drift == nil && entry.weightDrift == nil && entry.statisticsDrift == nil)
        #expect(entry.state == .warmingUp && events.isEmpty)
        #expect(session.report.model.arch == "SampleNetWide")
        // Same name, other shapes: the tensor that changed is named.
        let (again, _) = session.recordProcessed(
            label: CheckpointLabel(id: "id-back", name: "back.h5"), checkpoint: c19,
            analysis: { var a = a19; a.architecture = "SampleNetWide"; return a }(), seconds: 1, now: 4)
        let fcShape = c19.tensors["fc.weight"]?.shape ?? []
        #expect(again.newModel == "parameter fc.weight [10, \(fcShape.last ?? 0)] → \(fcShape)")
        // A report written and read back keeps the segment (rejudging replays it).
        var report = session.report
        report.rejudge(with: ConvergenceRule())
        #expect(report.checkpoints.map(\.state) == session.report.checkpoints.map(\.state))
    }
}
