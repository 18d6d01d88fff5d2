import CamwatchImage
import CamwatchMonitor
import CamwatchTestSupport
import Testing

@testable import CamwatchCharts

@Suite struct TimelineChartTests {
    private func render(
        _ report: Report, archive: HeatmapArchive? = nil, images: [String: RGBImage]? = nil,
        options: TimelineChart.Options = .init()
    ) throws -> (Picture, TimelineChart.Plan) {
        let picture = try TimelineChart.render(
            report: report, archive: archive ?? ChartFixtures.archive(for: report),
            probeImages: images ?? ChartFixtures.probeImages(for: report), options: options)
        return (picture, try TimelineChart.plan(report: report, options: options.clamped))
    }

    private func pixels(_ picture: Picture, _ rect: Rect) -> [UInt8] {
        picture.region(x: Int(rect.x), y: Int(rect.y), width: Int(rect.width), height: Int(rect.height))
    }

    @Test func sizeFollowsRowsColumnsAndCellSize() throws {
        let report = ChartFixtures.report(probes: 4, processed: 8)
        let (small, plan) = try render(report, options: .init(cellSize: 64))
        let (large, _) = try render(report, options: .init(cellSize: 80))
        #expect(small.rgba.count == small.width * small.height * 4)
        #expect(small.width == plan.layout.width && small.height == plan.layout.height)
        // 8 columns and 4 rows, each 16 pixels larger; everything else stays put.
        #expect(large.width - small.width == 8 * 16)
        #expect(large.height - small.height == 4 * 16)

        let (moreRows, _) = try render(ChartFixtures.report(probes: 6, processed: 8), options: .init(cellSize: 64))
        #expect(moreRows.width == small.width)
        #expect(moreRows.height - small.height == 2 * (64 + 4))
        let (moreColumns, _) = try render(ChartFixtures.report(probes: 4, processed: 10), options: .init(cellSize: 64))
        #expect(moreColumns.width - small.width == 2 * (64 + 4))
        #expect(moreColumns.height == small.height)
    }

    @Test func aCellIsTheHeatmapOverlayOfTheProbeImage() throws {
        let report = ChartFixtures.report(probes: 2, processed: 3)
        var archive = ChartFixtures.archive(for: report)
        // Checkpoint 2 repeats checkpoint 0's heatmaps: its cells must repeat too.
        let first = try #require(archive.entries.first)
        archive.record(HeatmapArchive.Entry(checkpoint: report.checkpoints[2].label, heatmaps: first.heatmaps))
        let image = ChartFixtures.probeImage(width: 64, height: 64)
        let images = Dictionary(uniqueKeysWithValues: report.probes.map { ($0.id, image) })
        let (picture, plan) = try render(report, archive: archive, images: images, options: .init(cellSize: 64))

        let cell00 = pixels(picture, plan.layout.cell(row: 0, column: 0))
        let cell01 = pixels(picture, plan.layout.cell(row: 0, column: 1))
        let cell02 = pixels(picture, plan.layout.cell(row: 0, column: 2))
        #expect(variance(cell00) > 500)
        #expect(largestDifference(cell00, cell02) == 0)
        let difference = zip(cell00, cell01).reduce(0) { $0 + abs(Int($1.0) - Int($1.1)) }
        #expect(Double(difference) / Double(cell00.count) > 5)

        // At cell size the probe image is drawn 1:1, so the cell is exactly the overlay.
        let heatmap = try #require(first.heatmaps[report.probes[0].id])
        let overlay = HeatmapOverlay.render(
            heatmap: heatmap.upsampled(), width: 56, height: 56, over: image, colormap: .jet, alpha: 0.5)
        let expected = (0..<(64 * 64)).flatMap { p in overlay[(p * 4)..<(p * 4 + 3)] }
        #expect(largestDifference(cell00, expected) == 0)
    }

    @Test func colormapAndAlphaChangeTheCells() throws {
        let report = ChartFixtures.report(probes: 1, processed: 2)
        let (jet, plan) = try render(report)
        let (viridis, _) = try render(report, options: .init(colormap: .viridis))
        let (faint, _) = try render(report, options: .init(alpha: 0))
        let cell = plan.layout.cell(row: 0, column: 0)
        let jetCell = pixels(jet, cell)
        #expect(largestDifference(jetCell, pixels(viridis, cell)) > 50)
        // Alpha 0 shows the bare grey probe image, alpha 0.5 tints it.
        func isGrey(_ bytes: [UInt8]) -> Bool {
            stride(from: 0, to: bytes.count, by: 3).allSatisfy { (p: Int) -> Bool in
                bytes[p] == bytes[p + 1] && bytes[p] == bytes[p + 2]
            }
        }
        let bare = pixels(faint, cell)
        #expect(isGrey(bare))
        #expect(!isGrey(jetCell))
        #expect(variance(bare) > 100)
    }

    @Test func missingImagesAndHeatmapsAreGreyCells() throws {
        let report = ChartFixtures.report(probes: 3, processed: 3)
        var archive = ChartFixtures.archive(for: report)
        var images = ChartFixtures.probeImages(for: report)
        images[report.probes[1].id] = nil
        // Probe 0 lacks its heatmap at checkpoint 1; probe 2's is damaged (values do not fill the shape).
        var entry = try #require(archive.entry(id: report.checkpoints[1].id))
        entry.heatmaps[report.probes[0].id] = nil
        entry.heatmaps[report.probes[2].id]?.values.removeLast()
        archive.record(entry)
        let (picture, plan) = try render(report, archive: archive, images: images)

        let grey = Palette.missingCell.bytes
        func isMissing(_ row: Int, _ column: Int) -> Bool {
            let cell = plan.layout.cell(row: row, column: column)
            let bytes = pixels(picture, cell)
            let greyPixels = stride(from: 0, to: bytes.count, by: 3).filter { Array(bytes[$0..<($0 + 3)]) == grey }
            // Mostly grey, with the dark "n/a" text in it.
            return greyPixels.count > bytes.count / 3 * 9 / 10
                && picture.darkPixels(x: Int(cell.x), y: Int(cell.y), width: Int(cell.width), height: Int(cell.height))
                    > 10
        }
        #expect(isMissing(1, 0) && isMissing(1, 1) && isMissing(1, 2))
        #expect(isMissing(0, 1) && isMissing(2, 1))
        #expect(!isMissing(0, 0) && !isMissing(2, 2))
    }

    @Test func rowLabelsAreDrawn() throws {
        let labelled = ChartFixtures.report(probes: 2, processed: 2)
        var unlabelled = ChartFixtures.report(probes: 2, processed: 2, labels: false)
        let (withLabels, plan) = try render(labelled)
        let (withoutLabels, planWithout) = try render(unlabelled)
        func darkInLabel(_ picture: Picture, _ layout: TimelineChart.Layout) -> Int {
            let strip = layout.rowLabel(0)
            return picture.darkPixels(
                x: Int(strip.x), y: Int(strip.y), width: Int(strip.width), height: Int(strip.height), below: 200)
        }
        let idOnly = darkInLabel(withoutLabels, planWithout.layout)
        let idAndLabel = darkInLabel(withLabels, plan.layout)
        #expect(idOnly > 100)
        // "circle (class 0)" in a smaller, lighter font adds about a third of the id's ink.
        #expect(idAndLabel > idOnly + 100)
        for n in unlabelled.probes.indices { unlabelled.probes[n].id = "" }
        let (blank, blankPlan) = try render(unlabelled, images: [:])
        #expect(darkInLabel(blank, blankPlan.layout) == 0)
    }

    @Test func columnLabelsAndDriftAreDrawn() throws {
        let report = ChartFixtures.report(probes: 2, processed: 3)
        var changed = report
        changed.checkpoints[1].drift?.mean = 0.987
        let (picture, plan) = try render(report)
        let (other, _) = try render(changed)
        let layout = plan.layout
        let cell = layout.cell(row: 0, column: 1)
        let header = Rect(
            x: cell.x, y: layout.gridY - TimelineChart.Layout.columnHeaderHeight, width: cell.width,
            height: TimelineChart.Layout.columnHeaderHeight)
        #expect(
            picture.darkPixels(x: Int(header.x), y: Int(header.y), width: Int(header.width), height: Int(header.height))
                > 40)
        let drift = Rect(x: cell.x, y: layout.driftBaseline - 12, width: cell.width, height: 16)
        #expect(
            picture.darkPixels(x: Int(drift.x), y: Int(drift.y), width: Int(drift.width), height: Int(drift.height))
                > 20)
        // Only the number under column 1 differs.
        #expect(largestDifference(pixels(picture, drift), pixels(other, drift)) > 100)
        let driftColumn2 = Rect(x: layout.cell(row: 0, column: 2).x, y: drift.y, width: drift.width, height: 16)
        #expect(largestDifference(pixels(picture, driftColumn2), pixels(other, driftColumn2)) == 0)
    }

    @Test func subsamplingKeepsFirstAndLastAndRespectsMaxColumns() {
        #expect(
            TimelineChart.columnIndices(count: 30, maxColumns: 12) == [0, 3, 5, 8, 11, 13, 16, 18, 21, 24, 26, 29])
        #expect(TimelineChart.columnIndices(count: 5, maxColumns: 12) == [0, 1, 2, 3, 4])
        #expect(TimelineChart.columnIndices(count: 12, maxColumns: 12) == Array(0..<12))
        #expect(TimelineChart.columnIndices(count: 13, maxColumns: 2) == [0, 12])
        #expect(TimelineChart.columnIndices(count: 13, maxColumns: 1) == [12])
        #expect(TimelineChart.columnIndices(count: 0, maxColumns: 12) == [])
        for count in 13...200 {
            for maxColumns in [3, 7, 12] {
                let indices = TimelineChart.columnIndices(count: count, maxColumns: maxColumns, keeping: count / 3)
                #expect(indices.count == maxColumns)
                #expect(indices.first == 0 && indices.last == count - 1)
                #expect(zip(indices, indices.dropFirst()).allSatisfy { $0 < $1 })
                #expect(indices.contains(count / 3))
            }
        }
    }

    @Test func aLongRunShowsTwelveColumnsIncludingTheConvergence() throws {
        let report = ChartFixtures.report(probes: 2, processed: 30, failedAfter: [4, 9])
        let convergedID = try #require(report.convergence.convergedAt?.id)
        let options = TimelineChart.Options(cellSize: 48)
        let (picture, plan) = try render(report, options: options)
        let ids = plan.shown.map(\.id)
        #expect(ids.count == 12)
        #expect(ids.first == "id-0" && ids.last == "id-29")
        #expect(ids.contains(convergedID))
        #expect(plan.failedCount == 2 && !ids.contains { $0.hasPrefix("failed") })
        // As wide as a run of exactly twelve checkpoints.
        let (twelve, _) = try render(ChartFixtures.report(probes: 2, processed: 12), options: options)
        #expect(picture.width == twelve.width)

        // The convergence column is framed in green.
        let column = try #require(ids.firstIndex(of: convergedID))
        let frame = plan.layout.columnFrame(column)
        let green = Palette.converged.bytes
        let left = Int(frame.x)
        let greenRows = (Int(frame.y) + 4..<Int(frame.maxY) - 4).filter { picture.rgb(x: left, y: $0) == green }
        #expect(greenRows.count > Int(frame.height) - 12)
    }

    @Test func emptyReportsAndOutOfRangeOptionsStillDraw() throws {
        let empty = ChartFixtures.report(probes: 0, processed: 0)
        let (picture, _) = try render(empty)
        #expect(picture.width >= TimelineChart.Layout.minimumWidth && picture.height > 100)
        let noCheckpoints = ChartFixtures.report(probes: 3, processed: 0)
        let (waiting, _) = try render(noCheckpoints)
        #expect(waiting.width * waiting.height * 4 == waiting.rgba.count)

        let report = ChartFixtures.report(probes: 2, processed: 2)
        let (clamped, plan) = try render(report, options: .init(maxColumns: -3, cellSize: 1, alpha: .nan))
        #expect(plan.layout.cellSize == 16 && plan.shown.count == 1)
        #expect(clamped.height == plan.layout.height)
    }

    @Test func aPictureBeyondCairosLimitIsAnError() throws {
        let report = ChartFixtures.report(probes: 2, processed: 400)
        let error = try #require(throws: ChartError.self) {
            try TimelineChart.render(
                report: report, archive: HeatmapArchive(), probeImages: [:],
                options: .init(maxColumns: 400, cellSize: 96))
        }
        #expect(error.path == nil)
        #expect(error.description.contains("32767"))
    }
}
