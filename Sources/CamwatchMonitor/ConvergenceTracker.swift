/// Where a run stands: still warming up, heatmaps still changing, or stable (design.md §5).
public enum ConvergenceState: String, Sendable, Hashable, Codable, CaseIterable {
    /// Fewer than two checkpoints processed: there is no drift yet.
    case warmingUp = "warming-up"
    /// Heatmaps still move between checkpoints.
    case changing
    /// Checkpoint drift stayed below the threshold for `patience` consecutive checkpoints.
    case stable
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
    /// What the transition means, named as the exec hook's `CAMWATCH_EVENT` (research/daemon_ecosystem.md §5.5).
    public enum Kind: String, Sendable, Hashable, Codable, CaseIterable {
        /// `warming-up → changing`: the second checkpoint gave the first drift, still above the threshold.
        case warmedUp = "warmed_up"
        /// `→ stable`: the heatmaps stopped moving.
        case converged
        /// `stable → changing`: drift rose above `threshold × hysteresis` after convergence.
        case driftSpike = "drift_spike"
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
        if to == .stable {
            kind = .converged
        } else if from == .stable {
            kind = .driftSpike
        } else {
            kind = .warmedUp
        }
    }
}

/// The convergence state machine of one run, fed one processed checkpoint at a time.
///
/// `warming-up` until two checkpoints have been processed, then `changing`; `stable` once checkpoint
/// drift has been below `threshold` for `patience` consecutive checkpoints; back to `changing` when a
/// drift exceeds `threshold × hysteresis` (drifts between the two keep it stable, so noise around the
/// threshold does not make it flap). A run whose first drift is already low goes from `warming-up`
/// straight to `stable` when `patience` is 1, as one `converged` event.
///
/// Failed checkpoints leave it untouched, and feeding the checkpoint it saw last again does nothing,
/// so replaying after a restart cannot emit an event twice. It is `Codable` (snake_case keys) and is
/// stored as the report's `convergence` object, so a restart resumes mid-streak.
public struct ConvergenceTracker: Sendable, Equatable, Codable {
    /// Default drift threshold, chosen on the sample run (Scripts/sample/check_drift.py, per-epoch
    /// checkpoints): mean drift falls from 0.17 (first third) to 0.017 (last third) as the learning rate
    /// decays; 0.02 × 3 calls seeds 0 and 1 stable at epochs 21 and 22 of 24, never a constant-lr control
    /// run whose heatmaps keep moving (its lowest drift is 0.069); 0.08 and above would fire mid-run.
    public static let defaultThreshold = 0.02
    /// Default number of consecutive checkpoints below the threshold before `stable`.
    public static let defaultPatience = 3
    /// Default factor over the threshold that leaves `stable`: after convergence the sample run never
    /// exceeds 0.03 = 1.5 × 0.02.
    public static let defaultHysteresis = 1.5

    /// Drift below this counts toward `stable`.
    public let threshold: Double
    /// Consecutive checkpoints with drift below `threshold` needed for `stable`; at least 1.
    public let patience: Int
    /// `stable` ends when drift exceeds `threshold × hysteresis`; at least 1.
    public let hysteresis: Double

    /// The current state.
    public private(set) var state: ConvergenceState = .warmingUp
    /// Successfully processed checkpoints seen so far.
    public private(set) var processed = 0
    /// Consecutive processed checkpoints, up to the last, whose drift was below `threshold`.
    public private(set) var streak = 0
    /// The checkpoint at which the run became stable; `nil` unless `state == .stable`.
    public private(set) var convergedAt: CheckpointLabel?
    /// The id of the last checkpoint fed in, to ignore a repeat.
    public private(set) var lastCheckpointID: String?

    /// Creates a tracker in `warming-up`.
    ///
    /// Values from a configuration file are clamped, not trusted: a negative threshold becomes 0,
    /// patience and hysteresis at least 1, and a NaN threshold or hysteresis the default.
    public init(
        threshold: Double = ConvergenceTracker.defaultThreshold, patience: Int = ConvergenceTracker.defaultPatience,
        hysteresis: Double = ConvergenceTracker.defaultHysteresis
    ) {
        self.threshold = threshold.isNaN ? Self.defaultThreshold : Swift.max(0, threshold)
        self.patience = Swift.max(1, patience)
        self.hysteresis = hysteresis.isNaN ? Self.defaultHysteresis : Swift.max(1, hysteresis)
    }

    /// Feeds one checkpoint and returns the transitions it caused (none, or one).
    ///
    /// - Parameters:
    ///   - checkpoint: which checkpoint; a repeat of the last one is ignored.
    ///   - status: `.failed` leaves the tracker untouched.
    ///   - drift: the checkpoint drift (mean over probes) against the previous processed checkpoint;
    ///     `nil` for the first one. A processed checkpoint without a drift after the first (no probe
    ///     comparable) counts as processed but leaves state and streak alone.
    public mutating func update(
        checkpoint: CheckpointLabel, status: CheckpointStatus, drift: Double?
    ) -> [ConvergenceEvent] {
        guard status == .ok, checkpoint.id != lastCheckpointID else { return [] }
        lastCheckpointID = checkpoint.id
        processed += 1
        guard processed >= 2, let drift, !drift.isNaN else { return [] }
        let previous = state
        streak = drift < threshold ? streak + 1 : 0
        switch state {
        case .warmingUp, .changing:
            state = streak >= patience ? .stable : .changing
        case .stable:
            if drift > threshold * hysteresis { state = .changing }
        }
        guard state != previous else { return [] }
        convergedAt = state == .stable ? checkpoint : nil
        return [ConvergenceEvent(from: previous, to: state, checkpoint: checkpoint, drift: drift)]
    }

    enum CodingKeys: String, CodingKey {
        case state, threshold, patience, hysteresis, streak, processed
        case convergedAt = "converged_at"
        case convergedAtID = "converged_at_id"
        case lastCheckpointID = "last_checkpoint_id"
    }

    /// Decodes a tracker, rejecting values `init` would have clamped: they mean the file was edited or
    /// damaged.
    public init(from decoder: any Decoder) throws {
        let c = try decoder.container(keyedBy: CodingKeys.self)
        threshold = try c.decode(Double.self, forKey: .threshold)
        patience = try c.decode(Int.self, forKey: .patience)
        hysteresis = try c.decode(Double.self, forKey: .hysteresis)
        state = try c.decode(ConvergenceState.self, forKey: .state)
        processed = try c.decode(Int.self, forKey: .processed)
        streak = try c.decode(Int.self, forKey: .streak)
        lastCheckpointID = try c.decodeIfPresent(String.self, forKey: .lastCheckpointID)
        let name = try c.decodeIfPresent(String.self, forKey: .convergedAt)
        let id = try c.decodeIfPresent(String.self, forKey: .convergedAtID)
        convergedAt = if let name, let id { CheckpointLabel(id: id, name: name) } else { nil }
        guard threshold >= 0, patience >= 1, hysteresis >= 1, processed >= 0, streak >= 0, streak <= processed,
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
        try c.encode(threshold, forKey: .threshold)
        try c.encode(patience, forKey: .patience)
        try c.encode(hysteresis, forKey: .hysteresis)
        try c.encode(streak, forKey: .streak)
        try c.encode(processed, forKey: .processed)
        try c.encode(lastCheckpointID, forKey: .lastCheckpointID)
    }
}
