public import CamwatchCheckpoint
import CamwatchImage
import CamwatchNN
import CamwatchSaliency
import CamwatchTensor
import Foundation

/// The state of one watched run: the report, the heatmap archive, and the previous checkpoint's weights.
///
/// Everything that must survive a restart lives in the output directory. `save()` writes `heatmaps.h5`
/// first and `report.json` second: the report is the commit point, so after a crash between the two the
/// archive may hold heatmaps of a checkpoint the report does not list, and `open` drops them — that
/// checkpoint is processed again, once.
public struct MonitorSession: Sendable {
    /// The output directory.
    public let directory: String
    public private(set) var store: ReportStore
    public private(set) var archive: HeatmapArchive
    /// Output files that could not be read at start and were moved aside.
    public private(set) var recoveries: [CorruptFileRecovery] = []
    public let probes: ProbeSet
    /// What `heatmaps.h5` holds, so a save adds only the new checkpoints; shared by copies of the session.
    private let archiveLedger = HeatmapArchive.Ledger()
    /// The weights of the last processed checkpoint, for `weight_drift`; not kept across restarts.
    private var previousWeights: (id: String, tensors: [String: Tensor])?
    /// The change of the running statistics that led to the last processed checkpoint, for their trend; not
    /// kept across restarts.
    private var previousStatisticsStep: (id: String, step: [String: [Float]])?

    public var report: Report { store.report }

    /// Opens `directory`, resuming what is there.
    ///
    /// - Parameters:
    ///   - fresh: the report to start with when there is none (model, probes, convergence settings). An
    ///     empty layer or input size means "not known yet": the first processed checkpoint sets it.
    ///   - now: Unix seconds, for the names of set-aside files.
    /// - Throws: `MonitorError`: an output file cannot be read or moved aside, or the existing report was made
    ///   for another layer or input size, or belongs to another run (another checkpoint directory, other probe
    ///   images): its heatmaps could not be compared with new ones.
    public static func open(directory: String, probes: ProbeSet, fresh: Report, now: Double) throws(MonitorError)
        -> MonitorSession
    {
        var store = try ReportStore.open(directory: directory, fresh: fresh, now: now)
        // Checkpoints an earlier camwatch gave up on because its reader failed are read again.
        store.report.releaseReaderFailures(now: now)
        var recoveries: [CorruptFileRecovery] = store.recovery.map { [$0] } ?? []
        // Before anything is changed: a refused run leaves the directory as it was.
        if !store.report.checkpoints.isEmpty, let conflict = store.report.conflict(withRunOf: fresh) {
            throw MonitorError(
                .mismatch, path: store.path,
                reason: "\(conflict); to start afresh give another --out, or remove \(directory)")
        }
        // A report from before the run was recorded adopts this one; a renamed directory updates its path.
        if let run = fresh.run { store.report.run = run }
        let existing = store.report.model
        if !fresh.model.layer.isEmpty, !existing.layer.isEmpty, existing.layer != fresh.model.layer,
            store.report.lastProcessed != nil
        {
            throw MonitorError(.mismatch, path: store.path,
                               reason: "made for layer '\(existing.layer)', not '\(fresh.model.layer)'; use another --out")
        }
        // Before the first processed checkpoint the model is provisional (the architecture may come from it).
        let committed = store.report.lastProcessed != nil
        if committed, !fresh.model.inputSize.isEmpty, existing.inputSize != fresh.model.inputSize {
            throw MonitorError(.mismatch, path: store.path,
                               reason: "made at input size \(existing.inputSize), not \(fresh.model.inputSize); use another --out")
        }
        // Drift between maps of two methods would measure the methods, not the training.
        if fresh.model.method != nil, committed, existing.camMethod != fresh.model.camMethod {
            throw MonitorError(.mismatch, path: store.path,
                               reason: "made with \(existing.methodName), not \(fresh.model.methodName); use another --out")
        }
        if fresh.model.method != nil { store.report.model.method = fresh.model.method }
        // A changed convergence rule (or a report from before the relative rule) re-judges the stored drifts.
        if store.report.convergence.rule != fresh.convergence.rule {
            store.report.rejudge(with: fresh.convergence.rule)
        }
        // The probes may have gained entries; drift compares probe ids, so the new list simply takes over.
        store.report.probes = fresh.probes
        let opened = try HeatmapArchive.open(directory: directory, now: now)
        var archive = opened.archive
        if let recovery = opened.recovery { recoveries.append(recovery) }
        archive.retain(ids: Set(store.report.checkpoints.map(\.id)))
        return MonitorSession(directory: directory, store: store, archive: archive, recoveries: recoveries, probes: probes)
    }

    private init(
        directory: String, store: ReportStore, archive: HeatmapArchive, recoveries: [CorruptFileRecovery], probes: ProbeSet
    ) {
        self.directory = directory
        self.store = store
        self.archive = archive
        self.recoveries = recoveries
        self.probes = probes
    }

    /// Checkpoint ids already in the report (processed or failed): a watcher skips them. Those still to be
    /// read again (`Report.retrying`) are not among them.
    public var knownIDs: Set<String> { Set(report.checkpoints.map(\.id)) }

    /// Records that camwatch's reader failed on a checkpoint and it is to be read again at `nextAttemptAt`.
    public mutating func recordRetrying(
        label: CheckpointLabel, attempts: Int, reason: String, nextAttemptAt: Double
    ) {
        store.report.recordRetrying(
            Report.RetryingCheckpoint(
                name: label.name, id: label.id, attempts: attempts, error: reason, nextAttemptAt: nextAttemptAt))
    }

    /// Reader attempts made so far at the checkpoint with this id (0 when none failed).
    public func readerAttempts(id: String) -> Int {
        report.retrying?.first { $0.id == id }?.attempts ?? 0
    }

    /// Records a processed checkpoint: drift against the last processed one, weight and statistics drift,
    /// signs of collapse, the convergence update, and the entry. A checkpoint of another model than the last
    /// processed one (architecture, parameter shapes) starts a new segment: no drift across it, the convergence
    /// state starts over, and the entry says why (`new_model`).
    ///
    /// - Parameters:
    ///   - label: the checkpoint's id and file name.
    ///   - checkpoint: the loaded checkpoint (attributes, weights).
    ///   - analysis: its heatmaps and predictions.
    ///   - seconds: how long loading and analysing took.
    ///   - now: Unix seconds.
    /// - Returns: the entry and the convergence events it caused.
    public mutating func recordProcessed(
        label: CheckpointLabel, checkpoint: Checkpoint, analysis: CheckpointAnalysis, seconds: Double, now: Double
    ) -> (entry: Report.CheckpointEntry, events: [ConvergenceEvent]) {
        let identity = ModelIdentity(architecture: analysis.architecture, tensors: checkpoint.tensors)
        let previousTensors = previousWeights?.id == report.lastProcessed?.id ? previousWeights?.tensors : nil
        let newModel = report.lastProcessed?.model.flatMap { before in
            identity.change(from: before, previousTensors: previousTensors, tensors: checkpoint.tensors)
        }
        var drift: CheckpointDrift?
        var driftError: String?
        if newModel == nil, let previous = report.lastProcessed, let before = archive.entry(id: previous.id) {
            do throws(MonitorError) {
                drift = try CheckpointDrift.between(
                    previous: before.heatmaps.mapValues { $0.upsampled() },
                    current: analysis.heatmaps.mapValues { $0.upsampled() })
            } catch {
                driftError = error.description
            }
        }
        var weightDrift: Double?
        var statisticsDrift: Double?
        var statisticsTrend: StatisticsTrend?
        var statisticsStep: [String: [Float]]?
        if newModel == nil, let previousTensors {
            weightDrift = DriftMetrics.weightDrift(previous: previousTensors, current: checkpoint.tensors)
            statisticsDrift = DriftMetrics.statisticsDrift(previous: previousTensors, current: checkpoint.tensors)
            if statisticsDrift != nil {
                let step = DriftMetrics.statisticsStep(previous: previousTensors, current: checkpoint.tensors)
                if let before = previousStatisticsStep, before.id == report.lastProcessed?.id {
                    statisticsTrend = StatisticsTrend.between(previous: before.step, current: step)
                }
                statisticsStep = step
            }
        }
        if report.lastProcessed == nil || newModel != nil {
            store.report.model.layer = analysis.layer
            store.report.model.inputSize = analysis.inputSize
            if let architecture = analysis.architecture { store.report.model.arch = architecture }
        }
        let events = store.report.convergence.update(
            checkpoint: label, status: .ok, drift: drift?.mean, weightDrift: weightDrift,
            statisticsDrift: statisticsDrift, statisticsTrend: statisticsTrend, collapsed: analysis.collapse != nil,
            newSegment: newModel != nil)
        // The reading belongs to this checkpoint only if the update made a new one.
        let reading = drift == nil || analysis.collapse != nil ? nil : report.convergence.reading
        let entry = Report.CheckpointEntry(
            name: label.name, id: label.id, step: checkpoint.step, epoch: checkpoint.epoch, status: .ok,
            error: driftError, seconds: seconds, processedAt: now, predictions: analysis.predictions, drift: drift,
            weightDrift: weightDrift, state: report.convergence.state, convergence: reading,
            attributes: Report.CheckpointEntry.reportedAttributes(checkpoint.attributes), metrics: analysis.metrics,
            statisticsDrift: statisticsDrift, statisticsTrend: statisticsTrend, collapse: analysis.collapse,
            model: identity, newModel: newModel)
        archive.record(HeatmapArchive.Entry(checkpoint: label, heatmaps: analysis.heatmaps))
        store.report.stopRetrying(id: label.id)
        store.record(entry)
        previousWeights = (label.id, checkpoint.tensors)
        previousStatisticsStep = statisticsStep.map { (label.id, $0) }
        return (entry, events)
    }

    /// Records a checkpoint that could not be processed. The convergence state is left alone, unless the
    /// checkpoint `diverged` (NaN or infinite weights): then the run is `diverged`.
    /// - Returns: the entry and the convergence events it caused (only a divergence causes one).
    public mutating func recordFailure(
        label: CheckpointLabel, step: Int? = nil, epoch: Int? = nil, reason: String, seconds: Double, now: Double,
        attributes: [String: CheckpointAttribute] = [:], diverged: Bool = false
    ) -> (entry: Report.CheckpointEntry, events: [ConvergenceEvent]) {
        let events = store.report.convergence.update(checkpoint: label, status: .failed, drift: nil, diverged: diverged)
        let entry = Report.CheckpointEntry(
            name: label.name, id: label.id, step: step, epoch: epoch, status: .failed, error: reason, seconds: seconds,
            processedAt: now, state: report.convergence.state,
            attributes: Report.CheckpointEntry.reportedAttributes(attributes), diverged: diverged ? true : nil)
        store.report.stopRetrying(id: label.id)
        store.record(entry)
        return (entry, events)
    }

    /// Writes `heatmaps.h5`, then `report.json` (the commit point), each atomically.
    public func save() throws(MonitorError) {
        try archive.save(directory: directory, ledger: archiveLedger)
        try store.save()
    }

    /// Writes only `report.json`: enough after failed checkpoints, which add nothing to `heatmaps.h5`.
    public func saveReport() throws(MonitorError) {
        try store.save()
    }
}

extension HeatmapArchive {
    /// Drops the heatmaps of checkpoints not in `ids` (written just before a crash, never committed).
    public mutating func retain(ids: Set<String>) {
        let kept = entries.filter { ids.contains($0.checkpoint.id) }
        guard kept.count != entries.count else { return }
        self = HeatmapArchive(entries: kept)
    }
}
