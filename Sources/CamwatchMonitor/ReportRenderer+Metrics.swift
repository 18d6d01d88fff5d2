import Foundation

extension ReportRenderer {
    /// A heatmap metric column of the `camwatch report` table.
    struct MetricColumn {
        var title: String
        var value: (Report.CheckpointMetrics) -> Double?
        var format: (Double) -> String
    }

    /// The heatmap metric columns any checkpoint has a value for: energy on the objects and Average Drop /
    /// Increase in Confidence in percent, deletion and insertion AUC.
    static func heatmapMetricColumns(_ report: Report) -> [MetricColumn] {
        let percent: (Double) -> String = { String(format: "%.1f", $0) }
        let all = [
            MetricColumn(title: "energy %", value: { $0.energy.map { 100 * $0 } }, format: percent),
            MetricColumn(title: "avg drop %", value: \.averageDrop, format: percent),
            MetricColumn(title: "increase %", value: \.increaseInConfidence, format: percent),
            MetricColumn(title: "deletion", value: \.deletion, format: { String(format: "%.3f", $0) }),
            MetricColumn(title: "insertion", value: \.insertion, format: { String(format: "%.3f", $0) }),
        ]
        let present = report.checkpoints.compactMap(\.metrics)
        return all.filter { column in present.contains { column.value($0) != nil } }
    }

    /// The cells of `columns` for one entry (`-` where it has no value).
    static func heatmapMetricCells(_ entry: Report.CheckpointEntry, _ columns: [MetricColumn]) -> [String] {
        columns.map { column in entry.metrics.flatMap(column.value).map(column.format) ?? "-" }
    }

    /// ` Where saliency settled: 78 % of heatmap energy on the objects …` (`sits now` while not stable), or
    /// an empty string when no checkpoint has metrics.
    static func metricsSentence(for report: Report) -> String {
        guard let summary = report.metricsSummary else { return "" }
        let lead = report.convergence.state == .stable ? "Where saliency settled" : "Where saliency sits now"
        return " \(lead): \(summary)."
    }
}
