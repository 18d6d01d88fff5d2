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

        @Argument(help: "The directory the trainer writes checkpoints into (or 'checkpoints:' in --config).")
        var directory: String?

        @Option(name: .long, help: "Probe PNGs, with an optional probes.json manifest.")
        var probes: String?

        @Option(name: .long, help: "Output directory (state, report, pictures, metrics).")
        var out: String?

        /// `--arch` / `--model`, as `explain` and `predict` take them (default: the checkpoint's camwatch_model, or a
        /// model.json beside the checkpoints).
        @OptionGroup var model: ModelOptions

        @Option(name: .long, help: "Glob of checkpoint file names (default *.h5; *.keras for Keras 3's default).")
        var pattern: String?

        @Option(name: .long, help: "Target layer or module prefix (default: the deepest conv-like layer with a map of at least 7×7 at the input size).")
        var layer: String?

        /// `--input-size`, `--mean`, `--std`, `--scale`, `--bgr`/`--rgb`, as every command takes them; each wins
        /// over the config file, which wins over the checkpoint's attributes.
        @OptionGroup var preprocessing: PreprocessingOptions

        @Option(name: .long, help: "YAML configuration file.")
        var config: String?

        @Flag(name: .long, help: "Process the checkpoints that are there, then exit.")
        var once = false

        @Option(name: .long, help: "Seconds between scans when no inotify event arrives (default 10).")
        var interval: Double?

        @Option(name: .long, help: "Also write camwatch's scalars and heatmaps to a TensorBoard event file in DIR.")
        var tensorboard: String?

        @Option(name: .long, help: "CPU and I/O priority of the analysis: idle (default; only cores the trainer leaves free), low, normal.")
        var priority: ComputePriority?

        /// The flags, as the configuration's overrides.
        var overrides: WatchConfiguration.Overrides {
            var overrides = WatchConfiguration.Overrides()
            overrides.checkpoints = directory
            overrides.probes = probes
            overrides.out = out
            overrides.arch = model.arch
            overrides.model = model.model
            overrides.layer = layer
            overrides.interval = interval
            overrides.tensorboard = tensorboard
            overrides.priority = priority
            overrides.pattern = pattern
            overrides.preprocessing = preprocessing.values
            overrides.once = once
            return overrides
        }

        /// `resources.priority` as the flags and the file set it (idle when the file cannot be read: the
        /// start-up check reports that).
        var priorityBeforeStart: ComputePriority {
            (try? WatchConfiguration.resolve(file: config, overrides: overrides))?.priority ?? .idle
        }

        func run() async throws {
            let overrides = self.overrides
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
