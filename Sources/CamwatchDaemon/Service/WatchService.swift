import CamwatchMonitor
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

    public init(_ prepared: RunStartup.Prepared, alerts: AlertDispatcher, notifier: SystemdNotifier, logger: Logger) {
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
            reader: .child(prepared.childCommand), readerRetryPause: prepared.readerRetryPause, events: events,
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
        try? FileManager.default.removeItem(atPath: RunOutputs.stagingDirectory(configuration.out))
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
            let names = NameList.summary(writing.map(\.name))
            logger.warning("--once: leaving \(writing.count) file(s) still being written: \(names)")
        }
        return true
    }

    /// Waits no longer than half the watchdog interval, so the loop pings in time.
    private func watchdogBounded(_ wait: Duration) -> Duration {
        guard let interval = notifier.watchdogInterval else { return wait }
        return min(wait, interval)
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
