import Logging
import Synchronization

/// Collects what a `Logger` logs, for tests that check log lines and their metadata.
final class LogRecorder: Sendable {
    struct Record: Sendable {
        var level: Logger.Level
        var message: String
        var metadata: [String: String]
    }

    private let records = Mutex<[Record]>([])

    /// A logger at `.trace` writing into this recorder.
    var logger: Logger {
        Logger(label: "camwatch.test") { _ in Handler(recorder: self) }
    }

    var entries: [Record] { records.withLock { $0 } }

    /// Records whose metadata has `key` = `value`.
    func entries(where key: String, is value: String) -> [Record] {
        entries.filter { $0.metadata[key] == value }
    }

    /// Every message and metadata value, for "the secret appears nowhere" checks.
    var allText: String {
        entries.map { ([$0.message] + $0.metadata.map { "\($0.key)=\($0.value)" }).joined(separator: " ") }
            .joined(separator: "\n")
    }

    fileprivate func append(_ record: Record) { records.withLock { $0.append(record) } }

    private struct Handler: LogHandler {
        let recorder: LogRecorder
        var metadata: Logger.Metadata = [:]
        var logLevel: Logger.Level = .trace

        subscript(metadataKey key: String) -> Logger.Metadata.Value? {
            get { metadata[key] }
            set { metadata[key] = newValue }
        }

        func log(event: LogEvent) {
            let merged = metadata.merging(event.metadata ?? [:]) { $1 }
            recorder.append(
                Record(
                    level: event.level, message: event.message.description,
                    metadata: merged.mapValues { "\($0)" }))
        }
    }
}
