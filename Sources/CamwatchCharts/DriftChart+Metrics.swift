import CamwatchMonitor
import Foundation

extension DriftChart {
    /// The heatmap metrics drawn against a 0–100 % axis of their own: the mean share of heatmap energy on the
    /// objects (solid) and Average Drop (dotted), per slot; empty series when no checkpoint has them.
    static func heatmapSeries(_ report: Report) -> (energy: [(slot: Int, value: Double)], drop: [(slot: Int, value: Double)]) {
        var energy: [(slot: Int, value: Double)] = []
        var drop: [(slot: Int, value: Double)] = []
        for (slot, entry) in report.checkpoints.enumerated() where entry.status == .ok {
            if let value = entry.metrics?.energy, value.isFinite { energy.append((slot, value)) }
            if let value = entry.metrics?.averageDrop, value.isFinite { drop.append((slot, value / 100)) }
        }
        return (energy, drop)
    }

    /// Whether the chart has the percent axis.
    static func hasHeatmapAxis(_ report: Report) -> Bool {
        let series = heatmapSeries(report)
        return !series.energy.isEmpty || !series.drop.isEmpty
    }

    /// The legend entries of the heatmap metrics: (name, dashed).
    static func heatmapLegend(_ report: Report) -> [(name: String, dash: [Double])] {
        let series = heatmapSeries(report)
        var entries: [(name: String, dash: [Double])] = []
        if !series.energy.isEmpty { entries.append(("energy on objects (right, %)", [])) }
        if !series.drop.isEmpty { entries.append(("Average Drop (right, %)", [1.5, 2.5])) }
        return entries
    }

    /// The percent axis at `axisX` with its ticks, and the two lines.
    static func drawHeatmapMetrics(_ canvas: Canvas, report: Report, layout: Layout, axisX: Double) {
        let series = heatmapSeries(report)
        guard !series.energy.isEmpty || !series.drop.isEmpty else { return }
        let plot = layout.plot
        func y(_ share: Double) -> Double { plot.maxY - min(max(share, 0), 1) * plot.height }
        canvas.line([(axisX, plot.y), (axisX, plot.maxY)], Palette.heatmapMetric, lineWidth: 1)
        for percent in stride(from: 0, through: 100, by: 25) {
            let tick = y(Double(percent) / 100).rounded() + 0.5
            canvas.line([(axisX, tick), (axisX + 4, tick)], Palette.heatmapMetric, lineWidth: 1)
            canvas.text("\(percent)%", x: axisX + 6, baseline: tick + 4, Fonts.small, Palette.heatmapMetric)
        }
        canvas.line(series.energy.map { (layout.x(slot: $0.slot), y($0.value)) }, Palette.heatmapMetric, lineWidth: 2)
        canvas.line(
            series.drop.map { (layout.x(slot: $0.slot), y($0.value)) }, Palette.heatmapMetric, lineWidth: 1.5,
            dash: [1.5, 2.5])
    }
}
