/// Whether batch-norm running statistics are still travelling somewhere, or only jittering where they are.
///
/// Running statistics are moving averages over the last batches. Once the weights stop, they keep changing for
/// two reasons: batch-to-batch noise, which makes consecutive changes point in unrelated or opposite directions
/// (for independent noise the cosine between two consecutive changes is about −0.5), and a slow average still
/// catching up with the weights (Keras's default momentum 0.99), which moves them the same way checkpoint after
/// checkpoint (cosine near +1) by a shrinking amount. Noise changes nothing the model computes on average; a
/// trend does — it is what moves validation accuracy after the weights have settled. So a trend is judged by how
/// far it still has to go: a geometric relaxation whose steps shrink by `shrink` per checkpoint travels
/// `step / (1 − shrink)` in all, this step included.
public struct StatisticsTrend: Sendable, Hashable, Codable {
    /// The cosine between this checkpoint's change of the statistics and the previous checkpoint's.
    public var cosine: Double
    /// ‖this change‖ / ‖previous change‖.
    public var shrink: Double

    /// Above this cosine, consecutive changes go one way: a trend, not noise.
    public static let trendCosine = 0.5

    public init(cosine: Double, shrink: Double) {
        self.cosine = cosine
        self.shrink = shrink
    }

    /// Whether the statistics move one way.
    public var isTrend: Bool { cosine > Self.trendCosine }

    /// For a trend, the relative change still to come, this step included (`drift / (1 − shrink)`; infinite when
    /// the steps do not shrink); `nil` for noise.
    public func remaining(drift: Double) -> Double? {
        guard isTrend else { return nil }
        return shrink < 1 ? drift / (1 - shrink) : .infinity
    }

    /// The trend between two consecutive changes; `nil` when either is all zero or they share no tensor.
    public static func between(previous: [String: [Float]], current: [String: [Float]]) -> StatisticsTrend? {
        var dot = 0.0, before = 0.0, now = 0.0
        for name in current.keys.sorted() {
            guard let old = previous[name], let new = current[name], old.count == new.count else { continue }
            for (a, b) in zip(old, new) {
                dot += Double(a) * Double(b)
                before += Double(a) * Double(a)
                now += Double(b) * Double(b)
            }
        }
        guard before > 0, now > 0 else { return nil }
        let trend = StatisticsTrend(cosine: dot / (before * now).squareRoot(), shrink: (now / before).squareRoot())
        return trend.cosine.isFinite && trend.shrink.isFinite ? trend : nil
    }

    enum CodingKeys: String, CodingKey {
        case cosine, shrink
    }
}
