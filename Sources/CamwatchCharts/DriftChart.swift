public import CamwatchMonitor
import Foundation

/// `drift.png`: checkpoint drift over the run, with the threshold and the convergence point (design.md §7).
///
/// Every checkpoint in processing order has a slot on the x axis, failed ones too (marked with a red
/// cross), so gaps in the run stay visible. The dark line is the mean drift over probes, the
/// convergence tracker's input; the light line the largest per-probe drift. The threshold is a dashed
/// orange line; a green vertical line marks the checkpoint at which the run became stable.
public enum DriftChart {
    /// How the chart is drawn. Sizes are clamped when drawing: width to 320…8000, height to 200…4000.
    public struct Options: Sendable, Equatable {
        /// Picture width in pixels.
        public var width = 800
        /// Picture height in pixels.
        public var height = 360

        public init(width: Int = 800, height: Int = 360) {
            self.width = width
            self.height = height
        }

        var clamped: Options {
            Options(width: min(max(width, 320), 8000), height: min(max(height, 200), 4000))
        }
    }

    /// Draws the chart; with fewer than two processed checkpoints, the empty axes and a note saying it
    /// waits for a second checkpoint.
    /// - Returns: a picture of `options.width × options.height` (after clamping).
    /// - Throws: `ChartError` when cairo fails.
    public static func render(report: Report, options: Options = .init()) throws(ChartError) -> Picture {
        let options = options.clamped
        let layout = Layout(report: report, options: options)
        let canvas = try Canvas(width: options.width, height: options.height, background: Palette.background)

        drawHeader(canvas, report: report, layout: layout)
        drawAxes(canvas, report: report, layout: layout)
        let threshold = report.convergence.threshold
        if threshold <= layout.yMaximum {
            let y = layout.thresholdY(threshold)
            canvas.line(
                [(layout.plot.x, y), (layout.plot.maxX, y)], Palette.threshold, lineWidth: 2, dash: [7, 4])
            let label = "threshold " + ChartText.threshold(threshold)
            // Above the line, unless that would leave the plot.
            let baseline = y - 16 < layout.plot.y ? y + 14 : y - 5
            canvas.text(
                label, x: layout.plot.maxX - 6, baseline: baseline, Fonts.small, Palette.threshold, align: .right)
        }
        drawConvergence(canvas, report: report, layout: layout)
        drawFailures(canvas, report: report, layout: layout)

        let points = report.checkpoints.indices.compactMap { slot -> (slot: Int, drift: CheckpointDrift)? in
            let entry = report.checkpoints[slot]
            guard entry.status == .ok, let drift = entry.drift, drift.mean.isFinite, drift.max.isFinite else {
                return nil
            }
            return (slot, drift)
        }
        canvas.line(
            points.map { (layout.x(slot: $0.slot), layout.y($0.drift.max)) }, Palette.maxDrift, lineWidth: 1.5)
        canvas.line(
            points.map { (layout.x(slot: $0.slot), layout.y($0.drift.mean)) }, Palette.meanDrift, lineWidth: 2)
        // Dots only while they stay apart; on a long run the line alone reads better.
        for point in points where layout.spacing >= 8 {
            canvas.disc(x: layout.x(slot: point.slot), y: layout.y(point.drift.mean), radius: 3, Palette.meanDrift)
        }

        let processed = report.checkpoints.filter { $0.status == .ok }.count
        let note: String? =
            switch processed {
            case 0: "no checkpoint processed yet: waiting for a second checkpoint"
            case 1: "waiting for a second checkpoint"
            default: points.isEmpty ? "no drift measured: no probe had a heatmap at two checkpoints" : nil
            }
        if let note {
            let width = canvas.textWidth(note, Fonts.body) + 24
            let box = Rect(x: layout.plot.midX - width / 2, y: layout.plot.midY - 14, width: width, height: 26)
            canvas.fill(box, Palette.grid)
            canvas.text(note, x: box.midX, baseline: box.midY + 4, Fonts.body, Palette.secondaryText, align: .center)
        }
        return try canvas.picture()
    }

    /// Draws the chart and writes it to `path` as a PNG, atomically.
    /// - Throws: `ChartError` naming `path` when drawing or writing fails.
    public static func write(report: Report, to path: String, options: Options = .init()) throws(ChartError) {
        let picture: Picture
        do throws(ChartError) {
            picture = try render(report: report, options: options)
        } catch {
            throw ChartError(path: path, reason: error.reason)
        }
        try picture.write(to: path)
    }

    // MARK: - Layout

    /// The plot area and the mapping of slots and drift values to pixels.
    struct Layout {
        static let left = 64.0
        static let right = 20.0
        static let top = 80.0
        static let bottom = 50.0
        /// Room at each end of the x axis, so the first and last points are not on the frame.
        static let inset = 12.0

        let width: Int
        let height: Int
        let plot: Rect
        /// Checkpoints in the report, failed ones included: one x slot each.
        let slots: Int
        /// The top of the y axis, a tick value.
        let yMaximum: Double
        /// The distance between y ticks.
        let yStep: Double

        init(report: Report, options: Options) {
            width = options.width
            height = options.height
            plot = Rect(
                x: Self.left, y: Self.top, width: Double(width) - Self.left - Self.right,
                height: Double(height) - Self.top - Self.bottom)
            slots = report.checkpoints.count
            var largest = report.convergence.threshold * 1.25
            for entry in report.checkpoints where entry.status == .ok {
                guard let drift = entry.drift else { continue }
                for value in [drift.mean, drift.max] where value.isFinite { largest = max(largest, value) }
            }
            (yMaximum, yStep) = Self.ticks(upTo: largest)
        }

        /// The distance between neighbouring slots (the plot width when there is one or none).
        var spacing: Double {
            slots > 1 ? (plot.width - 2 * Self.inset) / Double(slots - 1) : plot.width
        }

        /// The x of a checkpoint slot; a lone checkpoint sits in the middle.
        func x(slot: Int) -> Double {
            guard slots > 1 else { return plot.midX }
            return plot.x + Self.inset + Double(slot) * (plot.width - 2 * Self.inset) / Double(slots - 1)
        }

        /// The y of a drift value, `0` at the bottom of the plot and `yMaximum` at its top.
        func y(_ value: Double) -> Double {
            plot.maxY - min(max(value, 0), yMaximum) / yMaximum * plot.height
        }

        /// The y the threshold line is drawn at: on a pixel boundary, so its 2-pixel width covers the
        /// rows `thresholdY − 1` and `thresholdY` exactly.
        func thresholdY(_ threshold: Double) -> Double {
            y(threshold).rounded()
        }

        /// A tick step of 1, 2 or 5 × 10ᵏ giving at most five intervals, and the first tick at or above
        /// `largest`; `(0.1, 0.02)` when `largest` is not positive.
        static func ticks(upTo largest: Double) -> (maximum: Double, step: Double) {
            guard largest.isFinite, largest > 0 else { return (0.1, 0.02) }
            let rough = largest / 5
            let magnitude = pow(10, (log10(rough)).rounded(.down))
            let step = [1.0, 2, 5, 10].map { $0 * magnitude }.first { $0 >= rough * (1 - 1e-9) } ?? 10 * magnitude
            let maximum = (largest / step - 1e-9).rounded(.up) * step
            return (max(maximum, step), step)
        }
    }

    // MARK: - Drawing

    private static func drawHeader(_ canvas: Canvas, report: Report, layout: Layout) {
        let x = 16.0
        let width = Double(layout.width) - 32
        let title = "Heatmap drift: " + ChartText.model(report.model)
        canvas.text(canvas.fitted(title, width: width, Fonts.title), x: x, baseline: 28, Fonts.title, Palette.text)
        let verdict = canvas.fitted(ReportRenderer.verdict(for: report), width: width, Fonts.body)
        canvas.text(verdict, x: x, baseline: 48, Fonts.body, Palette.text)

        // Legend.
        var cursor = layout.plot.x
        let baseline = 68.0
        func entry(_ name: String, swatch: (Double) -> Void) {
            swatch(cursor)
            cursor += 26
            canvas.text(name, x: cursor, baseline: baseline, Fonts.small, Palette.secondaryText)
            cursor += canvas.textWidth(name, Fonts.small) + 18
        }
        let middle = baseline - 4
        entry("mean drift (1 − r)") { x in
            canvas.line([(x, middle), (x + 20, middle)], Palette.meanDrift, lineWidth: 2)
            canvas.disc(x: x + 10, y: middle, radius: 3, Palette.meanDrift)
        }
        entry("max over probes") { x in
            canvas.line([(x, middle), (x + 20, middle)], Palette.maxDrift, lineWidth: 1.5)
        }
        entry("threshold") { x in
            canvas.line([(x, middle), (x + 20, middle)], Palette.threshold, lineWidth: 2, dash: [7, 4])
        }
        if report.convergence.state == .stable, report.convergence.convergedAt != nil {
            entry("became stable") { x in
                canvas.line([(x + 10, middle - 6), (x + 10, middle + 6)], Palette.converged, lineWidth: 2)
            }
        }
        if report.checkpoints.contains(where: { $0.status == .failed }) {
            entry("failed checkpoint") { x in cross(canvas, x: x + 10, y: middle) }
        }
    }

    private static func drawAxes(_ canvas: Canvas, report: Report, layout: Layout) {
        let plot = layout.plot
        // Horizontal grid lines and y tick labels.
        let ticks = Int((layout.yMaximum / layout.yStep).rounded())
        let decimals = max(0, Int((-log10(layout.yStep) + 1e-9).rounded(.up)))
        for tick in 0...ticks {
            let value = Double(tick) * layout.yStep
            let y = layout.y(value).rounded() + 0.5
            if tick > 0 { canvas.line([(plot.x, y), (plot.maxX, y)], Palette.grid, lineWidth: 1) }
            canvas.text(
                String(format: "%.\(decimals)f", value), x: plot.x - 6, baseline: y + 4, Fonts.small,
                Palette.secondaryText, align: .right)
        }
        let axisTitle = "drift"
        canvas.rotatedText(
            axisTitle, x: 22, baseline: plot.midY + canvas.textWidth(axisTitle, Fonts.small) / 2, angle: .pi / 2,
            Fonts.small, Palette.secondaryText)

        // The x axis: a tick at every slot, labels at round values where they fit.
        let (key, values) = xLabels(report)
        let bottom = plot.maxY.rounded() + 0.5
        let widest = values.map { canvas.textWidth(String($0), Fonts.small) }.max() ?? 0
        let labelled = Set(labelledSlots(report, values: values, layout: layout, minimumGap: widest + 12))
        for slot in 0..<layout.slots {
            let x = layout.x(slot: slot).rounded() + 0.5
            if layout.spacing >= 3 { canvas.line([(x, bottom), (x, bottom + 4)], Palette.frame, lineWidth: 1) }
            if labelled.contains(slot) {
                canvas.text(
                    String(values[slot]), x: x, baseline: bottom + 17, Fonts.small, Palette.secondaryText,
                    align: .center)
            }
        }
        canvas.text(key, x: plot.midX, baseline: bottom + 36, Fonts.small, Palette.secondaryText, align: .center)
        canvas.line(
            [(plot.x + 0.5, plot.y), (plot.x + 0.5, bottom), (plot.maxX, bottom)], Palette.secondaryText, lineWidth: 1)
    }

    /// The x axis title and one number per checkpoint: epochs when every checkpoint has one, else steps,
    /// else the position in processing order (1-based).
    static func xLabels(_ report: Report) -> (key: String, values: [Int]) {
        let checkpoints = report.checkpoints
        if !checkpoints.isEmpty, checkpoints.allSatisfy({ $0.epoch != nil }) {
            return ("epoch", checkpoints.map { $0.epoch ?? 0 })
        }
        if !checkpoints.isEmpty, checkpoints.allSatisfy({ $0.step != nil }) {
            return ("step", checkpoints.map { $0.step ?? 0 })
        }
        return ("checkpoint (processing order)", checkpoints.indices.map { $0 + 1 })
    }

    /// The slots whose x label is drawn: processed checkpoints whose value is a multiple of a round step
    /// (1, 2 or 5 × 10ᵏ) chosen so the labels fit, at least `minimumGap` pixels apart. When that names
    /// fewer than two (irregular values), every n-th processed checkpoint counted back from the last.
    /// Failed checkpoints have their cross instead of a label.
    static func labelledSlots(_ report: Report, values: [Int], layout: Layout, minimumGap: Double) -> [Int] {
        let processed = report.checkpoints.indices.filter { report.checkpoints[$0].status == .ok }
        guard let first = processed.first, let last = processed.last else { return [] }
        func spaced(_ candidates: [Int]) -> [Int] {
            var chosen: [Int] = []
            for slot in candidates {
                if let previous = chosen.last, layout.x(slot: slot) - layout.x(slot: previous) < minimumGap { continue }
                chosen.append(slot)
            }
            return chosen
        }
        let range = (processed.map { values[$0] }.max() ?? 0) - (processed.map { values[$0] }.min() ?? 0)
        let fitting = max(1, Int(layout.plot.width / minimumGap))
        var step = 1
        while step * fitting < range {
            // 1, 2, 5, 10, 20, 50, …
            let leading = String(step).first
            step = leading == "2" ? step / 2 * 5 : step * 2
        }
        let round = spaced(processed.filter { values[$0] % step == 0 })
        if round.count >= 2 || first == last { return first == last ? [first] : round }
        let every = max(1, Int((minimumGap / max(layout.spacing, 1e-9)).rounded(.up)))
        return spaced(processed.filter { (last - $0) % every == 0 })
    }

    private static func drawConvergence(_ canvas: Canvas, report: Report, layout: Layout) {
        guard report.convergence.state == .stable, let id = report.convergence.convergedAt?.id,
            let slot = report.checkpoints.firstIndex(where: { $0.id == id })
        else { return }
        let x = layout.x(slot: slot).rounded()
        canvas.line([(x, layout.plot.y), (x, layout.plot.maxY)], Palette.converged, lineWidth: 2)
        let label = "stable from " + ChartText.checkpoint(report.checkpoints[slot])
        let width = canvas.textWidth(label, Fonts.smallBold)
        // To the right of the line, or to its left when it would run out of the plot.
        let fitsRight = x + 6 + width <= layout.plot.maxX - 4
        canvas.text(
            label, x: fitsRight ? x + 6 : x - 6, baseline: layout.plot.y + 14, Fonts.smallBold, Palette.converged,
            align: fitsRight ? .left : .right)
    }

    private static func drawFailures(_ canvas: Canvas, report: Report, layout: Layout) {
        for (slot, entry) in report.checkpoints.enumerated() where entry.status == .failed {
            cross(canvas, x: layout.x(slot: slot), y: layout.plot.maxY.rounded())
        }
    }

    /// A small red ×.
    private static func cross(_ canvas: Canvas, x: Double, y: Double) {
        canvas.line([(x - 4, y - 4), (x + 4, y + 4)], Palette.failed, lineWidth: 2)
        canvas.line([(x - 4, y + 4), (x + 4, y - 4)], Palette.failed, lineWidth: 2)
    }
}
