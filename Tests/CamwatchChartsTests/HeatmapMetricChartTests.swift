import CamwatchImage
import CamwatchMonitor
import CamwatchSaliency
import CamwatchTestSupport
import Testing

@testable import CamwatchCharts

/// The heatmap metrics in the charts: a percent axis and line in drift.png, a row and per-cell labels in
/// timeline.png; nothing changes when a report has no metrics.
@Suite struct HeatmapMetricChartTests {
    /// `report` with every processed checkpoint's energy (each probe the same) and Average Drop set.
    static func withMetrics(_ report: Report, energy: Double, drop: Double) -> Report {
        var report = report
        for index in report.checkpoints.indices where report.checkpoints[index].status == .ok {
            let perProbe = Dictionary(uniqueKeysWithValues: report.probes.map { probe in
                var m = Report.ProbeMetrics(HeatmapMetrics(energy: energy), boxArea: 0.1)
                m.drop = drop
                m.increase = false
                return (probe.id, m)
            })
            report.checkpoints[index].metrics = Report.CheckpointMetrics(perProbe: perProbe)
        }
        return report
    }

    private func near(_ picture: Picture, x: Double, y: Double, _ color: Color) -> Bool {
        (-1...1).contains { dy in
            (-1...1).contains { dx in
                zip(picture.rgb(x: Int(x) + dx, y: Int(y) + dy), color.bytes).allSatisfy { abs(Int($0) - Int($1)) <= 40 }
            }
        }
    }

    @Test func driftChartDrawsEnergyAgainstAPercentAxis() throws {
        let plain = ChartFixtures.relativeReport(drifts: [0.3, 0.2, 0.1, 0.05, 0.04, 0.03])
        let report = Self.withMetrics(plain, energy: 0.75, drop: 0.2)
        let without = DriftChart.Layout(report: plain, options: .init())
        let layout = DriftChart.Layout(report: report, options: .init())
        #expect(!DriftChart.hasHeatmapAxis(plain) && DriftChart.hasHeatmapAxis(report))
        #expect(abs(without.plot.width - layout.plot.width - DriftChart.Layout.secondaryAxis) < 1e-9)
        let picture = try DriftChart.render(report: report)
        // Energy 75 % sits a quarter of the plot height below its top; Average Drop 20 % (dotted) lower.
        let x = (layout.x(slot: 2) + layout.x(slot: 3)) / 2
        #expect(near(picture, x: x, y: layout.plot.maxY - 0.75 * layout.plot.height, Palette.heatmapMetric))
        let lower = (-4...4).contains { dx in
            near(picture, x: x + Double(dx), y: layout.plot.maxY - 0.2 * layout.plot.height, Palette.heatmapMetric)
        }
        #expect(lower, "dotted Average Drop line")
        // The report without metrics has no such line there.
        let bare = try DriftChart.render(report: plain)
        #expect(!near(bare, x: x, y: without.plot.maxY - 0.75 * without.plot.height, Palette.heatmapMetric))
    }

    @Test func timelineHasAMetricsRowAndEachCellItsEnergy() throws {
        let plain = ChartFixtures.report(probes: 2, processed: 3)
        let report = Self.withMetrics(plain, energy: 0.42, drop: 0.1)
        let archive = ChartFixtures.archive(for: plain)
        let images = ChartFixtures.probeImages(for: plain)
        let options = TimelineChart.Options(cellSize: 64)
        let before = try TimelineChart.render(report: plain, archive: archive, probeImages: images, options: options)
        let after = try TimelineChart.render(report: report, archive: archive, probeImages: images, options: options)
        let plan = try TimelineChart.plan(report: report, options: options.clamped)
        #expect(plan.layout.metricsRow)
        // The row adds its height (the verdict, longer by the metrics sentence, may add header lines too).
        var withoutRow = plan.layout
        withoutRow.metricsRow = false
        #expect(after.height == plan.layout.height)
        #expect(plan.layout.height - withoutRow.height == Int(TimelineChart.Layout.metricsRowHeight))
        #expect(before.height == (try TimelineChart.plan(report: plain, options: options.clamped)).layout.height)
        #expect(TimelineChart.metricsCell(report.checkpoints[0].metrics) == "42% / 10%")
        #expect(TimelineChart.metricsCell(nil) == "- / -")
        // The label plate in a cell's lower left corner is the background colour, with dark text on it.
        let cell = plan.layout.cell(row: 0, column: 0)
        let plate = after.region(x: Int(cell.x), y: Int(cell.maxY) - 15, width: 26, height: 15)
        let white = stride(from: 0, to: plate.count, by: 3).filter { plate[$0] == 255 && plate[$0 + 1] == 255 }.count
        let dark = stride(from: 0, to: plate.count, by: 3).filter { plate[$0] < 100 && plate[$0 + 1] < 100 }.count
        #expect(white > 100 && dark > 10, "white \(white), dark \(dark)")
        let bare = before.region(x: Int(cell.x), y: Int(cell.maxY) - 15, width: 26, height: 15)
        #expect(bare != plate)
    }
}
