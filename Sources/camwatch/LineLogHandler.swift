import CamwatchMonitor
import CamwatchTensor
import Foundation
import Logging

/// One plain line per event on stderr: `<time> <level> <message> (key=value, …)`.
///
/// Under systemd (`$JOURNAL_STREAM` set: stderr is connected to the journal) the time is left out — the journal
/// stamps every line — and the line starts with the sd-daemon(3) priority prefix (`<6>` info, `<4>` warning,
/// …), so `journalctl -p warning` filters camwatch's own levels. No colours, no progress bars.
struct LineLogHandler: LogHandler {
    var logLevel: Logger.Level = .info
    var metadata: Logger.Metadata = [:]
    let journal: Bool

    init(journal: Bool = ProcessInfo.processInfo.environment["JOURNAL_STREAM"] != nil) {
        self.journal = journal
    }

    subscript(metadataKey key: String) -> Logger.Metadata.Value? {
        get { metadata[key] }
        set { metadata[key] = newValue }
    }

    func log(event: LogEvent) {
        var line = ""
        if journal {
            line += "<\(Self.priority(event.level))>"
        } else {
            line += Self.timestamp() + " "
        }
        line += "\(event.level) \(event.message)"
        let merged = metadata.merging(event.metadata ?? [:]) { $1 }
        if !merged.isEmpty {
            line += " (" + merged.sorted { $0.key < $1.key }.map { "\($0.key)=\($0.value)" }.joined(separator: ", ") + ")"
        }
        // One event, one line, whatever the message holds; file names may carry terminal escapes, which must
        // not reach an operator's terminal or fake a line of their own.
        line = DisplayText.escaped(line.oneLine) + "\n"
        FileHandle.standardError.write(Data(line.utf8))
    }

    /// syslog priorities as sd-daemon(3) prefixes expect them.
    static func priority(_ level: Logger.Level) -> Int {
        switch level {
        case .trace, .debug: 7
        case .info: 6
        case .notice: 5
        case .warning: 4
        case .error: 3
        case .critical: 2
        }
    }

    static func timestamp() -> String {
        var now = time(nil)
        var parts = tm()
        gmtime_r(&now, &parts)
        var buffer = [Int8](repeating: 0, count: 32)
        let count = strftime(&buffer, buffer.count, "%Y-%m-%dT%H:%M:%SZ", &parts)
        return String(decoding: buffer.prefix(count).map { UInt8(bitPattern: $0) }, as: UTF8.self)
    }
}
