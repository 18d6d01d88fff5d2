public import CamwatchTensor

/// How much one probe's heatmap moved between two checkpoints (docs/architecture.md §5).
///
/// All three numbers compare two heatmaps of the same size, values in [0, 1], row-major, and are
/// computed in `Double`. None is ever NaN.
public struct DriftMetrics: Sendable, Equatable, Codable {
    /// `1 − r`, r the Pearson correlation of the two maps, in [0, 2]. Both maps constant: 0 (nothing
    /// moved that correlation could see); exactly one constant: 1 (r taken as 0, no linear relation).
    public var drift: Double
    /// The mean absolute difference, in [0, 1] for maps in [0, 1].
    public var l1: Double
    /// Intersection over union of the two top-20 % regions (see `topRegion(_:)`), in [0, 1].
    public var iou: Double

    /// Creates metrics from known values (e.g. decoded from a report).
    public init(drift: Double, l1: Double, iou: Double) {
        self.drift = drift
        self.l1 = l1
        self.iou = iou
    }

    /// Compares the heatmap of a probe at the previous checkpoint with the current one.
    ///
    /// - Parameters:
    ///   - previous: `[H · W]` values, row-major.
    ///   - current: `[H · W]` values, row-major, the same size as `previous`.
    /// - Throws: `MonitorError` (`.mismatch`) when the maps differ in size, are empty or hold NaN or
    ///   infinity: a drift from such maps would be meaningless rather than large.
    public init(previous: [Float], current: [Float]) throws(MonitorError) {
        guard previous.count == current.count else {
            throw MonitorError(
                .mismatch, reason: "heatmaps differ in size (\(previous.count) vs \(current.count) values)")
        }
        guard !previous.isEmpty else { throw MonitorError(.mismatch, reason: "heatmaps are empty") }
        guard previous.allSatisfy(\.isFinite), current.allSatisfy(\.isFinite) else {
            throw MonitorError(.mismatch, reason: "a heatmap holds NaN or infinity")
        }
        drift = 1 - Self.correlation(previous, current)
        var absolute = 0.0
        for i in previous.indices { absolute += abs(Double(previous[i]) - Double(current[i])) }
        l1 = absolute / Double(previous.count)
        let a = Self.topRegion(previous)
        let b = Self.topRegion(current)
        var intersection = 0
        var union = 0
        for i in a.indices {
            if a[i] && b[i] { intersection += 1 }
            if a[i] || b[i] { union += 1 }
        }
        // A region is never empty (see topRegion), so union > 0.
        iou = Double(intersection) / Double(max(union, 1))
    }

    /// Pearson r, clamped to [−1, 1] against rounding; 1 when both maps are constant, 0 when one is.
    static func correlation(_ a: [Float], _ b: [Float]) -> Double {
        // Constancy is decided on the stored values: a mean accumulated in Double can differ from a
        // constant by an ulp, and the deviations it leaves would make up a correlation out of rounding.
        let aConstant = a.min() == a.max()
        let bConstant = b.min() == b.max()
        if aConstant && bConstant { return 1 }
        if aConstant || bConstant { return 0 }
        let n = Double(a.count)
        var sumA = 0.0
        var sumB = 0.0
        for i in a.indices {
            sumA += Double(a[i])
            sumB += Double(b[i])
        }
        let meanA = sumA / n
        let meanB = sumB / n
        var ab = 0.0
        var aa = 0.0
        var bb = 0.0
        for i in a.indices {
            let da = Double(a[i]) - meanA
            let db = Double(b[i]) - meanB
            ab += da * db
            aa += da * da
            bb += db * db
        }
        let denominator = (aa * bb).squareRoot()
        guard denominator > 0 else { return 0 }
        return min(1, max(-1, ab / denominator))
    }

    /// The top-20 % region of a map: the pixels at or above its 80th percentile.
    ///
    /// The 80th percentile is numpy's default (`np.percentile(v, 80)`, linear interpolation); since the
    /// interpolated value lies strictly between two neighbouring sorted values, or on one, the region is
    /// exactly the pixels `≥ t` where `t` is the sorted value at index `⌈0.8 (n − 1)⌉` — the same set
    /// `v >= np.percentile(v, 80)` selects, decided on stored values with no rounding. Ties at `t` are
    /// all in. When `t` is the map's minimum but the map is not constant (more than 80 % of a ReLU'd map
    /// sits on its floor), the region is the pixels above the minimum instead: the floor carries no
    /// saliency, and taking it would make the region the whole image. A constant map's region is every
    /// pixel. The region is never empty.
    /// - Parameter values: `[H · W]`, non-empty.
    /// - Returns: one flag per pixel.
    public static func topRegion(_ values: [Float]) -> [Bool] {
        precondition(!values.isEmpty, "topRegion of an empty map")
        let sorted = values.sorted()
        let n = sorted.count
        // ⌈4 (n − 1) / 5⌉ in integers.
        let index = (4 * (n - 1) + 4) / 5
        let threshold = sorted[index]
        let minimum = sorted[0]
        if minimum == sorted[n - 1] { return [Bool](repeating: true, count: n) }
        if threshold == minimum { return values.map { $0 > minimum } }
        return values.map { $0 >= threshold }
    }

    /// The relative weight change `‖w_i − w_{i−1}‖ / ‖w_{i−1}‖` between two checkpoints (docs/architecture.md §5).
    ///
    /// The norm is the Frobenius norm over every learned tensor named in both checkpoints with the same
    /// shape, accumulated in `Double` in name order so the result does not depend on dictionary order.
    /// Tensors present in only one checkpoint, or with a changed shape, are left out, and so are
    /// batch-norm statistics (`isRunningStatistic`): they are averages over the last batches, not learned,
    /// and the first epoch's jump from their initial values (mean 0, variance 1) would dwarf everything
    /// after. They are a signal of their own, `statisticsDrift`.
    /// - Returns: the ratio, `0` when nothing changed, or `nil` when no tensor is comparable or the
    ///   previous weights are all zero while the current ones are not (the ratio would be infinite).
    public static func weightDrift(previous: [String: Tensor], current: [String: Tensor]) -> Double? {
        relativeChange(previous: previous, current: current) { !isRunningStatistic($0) }
    }

    /// The same relative change over the batch-norm running means and variances only (PyTorch's
    /// `running_mean` / `running_var`, Keras's `moving_mean` / `moving_variance`): they set what the network
    /// computes at inference as much as the weights do, and keep moving after the weights stop when their
    /// averaging is slow (Keras's default momentum 0.99).
    /// - Returns: the ratio, or `nil` when the network keeps no running statistics (or as `weightDrift`).
    public static func statisticsDrift(previous: [String: Tensor], current: [String: Tensor]) -> Double? {
        relativeChange(previous: previous, current: current) { isRunningStatistic($0) && !isBatchCounter($0) }
    }

    /// The change of the running statistics between two checkpoints, `current − previous` per tensor (only those
    /// present in both with the same shape): what `StatisticsTrend` compares with the change before it.
    public static func statisticsStep(previous: [String: Tensor], current: [String: Tensor]) -> [String: [Float]] {
        var step: [String: [Float]] = [:]
        for (name, old) in previous where isRunningStatistic(name) && !isBatchCounter(name) {
            guard let new = current[name], new.shape == old.shape else { continue }
            step[name] = zip(new.scalars, old.scalars).map { $0 - $1 }
        }
        return step
    }

    /// `‖b − a‖ / ‖a‖` over the tensors `included` by name, present in both with the same shape.
    private static func relativeChange(
        previous: [String: Tensor], current: [String: Tensor], included: (String) -> Bool
    ) -> Double? {
        var difference = 0.0
        var reference = 0.0
        var compared = 0
        for name in previous.keys.sorted() where included(name) {
            guard let old = previous[name], let new = current[name], old.shape == new.shape else { continue }
            compared += 1
            old.scalars.withUnsafeBufferPointer { o in
                new.scalars.withUnsafeBufferPointer { c in
                    for i in 0..<o.count {
                        let before = Double(o[i])
                        let delta = Double(c[i]) - before
                        difference += delta * delta
                        reference += before * before
                    }
                }
            }
        }
        guard compared > 0 else { return nil }
        if reference == 0 { return difference == 0 ? 0 : nil }
        let ratio = (difference / reference).squareRoot()
        return ratio.isFinite ? ratio : nil
    }
}

extension DriftMetrics {
    /// Whether a checkpoint tensor holds batch-norm running statistics rather than learned weights:
    /// PyTorch's `running_mean` / `running_var` / `num_batches_tracked`, Keras's `moving_mean` /
    /// `moving_variance` (also as `moving_mean:0`), as the last component of a dotted or slashed name.
    public static func isRunningStatistic(_ name: String) -> Bool {
        ["running_mean", "running_var", "num_batches_tracked", "moving_mean", "moving_variance"].contains(baseName(name))
    }

    /// PyTorch's `num_batches_tracked`: a counter, not a statistic.
    static func isBatchCounter(_ name: String) -> Bool { baseName(name) == "num_batches_tracked" }

    /// The last component of a dotted or slashed name, without a `:0` suffix.
    private static func baseName(_ name: String) -> String {
        let last = name.split(whereSeparator: { $0 == "." || $0 == "/" }).last.map(String.init) ?? name
        return last.split(separator: ":").first.map(String.init) ?? last
    }
}

/// How much a whole checkpoint's heatmaps moved: the mean and maximum of the per-probe drift.
public struct CheckpointDrift: Sendable, Equatable, Codable {
    /// The mean of the per-probe `drift`: the checkpoint drift the convergence state machine uses.
    public var mean: Double
    /// The largest per-probe `drift`.
    public var max: Double
    /// The metrics of every probe compared, by probe id.
    public var perProbe: [String: DriftMetrics]

    enum CodingKeys: String, CodingKey {
        case mean, max
        case perProbe = "per_probe"
    }

    /// Summarizes per-probe metrics; `nil` when there are none.
    public init?(perProbe: [String: DriftMetrics]) {
        guard !perProbe.isEmpty else { return nil }
        // Summed in id order, so the mean does not depend on dictionary order.
        let drifts = perProbe.keys.sorted().compactMap { perProbe[$0]?.drift }
        self.mean = drifts.reduce(0, +) / Double(drifts.count)
        self.max = drifts.reduce(0, Swift.max)
        self.perProbe = perProbe
    }

    /// Compares the heatmaps of every probe present at both checkpoints.
    ///
    /// - Parameters:
    ///   - previous: heatmaps `[H · W]` by probe id at the previous processed checkpoint.
    ///   - current: heatmaps by probe id at this checkpoint.
    /// - Returns: the summary, or `nil` when no probe has a heatmap at both.
    /// - Throws: `MonitorError` naming the probe whose two heatmaps cannot be compared.
    public static func between(
        previous: [String: [Float]], current: [String: [Float]]
    ) throws(MonitorError) -> CheckpointDrift? {
        var metrics: [String: DriftMetrics] = [:]
        for (probe, now) in current {
            guard let before = previous[probe] else { continue }
            do throws(MonitorError) {
                metrics[probe] = try DriftMetrics(previous: before, current: now)
            } catch {
                throw MonitorError(error.kind, path: error.path, reason: "probe '\(probe)': \(error.reason)")
            }
        }
        return CheckpointDrift(perProbe: metrics)
    }
}
