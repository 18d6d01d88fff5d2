public import CamwatchImage
public import CamwatchMonitor
public import CamwatchCharts
import CamwatchPublish
import Foundation
public import Logging
import Synchronization

/// Writes what is derived from the committed report for other tools — `index.html` in the output
/// directory and, when configured, camwatch's TensorBoard event file — without ever blocking the watcher.
///
/// The watcher calls `submit(_:_:)` after `report.json` is saved (the commit point); it returns at once.
/// `run()` publishes one snapshot at a time; snapshots submitted while one is being published replace each
/// other, so only the newest waits (each holds the whole run: nothing is lost by skipping older ones). A
/// failure is logged as one line and never stops anything: the next snapshot — the next checkpoint — tries
/// again, and the TensorBoard log, reopened then, writes every step it is still missing.
public final class Publisher: Sendable {
    /// The state of the run to publish.
    public struct Snapshot: Sendable {
        public var report: Report
        public var archive: HeatmapArchive
        public var probeImages: [String: RGBImage]

        public init(report: Report, archive: HeatmapArchive, probeImages: [String: RGBImage]) {
            self.report = report
            self.archive = archive
            self.probeImages = probeImages
        }
    }

    /// Where and how to publish (from the configuration, which SIGHUP may change).
    public struct Settings: Sendable, Equatable {
        /// The output directory, for `index.html`.
        public var out: String
        /// The TensorBoard log directory; `nil` writes no events.
        public var tensorboard: String?
        public var jobName: String
        public var colormap: Colormap
        public var alpha: Float
        public var maxColumns: Int

        public init(
            out: String, tensorboard: String? = nil, jobName: String, colormap: Colormap = HeatmapOverlay.defaultColormap,
            alpha: Float = HeatmapOverlay.defaultAlpha, maxColumns: Int = TimelineChart.Options.defaultMaxColumns
        ) {
            self.out = out
            self.tensorboard = tensorboard
            self.jobName = jobName
            self.colormap = colormap
            self.alpha = alpha
            self.maxColumns = maxColumns
        }

        public init(_ configuration: WatchConfiguration) {
            self.init(
                out: configuration.out, tensorboard: configuration.tensorboard, jobName: configuration.jobName,
                colormap: configuration.colormap, alpha: configuration.alpha, maxColumns: configuration.maxColumns)
        }
    }

    /// What one publication achieved, for tests and the log.
    public struct Outcome: Sendable, Equatable {
        public var page: Bool
        /// `nil` when no TensorBoard directory is configured; else whether the events were written.
        public var tensorboard: Bool?
        public var steps: [Int64]
    }

    private let logger: Logger
    private let jobs: AsyncStream<(Snapshot, Settings)>
    private let queue: AsyncStream<(Snapshot, Settings)>.Continuation
    /// The open TensorBoard log; `nil` until first needed, and after a failure (reopened, re-read, next time).
    private let log = Mutex<TensorBoardLog?>(nil)

    public init(logger: Logger) {
        self.logger = logger
        (jobs, queue) = AsyncStream.makeStream(of: (Snapshot, Settings).self, bufferingPolicy: .bufferingNewest(1))
    }

    /// Queues `snapshot` for publishing, replacing one still waiting; never blocks.
    public func submit(_ snapshot: Snapshot, _ settings: Settings) {
        queue.yield((snapshot, settings))
    }

    /// Takes no more snapshots: `run()` returns after publishing the one waiting, if any.
    public func finish() {
        queue.finish()
    }

    /// Publishes submitted snapshots until `finish()` (or cancellation). Call it once.
    ///
    /// Each publication (PNG encoding, the page, TensorBoard records, fsync) runs on a thread of its own, like the
    /// pipeline's analysis: a slow disk or a large run holds that thread, never one of the cooperative pool's.
    public func run() async {
        for await (snapshot, settings) in jobs {
            _ = await OwnThread.run { self.publish(snapshot, settings) }
        }
    }

    /// Writes `index.html` and the missing TensorBoard steps now; failures are logged, not thrown.
    @discardableResult
    public func publish(_ snapshot: Snapshot, _ settings: Settings, now: Double? = nil) -> Outcome {
        let now = now ?? Date().timeIntervalSince1970
        let overlay = ProbeOverlay(colormap: settings.colormap, alpha: settings.alpha)
        var outcome = Outcome(page: false, tensorboard: nil, steps: [])
        let page = HTMLReport(
            jobName: settings.jobName, overlay: overlay,
            timeline: TimelineChart.Options(maxColumns: settings.maxColumns, colormap: settings.colormap, alpha: settings.alpha))
        do {
            try page.write(
                report: snapshot.report, archive: snapshot.archive, probeImages: snapshot.probeImages,
                directory: settings.out, now: now)
            outcome.page = true
        } catch {
            logger.warning("cannot write \(HTMLReport.fileName): \(error); trying again at the next checkpoint")
        }
        if let directory = settings.tensorboard {
            outcome.tensorboard = false
            log.withLock { current in
                do throws(PublishError) {
                    var open: TensorBoardLog
                    if let current, current.directory == directory {
                        open = current
                    } else {
                        open = try TensorBoardLog.open(directory: directory)
                        for repair in open.repairs {
                            logger.warning("\(repair.path): cut \(repair.bytes) bytes of a torn last record (a crash mid-write)")
                        }
                    }
                    current = open
                    outcome.steps = try TensorBoardExport(overlay: overlay).publish(
                        report: snapshot.report, archive: snapshot.archive, probeImages: snapshot.probeImages,
                        to: &open, now: now)
                    current = open
                    outcome.tensorboard = true
                    if !outcome.steps.isEmpty {
                        logger.debug("tensorboard: wrote step(s) \(outcome.steps.map(String.init).joined(separator: ", "))")
                    }
                } catch {
                    current = nil
                    logger.warning("cannot write TensorBoard events: \(error); trying again at the next checkpoint")
                }
            }
        }
        return outcome
    }
}
