import CamwatchImage
import CamwatchMonitor
import CamwatchPublish
import Foundation

extension Camwatch.ReportCommand {
    /// `--format html`: the page the watcher keeps as index.html, made from report.json and heatmaps.h5.
    func printHTML() throws {
        let report: Report
        let archive: HeatmapArchive
        var images: [String: RGBImage] = [:]
        do {
            guard let read = try ReportStore.read(directory: directory) else {
                throw CLIError("\(ReportStore.path(in: directory)): no report (has camwatch watch run here?)")
            }
            report = read
            archive = try HeatmapArchive.load(directory: directory)
            if let probes { images = try ProbeSet.load(directory: probes).images }
        } catch let error as MonitorError { throw CLIError(error.description) }
        let name = URL(fileURLWithPath: directory).standardizedFileURL.lastPathComponent
        let page = HTMLReport(jobName: name.isEmpty || name == "/" ? "camwatch" : name)
        print(page.render(report: report, archive: archive, probeImages: images, now: Date().timeIntervalSince1970), terminator: "")
    }
}
