import CamwatchMonitor
import Foundation
import CamwatchTestSupport
import Testing

@testable import CamwatchCharts

@Suite struct DriftChartTests {
    /// How many pixels of row `y` between `from` and `to` are within 12 of `color` in every channel.
    private func count(_ picture: Picture, row y: Int, from: Int, to: Int, _ color: Color) -> Int {
        let target = color.bytes
        return (from..<to).filter { x in
            zip(picture.rgb(x: x, y: y), target).allSatisfy { abs(Int($0) - Int($1)) <= 12 }
        }.count
    }

    private func matches(_ picture: Picture, x: Double, y: Double, _ color: Color, tolerance: Int = 12) -> Bool {
        zip(picture.rgb(x: Int(x), y: Int(y)), color.bytes).allSatisfy { abs(Int($0) - Int($1)) <= tolerance }
    }

    /// Whether a pixel within one of (`x`, `y`) has `color` (antialiased lines cover pixels partly).
    private func near(_ picture: Picture, x: Double, y: Double, _ color: Color, tolerance: Int) -> Bool {
        (-1...1).contains { dy in
            (-1...1).contains { dx in
                matches(picture, x: x + Double(dx), y: y + Double(dy), color, tolerance: tolerance)
            }
        }
    }

    @Test func sizeFollowsOptions() throws {
        let report = ChartFixtures.report(probes: 3, processed: 6)
        let standard = try DriftChart.render(report: report)
        #expect(standard.width == 800 && standard.height == 420)
        #expect(standard.rgba.count == 800 * 420 * 4)
        let custom = try DriftChart.render(report: report, options: .init(width: 640, height: 300))
        #expect(custom.width == 640 && custom.height == 300)
        let tiny = try DriftChart.render(report: report, options: .init(width: 10, height: -5))
        #expect(tiny.width == 320 && tiny.height == 240)
    }

    @Test func thresholdIsADashedLineAtItsValue() throws {
        let options = DriftChart.Options()
        var rows: [Double: Int] = [:]
        for threshold in [0.02, 0.1] {
            let report = ChartFixtures.report(probes: 3, processed: 8, threshold: threshold)
            let picture = try DriftChart.render(report: report, options: options)
            let layout = DriftChart.Layout(report: report, options: options)
            let plot = layout.plot
            // The row inside the plot with the most threshold-coloured pixels.
            let counts = (Int(plot.y)..<Int(plot.maxY)).map { y in
                (y, count(picture, row: y, from: Int(plot.x) + 2, to: Int(plot.maxX), Palette.threshold))
            }
            let best = try #require(counts.max { $0.1 < $1.1 })
            let expected = Int(layout.thresholdY(threshold))
            #expect(best.0 == expected - 1 || best.0 == expected)
            // Dashed: 7 on, 4 off, so about 64 % of the row, never all of it.
            let share = Double(best.1) / plot.width
            #expect(share > 0.45 && share < 0.8)
            rows[threshold] = best.0
        }
        #expect(try #require(rows[0.1]) < (try #require(rows[0.02])) - 20)
    }

    @Test func meanAndMaxDriftAreDrawnThroughTheirValues() throws {
        let report = ChartFixtures.report(probes: 3, processed: 8, failedAfter: [3])
        let picture = try DriftChart.render(report: report)
        let layout = DriftChart.Layout(report: report, options: .init())
        var checked = 0
        for (slot, entry) in report.checkpoints.enumerated() {
            guard let drift = entry.drift else { continue }
            let x = layout.x(slot: slot)
            // The dot on the mean line is solid at its centre; the thinner max line is antialiased.
            let onMean = matches(picture, x: x, y: layout.y(drift.mean), Palette.meanDrift)
            let onMax = near(picture, x: x, y: layout.y(drift.max), Palette.maxDrift, tolerance: 20)
            #expect(onMean, "mean drift of \(entry.name)")
            #expect(onMax, "max drift of \(entry.name)")
            checked += 1
        }
        #expect(checked == 7)
        // Above the largest drift the plot holds no curve.
        let top = layout.y(0.45)
        let curveAbove = count(
            picture, row: Int(top), from: Int(layout.plot.x), to: Int(layout.plot.maxX), Palette.meanDrift)
        #expect(curveAbove == 0)
        // The failed checkpoint (slot 4) is a red cross on the x axis.
        let red = (Int(layout.plot.maxY) - 5..<Int(layout.plot.maxY) + 5).map { y in
            count(picture, row: y, from: Int(layout.x(slot: 4)) - 6, to: Int(layout.x(slot: 4)) + 7, Palette.failed)
        }
        #expect(red.reduce(0, +) > 10)
    }

    @Test func convergenceIsAGreenVerticalLine() throws {
        let report = ChartFixtures.report(probes: 2, processed: 20)
        let convergedID = try #require(report.convergence.convergedAt?.id)
        let slot = try #require(report.checkpoints.firstIndex { $0.id == convergedID })
        let picture = try DriftChart.render(report: report)
        let layout = DriftChart.Layout(report: report, options: .init())
        let x = layout.x(slot: slot).rounded()
        let column = (Int(layout.plot.y) + 20..<Int(layout.plot.maxY) - 20).filter {
            matches(picture, x: x, y: Double($0), Palette.converged, tolerance: 40)
        }.count
        #expect(column > Int(layout.plot.height) - 60)
        // Not stable: no green line anywhere in the plot.
        let changing = ChartFixtures.report(probes: 2, processed: 4)
        let other = try DriftChart.render(report: changing)
        let rowY = Int(layout.plot.midY)
        let green = count(other, row: rowY, from: Int(layout.plot.x), to: Int(layout.plot.maxX), Palette.converged)
        #expect(green == 0)
    }

    @Test func fewerThanTwoCheckpointsGiveEmptyAxesAndANote() throws {
        for processed in [0, 1] {
            let report = ChartFixtures.report(probes: 2, processed: processed, failedAfter: [0])
            let picture = try DriftChart.render(report: report)
            let layout = DriftChart.Layout(report: report, options: .init())
            #expect(picture.width == 800 && picture.height == 420)
            let plot = layout.plot
            let middle = Int(plot.midY)
            // No curve, but the note's box and text at the centre of the plot.
            let curve = (Int(plot.y)..<Int(plot.maxY)).map { y in
                count(picture, row: y, from: Int(plot.x), to: Int(plot.maxX), Palette.meanDrift)
            }.reduce(0, +)
            #expect(curve == 0)
            let box = count(picture, row: middle - 12, from: Int(plot.x), to: Int(plot.maxX), Palette.grid)
            #expect(box > 150)
            let text = picture.darkPixels(x: Int(plot.midX) - 100, y: middle - 8, width: 200, height: 14, below: 180)
            #expect(text > 100)
        }
    }

    @Test("the drift axis is logarithmic over whole decades; zero sits on the bottom")
    func driftAxisIsLogarithmic() throws {
        for (values, low, high) in [
            ([0.42, 0.003], -3.0, log10(0.5)), ([0.3], -1.0, 0.0), ([0.025, 0.0049], -3.0, log10(0.05)),
            ([1.7, 0.2], -1.0, log10(2)), ([1e-9, 1.0], -4.0, 0.0), ([], -2.0, 0.0),
        ] {
            let decades = DriftChart.Layout.decades(values, floor: -4)
            #expect(decades.low == low && abs(decades.high - high) < 1e-9, "decades for \(values): \(decades)")
        }
        let report = ChartFixtures.report(probes: 3, processed: 8)
        let layout = DriftChart.Layout(report: report, options: .init())
        // Equal ratios are equal distances: 0.01 → 0.1 spans as many pixels as 0.1 → 1 (when both are on the axis).
        let decade = layout.y(0.01) - layout.y(0.1)
        #expect(decade > 20)
        #expect(abs(layout.y(0.02) - layout.y(0.2) - decade) < 1e-9)
        #expect(abs(layout.y(0.001) - layout.y(0.01) - decade) < 1e-9 || layout.logLow > -3)
        #expect(layout.y(0) == layout.plot.maxY)
        #expect(DriftChart.decadeLabel(-2) == "0.01" && DriftChart.decadeLabel(0) == "1" && DriftChart.decadeLabel(-5) == "1e-05")
    }

    /// Drift high for five checkpoints, then halving: the relative rule settles near the end.
    static let relativeDrifts = [0.3, 0.28, 0.32, 0.3, 0.29, 0.15, 0.07, 0.035, 0.017, 0.008]

    @Test("relative rule: the dashed bound is settle_ratio × the reference level the tracker held, per checkpoint")
    func relativeBoundIsDrawnAtTheTrackersLevel() throws {
        let report = ChartFixtures.relativeReport(drifts: Self.relativeDrifts)
        #expect(report.convergence.state == .stable, "the fixture should settle: \(report.convergence.state)")
        let levels = DriftChart.referenceLevels(report)
        // A level wherever the tracker had a reference (from the third drift on: a median of 3).
        #expect(levels.count == report.checkpoints.filter { $0.convergence?.driftRatio != nil }.count)
        #expect(levels.count == Self.relativeDrifts.count - 2)
        // The reference recovered from each entry's drift ratio is the tracker's own reference level.
        let reference = try #require(report.convergence.saliency.reference)
        let last = try #require(levels.last)
        #expect(abs((last.reference ?? 0) - reference) < 1e-12)
        #expect(abs(last.bound - report.convergence.rule.settleRatio * reference) < 1e-12)
        let layout = DriftChart.Layout(report: report, options: .init())
        let picture = try DriftChart.render(report: report)
        let y = Int(layout.thresholdY(last.bound))
        let x = Int(layout.x(slot: report.checkpoints.count - 1))
        let orange = (y - 1...y).map { count(picture, row: $0, from: x - 30, to: x, Palette.threshold) }.max() ?? 0
        #expect(orange >= 10, "dashed bound at y \(y): \(orange) orange pixels")
        // Absolute rule: the threshold at every slot.
        let absolute = ChartFixtures.report(probes: 2, processed: 5, threshold: 0.05)
        #expect(DriftChart.referenceLevels(absolute).allSatisfy { $0.bound == 0.05 && $0.reference == nil })
    }

    @Test("the learning rate and val_acc are drawn against axes of their own on the right, only when present")
    func learningRateAndValidationMetricOnSecondAxes() throws {
        let rates = [0.1, 0.1, 0.1, 0.1, 0.1, 0.1, 0.01, 0.01, 0.001, 0.001, 0.001]
        let accuracy = [0.3, 0.5, 0.6, 0.7, 0.75, 0.8, 0.85, 0.88, 0.9, 0.9, 0.91]
        let report = ChartFixtures.relativeReport(drifts: Self.relativeDrifts, lr: rates, valAcc: accuracy)
        let plain = DriftChart.Layout(report: ChartFixtures.relativeReport(drifts: Self.relativeDrifts), options: .init())
        let layout = DriftChart.Layout(report: report, options: .init())
        #expect(plain.learningRateRange == nil && plain.metricRange == nil)
        #expect(abs(plain.plot.width - layout.plot.width - 2 * DriftChart.Layout.secondaryAxis) < 1e-9)
        let range = try #require(layout.learningRateRange)
        #expect(range.low == -3 && range.high == -1)
        #expect(DriftChart.validationMetric(report)?.name == "val_acc")
        let picture = try DriftChart.render(report: report)
        // Between slots 6 and 7 the learning rate is flat at 0.01 (mid-axis).
        let lrX = (layout.x(slot: 6) + layout.x(slot: 7)) / 2
        let lrY = try #require(layout.learningRateY(0.01))
        #expect(abs(lrY - layout.plot.midY) < 1e-9)
        #expect(near(picture, x: lrX, y: lrY, Palette.learningRate, tolerance: 40), "lr line at (\(lrX), \(lrY))")
        // Between slots 2 and 3 val_acc rises from 0.6 to 0.7.
        let x = (layout.x(slot: 2) + layout.x(slot: 3)) / 2
        let y2 = try #require(layout.metricY(0.6)), y3 = try #require(layout.metricY(0.7))
        let metricY = try #require(layout.metricY((0.6 + 0.7) / 2))
        #expect(abs(metricY - (y2 + y3) / 2) < 1e-9, "linear metric axis")
        // The metric line is dashed: look along a few pixels of the segment.
        let onMetric = (-4...4).contains { dx in
            let px = x + Double(dx)
            let py = y2 + (y3 - y2) * (px - layout.x(slot: 2)) / layout.spacing
            return near(picture, x: px, y: py, Palette.metric, tolerance: 40)
        }
        #expect(onMetric, "val_acc line near (\(x), \(metricY))")
    }

    @Test func xLabelsPreferEpochsThenStepsThenOrder() {
        #expect(DriftChart.xLabels(ChartFixtures.report(probes: 1, processed: 3)) == ("epoch", [1, 2, 3]))
        #expect(
            DriftChart.xLabels(ChartFixtures.report(probes: 1, processed: 3, epochs: false))
                == ("step", [100, 200, 300]))
        var mixed = ChartFixtures.report(probes: 1, processed: 3, epochs: false)
        mixed.checkpoints[1].step = nil
        #expect(DriftChart.xLabels(mixed) == ("checkpoint (processing order)", [1, 2, 3]))
    }

    @Test func xLabelsAreRoundNumbersThatDoNotOverlap() {
        // 24 epochs fit: every one is named.
        let short = ChartFixtures.report(probes: 1, processed: 24)
        let shortLayout = DriftChart.Layout(report: short, options: .init())
        let (_, shortValues) = DriftChart.xLabels(short)
        #expect(
            DriftChart.labelledSlots(short, values: shortValues, layout: shortLayout, minimumGap: 26)
                == Array(0..<24))

        // 600 epochs with failures at 800 pixels: multiples of 50, no failed slot, none closer than the gap.
        let long = ChartFixtures.report(probes: 1, processed: 600, failedAfter: [99, 300])
        let layout = DriftChart.Layout(report: long, options: .init())
        let (_, values) = DriftChart.xLabels(long)
        let slots = DriftChart.labelledSlots(long, values: values, layout: layout, minimumGap: 36)
        #expect(slots.map { values[$0] } == Array(stride(from: 50, through: 600, by: 50)))
        #expect(slots.allSatisfy { long.checkpoints[$0].status == .ok })
        #expect(zip(slots, slots.dropFirst()).allSatisfy { layout.x(slot: $1) - layout.x(slot: $0) >= 36 })

        // Irregular steps with no round multiple: every n-th checkpoint, ending at the newest.
        var odd = ChartFixtures.report(probes: 1, processed: 40, epochs: false)
        for n in odd.checkpoints.indices { odd.checkpoints[n].step = 1_000_003 + 7_919 * n * n }
        let oddLayout = DriftChart.Layout(report: odd, options: .init())
        let (key, oddValues) = DriftChart.xLabels(odd)
        #expect(key == "step")
        let oddSlots = DriftChart.labelledSlots(odd, values: oddValues, layout: oddLayout, minimumGap: 80)
        #expect(oddSlots.last == 39 && oddSlots.count >= 4)
        #expect(zip(oddSlots, oddSlots.dropFirst()).allSatisfy { oddLayout.x(slot: $1) - oddLayout.x(slot: $0) >= 80 })
    }
}

extension Double {
    fileprivate func isApproximately(_ other: Double) -> Bool { abs(self - other) <= 1e-12 }
}
