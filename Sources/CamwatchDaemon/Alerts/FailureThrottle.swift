import CamwatchMonitor

/// Turns a flood of `failed` alerts into a few: the hooks get one alert per burst of failures, and at most
/// one per `interval` until a checkpoint is processed again (`recovered`); failures in between are counted into
/// the next one (`Alert.count`, the first few names in its message). Only `failed` alerts pass through here: a state change (`stable`, `changing`,
/// `collapsed`, `diverged`, …) goes to the hooks at once, and every failure still has its own log line.
///
/// Without it, 200 junk files dropped beside the checkpoints made 200 webhook posts and exec-hook runs.
/// Time is passed in, so the rules are tested without waiting.
struct FailureThrottle: Sendable {
    /// How long failures are gathered after the first of a burst: a scan of many junk files fails them one
    /// after another, each after its reader child has tried the file.
    let gather: Duration
    /// The least time between two `failed` alerts.
    let interval: Duration
    /// How many checkpoints an alert names (the rest are counted).
    static let namedFailures = 5

    private var first: [Alert] = []
    private var count = 0
    private var lastState: ConvergenceState?
    private var lastSent: ContinuousClock.Instant?
    /// When the held failures go out; `nil` when none are held.
    private(set) var due: ContinuousClock.Instant?
    /// After `close`, nothing is held any more.
    private var closed = false

    init(gather: Duration, interval: Duration) {
        self.gather = gather
        self.interval = interval
    }

    /// What to do with a failure offered to the throttle.
    enum Decision: Equatable {
        /// Held; the first of a new burst, so whoever releases must look at `due` again.
        case heldFirst
        /// Held with failures already waiting.
        case held
        /// Not held (the throttle is closed): deliver it as it is.
        case deliver
    }

    /// Holds `alert` (a `failed` one) for the next release.
    mutating func hold(_ alert: Alert, now: ContinuousClock.Instant) -> Decision {
        guard !closed else { return .deliver }
        count += 1
        lastState = alert.state
        if first.count < Self.namedFailures { first.append(alert) }
        guard due == nil else { return .held }
        let gathered = now + gather
        due = lastSent.map { max(gathered, $0 + interval) } ?? gathered
        return .heldFirst
    }

    /// The alert for the held failures when they are due at `now` (all of them with `force`), else `nil`.
    mutating func release(now: ContinuousClock.Instant, force: Bool = false) -> Alert? {
        guard let due, count > 0, force || now >= due, let head = first.first else { return nil }
        let alert = count == 1 ? head : Alert(failures: first, count: count, state: lastState ?? head.state)
        first = []
        count = 0
        self.due = nil
        lastSent = now
        return alert
    }

    /// A checkpoint was processed again: the failures held go out now (before the `recovered` alert that ends
    /// them), and the next failure is a new incident, due after `gather` alone.
    mutating func recover(now: ContinuousClock.Instant) -> Alert? {
        let held = release(now: now, force: true)
        lastSent = nil
        return held
    }

    /// Releases everything held and holds nothing more (shutdown).
    mutating func close(now: ContinuousClock.Instant) -> Alert? {
        closed = true
        return release(now: now, force: true)
    }
}
