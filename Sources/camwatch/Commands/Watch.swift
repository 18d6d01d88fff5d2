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

        @Option(name: .long, help: "Target layer or module prefix (default: the last conv-like layer).")
        var layer: String?

        @Option(name: .long, help: "Input height and width (default: the spec's input_size, else 224).")
        var inputSize: Int?

        @Option(name: .long, help: "Factor applied to 0–255 pixel values (default: the config's, the checkpoint's, else 1/255).")
        var scale: Float?

        @Option(name: .long, parsing: .upToNextOption, help: "Per-channel mean subtracted after scaling (3 values).")
        var mean: [Float] = []

        @Option(name: .long, parsing: .upToNextOption, help: "Per-channel standard deviation divided by (3 values).")
        var std: [Float] = []

        @Flag(name: .long, help: "Feed channels in BGR order (Caffe-style models).")
        var bgr = false

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

        func validate() throws {
            if let interval, interval <= 0 { throw ValidationError("--interval must be positive") }
        }

        func run() async throws {
            var overrides = WatchConfiguration.Overrides()
            overrides.checkpoints = directory
            overrides.probes = probes
            overrides.out = out
            overrides.arch = model.arch
            overrides.model = model.model
            overrides.layer = layer
            overrides.inputSize = inputSize
            overrides.interval = interval
            overrides.tensorboard = tensorboard
            overrides.priority = priority
            overrides.pattern = pattern
            overrides.scale = scale
            overrides.mean = mean.isEmpty ? nil : mean
            overrides.std = std.isEmpty ? nil : std
            overrides.bgr = bgr
            overrides.once = once
            // One plain line per event on stderr (no colours, no progress): what journald wants.
            LoggingSystem.bootstrap { _ in LineLogHandler() }
            var logger = Logger(label: "camwatch")
            // Before the start-up check loads a checkpoint: from here on camwatch yields to the trainer.
            let priority = (try? WatchConfiguration.resolve(file: config, overrides: overrides))?.priority ?? .idle
            let lowered = ComputeThreads.lowerSessionShare(for: priority)
            let prepared: WatchService.Prepared
            do {
                prepared = try WatchService.prepare(
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
