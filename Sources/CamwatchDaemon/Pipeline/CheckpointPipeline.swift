import CamwatchCheckpoint
import CamwatchImage
import CamwatchMonitor
import CamwatchNN
import CamwatchSaliency
import CamwatchTensor
import Foundation
import Logging
import Synchronization

/// The checkpoint pipeline of `camwatch watch`: scan → private copy → load (child process) → order →
/// analyse → record → commit → outputs, for one scan at a time, synchronously.
///
/// It runs on a thread of its own (the service starts one per scan), never on Swift's cooperative
/// pool: loading waits for a child process for up to minutes and Score-CAM keeps every core busy. What the
/// service needs to hear goes out through `Events`: alerts, the systemd status line, and heartbeats while
/// a long step runs. The service itself only waits for wake-ups, hands scans over, feeds the watchdog and
/// reloads the configuration.
final class CheckpointPipeline: Sendable {
    /// What the pipeline tells the service while it works (called on the pipeline's thread).
    struct Events: Sendable {
        /// An alert to deliver (`stable`, `changing`, `failed`, `recovered`).
        var alert: @Sendable (Alert) -> Void
        /// systemd's `STATUS=` line after each checkpoint.
        var status: @Sendable (String) -> Void
        /// Called whenever the pipeline advances (`WatchdogHeartbeat`): a Score-CAM batch, a checkpoint
        /// copied, an output written, each second of waiting for the reader child.
        var heartbeat: @Sendable () -> Void
        /// Test seam: runs before the derived outputs are written.
        var beforeOutputs: (@Sendable () -> Void)?
    }

    /// At most this many ready checkpoints are loaded and ordered together (bounds memory at start-up,
    /// when a whole run's checkpoints may be waiting).
    static let batchLimit = 8

    private let state: Mutex<State>
    /// What the status line says, kept apart from `state` so that reading it never waits for the pipeline.
    private let statusValue: Mutex<PipelineStatus>
    private let reader: SnapshotReader
    private let clock: any PipelineClock
    private let readerRetryPause: Duration
    private let logger: Logger
    private let events: Events
    /// index.html and the TensorBoard events, written off the pipeline after each commit.
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
        /// The last preprocessing and target line logged, and the layer it named (logged again when it changes).
        var analysisLine: String?
        var analysisTarget: String?
        /// The checkpoint notes logged so far.
        var loggedNotes: Set<String> = []
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
    var onceFailure: String? { state.withLock { $0.onceFailure } }

    private func onceFailure(_ s: State) -> String? {
        let c = s.configuration
        if let failure = s.outputFailure {
            return "\(c.out): cannot write the outputs, checkpoints left unprocessed or unrecorded: \(failure)"
        }
        let unreadable = s.watcher.unreadable
        if !unreadable.isEmpty {
            // Asked to process what is there, and some of it could not even be read: not a success.
            return "\(c.checkpoints): \(unreadable.count) checkpoint(s) left unprocessed, camwatch may not read them "
                + "(permissions): " + NameList.summary(unreadable.map(\.name))
        }
        if s.outcome.unread > 0 {
            return "\(c.checkpoints): \(s.outcome.unread) checkpoint(s) left unread: camwatch's checkpoint reader failed "
                + "on them (see the lines above); they are read again at the next start"
        }
        if !s.watcher.hasMatchingFiles() {
            let unmatched = s.watcher.unmatchedNames()
            let seen = unmatched.isEmpty
                ? "the directory holds no other files either"
                : "seen, not watched: " + NameList.summary(unmatched)
            return "\(c.checkpoints): no file matches the pattern '\(c.pattern)' (\(seen))"
        }
        if s.outcome.failed > 0, s.outcome.analysed == 0, s.outcome.skipped == 0 {
            let all = s.outcome.failed == 1 ? "the only checkpoint" : "all \(s.outcome.failed) checkpoints"
            return "\(c.checkpoints): \(all) failed (see the lines above and \(ReportStore.path(in: c.out)))"
        }
        return nil
    }

    init(
        configuration: WatchConfiguration, session: MonitorSession, watcher: CheckpointWatcher, reader: SnapshotReader,
        clock: any PipelineClock = SystemPipelineClock(), readerRetryPause: Duration = .seconds(5), events: Events,
        logger: Logger
    ) {
        self.readerRetryPause = readerRetryPause
        state = Mutex(State(configuration: configuration, session: session, watcher: watcher))
        statusValue = Mutex(PipelineStatus(session.report))
        self.reader = reader
        self.clock = clock
        self.events = events
        self.logger = logger
        publisher = Publisher(logger: logger)
    }

    // MARK: - What the service reads

    var configuration: WatchConfiguration { state.withLock { $0.configuration } }
    var report: Report { state.withLock { $0.session.report } }
    var recoveries: [CorruptFileRecovery] { state.withLock { $0.session.recoveries } }
    /// Whether the outputs cannot be written at the moment (the last commit failed).
    var outputsFailing: Bool { state.withLock { $0.outputFailure != nil } }

    /// Lists the directory: what is ready, what failed, what still waits.
    func scan() -> WatchScan {
        let now = clock.now
        return state.withLock { $0.watcher.scan(now: now) }
    }

    /// How long the watcher may sleep before its next decision is due, at most `limit`.
    func suggestedWait(upTo limit: Duration) -> Duration {
        let now = clock.now
        return state.withLock { $0.watcher.suggestedWait(upTo: limit, now: now) }
    }

    /// Pending files that are still being written (not those camwatch may not read), for `--once`.
    var stillWriting: [CheckpointFile]? {
        state.withLock { s in
            guard !s.watcher.pending.isEmpty else { return nil }
            let unreadable = Set(s.watcher.unreadable.map(\.id))
            return s.watcher.pending.filter { !unreadable.contains($0.id) }
        }
    }

    /// Settles `--once`'s verdict at the end of the run.
    func finishOnce() { state.withLock { $0.onceFailure = onceFailure($0) } }


    // MARK: - One scan

    /// Failures first (in name order, committed together: a directory of junk costs one report write, not
    /// one per file, and the checkpoints found with them do not wait behind it), then the ready checkpoints
    /// in batches ordered by step/epoch. Returns early when `stop` is set (shutdown).
    func handle(_ scan: WatchScan, stop: StopSignal) {
        var failures = 0
        for event in scan.events {
            guard let reason = event.failureReason else { continue }
            recordFailure(event.file, reason: "\(event.file.path): \(reason)", checkpoint: nil, seconds: 0, commit: false)
            failures += 1
        }
        if failures > 0 { save(processed: false) }
        var ready = scan.ready
        let readyAt = clock.now
        while !ready.isEmpty && !stop.isSet {
            if state.withLock({ $0.configuration.once && $0.outputFailure != nil }) { break }
            let batch = Array(ready.prefix(Self.batchLimit))
            ready.removeFirst(batch.count)
            process(batch, readyAt: readyAt, stop: stop)
        }
    }

    // MARK: - Loading and analysing

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
        let staging = RunOutputs.stagingDirectory(configuration.out)
        try? FileManager.default.createDirectory(atPath: staging, withIntermediateDirectories: true)
        var processor = CheckpointProcessor(reader: reader, configuration: configuration, clock: clock)
        processor.retryPause = readerRetryPause
        var pending: [PendingCheckpoint] = []
        for file in files {
            do {
                // The copy runs outside the lock (it may take seconds): the status line and a reload do not wait.
                let watcher = state.withLock { $0.watcher }
                let copied = lowered { watcher.copy(file, into: staging) }
                state.withLock { $0.watcher.noteCopy(of: file, copied) }
                let snapshot = try copied.get()
                // The reader may take minutes at idle priority: beat from its wait too, and retry a failed reader.
                let attemptsBefore = state.withLock { $0.session.readerAttempts(id: file.id) }
                pending.append(
                    processor.load(
                        file, snapshotPath: snapshot.path, heartbeat: { self.events.heartbeat() },
                        attemptsBefore: attemptsBefore, isCancelled: { stop.isSet }
                    ) { self.logger.warning("\($0)") })
                snapshot.remove()
            } catch where error.kind == .stagingFailed {
                // Not the checkpoint's fault: --out cannot take the copy. The watcher offers the file again.
                outputFailed("\(error)")
            } catch {
                // Changed or vanished while copying: the watcher offers it again once it settles.
                logger.info("\(file.path): not taken yet: \(error.reason)")
            }
            events.heartbeat()
        }
        // Files that fail to load are committed together at the end of the batch (or with a checkpoint
        // processed after them), not one report write each.
        var uncommitted = false
        defer { if uncommitted { save(processed: false) } }
        for item in CheckpointProcessor.ordered(pending) {
            if stop.isSet { return }
            switch item.loaded {
            case .failure(let failure) where failure.isReaderFailure:
                readLater(item, failure: failure, processor: processor)
                uncommitted = true
            case .failure(let failure):
                recordFailure(
                    item.file, reason: failure.description, checkpoint: nil, seconds: item.loadSeconds, commit: false,
                    diverged: failure.isDivergence)
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

    /// camwatch's own reader failed on a checkpoint (killed, crashed, could not start): no verdict on the file,
    /// so no `failed` entry. It is recorded in `retrying` and the daemon reads it again after a pause that grows
    /// with the attempts; `--once` leaves it for the next start and exits non-zero.
    private func readLater(_ item: PendingCheckpoint, failure: CheckpointFailure, processor: CheckpointProcessor) {
        guard case .unreadable(_, let attempts) = failure else { return }
        let made = attempts ?? 1
        let pause = processor.pause(after: made)
        let once = state.withLock { s in
            let once = s.configuration.once
            s.session.recordRetrying(
                label: item.label, attempts: made, reason: failure.description,
                nextAttemptAt: clock.wallSeconds + (once ? 0 : pause.seconds))
            if once { s.outcome.unread += 1 } else { s.watcher.retryLater(item.file, at: clock.now + pause) }
            refreshStatus(s.session.report)
            return once
        }
        let when = once ? "at the next start" : "in \(Int(pause.seconds)) s"
        logger.warning("\(failure); camwatch's own reader failed, not the file: it is read again \(when)")
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
        let start = clock.now
        let cpuAtStart = ComputeThreads.processCPUSeconds
        let (probes, runLayer, runModel) = state.withLock { s in
            (
                s.session.probes, s.session.report.lastProcessed == nil ? nil : s.session.report.model.layer,
                s.session.report.lastProcessed?.model
            )
        }
        logger.debug(
            "\(item.file.name): explaining \(probes.probes.count) probes",
            metadata: ["checkpoint.path": "\(item.file.path)", "checkpoint.id": "\(item.file.id)"])
        let heartbeat = events.heartbeat
        let analysed: CheckpointProcessor.Analysed
        do {
            analysed = try lowered {
                Result {
                    // Score-CAM is the long part: the watchdog must hear from us while it runs.
                    try processor.analyze(
                        checkpoint, path: item.file.path, probes: probes, runLayer: runLayer.flatMap { $0.isEmpty ? nil : $0 }, runModel: runModel,
                        isCancelled: { stop.isSet }
                    ) { _, _, _ in heartbeat() }
                }
            }.get()
        } catch is CancellationError {
            logger.info("\(item.file.name): abandoned for shutdown; it will be processed after a restart")
            return
        } catch {
            // `analyze` throws `CheckpointFailure` (naming the file) besides cancellation; anything else is
            // named here.
            let reason = (error as? CheckpointFailure)?.description ?? "\(item.file.path): \(error)"
            recordFailure(item.file, reason: reason, checkpoint: checkpoint,
                          seconds: item.loadSeconds + (clock.now - start).seconds)
            return
        }
        if stop.isSet {
            logger.info("\(item.file.name): abandoned for shutdown; it will be processed after a restart")
            return
        }
        let analysis = analysed.analysis
        sayHowItIsAnalysed(analysed, checkpoint: item.file.name)
        sayOnce(checkpoint.notes, about: item.file.path)
        warnAboutInput(analysis, probes: probes, sizeSource: analysed.input.sizeSource, checkpoint: item.file.name)
        let seconds = item.loadSeconds + (clock.now - start).seconds
        let cost = CheckpointCost(
            queued: max(0, (start - readyAt).seconds - item.loadSeconds), wall: (clock.now - start).seconds,
            cpu: ComputeThreads.processCPUSeconds - cpuAtStart, threads: processor.configuration.scoreCAMOptions.threads)
        let now = clock.wallSeconds
        let (entry, transitions, failures, configuration, tracker) = state.withLock { s in
            let (entry, transitions) = s.session.recordProcessed(
                label: item.label, checkpoint: checkpoint, analysis: analysis, seconds: seconds, now: now)
            refreshStatus(s.session.report)
            let failures = s.failuresInARow
            s.failuresInARow = 0
            s.outcome.analysed += 1
            return (entry, transitions, failures, s.configuration, s.session.report.convergence)
        }
        save(processed: true)
        if let newModel = entry.newModel {
            logger.notice(
                """
                \(entry.name): another model than the previous checkpoint (\(newModel)): a new segment; no drift is \
                measured across it and the convergence state starts over
                """)
        }
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
                events.alert(alert)
            } else {
                logger.info("convergence: \(transition.from.rawValue) → \(transition.to.rawValue) at \(transition.checkpoint.name)")
            }
        }
        if failures > 0 {
            events.alert(Alert(recovery: entry, failures: failures, job: configuration.jobName, reportPath: reportPath, time: now))
        }
        events.status(statusLine())
    }

    /// The preprocessing (each value and where it came from) and the target layer, in a line at the first
    /// checkpoint and again whenever they change; a warning when the layer's map is coarse, once per layer.
    private func sayHowItIsAnalysed(_ analysed: CheckpointProcessor.Analysed, checkpoint: String) {
        let line = "\(analysed.input.summary); layer \(analysed.target.name) "
            + "(\(analysed.target.mapHeight)×\(analysed.target.mapWidth) map)"
        let (newLine, newTarget) = state.withLock { s in
            defer { (s.analysisLine, s.analysisTarget) = (line, analysed.target.name) }
            return (s.analysisLine != line, s.analysisTarget != analysed.target.name)
        }
        if newLine { logger.info("\(checkpoint): \(line)") }
        if newTarget, let warning = analysed.target.warning { logger.warning("\(checkpoint): \(warning)") }
    }

    /// What the reader did to a checkpoint's names (a `module.` prefix removed): once per run, not at every
    /// checkpoint of a run saved the same way.
    private func sayOnce(_ notes: [String], about path: String) {
        let fresh = state.withLock { s in notes.filter { s.loggedNotes.insert($0).inserted } }
        for note in fresh { logger.info("\(path): \(note)") }
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
            let other = probes.probes.filter { $0.fileHeight != size[0] || $0.fileWidth != size[1] }
            if let example = other.first {
                let own = "\(example.fileWidth)×\(example.fileHeight)"
                let names = NameList.summary(other.map { URL(fileURLWithPath: $0.path).lastPathComponent })
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
        // A collapsed model predicts one class for everything: the collapse alert says why, not this.
        let most = analysis.collapse == nil && judged.count >= 2 && wrong * 2 > judged.count
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
    /// `diverged`: the checkpoint's weights hold NaN or infinity, which makes the run `diverged` (an alert of its
    /// own besides the failure's).
    private func recordFailure(
        _ file: CheckpointFile, reason: String, checkpoint: Checkpoint?, seconds: Double, commit: Bool = true,
        diverged: Bool = false
    ) {
        let now = clock.wallSeconds
        let (entry, transitions, configuration, tracker) = state.withLock { s in
            s.failuresInARow += 1
            s.outcome.failed += 1
            let (entry, transitions) = s.session.recordFailure(
                label: CheckpointLabel(id: file.id, name: file.name), step: checkpoint?.step, epoch: checkpoint?.epoch,
                reason: reason, seconds: seconds, now: now, attributes: checkpoint?.attributes ?? [:], diverged: diverged)
            refreshStatus(s.session.report)
            return (entry, transitions, s.configuration, s.session.report.convergence)
        }
        if commit { save(processed: false) }
        let reportPath = ReportStore.path(in: configuration.out)
        // The `failed` alert logs the reason (one line per failure).
        events.alert(Alert(failure: entry, job: configuration.jobName, reportPath: reportPath, time: now))
        for transition in transitions {
            if let alert = Alert(transition: transition, entry: entry, convergence: tracker, job: configuration.jobName,
                                 reportPath: reportPath, time: now) {
                events.alert(alert)
            }
        }
        events.status(statusLine())
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
            events.heartbeat()
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
    func retryFailedCommit() {
        guard state.withLock({ $0.commitPending }) else { return }
        save(processed: false)
    }

    /// The outputs derived from the report (`charts`: also timeline.png and drift.png); also queues
    /// index.html and TensorBoard, which only ever show a committed report.
    func writeOutputs(charts: Bool = true) {
        let (session, configuration) = state.withLock { ($0.session, $0.configuration) }
        events.beforeOutputs?()
        RunOutputs(configuration: configuration).write(
            session: session, charts: charts, logger: logger, progress: events.heartbeat)
        publisher.submit(
            Publisher.Snapshot(report: session.report, archive: session.archive, probeImages: session.probes.images),
            Publisher.Settings(configuration))
    }

    /// The run as the status line tells it; never waits for a copy, the reader or an analysis.
    var status: PipelineStatus { statusValue.withLock { $0 } }

    /// `STATUS=` for systemd: checkpoints, the last one, its drift, the state.
    func statusLine() -> String { status.line }

    /// Called with the state's lock held, after each change to the session's report.
    private func refreshStatus(_ report: Report) {
        let fresh = PipelineStatus(report)
        statusValue.withLock { $0 = fresh }
    }

    // MARK: - Reload

    /// Takes a reloaded configuration: what a running watcher can change applies at once, the rest keeps its
    /// old value (`WatchConfiguration.RestartSettings`). Returns the names of the settings that need a restart.
    func reconfigure(_ fresh: WatchConfiguration) -> [String] {
        let changed = state.withLock { s -> [String] in
            let old = s.configuration
            let (applied, changed) = fresh.keepingRestartOnly(from: old)
            if applied.pattern != old.pattern || applied.settle != old.settle || applied.incompleteAfter != old.incompleteAfter,
                let watcher = try? CheckpointWatcher(configuration: applied, alreadySeen: s.session.knownIDs)
            {
                s.watcher = watcher
            }
            s.configuration = applied
            return changed
        }
        writeOutputs()
        return changed
    }
}


/// What the systemd status line says about the run: a value copied out of the report after each change, so the
/// status line (after each checkpoint, on SIGHUP, at shutdown) is read without waiting for the pipeline.
struct PipelineStatus: Sendable, Equatable {
    var checkpoints: Int
    var state: ConvergenceState
    /// The last checkpoint recorded: its name, status and mean drift.
    var lastName: String?
    var lastStatus: CheckpointStatus?
    var lastDrift: Double?

    init(_ report: Report) {
        checkpoints = report.checkpoints.count
        state = report.convergence.state
        let last = report.checkpoints.last
        (lastName, lastStatus, lastDrift) = (last?.name, last?.status, last?.drift?.mean)
    }

    /// `STATUS=` for systemd: checkpoints, the last one, its drift, the state.
    var line: String {
        var line = "\(checkpoints) checkpoints; state \(state.rawValue)"
        if let lastName, let lastStatus {
            line += "; last \(lastName) \(lastStatus.rawValue)"
            if let lastDrift { line += String(format: ", drift %.4f", lastDrift) }
        }
        return line
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
    /// Checkpoints left to read again because camwatch's reader failed on them.
    var unread = 0
}
