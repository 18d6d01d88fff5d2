import ArgumentParser
import CamwatchMonitor
import Foundation

extension Camwatch {
    struct ReportCommand: ParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "report",
            abstract: "Summarise a watched run: checkpoints, drift, state, failures and the verdict.",
            discussion: """
                With --check, prints the verdict and exits with a status for monitoring (Nagios, cron):
                  0  saliency still changing or warming up
                  1  stable: the heatmaps have stopped moving (converged)
                  2  the model collapsed (it no longer reads its input: a dead run, not a converged one) or diverged,
                     the last checkpoint failed, or there is no readable report
                """)

        @Argument(help: "The watcher's output directory (where report.json is).")
        var directory: String

        @Option(name: .long, help: "text, json, markdown or html (one self-contained page, as index.html in DIR).")
        var format: OutputFormat = .text

        @Option(name: .long, help: "With --format html: the probe images, drawn under the heatmaps (else grey).")
        var probes: String?

        @Flag(name: .long, help: "Print only the verdict and exit 0 (changing), 1 (stable) or 2 (collapsed/failed/unreadable).")
        var check = false

        /// What `--format` accepts: the renderer's text formats, and the HTML page (made by CamwatchPublish).
        enum OutputFormat: String, CaseIterable, ExpressibleByArgument {
            case text, json, markdown, html

            /// The report renderer's format; `nil` for the HTML page.
            var rendered: ReportFormat? { ReportFormat(rawValue: rawValue) }
        }

        func run() throws {
            if check {
                let (status, message) = ReportRenderer.checkStatus(directory: directory)
                print(message)
                throw ExitCode(status.rawValue)
            }
            guard let chosen = format.rendered else { return try printHTML() }
            let report: Report
            do {
                guard let read = try ReportStore.read(directory: directory) else {
                    throw CLIError("\(ReportStore.path(in: directory)): no report (has camwatch watch run here?)")
                }
                report = read
            } catch let error as MonitorError { throw CLIError(error.description) }
            if chosen == .json, let stored = FileManager.default.contents(atPath: ReportStore.path(in: directory)) {
                // The file exactly as the watcher wrote it (it decoded above, so it is a report): scripts that
                // pin a schema version see the one on disk, not this binary's re-encoding of it.
                let text = String(decoding: stored, as: UTF8.self)
                print(text, terminator: text.hasSuffix("\n") ? "" : "\n")
                return
            }
            do {
                let text = try ReportRenderer.render(report, format: chosen)
                print(text, terminator: text.hasSuffix("\n") ? "" : "\n")
            } catch { throw CLIError("\(error)") }
        }
    }
}
