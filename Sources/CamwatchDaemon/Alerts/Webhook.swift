import CamwatchTensor
import Foundation
import FoundationNetworking

/// Posts each alert as JSON to a URL (docs/architecture.md §9.5): a Slack-compatible body
/// `{"text": <message>, "camwatch": {<alert>}}` that Slack, Mattermost, Rocket.Chat and most chat
/// webhooks show as a message, and that any other receiver can read field by field.
///
/// Each attempt has its own timeout; network errors, 5xx and 429 are retried with exponential backoff
/// (429's `Retry-After` is honoured up to a minute), other statuses are final. The URL is a secret (it
/// carries the token): nothing here puts it in an outcome, an error or a description; use `host` in logs.
/// Works on Linux through FoundationNetworking (libcurl), `https` included.
public struct Webhook: Sendable {
    /// The `alerts.webhook` section of the configuration file.
    public struct Configuration: Sendable, Equatable, CustomStringConvertible {
        /// The URL to POST to (`http` or `https`). Secret: never logged.
        public var url: String
        /// How long one attempt may take, connection included.
        public var timeout: Duration
        /// Attempts after the first one when it fails with a network error, 5xx or 429.
        public var retries: Int

        public init(url: String, timeout: Duration = .seconds(5), retries: Int = 3) {
            self.url = url
            self.timeout = timeout
            self.retries = retries
        }

        /// The URL's host (`hooks.slack.com`), safe to log; `"?"` for a URL without one.
        public var host: String { URLComponents(string: url)?.host ?? "?" }

        /// Why `url` cannot be used (not http/https, no host), or `nil` when it can. Names no part of
        /// the URL but its scheme.
        public var invalidReason: String? {
            guard let components = URLComponents(string: url), let scheme = components.scheme?.lowercased() else {
                return "the webhook URL is not a valid URL"
            }
            guard scheme == "http" || scheme == "https" else {
                return "the webhook URL's scheme is \(scheme), not http or https"
            }
            guard let host = components.host, !host.isEmpty, components.url != nil else {
                return "the webhook URL has no host"
            }
            return nil
        }

        /// The parts of `url` that must never be logged: path, query, fragment, user and password (and the
        /// whole URL).
        var secrets: [String] {
            let components = URLComponents(string: url)
            let parts = [
                components?.percentEncodedPath, components?.percentEncodedQuery, components?.percentEncodedFragment,
                components?.percentEncodedUser, components?.percentEncodedPassword, components?.path,
            ]
            return ([url] + parts.compactMap { $0 }).filter { $0.count > 1 }
        }

        /// Without the URL, which is a secret: `webhook to hooks.slack.com (timeout 5 s, 3 retries)`.
        public var description: String {
            "webhook to \(host) (timeout \(ExecHook.seconds(timeout)) s, \(retries) retries)"
        }
    }

    /// How one delivery ended.
    public enum Outcome: Sendable, Equatable, CustomStringConvertible {
        /// The receiver answered 2xx.
        case delivered(status: Int, attempts: Int)
        /// The receiver answered a status that retrying cannot fix (4xx other than 429, 3xx).
        case rejected(status: Int, attempts: Int)
        /// Every attempt failed; `reason` is the last failure (`HTTP 503`, `timed out after 5 s`).
        case failed(reason: String, attempts: Int)
        /// The configured URL is unusable (see `Configuration.invalidReason`).
        case invalidURL(String)
        /// The calling task was cancelled (shutdown past its bound).
        case cancelled(attempts: Int)

        public var succeeded: Bool {
            if case .delivered = self { true } else { false }
        }

        public var description: String {
            switch self {
            case .delivered(let status, let attempts): "delivered (HTTP \(status), \(Self.attempts(attempts)))"
            case .rejected(let status, let attempts): "rejected with HTTP \(status) (\(Self.attempts(attempts)))"
            case .failed(let reason, let attempts): "failed: \(reason) (\(Self.attempts(attempts)))"
            case .invalidURL(let reason): "not sent: \(reason)"
            case .cancelled(let attempts): "cancelled at shutdown (\(Self.attempts(attempts)))"
            }
        }

        private static func attempts(_ count: Int) -> String { count == 1 ? "1 attempt" : "\(count) attempts" }
    }

    public let configuration: Configuration
    /// The wait before the first retry; it doubles for each further one, up to `maximumBackoff`.
    let backoff: Duration
    static let maximumBackoff: Duration = .seconds(30)
    static let maximumRetryAfter: Duration = .seconds(60)

    public init(_ configuration: Configuration) {
        self.init(configuration, backoff: .seconds(1))
    }

    init(_ configuration: Configuration, backoff: Duration) {
        self.configuration = configuration
        self.backoff = backoff
    }

    /// The URL's host, for logs.
    public var host: String { configuration.host }

    /// The request body for `alert`: `{"camwatch": {…}, "text": "<message>"}`, keys sorted.
    public static func body(for alert: Alert) -> [UInt8] {
        struct Body: Encodable {
            var text: String
            var camwatch: Alert
        }
        return (try? Array(Alert.encoder().encode(Body(text: alert.message, camwatch: alert)))) ?? Array("{}".utf8)
    }

    /// Posts `alert`, retrying as configured; returns once it is delivered or given up.
    public func send(_ alert: Alert) async -> Outcome {
        if let reason = configuration.invalidReason { return .invalidURL(reason) }
        guard let url = URL(string: configuration.url) else { return .invalidURL("the webhook URL is not a valid URL") }
        var request = URLRequest(url: url)
        request.httpMethod = "POST"
        request.setValue("application/json", forHTTPHeaderField: "Content-Type")
        request.setValue("camwatch", forHTTPHeaderField: "User-Agent")
        request.httpBody = Data(Self.body(for: alert))
        // The attempt is bounded by our own timer (`attempt`); the transport's timeout is only a backstop,
        // in whole seconds: FoundationNetworking truncates timeouts to whole seconds (0.4 s fails at once).
        request.timeoutInterval = (Self.timeInterval(configuration.timeout) + 1).rounded(.up)

        let session = URLSession(configuration: Self.sessionConfiguration(timeout: request.timeoutInterval))
        defer { session.finishTasksAndInvalidate() }

        let attempts = 1 + max(0, configuration.retries)
        var lastReason = ""
        for attempt in 1...attempts {
            let result = await Self.attempt(
                request, session: session, timeout: configuration.timeout, secrets: configuration.secrets)
            var delay = min(backoff * (1 << min(attempt - 1, 20)), Self.maximumBackoff)
            switch result {
            case .status(let status, _) where (200..<300).contains(status):
                return .delivered(status: status, attempts: attempt)
            case .status(let status, let retryAfter) where status == 429 || (500..<600).contains(status):
                lastReason = "HTTP \(status)"
                if let retryAfter { delay = min(retryAfter, Self.maximumRetryAfter) }
            case .status(let status, _):
                return .rejected(status: status, attempts: attempt)
            case .networkError(let reason):
                lastReason = reason
            case .cancelled:
                return .cancelled(attempts: attempt)
            }
            guard attempt < attempts else { break }
            do {
                try await Task.sleep(for: delay)
            } catch {
                return .cancelled(attempts: attempt)
            }
        }
        return .failed(reason: lastReason, attempts: attempts)
    }

    // MARK: - One attempt

    enum AttemptResult: Sendable {
        case status(Int, retryAfter: Duration?)
        case networkError(String)
        case cancelled
    }

    /// One POST, bounded by `timeout` even if the transport does not honour its own.
    static func attempt(
        _ request: URLRequest, session: URLSession, timeout: Duration, secrets: [String]
    ) async -> AttemptResult {
        await withTaskGroup(of: AttemptResult?.self) { group in
            group.addTask {
                do {
                    let (_, response) = try await session.data(for: request)
                    guard let http = response as? HTTPURLResponse else { return .networkError("not an HTTP response") }
                    let retryAfter = http.value(forHTTPHeaderField: "Retry-After")
                        .flatMap { Int($0.trimmingCharacters(in: .whitespaces)) }
                        .map { Duration.seconds(max(0, $0)) }
                    return .status(http.statusCode, retryAfter: retryAfter)
                } catch {
                    if Task.isCancelled { return nil }
                    return .networkError(describe(error, timeout: timeout, secrets: secrets))
                }
            }
            group.addTask {
                do {
                    try await Task.sleep(for: timeout)
                    return .networkError("timed out after \(ExecHook.seconds(timeout)) s")
                } catch {
                    return nil
                }
            }
            let first = await group.next() ?? nil
            group.cancelAll()
            return first ?? .cancelled
        }
    }

    /// A transport error in a few words, without the URL (Foundation's descriptions quote it).
    ///
    /// - Parameter secrets: the parts of the URL that must not appear (path, query, user, password).
    static func describe(_ error: any Error, timeout: Duration, secrets: [String]) -> String {
        guard let error = error as? URLError else { return "network error" }
        switch error.code {
        case .timedOut: return "timed out after \(ExecHook.seconds(timeout)) s"
        case .cannotConnectToHost: return "connection refused"
        case .cannotFindHost, .dnsLookupFailed: return "host not found"
        case .networkConnectionLost: return "connection lost"
        case .notConnectedToInternet: return "no network"
        case .badServerResponse: return "bad server response"
        case .secureConnectionFailed: return "TLS handshake failed"
        case .serverCertificateUntrusted, .serverCertificateHasBadDate, .serverCertificateHasUnknownRoot,
            .serverCertificateNotYetValid:
            return "untrusted TLS certificate"
        case .cancelled: return "cancelled"
        default:
            // libcurl's own message ("SSL certificate problem: self-signed certificate") names at most the
            // host; it is used only if it holds no secret part of the URL.
            let message = (error as NSError).userInfo[NSLocalizedDescriptionKey] as? String
            if let message, !message.isEmpty, !secrets.contains(where: { message.contains($0) }) {
                return message
            }
            return "network error \(error.code.rawValue)"
        }
    }

    static func sessionConfiguration(timeout: TimeInterval) -> URLSessionConfiguration {
        let configuration = URLSessionConfiguration.ephemeral
        configuration.timeoutIntervalForRequest = timeout
        configuration.timeoutIntervalForResource = timeout
        configuration.httpCookieStorage = nil
        configuration.urlCache = nil
        configuration.requestCachePolicy = .reloadIgnoringLocalCacheData
        return configuration
    }

    static func timeInterval(_ duration: Duration) -> TimeInterval {
        duration.seconds
    }
}
