/// Where a run stands: still warming up, heatmaps still changing, or stable (docs/architecture.md §5).
public enum ConvergenceState: String, Sendable, Hashable, Codable, CaseIterable {
    /// Fewer than two checkpoints processed: there is no drift yet.
    case warmingUp = "warming-up"
    /// Heatmaps still move between checkpoints.
    case changing
    /// Checkpoint drift stayed below the threshold for `patience` consecutive checkpoints.
    case stable
    /// The model stopped reading its input: heatmaps constant, outputs the same for every probe, or one
    /// class for all (`CollapseEvidence`) at `ConvergenceRule.collapsePatience` checkpoints in a row. Drift is
    /// near zero here for the wrong reason, so this is never `stable`.
    case collapsed
    /// The last checkpoint holds NaN or infinite weights: training diverged. Whatever the run was before, it is not
    /// converged now; the next checkpoint with finite weights starts the levels over.
    case diverged
}

/// Whether a checkpoint was processed.
public enum CheckpointStatus: String, Sendable, Hashable, Codable, CaseIterable {
    case ok
    case failed
}

/// Which checkpoint something happened at: its identity (inode, mtime, size or a hash) and file name.
public struct CheckpointLabel: Sendable, Hashable, Codable {
    /// The identity string; two files with one name (`last.h5` rewritten) have different ids.
    public var id: String
    /// The file name, for people.
    public var name: String

    public init(id: String, name: String) {
        self.id = id
        self.name = name
    }
}

/// A transition of the convergence state machine; alerts fire on these, once each.
public struct ConvergenceEvent: Sendable, Hashable, Codable {
    /// What the transition means, named as the exec hook's `CAMWATCH_EVENT`.
    public enum Kind: String, Sendable, Hashable, Codable, CaseIterable {
        /// `warming-up → changing`: the second checkpoint gave the first drift.
        case warmedUp = "warmed_up"
        /// `→ stable`: the heatmaps stopped moving.
        case converged
        /// `stable → changing`: drift rose past the hysteresis bound after convergence.
        case driftSpike = "drift_spike"
        /// `→ collapsed`: the model stopped reading its input.
        case collapsed
        /// `→ diverged`: a checkpoint with NaN or infinite weights.
        case diverged
        /// `collapsed` or `diverged` → a working model again: the signs of collapse are gone, or the weights are
        /// finite again.
        case revived
    }

    public var kind: Kind
    public var from: ConvergenceState
    public var to: ConvergenceState
    /// The checkpoint whose drift caused the transition.
    public var checkpoint: CheckpointLabel
    /// That checkpoint's drift (mean over probes).
    public var drift: Double

    public init(from: ConvergenceState, to: ConvergenceState, checkpoint: CheckpointLabel, drift: Double) {
        self.from = from
        self.to = to
        self.checkpoint = checkpoint
        self.drift = drift
        if to == .collapsed {
            kind = .collapsed
        } else if to == .diverged {
            kind = .diverged
        } else if from == .collapsed || from == .diverged {
            kind = .revived
        } else if to == .stable {
            kind = .converged
        } else if from == .stable {
            kind = .driftSpike
        } else {
            kind = .warmedUp
        }
    }
}

/// What the rule saw at one checkpoint: each signal's value over its reference level, and whether the
/// checkpoint counted as settled. Stored in the checkpoint's report entry so a reader can check the verdict
/// by hand.
public struct ConvergenceReading: Sendable, Hashable, Codable {
    /// relative: the checkpoint's mean saliency drift over its reference; absolute: `nil`.
    @ExplicitNull public var driftRatio: Double?
    /// relative: the weight drift over its reference; `nil` when unknown or in absolute mode.
    @ExplicitNull public var weightRatio: Double?
    /// relative: the batch-norm statistics drift over its reference — for a trend, the change still to come
    /// (`StatisticsTrend`); `nil` when unknown, in absolute mode, or for a network without running statistics.
    @ExplicitNull public var statisticsRatio: Double?
    /// relative: whether the statistics moved one way (judged against `weight_settle_ratio`) rather than
    /// jittering (judged against `settle_ratio`); `nil` when unknown.
    @ExplicitNull public var statisticsTrend: Bool?
    /// Whether the checkpoint met the settle condition (it extended the streak).
    public var settled: Bool

    public init(
        driftRatio: Double?, weightRatio: Double?, statisticsRatio: Double? = nil, statisticsTrend: Bool? = nil,
        settled: Bool
    ) {
        self.driftRatio = driftRatio
        self.weightRatio = weightRatio
        self.statisticsRatio = statisticsRatio
        self.statisticsTrend = statisticsTrend
        self.settled = settled
    }

    enum CodingKeys: String, CodingKey {
        case settled
        case driftRatio = "drift_ratio"
        case weightRatio = "weight_ratio"
        case statisticsRatio = "statistics_ratio"
        case statisticsTrend = "statistics_trend"
    }
}

/// The convergence state machine of one run, fed one processed checkpoint at a time (the rule:
/// `ConvergenceRule`).
///
/// `warming-up` until two checkpoints have been processed, then `changing`; `stable` once `patience`
/// consecutive checkpoints were settled; back to `changing` when a drift passes the hysteresis bound.
/// `collapsed` from any state once `ConvergenceRule.collapsePatience` checkpoints in a row show signs of
/// collapse (a checkpoint with such signs never counts as settled); back to `changing`, with every level
/// starting over, at the first checkpoint without them. A new model (another architecture or other parameter
/// shapes) starts the machine over at `warming-up` (`update(…, newSegment: true)`).
///
/// Failed checkpoints leave it untouched, and feeding the checkpoint it saw last again does nothing,
/// so replaying after a restart cannot emit an event twice. It is `Codable` (snake_case keys) and is
/// stored as the report's `convergence` object, levels included, so a restart resumes mid-streak.
public struct ConvergenceTracker: Sendable, Equatable, Codable {
    public let rule: ConvergenceRule

    /// The current state.
    public private(set) var state: ConvergenceState = .warmingUp
    /// Successfully processed checkpoints seen so far.
    public private(set) var processed = 0
    /// Consecutive processed checkpoints, up to the last, that were settled.
    public private(set) var streak = 0
    /// The checkpoint at which the run became stable; `nil` unless `state == .stable`.
    public private(set) var convergedAt: CheckpointLabel?
    /// The id of the last checkpoint fed in, to ignore a repeat.
    public private(set) var lastCheckpointID: String?
    /// Mean saliency drift against its reference (relative rule).
    public private(set) var saliency = DriftLevel()
    /// Weight drift against its reference (relative rule).
    public private(set) var weights = DriftLevel()
    /// Batch-norm running-statistics drift against its reference (relative rule): a network whose inference
    /// behaviour still moves through its statistics is not settled, even when its learned weights are.
    public private(set) var statistics = DriftLevel()
    /// Consecutive processed checkpoints, up to the last, that showed signs of collapse.
    public private(set) var collapseStreak = 0
    /// What the rule saw at the last processed checkpoint with a drift.
    public private(set) var reading: ConvergenceReading?

    public var mode: ConvergenceMode { rule.mode }
    public var threshold: Double { rule.threshold }
    public var patience: Int { rule.patience }
    public var hysteresis: Double { rule.hysteresis }

    /// Creates a tracker in `warming-up`.
    public init(rule: ConvergenceRule = ConvergenceRule()) {
        self.rule = rule
    }

    /// A tracker with the absolute rule.
    public init(threshold: Double, patience: Int? = nil, hysteresis: Double? = nil) {
        self.init(rule: ConvergenceRule(mode: .absolute, threshold: threshold, patience: patience, hysteresis: hysteresis))
    }

    /// Feeds one checkpoint and returns the transitions it caused (none, or one).
    ///
    /// - Parameters:
    ///   - checkpoint: which checkpoint; a repeat of the last one is ignored.
    ///   - status: `.failed` leaves the tracker untouched.
    ///   - drift: the checkpoint drift (mean over probes) against the previous processed checkpoint;
    ///     `nil` for the first one. A processed checkpoint without a drift after the first (no probe
    ///     comparable) counts as processed but leaves state and streak alone.
    ///   - weightDrift: ‖w_i − w_{i−1}‖ / ‖w_{i−1}‖ against the same previous checkpoint, when known.
    ///   - statisticsDrift: the same over the batch-norm running statistics, when known and the network has any.
    ///   - statisticsTrend: how that change relates to the one before, when known.
    ///   - collapsed: whether the checkpoint shows signs of collapse (`CollapseEvidence`).
    ///   - newSegment: the checkpoint is another model than the previous one (architecture or parameter
    ///     shapes): the machine starts over from it, as from a run's first checkpoint; no event.
    ///   - diverged: a `.failed` checkpoint failed because its weights hold NaN or infinity: the state becomes
    ///     `diverged` (other failures leave the tracker untouched).
    public mutating func update(
        checkpoint: CheckpointLabel, status: CheckpointStatus, drift: Double?, weightDrift: Double? = nil,
        statisticsDrift: Double? = nil, statisticsTrend: StatisticsTrend? = nil, collapsed: Bool = false,
        newSegment: Bool = false, diverged: Bool = false
    ) -> [ConvergenceEvent] {
        guard checkpoint.id != lastCheckpointID else { return [] }
        guard status == .ok else {
            guard diverged else { return [] }
            lastCheckpointID = checkpoint.id
            let previous = state
            state = .diverged
            startOver()
            return transition(from: previous, at: checkpoint, drift: 0)
        }
        if newSegment { self = ConvergenceTracker(rule: rule) }
        lastCheckpointID = checkpoint.id
        processed += 1
        let previous = state
        if state == .diverged {
            // Finite weights again: the run goes on from here, with levels of its own.
            state = processed >= 2 ? .changing : .warmingUp
            startOver()
        }
        collapseStreak = collapsed ? collapseStreak + 1 : 0
        if collapsed || state == .collapsed {
            // Near-zero drift of a dead model is no sign of settling: such a checkpoint never extends the
            // streak nor feeds a level.
            streak = 0
            reading = nil
            if collapseStreak >= ConvergenceRule.collapsePatience {
                state = .collapsed
            } else if state == .collapsed {
                // Revived: what the levels held belongs to the model before it died.
                state = .changing
                startOver()
            }
            return transition(from: previous, at: checkpoint, drift: drift ?? 0)
        }
        guard processed >= 2, let drift, drift.isFinite, drift >= 0 else {
            return transition(from: previous, at: checkpoint, drift: drift ?? 0)
        }
        func usable(_ value: Double?) -> Double? { value.flatMap { $0.isFinite && $0 >= 0 ? $0 : nil } }
        let verdict = judge(
            drift: drift, weightDrift: usable(weightDrift), statisticsDrift: usable(statisticsDrift),
            statisticsTrend: statisticsTrend)
        reading = verdict.reading
        streak = verdict.reading.settled ? streak + 1 : 0
        switch state {
        case .warmingUp, .changing, .collapsed, .diverged:
            state = streak >= rule.patience ? .stable : .changing
        case .stable:
            if verdict.moved.saliency || verdict.moved.weights {
                state = .changing
                streak = 0
                // A new segment (warm restart, unfrozen layers, new data) has its own early level; a signal
                // that did not move keeps its reference.
                if verdict.moved.saliency { saliency.restart(at: saliency.median ?? drift) }
                if verdict.moved.weights, let weightDrift { weights.restart(at: weightDrift) }
                if let statisticsDrift { statistics.restart(at: statisticsDrift) }
            }
        }
        return transition(from: previous, at: checkpoint, drift: drift)
    }

    /// Forgets the streaks, the reading and every level: what follows is judged on its own.
    private mutating func startOver() {
        streak = 0
        collapseStreak = 0
        reading = nil
        (saliency, weights, statistics) = (DriftLevel(), DriftLevel(), DriftLevel())
    }

    /// The event for a change of state at `checkpoint`, if the state changed.
    private mutating func transition(
        from previous: ConvergenceState, at checkpoint: CheckpointLabel, drift: Double
    ) -> [ConvergenceEvent] {
        guard state != previous else { return [] }
        convergedAt = state == .stable ? checkpoint : nil
        return [ConvergenceEvent(from: previous, to: state, checkpoint: checkpoint, drift: drift)]
    }

    /// What the relative rule found moving at one checkpoint, past the hysteresis bounds. (Running statistics
    /// gate settling only: a restart that moves them moves the weights and the saliency more.)
    private struct Moved {
        var saliency = false
        var weights = false
    }

    /// Applies the rule to one checkpoint's drifts: whether it is settled, and, for a stable run, which
    /// signal moved past the hysteresis bound.
    private mutating func judge(
        drift: Double, weightDrift: Double?, statisticsDrift: Double?, statisticsTrend: StatisticsTrend?
    ) -> (reading: ConvergenceReading, moved: Moved)
    {
        switch rule.mode {
        case .absolute:
            let settled = drift < rule.threshold
            return (
                ConvergenceReading(driftRatio: nil, weightRatio: nil, settled: settled),
                Moved(saliency: drift > rule.threshold * rule.hysteresis)
            )
        case .relative:
            saliency.add(drift)
            if let weightDrift { weights.add(weightDrift) }
            if let statisticsDrift { statistics.add(statisticsDrift) }
            // Settling is judged on the checkpoint's own drift (`patience` in a row is the guard against a
            // lucky one); leaving `stable` on the median of 3, so one noisy checkpoint at the floor does not
            // end it. A level needs a full window of its own segment before it can count as settled.
            let driftRatio = saliency.ratio(drift)
            let weightRatio = weightDrift.flatMap { weights.ratio($0) }
            // Running statistics (StatisticsTrend): a trend is parameters still travelling, held to the weights'
            // bound for the distance it has left; jitter around a fixed point is noise, held to the saliency's
            // noise-tolerant bound.
            let trend = statisticsTrend.flatMap { trend in statisticsDrift.flatMap { trend.remaining(drift: $0) } }
            let statisticsRatio = (trend ?? statisticsDrift).flatMap { statistics.ratio($0) }
            let statisticsBound = trend == nil ? rule.settleRatio : rule.weightSettleRatio
            let saliencySettled = saliency.count >= ConvergenceRule.window && (driftRatio ?? .infinity) < rule.settleRatio
            let weightsSettled = weightRatio.map { $0 < rule.weightSettleRatio } ?? true
            let statisticsSettled = statisticsRatio.map { $0 < statisticsBound } ?? true
            let moved = Moved(
                saliency: (saliency.ratio(saliency.median) ?? 0) > rule.settleRatio * rule.hysteresis,
                weights: (weightRatio ?? 0) > rule.weightSettleRatio * rule.hysteresis)
            return (
                ConvergenceReading(
                    driftRatio: driftRatio, weightRatio: weightRatio, statisticsRatio: statisticsRatio,
                    statisticsTrend: statisticsRatio == nil ? nil : trend != nil,
                    settled: saliencySettled && weightsSettled && statisticsSettled),
                moved
            )
        }
    }

    enum CodingKeys: String, CodingKey {
        case rule, state, streak, processed, saliency, weights, statistics, reading
        case collapseStreak = "collapse_streak"
        case convergedAt = "converged_at"
        case convergedAtID = "converged_at_id"
        case lastCheckpointID = "last_checkpoint_id"
        // Reports before the relative rule kept the absolute rule's settings at the top level.
        case threshold, patience, hysteresis
    }

    /// Decodes a tracker, rejecting values `init` would have clamped: they mean the file was edited or
    /// damaged.
    public init(from decoder: any Decoder) throws {
        let c = try decoder.container(keyedBy: CodingKeys.self)
        if c.contains(.rule) {
            rule = try c.decode(ConvergenceRule.self, forKey: .rule)
        } else {
            rule = ConvergenceRule(
                mode: .absolute, threshold: try c.decode(Double.self, forKey: .threshold),
                patience: try c.decode(Int.self, forKey: .patience), hysteresis: try c.decode(Double.self, forKey: .hysteresis))
        }
        state = try c.decode(ConvergenceState.self, forKey: .state)
        processed = try c.decode(Int.self, forKey: .processed)
        streak = try c.decode(Int.self, forKey: .streak)
        lastCheckpointID = try c.decodeIfPresent(String.self, forKey: .lastCheckpointID)
        saliency = try c.decodeIfPresent(DriftLevel.self, forKey: .saliency) ?? DriftLevel()
        weights = try c.decodeIfPresent(DriftLevel.self, forKey: .weights) ?? DriftLevel()
        statistics = try c.decodeIfPresent(DriftLevel.self, forKey: .statistics) ?? DriftLevel()
        collapseStreak = try c.decodeIfPresent(Int.self, forKey: .collapseStreak) ?? 0
        reading = try c.decodeIfPresent(ConvergenceReading.self, forKey: .reading)
        let name = try c.decodeIfPresent(String.self, forKey: .convergedAt)
        let id = try c.decodeIfPresent(String.self, forKey: .convergedAtID)
        convergedAt = if let name, let id { CheckpointLabel(id: id, name: name) } else { nil }
        guard rule.isValid, processed >= 0, streak >= 0, streak <= processed, collapseStreak >= 0,
            collapseStreak <= processed,
            (state == .stable) == (convergedAt != nil)
        else {
            throw DecodingError.dataCorrupted(
                DecodingError.Context(codingPath: c.codingPath, debugDescription: "inconsistent convergence state"))
        }
    }

    public func encode(to encoder: any Encoder) throws {
        var c = encoder.container(keyedBy: CodingKeys.self)
        try c.encode(state, forKey: .state)
        // Explicit nulls: readers see "not converged" rather than a missing field.
        try c.encode(convergedAt?.name, forKey: .convergedAt)
        try c.encode(convergedAt?.id, forKey: .convergedAtID)
        try c.encode(rule, forKey: .rule)
        try c.encode(streak, forKey: .streak)
        try c.encode(processed, forKey: .processed)
        try c.encode(reading, forKey: .reading)
        try c.encode(saliency, forKey: .saliency)
        try c.encode(weights, forKey: .weights)
        try c.encode(statistics, forKey: .statistics)
        try c.encode(collapseStreak, forKey: .collapseStreak)
        try c.encode(lastCheckpointID, forKey: .lastCheckpointID)
    }
}
