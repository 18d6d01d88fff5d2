import CamwatchMonitor
import Foundation

extension TimelineChart {
    /// Whether any shown checkpoint has heatmap metrics: then a row under the state band gives, per column,
    /// the mean share of heatmap energy on the objects and Average Drop, and each cell its probe's energy.
    static func hasMetricsRow(_ shown: [Report.CheckpointEntry]) -> Bool {
        shown.contains { $0.metrics.map { $0.energy != nil || $0.averageDrop != nil } ?? false }
    }

    /// `78% / 12%` (energy on the objects / Average Drop), `-` for a value not there.
    static func metricsCell(_ metrics: Report.CheckpointMetrics?) -> String {
        func percent(_ value: Double?) -> String { value.map { "\(Int(($0).rounded()))%" } ?? "-" }
        return "\(percent(metrics?.energy.map { 100 * $0 })) / \(percent(metrics?.averageDrop))"
    }

    /// The row's label at the left and the value under each column.
    static func drawMetricsRow(_ canvas: Canvas, layout: Layout, shown: [Report.CheckpointEntry]) {
        let strip = Layout.margin + layout.labelWidth - 8
        canvas.text(
            "energy / drop", x: strip, baseline: layout.metricsBaseline, Fonts.small, Palette.secondaryText, align: .right)
        for (column, entry) in shown.enumerated() {
            let cell = layout.cell(row: 0, column: column)
            canvas.text(
                canvas.fitted(metricsCell(entry.metrics), width: cell.width, Fonts.small), x: cell.midX,
                baseline: layout.metricsBaseline, Fonts.small, Palette.text, align: .center)
        }
    }

    /// The probe's share of heatmap energy in its box, in the cell's lower left corner on a light plate.
    static func drawCellEnergy(_ canvas: Canvas, rect: Rect, energy: Double?) {
        guard let energy, energy.isFinite else { return }
        let text = "\(Int((100 * energy).rounded()))%"
        let width = canvas.textWidth(text, Fonts.smallBold) + 6
        canvas.fill(Rect(x: rect.x, y: rect.maxY - 15, width: width, height: 15), Palette.background)
        canvas.text(text, x: rect.x + 3, baseline: rect.maxY - 4, Fonts.smallBold, Palette.text)
    }
}
