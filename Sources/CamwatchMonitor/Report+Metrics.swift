public import CamwatchSaliency
import Foundation

extension Report {
    /// The heatmap metrics of one checkpoint (`metrics` in an entry of report.json): per probe, and the means
    /// over the probes that have each.
    ///
    /// `energy` is a share in [0, 1]; `average_drop` and `increase_in_confidence` are percentages
    /// (Chattopadhay et al.: `100 · mean(max(0, Y − O) / Y)` and `100 · mean(O > Y)`); `deletion` and
    /// `insertion` are areas under the curves, in [0, 1]. A mean is `null` when no probe has the metric.
    public struct CheckpointMetrics: Sendable, Equatable, Codable {
        public var perProbe: [String: ProbeMetrics]
        @ExplicitNull public var energy: Double?
        @ExplicitNull public var averageDrop: Double?
        @ExplicitNull public var increaseInConfidence: Double?
        @ExplicitNull public var deletion: Double?
        @ExplicitNull public var insertion: Double?
        /// Pixels per deletion/insertion step, when those were computed.
        @ExplicitNull public var step: Int?

        enum CodingKeys: String, CodingKey {
            case energy, deletion, insertion, step
            case perProbe = "per_probe"
            case averageDrop = "average_drop"
            case increaseInConfidence = "increase_in_confidence"
        }

        /// Summarizes per-probe metrics: the means over the probes that have each.
        public init(perProbe: [String: ProbeMetrics], step: Int? = nil) {
            self.perProbe = perProbe
            self.step = step
            func mean(_ values: [Double]) -> Double? {
                values.isEmpty ? nil : values.reduce(0, +) / Double(values.count)
            }
            // In probe-id order: a dictionary's order changes from process to process, and so would the last
            // digit of each mean.
            let probes = perProbe.sorted { $0.key < $1.key }.map(\.value)
            energy = mean(probes.compactMap(\.energy))
            averageDrop = mean(probes.compactMap(\.drop)).map { 100 * $0 }
            increaseInConfidence = mean(probes.compactMap(\.increase).map { $0 ? 1 : 0 }).map { 100 * $0 }
            deletion = mean(probes.compactMap(\.deletion))
            insertion = mean(probes.compactMap(\.insertion))
        }
    }

    /// One probe's heatmap metrics at one checkpoint; `nil` where not computed or not defined.
    public struct ProbeMetrics: Sendable, Equatable, Codable {
        /// Share of the heatmap's energy inside the probe's box.
        @ExplicitNull public var energy: Double?
        /// `Y`: softmax probability of the class on the probe.
        @ExplicitNull public var confidence: Double?
        /// `O`: the same on the probe multiplied by its heatmap.
        @ExplicitNull public var explanationConfidence: Double?
        /// `max(0, Y − O) / Y`.
        @ExplicitNull public var drop: Double?
        /// `O > Y`.
        @ExplicitNull public var increase: Bool?
        /// The share of the input's pixels inside the box (the energy of an even heatmap).
        @ExplicitNull public var boxArea: Double?
        /// Deletion and insertion AUC.
        @ExplicitNull public var deletion: Double?
        @ExplicitNull public var insertion: Double?

        enum CodingKeys: String, CodingKey {
            case energy, confidence, drop, increase, deletion, insertion
            case explanationConfidence = "explanation_confidence"
            case boxArea = "box_area"
        }

        public init(_ metrics: HeatmapMetrics, boxArea: Double? = nil) {
            self.boxArea = boxArea
            energy = metrics.energy
            confidence = metrics.confidence.map { Double($0.original) }
            explanationConfidence = metrics.confidence.map { Double($0.explanation) }
            drop = metrics.confidence?.drop
            increase = metrics.confidence?.increased
            deletion = metrics.deletion?.area
            insertion = metrics.insertion?.area
        }
    }

    /// The heatmap metrics of the last processed checkpoint that has them.
    public var latestMetrics: (entry: CheckpointEntry, metrics: CheckpointMetrics)? {
        for entry in checkpoints.reversed() where entry.status == .ok {
            if let metrics = entry.metrics { return (entry, metrics) }
        }
        return nil
    }

    /// Where saliency sits at the last checkpoint with metrics, for the verdict line: e.g.
    /// `30 % of heatmap energy on the objects (they cover 8 % of the images); Average Drop 12 %, Increase in
    /// Confidence 30 %; probe-06 is barely on its object (4 % of its heatmap on a box covering 3 % of the image)`.
    /// `nil` when no checkpoint has metrics.
    public var metricsSummary: String? {
        guard let (_, metrics) = latestMetrics else { return nil }
        var parts: [String] = []
        if let energy = metrics.energy {
            var text = "\(Self.percent(energy)) % of heatmap energy on the objects"
            if let area = Self.boxAreaShare(metrics) { text += " (they cover \(Self.percent(area)) % of the images)" }
            parts.append(text)
        }
        if let drop = metrics.averageDrop {
            var text = "Average Drop \(Self.percent(drop / 100)) %"
            if let increase = metrics.increaseInConfidence { text += ", Increase in Confidence \(Self.percent(increase / 100)) %" }
            parts.append(text)
        }
        if let deletion = metrics.deletion { parts.append("deletion AUC \(Self.fraction(deletion))") }
        if let insertion = metrics.insertion { parts.append("insertion AUC \(Self.fraction(insertion))") }
        // The probe whose heatmap sits least on its object for the object's size, when an even spread would
        // do about as well: its energy at most twice its box's share of the image.
        let lifts = probes.map(\.id).compactMap { id -> (id: String, energy: Double, area: Double)? in
            guard let m = metrics.perProbe[id], let energy = m.energy, let area = m.boxArea, area > 0 else { return nil }
            return (id, energy, area)
        }
        if let worst = lifts.min(by: { $0.energy / $0.area < $1.energy / $1.area }), worst.energy < 2 * worst.area {
            parts.append(
                "\(worst.id) is barely on its object (\(Self.percent(worst.energy)) % of its heatmap on a box covering "
                    + "\(Self.percent(worst.area)) % of the image)")
        }
        return parts.isEmpty ? nil : parts.joined(separator: "; ")
    }

    /// The mean share of the input that a probe's box covers, over the probes with a box; what a heatmap
    /// spread evenly would score on the energy game. `nil` when no probe has a box.
    public static func boxAreaShare(_ metrics: CheckpointMetrics) -> Double? {
        let shares = metrics.perProbe.sorted { $0.key < $1.key }.compactMap(\.value.boxArea)
        return shares.isEmpty ? nil : shares.reduce(0, +) / Double(shares.count)
    }

    static func percent(_ share: Double) -> String { String(Int((share * 100).rounded())) }
    static func fraction(_ value: Double) -> String { String(format: "%.2f", value) }
}
