import CamwatchMonitor
import Foundation
import Testing

@Suite struct ConvergenceTrackerTests {
    /// Feeds ok checkpoints 0, 1, 2 … with these drifts; returns the events of each update.
    static func feed(_ tracker: inout ConvergenceTracker, _ drifts: [Double?], from start: Int = 0)
        -> [[ConvergenceEvent]]
    {
        drifts.enumerated().map { offset, drift in
            tracker.update(checkpoint: label(start + offset), status: .ok, drift: drift)
        }
    }

    @Test func defaultsAreTheDocumentedConstants() {
        let tracker = ConvergenceTracker()
        #expect(tracker.mode == .relative)
        #expect(tracker.rule.settleRatio == 0.35 && tracker.rule.weightSettleRatio == 0.15)
        #expect(tracker.patience == 2 && tracker.hysteresis == 2)
        let absolute = ConvergenceRule(mode: .absolute)
        #expect(absolute.threshold == 0.02 && absolute.patience == 3 && absolute.hysteresis == 1.5)
        #expect(tracker.state == .warmingUp)
        #expect(ConvergenceState.warmingUp.rawValue == "warming-up")
    }

    @Test func warmingUpThenChangingThenStableAfterExactlyPatience() {
        var tracker = ConvergenceTracker(threshold: 0.05, patience: 3, hysteresis: 2)
        let events = Self.feed(&tracker, [nil])
        #expect(events == [[]])
        #expect(tracker.state == .warmingUp && tracker.processed == 1)

        let second = tracker.update(checkpoint: label(1), status: .ok, drift: 0.3)
        #expect(second == [ConvergenceEvent(from: .warmingUp, to: .changing, checkpoint: label(1), drift: 0.3)])
        #expect(second.first?.kind == .warmedUp)

        // Two low drifts are not enough with patience 3 …
        #expect(Self.feed(&tracker, [0.01, 0.02], from: 2) == [[], []])
        #expect(tracker.state == .changing && tracker.streak == 2)
        // … the third is.
        let converged = tracker.update(checkpoint: label(4), status: .ok, drift: 0.049)
        #expect(converged.map(\.kind) == [.converged])
        #expect(converged.first?.from == .changing && converged.first?.to == .stable)
        #expect(tracker.state == .stable)
        #expect(tracker.convergedAt == label(4))
    }

    @Test func driftAtTheThresholdDoesNotCount() {
        var tracker = ConvergenceTracker(threshold: 0.05, patience: 2, hysteresis: 2)
        _ = Self.feed(&tracker, [nil, 0.01, 0.05, 0.01])
        #expect(tracker.state == .changing)
        #expect(tracker.streak == 1)
        _ = tracker.update(checkpoint: label(4), status: .ok, drift: 0.0)
        #expect(tracker.state == .stable)
    }

    @Test func hysteresisKeepsStableUntilDriftExceedsThresholdTimesFactor() {
        var tracker = ConvergenceTracker(threshold: 0.05, patience: 2, hysteresis: 2)
        _ = Self.feed(&tracker, [nil, 0.2, 0.01, 0.01])
        #expect(tracker.state == .stable)
        // Between threshold and threshold × hysteresis, and exactly at it: still stable, no event.
        #expect(Self.feed(&tracker, [0.08, 0.1], from: 4) == [[], []])
        #expect(tracker.state == .stable && tracker.streak == 0)
        #expect(tracker.convergedAt == label(3))
        let spike = tracker.update(checkpoint: label(6), status: .ok, drift: 0.1001)
        #expect(spike == [ConvergenceEvent(from: .stable, to: .changing, checkpoint: label(6), drift: 0.1001)])
        #expect(spike.first?.kind == .driftSpike)
        #expect(tracker.state == .changing && tracker.convergedAt == nil)
        // Back to stable needs a full streak again.
        #expect(Self.feed(&tracker, [0.01], from: 7) == [[]])
        #expect(Self.feed(&tracker, [0.01], from: 8).map { $0.map(\.kind) } == [[.converged]])
        #expect(tracker.convergedAt == label(8))
    }

    @Test func eventsAreEmittedOnce() {
        var tracker = ConvergenceTracker(threshold: 0.05, patience: 1, hysteresis: 2)
        let all = Self.feed(&tracker, [nil, 0.01, 0.01, 0.02, 0.0]).flatMap { $0 }
        // patience 1: the first drift already converges, straight from warming-up.
        #expect(all == [ConvergenceEvent(from: .warmingUp, to: .stable, checkpoint: label(1), drift: 0.01)])
        // The same checkpoint fed again (a replay after restart) changes nothing.
        var replayed = tracker
        #expect(replayed.update(checkpoint: label(4), status: .ok, drift: 0.9) == [])
        #expect(replayed == tracker)
    }

    @Test func failedCheckpointsDoNotAdvanceIt() {
        var tracker = ConvergenceTracker(threshold: 0.05, patience: 2, hysteresis: 2)
        _ = Self.feed(&tracker, [nil, 0.3, 0.01])
        let before = tracker
        #expect(tracker.update(checkpoint: label(3), status: .failed, drift: 0.0) == [])
        #expect(tracker.update(checkpoint: label(4), status: .failed, drift: nil) == [])
        #expect(tracker == before)
        #expect(tracker.update(checkpoint: label(5), status: .ok, drift: 0.02).map(\.kind) == [.converged])
        // A failure only in the middle of warm-up does not count as processed either.
        var fresh = ConvergenceTracker(threshold: 0.05)
        _ = fresh.update(checkpoint: label(0), status: .failed, drift: nil)
        _ = fresh.update(checkpoint: label(1), status: .ok, drift: nil)
        #expect(fresh.state == .warmingUp && fresh.processed == 1)
    }

    @Test func processedCheckpointWithoutDriftChangesNothingButTheCount() {
        var tracker = ConvergenceTracker(threshold: 0.05, patience: 3, hysteresis: 2)
        _ = Self.feed(&tracker, [nil, 0.3, 0.01, nil])
        #expect(tracker.state == .changing && tracker.streak == 1 && tracker.processed == 4)
    }

    @Test func codableRoundTripResumesMidStreak() throws {
        var tracker = ConvergenceTracker(threshold: 0.05, patience: 3, hysteresis: 2)
        _ = Self.feed(&tracker, [nil, 0.4, 0.01, 0.01])
        #expect(tracker.streak == 2)
        let data = try JSONEncoder().encode(tracker)
        var resumed = try JSONDecoder().decode(ConvergenceTracker.self, from: data)
        #expect(resumed == tracker)
        // The repeat of the last checkpoint is still recognized after the restart …
        #expect(resumed.update(checkpoint: label(3), status: .ok, drift: 0.01) == [])
        // … and the next low drift completes the streak begun before it.
        #expect(resumed.update(checkpoint: label(4), status: .ok, drift: 0.01).map(\.kind) == [.converged])

        let json = try #require(try JSONSerialization.jsonObject(with: JSONEncoder().encode(resumed)) as? [String: Any])
        #expect(json["state"] as? String == "stable")
        #expect(json["converged_at"] as? String == "ckpt_4.h5")
        #expect(json["converged_at_id"] as? String == "id-4")
        let rule = try #require(json["rule"] as? [String: Any])
        #expect(rule["patience"] as? Int == 3 && rule["mode"] as? String == "absolute")
        #expect(json["streak"] as? Int == 3)
        // Not converged: explicit nulls.
        let fresh = try #require(
            try JSONSerialization.jsonObject(with: JSONEncoder().encode(ConvergenceTracker())) as? [String: Any])
        #expect(fresh["converged_at"] is NSNull)
    }

    @Test func configurationValuesAreClampedAndDamagedStateRejected() throws {
        let clamped = ConvergenceTracker(threshold: -1, patience: 0, hysteresis: 0.5)
        #expect(clamped.threshold == 0 && clamped.patience == 1 && clamped.hysteresis == 1)
        #expect(
            ConvergenceTracker(threshold: .nan, hysteresis: .nan) == ConvergenceTracker(rule: ConvergenceRule(mode: .absolute)))
        let relative = ConvergenceRule(mode: .relative, settleRatio: -1, weightSettleRatio: .nan, patience: -3)
        #expect(relative.settleRatio == 0 && relative.weightSettleRatio == 0.15 && relative.patience == 1)

        let stableWithoutMark = #"""
            {"state":"stable","converged_at":null,"converged_at_id":null,"threshold":0.05,"patience":3,
             "hysteresis":2,"streak":3,"processed":4,"last_checkpoint_id":"x"}
            """#
        #expect(throws: DecodingError.self) {
            try JSONDecoder().decode(ConvergenceTracker.self, from: Data(stableWithoutMark.utf8))
        }
        // A version-1 report (settings at the top level, no mode) was judged by the absolute rule.
        let version1 = #"""
            {"state":"changing","converged_at":null,"converged_at_id":null,"threshold":0.05,"patience":3,
             "hysteresis":2,"streak":1,"processed":4,"last_checkpoint_id":"x"}
            """#
        let old = try JSONDecoder().decode(ConvergenceTracker.self, from: Data(version1.utf8))
        #expect(old.mode == .absolute && old.threshold == 0.05 && old.streak == 1)
        let badLevel = #"""
            {"state":"changing","converged_at":null,"converged_at_id":null,"streak":0,"processed":4,
             "rule":{"mode":"relative","settle_ratio":0.35,"weight_settle_ratio":0.15,"threshold":0.02,"patience":2,
                     "hysteresis":2},
             "saliency":{"recent":[0.1,-0.2],"count":2,"reference":null}}
            """#
        #expect(throws: DecodingError.self) {
            try JSONDecoder().decode(ConvergenceTracker.self, from: Data(badLevel.utf8))
        }
    }
}
