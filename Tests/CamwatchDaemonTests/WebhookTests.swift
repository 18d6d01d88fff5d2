import CamwatchTestSupport
import Foundation
import Testing

@testable import CamwatchDaemon

@Suite(.realTime) struct WebhookTests {
    /// The secret part of a Slack-style webhook URL; it must never show up in outcomes or descriptions.
    static let token = "T0SECRET/B0SECRET/XXXXsecretXXXX"

    static func webhook(_ server: LoopbackHTTPServer, timeout: Duration = .seconds(5), retries: Int = 3) -> Webhook {
        Webhook(
            .init(url: server.url("/services/\(token)"), timeout: timeout, retries: retries), backoff: .milliseconds(10)
        )
    }

    static func seconds(since start: ContinuousClock.Instant) -> Double {
        let elapsed = ContinuousClock.now - start
        return Double(elapsed.components.seconds) + Double(elapsed.components.attoseconds) / 1e18
    }

    @Test func postsASlackCompatibleJSONBody() async throws {
        let server = try LoopbackHTTPServer(replies: [.status(200)])
        defer { server.stop() }
        let alert = Alert.testSample()
        let outcome = await Self.webhook(server).send(alert)
        #expect(outcome == .delivered(status: 200, attempts: 1))
        #expect(outcome.succeeded)

        let request = try #require(server.requests.first)
        #expect(server.requests.count == 1)
        #expect(request.method == "POST")
        #expect(request.path == "/services/\(Self.token)")
        #expect(request.headers["content-type"] == "application/json")
        let body = try #require(request.jsonObject())
        #expect(body["text"] as? String == alert.message)
        let fields = try #require(body["camwatch"] as? [String: Any])
        #expect(fields["event"] as? String == "stable")
        #expect(fields["job"] as? String == "run7")
        #expect(fields["checkpoint"] as? String == "epoch-021.h5")
        #expect(fields["checkpoint_id"] as? String == alert.checkpointID)
        #expect(fields["epoch"] as? Int == 21)
        #expect(fields["drift"] as? Double == 0.012)
        #expect(fields["report_path"] as? String == alert.reportPath)
    }

    @Test func retriesAfterAServerError() async throws {
        let server = try LoopbackHTTPServer(replies: [.status(500, body: "rollup_error"), .status(200)])
        defer { server.stop() }
        #expect(await Self.webhook(server).send(.testSample()) == .delivered(status: 200, attempts: 2))
        #expect(server.requests.count == 2)
        #expect(server.requests.map(\.body) == [Webhook.body(for: .testSample()), Webhook.body(for: .testSample())])
    }

    @Test func retriesWhenRateLimitedHonouringRetryAfter() async throws {
        let server = try LoopbackHTTPServer(replies: [.status(429, headers: ["Retry-After": "0"]), .status(200)])
        defer { server.stop() }
        let start = ContinuousClock.now
        #expect(await Self.webhook(server).send(.testSample()) == .delivered(status: 200, attempts: 2))
        #expect(Self.seconds(since: start) < 2)
    }

    @Test func doesNotRetryAClientError() async throws {
        let server = try LoopbackHTTPServer(replies: [.status(400, body: "invalid_payload")])
        defer { server.stop() }
        let outcome = await Self.webhook(server).send(.testSample())
        #expect(outcome == .rejected(status: 400, attempts: 1))
        #expect(!outcome.succeeded)
        try await Task.sleep(for: .milliseconds(100))
        #expect(server.requests.count == 1)
    }

    @Test func givesUpAfterTheConfiguredRetries() async throws {
        let server = try LoopbackHTTPServer(replies: [], fallback: .status(503))
        defer { server.stop() }
        let outcome = await Self.webhook(server, retries: 2).send(.testSample())
        #expect(outcome == .failed(reason: "HTTP 503", attempts: 3))
        #expect(server.requests.count == 3)
    }

    @Test func aServerThatNeverAnswersTimesOut() async throws {
        let server = try LoopbackHTTPServer(replies: [], fallback: .hang)
        defer { server.stop() }
        let start = ContinuousClock.now
        let outcome = await Self.webhook(server, timeout: .milliseconds(400), retries: 1).send(.testSample())
        let elapsed = Self.seconds(since: start)
        #expect(outcome == .failed(reason: "timed out after 0.4 s", attempts: 2))
        // Our own timer bounds each attempt; the transport's backstop (2 s each) would take over 4 s. (2.7 s was
        // measured once with the parallel test suite loading both cores.)
        #expect(elapsed >= 0.8 && elapsed < 3.6, "\(elapsed) s")
        #expect(server.requests.count == 2)
    }

    @Test func connectionRefusedIsRetriedThenReported() async {
        let port = closedLoopbackPort()
        let webhook = Webhook(
            .init(url: "http://127.0.0.1:\(port)/hook", timeout: .seconds(2), retries: 1), backoff: .milliseconds(10))
        #expect(await webhook.send(.testSample()) == .failed(reason: "connection refused", attempts: 2))
    }

    @Test func anUnusableURLIsReportedWithoutQuotingIt() async {
        for url in ["ftp://example.com/\(Self.token)", "not a url \(Self.token)", "https:///\(Self.token)"] {
            let configuration = Webhook.Configuration(url: url)
            let reason = configuration.invalidReason
            #expect(reason != nil, "\(url)")
            #expect(reason?.contains("SECRET") == false)
            guard case .invalidURL(let message) = await Webhook(configuration).send(.testSample()) else {
                Issue.record("\(url) should be refused")
                continue
            }
            #expect(!message.contains("SECRET"))
        }
        #expect(Webhook.Configuration(url: "https://hooks.slack.com/services/\(Self.token)").invalidReason == nil)
    }

    @Test func transportMessagesAreKeptOnlyWithoutSecrets() {
        let configuration = Webhook.Configuration(url: "https://hooks.example.com/services/\(Self.token)?key=k3y")
        #expect(configuration.secrets.contains("/services/\(Self.token)"))
        #expect(configuration.secrets.contains("key=k3y"))
        func error(_ message: String) -> URLError { URLError(.unknown, userInfo: [NSLocalizedDescriptionKey: message]) }
        let safe = "SSL certificate problem: self-signed certificate"
        #expect(Webhook.describe(error(safe), timeout: .seconds(1), secrets: configuration.secrets) == safe)
        let leaky = "Failed for https://hooks.example.com/services/\(Self.token)?key=k3y"
        #expect(
            Webhook.describe(error(leaky), timeout: .seconds(1), secrets: configuration.secrets) == "network error -1")
        #expect(
            Webhook.describe(URLError(.timedOut), timeout: .milliseconds(1500), secrets: []) == "timed out after 1.5 s")
    }

    @Test func descriptionsNameTheHostOnly() {
        let configuration = Webhook.Configuration(
            url: "https://hooks.slack.com/services/\(Self.token)", timeout: .seconds(5), retries: 3)
        #expect(configuration.host == "hooks.slack.com")
        #expect(configuration.description == "webhook to hooks.slack.com (timeout 5 s, 3 retries)")
        #expect("\(configuration)".contains("SECRET") == false)
        let outcomes: [Webhook.Outcome] = [
            .delivered(status: 200, attempts: 1), .rejected(status: 404, attempts: 1),
            .failed(reason: "HTTP 500", attempts: 4), .cancelled(attempts: 2),
        ]
        #expect(
            outcomes.map(\.description) == [
                "delivered (HTTP 200, 1 attempt)", "rejected with HTTP 404 (1 attempt)",
                "failed: HTTP 500 (4 attempts)", "cancelled at shutdown (2 attempts)",
            ])
    }
}
