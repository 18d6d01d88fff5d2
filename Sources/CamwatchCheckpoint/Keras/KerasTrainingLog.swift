public import CamwatchHDF5
import Foundation

/// The per-epoch metrics a Keras `CSVLogger` writes beside the checkpoints, for the checkpoints themselves carry
/// none: Keras stores no learning rate or validation metric in its weight files, so without this a Keras run's
/// report has no `lr` and `val_…` columns to explain its drift with.
///
/// `keras.callbacks.CSVLogger(filename)` writes a header `epoch,<metric>,…` (metric names sorted) and one row per
/// finished epoch, `epoch` counted from 0; `ModelCheckpoint("…{epoch:02d}…")` names the file of that same epoch
/// with the count from 1. So the checkpoint of epoch `E` (from its name) takes the row whose `epoch` is `E − 1`.
/// Every numeric column becomes an attribute (`val_accuracy`, `val_loss`, `learning_rate`, …) unless the file
/// already has one of that name.
public enum KerasTrainingLog {
    /// The file names looked for in the checkpoint's directory, in order: Keras's documented example
    /// (`training.log`) first, then any `*.csv` whose header starts with `epoch`.
    public static let preferredNames = ["training.log", "log.csv", "history.csv", "metrics.csv"]

    /// The metrics of the epoch that `checkpoint` ends, from a CSVLogger file in its directory; empty when there
    /// is no such file or row. Applies to Keras checkpoints only (PyTorch loggers count epochs their own way).
    public static func attributes(for checkpoint: Checkpoint, directory: String) -> [String: CheckpointAttribute] {
        guard checkpoint.format.hasPrefix("keras"), let epoch = checkpoint.epoch, epoch >= 1,
            let log = find(in: directory)
        else { return [:] }
        var added: [String: CheckpointAttribute] = [:]
        for (name, value) in log.row(epoch: epoch - 1) ?? [:] where checkpoint.attributes[name] == nil {
            added[name] = .double(value)
        }
        return added
    }

    /// A parsed log: its numeric columns by the value of its `epoch` column.
    public struct Log: Sendable, Equatable {
        public var path: String
        public var rows: [Int: [String: Double]]

        public func row(epoch: Int) -> [String: Double]? { rows[epoch] }
    }

    /// The first CSVLogger file in `directory`, parsed; `nil` when there is none.
    public static func find(in directory: String) -> Log? {
        let names = (try? FileManager.default.contentsOfDirectory(atPath: directory)) ?? []
        let candidates = preferredNames.filter(names.contains) + names.filter { $0.hasSuffix(".csv") }.sorted()
        for name in candidates {
            let path = (directory as NSString).appendingPathComponent(name)
            // A log is a few KB; anything far larger is not one (and is not read whole).
            guard let handle = FileHandle(forReadingAtPath: path) else { continue }
            defer { try? handle.close() }
            guard let data = try? handle.read(upToCount: 16 << 20), data.count < 16 << 20,
                let log = parse(String(decoding: data, as: UTF8.self), path: path)
            else { continue }
            return log
        }
        return nil
    }

    /// Parses CSVLogger text: a header whose first column is `epoch`, comma-separated (CSVLogger's default
    /// separator), then rows; the last line counts only when it ends in a newline (the trainer may be writing
    /// it). Non-numeric cells are left out.
    /// - Returns: `nil` when the header is not a CSVLogger header.
    public static func parse(_ text: String, path: String) -> Log? {
        // Python's csv module ends rows in "\r\n", one Character to Swift: split on any newline.
        var lines = text.split(omittingEmptySubsequences: false, whereSeparator: \.isNewline)
        // The part after the last newline is an unfinished row (or empty).
        lines.removeLast()
        guard let header = lines.first?.split(separator: ",", omittingEmptySubsequences: false).map(String.init),
            header.first == "epoch", header.count >= 2
        else { return nil }
        var rows: [Int: [String: Double]] = [:]
        for line in lines.dropFirst() where !line.isEmpty {
            let cells = line.split(separator: ",", omittingEmptySubsequences: false)
            guard cells.count == header.count, let epoch = Int(cells[0]) else { continue }
            var row: [String: Double] = [:]
            for (name, cell) in zip(header.dropFirst(), cells.dropFirst()) {
                if let value = Double(cell), !name.isEmpty { row[name] = value }
            }
            rows[epoch] = row
        }
        return Log(path: path, rows: rows)
    }
}
