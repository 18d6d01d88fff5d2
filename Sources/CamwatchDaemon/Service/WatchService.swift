import CamwatchCheckpoint
import CamwatchImage
public import CamwatchMonitor
import CamwatchSaliency
import CamwatchNN
import CamwatchTensor
import Foundation
public import Logging
public import ServiceLifecycle
import Synchronization
import UnixSignals

/// `camwatch watch`: the checkpoint loop of docs/architecture.md §6 as a swift-service-lifecycle `Service`.
///
/// Each wake-up (an inotify event, or the polling interval) scans the directory; every checkpoint the
/// watcher declares ready is copied privately, parsed in a child process, ordered by step/epoch within its
/// batch, explained probe by probe, and recorded; then the report, the archive, the metrics and the pictures
/// are rewritten atomically and alerts go out. On graceful shutdown (SIGTERM/SIGINT) the checkpoint in
/// progress is abandoned between probes (it is processed again after a restart) and the loop exits with
/// the report as of the last completed checkpoint.
public final class WatchService: Service, Sendable {
    /// What start-up established; `WatchService.prepare` makes it, the CLI reports its errors.
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

    private let pipeline: CheckpointPipeline
    private let lock: OutputLock
    private let notices: [String]
    private let configurationPath: String?
    private let overrides: WatchConfiguration.Overrides
    private let logger: Logger
    private let notifier: SystemdNotifier
    private let heartbeat: WatchdogHeartbeat
    private let alerts: AlertDispatcher

    /// Why a finished `--once` run failed (every checkpoint failed, or no file matched the pattern); `nil`
    /// when it did not or has not finished.
    public var onceFailure: String? { pipeline.onceFailure }

    /// index.html and the TensorBoard events, written off the loop after each commit.
    var publisher: Publisher { pipeline.publisher }


    /// At most 8 names, then how many more.
    static func listed(_ names: [String]) -> String {
        let shown = names.prefix(8).joined(separator: ", ")
        return names.count > 8 ? shown + " and \(names.count - 8) more" : shown
    }

    // MARK: - Start-up

    /// Checks everything a bad start would otherwise reveal later, in this order: the config, the probes,
    /// the checkpoint directory, the architecture and layer (when known before a checkpoint), the output
    /// directory (created, locked, its report resumed).
    /// - Throws: `ConfigurationError` with one line naming the file and the reason.
    public static func prepare(
        configurationPath: String?, overrides: WatchConfiguration.Overrides, childCommand: [String],
        logger: Logger
    ) throws(ConfigurationError) -> Prepared {
        let configuration = try WatchConfiguration.resolve(file: configurationPath, overrides: overrides)
        try StartupCheck.checkOutput(configuration)
        let probes: ProbeSet
        do { probes = try ProbeSet.load(directory: configuration.probes) } catch {
            throw ConfigurationError(path: nil, reason: error.description)
        }
        // Checked before --out is touched; the ids of an earlier run are added once its report is open.
        var watcher = try Self.watcher(configuration, alreadySeen: [])
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
            configuration, watcher: watcher, childCommand: childCommand, recordedFailed: recordedFailed)
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
            let seen = unmatched.isEmpty ? "" : "; seen, not watched: " + listed(unmatched)
            notices.append("no file in \(configuration.checkpoints) matches '\(configuration.pattern)' yet\(seen)")
        case .nothing: break
        }
        let lock = try OutputLock(directory: configuration.out)
        // Only now, holding the lock: no other watcher can be writing these.
        let leftovers = removeLeftovers(out: configuration.out, textfiles: configuration.textfileDirectory)
        if !leftovers.isEmpty {
            notices.append("removed \(leftovers.count) temporary file(s) left by a camwatch that was killed: \(listed(leftovers))")
        }
        let processor = CheckpointProcessor(childCommand: childCommand, configuration: configuration)
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
        } catch { throw ConfigurationError(path: nil, reason: error.description) }
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
        let staging = stagingDirectory(out)
        for name in (try? fm.contentsOfDirectory(atPath: staging)) ?? [] {
            if (try? fm.removeItem(atPath: staging + "/" + name)) != nil { removed.append(".staging/" + name) }
        }
        for name in (try? fm.contentsOfDirectory(atPath: temporary)) ?? [] where name.hasPrefix(StartupCheck.stagingPrefix) {
            guard let pid = Int32(name.dropFirst(StartupCheck.stagingPrefix.count)), DaemonSystemCalls.processIsGone(pid)
            else { continue }
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

    static func watcher(_ configuration: WatchConfiguration, alreadySeen: Set<String>) throws(ConfigurationError)
        -> CheckpointWatcher
    {
        do {
            return try CheckpointWatcher(
                directory: configuration.checkpoints, pattern: configuration.pattern,
                settleInterval: .seconds(configuration.settle), incompleteAfter: .seconds(configuration.incompleteAfter),
                alreadySeen: alreadySeen)
        } catch { throw ConfigurationError(path: nil, reason: error.description) }
    }

    /// The architecture when it is known before any checkpoint is read: `--arch`, `--model`, or a
    /// model.json beside the checkpoints.
    private static func startupSpec(_ configuration: WatchConfiguration) throws(ConfigurationError) -> ModelSpec? {
        do {
            if let spec = try configuration.architecture.fixedSpec() { return spec }
            let probe = URL(fileURLWithPath: configuration.checkpoints).appendingPathComponent("x.h5").path
            return try ArchitectureSource.specBeside(probe)?.0
        } catch { throw ConfigurationError(path: nil, reason: error.description) }
    }

    private static func architectureName(_ source: ArchitectureSource, spec: ModelSpec?) -> String? {
        switch source {
        case .zoo(let name): name
        case .specFile: spec?.name
        case .automatic: spec?.name
        }
    }


    public init(_ prepared: Prepared, alerts: AlertDispatcher, notifier: SystemdNotifier, logger: Logger) {
        lock = prepared.lock
        notices = prepared.notices
        configurationPath = prepared.configurationPath
        overrides = prepared.overrides
        self.alerts = alerts
        self.notifier = notifier
        self.logger = logger
        let heartbeat = WatchdogHeartbeat(notifier: notifier)
        self.heartbeat = heartbeat
        var events = CheckpointPipeline.Events(
            alert: { alerts.submit($0) }, status: { _ = notifier.status($0) }, heartbeat: { heartbeat.beat() })
        events.beforeOutputs = prepared.beforeOutputs
        pipeline = CheckpointPipeline(
            configuration: prepared.configuration, session: prepared.session, watcher: prepared.watcher,
            childCommand: prepared.childCommand, readerRetryPause: prepared.readerRetryPause, events: events,
            logger: logger)
    }

    // MARK: - The loop

    public func run() async throws {
        let configuration = pipeline.configuration
        for recovery in pipeline.recoveries {
            logger.warning("\(recovery.error); moved aside to \(recovery.setAsidePath), starting that file afresh")
        }
        for notice in notices { logger.notice("\(notice)") }
        let report = pipeline.report
        logger.info(
            """
            watching \(configuration.checkpoints) (\(configuration.pattern)) → \(configuration.out); \
            \(report.checkpoints.count) checkpoints already in the report, state \(report.convergence.state.rawValue)
            """)
        // Publishing runs beside the loop for the service's whole life and finishes the last snapshot on the way out.
        async let published: Void = publisher.run()
        await onPipelineThread { _ in self.pipeline.writeOutputs() }
        // Trap SIGHUP before READY=1: until the handler is installed, SIGHUP's default action would kill us
        // (`systemctl reload` right after start).
        let hangups = await UnixSignalsSequence(trapping: .sighup)
        let events = DirectoryEvents(directory: configuration.checkpoints, useInotify: configuration.inotify && !configuration.once)
        let started = ContinuousClock.now
        await withTaskGroup(of: Void.self) { group in
            group.addTask { await self.reloadOnHangup(hangups) }
            await cancelWhenGracefulShutdown {
                var announcedReady = false
                while !Task.isCancelled {
                    let scan = self.pipeline.scan()
                    if let problem = scan.problem { self.logger.warning("\(problem)") }
                    for notice in scan.notices { self.logger.warning("\(notice)") }
                    if !announcedReady {
                        _ = self.notifier.ready(status: self.statusLine())
                        announcedReady = true
                    }
                    await self.onPipelineThread { stop in
                        self.pipeline.retryFailedCommit()
                        self.pipeline.handle(scan, stop: stop)
                    }
                    // The pipeline has returned: waiting for files now, which is no hang.
                    self.heartbeat.pingIdle()
                    if Task.isCancelled { break }
                    let current = self.pipeline.configuration
                    if current.once, self.onceIsOver(scan: scan, since: started, settle: current.settle) { break }
                    let limit = Duration.seconds(current.once ? min(current.settle, 1) : current.interval)
                    await events.nextWake(timeout: self.watchdogBounded(self.pipeline.suggestedWait(upTo: limit)))
                }
            }
            group.cancelAll()
        }
        publisher.finish()
        await published
        if configuration.once { pipeline.finishOnce() }
        let line = "stopping; " + statusLine()
        _ = notifier.stopping(status: line)
        logger.info("\(line)")
        // The staging directory holds only copies of the trainer's files: nothing there is state.
        try? FileManager.default.removeItem(atPath: Self.stagingDirectory(configuration.out))
        // The alert dispatcher drains its queue when the group shuts down (this service returning starts that).
    }

    /// Whether a `--once` run is done after `scan`: nothing more can be recorded (it says so in its exit
    /// status instead of going on), nothing is pending, or what is pending has stayed unfinished for longer
    /// than two settle intervals (named in the log).
    private func onceIsOver(scan: WatchScan, since started: ContinuousClock.Instant, settle: Double) -> Bool {
        if pipeline.outputsFailing { return true }
        guard let writing = pipeline.stillWriting else { return true }
        guard ContinuousClock.now - started > .seconds(settle * 2 + 2), scan.ready.isEmpty else { return false }
        if !writing.isEmpty {
            let names = Self.listed(writing.map(\.name))
            logger.warning("--once: leaving \(writing.count) file(s) still being written: \(names)")
        }
        return true
    }

    /// Waits no longer than half the watchdog interval, so the loop pings in time.
    private func watchdogBounded(_ wait: Duration) -> Duration {
        guard let interval = notifier.watchdogInterval else { return wait }
        return min(wait, interval)
    }

    /// Where private copies of checkpoints are parsed: `<out>/.staging`.
    static func stagingDirectory(_ out: String) -> String {
        URL(fileURLWithPath: out).appendingPathComponent(".staging").path
    }

    /// Runs `body` — pipeline work: file copies, a child process, Score-CAM, commits — on a thread of its
    /// own, off Swift's cooperative pool (a checkpoint takes seconds to minutes), while this task feeds the
    /// systemd watchdog for as long as the pipeline's heartbeat advances (`WatchdogHeartbeat`), and turns
    /// cancellation (shutdown) into the stop signal `body` polls between probes.
    private func onPipelineThread(_ body: @escaping @Sendable (StopSignal) -> Void) async {
        let stop = StopSignal()
        heartbeat.beat()
        await withTaskCancellationHandler {
            await withTaskGroup(of: Void.self) { group in
                if let interval = notifier.watchdogInterval {
                    group.addTask {
                        while !Task.isCancelled {
                            try? await Task.sleep(for: interval / 2)
                            if !Task.isCancelled { self.heartbeat.pingIfProgressing() }
                        }
                    }
                }
                await OwnThread.run { body(stop) }
                group.cancelAll()
            }
        } onCancel: {
            stop.set()
        }
    }

    // MARK: - SIGHUP

    /// Reloads the config file on SIGHUP: what can change while running takes effect at once; a broken
    /// file is rejected with a log line and the old configuration stays.
    private func reloadOnHangup(_ hangups: UnixSignalsSequence) async {
        for await _ in hangups {
            guard !Task.isCancelled else { return }
            _ = notifier.reloading()
            await reload()
            _ = notifier.ready(status: statusLine())
        }
    }

    func reload() async {
        guard let configurationPath else {
            logger.warning("SIGHUP: no --config file to reload")
            return
        }
        let fresh: WatchConfiguration
        do {
            fresh = try WatchConfiguration.resolve(file: configurationPath, overrides: overrides)
            try StartupCheck.checkTensorBoard(fresh)
        } catch {
            logger.error("SIGHUP: \(error); keeping the previous configuration")
            return
        }
        // The webhook URL file is part of the configuration: unreadable means the new one is broken.
        let webhook: Webhook.Configuration?
        do { webhook = try fresh.webhook() } catch {
            logger.error("SIGHUP: \(error); keeping the previous configuration")
            return
        }
        // The outputs are redrawn with the new settings: file writes, off the cooperative pool.
        let restartOnly = await OwnThread.run { self.pipeline.reconfigure(fresh) }
        alerts.configure(exec: fresh.execHook, webhook: webhook)
        var line = "SIGHUP: reloaded \(configurationPath)"
        if !restartOnly.isEmpty { line += "; needs a restart to change: " + restartOnly.joined(separator: ", ") }
        logger.notice("\(line)")
    }

    func statusLine() -> String { pipeline.statusLine() }
}

/// Feeds the systemd watchdog from the pipeline's progress, not from a timer: a stage stuck forever (a
/// Score-CAM that never returns, an output write on a hung mount) stops the pings, and systemd restarts the
/// service (`WatchdogSec=`).
///
/// The pipeline beats as it advances: after each Score-CAM batch, each checkpoint copied, each output file
/// written, and every second while it waits for the reader child (that wait is bounded by the reader's own
/// timeout, after which the child is killed). While the pipeline works, `WATCHDOG=1` goes out only when
/// the last beat is at most one watchdog period (`WATCHDOG_USEC`) old, or when camwatch's threads spent most of
/// the time since the last look waiting for a CPU (`RunQueueDelay`): at `priority: idle` a trainer that keeps
/// every core busy may hold a Score-CAM batch for longer than the period, and that is starvation, not a hang.
/// The idle loop, waiting for files, pings unconditionally.
final class WatchdogHeartbeat: Sendable {
    private struct State {
        var lastBeat = ContinuousClock.now
        /// When the ping task last looked, and the run-queue delay it read then.
        var lookedAt = ContinuousClock.now
        var delay: UInt64?
    }

    private let notifier: SystemdNotifier
    private let runQueueDelay: @Sendable () -> UInt64?
    private let state = Mutex(State())

    /// - Parameter runQueueDelay: the process's summed run-queue delay in nanoseconds (`RunQueueDelay.total`;
    ///   tests pass their own).
    init(notifier: SystemdNotifier, runQueueDelay: @escaping @Sendable () -> UInt64? = { RunQueueDelay.total() }) {
        self.notifier = notifier
        self.runQueueDelay = runQueueDelay
    }

    /// The pipeline advanced.
    func beat() {
        state.withLock { $0.lastBeat = .now }
    }

    /// `WATCHDOG=1` if the pipeline advanced within the watchdog period or was starved of CPU since the last
    /// look; nothing otherwise.
    func pingIfProgressing() {
        // `watchdogInterval` is half of WATCHDOG_USEC: the period is twice that.
        guard let interval = notifier.watchdogInterval else { return }
        let delay = runQueueDelay()
        let now = ContinuousClock.now
        let alive = state.withLock { state in
            defer { (state.lookedAt, state.delay) = (now, delay) }
            if now - state.lastBeat <= interval * 2 { return true }
            guard let delay, let before = state.delay, delay >= before else { return false }
            let waited = Duration.nanoseconds(Int64(clamping: delay - before))
            // Several threads wait at once, so the sum may exceed the elapsed time; half of it is "most".
            return waited * 2 >= now - state.lookedAt
        }
        if alive { _ = notifier.watchdog() }
    }

    /// `WATCHDOG=1` from the idle loop.
    func pingIdle() {
        if notifier.watchdogInterval != nil { _ = notifier.watchdog() }
    }
}
