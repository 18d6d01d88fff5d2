import CamwatchTensor
import Foundation
import Synchronization

/// Each checkpoint entry's JSON from the last save of `report.json`, so the next save encodes only the
/// entries that changed — normally the one just added — instead of the whole run.
///
/// Encoding every entry on every save made the cost of a checkpoint grow with the run (a 300-checkpoint run
/// spent most of its commit time re-encoding the same 1.2 MB). The bytes are exactly what `JSONEncoder`
/// writes for the whole report (`Report.jsonBytes(reusing:)` splices them in; a test compares the two), and
/// an entry is reused only while it is equal to the one it was encoded from, so an entry changed in place
/// (a re-judged run) is encoded again.
public final class ReportEntryCache: Sendable {
    private struct Encoded: Sendable {
        var entry: Report.CheckpointEntry
        /// The entry as `Report.encoder()` writes it on its own, at indentation 0, without a final newline.
        var json: [UInt8]
    }

    private let encoded = Mutex<[String: Encoded]>([:])

    public init() {}

    /// The JSON of every entry of `checkpoints`, reusing what is cached; the cache then holds exactly these.
    func json(of checkpoints: [Report.CheckpointEntry]) throws -> [[UInt8]] {
        let cached = encoded.withLock { $0 }
        var next: [String: Encoded] = [:]
        next.reserveCapacity(checkpoints.count)
        var result: [[UInt8]] = []
        result.reserveCapacity(checkpoints.count)
        let encoder = Report.encoder()
        for entry in checkpoints {
            if let hit = cached[entry.id], hit.entry == entry {
                next[entry.id] = hit
                result.append(hit.json)
            } else {
                let json = Array(try encoder.encode(entry))
                next[entry.id] = Encoded(entry: entry, json: json)
                result.append(json)
            }
        }
        encoded.withLock { $0 = next }
        return result
    }
}

extension Report {
    /// The same bytes as `jsonBytes()`, with the entries' JSON taken from `cache` where they have not changed.
    ///
    /// The report is encoded without its entries, and the entries — each encoded on its own, indented to
    /// the depth of the `checkpoints` array — are spliced into the empty array. JSON strings cannot hold a
    /// raw newline, so indenting after every newline byte touches layout only.
    /// - Throws: `MonitorError`, as `jsonBytes()`.
    public func jsonBytes(reusing cache: ReportEntryCache) throws(MonitorError) -> [UInt8] {
        var skeleton = self
        skeleton.checkpoints = []
        let head: [UInt8]
        let entries: [[UInt8]]
        do {
            head = Array(try Self.encoder().encode(skeleton))
            entries = try cache.json(of: checkpoints)
        } catch {
            throw MonitorError(.corrupt, context: "cannot encode the report", cause: ErrorCause(error))
        }
        let emptyArray = Array("\n  \"checkpoints\" : [\n\n  ]".utf8)
        guard !entries.isEmpty, let range = Self.firstRange(of: emptyArray, in: head) else {
            return try jsonBytes()
        }
        var bytes: [UInt8] = []
        bytes.reserveCapacity(head.count + entries.reduce(0) { $0 + $1.count + $1.count / 8 + 8 })
        bytes += head[..<range.lowerBound]
        bytes += Array("\n  \"checkpoints\" : [\n".utf8)
        for (index, json) in entries.enumerated() {
            if index > 0 { bytes += [UInt8(ascii: ","), UInt8(ascii: "\n")] }
            Self.appendIndented(json, by: 4, to: &bytes)
        }
        bytes += Array("\n  ]".utf8)
        bytes += head[range.upperBound...]
        bytes.append(0x0A)
        return bytes
    }

    /// Appends `json` with `depth` spaces before every line that is not empty, as the pretty printer indents
    /// a nested value (an empty object or array keeps its blank inner line).
    private static func appendIndented(_ json: [UInt8], by depth: Int, to bytes: inout [UInt8]) {
        let indent = [UInt8](repeating: UInt8(ascii: " "), count: depth)
        let newline = UInt8(ascii: "\n")
        var lineStart = true
        for byte in json {
            if lineStart && byte != newline { bytes += indent }
            bytes.append(byte)
            lineStart = byte == newline
        }
    }

    private static func firstRange(of needle: [UInt8], in haystack: [UInt8]) -> Range<Int>? {
        guard needle.count <= haystack.count, let first = needle.first else { return nil }
        var start = 0
        while start + needle.count <= haystack.count {
            if haystack[start] == first && haystack[start..<(start + needle.count)].elementsEqual(needle) {
                return start..<(start + needle.count)
            }
            start += 1
        }
        return nil
    }
}
