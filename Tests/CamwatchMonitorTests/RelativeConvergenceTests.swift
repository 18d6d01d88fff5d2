import CamwatchMonitor
import CamwatchTensor
import CamwatchTestSupport
import Foundation
import Testing

/// The relative (scale-free) convergence rule on constructed drift sequences with known answers.
@Suite struct RelativeConvergenceTests {
    /// One checkpoint's drifts: mean saliency drift and weight drift (`nil`: unknown).
    typealias Step = (drift: Double?, weights: Double?)

    /// Feeds ok checkpoints 0, 1, 2 …; returns the state after each and every event.
    static func run(_ steps: [Step], rule: ConvergenceRule = ConvergenceRule())
        -> (tracker: ConvergenceTracker, states: [ConvergenceState], events: [ConvergenceEvent])
    {
        var tracker = ConvergenceTracker(rule: rule)
        var states: [ConvergenceState] = []
        var events: [ConvergenceEvent] = []
        for (index, step) in steps.enumerated() {
            events += tracker.update(checkpoint: label(index), status: .ok, drift: step.drift, weightDrift: step.weights)
            states.append(tracker.state)
        }
        return (tracker, states, events)
    }

    /// A training run in the shape real ones take: the first drift (from the fresh initialisation) large,
    /// then an early plateau, a decay over `decay` checkpoints (the learning rate falling), and a floor at
    /// `floor` × the plateau. Saliency and weights follow the same shape at their own scales.
    static func schedule(
        saliency: Double, weights: Double, plateau: Int = 6, decay: Int = 6, floorLength: Int = 6, floor: Double = 0.05,
        first: Double = 1.0
    ) -> [Step] {
        var factors: [Double] = Array(repeating: 1, count: plateau)
        for k in 1...decay { factors.append(pow(floor, Double(k) / Double(decay))) }
        factors += Array(repeating: floor, count: floorLength)
        return [(nil, nil), (first, 3 * weights)] + factors.map { (saliency * $0, weights * $0) }
    }

    @Test func theVerdictDoesNotDependOnTheScaleOfDrift() {
        // The same run shape at drift levels 100× apart (other model, layer, probe set): one verdict.
        var firstStable: [Int] = []
        for (saliency, weights) in [(0.5, 0.3), (0.05, 0.3), (0.005, 0.003), (0.2, 0.01)] {
            let result = Self.run(Self.schedule(saliency: saliency, weights: weights))
            let index = result.states.firstIndex(of: .stable)
            #expect(index != nil, "never stable at saliency \(saliency), weights \(weights)")
            firstStable.append(index ?? -1)
            #expect(result.events.map(\.kind) == [.warmedUp, .converged])
        }
        #expect(Set(firstStable).count == 1, "\(firstStable)")
        // Decay factor per checkpoint 0.05^(1/6) = 0.607: checkpoints 2 … 7 are the plateau, the decay's
        // k-th step is checkpoint 7 + k. Weights settle below 0.15 at k = 4 (0.136); the saliency median of 3
        // is the middle value, below 0.35 from k = 3 (0.224): settled from checkpoint 11, stable at 12.
        #expect(firstStable.first == 12)
    }

    @Test func aConstantLearningRateNeverSettles() {
        // Drift falls to half of its early level and stays there, noisy (±40 %): the weights still move.
        var generator = SeededGenerator(seed: 7)
        var steps: [Step] = [(nil, nil), (0.9, 0.8)]
        for index in 0..<40 {
            let level = index < 5 ? 1.0 : 0.5
            let noise = { Double.random(in: 0.6...1.4, using: &generator) }
            steps.append((0.2 * level * noise(), 0.25 * level * noise()))
        }
        let result = Self.run(steps)
        #expect(!result.states.contains(.stable))
        #expect(result.tracker.streak == 0 || result.tracker.streak < 2)
    }

    @Test func lowSaliencyDriftAloneIsNotStableWhileTheWeightsMove() {
        // Saliency drift collapses (e.g. a saturated probe set) but the weights keep moving at their level.
        var steps: [Step] = [(nil, nil)]
        steps += (0..<6).map { _ in (0.3, 0.2) }
        steps += (0..<10).map { _ in (0.01, 0.18) }
        #expect(!Self.run(steps).states.contains(.stable))
        // Unknown weight drift (first checkpoint after camwatch restarts) lets saliency decide for that one.
        var unknown = steps
        unknown += [(0.01, nil), (0.01, nil)]
        #expect(Self.run(unknown).states.last == .stable)
    }

    @Test func noiseAtTheFloorKeepsTheRunStable() {
        // Settled, then the saliency drift jumps around at its floor (up to 0.6 × the reference for one
        // checkpoint, as low-confidence probes flip): the median of 3 ignores single spikes.
        var steps = Self.schedule(saliency: 0.2, weights: 0.2, floorLength: 4)
        for spike in [0.12, 0.01, 0.02, 0.1, 0.015, 0.01, 0.09, 0.02] { steps.append((spike, 0.01)) }
        let result = Self.run(steps)
        let first = result.states.firstIndex(of: .stable) ?? steps.count
        #expect(first < steps.count)
        #expect(result.states[first...].allSatisfy { $0 == .stable })
        #expect(result.events.map(\.kind) == [.warmedUp, .converged])
    }

    @Test func aWarmRestartTurnsItBackToChangingAndItSettlesAgain() {
        // SGDR: settle, restart to the peak learning rate, settle again.
        let cycle = Self.schedule(saliency: 0.15, weights: 0.2)
        var steps = cycle
        let restart = steps.count
        steps += cycle.dropFirst(2).map { ($0.drift, $0.weights) }
        let result = Self.run(steps)
        #expect(result.events.map(\.kind) == [.warmedUp, .converged, .driftSpike, .converged])
        // The weights jump at the restart checkpoint itself: back to changing at once.
        #expect(result.states[restart - 1] == .stable && result.states[restart] == .changing)
        let spike = result.events.first { $0.kind == .driftSpike }
        #expect(spike?.checkpoint == label(restart))
        // Without weight drift (saliency alone) the median of 3 sees the restart one checkpoint later.
        let saliencyOnly = Self.run(steps.map { ($0.drift, nil) })
        #expect(saliencyOnly.events.map(\.kind) == [.warmedUp, .converged, .driftSpike, .converged])
        let late = saliencyOnly.events.first { $0.kind == .driftSpike }
        #expect(late?.checkpoint == label(restart + 1))
    }

    @Test func aSmallerSecondCycleIsJudgedAgainstItsOwnLevel() {
        // After a restart at 0.4 of the first cycle's level (a halved peak learning rate), the second cycle
        // must settle relative to itself, not be called stable at once against the first cycle's larger
        // reference. (A restart counts when it moves past hysteresis × settle ratio = 0.3 of the reference.)
        let first = Self.schedule(saliency: 0.2, weights: 0.2)
        let second = Self.schedule(saliency: 0.08, weights: 0.08).dropFirst(2)
        let result = Self.run(first + second.map { ($0.drift, $0.weights) })
        #expect(result.events.map(\.kind) == [.warmedUp, .converged, .driftSpike, .converged])
        let spike = result.events.firstIndex { $0.kind == .driftSpike } ?? 0
        let again = result.events[spike + 1].checkpoint
        // The second cycle settles where a first cycle of its own shape does: at its decay, 10 checkpoints in.
        #expect(again == label(first.count + 10))
    }

    @Test func aConstantFirstEpochDoesNotSetTheReference() {
        // Probes whose first heatmaps are constant give drift 1.0 at the second checkpoint; the median of 3
        // keeps that outlier out of the reference, so the verdict is the one without it.
        let plain = Self.run(Self.schedule(saliency: 0.1, weights: 0.1, first: 0.1))
        let deadStart = Self.run(Self.schedule(saliency: 0.1, weights: 0.1, first: 1.0))
        #expect(deadStart.tracker.saliency.reference == 0.1)
        #expect(plain.states == deadStart.states)
        #expect(deadStart.states.contains(.stable))
    }

    @Test func theReadingIsWhatAPersonComputesFromTheReport() throws {
        let steps: [Step] = [(nil, nil), (0.8, 0.9), (0.30, 0.20), (0.40, 0.30), (0.20, 0.10), (0.05, 0.02)]
        let result = Self.run(steps)
        let tracker = result.tracker
        // Saliency medians of 3: (0.8, 0.3, 0.4) → 0.4; (0.3, 0.4, 0.2) → 0.3; (0.4, 0.2, 0.05) → 0.2.
        #expect(tracker.saliency.reference == 0.4)
        let reading = try #require(tracker.reading)
        // The checkpoint's own drift is compared with the reference: 0.05 / 0.4.
        #expect(reading.driftRatio == 0.05 / 0.4)
        // Weight medians: (0.9, 0.2, 0.3) → 0.3; (0.2, 0.3, 0.1) → 0.2; (0.3, 0.1, 0.02) → 0.1.
        #expect(tracker.weights.reference == 0.3)
        #expect(reading.weightRatio == 0.02 / 0.3)
        #expect(reading.settled)
        // The checkpoint before (0.2 / 0.4 = 0.5) was not settled: a streak of one, still changing.
        #expect(tracker.streak == 1 && tracker.state == .changing)
        // Nothing is judged before a window of 3 exists.
        let early = Self.run(Array(steps.prefix(3)))
        #expect(early.tracker.reading?.driftRatio == nil && early.tracker.reading?.settled == false)
    }

    @Test func aRestartOfCamwatchResumesTheLevels() throws {
        let steps = Self.schedule(saliency: 0.2, weights: 0.1)
        let whole = Self.run(steps)
        let cut = 10
        let before = Self.run(Array(steps.prefix(cut)))
        let data = try JSONEncoder().encode(before.tracker)
        var resumed = try JSONDecoder().decode(ConvergenceTracker.self, from: data)
        #expect(resumed == before.tracker)
        var states = before.states
        for (index, step) in steps.enumerated().dropFirst(cut) {
            _ = resumed.update(checkpoint: label(index), status: .ok, drift: step.drift, weightDrift: step.weights)
            states.append(resumed.state)
        }
        #expect(states == whole.states)
        #expect(resumed == whole.tracker)
    }

    @Test func rejudgingAReportGivesTheStatesOfAFreshRun() {
        // A report judged by the absolute rule (threshold 0.05) re-judged by the relative rule.
        let steps = Self.schedule(saliency: 0.2, weights: 0.1)
        var report = sampleReport(drifts: steps.map(\.drift), threshold: 0.05, patience: 2)
        for index in report.checkpoints.indices { report.checkpoints[index].weightDrift = steps[index].weights }
        report.rejudge(with: ConvergenceRule())
        let fresh = Self.run(steps.map { step in (step.drift.map { $0 }, step.weights) })
        // sampleReport's per-probe drifts average to the given mean.
        #expect(report.checkpoints.map(\.state) == fresh.states)
        #expect(report.convergence.mode == .relative)
        #expect(report.checkpoints.last?.convergence == fresh.tracker.reading)
        #expect(report.schemaVersion == Report.currentSchemaVersion)
    }
}
