import CamwatchCheckpoint
public import CamwatchMonitor
import CamwatchNN
import CamwatchSaliency
import CamwatchTensor
import Foundation
public import Logging

/// Start-up of `camwatch watch`, before the service runs: the configuration resolved, the probes loaded, the
/// watched and output directories checked, the first checkpoint tried against the settings (`StartupCheck`), the
/// output directory locked and cleared of what a killed watcher left, the run's report opened. It returns what
/// it established as a value (`Prepared`); the service and its pipeline only ever receive that value and never
/// call back here.
public enum RunStartup {
    /// What start-up established: `prepare` makes it, the CLI reports its errors, `WatchService` and its
    /// pipeline are made from it.
    public struct Prepared: Sendable {
        public var configuration: WatchConfiguration
        public var configurationPath: String?
        public var overrides: WatchConfiguration.Overrides
        public var session: MonitorSession
        public var lock: OutputLock
        public var watcher: CheckpointWatcher
        public var childCommand: [String]
        /// Lines for the log once start-up has succeeded (a failed start prints only its error).
        public var notices: [String] = []
        /// Test seam: runs on the pipeline's thread before the derived outputs are written (a test stalls it to
        /// play an output write that never returns).
        var beforeOutputs: (@Sendable () -> Void)?
        /// The first pause after a failed reader child (`CheckpointProcessor.retryPause`); tests shorten it.
        var readerRetryPause: Duration = .seconds(5)
    }

    /// Checks everything a bad start would otherwise reveal later, in this order: the config, the probes,
    /// the checkpoint directory, the architecture and layer (when known before a checkpoint), the output
    /// directory (created, locked, its report resumed).
    /// - Throws: `ConfigurationError` with one line naming the file and the reason.
    public static func prepare(
        configurationPath: String?, overrides: WatchConfiguration.Overrides, childCommand: [String],
        logger: Logger
    ) throws(ConfigurationError) -> Prepared {
        try prepare(
            configurationPath: configurationPath, overrides: overrides, childCommand: childCommand,
            reader: .child(childCommand), logger: logger)
    }

    /// `prepare` with the start-up check reading through `reader` (tests pass a reader in this process).
    static func prepare(
        configurationPath: String?, overrides: WatchConfiguration.Overrides, childCommand: [String],
        reader: SnapshotReader, logger: Logger
    ) throws(ConfigurationError) -> Prepared {
        let configuration = try WatchConfiguration.resolve(file: configurationPath, overrides: overrides)
        try StartupCheck.checkOutput(configuration)
        let probes: ProbeSet
        do { probes = try ProbeSet.load(directory: configuration.probes) } catch {
            throw ConfigurationError(.failure(ErrorCause(error)))
        }
        // Checked before --out is touched; the ids of an earlier run are added once its report is open.
        var watcher = try CheckpointWatcher(configuration: configuration, alreadySeen: [])
        let spec = try startupSpec(configuration)
        if let layer = configuration.layer, let spec, !spec.hasLayer(named: layer) {
            throw ConfigurationError(
                path: nil,
                reason: "unknown layer '\(layer)' in model '\(spec.name)'; layers: "
                    + spec.layerNames.suffix(12).joined(separator: ", "))
        }
        // The architecture, layer and input size against a real checkpoint, while nothing is written yet.
        var notices: [String] = []
        // Read only (the lock is not held yet); an unreadable report is dealt with when the session opens it.
        let earlier = (try? ReportStore.read(directory: configuration.out)) ?? nil
        let recordedFailed = Set(earlier?.checkpoints.filter { $0.status == .failed }.map(\.id) ?? [])
        switch try StartupCheck.checkFirstCheckpoint(
            configuration, watcher: watcher, reader: reader, recordedFailed: recordedFailed)
        {
        case .checked(let file, let inputSize):
            logger.debug("start-up check passed on \(file): input \(inputSize.height)×\(inputSize.width)")
        case .unusable(let reasons):
            // Each becomes a failed entry with its reason; the settings are checked against the first good one.
            notices.append(
                "start-up check: none of the first \(reasons.count) checkpoint(s) can be analysed (\(DisplayText.clipped(reasons[0], limit: 500))); "
                    + "watching anyway: they are recorded failed")
        case .nothing where !watcher.hasMatchingFiles():
            let unmatched = watcher.unmatchedNames()
            let seen = unmatched.isEmpty ? "" : "; seen, not watched: " + NameList.summary(unmatched)
            notices.append("no file in \(configuration.checkpoints) matches '\(configuration.pattern)' yet\(seen)")
        case .nothing: break
        }
        let lock = try OutputLock(directory: configuration.out)
        // Only now, holding the lock: no other watcher can be writing these.
        let leftovers = removeLeftovers(out: configuration.out, textfiles: configuration.textfileDirectory)
        if !leftovers.isEmpty {
            notices.append("removed \(leftovers.count) temporary file(s) left by a camwatch that was killed: \(NameList.summary(leftovers))")
        }
        let processor = CheckpointProcessor(reader: reader, configuration: configuration)
        let size = spec.map { processor.inputSize(spec: $0) } ?? configuration.inputSize.map { ($0, $0) }
        let model = Report.Model(
            arch: architectureName(configuration.architecture, spec: spec), layer: configuration.layer ?? "",
            inputSize: size.map { [$0.0, $0.1] } ?? [], method: configuration.method.rawValue)
        let fresh = Report(
            model: model, probes: probes.descriptions, convergence: configuration.tracker, run: runIdentity(configuration))
        let session: MonitorSession
        do {
            session = try MonitorSession.open(
                directory: configuration.out, probes: probes, fresh: fresh, now: Date().timeIntervalSince1970)
        } catch { throw ConfigurationError(.failure(ErrorCause(error))) }
        watcher.skip(session.knownIDs)
        return Prepared(
            configuration: configuration, configurationPath: configurationPath, overrides: overrides, session: session,
            lock: lock, watcher: watcher, childCommand: childCommand, notices: notices)
    }

    /// Deletes what a killed watcher leaves behind — atomic-write temporaries in `--out` (and camwatch's own
    /// in the textfile directory), private checkpoint copies in `--out/.staging`, start-up copies of dead
    /// processes in the temporary directory — and returns their names. Only names camwatch itself creates.
    ///
    /// - Parameter temporary: where start-up copies are made (the process's temporary directory; tests pass
    ///   their own, so that parallel tests do not clean up each other's fixtures).
    static func removeLeftovers(
        out: String, textfiles: String?, temporary: String = FileManager.default.temporaryDirectory.path
    ) -> [String] {
        var removed = AtomicFile.removeStaleTemporaries(in: out)
        if let textfiles {
            // A shared directory: other exporters' temporaries are theirs.
            removed += AtomicFile.removeStaleTemporaries(in: textfiles, prefix: ".camwatch-")
        }
        let fm = FileManager.default
        let staging = RunOutputs.stagingDirectory(out)
        for name in (try? fm.contentsOfDirectory(atPath: staging)) ?? [] {
            if (try? fm.removeItem(atPath: staging + "/" + name)) != nil { removed.append(".staging/" + name) }
        }
        for name in (try? fm.contentsOfDirectory(atPath: temporary)) ?? [] {
            guard let pid = StartupCheck.stagingProcess(name), DaemonSystemCalls.processIsGone(pid) else { continue }
            if (try? fm.removeItem(atPath: temporary + "/" + name)) != nil { removed.append(name) }
        }
        return removed
    }

    /// The run's identity for report.json: the resolved checkpoint directory with its device and inode (the same
    /// directory renamed or bind-mounted elsewhere is the same run), and the probe directory.
    static func runIdentity(_ configuration: WatchConfiguration) -> Report.Run {
        let status = try? DaemonSystemCalls.pathStatus(configuration.checkpoints).get()
        return Report.Run(
            checkpoints: StartupCheck.resolved(configuration.checkpoints), device: status?.device, inode: status?.inode,
            probes: StartupCheck.resolved(configuration.probes))
    }

    /// The architecture when it is known before any checkpoint is read: `--arch`, `--model`, or a
    /// model.json beside the checkpoints.
    private static func startupSpec(_ configuration: WatchConfiguration) throws(ConfigurationError) -> ModelSpec? {
        do {
            if let spec = try configuration.architecture.fixedSpec() { return spec }
            let probe = URL(fileURLWithPath: configuration.checkpoints).appendingPathComponent("x.h5").path
            return try ArchitectureSource.specBeside(probe)?.0
        } catch { throw ConfigurationError(.failure(ErrorCause(error))) }
    }

    private static func architectureName(_ source: ArchitectureSource, spec: ModelSpec?) -> String? {
        switch source {
        case .zoo(let name): name
        case .specFile: spec?.name
        case .automatic: spec?.name
        }
    }
}
