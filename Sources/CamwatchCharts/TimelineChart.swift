public import CamwatchImage
public import CamwatchMonitor

/// `timeline.png`: the heatmap of every probe at every checkpoint, in one grid (docs/architecture.md §7).
///
/// Rows are the report's probes in order, columns its processed checkpoints in processing order. Each
/// cell is the probe image, stretched to a square as the network's preprocessing stretches it, with the
/// checkpoint's heatmap blended over it. Under each column: the checkpoint's mean drift and the
/// convergence state after it; the column at which the run became stable is framed in green.
public enum TimelineChart {
    /// How the timeline is drawn. Out-of-range values are clamped when drawing, not refused (as the
    /// convergence tracker treats its settings): `maxColumns` to at least 1, `cellSize` to 16…512,
    /// `alpha` to [0, 1] (NaN as 0.5).
    public struct Options: Sendable, Equatable {
        /// The columns a timeline has unless told otherwise (`timeline.max_columns`).
        public static let defaultMaxColumns = 12

        /// At most this many checkpoint columns; more are evenly subsampled, keeping the first, the last
        /// and the one where the run became stable.
        public var maxColumns = defaultMaxColumns
        /// The side of a square cell, in pixels.
        public var cellSize = 96
        /// How heatmap values become colours.
        public var colormap = HeatmapOverlay.defaultColormap
        /// The heatmap's weight over the probe image.
        public var alpha = HeatmapOverlay.defaultAlpha

        public init(
            maxColumns: Int = defaultMaxColumns, cellSize: Int = 96, colormap: Colormap = HeatmapOverlay.defaultColormap,
            alpha: Float = HeatmapOverlay.defaultAlpha
        ) {
            self.maxColumns = maxColumns
            self.cellSize = cellSize
            self.colormap = colormap
            self.alpha = alpha
        }

        /// The options with every value in its range.
        var clamped: Options {
            Options(
                maxColumns: max(1, maxColumns), cellSize: min(max(cellSize, 16), 512), colormap: colormap,
                alpha: alpha.isNaN ? HeatmapOverlay.defaultAlpha : min(max(alpha, 0), 1))
        }
    }

    /// Draws the timeline.
    ///
    /// A cell whose probe image or heatmap is missing (or unusable: an empty image, a heatmap whose
    /// values do not fill its shape) is drawn grey with `n/a`. Failed checkpoints get no column; their
    /// number is noted under the title.
    /// - Parameters:
    ///   - report: probes, checkpoints and the convergence state.
    ///   - archive: the heatmaps, by checkpoint id and probe id, at the target layer's resolution.
    ///   - probeImages: the probe images by probe id, any size.
    /// - Returns: a picture of `margin + labels + columns × (cellSize + 4)` by `rows × (cellSize + 4)` plus
    ///   the title and footer, at least 640 pixels wide.
    /// - Throws: `ChartError` when the picture would exceed cairo's 32767-pixel limit, or cairo fails.
    public static func render(
        report: Report, archive: HeatmapArchive, probeImages: [String: RGBImage], options: Options = .init()
    ) throws(ChartError) -> Picture {
        let options = options.clamped
        let plan = try plan(report: report, options: options)
        let layout = plan.layout
        let shown = plan.shown
        let canvas = try Canvas(width: layout.width, height: layout.height, background: Palette.background)

        drawHeader(canvas, plan: plan, report: report, options: options)
        if report.probes.isEmpty || shown.isEmpty {
            let note = report.probes.isEmpty ? "no probes in the report" : "no processed checkpoint yet"
            canvas.fill(layout.gridArea, Palette.grid)
            canvas.text(
                note, x: layout.gridArea.midX, baseline: layout.gridArea.midY + 4, Fonts.body, Palette.secondaryText,
                align: .center)
            return try canvas.picture()
        }
        for (row, probe) in report.probes.enumerated() {
            drawRowLabel(canvas, probe: probe, area: layout.rowLabel(row))
            let image = probeImages[probe.id].flatMap { cellImage($0, side: options.cellSize) }
            for (column, entry) in shown.enumerated() {
                let heatmap = archive.entry(id: entry.id)?.heatmaps[probe.id]
                drawCell(canvas, rect: layout.cell(row: row, column: column), image: image, heatmap: heatmap, options)
                if heatmap != nil {
                    drawCellEnergy(canvas, rect: layout.cell(row: row, column: column), energy: entry.metrics?.perProbe[probe.id]?.energy)
                }
            }
        }
        for (column, entry) in shown.enumerated() {
            drawColumnAnnotations(
                canvas, layout: layout, column: column, entry: entry, isFirst: entry.id == plan.firstProcessedID,
                isConvergence: entry.id == plan.convergedID)
        }
        if layout.metricsRow { drawMetricsRow(canvas, layout: layout, shown: shown) }
        drawFooter(canvas, layout: layout, options: options, shown: shown, framed: plan.convergedID != nil)
        return try canvas.picture()
    }

    /// Draws the timeline and writes it to `path` as a PNG, atomically.
    /// - Throws: `ChartError` naming `path` when drawing or writing fails.
    public static func write(
        report: Report, archive: HeatmapArchive, probeImages: [String: RGBImage], to path: String,
        options: Options = .init()
    ) throws(ChartError) {
        let picture: Picture
        do throws(ChartError) {
            picture = try render(report: report, archive: archive, probeImages: probeImages, options: options)
        } catch {
            throw ChartError(path: path, reason: error.reason)
        }
        try picture.write(to: path)
    }

    // MARK: - Plan

    /// What the timeline shows and where, decided before drawing.
    struct Plan {
        /// The processed checkpoints that get a column, in processing order.
        var shown: [Report.CheckpointEntry]
        /// How many checkpoints were processed, and how many failed.
        var processedCount: Int
        var failedCount: Int
        var firstProcessedID: String?
        /// The checkpoint at which the run became stable, while it is stable.
        var convergedID: String?
        /// The verdict, wrapped to the picture's width.
        var verdict: [String]
        var layout: Layout
    }

    /// Chooses the columns and lays out the picture for `options` (already clamped).
    static func plan(report: Report, options: Options) throws(ChartError) -> Plan {
        let processed = report.checkpoints.filter { $0.status == .ok }
        let convergedID = report.convergence.state == .stable ? report.convergence.convergedAt?.id : nil
        let shown = columnIndices(
            count: processed.count, maxColumns: options.maxColumns,
            keeping: processed.firstIndex { $0.id == convergedID }
        ).map { processed[$0] }
        let measure = try Canvas(width: 1, height: 1, background: Palette.background)
        var layout = Layout(
            rows: report.probes.count, columns: shown.count, cellSize: options.cellSize,
            labelWidth: Layout.labelWidth(for: report.probes, measuring: measure))
        let verdict = measure.wrapped(
            ReportRenderer.verdict(for: report), width: layout.textWidth, Fonts.body, maximumLines: 3)
        layout.headerHeight = Layout.headerHeight(verdictLines: verdict.count)
        layout.metricsRow = hasMetricsRow(shown)
        return Plan(
            shown: shown, processedCount: processed.count, failedCount: report.checkpoints.count - processed.count,
            firstProcessedID: processed.first?.id, convergedID: convergedID, verdict: verdict, layout: layout)
    }

    // MARK: - Columns

    /// Which of `count` checkpoints get a column: all when they fit, else `maxColumns` evenly spaced
    /// ones, always the first and the last (one column: the last).
    ///
    /// - Parameter keeping: an index to show as well (the convergence checkpoint); it replaces the
    ///   nearest evenly spaced interior column, so the count stays `maxColumns`. Ignored with fewer than
    ///   three columns, where first and last take every slot.
    /// - Returns: increasing indices in `0..<count`.
    static func columnIndices(count: Int, maxColumns: Int, keeping: Int? = nil) -> [Int] {
        let maxColumns = max(1, maxColumns)
        guard count > maxColumns else { return Array(0..<count) }
        guard maxColumns > 1 else { return [count - 1] }
        var indices = (0..<maxColumns).map { i in
            // Rounded i · (count − 1) / (maxColumns − 1) in integers: distinct, since count > maxColumns.
            (2 * i * (count - 1) + (maxColumns - 1)) / (2 * (maxColumns - 1))
        }
        if let keeping, keeping > 0, keeping < count - 1, !indices.contains(keeping), maxColumns >= 3 {
            let interior = 1..<(maxColumns - 1)
            if let nearest = interior.min(by: { abs(indices[$0] - keeping) < abs(indices[$1] - keeping) }) {
                indices[nearest] = keeping
                indices.sort()
            }
        }
        return indices
    }

    // MARK: - Layout

    /// Where everything goes, in pixels.
    struct Layout {
        static let margin = 16.0
        static let gap = 4.0
        /// Two lines of column labels above the grid.
        static let columnHeaderHeight = 36.0
        /// Drift row, state band and legend below the grid.
        static let footerHeight = 76.0
        /// Wide enough for the title and the legend.
        static let minimumWidth = 640
        static let minimumLabelWidth = 72.0
        static let maximumLabelWidth = 240.0

        let rows: Int
        let columns: Int
        let cellSize: Double
        let labelWidth: Double
        /// Title, verdict and the note on what is shown.
        var headerHeight = Layout.headerHeight(verdictLines: 1)
        /// Whether the heatmap metrics get a row under the state band (TimelineChart+Metrics.swift).
        var metricsRow = false
        /// The height that row adds.
        static let metricsRowHeight = 16.0

        init(rows: Int, columns: Int, cellSize: Int, labelWidth: Double) {
            self.rows = rows
            self.columns = columns
            self.cellSize = Double(cellSize)
            self.labelWidth = labelWidth
        }

        /// The header's height with one or two lines of verdict.
        static func headerHeight(verdictLines: Int) -> Double {
            44 + 16 * Double(max(1, verdictLines))
        }

        /// The width available to header lines.
        var textWidth: Double { Double(width) - 2 * Self.margin }

        /// The baseline of the first verdict line; the title is above it, the note after the last line.
        var verdictBaseline: Double { Self.margin + 35 }

        /// The width of the row-label strip: the widest label and some air, within bounds.
        static func labelWidth(for probes: [Report.Probe], measuring canvas: Canvas) -> Double {
            var widest = 0.0
            for probe in probes {
                widest = max(widest, canvas.textWidth(probe.id, Fonts.bodyBold))
                if let detail = TimelineChart.detail(of: probe) {
                    widest = max(widest, canvas.textWidth(detail, Fonts.small))
                }
            }
            return min(max(widest.rounded(.up) + 16, minimumLabelWidth), maximumLabelWidth)
        }

        var gridX: Double { Self.margin + labelWidth }
        var gridY: Double { Self.margin + headerHeight + Self.columnHeaderHeight }
        var gridWidth: Double { Self.extent(max(columns, 3), cellSize) }
        var gridHeight: Double { Self.extent(max(rows, 1), cellSize) }
        /// The grid's rectangle (a placeholder size when there are no rows or columns).
        var gridArea: Rect { Rect(x: gridX, y: gridY, width: gridWidth, height: gridHeight) }

        var width: Int { max(Self.minimumWidth, Int((gridX + gridWidth + Self.margin).rounded(.up))) }
        var height: Int {
            Int((gridY + gridHeight + Self.footerHeight + (metricsRow ? Self.metricsRowHeight : 0) + Self.margin).rounded(.up))
        }

        func cell(row: Int, column: Int) -> Rect {
            Rect(
                x: gridX + Double(column) * (cellSize + Self.gap), y: gridY + Double(row) * (cellSize + Self.gap),
                width: cellSize, height: cellSize)
        }

        func rowLabel(_ row: Int) -> Rect {
            Rect(x: Self.margin, y: cell(row: row, column: 0).y, width: labelWidth - 8, height: cellSize)
        }

        /// The whole column from its labels to its state band, for the convergence frame.
        func columnFrame(_ column: Int) -> Rect {
            let top = cell(row: 0, column: column)
            let y = gridY - Self.columnHeaderHeight
            // Outside the cells by 2 pixels: the 3-pixel line stays within the 4-pixel gap to the neighbours.
            return Rect(x: top.x, y: y, width: cellSize, height: stateBand(column).maxY - y).insetBy(-2)
        }

        /// Baseline of the mean drift under a column.
        var driftBaseline: Double { gridY + gridHeight + 17 }

        func stateBand(_ column: Int) -> Rect {
            Rect(x: cell(row: 0, column: column).x, y: gridY + gridHeight + 25, width: cellSize, height: 18)
        }

        /// Baseline of the heatmap metrics row, under the state band.
        var metricsBaseline: Double { gridY + gridHeight + 58 }

        /// Baseline of the legend line (below the metrics row when there is one).
        var legendBaseline: Double { gridY + gridHeight + 68 + (metricsRow ? Self.metricsRowHeight : 0) }

        /// `count` cells and the gaps between them.
        private static func extent(_ count: Int, _ cellSize: Double) -> Double {
            Double(count) * cellSize + Double(count - 1) * gap
        }
    }

    // MARK: - Drawing

    private static func drawHeader(_ canvas: Canvas, plan: Plan, report: Report, options: Options) {
        let layout = plan.layout
        let verdict = plan.verdict
        let shownCount = plan.shown.count
        let processedCount = plan.processedCount
        let x = Layout.margin
        let width = layout.textWidth
        let title = "camwatch timeline: " + ChartText.model(report.model)
        canvas.text(canvas.fitted(title, width: width, Fonts.title), x: x, baseline: x + 14, Fonts.title, Palette.text)
        for (n, line) in verdict.enumerated() {
            canvas.text(line, x: x, baseline: layout.verdictBaseline + Double(n) * 16, Fonts.body, Palette.text)
        }
        var note = ChartText.count(report.probes.count, "probe") + " × "
        note +=
            shownCount == processedCount
            ? ChartText.count(processedCount, "processed checkpoint")
            : "\(shownCount) of \(processedCount) processed checkpoints (evenly subsampled)"
        if plan.failedCount > 0 {
            note += "; " + ChartText.count(plan.failedCount, "failed checkpoint") + " not shown"
        }
        note += "; heatmap \(options.colormap.rawValue), alpha \(ChartText.threshold(Double(options.alpha)))"
        let noteBaseline = layout.verdictBaseline + Double(max(1, verdict.count) - 1) * 16 + 19
        canvas.text(
            canvas.fitted(note, width: width, Fonts.small), x: x, baseline: noteBaseline, Fonts.small,
            Palette.secondaryText)
    }

    /// The second label line of a probe: `circle (class 0)`, `class 0` or `circle`.
    static func detail(of probe: Report.Probe) -> String? {
        switch (probe.label, probe.classIndex) {
        case (let label?, let index?): "\(label) (class \(index))"
        case (let label?, nil): label
        case (nil, let index?): "class \(index)"
        case (nil, nil): nil
        }
    }

    private static func drawRowLabel(_ canvas: Canvas, probe: Report.Probe, area: Rect) {
        let detail = detail(of: probe)
        let idBaseline = area.midY + (detail == nil ? 4 : -3)
        canvas.text(
            canvas.fitted(probe.id, width: area.width, Fonts.bodyBold), x: area.maxX, baseline: idBaseline,
            Fonts.bodyBold, Palette.text, align: .right)
        if let detail {
            canvas.text(
                canvas.fitted(detail, width: area.width, Fonts.small), x: area.maxX, baseline: idBaseline + 15,
                Fonts.small, Palette.secondaryText, align: .right)
        }
    }

    private static func drawCell(
        _ canvas: Canvas, rect: Rect, image: RGBImage?, heatmap: HeatmapArchive.Heatmap?, _ options: Options
    ) {
        guard let image, let heatmap, let values = upsampledValues(heatmap) else {
            canvas.fill(rect, Palette.missingCell)
            canvas.text("n/a", x: rect.midX, baseline: rect.midY + 4, Fonts.body, Palette.missingText, align: .center)
            return
        }
        let rgba = HeatmapOverlay.render(
            heatmap: values, width: heatmap.inputSize[1], height: heatmap.inputSize[0], over: image,
            colormap: options.colormap, alpha: options.alpha)
        canvas.image(rgba: rgba, width: image.width, height: image.height, in: rect)
    }

    private static func drawColumnAnnotations(
        _ canvas: Canvas, layout: Layout, column: Int, entry: Report.CheckpointEntry, isFirst: Bool,
        isConvergence: Bool
    ) {
        let cell = layout.cell(row: 0, column: column)
        let width = cell.width
        let primary = ChartText.checkpoint(entry)
        canvas.text(
            canvas.fitted(primary, width: width, Fonts.smallBold), x: cell.midX, baseline: layout.gridY - 21,
            Fonts.smallBold, Palette.text, align: .center)
        if primary != entry.name {
            canvas.text(
                canvas.fitted(entry.name, width: width, Fonts.small), x: cell.midX, baseline: layout.gridY - 7,
                Fonts.small, Palette.secondaryText, align: .center)
        }
        let drift = entry.drift.map { ChartText.drift($0.mean) } ?? (isFirst ? "first" : "n/a")
        canvas.text(
            canvas.fitted(drift, width: width, Fonts.small), x: cell.midX, baseline: layout.driftBaseline, Fonts.small,
            entry.drift == nil ? Palette.secondaryText : Palette.text, align: .center)
        let band = layout.stateBand(column)
        canvas.fill(band, Palette.state(entry.state))
        let stateText = isConvergence ? "converged" : ChartText.state(entry.state)
        let font = isConvergence ? Fonts.smallBold : Fonts.small
        canvas.text(
            canvas.fitted(stateText, width: width - 4, font), x: band.midX, baseline: band.midY + 4, font, Palette.text,
            align: .center)
        if isConvergence {
            canvas.stroke(layout.columnFrame(column), Palette.converged, lineWidth: 3)
        }
    }

    /// The row labels of the drift and state rows, and the legend: the colour scale, the states (`collapsed`
    /// and `diverged` only when a shown column has them) and the convergence frame (only when one is drawn), so the legend
    /// fits the narrowest picture.
    private static func drawFooter(
        _ canvas: Canvas, layout: Layout, options: Options, shown: [Report.CheckpointEntry], framed: Bool
    ) {
        let strip = Layout.margin + layout.labelWidth - 8
        canvas.text(
            "mean drift", x: strip, baseline: layout.driftBaseline, Fonts.small, Palette.secondaryText, align: .right)
        let band = layout.stateBand(0)
        canvas.text("state", x: strip, baseline: band.midY + 4, Fonts.small, Palette.secondaryText, align: .right)

        // Legend: the colour scale, then the state colours.
        let baseline = layout.legendBaseline
        var x = Layout.margin
        canvas.text("saliency low", x: x, baseline: baseline, Fonts.small, Palette.secondaryText)
        x += canvas.textWidth("saliency low", Fonts.small) + 6
        let table = options.colormap.lookupTable
        var ramp = [UInt8](repeating: 255, count: 256 * 4)
        for i in 0..<256 { for c in 0..<3 { ramp[i * 4 + c] = table[i * 3 + c] } }
        canvas.image(rgba: ramp, width: 256, height: 1, in: Rect(x: x, y: baseline - 10, width: 100, height: 12))
        x += 106
        canvas.text("high", x: x, baseline: baseline, Fonts.small, Palette.secondaryText)
        x += canvas.textWidth("high", Fonts.small) + 24
        // The states of every run, then the alarming ones only when a column has them.
        let states = ConvergenceState.allCases.filter { state in
            [.warmingUp, .changing, .stable].contains(state) || shown.contains { $0.state == state }
        }
        for state in states {
            canvas.fill(Rect(x: x, y: baseline - 10, width: 12, height: 12), Palette.state(state))
            x += 16
            let name = ChartText.state(state)
            canvas.text(name, x: x, baseline: baseline, Fonts.small, Palette.secondaryText)
            x += canvas.textWidth(name, Fonts.small) + 14
        }
        guard framed else { return }
        canvas.stroke(Rect(x: x + 1.5, y: baseline - 8.5, width: 11, height: 9), Palette.converged, lineWidth: 3)
        canvas.text("became stable", x: x + 18, baseline: baseline, Fonts.small, Palette.secondaryText)
    }

    // MARK: - Cell content

    /// The probe image resized to `side × side` (cairo's box-filtered scaling), or `nil` when unusable.
    private static func cellImage(_ image: RGBImage, side: Int) -> RGBImage? {
        guard image.width > 0, image.height > 0, image.pixels.count == image.width * image.height * 3,
            let canvas = try? Canvas(width: side, height: side, background: Palette.missingCell)
        else { return nil }
        let bytes = image.rgb8Pixels
        var rgba = [UInt8](repeating: 255, count: image.width * image.height * 4)
        for p in 0..<(image.width * image.height) {
            rgba[p * 4] = bytes[p * 3]
            rgba[p * 4 + 1] = bytes[p * 3 + 1]
            rgba[p * 4 + 2] = bytes[p * 3 + 2]
        }
        canvas.image(
            rgba: rgba, width: image.width, height: image.height,
            in: Rect(x: 0, y: 0, width: Double(side), height: Double(side)))
        guard let picture = try? canvas.picture() else { return nil }
        var pixels = [Float](repeating: 0, count: side * side * 3)
        for p in 0..<(side * side) {
            for c in 0..<3 { pixels[p * 3 + c] = Float(picture.rgba[p * 4 + c]) }
        }
        return RGBImage(width: side, height: side, pixels: pixels)
    }

    /// The heatmap at input resolution, or `nil` when its stored values do not match its shape.
    private static func upsampledValues(_ heatmap: HeatmapArchive.Heatmap) -> [Float]? {
        let shape = heatmap.shape
        let input = heatmap.inputSize
        guard shape.count == 2, shape.allSatisfy({ $0 > 0 }), shape[0] * shape[1] == heatmap.values.count,
            input.count == 2, input.allSatisfy({ $0 > 0 && $0 <= 16384 })
        else { return nil }
        let values = heatmap.upsampled()
        return values.count == input[0] * input[1] ? values : nil
    }
}
