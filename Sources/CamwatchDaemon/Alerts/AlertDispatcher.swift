import CamwatchTensor
import CamwatchMonitor
public import Logging
public import ServiceLifecycle
import Synchronization

/// Delivers alerts without ever blocking the watcher (docs/architecture.md §6).
///
/// `submit(_:)` writes the alert's log line — the channel that is always on — and queues the alert;
/// it returns at once. `run()` (a swift-service-lifecycle `Service`) takes alerts off the queue one at a
/// time and hands each to the exec hook and the webhook concurrently, logging one line per outcome. The
/// hooks bound themselves (exec timeout; webhook timeout × attempts plus backoff), so a hung receiver
/// delays later alerts but never the watcher.
///
/// On graceful shutdown it stops taking new alerts and finishes the queued ones within
/// `shutdownTimeout`; whatever is still running then is cancelled (an exec hook is killed) and the
/// number of alerts left undelivered is logged. In a `ServiceGroup`, list the dispatcher *before* the
/// watcher: services shut down in reverse order, so the watcher's last alerts are queued before the
/// dispatcher drains. Without a service group, call `finish()` and await `run()`.
///
/// `failed` alerts reach the hooks through a `FailureThrottle`: one alert per burst of failures, at most one per
/// `failureInterval`, with the count and the first names; `finish()` sends what it holds. Every other alert is
/// queued at once.
public final class AlertDispatcher: Service, Sendable {
    /// Alerts queued beyond this are logged but not handed to the hooks.
    public static let defaultCapacity = 256
    /// How long graceful shutdown waits for queued alerts by default.
    public static let defaultShutdownTimeout: Duration = .seconds(5)
    /// How long failures are gathered into one alert by default.
    public static let defaultFailureGather: Duration = .seconds(5)
    /// The least time between two `failed` alerts by default.
    public static let defaultFailureInterval: Duration = .seconds(600)

    /// The hooks alerts are delivered to; `configure` replaces them (SIGHUP).
    let hooks: Mutex<Hooks>
    let logger: Logger
    let shutdownTimeout: Duration
    let alerts: AsyncStream<Alert>
    let queue: AsyncStream<Alert>.Continuation
    /// Alerts accepted into the queue and not yet delivered.
    let pending = Mutex(0)
    /// `failed` alerts waiting to be sent as one.
    let failures: Mutex<FailureThrottle>
    /// Wakes the task that releases held failures when a new burst begins.
    let failureWakeups: AsyncStream<Void>
    let failureWakeup: AsyncStream<Void>.Continuation

    /// - Parameters:
    ///   - execHook: the program to run per alert, if configured.
    ///   - webhook: the URL to post each alert to, if configured.
    ///   - logger: receives one line per alert and one per hook outcome (keys `alert.*`, `hook.*`,
    ///     `webhook.*`).
    ///   - capacity: alerts that may wait for delivery; more are logged as not delivered.
    ///   - shutdownTimeout: how long graceful shutdown waits for the queue to drain.
    ///   - failureGather: how long failures after the first of a burst are gathered into its alert.
    ///   - failureInterval: the least time between two `failed` alerts to the hooks.
    public init(
        execHook: ExecHook? = nil, webhook: Webhook? = nil, logger: Logger, capacity: Int = defaultCapacity,
        shutdownTimeout: Duration = defaultShutdownTimeout, failureGather: Duration = defaultFailureGather,
        failureInterval: Duration = defaultFailureInterval
    ) {
        hooks = Mutex(Hooks(exec: execHook, webhook: webhook))
        self.logger = logger
        self.shutdownTimeout = shutdownTimeout
        (alerts, queue) = AsyncStream.makeStream(of: Alert.self, bufferingPolicy: .bufferingOldest(max(1, capacity)))
        failures = Mutex(FailureThrottle(gather: failureGather, interval: failureInterval))
        (failureWakeups, failureWakeup) = AsyncStream.makeStream(of: Void.self, bufferingPolicy: .bufferingNewest(1))
    }

    struct Hooks: Sendable {
        var exec: ExecHook?
        var webhook: Webhook?
    }

    /// The exec hook alerts are delivered to, if any.
    public var execHook: ExecHook? { hooks.withLock { $0.exec } }
    /// The webhook alerts are delivered to, if any.
    public var webhook: Webhook? { hooks.withLock { $0.webhook } }

    /// Replaces the hooks (after a configuration reload); alerts whose delivery has not begun use the
    /// new ones. `nil` turns a hook off.
    public func configure(exec: ExecHook.Configuration?, webhook: Webhook.Configuration?) {
        hooks.withLock {
            $0 = Hooks(exec: exec.map { ExecHook($0) }, webhook: webhook.map { Webhook($0) })
        }
    }

    /// Logs `alert` and queues it for the hooks (a `failed` one through the throttle); never blocks.
    public func submit(_ alert: Alert) {
        logger.log(
            level: alert.event == .failed ? .warning : .notice, "\(alert.message)", metadata: Self.metadata(alert))
        if alert.event == .recovered, let held = failures.withLock({ $0.recover(now: .now) }) { enqueue(held) }
        guard alert.event == .failed else { return enqueue(alert) }
        switch failures.withLock({ $0.hold(alert, now: .now) }) {
        case .heldFirst: failureWakeup.yield()
        case .held: break
        case .deliver: enqueue(alert)
        }
    }

    /// Queues `alert` for the hooks.
    private func enqueue(_ alert: Alert) {
        let metadata = Self.metadata(alert)
        pending.withLock { $0 += 1 }
        switch queue.yield(alert) {
        case .enqueued:
            break
        case .dropped:
            pending.withLock { $0 -= 1 }
            logger.warning("alert queue full; alert not delivered to the hooks", metadata: metadata)
        case .terminated:
            pending.withLock { $0 -= 1 }
            logger.warning("alerts are shut down; alert not delivered to the hooks", metadata: metadata)
        @unknown default:
            pending.withLock { $0 -= 1 }
        }
    }

    /// Takes no more alerts: `run()` returns once the queued ones are delivered (failures still held among
    /// them, as one alert).
    public func finish() {
        if let held = failures.withLock({ $0.close(now: .now) }) { enqueue(held) }
        queue.finish()
        failureWakeup.finish()
    }

    /// Delivers queued alerts until `finish()` or graceful shutdown (then drains within the bound), or
    /// until cancelled. Call it once.
    public func run() async {
        await run(untilShutdown: { try await gracefulShutdown() })
    }

    /// `run()` with the shutdown trigger injected: `shutdown` returns when graceful shutdown begins and
    /// throws when cancelled.
    func run(untilShutdown shutdown: @escaping @Sendable () async throws -> Void) async {
        await withTaskGroup(of: Void.self) { group in
            group.addTask { await self.drain() }
            group.addTask {
                // Ends by cancellation when the queue drained first.
                do { try await shutdown() } catch { return }
                self.finish()
                do { try await Task.sleep(for: self.shutdownTimeout) } catch { return }
                self.logger.warning(
                    "alert delivery did not finish within \(ExecHook.seconds(self.shutdownTimeout)) s of shutdown")
            }
            await group.next()
            group.cancelAll()
        }
        let undelivered = pending.withLock { $0 }
        if undelivered > 0 {
            logger.warning(
                "\(undelivered) alert(s) not delivered to the hooks at shutdown; see the alert lines above",
                metadata: ["alert.undelivered": "\(undelivered)"])
        }
    }

    /// Delivers queued alerts, and releases held failures when they are due, until the queue is finished.
    func drain() async {
        await withTaskGroup(of: Void.self) { group in
            group.addTask { await self.releaseFailures() }
            await deliverQueued()
            group.cancelAll()
        }
    }

    /// Queues each burst of held failures as one alert when it is due.
    func releaseFailures() async {
        for await _ in failureWakeups {
            while let due = failures.withLock({ $0.due }) {
                do { try await Task.sleep(until: due, clock: .continuous) } catch { return }
                if let alert = failures.withLock({ $0.release(now: .now) }) { enqueue(alert) }
            }
        }
    }

    private func deliverQueued() async {
        for await alert in alerts {
            await deliver(alert)
            // An alert whose delivery was cut short by cancellation stays counted as undelivered.
            guard !Task.isCancelled else { return }
            pending.withLock { $0 -= 1 }
        }
    }

    /// Runs the exec hook and the webhook for one alert, concurrently, and logs each outcome.
    func deliver(_ alert: Alert) async {
        let (execHook, webhook) = hooks.withLock { ($0.exec, $0.webhook) }
        async let hookOutcome = execHook?.run(alert)
        async let webhookOutcome = webhook?.send(alert)
        if let execHook, let outcome = await hookOutcome {
            var metadata = Self.metadata(alert)
            metadata["hook.program"] = "\(execHook.configuration.command.first ?? "")"
            metadata["hook.outcome"] = "\(outcome)"
            if case .exited(let status) = outcome { metadata["hook.status"] = "\(status)" }
            logger.log(level: outcome.succeeded ? .info : .warning, "exec hook \(outcome)", metadata: metadata)
        }
        if let webhook, let outcome = await webhookOutcome {
            var metadata = Self.metadata(alert)
            metadata["webhook.host"] = "\(webhook.host)"
            metadata["webhook.outcome"] = "\(outcome)"
            switch outcome {
            case .delivered(let status, let attempts), .rejected(let status, let attempts):
                metadata["webhook.status"] = "\(status)"
                metadata["webhook.attempts"] = "\(attempts)"
            case .failed(_, let attempts), .cancelled(let attempts):
                metadata["webhook.attempts"] = "\(attempts)"
            case .invalidURL:
                break
            }
            logger.log(
                level: outcome.succeeded ? .info : .warning, "webhook to \(webhook.host) \(outcome)", metadata: metadata
            )
        }
    }

    static func metadata(_ alert: Alert) -> Logger.Metadata {
        var metadata: Logger.Metadata = [
            "alert.event": "\(alert.event.rawValue)",
            "alert.job": "\(alert.job)",
            "alert.checkpoint": "\(alert.checkpoint)",
            "alert.state": "\(alert.state.rawValue)",
        ]
        if let step = alert.step { metadata["alert.step"] = "\(step)" }
        if let epoch = alert.epoch { metadata["alert.epoch"] = "\(epoch)" }
        if let drift = alert.drift { metadata["alert.drift"] = "\(drift)" }
        return metadata
    }
}
