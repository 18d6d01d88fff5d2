public import CamwatchCharts
public import CamwatchImage
public import CamwatchMonitor
import Foundation

/// `index.html`: the run on one self-contained page, for sharing and for a phone.
///
/// Everything is inline — images as base64 `data:` URLs, the style sheet in a `<style>` element — and there
/// is no script: the file can be mailed, attached to a ticket or opened offline. Sections: the verdict,
/// the drift chart (`drift.png`), the timeline (`timeline.png`), the table of checkpoints (the columns of
/// `camwatch report`, one `<tr class="checkpoint">` per checkpoint), each probe's latest heatmap, and the
/// failed checkpoints with their reasons. Narrow screens get one column and horizontally scrolling tables.
public struct HTMLReport: Sendable {
    /// The page's file name in the output directory.
    public static let fileName = "index.html"

    public var overlay: ProbeOverlay
    public var timeline: TimelineChart.Options
    /// The job's name, in the title.
    public var jobName: String

    public init(jobName: String, overlay: ProbeOverlay = ProbeOverlay(), timeline: TimelineChart.Options = .init()) {
        self.jobName = jobName
        self.overlay = overlay
        self.timeline = timeline
    }

    /// The page.
    /// - Parameters:
    ///   - probeImages: the probe images by id; a probe without one is drawn over grey.
    ///   - now: Unix seconds, printed as the time the page was made.
    public func render(report: Report, archive: HeatmapArchive, probeImages: [String: RGBImage], now: Double) -> String {
        let status = ReportRenderer.checkStatus(for: report)
        // A failed last checkpoint outranks the state; a collapsed run has a colour of its own.
        let stateClass =
            status == .failed && report.convergence.state != .collapsed ? "failed" : report.convergence.state.rawValue
        let processed = report.checkpoints.filter { $0.status == .ok }.count
        let failed = report.checkpoints.count - processed
        var html = """
            <!DOCTYPE html>
            <html lang="en">
            <head>
            <meta charset="utf-8">
            <meta name="viewport" content="width=device-width, initial-scale=1">
            <meta name="generator" content="camwatch">
            <title>camwatch · \(escape(jobName)) · \(escape(report.convergence.state.rawValue))</title>
            <style>\(Self.styleSheet)</style>
            </head>
            <body>
            <main>
            <header>
            <h1>camwatch <span class="job">\(escape(jobName))</span></h1>
            <p id="verdict" class="verdict state-\(stateClass)">\(escape(ReportRenderer.verdict(for: report)))</p>
            <dl class="facts">
            <dt>model</dt><dd>\(escape(modelLine(report.model)))</dd>
            <dt>checkpoints</dt><dd>\(processed) processed, \(failed) failed</dd>
            <dt>probes</dt><dd>\(report.probes.count)</dd>
            <dt>rule</dt><dd>\(escape(report.convergence.rule.mode.rawValue))</dd>
            <dt>updated</dt><dd>\(escape(Self.utc(now)))</dd>
            </dl>
            </header>

            """
        html += section("drift", "Drift") { () throws(ChartError) -> String in
            picture(try DriftChart.render(report: report), alt: "mean and max saliency drift per checkpoint")
        }
        html += section("timeline", "Timeline") { () throws(ChartError) -> String in
            let images = timelineImages(report: report, probeImages: probeImages)
            return picture(
                try TimelineChart.render(report: report, archive: archive, probeImages: images, options: timeline),
                alt: "heatmap of every probe at every checkpoint", scroll: true)
        }
        html += checkpointTable(report)
        html += latestHeatmaps(report: report, archive: archive, probeImages: probeImages)
        html += failures(report)
        html += """
            <footer>Written by camwatch after every checkpoint; report.json in the same directory holds every number.</footer>
            </main>
            </body>
            </html>

            """
        return html
    }

    /// Renders the page and replaces `<directory>/index.html` with it atomically.
    /// - Throws: `PublishError` when the file cannot be written.
    public func write(
        report: Report, archive: HeatmapArchive, probeImages: [String: RGBImage], directory: String, now: Double
    ) throws(PublishError) {
        let path = URL(fileURLWithPath: directory).appendingPathComponent(Self.fileName).path
        let page = render(report: report, archive: archive, probeImages: probeImages, now: now)
        do { try AtomicFile.publish(Array(page.utf8), to: path) } catch {
            throw PublishError(path: path, reason: error.reason)
        }
    }

    // MARK: - Sections

    private func section(_ id: String, _ title: String, _ body: () throws(ChartError) -> String) -> String {
        let content: String
        do { content = try body() } catch { content = "<p class=\"note\">cannot draw: \(escape(error.reason))</p>" }
        return "<section id=\"\(id)\">\n<h2>\(title)</h2>\n\(content)\n</section>\n"
    }

    private func picture(_ picture: Picture, alt: String, scroll: Bool = false) -> String {
        guard picture.width > 0, picture.height > 0,
            let png = try? PNGEncoder.encodeRGBA8(width: picture.width, height: picture.height, pixels: picture.rgba)
        else { return "<p class=\"note\">nothing to draw yet</p>" }
        let image =
            "<img src=\"\(Self.dataURL(png))\" width=\"\(picture.width)\" height=\"\(picture.height)\" alt=\"\(escape(alt))\">"
        return scroll ? "<div class=\"scroll\">\(image)</div>" : image
    }

    /// The report's table with the state second, right after the checkpoint, so the verdict of every row is
    /// in view on any screen (the numbers that follow may scroll); the row at which the run became stable says
    /// so in its state cell.
    private func checkpointTable(_ report: Report) -> String {
        var html = "<section id=\"checkpoints\">\n<h2>Checkpoints</h2>\n"
        guard !report.checkpoints.isEmpty else { return html + "<p class=\"note\">no checkpoint yet</p>\n</section>\n" }
        let (cells, numeric) = ReportRenderer.rows(report)
        let stateColumn = cells[0].firstIndex(of: "state") ?? 0
        let order = [0, stateColumn] + cells[0].indices.filter { $0 != 0 && $0 != stateColumn }
        let convergedID = report.convergence.state == .stable ? report.convergence.convergedAt?.id : nil
        html += "<div class=\"scroll\"><table>\n<thead><tr>"
        for column in order {
            html += "<th\(numeric[column] ? " class=\"num\"" : "")>\(escape(cells[0][column]))</th>"
        }
        html += "</tr></thead>\n<tbody>\n"
        for (entry, row) in zip(report.checkpoints, cells.dropFirst()) {
            html += "<tr class=\"checkpoint \(entry.status.rawValue) state-\(entry.state.rawValue)\">"
            for column in order {
                if column == stateColumn {
                    let text = entry.id == convergedID ? "became stable" : row[column]
                    html += "<td class=\"state\">\(escape(text))</td>"
                } else {
                    html += "<td\(numeric[column] ? " class=\"num\"" : "")>\(escape(row[column]))</td>"
                }
            }
            html += "</tr>\n"
        }
        return html + "</tbody>\n</table></div>\n</section>\n"
    }

    private func latestHeatmaps(report: Report, archive: HeatmapArchive, probeImages: [String: RGBImage]) -> String {
        var html = "<section id=\"heatmaps\">\n<h2>Latest heatmaps</h2>\n"
        guard let last = report.lastProcessed, let heatmaps = archive.entry(id: last.id)?.heatmaps else {
            return html + "<p class=\"note\">no processed checkpoint yet</p>\n</section>\n"
        }
        html += "<p class=\"note\">at \(escape(checkpointLine(last)))</p>\n<div class=\"heatmaps\">\n"
        for probe in report.probes {
            var caption = "<b>\(escape(probe.id))</b>"
            if let label = probe.label { caption += " \(escape(label))" }
            if let prediction = last.predictions[probe.id] {
                caption += "<br>class \(prediction.classIndex)"
                if let predicted = prediction.predicted, predicted != prediction.classIndex {
                    caption += ", predicted \(predicted)"
                }
            }
            if let drift = last.drift?.perProbe[probe.id]?.drift {
                caption += "<br>drift \(String(format: "%.4g", drift))"
            }
            var image = "<div class=\"missing\">no heatmap</div>"
            if let heatmap = heatmaps[probe.id], let png = try? overlay.png(heatmap, over: probeImages[probe.id], name: probe.id) {
                image = "<img src=\"\(Self.dataURL(png))\" alt=\"Score-CAM heatmap of \(escape(probe.id))\">"
            }
            html += "<figure class=\"probe\">\(image)<figcaption>\(caption)</figcaption></figure>\n"
        }
        return html + "</div>\n</section>\n"
    }

    private func failures(_ report: Report) -> String {
        let failed = report.checkpoints.filter { $0.status == .failed }
        var html = "<section id=\"failures\">\n<h2>Failures</h2>\n"
        guard !failed.isEmpty else { return html + "<p class=\"note\">none</p>\n</section>\n" }
        html += "<ul class=\"failures\">\n"
        for entry in failed {
            html +=
                "<li class=\"failure\"><b>\(escape(checkpointLine(entry)))</b> at \(escape(Self.utc(entry.processedAt)))"
                + "<br><span class=\"reason\">\(escape(entry.error ?? "no reason recorded"))</span></li>\n"
        }
        return html + "</ul>\n</section>\n"
    }

    // MARK: - Pieces

    /// Probe images for the timeline: a probe without one is drawn over grey rather than left out.
    private func timelineImages(report: Report, probeImages: [String: RGBImage]) -> [String: RGBImage] {
        var images = probeImages
        let size = report.model.inputSize.count == 2 ? report.model.inputSize : [64, 64]
        for probe in report.probes where images[probe.id] == nil {
            images[probe.id] = ProbeOverlay.resized(nil, height: max(1, size[0]), width: max(1, size[1]))
        }
        return images
    }

    private func modelLine(_ model: Report.Model) -> String {
        var parts = [model.arch ?? "model spec (unnamed)"]
        if !model.layer.isEmpty { parts.append("layer \(model.layer)") }
        if model.inputSize.count == 2 { parts.append("input \(model.inputSize[0])×\(model.inputSize[1])") }
        return parts.joined(separator: ", ")
    }

    private func checkpointLine(_ entry: Report.CheckpointEntry) -> String {
        var line = entry.name
        var details: [String] = []
        if let epoch = entry.epoch { details.append("epoch \(epoch)") }
        if let step = entry.step { details.append("step \(step)") }
        if !details.isEmpty { line += " (" + details.joined(separator: ", ") + ")" }
        return line
    }

    static func dataURL(_ png: [UInt8]) -> String {
        "data:image/png;base64," + Data(png).base64EncodedString()
    }

    static func utc(_ seconds: Double) -> String {
        let formatter = ISO8601DateFormatter()
        formatter.formatOptions = [.withInternetDateTime]
        return formatter.string(from: Date(timeIntervalSince1970: seconds.isFinite ? seconds : 0))
    }

    /// Text for HTML content and attribute values.
    func escape(_ text: String) -> String {
        var out = ""
        out.reserveCapacity(text.count)
        for character in text {
            switch character {
            case "&": out += "&amp;"
            case "<": out += "&lt;"
            case ">": out += "&gt;"
            case "\"": out += "&quot;"
            case "'": out += "&#39;"
            default: out.append(character)
            }
        }
        return out
    }

    /// One style sheet, no external fonts: system fonts, light colours matching the charts, one column
    /// below 640 px.
    static let styleSheet = """
        *{box-sizing:border-box}
        body{margin:0;background:#f6f7f9;color:#1f2328;font:15px/1.45 system-ui,-apple-system,"Segoe UI",Roboto,"DejaVu Sans",sans-serif}
        main{max-width:1360px;margin:0 auto;padding:20px}
        h1{font-size:1.5rem;margin:0 0 12px}
        h1 .job{font-weight:400;color:#57606a}
        h2{font-size:1.15rem;margin:0 0 10px}
        section,header{background:#fff;border:1px solid #d8dee4;border-radius:8px;padding:16px;margin:0 0 16px}
        .verdict{margin:0 0 12px;padding:12px 14px;border-left:6px solid #8c959f;border-radius:6px;background:#f0f2f4;font-weight:600}
        .state-stable{border-color:#1a7f37;background:#dafbe1}
        .state-changing{border-color:#bf8700;background:#fff8c5}
        .state-warming-up{border-color:#8c959f;background:#f0f2f4}
        .state-failed{border-color:#cf222e;background:#ffebe9}
        .state-collapsed{border-color:#8250df;background:#fbefff}
        dl.facts{display:grid;grid-template-columns:max-content 1fr;gap:2px 14px;margin:0}
        dl.facts dt{color:#57606a}
        dl.facts dd{margin:0}
        img{max-width:100%;height:auto;display:block}
        .scroll{overflow-x:auto;-webkit-overflow-scrolling:touch}
        .scroll img{max-width:none}
        table{border-collapse:collapse;font-size:13px;white-space:nowrap}
        th,td{padding:4px 5px;border-bottom:1px solid #d8dee4;text-align:left}
        th{position:sticky;top:0;background:#fff;white-space:normal;vertical-align:bottom}
        .num{text-align:right;font-variant-numeric:tabular-nums}
        tr.failed td{color:#cf222e}
        tr.state-stable td.state{color:#1a7f37;font-weight:600}
        tr.state-collapsed td.state{color:#8250df;font-weight:600}
        .heatmaps{display:grid;grid-template-columns:repeat(auto-fill,minmax(160px,1fr));gap:14px}
        figure.probe{margin:0}
        figure.probe img{width:100%;image-rendering:pixelated;border-radius:4px}
        figcaption{font-size:13px;margin-top:4px;overflow-wrap:anywhere}
        .missing{aspect-ratio:1;background:#eaeef2;display:flex;align-items:center;justify-content:center;color:#57606a}
        ul.failures{margin:0;padding-left:18px}
        .reason{font-family:ui-monospace,"DejaVu Sans Mono",monospace;font-size:12px;overflow-wrap:anywhere}
        .note{color:#57606a;margin:0 0 8px}
        footer{color:#57606a;font-size:12px;text-align:center;padding:8px}
        @media (max-width:640px){
        main{padding:8px}
        section,header{padding:12px;border-radius:6px}
        h1{font-size:1.25rem}
        .heatmaps{grid-template-columns:repeat(2,1fr);gap:10px}
        }
        """
}
