public import CamwatchImage
public import CamwatchMonitor
import Foundation

/// What camwatch shows in TensorBoard: per processed checkpoint, at its step (else its epoch, else its
/// position in the report), the scalars `camwatch/drift_mean`, `camwatch/drift_max`, `camwatch/drift/<probe>`,
/// `camwatch/weight_drift` (each when the report has it: not for the first checkpoint), `camwatch/stable`
/// (1 when the run is stable after that checkpoint, else 0), and the image `camwatch/heatmap/<probe>` (the
/// probe's overlay, `ProbeOverlay`). Scalars are TensorBoard's `simple_value`, a 32-bit float: each is the
/// report's number rounded to float. Failed checkpoints have no summaries.
public struct TensorBoardExport: Sendable {
    /// The tag prefix of everything camwatch writes.
    public static let prefix = "camwatch/"

    public var overlay: ProbeOverlay

    public init(overlay: ProbeOverlay = ProbeOverlay()) {
        self.overlay = overlay
    }

    /// The TensorBoard step of the checkpoint at `index` in `report.checkpoints`.
    public static func step(of entry: Report.CheckpointEntry, index: Int) -> Int64 {
        if let step = entry.step { return Int64(step) }
        if let epoch = entry.epoch { return Int64(epoch) }
        return Int64(index + 1)
    }

    /// Appends the summaries of every processed checkpoint whose step `log` does not hold yet, in step
    /// order (one step is written once, even when two checkpoints share it).
    /// - Returns: the steps written.
    /// - Throws: `PublishError` when an overlay cannot be encoded or the append fails (nothing is then
    ///   recorded as written: the next call tries again).
    @discardableResult
    public func publish(
        report: Report, archive: HeatmapArchive, probeImages: [String: RGBImage], to log: inout TensorBoardLog,
        now: Double
    ) throws(PublishError) -> [Int64] {
        var pending: [(step: Int64, entry: Report.CheckpointEntry)] = []
        var seen = log.writtenSteps
        for (index, entry) in report.checkpoints.enumerated() where entry.status == .ok {
            let step = Self.step(of: entry, index: index)
            if seen.insert(step).inserted { pending.append((step, entry)) }
        }
        pending.sort { $0.step < $1.step }
        guard !pending.isEmpty else { return [] }
        var events: [Tensorboard_Event] = []
        for (step, entry) in pending {
            events.append(try event(for: entry, step: step, report: report, archive: archive, probeImages: probeImages))
        }
        try log.append(events, now: now)
        return pending.map(\.step)
    }

    /// The event of one processed checkpoint.
    func event(
        for entry: Report.CheckpointEntry, step: Int64, report: Report, archive: HeatmapArchive,
        probeImages: [String: RGBImage]
    ) throws(PublishError) -> Tensorboard_Event {
        var summary = Tensorboard_Summary()
        func scalar(_ tag: String, _ value: Double) {
            var item = Tensorboard_Summary.Value()
            item.tag = Self.prefix + tag
            item.simpleValue = Float(value)
            summary.value.append(item)
        }
        if let drift = entry.drift {
            scalar("drift_mean", drift.mean)
            scalar("drift_max", drift.max)
            for probe in drift.perProbe.keys.sorted() {
                if let metrics = drift.perProbe[probe] { scalar("drift/\(probe)", metrics.drift) }
            }
        }
        if let weightDrift = entry.weightDrift { scalar("weight_drift", weightDrift) }
        if let statisticsDrift = entry.statisticsDrift { scalar("statistics_drift", statisticsDrift) }
        scalar("stable", entry.state == .stable ? 1 : 0)
        scalar("collapsed", entry.state == .collapsed ? 1 : 0)
        let heatmaps = archive.entry(id: entry.id)?.heatmaps ?? [:]
        for probe in report.probes {
            guard let heatmap = heatmaps[probe.id] else { continue }
            let tag = Self.prefix + "heatmap/\(probe.id)"
            guard let pixels = overlay.render(heatmap, over: probeImages[probe.id]) else { continue }
            let png: [UInt8]
            do { png = try PNGEncoder.encodeRGBA8(width: pixels.width, height: pixels.height, pixels: pixels.rgba) } catch {
                throw PublishError(path: tag, reason: error.reason)
            }
            var image = Tensorboard_Summary.Image()
            image.width = Int32(pixels.width)
            image.height = Int32(pixels.height)
            image.colorspace = 4
            image.encodedImageString = Data(png)
            var item = Tensorboard_Summary.Value()
            item.tag = tag
            item.image = image
            summary.value.append(item)
        }
        var event = Tensorboard_Event()
        event.wallTime = entry.processedAt
        event.step = step
        event.summary = summary
        return event
    }
}
