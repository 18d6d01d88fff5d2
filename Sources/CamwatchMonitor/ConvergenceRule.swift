/// How a run's drift is judged settled: against the run's own history (`relative`, the default) or against a
/// fixed number (`absolute`).
public enum ConvergenceMode: String, Sendable, Hashable, Codable, CaseIterable {
    /// Scale-free: saliency drift and weight drift are each compared with their own reference level, the
    /// highest 3-checkpoint median the run reached. One set of defaults carries over between architectures,
    /// target layers, input sizes, probe sets and checkpoint intervals, which all change the absolute size of
    /// drift but not how far it falls once training settles.
    case relative
    /// Mean saliency drift below `threshold` (the rule of camwatch ≤ 0.2). Needs a threshold tuned per job.
    case absolute
}

/// The settings of the convergence state machine (`convergence:` in the watch config).
///
/// **relative** (default). Each signal — the mean saliency drift over the probes, and the relative weight
/// change ‖w_i − w_{i−1}‖ / ‖w_{i−1}‖ — keeps a *reference level*: the highest median of 3 consecutive values
/// seen since the run started (the first drift of a run, from the freshly initialised weights, cannot set it
/// alone). A checkpoint is *settled* when its saliency drift is below `settleRatio` × its reference and the weight drift is below `weightSettleRatio` × its reference (when the
/// weight drift is unknown — the first checkpoint after camwatch restarts — saliency decides alone).
/// `patience` settled checkpoints in a row make the run `stable`. A stable run goes back to `changing` when
/// the median of the last 3 saliency drifts exceeds `settleRatio × hysteresis` × its reference or the weight drift exceeds
/// `weightSettleRatio × hysteresis` × its reference; the references then start again from that checkpoint
/// (a warm restart has its own early level), so the run can settle again.
///
/// **absolute**. Settled when the mean saliency drift is below `threshold`; `patience` in a row → `stable`;
/// back to `changing` above `threshold × hysteresis`.
public struct ConvergenceRule: Sendable, Hashable, Codable {
    public var mode: ConvergenceMode
    /// relative: the saliency drift over its reference below which a checkpoint counts as settled.
    public var settleRatio: Double
    /// relative: the weight drift over its reference below which a checkpoint counts as settled.
    public var weightSettleRatio: Double
    /// absolute: the mean saliency drift below which a checkpoint counts as settled.
    public var threshold: Double
    /// Settled checkpoints in a row before `stable`; at least 1.
    public var patience: Int
    /// Factor over the settle bound(s) that ends `stable`; at least 1.
    public var hysteresis: Double

    /// Values below this many consecutive checkpoints' median are not a level yet.
    public static let window = 3

    /// Checkpoints in a row with signs of collapse (`CollapseEvidence`) before the run is `collapsed`. Two, so a
    /// single dead checkpoint — a network frozen for an epoch that then recovers — is no verdict, and a run that
    /// dies is named at its second dead checkpoint.
    public static let collapsePatience = 2

    /// Defaults of the relative rule, chosen on the validation suite (Scripts/validation, docs/convergence.md
    /// "Validation"): 8 runs over 3 architectures and 4 learning-rate schedules, held-out runs checked after.
    public static let defaultSettleRatio = 0.35
    public static let defaultWeightSettleRatio = 0.15
    public static let defaultRelativePatience = 2
    public static let defaultRelativeHysteresis = 2.0

    /// Defaults of the absolute rule, chosen on the sample run (Scripts/sample/check_drift.py, per-epoch
    /// checkpoints): mean drift falls from 0.17 (first third) to 0.017 (last third) as the learning rate
    /// decays; 0.02 × 3 calls it stable at epoch 21 of 24, never a constant-lr control run (lowest drift
    /// 0.069). On other models the right threshold differs, which is why `relative` is the default.
    public static let defaultThreshold = 0.02
    public static let defaultAbsolutePatience = 3
    public static let defaultAbsoluteHysteresis = 1.5

    /// The rule with every value at its default for `mode`.
    public init(mode: ConvergenceMode = .relative) {
        self.mode = mode
        settleRatio = Self.defaultSettleRatio
        weightSettleRatio = Self.defaultWeightSettleRatio
        threshold = Self.defaultThreshold
        switch mode {
        case .relative:
            patience = Self.defaultRelativePatience
            hysteresis = Self.defaultRelativeHysteresis
        case .absolute:
            patience = Self.defaultAbsolutePatience
            hysteresis = Self.defaultAbsoluteHysteresis
        }
    }

    /// A rule with the given values; `nil` takes `mode`'s default. Values are clamped, not trusted: ratios and
    /// the threshold at least 0 (NaN: the default), patience and hysteresis at least 1.
    public init(
        mode: ConvergenceMode, settleRatio: Double? = nil, weightSettleRatio: Double? = nil, threshold: Double? = nil,
        patience: Int? = nil, hysteresis: Double? = nil
    ) {
        self.init(mode: mode)
        func clamped(_ value: Double?, _ fallback: Double, minimum: Double) -> Double {
            guard let value, !value.isNaN else { return fallback }
            return Swift.max(minimum, value)
        }
        self.settleRatio = clamped(settleRatio, self.settleRatio, minimum: 0)
        self.weightSettleRatio = clamped(weightSettleRatio, self.weightSettleRatio, minimum: 0)
        self.threshold = clamped(threshold, self.threshold, minimum: 0)
        self.patience = Swift.max(1, patience ?? self.patience)
        self.hysteresis = clamped(hysteresis, self.hysteresis, minimum: 1)
    }

    /// Whether the values are ones `init` would have kept: a decoded rule outside them was edited or damaged.
    var isValid: Bool {
        settleRatio >= 0 && weightSettleRatio >= 0 && threshold >= 0 && patience >= 1 && hysteresis >= 1
    }

    enum CodingKeys: String, CodingKey {
        case mode, threshold, patience, hysteresis
        case settleRatio = "settle_ratio"
        case weightSettleRatio = "weight_settle_ratio"
    }

    /// Decodes a rule; reports written before `mode` existed were judged by the absolute rule.
    public init(from decoder: any Decoder) throws {
        let c = try decoder.container(keyedBy: CodingKeys.self)
        mode = try c.decodeIfPresent(ConvergenceMode.self, forKey: .mode) ?? .absolute
        settleRatio = try c.decodeIfPresent(Double.self, forKey: .settleRatio) ?? Self.defaultSettleRatio
        weightSettleRatio =
            try c.decodeIfPresent(Double.self, forKey: .weightSettleRatio) ?? Self.defaultWeightSettleRatio
        threshold = try c.decode(Double.self, forKey: .threshold)
        patience = try c.decode(Int.self, forKey: .patience)
        hysteresis = try c.decode(Double.self, forKey: .hysteresis)
    }
}

/// One signal's level against its reference, for the relative rule: the last values, their median, and
/// the highest such median since the run (or its latest return to `changing`) started.
public struct DriftLevel: Sendable, Hashable, Codable {
    /// The last `ConvergenceRule.window` values, oldest first.
    public private(set) var recent: [Double] = []
    /// Values seen since the reference (re)started.
    public private(set) var count = 0
    /// The highest median of `window` consecutive values (or the value that restarted the level); `nil`
    /// until there is one.
    @ExplicitNull public private(set) var reference: Double?

    public init() {}

    /// The median of the last `window` values (the lower middle value when there are two); `nil` before the
    /// window is full.
    public var median: Double? {
        guard recent.count == ConvergenceRule.window else { return nil }
        return recent.sorted()[(recent.count - 1) / 2]
    }

    /// The last value.
    public var last: Double? { recent.last }

    /// `value / reference`: 0 when both are 0 (nothing ever moved), `nil` without a reference.
    public func ratio(_ value: Double?) -> Double? {
        guard let value, let reference else { return nil }
        if reference == 0 { return value == 0 ? 0 : .infinity }
        return value / reference
    }

    /// Adds a value (NaN and negative values are not drifts and are ignored).
    mutating func add(_ value: Double) {
        guard value >= 0, value.isFinite else { return }
        recent.append(value)
        if recent.count > ConvergenceRule.window { recent.removeFirst(recent.count - ConvergenceRule.window) }
        count += 1
        if let median { reference = Swift.max(reference ?? 0, median) }
    }

    /// Starts a new segment at `value`, the drift that ended `stable`: it is the new segment's first
    /// reference, raised by later medians. The recent values stay, so the median is defined at once.
    mutating func restart(at value: Double) {
        guard value >= 0, value.isFinite else { return }
        count = 1
        reference = Swift.max(value, median ?? 0)
    }

    enum CodingKeys: String, CodingKey {
        case recent, count, reference
    }

    public init(from decoder: any Decoder) throws {
        let c = try decoder.container(keyedBy: CodingKeys.self)
        recent = try c.decode([Double].self, forKey: .recent)
        count = try c.decode(Int.self, forKey: .count)
        reference = try c.decodeIfPresent(Double.self, forKey: .reference)
        guard recent.count <= ConvergenceRule.window, recent.allSatisfy({ $0 >= 0 && $0.isFinite }), count >= 0,
            (reference ?? 0) >= 0
        else {
            throw DecodingError.dataCorrupted(
                DecodingError.Context(codingPath: c.codingPath, debugDescription: "inconsistent drift level"))
        }
    }
}
