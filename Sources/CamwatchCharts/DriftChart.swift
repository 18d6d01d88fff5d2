public import CamwatchMonitor
import Foundation

/// `drift.png`: checkpoint drift over the run, with the level the convergence verdict compares it with, the
/// learning rate and a validation metric, and the convergence point (docs/architecture.md §7).
///
/// Every checkpoint in processing order has a slot on the x axis, failed ones too (marked with a red
/// cross), so gaps in the run stay visible. The y axis is logarithmic: drift spans decades over a run, and
/// what decides convergence happens near the bottom. The dark line is the mean drift over probes, the
/// convergence tracker's input; the light line the largest per-probe drift. The dashed orange line is what
/// the verdict compares drift with: under the relative rule, `settle_ratio ×` the saliency reference level
/// at each checkpoint (the reference itself dotted grey); under the absolute rule, the threshold. When the
/// checkpoints carry them, the learning rate (log scale, purple) and a validation metric (teal) are drawn
/// against axes of their own on the right. The other half of the relative rule shares the drift axis in
/// magenta: the weight drift ‖w_i − w_{i−1}‖ / ‖w_{i−1}‖ (solid), its settle bound (`weight_settle_ratio ×` its
/// reference, dashed) and the reference (dotted), and the batch-norm statistics drift (light) when the network
/// keeps running statistics. A green vertical line marks the checkpoint at which the run became stable; a line
/// under the verdict says when that coincides with a learning-rate drop. Checkpoints at which the run was
/// `collapsed` have a violet background, labelled.
public enum DriftChart {
    /// How the chart is drawn. Sizes are clamped when drawing: width to 320…8000, height to 240…4000.
    public struct Options: Sendable, Equatable {
        /// Picture width in pixels.
        public var width = 800
        /// Picture height in pixels.
        public var height = 420

        public init(width: Int = 800, height: Int = 420) {
            self.width = width
            self.height = height
        }

        var clamped: Options {
            Options(width: min(max(width, 320), 8000), height: min(max(height, 240), 4000))
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
        drawCollapse(canvas, report: report, layout: layout)
        drawAxes(canvas, report: report, layout: layout)
        drawSecondary(canvas, report: report, layout: layout)
        drawReferenceLevels(canvas, report: report, layout: layout)
        drawWeightSignals(canvas, report: report, layout: layout)
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

    // MARK: - Series from the report

    /// What the verdict compares drift with, per slot: under the relative rule the settle bound
    /// (`settle_ratio ×` the saliency reference level the tracker held there, recovered from the entry's
    /// `drift_ratio`) and the reference itself; under the absolute rule the threshold at every slot.
    static func referenceLevels(_ report: Report) -> [(slot: Int, bound: Double, reference: Double?)] {
        let rule = report.convergence.rule
        return report.checkpoints.enumerated().compactMap { slot, entry in
            guard entry.status == .ok, entry.drift != nil else { return nil }
            switch rule.mode {
            case .absolute:
                return (slot, rule.threshold, nil)
            case .relative:
                guard let mean = entry.drift?.mean, let ratio = entry.convergence?.driftRatio, ratio > 0,
                    mean.isFinite, mean > 0
                else { return nil }
                let reference = mean / ratio
                return (slot, rule.settleRatio * reference, reference)
            }
        }
    }

    /// The weight drift per slot, with the relative rule's settle bound (`weight_settle_ratio ×` the weight
    /// reference level the tracker held there, recovered from the entry's `weight_ratio`) and the reference.
    static func weightLevels(_ report: Report) -> [(slot: Int, drift: Double, bound: Double?, reference: Double?)] {
        let rule = report.convergence.rule
        return report.checkpoints.enumerated().compactMap { slot, entry in
            guard entry.status == .ok, let drift = entry.weightDrift, drift.isFinite, drift >= 0 else { return nil }
            guard rule.mode == .relative, let ratio = entry.convergence?.weightRatio, ratio > 0, drift > 0 else {
                return (slot, drift, nil, nil)
            }
            let reference = drift / ratio
            return (slot, drift, rule.weightSettleRatio * reference, reference)
        }
    }

    /// The batch-norm statistics drift per slot.
    static func statisticsDrifts(_ report: Report) -> [(slot: Int, value: Double)] {
        report.checkpoints.enumerated().compactMap { slot, entry in
            guard entry.status == .ok, let value = entry.statisticsDrift, value.isFinite else { return nil }
            return (slot, value)
        }
    }

    /// The learning rate per slot, from the `lr` / `learning_rate` attribute.
    static func learningRates(_ report: Report) -> [(slot: Int, value: Double)] {
        report.checkpoints.enumerated().compactMap { slot, entry in
            Report.learningRate(of: entry).map { (slot, $0) }
        }
    }

    /// The validation metric drawn: `val_acc`, `val_accuracy`, else the first `val…` attribute by name.
    static func validationMetric(_ report: Report) -> (name: String, values: [(slot: Int, value: Double)])? {
        var names = Set<String>()
        for entry in report.checkpoints {
            for (name, value) in entry.attributes where name.hasPrefix("val") && value.number?.isFinite == true {
                names.insert(name)
            }
        }
        guard let name = ["val_acc", "val_accuracy"].first(where: names.contains) ?? names.sorted().first else {
            return nil
        }
        let values = report.checkpoints.enumerated().compactMap { slot, entry -> (slot: Int, value: Double)? in
            guard let value = entry.attributes[name]?.number, value.isFinite else { return nil }
            return (slot, value)
        }
        return (name, values)
    }

    // MARK: - Layout

    /// The plot area and the mapping of slots and values to pixels.
    struct Layout {
        static let left = 64.0
        static let right = 20.0
        /// Room for one right-hand axis (ticks and labels).
        static let secondaryAxis = 58.0
        static let top = 112.0
        static let bottom = 50.0
        /// Room at each end of the x axis, so the first and last points are not on the frame.
        static let inset = 12.0

        let width: Int
        let height: Int
        let plot: Rect
        /// Checkpoints in the report, failed ones included: one x slot each.
        let slots: Int
        /// The drift axis: log10 of its bottom and top (decades).
        let logLow: Double
        let logHigh: Double
        /// The learning-rate axis (log10 range), when any checkpoint has a learning rate.
        let learningRateRange: (low: Double, high: Double)?
        /// The validation metric's axis (linear range), when any checkpoint has one.
        let metricRange: (low: Double, high: Double)?
        /// A header line more when both the learning-rate note and the heatmap metrics have one.
        let extraHeader: Double

        init(report: Report, options: Options) {
            width = options.width
            height = options.height
            let rates = DriftChart.learningRates(report).map(\.value)
            let metric = DriftChart.validationMetric(report)?.values.map(\.value) ?? []
            learningRateRange = rates.isEmpty ? nil : Self.decades(rates)
            metricRange = metric.isEmpty ? nil : Self.linearRange(metric)
            let axes = Double(
                [learningRateRange != nil, metricRange != nil, DriftChart.hasHeatmapAxis(report)].filter { $0 }.count)
            extraHeader = ReportRenderer.learningRateNote(for: report) != nil && report.metricsSummary != nil ? 16 : 0
            // The weight signals' entries make the legend a row longer.
            let extraLegend = DriftChart.weightLevels(report).isEmpty ? 0.0 : 16
            plot = Rect(
                x: Self.left, y: Self.top + extraHeader + extraLegend,
                width: Double(width) - Self.left - Self.right - axes * Self.secondaryAxis,
                height: Double(height) - Self.top - extraHeader - extraLegend - Self.bottom)
            slots = report.checkpoints.count
            var values: [Double] = []
            for entry in report.checkpoints where entry.status == .ok {
                guard let drift = entry.drift else { continue }
                values += [drift.mean, drift.max]
            }
            values += DriftChart.referenceLevels(report).flatMap { [$0.bound] + ($0.reference.map { [$0] } ?? []) }
            values += DriftChart.weightLevels(report).flatMap { [$0.drift] + [$0.bound, $0.reference].compactMap { $0 } }
            values += DriftChart.statisticsDrifts(report).map(\.value)
            if report.convergence.mode == .absolute { values.append(report.convergence.threshold) }
            (logLow, logHigh) = Self.decades(values.filter { $0.isFinite && $0 > 0 }, floor: -4)
        }

        /// The axis around the positive values, as log10 of its bottom and top: the bottom a whole decade (at
        /// least 10^floor), the top the first 1, 2 or 5 × 10ᵏ at or above the largest value (at least a decade
        /// above the bottom).
        static func decades(_ values: [Double], floor: Double = -12) -> (low: Double, high: Double) {
            let positive = values.filter { $0.isFinite && $0 > 0 }
            guard let smallest = positive.min(), let largest = positive.max() else { return (-2, 0) }
            let low = max(log10(smallest).rounded(.down), floor)
            let decade = log10(largest).rounded(.down)
            let top = [1.0, 2, 5, 10].map { log10($0) + decade }.first { $0 >= log10(largest) - 1e-12 } ?? decade + 1
            return (low, max(top, low + 1))
        }

        /// A range with round ends around the values (a 0.1 margin when they are all equal).
        static func linearRange(_ values: [Double]) -> (low: Double, high: Double) {
            guard let smallest = values.min(), let largest = values.max() else { return (0, 1) }
            if largest - smallest < 1e-12 { return (smallest - 0.1, largest + 0.1) }
            let step = niceStep((largest - smallest) / 4)
            return ((smallest / step).rounded(.down) * step, (largest / step).rounded(.up) * step)
        }

        /// 1, 2 or 5 × 10ᵏ, at least `rough`.
        static func niceStep(_ rough: Double) -> Double {
            let magnitude = pow(10, log10(rough).rounded(.down))
            return [1.0, 2, 5, 10].map { $0 * magnitude }.first { $0 >= rough * (1 - 1e-9) } ?? 10 * magnitude
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

        /// The y of a drift value on the log axis; values below its bottom (0 included) sit on the bottom.
        func y(_ value: Double) -> Double {
            guard value.isFinite, value > 0 else { return plot.maxY }
            let fraction = (log10(value) - logLow) / (logHigh - logLow)
            return plot.maxY - min(max(fraction, 0), 1) * plot.height
        }

        /// The y of a learning rate on its log axis.
        func learningRateY(_ value: Double) -> Double? {
            guard let range = learningRateRange, value > 0 else { return nil }
            let fraction = (log10(value) - range.low) / (range.high - range.low)
            return plot.maxY - min(max(fraction, 0), 1) * plot.height
        }

        /// The y of a validation metric value on its linear axis.
        func metricY(_ value: Double) -> Double? {
            guard let range = metricRange else { return nil }
            let fraction = (value - range.low) / (range.high - range.low)
            return plot.maxY - min(max(fraction, 0), 1) * plot.height
        }

        /// The y the threshold line is drawn at: on a pixel boundary, so its 2-pixel width covers the
        /// rows `thresholdY − 1` and `thresholdY` exactly.
        func thresholdY(_ threshold: Double) -> Double {
            y(threshold).rounded()
        }
    }

    // MARK: - Drawing

    private static func drawHeader(_ canvas: Canvas, report: Report, layout: Layout) {
        let x = 16.0
        let width = Double(layout.width) - 32
        let title = "Heatmap drift: " + ChartText.model(report.model)
        canvas.text(canvas.fitted(title, width: width, Fonts.title), x: x, baseline: 26, Fonts.title, Palette.text)
        let verdict = canvas.fitted(
            ReportRenderer.verdict(for: report, learningRate: false, metrics: false), width: width, Fonts.body)
        canvas.text(verdict, x: x, baseline: 44, Fonts.body, Palette.text)
        var line = 60.0
        if let note = ReportRenderer.learningRateNote(for: report) {
            canvas.text(canvas.fitted(note, width: width, Fonts.body), x: x, baseline: line, Fonts.body, Palette.learningRate)
            line += 16
        }
        if let summary = report.metricsSummary {
            let text = canvas.fitted("Heatmaps: " + summary, width: width, Fonts.body)
            canvas.text(text, x: x, baseline: line, Fonts.body, Palette.heatmapMetric)
        }

        // Legend, in up to two rows.
        var cursor = layout.plot.x
        var baseline = 80.0 + layout.extraHeader
        func entry(_ name: String, swatch: @escaping (Double, Double) -> Void) {
            let needed = 26 + canvas.textWidth(name, Fonts.small)
            if cursor + needed > Double(layout.width) - 12, cursor > layout.plot.x {
                cursor = layout.plot.x
                baseline += 16
            }
            swatch(cursor, baseline - 4)
            cursor += 26
            canvas.text(name, x: cursor, baseline: baseline, Fonts.small, Palette.secondaryText)
            cursor += canvas.textWidth(name, Fonts.small) + 18
        }
        entry("mean drift (1 − r)") { x, middle in
            canvas.line([(x, middle), (x + 20, middle)], Palette.meanDrift, lineWidth: 2)
            canvas.disc(x: x + 10, y: middle, radius: 3, Palette.meanDrift)
        }
        entry("max over probes") { x, middle in
            canvas.line([(x, middle), (x + 20, middle)], Palette.maxDrift, lineWidth: 1.5)
        }
        let rule = report.convergence.rule
        switch rule.mode {
        case .relative:
            entry("settled below (\(ChartText.threshold(rule.settleRatio)) × reference)") { x, middle in
                canvas.line([(x, middle), (x + 20, middle)], Palette.threshold, lineWidth: 2, dash: [7, 4])
            }
            entry("saliency reference level") { x, middle in
                canvas.line([(x, middle), (x + 20, middle)], Palette.secondaryText, lineWidth: 1, dash: [2, 3])
            }
        case .absolute:
            entry("threshold \(ChartText.threshold(rule.threshold))") { x, middle in
                canvas.line([(x, middle), (x + 20, middle)], Palette.threshold, lineWidth: 2, dash: [7, 4])
            }
        }
        let weights = weightLevels(report)
        if !weights.isEmpty {
            entry("weight drift") { x, middle in
                canvas.line([(x, middle), (x + 20, middle)], Palette.weightDrift, lineWidth: 1.5)
            }
            if weights.contains(where: { $0.bound != nil }) {
                entry("weights settled below (\(ChartText.threshold(rule.weightSettleRatio)) × reference)") { x, middle in
                    canvas.line([(x, middle), (x + 20, middle)], Palette.weightDrift, lineWidth: 1.5, dash: [7, 4])
                }
                entry("weight reference") { x, middle in
                    canvas.line([(x, middle), (x + 20, middle)], Palette.weightDrift, lineWidth: 1, dash: [2, 3])
                }
            }
        }
        if !statisticsDrifts(report).isEmpty {
            entry("BN statistics drift") { x, middle in
                canvas.line([(x, middle), (x + 20, middle)], Palette.statisticsDrift, lineWidth: 1.5)
            }
        }
        if report.checkpoints.contains(where: { $0.state == .collapsed }) {
            entry("collapsed") { x, middle in
                canvas.fill(Rect(x: x + 2, y: middle - 6, width: 16, height: 12), Palette.state(.collapsed))
            }
        }
        if layout.learningRateRange != nil {
            entry("learning rate (right, log)") { x, middle in
                canvas.line([(x, middle), (x + 20, middle)], Palette.learningRate, lineWidth: 2)
            }
        }
        if let metric = validationMetric(report) {
            entry("\(metric.name) (right)") { x, middle in
                canvas.line([(x, middle), (x + 20, middle)], Palette.metric, lineWidth: 1.5, dash: [4, 2])
            }
        }
        for metric in heatmapLegend(report) {
            entry(metric.name) { x, middle in
                canvas.line([(x, middle), (x + 20, middle)], Palette.heatmapMetric, lineWidth: 2, dash: metric.dash)
            }
        }
        if report.convergence.state == .stable, report.convergence.convergedAt != nil {
            entry("became stable") { x, middle in
                canvas.line([(x + 10, middle - 6), (x + 10, middle + 6)], Palette.converged, lineWidth: 2)
            }
        }
        if report.checkpoints.contains(where: { $0.status == .failed }) {
            entry("failed checkpoint") { x, middle in cross(canvas, x: x + 10, y: middle) }
        }
    }

    /// A tick label for a power of ten: `0.001`, `0.01`, `0.1`, `1` (`1e-05` below 0.001).
    static func decadeLabel(_ exponent: Int) -> String {
        if exponent >= 0 { return String(Int(pow(10, Double(exponent)))) }
        if exponent >= -3 { return String(format: "%.\(-exponent)f", pow(10, Double(exponent))) }
        return String(format: "%.0e", pow(10, Double(exponent)))
    }

    private static func drawAxes(_ canvas: Canvas, report: Report, layout: Layout) {
        let plot = layout.plot
        // Decades: grid lines and labels; 2 and 5 as light ticks between them.
        let low = Int(layout.logLow), high = Int(layout.logHigh.rounded(.down))
        for exponent in low...high {
            let value = pow(10, Double(exponent))
            let y = layout.y(value).rounded() + 0.5
            if exponent > low { canvas.line([(plot.x, y), (plot.maxX, y)], Palette.grid, lineWidth: 1) }
            canvas.text(decadeLabel(exponent), x: plot.x - 6, baseline: y + 4, Fonts.small, Palette.secondaryText, align: .right)
            for factor in [2.0, 5.0] where log10(value * factor) <= layout.logHigh + 1e-9 {
                let minor = layout.y(value * factor).rounded() + 0.5
                canvas.line([(plot.x - 3, minor), (plot.x + 0.5, minor)], Palette.frame, lineWidth: 1)
            }
        }
        // A top that is not a decade (2 or 5 × 10ᵏ) gets its own label.
        if layout.logHigh - Double(high) > 1e-9 {
            let top = pow(10, layout.logHigh)
            canvas.text(String(format: "%g", top), x: plot.x - 6, baseline: plot.y + 4, Fonts.small, Palette.secondaryText, align: .right)
        }
        let axisTitle = "drift (log scale)"
        canvas.rotatedText(
            axisTitle, x: 16, baseline: plot.midY + canvas.textWidth(axisTitle, Fonts.small) / 2, angle: .pi / 2,
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

    /// The learning rate and the validation metric, each against an axis of its own right of the plot.
    private static func drawSecondary(_ canvas: Canvas, report: Report, layout: Layout) {
        let plot = layout.plot
        var axisX = plot.maxX + 0.5
        if let range = layout.learningRateRange {
            canvas.line([(axisX, plot.y), (axisX, plot.maxY)], Palette.learningRate, lineWidth: 1)
            for exponent in Int(range.low)...Int(range.high) {
                guard let y = layout.learningRateY(pow(10, Double(exponent))) else { continue }
                canvas.line([(axisX, y.rounded() + 0.5), (axisX + 4, y.rounded() + 0.5)], Palette.learningRate, lineWidth: 1)
                canvas.text(decadeLabel(exponent), x: axisX + 6, baseline: y + 4, Fonts.small, Palette.learningRate)
            }
            let points = learningRates(report).compactMap { point in
                layout.learningRateY(point.value).map { (layout.x(slot: point.slot), $0) }
            }
            canvas.line(points, Palette.learningRate, lineWidth: 2)
            axisX += Layout.secondaryAxis
        }
        if let metric = validationMetric(report), let range = layout.metricRange {
            canvas.line([(axisX, plot.y), (axisX, plot.maxY)], Palette.metric, lineWidth: 1)
            let step = Layout.niceStep((range.high - range.low) / 4)
            let decimals = max(0, Int((-log10(step) + 1e-9).rounded(.up)))
            var value = range.low
            while value <= range.high + step * 1e-6 {
                if let y = layout.metricY(value) {
                    canvas.line([(axisX, y.rounded() + 0.5), (axisX + 4, y.rounded() + 0.5)], Palette.metric, lineWidth: 1)
                    canvas.text(String(format: "%.\(decimals)f", value), x: axisX + 6, baseline: y + 4, Fonts.small, Palette.metric)
                }
                value += step
            }
            let points = metric.values.compactMap { point in
                layout.metricY(point.value).map { (layout.x(slot: point.slot), $0) }
            }
            canvas.line(points, Palette.metric, lineWidth: 1.5, dash: [4, 2])
            axisX += Layout.secondaryAxis
        }
        drawHeatmapMetrics(canvas, report: report, layout: layout, axisX: axisX)
    }

    /// Values held over the slots they apply to, as a step line.
    private static func steps(
        _ values: [(slot: Int, value: Double)], layout: Layout, rounded: Bool
    ) -> [(x: Double, y: Double)] {
        var points: [(x: Double, y: Double)] = []
        let half = layout.slots > 1 ? layout.spacing / 2 : layout.plot.width / 2 - Layout.inset
        for point in values {
            let y = rounded ? layout.thresholdY(point.value) : layout.y(point.value)
            let x = layout.x(slot: point.slot)
            points.append((max(layout.plot.x, x - half), y))
            points.append((min(layout.plot.maxX, x + half), y))
        }
        return points
    }

    /// The settle bound (or threshold) and the reference level, as step lines over the slots they apply to.
    private static func drawReferenceLevels(_ canvas: Canvas, report: Report, layout: Layout) {
        let levels = referenceLevels(report)
        guard !levels.isEmpty else { return }
        func steps(_ values: [(slot: Int, value: Double)], rounded: Bool) -> [(x: Double, y: Double)] {
            DriftChart.steps(values, layout: layout, rounded: rounded)
        }
        let references = levels.compactMap { level in level.reference.map { (level.slot, $0) } }
        if !references.isEmpty {
            canvas.line(steps(references, rounded: false), Palette.secondaryText, lineWidth: 1, dash: [2, 3])
        }
        let bounds = levels.map { ($0.slot, $0.bound) }
        canvas.line(steps(bounds, rounded: true), Palette.threshold, lineWidth: 2, dash: [7, 4])
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

    /// The weight drift with its settle bound and reference (relative rule), and the statistics drift.
    private static func drawWeightSignals(_ canvas: Canvas, report: Report, layout: Layout) {
        let weights = weightLevels(report)
        let references = weights.compactMap { level in level.reference.map { (level.slot, $0) } }
        let bounds = weights.compactMap { level in level.bound.map { (level.slot, $0) } }
        if !references.isEmpty {
            canvas.line(steps(references, layout: layout, rounded: false), Palette.weightDrift, lineWidth: 1, dash: [2, 3])
            canvas.line(steps(bounds, layout: layout, rounded: true), Palette.weightDrift, lineWidth: 1.5, dash: [7, 4])
        }
        canvas.line(
            statisticsDrifts(report).map { (layout.x(slot: $0.slot), layout.y($0.value)) }, Palette.statisticsDrift,
            lineWidth: 1.5)
        canvas.line(weights.map { (layout.x(slot: $0.slot), layout.y($0.drift)) }, Palette.weightDrift, lineWidth: 1.5)
    }

    /// A violet background behind the checkpoints at which the run was collapsed, labelled at the first of each
    /// stretch.
    private static func drawCollapse(_ canvas: Canvas, report: Report, layout: Layout) {
        let half = layout.slots > 1 ? layout.spacing / 2 : layout.plot.width / 2
        // Stretches of consecutive collapsed slots, each filled as one rectangle (no seams between slots).
        var stretches: [ClosedRange<Int>] = []
        for (slot, entry) in report.checkpoints.enumerated() where entry.state == .collapsed {
            if let last = stretches.last, last.upperBound == slot - 1 {
                stretches[stretches.count - 1] = last.lowerBound...slot
            } else {
                stretches.append(slot...slot)
            }
        }
        for stretch in stretches {
            let left = max(layout.plot.x, layout.x(slot: stretch.lowerBound) - half)
            let right = min(layout.plot.maxX, layout.x(slot: stretch.upperBound) + half)
            canvas.fill(
                Rect(x: left, y: layout.plot.y, width: right - left, height: layout.plot.height),
                Palette.collapsedBackground)
            canvas.text(
                "collapsed", x: left + 4, baseline: layout.plot.y + 30, Fonts.smallBold, Palette.state(.collapsed),
                align: .left)
        }
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
