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
public final class AlertDispatcher: Service, Sendable {
    /// Alerts queued beyond this are logged but not handed to the hooks.
    public static let defaultCapacity = 256
    /// How long graceful shutdown waits for queued alerts by default.
    public static let defaultShutdownTimeout: Duration = .seconds(5)

    /// The hooks alerts are delivered to; `configure` replaces them (SIGHUP).
    let hooks: Mutex<Hooks>
    let logger: Logger
    let shutdownTimeout: Duration
    let alerts: AsyncStream<Alert>
    let queue: AsyncStream<Alert>.Continuation
    /// Alerts accepted into the queue and not yet delivered.
    let pending = Mutex(0)

    /// - Parameters:
    ///   - execHook: the program to run per alert, if configured.
    ///   - webhook: the URL to post each alert to, if configured.
    ///   - logger: receives one line per alert and one per hook outcome (keys `alert.*`, `hook.*`,
    ///     `webhook.*`).
    ///   - capacity: alerts that may wait for delivery; more are logged as not delivered.
    ///   - shutdownTimeout: how long graceful shutdown waits for the queue to drain.
    public init(
        execHook: ExecHook? = nil, webhook: Webhook? = nil, logger: Logger, capacity: Int = defaultCapacity,
        shutdownTimeout: Duration = defaultShutdownTimeout
    ) {
        hooks = Mutex(Hooks(exec: execHook, webhook: webhook))
        self.logger = logger
        self.shutdownTimeout = shutdownTimeout
        (alerts, queue) = AsyncStream.makeStream(of: Alert.self, bufferingPolicy: .bufferingOldest(max(1, capacity)))
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

    /// Logs `alert` and queues it for the hooks; never blocks.
    public func submit(_ alert: Alert) {
        let metadata = Self.metadata(alert)
        logger.log(level: alert.event == .failed ? .warning : .notice, "\(alert.message)", metadata: metadata)
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

    /// Takes no more alerts: `run()` returns once the queued ones are delivered.
    public func finish() {
        queue.finish()
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

    func drain() async {
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
