import ArgumentParser
import CamwatchDaemon
import CamwatchTensor
import Foundation
import Logging
import ServiceLifecycle
import UnixSignals

extension Camwatch {
    struct Watch: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Watch a checkpoint directory: Score-CAM every probe at every new checkpoint, drift, convergence, alerts.",
            discussion: """
                Outputs in --out: report.json, timeline.png, drift.png, heatmaps.h5, camwatch.prom, index.html (and with
                --tensorboard DIR an event file there). A restart resumes from them. SIGTERM/SIGINT stop after
                abandoning the checkpoint in progress; SIGHUP reloads --config.
                Every setting can also come from a YAML file (deploy/camwatch.example.yaml); flags override it.
                """)

        /// Every option that also sets a config key: one group, laid over the file by `WatchConfiguration.resolve`.
        @OptionGroup var overrides: WatchConfiguration.Overrides

        @Option(name: .long, help: "YAML configuration file.")
        var config: String?

        /// `resources.priority` as the flags and the file set it (idle when the file cannot be read: the
        /// start-up check reports that).
        var priorityBeforeStart: ComputePriority {
            (try? WatchConfiguration.resolve(file: config, overrides: overrides))?.priority ?? .idle
        }

        func run() async throws {
            // One plain line per event on stderr (no colours, no progress): what journald wants.
            LoggingSystem.bootstrap { _ in LineLogHandler() }
            var logger = Logger(label: "camwatch")
            // Before the start-up check loads a checkpoint: from here on camwatch yields to the trainer.
            let lowered = ComputeThreads.lowerSessionShare(for: priorityBeforeStart)
            let prepared: RunStartup.Prepared
            do {
                prepared = try RunStartup.prepare(
                    configurationPath: config, overrides: overrides,
                    childCommand: [Runtime.executablePath, LoadCheckpointChild.name], logger: logger)
            } catch { throw CLIError("\(error)") }
            let configuration = prepared.configuration
            logger.logLevel = configuration.logLevel
            if let lowered { logger.info("\(lowered)") }
            // One BLAS thread: all of the analysis runs on camwatch's own worker threads, which carry
            // resources.priority; OpenBLAS's pool threads would run at the process's normal priority.
            Runtime.configure(threads: 1)
            if let note = Runtime.blasNote { logger.info("\(note)") }
            let alerts: AlertDispatcher
            do { alerts = try AlertDispatcher(configuration: configuration, logger: logger) } catch {
                throw CLIError("\(error)")
            }
            let notifier = SystemdNotifier(logger: logger)
            let service = WatchService(prepared, alerts: alerts, notifier: notifier, logger: logger)
            let group = ServiceGroup(
                configuration: .init(
                    // Shut down in reverse order: the watcher first, then the dispatcher drains the last alerts.
                    services: [
                        .init(service: alerts, successTerminationBehavior: .gracefullyShutdownGroup),
                        .init(service: service, successTerminationBehavior: .gracefullyShutdownGroup),
                    ],
                    gracefulShutdownSignals: [.sigterm, .sigint],
                    logger: logger))
            do { try await group.run() } catch { throw CLIError("camwatch watch stopped: \(error)") }
            if let failure = service.onceFailure { throw CLIError(failure) }
        }
    }
}
