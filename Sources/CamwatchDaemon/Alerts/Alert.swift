public import CamwatchMonitor
import Foundation

/// One alert: a convergence transition or a checkpoint failure, as the log line, the exec hook and the
/// webhook see it (docs/architecture.md §6).
///
/// JSON keys are snake_case and sorted; absent values are explicit `null`.
public struct Alert: Sendable, Equatable, Codable {
    /// What happened; the exec hook's `CAMWATCH_EVENT`.
    public enum Event: String, Sendable, Hashable, Codable, CaseIterable {
        /// The saliency maps stopped moving (`→ stable`).
        case stable
        /// The saliency maps moved again after having been stable (`stable → changing`).
        case changing
        /// A checkpoint could not be processed.
        case failed
        /// A checkpoint was processed again after one or more failures.
        case recovered
        /// The model stopped reading its input (`→ collapsed`): a dead or collapsed run, not a converged one.
        case collapsed
        /// A checkpoint's weights hold NaN or infinity (`→ diverged`): training diverged.
        case diverged
        /// The model works again (`collapsed` or `diverged` → `changing`).
        case revived
    }

    /// Messages longer than this (in characters) are cut, so an alert stays a few KiB.
    public static let maximumMessageLength = 2000

    public var event: Event
    /// The training job (service instance) name.
    public var job: String
    /// The checkpoint's file name.
    public var checkpoint: String
    /// The checkpoint's identity string (a rewritten `last.h5` is a new id).
    public var checkpointID: String
    @ExplicitNull public var step: Int?
    @ExplicitNull public var epoch: Int?
    /// The checkpoint drift (mean over probes) that caused the event; `nil` for failures.
    @ExplicitNull public var drift: Double?
    /// The convergence state after the checkpoint.
    public var state: ConvergenceState
    /// One line for people; newlines are replaced by spaces.
    public var message: String
    /// The run's `report.json`.
    public var reportPath: String
    /// When the alert was raised, Unix seconds.
    public var time: Double
    /// How many events of its kind the alert stands for: 1, or for `failed` the checkpoints that failed since
    /// the last `failed` alert (`FailureThrottle`); `checkpoint` is then the first of them.
    public var count = 1

    enum CodingKeys: String, CodingKey {
        case event, job, checkpoint, step, epoch, drift, state, message, time, count
        case checkpointID = "checkpoint_id"
        case reportPath = "report_path"
    }

    public init(
        event: Event, job: String, checkpoint: String, checkpointID: String, step: Int? = nil, epoch: Int? = nil,
        drift: Double? = nil, state: ConvergenceState, message: String, reportPath: String, time: Double
    ) {
        self.event = event
        self.job = job
        self.checkpoint = checkpoint
        self.checkpointID = checkpointID
        self.step = step
        self.epoch = epoch
        self.drift = drift
        self.state = state
        self.message = Self.oneLine(message)
        self.reportPath = reportPath
        self.time = time
    }

    /// The alert as compact UTF-8 JSON with sorted keys (the exec hook's stdin).
    public func jsonBytes() -> [UInt8] {
        // Strings, integers and doubles with non-finite values spelled as strings cannot fail to encode.
        (try? Array(Self.encoder().encode(self))) ?? Array("{}".utf8)
    }

    static func encoder() -> JSONEncoder {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
        encoder.nonConformingFloatEncodingStrategy = .convertToString(
            positiveInfinity: "Infinity", negativeInfinity: "-Infinity", nan: "NaN")
        return encoder
    }

    static func oneLine(_ text: String) -> String {
        // Control characters (a file name's terminal escapes) would reach chat messages and terminals raw.
        var line = DisplayText.escaped(String(text.map { $0.isNewline ? " " : $0 }))
        if line.count > maximumMessageLength {
            line = String(line.prefix(maximumMessageLength - 1)) + "…"
        }
        return line
    }

    /// The relative rule's reading for people: `saliency 0.08 x reference, weights 0.1 x reference;`.
    static func ratios(_ convergence: ConvergenceTracker) -> String {
        let saliency = convergence.reading?.driftRatio.map { "saliency \(formatDrift($0)) x reference" }
        let weights = convergence.reading?.weightRatio.map { "weights \(formatDrift($0)) x reference" }
        return [saliency, weights].compactMap { $0 }.joined(separator: ", ") + ";"
    }

    /// A drift for people: three significant digits (`0.012`, `0.000431`).
    static func formatDrift(_ value: Double) -> String {
        String(format: "%.3g", value)
    }
}

extension Alert {
    /// The alert for a convergence transition: `stable` for `converged`, `changing` for `drift_spike`;
    /// `nil` for `warmed_up` (the first drift of a run is not news).
    ///
    /// - Parameters:
    ///   - transition: the event the `ConvergenceTracker` returned.
    ///   - entry: the report entry of the checkpoint that caused it (step, epoch, state).
    ///   - convergence: the tracker after the update, for threshold, patience and hysteresis.
    ///   - job: the job name; `reportPath`: the run's `report.json`; `time`: Unix seconds.
    public init?(
        transition: ConvergenceEvent, entry: Report.CheckpointEntry?, convergence: ConvergenceTracker, job: String,
        reportPath: String, time: Double
    ) {
        let name = transition.checkpoint.name
        let drift = Self.formatDrift(transition.drift)
        let event: Event
        let message: String
        switch transition.kind {
        case .converged:
            event = .stable
            let count = convergence.patience == 1 ? "1 checkpoint" : "\(convergence.patience) checkpoints"
            switch convergence.mode {
            case .absolute:
                message =
                    "\(job): saliency stable since \(name) (drift \(drift) < \(convergence.threshold) for \(count))"
            case .relative:
                message = "\(job): saliency stable since \(name) (drift \(drift); \(Self.ratios(convergence)) "
                    + "settled for \(count))"
            }
        case .driftSpike:
            event = .changing
            switch convergence.mode {
            case .absolute:
                let limit = Self.formatDrift(convergence.threshold * convergence.hysteresis)
                message =
                    "\(job): saliency changing again at \(name) (drift \(drift) > \(limit) = "
                    + "\(convergence.hysteresis) x threshold \(convergence.threshold))"
            case .relative:
                message = "\(job): saliency changing again at \(name) (drift \(drift); \(Self.ratios(convergence)) "
                    + "past \(convergence.hysteresis) x the settle bounds)"
            }
        case .collapsed:
            event = .collapsed
            let evidence = entry?.collapse.map { ": \($0.summary)" } ?? ""
            message = "\(job): model collapsed at \(name) — it no longer reads its input\(evidence); "
                + "saliency stopped moving because the model is dead, not because it converged"
        case .diverged:
            event = .diverged
            let reason = entry?.error.map { ": \($0)" } ?? ""
            message = "\(job): training diverged at \(name)\(reason); the run is no longer converged"
        case .revived:
            event = .revived
            message = transition.from == .diverged
                ? "\(job): finite weights again at \(name) (left diverged)"
                : "\(job): model reads its input again at \(name) (left collapsed; drift \(drift))"
        case .warmedUp:
            return nil
        }
        self.init(
            event: event, job: job, checkpoint: name, checkpointID: transition.checkpoint.id, step: entry?.step,
            epoch: entry?.epoch, drift: transition.drift, state: transition.to, message: message,
            reportPath: reportPath, time: time)
    }

    /// The `failed` alert for a checkpoint that could not be processed.
    ///
    /// - Parameter entry: its report entry; the message carries `entry.error` (which names the file).
    public init(failure entry: Report.CheckpointEntry, job: String, reportPath: String, time: Double) {
        let reason = entry.error.map { ": \($0)" } ?? ""
        self.init(
            event: .failed, job: job, checkpoint: entry.name, checkpointID: entry.id, step: entry.step,
            epoch: entry.epoch, drift: nil, state: entry.state,
            message: "\(job): checkpoint \(entry.name) failed\(reason)", reportPath: reportPath, time: time)
    }

    /// The one `failed` alert for `count` failures, of which `first` are the first few (in order; at least
    /// one): it names those checkpoints and says how many more failed, and carries the first one's reason;
    /// `state` is the last one's.
    init(failures first: [Alert], count: Int, state: ConvergenceState) {
        precondition(!first.isEmpty && count >= first.count, "\(first.count) of \(count) failures")
        let head = first[0]
        let names = first.map(\.checkpoint).joined(separator: ", ")
        let more = count > first.count ? " and \(count - first.count) more" : ""
        // The first failure's own line without its job prefix: `checkpoint a.h5 failed: reason`.
        let prefix = "\(head.job): "
        let reason = head.message.hasPrefix(prefix) ? String(head.message.dropFirst(prefix.count)) : head.message
        self.init(
            event: .failed, job: head.job, checkpoint: head.checkpoint, checkpointID: head.checkpointID,
            step: head.step, epoch: head.epoch, drift: nil, state: state,
            message: "\(head.job): \(count) checkpoints failed (\(names)\(more)); the first: \(reason)",
            reportPath: head.reportPath, time: head.time)
        self.count = count
    }

    /// The `recovered` alert for a checkpoint processed after `failures` failed ones in a row.
    public init(recovery entry: Report.CheckpointEntry, failures: Int, job: String, reportPath: String, time: Double) {
        let count = failures == 1 ? "1 failed checkpoint" : "\(failures) failed checkpoints"
        self.init(
            event: .recovered, job: job, checkpoint: entry.name, checkpointID: entry.id, step: entry.step,
            epoch: entry.epoch, drift: entry.drift?.mean, state: entry.state,
            message: "\(job): checkpoint \(entry.name) processed again after \(count)", reportPath: reportPath,
            time: time)
    }
}
