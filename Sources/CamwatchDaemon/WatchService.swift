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

/// `camwatch watch`: the checkpoint loop of design.md §6 as a swift-service-lifecycle `Service`.
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
    }

    /// At most this many ready checkpoints are loaded and ordered together (bounds memory at start-up,
    /// when a whole run's checkpoints may be waiting).
    static let batchLimit = 8

    private let state: Mutex<State>
    private let lock: OutputLock
    private let childCommand: [String]
    private let notices: [String]
    private let configurationPath: String?
    private let overrides: WatchConfiguration.Overrides
    private let logger: Logger
    private let notifier: SystemdNotifier
    private let alerts: AlertDispatcher
    /// index.html and the TensorBoard events, written off the loop after each commit.
    let publisher: Publisher

    private struct State: Sendable {
        var configuration: WatchConfiguration
        var session: MonitorSession
        var watcher: CheckpointWatcher
        /// Failed checkpoints since the last processed one (for the `recovered` alert).
        var failuresInARow = 0
        /// Checkpoints taken since the last analysed one (`resources.every_nth` without epochs).
        var takenSinceAnalysed = 0
        /// What this run did, for `--once`'s exit status.
        var outcome = RunOutcome()
        /// Whether a warning was logged while most probes were misclassified (re-armed when they are not).
        var misclassifiedWarned = false
        /// Whether the probes' own size was compared with the input size yet.
        var probeSizeChecked = false
        /// Whether the kernel's refusal of `resources.priority` was logged.
        var priorityRefusalLogged = false
        /// Set at the end of a `--once` run that should exit non-zero.
        var onceFailure: String?
        /// `heatmaps.h5` lags the session: a processed checkpoint has not been written to it yet.
        var archiveDirty = false
        /// Why the last commit (or a private copy in `--out`) failed, while it keeps failing: the outputs
        /// cannot be written (disk full, read-only, I/O error). The session keeps what it recorded and every
        /// wake-up tries again; `--once` stops and exits non-zero.
        var outputFailure: String?
        /// The session holds entries `report.json` does not have yet (the last commit failed).
        var commitPending = false
    }

    /// Why a finished `--once` run failed (every checkpoint failed, or no file matched the pattern); `nil`
    /// when it did not or has not finished.
    public var onceFailure: String? { state.withLock { $0.onceFailure } }

    private func onceFailure(_ s: State) -> String? {
        let c = s.configuration
        if let failure = s.outputFailure {
            return "\(c.out): cannot write the outputs, checkpoints left unprocessed or unrecorded: \(failure)"
        }
        let unreadable = s.watcher.unreadable
        if !unreadable.isEmpty {
            // Asked to process what is there, and some of it could not even be read: not a success.
            return "\(c.checkpoints): \(unreadable.count) checkpoint(s) left unprocessed, camwatch may not read them "
                + "(permissions): " + Self.listed(unreadable.map(\.name))
        }
        if !s.watcher.hasMatchingFiles() {
            let unmatched = s.watcher.unmatchedNames()
            let seen = unmatched.isEmpty
                ? "the directory holds no other files either"
                : "seen, not watched: " + Self.listed(unmatched)
            return "\(c.checkpoints): no file matches the pattern '\(c.pattern)' (\(seen))"
        }
        if s.outcome.failed > 0, s.outcome.analysed == 0, s.outcome.skipped == 0 {
            let all = s.outcome.failed == 1 ? "the only checkpoint" : "all \(s.outcome.failed) checkpoints"
            return "\(c.checkpoints): \(all) failed (see the lines above and \(ReportStore.path(in: c.out)))"
        }
        return nil
    }

    /// `message` starting with `path`: prefixed unless it names the file already (never twice).
    static func naming(_ path: String, _ message: String) -> String {
        message.contains(path) ? message : "\(path): \(message)"
    }

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
        if let checked = try StartupCheck.checkFirstCheckpoint(configuration, watcher: watcher, childCommand: childCommand) {
            logger.debug(
                "start-up check passed on \(checked.file): input \(checked.inputSize.width)×\(checked.inputSize.height)")
        } else if !watcher.hasMatchingFiles() {
            let unmatched = watcher.unmatchedNames()
            let seen = unmatched.isEmpty ? "" : "; seen, not watched: " + listed(unmatched)
            notices.append("no file in \(configuration.checkpoints) matches '\(configuration.pattern)' yet\(seen)")
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
        let fresh = Report(model: model, probes: probes.descriptions, convergence: configuration.tracker)
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
    static func removeLeftovers(out: String, textfiles: String?) -> [String] {
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
        let temporary = fm.temporaryDirectory.path
        for name in (try? fm.contentsOfDirectory(atPath: temporary)) ?? [] where name.hasPrefix(StartupCheck.stagingPrefix) {
            guard let pid = Int32(name.dropFirst(StartupCheck.stagingPrefix.count)), kill(pid, 0) != 0, errno == ESRCH
            else { continue }
            if (try? fm.removeItem(atPath: temporary + "/" + name)) != nil { removed.append(name) }
        }
        return removed
    }

    private static func watcher(_ configuration: WatchConfiguration, alreadySeen: Set<String>) throws(ConfigurationError)
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
        state = Mutex(State(configuration: prepared.configuration, session: prepared.session, watcher: prepared.watcher))
        lock = prepared.lock
        notices = prepared.notices
        childCommand = prepared.childCommand
        configurationPath = prepared.configurationPath
        overrides = prepared.overrides
        self.alerts = alerts
        self.notifier = notifier
        self.logger = logger
        publisher = Publisher(logger: logger)
    }

    // MARK: - The loop

    public func run() async throws {
        let configuration = state.withLock { $0.configuration }
        for recovery in state.withLock({ $0.session.recoveries }) {
            logger.warning("\(recovery.error); moved aside to \(recovery.setAsidePath), starting that file afresh")
        }
        for notice in notices { logger.notice("\(notice)") }
        let report = state.withLock { $0.session.report }
        logger.info(
            """
            watching \(configuration.checkpoints) (\(configuration.pattern)) → \(configuration.out); \
            \(report.checkpoints.count) checkpoints already in the report, state \(report.convergence.state.rawValue)
            """)
        // Publishing runs beside the loop for the service's whole life and finishes the last snapshot on the way out.
        async let published: Void = publisher.run()
        writeOutputs()
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
                    self.retryFailedCommit()
                    let scan = self.state.withLock { $0.watcher.scan() }
                    if let problem = scan.problem { self.logger.warning("\(problem)") }
                    for notice in scan.notices { self.logger.warning("\(notice)") }
                    if !announcedReady {
                        _ = self.notifier.ready(status: self.statusLine())
                        announcedReady = true
                    }
                    await self.handle(scan)
                    self.pingWatchdog()
                    if Task.isCancelled { break }
                    let current = self.state.withLock { $0.configuration }
                    // Nothing more can be recorded: --once says so in its exit status instead of going on.
                    if current.once, self.state.withLock({ $0.outputFailure != nil }) { break }
                    if current.once {
                        let pending = self.state.withLock { $0.watcher.pending }
                        let waited = ContinuousClock.now - started
                        if pending.isEmpty { break }
                        if waited > .seconds(current.settle * 2 + 2) && scan.ready.isEmpty {
                            let unreadable = Set(self.state.withLock { $0.watcher.unreadable }.map(\.id))
                            let writing = pending.filter { !unreadable.contains($0.id) }
                            if !writing.isEmpty {
                                let names = Self.listed(writing.map(\.name))
                                self.logger.warning("--once: leaving \(writing.count) file(s) still being written: \(names)")
                            }
                            break
                        }
                    }
                    let wait = self.state.withLock {
                        $0.watcher.suggestedWait(upTo: .seconds(current.once ? min(current.settle, 1) : current.interval))
                    }
                    await events.nextWake(timeout: self.watchdogBounded(wait))
                }
            }
            group.cancelAll()
        }
        publisher.finish()
        await published
        if configuration.once { state.withLock { $0.onceFailure = onceFailure($0) } }
        let line = "stopping; " + statusLine()
        _ = notifier.stopping(status: line)
        logger.info("\(line)")
        // The staging directory holds only copies of the trainer's files: nothing there is state.
        try? FileManager.default.removeItem(atPath: stagingDirectory(configuration))
        // The alert dispatcher drains its queue when the group shuts down (this service returning starts that).
    }

    /// Waits no longer than half the watchdog interval, so the loop pings in time.
    private func watchdogBounded(_ wait: Duration) -> Duration {
        guard let interval = notifier.watchdogInterval else { return wait }
        return min(wait, interval)
    }

    private func pingWatchdog() {
        if notifier.watchdogInterval != nil { _ = notifier.watchdog() }
    }

    private func stagingDirectory(_ configuration: WatchConfiguration) -> String {
        Self.stagingDirectory(configuration.out)
    }

    /// Where private copies of checkpoints are parsed: `<out>/.staging`.
    static func stagingDirectory(_ out: String) -> String {
        URL(fileURLWithPath: out).appendingPathComponent(".staging").path
    }

    /// Failures first (in name order), then the ready checkpoints in batches ordered by step/epoch, each
    /// batch on a thread at `resources.priority`.
    private func handle(_ scan: WatchScan) async {
        // Failures first, committed together: a directory of junk costs one report write, not one per file,
        // and the checkpoints found with them do not wait behind it.
        var failures = 0
        for event in scan.events {
            guard let reason = event.failureReason else { continue }
            recordFailure(event.file, reason: "\(event.file.path): \(reason)", checkpoint: nil, seconds: 0, commit: false)
            failures += 1
        }
        if failures > 0 { save(processed: false) }
        var ready = scan.ready
        let readyAt = ContinuousClock.now
        while !ready.isEmpty && !Task.isCancelled {
            if state.withLock({ $0.configuration.once && $0.outputFailure != nil }) { break }
            let batch = Array(ready.prefix(Self.batchLimit))
            ready.removeFirst(batch.count)
            await onComputeThread { stop in self.process(batch, readyAt: readyAt, stop: stop) }
        }
    }

    /// Runs `body` on a thread of its own, off Swift's cooperative pool (a checkpoint takes seconds to
    /// minutes), while this task keeps the systemd watchdog fed however long a busy trainer leaves the
    /// analysis waiting, and turns cancellation (shutdown) into the stop signal `body` polls between probes.
    /// The parts of `body` that compute or read run lowered to `resources.priority` (`lowered`).
    private func onComputeThread(_ body: @escaping @Sendable (StopSignal) -> Void) async {
        let stop = StopSignal()
        await withTaskCancellationHandler {
            await withTaskGroup(of: Void.self) { group in
                if let interval = notifier.watchdogInterval {
                    group.addTask {
                        while !Task.isCancelled {
                            try? await Task.sleep(for: interval / 2)
                            if !Task.isCancelled { _ = self.notifier.watchdog() }
                        }
                    }
                }
                await withCheckedContinuation { (done: CheckedContinuation<Void, Never>) in
                    ComputeThreads.detach {
                        body(stop)
                        done.resume()
                    }
                }
                group.cancelAll()
            }
        } onCancel: {
            stop.set()
        }
    }

    /// Runs `body` on a thread lowered to `resources.priority`; logs once when the kernel refuses it.
    private func lowered<Result: Sendable>(_ body: @Sendable () -> Result) -> Result {
        let priority = state.withLock { $0.configuration.priority }
        return ComputeThreads.run(priority: priority, refused: { reason in
            let first = self.state.withLock { s in
                defer { s.priorityRefusalLogged = true }
                return !s.priorityRefusalLogged
            }
            if first { self.logger.warning("resources.priority \(priority.rawValue) refused by the kernel: \(reason)") }
        }, body)
    }

    private func process(_ files: [CheckpointFile], readyAt: ContinuousClock.Instant, stop: StopSignal) {
        let configuration = state.withLock { $0.configuration }
        let staging = stagingDirectory(configuration)
        try? FileManager.default.createDirectory(atPath: staging, withIntermediateDirectories: true)
        let processor = CheckpointProcessor(childCommand: childCommand, configuration: configuration)
        var pending: [PendingCheckpoint] = []
        for file in files {
            do {
                let copied = lowered {
                    Result { () throws(WatcherError) in
                        try self.state.withLock { (s: inout State) throws(WatcherError) in
                            try s.watcher.snapshot(file, into: staging)
                        }
                    }
                }
                let snapshot = try copied.get()
                // The reader may take minutes at idle priority: ping from its wait too, and retry a failed reader.
                pending.append(
                    processor.load(
                        file, snapshotPath: snapshot.path, heartbeat: { self.pingWatchdog() }, isCancelled: { stop.isSet }
                    ) { self.logger.warning("\($0)") })
                snapshot.remove()
            } catch where error.kind == .stagingFailed {
                // Not the checkpoint's fault: --out cannot take the copy. The watcher offers the file again.
                outputFailed("\(error)")
            } catch {
                // Changed or vanished while copying: the watcher offers it again once it settles.
                logger.info("\(file.path): not taken yet: \(error.reason)")
            }
            pingWatchdog()
        }
        // Files that fail to load are committed together at the end of the batch (or with a checkpoint
        // processed after them), not one report write each.
        var uncommitted = false
        defer { if uncommitted { save(processed: false) } }
        for item in CheckpointProcessor.ordered(pending) {
            if stop.isSet { return }
            switch item.loaded {
            case .failure(let failure):
                recordFailure(
                    item.file, reason: failure.description, checkpoint: nil, seconds: item.loadSeconds, commit: false)
                uncommitted = true
            case .success(let checkpoint):
                if let skipped = skipReason(checkpoint, everyNth: configuration.everyNth) {
                    logger.info("\(item.file.name): skipped (\(skipped))")
                    state.withLock { $0.outcome.skipped += 1 }
                    continue
                }
                analyze(item, checkpoint: checkpoint, processor: processor, readyAt: readyAt, stop: stop)
            }
        }
    }

    /// Why `resources.every_nth` leaves this checkpoint out, or `nil` to analyse it: the checkpoint's epoch
    /// decides when it has one (the same choice after a restart), else the count of checkpoints taken.
    private func skipReason(_ checkpoint: Checkpoint, everyNth n: Int) -> String? {
        guard n > 1 else { return nil }
        if let epoch = checkpoint.epoch {
            return epoch % n == 0 ? nil : "resources.every_nth \(n): epoch \(epoch) is not a multiple of \(n)"
        }
        return state.withLock { s in
            s.takenSinceAnalysed += 1
            guard s.takenSinceAnalysed < n else {
                s.takenSinceAnalysed = 0
                return nil
            }
            return "resources.every_nth \(n): \(s.takenSinceAnalysed) of every \(n)"
        }
    }

    private func analyze(
        _ item: PendingCheckpoint, checkpoint: Checkpoint, processor: CheckpointProcessor,
        readyAt: ContinuousClock.Instant, stop: StopSignal
    ) {
        let start = ContinuousClock.now
        let cpuAtStart = ComputeThreads.processCPUSeconds
        let probes = state.withLock { $0.session.probes }
        logger.debug(
            "\(item.file.name): explaining \(probes.probes.count) probes",
            metadata: ["checkpoint.path": "\(item.file.path)", "checkpoint.id": "\(item.file.id)"])
        let notifier = self.notifier
        let lastPing = Mutex(ContinuousClock.now)
        let analysis: CheckpointAnalysis
        let sizeSource: String
        do {
            (analysis, sizeSource) = try lowered {
                Result {
                    try processor.analyze(checkpoint, path: item.file.path, probes: probes, isCancelled: { stop.isSet }) {
                        _, _, _ in
                        // Score-CAM is the long part: the watchdog must hear from us while it runs.
                        guard let interval = notifier.watchdogInterval else { return }
                        let due = lastPing.withLock { last in
                            guard ContinuousClock.now - last >= interval / 2 else { return false }
                            last = .now
                            return true
                        }
                        if due { _ = notifier.watchdog() }
                    }
                }
            }.get()
        } catch is CancellationError {
            logger.info("\(item.file.name): abandoned for shutdown; it will be processed after a restart")
            return
        } catch {
            recordFailure(item.file, reason: Self.naming(item.file.path, "\(error)"), checkpoint: checkpoint,
                          seconds: item.loadSeconds + (ContinuousClock.now - start).seconds)
            return
        }
        if stop.isSet {
            logger.info("\(item.file.name): abandoned for shutdown; it will be processed after a restart")
            return
        }
        warnAboutInput(analysis, probes: probes, sizeSource: sizeSource, checkpoint: item.file.name)
        let seconds = item.loadSeconds + (ContinuousClock.now - start).seconds
        let cost = CheckpointCost(
            queued: max(0, (start - readyAt).seconds - item.loadSeconds), wall: (ContinuousClock.now - start).seconds,
            cpu: ComputeThreads.processCPUSeconds - cpuAtStart, threads: processor.configuration.scoreCAMOptions.threads)
        let now = Date().timeIntervalSince1970
        let (entry, transitions, failures, configuration, tracker) = state.withLock { s in
            let (entry, transitions) = s.session.recordProcessed(
                label: item.label, checkpoint: checkpoint, analysis: analysis, seconds: seconds, now: now)
            let failures = s.failuresInARow
            s.failuresInARow = 0
            s.outcome.analysed += 1
            return (entry, transitions, failures, s.configuration, s.session.report.convergence)
        }
        save(processed: true)
        let drift = entry.drift.map { String(format: "drift %.4f (max %.4f)", $0.mean, $0.max) } ?? "first checkpoint"
        let weights = entry.weightDrift.map { String(format: ", weights moved %.4f", $0) } ?? ""
        logger.info(
            "\(entry.name): ok in \(String(format: "%.1f", seconds)) s (\(cost.summary(priority: configuration.priority))), \(drift)\(weights), state \(entry.state.rawValue)",
            metadata: entry.drift.map { ["checkpoint.id": "\(entry.id)", "drift.mean": "\($0.mean)"] }
                ?? ["checkpoint.id": "\(entry.id)"])
        let reportPath = ReportStore.path(in: configuration.out)
        for transition in transitions {
            // Alerts log their own line; the first drift (warmed up) is no alert but still worth a line.
            if let alert = Alert(transition: transition, entry: entry, convergence: tracker, job: configuration.jobName,
                                 reportPath: reportPath, time: now) {
                alerts.submit(alert)
            } else {
                logger.info("convergence: \(transition.from.rawValue) → \(transition.to.rawValue) at \(transition.checkpoint.name)")
            }
        }
        if failures > 0 {
            alerts.submit(Alert(recovery: entry, failures: failures, job: configuration.jobName, reportPath: reportPath, time: now))
        }
        _ = notifier.status(statusLine())
    }

    /// Two signs that the probes do not reach the model as it was trained: probe images of another size
    /// than its input (once per run), and most probes with a class in the manifest predicted as another
    /// class (then the heatmaps explain a class the model does not see; once until that changes).
    private func warnAboutInput(_ analysis: CheckpointAnalysis, probes: ProbeSet, sizeSource: String, checkpoint: String) {
        let size = analysis.inputSize
        let firstLook = state.withLock { s in
            defer { s.probeSizeChecked = true }
            return !s.probeSizeChecked
        }
        if firstLook, size.count == 2 {
            let other = probes.probes.filter { $0.image.height != size[0] || $0.image.width != size[1] }
            if let example = other.first {
                let own = "\(example.image.width)×\(example.image.height)"
                let names = Self.listed(other.map { URL(fileURLWithPath: $0.path).lastPathComponent })
                logger.warning(
                    """
                    probes of another size than the model's input: \(other.count) of \(probes.probes.count) \
                    (\(names); e.g. \(own)) are resized to \(size[1])×\(size[0]), the input size from \(sizeSource); \
                    if the model was trained at another size, store it as the checkpoint's input_size attribute \
                    or pass --input-size
                    """)
            }
        }
        let judged = probes.probes.compactMap { probe -> Bool? in
            guard let target = probe.description.classIndex, let predicted = analysis.predictions[probe.description.id]?.predicted
            else { return nil }
            return predicted != target
        }
        let wrong = judged.filter { $0 }.count
        let most = judged.count >= 2 && wrong * 2 > judged.count
        let warn = state.withLock { s in
            defer { s.misclassifiedWarned = most }
            return most && !s.misclassifiedWarned
        }
        if warn {
            logger.warning(
                """
                \(checkpoint): \(wrong) of \(judged.count) probes are predicted as another class than probes.json \
                gives, so their heatmaps explain a class the model does not see there; early in training that is \
                expected, later check the input size (\(size.count == 2 ? "\(size[1])×\(size[0])" : "?") from \
                \(sizeSource)), mean/std and the manifest's classes
                """)
        }
    }

    /// Records a `failed` entry and sends its alert; `commit: false` leaves the commit to the caller (a batch).
    private func recordFailure(
        _ file: CheckpointFile, reason: String, checkpoint: Checkpoint?, seconds: Double, commit: Bool = true
    ) {
        let now = Date().timeIntervalSince1970
        let (entry, configuration) = state.withLock { s in
            s.failuresInARow += 1
            s.outcome.failed += 1
            let entry = s.session.recordFailure(
                label: CheckpointLabel(id: file.id, name: file.name), step: checkpoint?.step, epoch: checkpoint?.epoch,
                reason: reason, seconds: seconds, now: now, attributes: checkpoint?.attributes ?? [:])
            return (entry, s.configuration)
        }
        if commit { save(processed: false) }
        // The `failed` alert logs the reason (one line per failure).
        alerts.submit(Alert(failure: entry, job: configuration.jobName, reportPath: ReportStore.path(in: configuration.out), time: now))
        _ = notifier.status(statusLine())
    }

    /// Commits the session: `heatmaps.h5` (only when a processed checkpoint changed it since it was last
    /// written), then `report.json`, then what is derived from them. After failures only, the archive and the
    /// pictures are left alone: junk files must not cost a rewrite of every output each.
    private func save(processed: Bool) {
        let (session, writeArchive) = state.withLock { s in
            if processed { s.archiveDirty = true }
            return (s.session, s.archiveDirty)
        }
        do throws(MonitorError) {
            if writeArchive { try session.save() } else { try session.saveReport() }
            if writeArchive { state.withLock { $0.archiveDirty = false } }
        } catch {
            state.withLock { $0.commitPending = true }
            outputFailed("cannot save the run's state: \(error)")
            return
        }
        let recovered = state.withLock { s in
            defer { (s.outputFailure, s.commitPending) = (nil, false) }
            return s.outputFailure != nil
        }
        if recovered { logger.notice("outputs in \(session.directory) written again; nothing recorded was lost") }
        logger.debug(
            "committed \(ReportStore.fileName)\(writeArchive ? " and \(HeatmapArchive.fileName)" : "")",
            metadata: ["report.checkpoints": "\(session.report.checkpoints.count)"])
        writeOutputs(charts: writeArchive)
    }

    /// Logs an output failure once per streak (it is retried at every wake-up) and remembers it.
    private func outputFailed(_ reason: String) {
        let first = state.withLock { s in
            defer { s.outputFailure = reason }
            return s.outputFailure == nil
        }
        if first {
            logger.error("\(reason); keeping what is recorded in memory and trying again at every scan")
        } else {
            logger.debug("\(reason)")
        }
    }

    /// Tries a failed commit again (the disk may have space now).
    private func retryFailedCommit() {
        guard state.withLock({ $0.commitPending }) else { return }
        save(processed: false)
    }

    /// The outputs derived from the report (`charts`: also timeline.png and drift.png); also queues
    /// index.html and TensorBoard, which only ever show a committed report.
    private func writeOutputs(charts: Bool = true) {
        let (session, configuration) = state.withLock { ($0.session, $0.configuration) }
        RunOutputs(configuration: configuration).write(session: session, charts: charts, logger: logger)
        publisher.submit(
            Publisher.Snapshot(report: session.report, archive: session.archive, probeImages: session.probes.images),
            Publisher.Settings(configuration))
    }

    /// `STATUS=` for systemd: checkpoints, the last one, its drift, the state.
    func statusLine() -> String {
        let report = state.withLock { $0.session.report }
        var line = "\(report.checkpoints.count) checkpoints; state \(report.convergence.state.rawValue)"
        if let last = report.checkpoints.last {
            line += "; last \(last.name) \(last.status.rawValue)"
            if let drift = last.drift { line += String(format: ", drift %.4f", drift.mean) }
        }
        return line
    }

    // MARK: - SIGHUP

    /// Reloads the config file on SIGHUP: what can change while running takes effect at once; a broken
    /// file is rejected with a log line and the old configuration stays.
    private func reloadOnHangup(_ hangups: UnixSignalsSequence) async {
        for await _ in hangups {
            guard !Task.isCancelled else { return }
            _ = notifier.reloading()
            reload()
            _ = notifier.ready(status: statusLine())
        }
    }

    func reload() {
        guard let configurationPath else {
            logger.warning("SIGHUP: no --config file to reload")
            return
        }
        let fresh: WatchConfiguration
        do { fresh = try WatchConfiguration.resolve(file: configurationPath, overrides: overrides) } catch {
            logger.error("SIGHUP: \(error); keeping the previous configuration")
            return
        }
        // The webhook URL file is part of the configuration: unreadable means the new one is broken.
        let webhook: Webhook.Configuration?
        do { webhook = try fresh.webhook() } catch {
            logger.error("SIGHUP: \(error); keeping the previous configuration")
            return
        }
        let restartOnly = state.withLock { s -> [String] in
            let old = s.configuration
            var ignored: [String] = []
            if fresh.checkpoints != old.checkpoints { ignored.append("checkpoints") }
            if fresh.probes != old.probes { ignored.append("probes") }
            if fresh.out != old.out { ignored.append("out") }
            if fresh.architecture != old.architecture { ignored.append("arch/model") }
            if fresh.layer != old.layer { ignored.append("layer") }
            if fresh.inputSize != old.inputSize || fresh.preprocessing != old.preprocessing { ignored.append("preprocessing") }
            if fresh.convergence != old.convergence { ignored.append("convergence") }
            if fresh.logLevel != old.logLevel { ignored.append("log_level") }
            if fresh.threads != old.threads { ignored.append("resources.threads") }
            // Heatmaps from another channel selection are not comparable with the run's earlier ones.
            if fresh.topChannels != old.topChannels { ignored.append("resources.top_channels") }
            var applied = fresh
            applied.checkpoints = old.checkpoints
            applied.probes = old.probes
            applied.out = old.out
            applied.architecture = old.architecture
            applied.layer = old.layer
            applied.inputSize = old.inputSize
            applied.preprocessing = old.preprocessing
            applied.convergence = old.convergence
            applied.logLevel = old.logLevel
            applied.threads = old.threads
            applied.topChannels = old.topChannels
            if applied.pattern != old.pattern || applied.settle != old.settle || applied.incompleteAfter != old.incompleteAfter,
                let watcher = try? Self.watcher(applied, alreadySeen: s.session.knownIDs)
            {
                s.watcher = watcher
            }
            s.configuration = applied
            return ignored
        }
        alerts.configure(exec: fresh.execHook, webhook: webhook)
        var line = "SIGHUP: reloaded \(configurationPath)"
        if !restartOnly.isEmpty { line += "; needs a restart to change: " + restartOnly.joined(separator: ", ") }
        logger.notice("\(line)")
        writeOutputs()
    }
}

/// A flag the compute thread polls between probes; set when the service is cancelled (shutdown).
final class StopSignal: Sendable {
    private let flag = Atomic<Bool>(false)
    func set() { flag.store(true, ordering: .relaxed) }
    var isSet: Bool { flag.load(ordering: .relaxed) }
}

/// Where one checkpoint's time went, for its log line.
struct CheckpointCost: Sendable {
    /// Seconds between the checkpoint being ready and its analysis starting (earlier checkpoints first).
    var queued: Double
    /// Seconds the analysis took, waiting for a core included.
    var wall: Double
    /// CPU seconds this process spent on it.
    var cpu: Double
    var threads: Int

    /// Seconds the analysis could have run but had no core: what yielding to the trainer cost it.
    var waitedForCPU: Double { max(0, wall - cpu / Double(max(1, threads))) }

    func summary(priority: ComputePriority) -> String {
        String(
            format: "waited %.1f s: %.1f s queued, %.1f s for a free core at priority %@; worked %.1f CPU-s on %d thread%@",
            queued + waitedForCPU, queued, waitedForCPU, priority.rawValue, cpu, threads, threads == 1 ? "" : "s")
    }
}

/// What one run of the loop did (for `--once`'s exit status).
struct RunOutcome: Sendable {
    var analysed = 0
    var failed = 0
    var skipped = 0
}
