import CamwatchTestSupport
import Foundation
import Logging
import Testing

@testable import CamwatchDaemon

@Suite(.realTime) struct AlertDispatcherTests {
    static func alert(_ index: Int, event: Alert.Event = .stable) -> Alert {
        var alert = Alert.testSample()
        alert.event = event
        alert.checkpoint = "epoch-\(index).h5"
        alert.message = "run7: alert \(index)"
        return alert
    }

    static func seconds(since start: ContinuousClock.Instant) -> Double {
        let elapsed = ContinuousClock.now - start
        return Double(elapsed.components.seconds) + Double(elapsed.components.attoseconds) / 1e18
    }

    /// A shutdown trigger the test fires by finishing the returned continuation.
    static func shutdownTrigger() -> (@Sendable () async throws -> Void, AsyncStream<Void>.Continuation) {
        let (stream, continuation) = AsyncStream.makeStream(of: Void.self)
        let wait: @Sendable () async throws -> Void = {
            for await _ in stream {}
            try Task.checkCancellation()
        }
        return (wait, continuation)
    }

    /// Submits `count` alerts, starts the dispatcher and shuts it down at once; returns the seconds it took.
    static func shutDown(_ dispatcher: AlertDispatcher, afterSubmitting count: Int) async -> Double {
        let (shutdown, trigger) = shutdownTrigger()
        for index in 1...count { dispatcher.submit(alert(index)) }
        let start = ContinuousClock.now
        await withTaskGroup(of: Void.self) { group in
            group.addTask { await dispatcher.run(untilShutdown: shutdown) }
            trigger.finish()
            await group.waitForAll()
        }
        return seconds(since: start)
    }

    @Test func deliversToBothHooksAndLogsEveryOutcome() async throws {
        let directory = try Fixtures.temporaryDirectory("camwatch-dispatch")
        defer { try? FileManager.default.removeItem(at: directory) }
        let hook = try ExecHookTests.script("hook.sh", in: directory, #"echo "$CAMWATCH_CHECKPOINT" >> "$1/ran""#)
        let server = try LoopbackHTTPServer(replies: [.status(200), .status(400)])
        defer { server.stop() }
        let recorder = LogRecorder()
        let dispatcher = AlertDispatcher(
            execHook: ExecHook(.init(command: [hook, directory.path])),
            webhook: Webhook(.init(url: server.url("/services/\(WebhookTests.token)"))), logger: recorder.logger)

        dispatcher.submit(Self.alert(1))
        dispatcher.submit(Self.alert(2, event: .failed))
        dispatcher.finish()
        await dispatcher.run()

        // One line per alert, logged at submission, with dotted metadata keys.
        let alertLines = recorder.entries.filter { $0.message.hasPrefix("run7: alert") }
        #expect(alertLines.map(\.message) == ["run7: alert 1", "run7: alert 2"])
        #expect(alertLines.map(\.level) == [.notice, .warning])
        #expect(alertLines.first?.metadata["alert.event"] == "stable")
        #expect(alertLines.first?.metadata["alert.job"] == "run7")
        #expect(alertLines.first?.metadata["alert.checkpoint"] == "epoch-1.h5")
        #expect(alertLines.first?.metadata["alert.drift"] == "0.012")
        #expect(alertLines.first?.metadata["alert.epoch"] == "21")

        // Hooks ran in submission order, one outcome line each.
        #expect(
            try String(contentsOf: directory.appendingPathComponent("ran"), encoding: .utf8)
                == "epoch-1.h5\nepoch-2.h5\n")
        let hookLines = recorder.entries.filter { $0.metadata["hook.outcome"] != nil }
        #expect(hookLines.map { $0.metadata["hook.status"] } == ["0", "0"])
        #expect(hookLines.map(\.level) == [.info, .info])
        let webhookLines = recorder.entries.filter { $0.metadata["webhook.outcome"] != nil }
        #expect(webhookLines.map { $0.metadata["webhook.status"] } == ["200", "400"])
        #expect(webhookLines.map(\.level) == [.info, .warning])
        #expect(webhookLines.allSatisfy { $0.metadata["webhook.host"] == "127.0.0.1" })
        #expect(webhookLines.map { $0.metadata["alert.checkpoint"] } == ["epoch-1.h5", "epoch-2.h5"])
        #expect(server.requests.count == 2)

        // The URL is a secret: the host is logged, the path never.
        #expect(!recorder.allText.contains("SECRET"))
        #expect(!recorder.allText.contains("/services/"))
        #expect(!recorder.entries.contains { $0.message.contains("not delivered") })
    }

    /// Waits up to 5 s until `server` has `count` requests.
    static func await(_ count: Int, requestsAt server: LoopbackHTTPServer) async {
        for _ in 0..<500 where server.requests.count < count { try? await Task.sleep(for: .milliseconds(10)) }
    }

    @Test("200 failures are one post with their count; state changes go out at once; later failures wait")
    func failuresAreCoalescedAndRateLimited() async throws {
        let server = try LoopbackHTTPServer(replies: [])
        defer { server.stop() }
        let recorder = LogRecorder()
        let dispatcher = AlertDispatcher(
            webhook: Webhook(.init(url: server.url("/hook"), retries: 0)), logger: recorder.logger,
            failureGather: .milliseconds(300), failureInterval: .seconds(600))
        let (shutdown, trigger) = Self.shutdownTrigger()
        func posted() -> [(event: String?, count: Int?, text: String?)] {
            server.requests.map { request in
                let object = request.jsonObject()
                let alert = object?["camwatch"] as? [String: Any]
                return (alert?["event"] as? String, alert?["count"] as? Int, object?["text"] as? String)
            }
        }

        await withTaskGroup(of: Void.self) { group in
            group.addTask { await dispatcher.run(untilShutdown: shutdown) }
            for index in 1...200 { dispatcher.submit(Self.alert(index, event: .failed)) }
            dispatcher.submit(Self.alert(201, event: .diverged))
            // The state change does not wait for the failures gathered before it.
            await Self.await(1, requestsAt: server)
            #expect(posted().map(\.event) == ["diverged"])
            await Self.await(2, requestsAt: server)
            let burst = posted().last
            #expect(burst?.event == "failed" && burst?.count == 200)
            #expect(burst?.text == "run7: 200 checkpoints failed (epoch-1.h5, epoch-2.h5, epoch-3.h5, epoch-4.h5, "
                + "epoch-5.h5 and 195 more); the first: alert 1")

            // Within the interval, failures wait and are counted; a state change still goes out at once.
            for index in 202...204 { dispatcher.submit(Self.alert(index, event: .failed)) }
            dispatcher.submit(Self.alert(205, event: .stable))
            await Self.await(3, requestsAt: server)
            try? await Task.sleep(for: .milliseconds(600))
            #expect(posted().map(\.event) == ["diverged", "failed", "stable"])

            // Shutdown sends what is held.
            trigger.finish()
            await group.waitForAll()
        }
        let all = posted()
        #expect(all.count == 4)
        #expect(all.last?.event == "failed" && all.last?.count == 3)
        // Every failure still has its own log line.
        let failureLines = recorder.entries.filter {
            $0.metadata["alert.event"] == "failed" && $0.message.hasPrefix("run7: alert")
        }
        #expect(failureLines.count == 203)
    }

    @Test func submitNeverWaitsForAHungReceiver() async throws {
        let server = try LoopbackHTTPServer(replies: [], fallback: .hang)
        defer { server.stop() }
        let recorder = LogRecorder()
        let dispatcher = AlertDispatcher(
            webhook: Webhook(.init(url: server.url("/hook"), timeout: .seconds(30), retries: 0)),
            logger: recorder.logger)
        let (shutdown, _) = Self.shutdownTrigger()

        await withTaskGroup(of: Void.self) { group in
            group.addTask { await dispatcher.run(untilShutdown: shutdown) }
            // Let the first delivery reach the hung server.
            dispatcher.submit(Self.alert(0))
            for _ in 0..<200 where server.requests.isEmpty { try? await Task.sleep(for: .milliseconds(10)) }
            #expect(server.requests.count == 1)

            let start = ContinuousClock.now
            for index in 1...50 { dispatcher.submit(Self.alert(index)) }
            #expect(Self.seconds(since: start) < 0.5)
            // Every alert already has its log line, although none was delivered.
            #expect(recorder.entries.filter { $0.message.hasPrefix("run7: alert") }.count == 51)

            let cancelled = ContinuousClock.now
            group.cancelAll()
            await group.waitForAll()
            #expect(Self.seconds(since: cancelled) < 2)
        }
        let summary = recorder.entries.last
        #expect(summary?.metadata["alert.undelivered"] == "51")
        #expect(recorder.entries.contains { $0.metadata["webhook.outcome"] == "cancelled at shutdown (1 attempt)" })
    }

    @Test func gracefulShutdownFinishesWhatIsQueued() async throws {
        let directory = try Fixtures.temporaryDirectory("camwatch-dispatch")
        defer { try? FileManager.default.removeItem(at: directory) }
        let hook = try ExecHookTests.script(
            "slow.sh", in: directory, #"sleep 0.1; echo "$CAMWATCH_CHECKPOINT" >> "$1/ran""#)
        let recorder = LogRecorder()
        let dispatcher = AlertDispatcher(
            execHook: ExecHook(.init(command: [hook, directory.path])), logger: recorder.logger,
            shutdownTimeout: .seconds(10))
        let (shutdown, trigger) = Self.shutdownTrigger()

        for index in 1...3 { dispatcher.submit(Self.alert(index)) }
        await withTaskGroup(of: Void.self) { group in
            group.addTask { await dispatcher.run(untilShutdown: shutdown) }
            trigger.finish()
            await group.waitForAll()
        }
        #expect(
            try String(contentsOf: directory.appendingPathComponent("ran"), encoding: .utf8)
                == "epoch-1.h5\nepoch-2.h5\nepoch-3.h5\n")
        // After shutdown began, new alerts are still logged but not queued.
        dispatcher.submit(Self.alert(4))
        #expect(recorder.entries.last?.message == "alerts are shut down; alert not delivered to the hooks")
        #expect(recorder.entries.contains { $0.message == "run7: alert 4" })
        #expect(!recorder.entries.contains { $0.metadata["alert.undelivered"] != nil })
    }

    @Test func shutdownIsBounded() async throws {
        let server = try LoopbackHTTPServer(replies: [], fallback: .hang)
        defer { server.stop() }
        let recorder = LogRecorder()
        let dispatcher = AlertDispatcher(
            webhook: Webhook(.init(url: server.url("/hook"), timeout: .seconds(30), retries: 5)),
            logger: recorder.logger,
            shutdownTimeout: .milliseconds(300))
        let elapsed = await Self.shutDown(dispatcher, afterSubmitting: 2)
        // Unbounded, the hanging webhook would hold shutdown for 30 s per attempt; the margin above 0.3 s is
        // the cancelled request winding down, which a loaded machine (a parallel test run) stretches.
        #expect(elapsed >= 0.3 && elapsed < 4, "\(elapsed) s")
        #expect(recorder.entries.contains { $0.message == "alert delivery did not finish within 0.3 s of shutdown" })
        #expect(recorder.entries.last?.metadata["alert.undelivered"] == "2")
    }

    /// systemd and people wait for a stopping daemon; queued alerts get at most 5 s by default,
    /// and what could not be delivered is counted in the log, never dropped silently.
    @Test func shutdownByDefaultWaitsAtMostFiveSecondsAndCountsWhatIsLeft() async throws {
        let server = try LoopbackHTTPServer(replies: [], fallback: .hang)
        defer { server.stop() }
        let recorder = LogRecorder()
        let dispatcher = AlertDispatcher(
            webhook: Webhook(.init(url: server.url("/hook"), timeout: .seconds(30), retries: 5)),
            logger: recorder.logger)
        let elapsed = await Self.shutDown(dispatcher, afterSubmitting: 3)
        // As above: 5 s, plus the cancelled request winding down (up to ~2 s seen on a loaded machine), far
        // below the 30 s a hanging webhook would take.
        #expect(elapsed >= 4.9 && elapsed < 9, "\(elapsed) s")
        #expect(recorder.entries.contains { $0.message == "alert delivery did not finish within 5 s of shutdown" })
        #expect(recorder.entries.last?.metadata["alert.undelivered"] == "3")
    }

    @Test func configureReplacesTheHooks() async throws {
        let directory = try Fixtures.temporaryDirectory("camwatch-dispatch")
        defer { try? FileManager.default.removeItem(at: directory) }
        let old = try ExecHookTests.script("old.sh", in: directory, #"touch "$1/old""#)
        let new = try ExecHookTests.script("new.sh", in: directory, #"touch "$1/new""#)
        let recorder = LogRecorder()
        let dispatcher = AlertDispatcher(
            execHook: ExecHook(.init(command: [old, directory.path])), logger: recorder.logger)
        #expect(dispatcher.execHook?.configuration.command.first == old)

        dispatcher.configure(exec: .init(command: [new, directory.path], timeout: .seconds(3)), webhook: nil)
        #expect(dispatcher.execHook?.configuration == .init(command: [new, directory.path], timeout: .seconds(3)))
        #expect(dispatcher.webhook == nil)
        dispatcher.submit(Self.alert(1))
        dispatcher.finish()
        await dispatcher.run()
        #expect(FileManager.default.fileExists(atPath: directory.appendingPathComponent("new").path))
        #expect(!FileManager.default.fileExists(atPath: directory.appendingPathComponent("old").path))
    }

    @Test func withoutHooksEveryAlertIsStillLogged() async {
        let recorder = LogRecorder()
        let dispatcher = AlertDispatcher(logger: recorder.logger)
        dispatcher.submit(Self.alert(1, event: .changing))
        dispatcher.submit(Self.alert(2, event: .recovered))
        dispatcher.finish()
        await dispatcher.run()
        #expect(recorder.entries.map(\.message) == ["run7: alert 1", "run7: alert 2"])
        #expect(recorder.entries.map { $0.metadata["alert.event"] } == ["changing", "recovered"])
    }

    @Test func aFullQueueDropsAndSaysSo() async {
        let recorder = LogRecorder()
        let dispatcher = AlertDispatcher(logger: recorder.logger, capacity: 2)
        for index in 1...3 { dispatcher.submit(Self.alert(index)) }
        #expect(recorder.entries.filter { $0.message.hasPrefix("run7: alert") }.count == 3)
        let dropped = recorder.entries.filter { $0.message == "alert queue full; alert not delivered to the hooks" }
        #expect(dropped.map { $0.metadata["alert.checkpoint"] } == ["epoch-3.h5"])
        dispatcher.finish()
        await dispatcher.run()
    }
}

/// The throttle's rules with time passed in: no waiting.
@Suite struct FailureThrottleTests {
    static func failure(_ index: Int) -> Alert {
        AlertDispatcherTests.alert(index, event: .failed)
    }

    @Test("a burst is one alert after the gather time; later failures wait out the interval; a recovery resets it")
    func burstIntervalAndRecovery() throws {
        var throttle = FailureThrottle(gather: .seconds(5), interval: .seconds(600))
        let start = ContinuousClock.now
        func at(_ seconds: Int) -> ContinuousClock.Instant { start + .seconds(seconds) }
        var decisions = [throttle.hold(Self.failure(1), now: at(0)), throttle.hold(Self.failure(2), now: at(1))]
        #expect(decisions == [.heldFirst, .held])
        let early = throttle.release(now: at(4))
        #expect(early == nil)
        let burst = throttle.release(now: at(5))
        #expect(burst?.count == 2 && burst?.checkpoint == "epoch-1.h5")

        // The next failure waits for the interval since the last alert, not for the gather time.
        decisions = [throttle.hold(Self.failure(3), now: at(60))]
        #expect(decisions == [.heldFirst] && throttle.due == at(605))
        let waiting = throttle.release(now: at(120))
        #expect(waiting == nil)
        // One failure alone goes out as it was raised.
        let alone = throttle.release(now: at(605))
        #expect(alone == Self.failure(3))

        // A recovery sends what is held at once and starts over: the next failure waits the gather time only.
        _ = throttle.hold(Self.failure(4), now: at(700))
        let recovered = throttle.recover(now: at(701))
        #expect(recovered == Self.failure(4))
        decisions = [throttle.hold(Self.failure(5), now: at(710))]
        #expect(decisions == [.heldFirst] && throttle.due == at(715))

        // Closed: held failures come out, later ones are not held.
        let closing = throttle.close(now: at(711))
        #expect(closing == Self.failure(5))
        decisions = [throttle.hold(Self.failure(6), now: at(712))]
        #expect(decisions == [.deliver])
    }
}
