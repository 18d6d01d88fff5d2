import Foundation
import CamwatchTensor

/// The pipeline's time, injected so that tests drive settling, backoff and retries without waiting.
///
/// The monotonic `now` decides what the watcher offers (settle intervals, a checkpoint's next reader attempt);
/// `wallSeconds` stamps the report; `sleep(for:)` is the pause between two reader attempts on one checkpoint.
protocol PipelineClock: Sendable {
    var now: ContinuousClock.Instant { get }
    /// Seconds since 1970, for report.json.
    var wallSeconds: Double { get }
    /// Blocks the calling thread (the pipeline's own) for `duration`.
    func sleep(for duration: Duration)
}

/// The real time: `ContinuousClock` and the system's calendar clock.
struct SystemPipelineClock: PipelineClock {
    var now: ContinuousClock.Instant { .now }
    var wallSeconds: Double { Date().timeIntervalSince1970 }
    func sleep(for duration: Duration) { Thread.sleep(forTimeInterval: duration.seconds) }
}
