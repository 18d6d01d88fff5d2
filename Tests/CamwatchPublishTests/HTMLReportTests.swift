import CamwatchImage
import CamwatchMonitor
@testable import CamwatchPublish
import CamwatchTestSupport
import Foundation
import Testing

@Suite struct HTMLReportTests {
    static func count(_ needle: String, in text: String) -> Int {
        text.components(separatedBy: needle).count - 1
    }

    @Test("self-contained: verdict, one row per checkpoint, every heatmap and chart inline, failures escaped, no script or URL")
    func pageContent() throws {
        let fixture = PublishFixture.make(processed: 5, failedAfter: [2])
        let page = HTMLReport(jobName: "run<7>").render(
            report: fixture.report, archive: fixture.archive, probeImages: fixture.probeImages, now: 1_800_000_000)
        let escape = HTMLReport(jobName: "").escape
        #expect(page.hasPrefix("<!DOCTYPE html>"))
        let state = fixture.report.convergence.state.rawValue
        #expect(page.contains("<title>camwatch · run&lt;7&gt; · \(state)</title>"))
        #expect(page.contains("<p id=\"verdict\" class=\"verdict state-\(state)\">\(escape(ReportRenderer.verdict(for: fixture.report)))</p>"))
        #expect(Self.count("<tr class=\"checkpoint ", in: page) == fixture.report.checkpoints.count)
        #expect(Self.count("<tr class=\"checkpoint failed", in: page) == 1)
        // Drift chart, timeline, one heatmap per probe.
        #expect(Self.count("src=\"data:image/png;base64,", in: page) == 2 + PublishFixture.probeIDs.count)
        #expect(page.contains("broken-2.h5: truncated HDF5 file &lt;&amp;&gt; (superblock says 4096 bytes)"))
        #expect(!page.contains("<script") && !page.contains("http://") && !page.contains("https://"))
        #expect(page.contains("<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">"))
        #expect(page.contains("@media (max-width:640px)"))
    }

    @Test("the latest heatmap of each probe is its overlay at the last processed checkpoint, drawn over the probe")
    func latestHeatmapsAreTheOverlays() throws {
        let fixture = PublishFixture.make(processed: 3, failedAfter: [2])
        let overlay = ProbeOverlay(colormap: .viridis, alpha: 0.7)
        let page = HTMLReport(jobName: "x", overlay: overlay).render(
            report: fixture.report, archive: fixture.archive, probeImages: fixture.probeImages, now: 0)
        let last = try #require(fixture.report.lastProcessed)
        #expect(last.id == "id-2")
        for probe in PublishFixture.probeIDs {
            let heatmap = try #require(fixture.archive.entry(id: last.id)?.heatmaps[probe])
            let png = try #require(try overlay.png(heatmap, over: fixture.probeImages[probe], name: probe))
            #expect(page.contains("<img src=\"\(HTMLReport.dataURL(png))\" alt=\"Score-CAM heatmap of \(probe)\">"))
        }
        // Without probe images (camwatch report without --probes) the heatmaps are drawn over grey.
        let grey = HTMLReport(jobName: "x", overlay: overlay).render(
            report: fixture.report, archive: fixture.archive, probeImages: [:], now: 0)
        let heatmap = try #require(fixture.archive.entry(id: last.id)?.heatmaps["ring"])
        let png = try #require(try overlay.png(heatmap, over: nil, name: "ring"))
        #expect(grey.contains(HTMLReport.dataURL(png)))
    }

    @Test("an empty run: the page says so instead of failing")
    func emptyRun() {
        let report = Report(model: Report.Model(arch: nil, layer: "", inputSize: []), probes: [])
        let page = HTMLReport(jobName: "new").render(report: report, archive: HeatmapArchive(), probeImages: [:], now: 0)
        #expect(page.contains("Verdict: no checkpoints processed yet."))
        #expect(page.contains("no checkpoint yet") && page.contains("no processed checkpoint yet"))
        #expect(Self.count("<tr class=\"checkpoint", in: page) == 0)
    }

    @Test("write replaces index.html atomically and names the file when it cannot")
    func writeAndFailure() throws {
        let root = try Fixtures.temporaryDirectory("camwatch-html")
        defer { try? FileManager.default.removeItem(at: root) }
        let fixture = PublishFixture.make(processed: 2)
        let page = HTMLReport(jobName: "x")
        try page.write(report: fixture.report, archive: fixture.archive, probeImages: fixture.probeImages, directory: root.path, now: 0)
        let written = try String(contentsOf: root.appendingPathComponent("index.html"), encoding: .utf8)
        #expect(written == page.render(report: fixture.report, archive: fixture.archive, probeImages: fixture.probeImages, now: 0))
        #expect(try FileManager.default.contentsOfDirectory(atPath: root.path) == ["index.html"])
        let missing = root.appendingPathComponent("gone").path
        #expect {
            try page.write(report: fixture.report, archive: fixture.archive, probeImages: fixture.probeImages, directory: missing, now: 0)
        } throws: { error in
            (error as? PublishError)?.path == missing + "/index.html"
        }
    }
}

/// The page in a real browser: headless Chromium renders it to a PNG and dumps its DOM.
@Suite struct HTMLBrowserTests {
    @Test(
        "Chromium at phone width: a screenshot that is not blank; the DOM holds the verdict and one row per checkpoint",
        .enabled(if: ExternalTools.chromium != nil, Comment(rawValue: ExternalTools.chromiumMissing)))
    func chromiumRendersThePage() throws {
        let chromium = try #require(ExternalTools.chromium)
        let root = try Fixtures.temporaryDirectory("camwatch-html")
        defer { try? FileManager.default.removeItem(at: root) }
        let fixture = PublishFixture.make(processed: 6, failedAfter: [1, 4])
        let page = HTMLReport(jobName: "browser")
        try page.write(report: fixture.report, archive: fixture.archive, probeImages: fixture.probeImages, directory: root.path, now: 0)
        let url = root.appendingPathComponent("index.html").absoluteString
        let profile = root.appendingPathComponent("profile")
        let screenshot = root.appendingPathComponent("phone.png")

        let shot = try ExternalTools.run(
            chromium,
            ExternalTools.chromiumArguments(profile: profile) + [
                "--window-size=412,1800", "--screenshot=\(screenshot.path)", url,
            ])
        #expect(shot.status == 0, "chromium: \(shot.stderr.suffix(2000))")
        let image = try PNGDecoder.decode(path: screenshot.path)
        #expect(image.width == 412 && image.height == 1800)
        // Not blank: many pixels differ from the page background, in many colours (heatmaps, charts, text).
        let background: [Float] = [0xf6, 0xf7, 0xf9]
        var differing = 0
        var colours = Set<UInt32>()
        for p in 0..<(image.width * image.height) {
            let rgb = (0..<3).map { image.pixels[p * 3 + $0] }
            if zip(rgb, background).contains(where: { abs($0 - $1) > 8 }) && rgb != [255, 255, 255] { differing += 1 }
            colours.insert(UInt32(rgb[0]) << 16 | UInt32(rgb[1]) << 8 | UInt32(rgb[2]))
        }
        let fraction = Double(differing) / Double(image.width * image.height)
        #expect(fraction > 0.1, "only \(fraction) of the screenshot differs from the background")
        #expect(colours.count > 500, "only \(colours.count) colours in the screenshot")

        let dom = try ExternalTools.run(chromium, ExternalTools.chromiumArguments(profile: profile) + ["--dump-dom", url])
        #expect(dom.status == 0, "chromium: \(dom.stderr.suffix(2000))")
        let verdict = page.escape(ReportRenderer.verdict(for: fixture.report))
        let state = fixture.report.convergence.state.rawValue
        #expect(dom.stdout.contains("id=\"verdict\" class=\"verdict state-\(state)\">\(verdict)</p>"), "\(dom.stdout.prefix(3000))")
        #expect(HTMLReportTests.count("<tr class=\"checkpoint ", in: dom.stdout) == fixture.report.checkpoints.count)
        #expect(fixture.report.checkpoints.count == 8)
    }
}

/// The checkpoint table on a 1400-px screen: every row's state is second and in view, and the row at which the
/// run became stable says so.
@Suite struct HTMLTableWidthTests {
    /// The fixture with every column the table can have: four metric attributes, the relative rule's ratios and
    /// all five heatmap metrics, over 24 checkpoints.
    static func wideReport() throws -> PublishFixture {
        var fixture = PublishFixture.make(processed: 24, stableFrom: 20)
        let probe = try JSONDecoder().decode(Report.ProbeMetrics.self, from: Data("""
            {"energy": 0.3123, "confidence": 0.9, "explanation_confidence": 0.8, "drop": 0.1234, "increase": true,
             "box_area": 0.08, "deletion": 0.1234, "insertion": 0.4567}
            """.utf8))
        for index in fixture.report.checkpoints.indices {
            fixture.report.checkpoints[index].metrics = Report.CheckpointMetrics(
                perProbe: Dictionary(uniqueKeysWithValues: PublishFixture.probeIDs.map { ($0, probe) }), step: 8)
            let k = Double(index + 1)
            fixture.report.checkpoints[index].attributes = [
                "lr": .number(0.003 / k + 1.234_567e-7), "val_acc": .number(0.912_345 + k * 1e-6),
                "val_loss": .number(0.234_567_8 / k), "val_top5": .number(0.987_654_3),
            ]
            fixture.report.checkpoints[index].convergence = ConvergenceReading(
                driftRatio: 0.123_456 / k, weightRatio: 0.234_567 / k, statisticsRatio: 0.1, settled: false)
        }
        return fixture
    }

    @Test func theStateIsTheSecondColumnAndTheStableRowSaysSo() throws {
        var fixture = try Self.wideReport()
        // Judged by a rule every drift of the fixture meets: stable at its third checkpoint.
        fixture.report.rejudge(with: ConvergenceRule(mode: .absolute, threshold: 10, patience: 2))
        #expect(fixture.report.convergence.convergedAt?.name == "ckpt-003.h5")
        let page = HTMLReport(jobName: "wide").render(
            report: fixture.report, archive: fixture.archive, probeImages: fixture.probeImages, now: 0)
        #expect(page.contains("<thead><tr><th>checkpoint</th><th>state</th>"))
        #expect(HTMLReportTests.count("<td class=\"state\">", in: page) == fixture.report.checkpoints.count)
        #expect(HTMLReportTests.count("<td class=\"state\">became stable</td>", in: page) == 1)
        #expect(page.contains("<td>ckpt-003.h5</td><td class=\"state\">became stable</td>"))
    }

    @Test(
        "Chromium at 1400 px: the table needs no sideways scrolling",
        .enabled(if: ExternalTools.chromium != nil, Comment(rawValue: ExternalTools.chromiumMissing)))
    func theTableFitsA1400PixelScreen() throws {
        let chromium = try #require(ExternalTools.chromium)
        let root = try Fixtures.temporaryDirectory("camwatch-html-wide")
        defer { try? FileManager.default.removeItem(at: root) }
        let fixture = try Self.wideReport()
        var page = HTMLReport(jobName: "wide").render(
            report: fixture.report, archive: fixture.archive, probeImages: fixture.probeImages, now: 0)
        // A measuring script in a copy of the page (camwatch's own page has none): the table's scroll box
        // against its visible width, written into the DOM that --dump-dom prints.
        let probe = """
            <script>document.addEventListener('DOMContentLoaded',function(){var s=document.querySelector('#checkpoints .scroll');\
            document.body.setAttribute('data-fit',s.scrollWidth<=s.clientWidth?'yes':'no '+s.scrollWidth+'>'+s.clientWidth);});</script>
            """
        page = page.replacingOccurrences(of: "</body>", with: probe + "</body>")
        let file = root.appendingPathComponent("index.html")
        try page.write(to: file, atomically: true, encoding: .utf8)
        let dom = try ExternalTools.run(
            chromium,
            ExternalTools.chromiumArguments(profile: root.appendingPathComponent("profile")) + [
                "--window-size=1400,900", "--virtual-time-budget=2000", "--dump-dom", file.absoluteString,
            ])
        #expect(dom.status == 0, "chromium: \(dom.stderr.suffix(2000))")
        #expect(dom.stdout.contains("data-fit=\"yes\""), "\(dom.stdout.components(separatedBy: "data-fit").dropFirst().first?.prefix(40) ?? "no measurement")")
    }
}
