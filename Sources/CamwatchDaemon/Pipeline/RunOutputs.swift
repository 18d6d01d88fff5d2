import CamwatchCharts
import CamwatchImage
import CamwatchMonitor
import Foundation
import Logging

/// The files derived from the report after every checkpoint: `camwatch.prom` (and its copy in a
/// node_exporter textfile directory), `timeline.png` and `drift.png`. Each is written atomically; a failure
/// is logged and never stops the watcher (the report and the archive, already saved, are what matter).
struct RunOutputs: Sendable {
    static let timelineName = "timeline.png"
    static let driftName = "drift.png"

    var configuration: WatchConfiguration

    /// Where private copies of checkpoints are parsed: `<out>/.staging` (on the output's file system, so a copy
    /// never fills the trainer's; emptied at start-up and removed on the way out).
    static func stagingDirectory(_ out: String) -> String {
        URL(fileURLWithPath: out).appendingPathComponent(".staging").path
    }

    /// - Parameters:
    ///   - charts: also draw the pictures (skipped when only failures were added: they cost the most).
    ///   - progress: called after each file (the watchdog's heartbeat).
    func write(session: MonitorSession, charts: Bool = true, logger: Logger, progress: () -> Void = {}) {
        let report = session.report
        let out = configuration.out
        do {
            try PrometheusTextfile.write(report, jobName: configuration.jobName, directory: out)
            if let directory = configuration.textfileDirectory {
                try PrometheusTextfile.write(
                    report, jobName: configuration.jobName, directory: directory,
                    fileName: "camwatch-\(configuration.jobName).prom")
            }
        } catch {
            logger.warning("cannot write metrics: \(error)")
        }
        progress()
        guard charts else { return }
        let timeline = TimelineChart.Options(
            maxColumns: configuration.maxColumns, colormap: configuration.colormap, alpha: configuration.alpha)
        do {
            try TimelineChart.write(
                report: report, archive: session.archive, probeImages: session.probes.images,
                to: path(Self.timelineName), options: timeline)
        } catch {
            logger.warning("cannot draw \(Self.timelineName): \(error)")
        }
        progress()
        do {
            try DriftChart.write(report: report, to: path(Self.driftName))
        } catch {
            logger.warning("cannot draw \(Self.driftName): \(error)")
        }
        progress()
    }

    private func path(_ name: String) -> String {
        URL(fileURLWithPath: configuration.out).appendingPathComponent(name).path
    }
}
