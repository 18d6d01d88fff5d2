import CamwatchHDF5
public import CamwatchSaliency
import CamwatchTensor
import Synchronization

/// `heatmaps.h5`: every heatmap of the run at the target layer's resolution (docs/architecture.md §7).
///
/// Enough to recompute drift after a restart (`Heatmap.upsampled()` reproduces the input-resolution
/// heatmap exactly) and to redraw the timeline. Layout (names percent-escaped, see below):
/// ```
/// /                      @schema_version = 2
/// /<checkpoint id>/      @id, @name, @index (int: position in processing order, from 0)
/// /<checkpoint id>/<probe id>   float32 [h, w]  @probe, @class (int), @score (float64 logit),
///                                               @input_size = [H, W]
/// ```
/// Version 1 files (still read) kept the order in a root attribute `@checkpoint_ids` instead of `@index`;
/// an attribute in the object header is limited to 64 KiB (16 bytes per variable-length string reference),
/// which a run of about 4000 checkpoints outgrows, and rewriting it made every save touch the whole run.
/// HDF5 names cannot hold `/` and treat `.` specially, so in group and dataset names `%`, `/` and a
/// leading `.` are written as `%25`, `%2F`, `%2E` (an empty id as `%`); readers take the true ids from
/// the `@id` and `@probe` attributes.
///
/// Saving never changes `heatmaps.h5` in place, so a crash mid-write never damages what was there: the new
/// content goes to a temporary file, is flushed and renamed over it. With a `Ledger` that knows the file
/// holds the archive's first entries, the temporary file is a byte copy of it with only the new
/// checkpoints' groups added, so a save costs the same at checkpoint 1000 as at checkpoint 10 (the copy
/// is a few MB of sequential I/O; writing thousands of HDF5 objects anew was what grew).
public struct HeatmapArchive: Sendable, Equatable {
    /// The archive's file name in the output directory.
    public static let fileName = "heatmaps.h5"
    /// The layout version written in `@schema_version`.
    public static let schemaVersion = 2

    /// One probe's heatmap at one checkpoint, at the target layer's resolution.
    public struct Heatmap: Sendable, Equatable {
        /// The class explained.
        public var classIndex: Int
        /// That class's raw logit.
        public var score: Float
        /// `[h, w]`: the target layer's spatial size.
        public var shape: [Int]
        /// `h × w` values in [0, 1], row-major (`SaliencyMap.lowResolution`).
        public var values: [Float]
        /// `[H, W]`: the input size the heatmap is compared at.
        public var inputSize: [Int]

        /// Creates a heatmap; `values.count` must equal `shape[0] · shape[1]`.
        public init(classIndex: Int, score: Float, shape: [Int], values: [Float], inputSize: [Int]) {
            precondition(
                shape.count == 2 && shape[0] * shape[1] == values.count, "shape \(shape) vs \(values.count) values")
            precondition(inputSize.count == 2 && inputSize.allSatisfy { $0 > 0 }, "bad input size \(inputSize)")
            self.classIndex = classIndex
            self.score = score
            self.shape = shape
            self.values = values
            self.inputSize = inputSize
        }

        /// The low-resolution map of a Score-CAM result.
        public init(_ map: SaliencyMap) {
            self.init(
                classIndex: map.classIndex, score: map.score, shape: map.lowResolution.shape,
                values: map.lowResolution.scalars, inputSize: [map.height, map.width])
        }

        /// The heatmap at input resolution `[H · W]`, as Score-CAM's last step makes it from the
        /// low-resolution map: bilinear resize with half-pixel centres, then `(x − min) / (max − min + 1e-7)`.
        /// Equal, value for value, to the `SaliencyMap.values` it was archived from.
        public func upsampled() -> [Float] {
            SaliencyMap.inputResolution(Tensor(shape: shape, scalars: values), height: inputSize[0], width: inputSize[1])
        }
    }

    /// The heatmaps of one checkpoint, by probe id.
    public struct Entry: Sendable, Equatable {
        public var checkpoint: CheckpointLabel
        public var heatmaps: [String: Heatmap]

        public init(checkpoint: CheckpointLabel, heatmaps: [String: Heatmap]) {
            self.checkpoint = checkpoint
            self.heatmaps = heatmaps
        }
    }

    /// Every checkpoint's heatmaps, in processing order.
    public private(set) var entries: [Entry]

    /// An empty archive.
    public init(entries: [Entry] = []) {
        self.entries = entries
    }

    /// The heatmaps of the checkpoint with this id, if archived.
    public func entry(id: String) -> Entry? { entries.first { $0.checkpoint.id == id } }

    /// Adds a checkpoint's heatmaps, or replaces those of the checkpoint with the same id in place.
    public mutating func record(_ entry: Entry) {
        if let index = entries.firstIndex(where: { $0.checkpoint.id == entry.checkpoint.id }) {
            entries[index] = entry
        } else {
            entries.append(entry)
        }
    }

    /// The path of `heatmaps.h5` in `directory`.
    public static func path(in directory: String) -> String {
        (directory.hasSuffix("/") ? directory : directory + "/") + fileName
    }

    /// Reads the archive in `directory`; an empty archive when there is none.
    /// - Throws: `MonitorError`: `.corrupt` naming the file and what is wrong with it.
    public static func load(directory: String) throws(MonitorError) -> HeatmapArchive {
        let path = path(in: directory)
        guard try MonitorSystemCalls.exists(path) else { return HeatmapArchive() }
        do {
            return try read(path)
        } catch let error as HDF5Error {
            throw MonitorError(.corrupt, path: path, reason: error.reason)
        } catch let error as MonitorError {
            throw error
        } catch {
            throw MonitorError(.corrupt, path: path, context: "", cause: ErrorCause(error))
        }
    }

    /// Loads the archive for a watcher; a corrupt one is moved aside as `heatmaps.h5.corrupt-<UTC time>`
    /// and an empty archive returned with the recovery, so the daemon logs it and recomputes what it needs.
    /// - Parameter now: Unix seconds, for the name of a set-aside file.
    /// - Throws: `MonitorError` other than `.corrupt` (e.g. `.io`), with nothing moved.
    public static func open(
        directory: String, now: Double
    ) throws(MonitorError) -> (archive: HeatmapArchive, recovery: CorruptFileRecovery?) {
        do throws(MonitorError) {
            return (try load(directory: directory), nil)
        } catch  where error.kind == .corrupt {
            let moved = try AtomicFile.setAside(path(in: directory), now: now)
            return (HeatmapArchive(), CorruptFileRecovery(error: error, setAsidePath: moved))
        }
    }

    /// What the archive file holds since the last save through this ledger: shared by the copies of a
    /// session (they all save to the same file), unknown until the first save.
    public final class Ledger: Sendable {
        private let saved = Mutex<[Entry]?>(nil)

        public init() {}

        fileprivate var entries: [Entry]? { saved.withLock { $0 } }
        fileprivate func record(_ entries: [Entry]?) { saved.withLock { $0 = entries } }
    }

    /// Writes the archive to `directory/heatmaps.h5` atomically.
    ///
    /// The HDF5 file is built in memory and written by `AtomicFile`, never by libhdf5: a full disk then fails
    /// one `write(2)` of camwatch's own, which leaves nothing behind, instead of a libhdf5 close that fails
    /// (libhdf5 1.10 does not survive that; see `HDF5File.createInMemory(for:)`).
    /// - Parameter ledger: when it says the file holds a prefix of `entries`, only the rest is added (to the
    ///   file read into memory); otherwise, and always without a ledger, the whole archive is written anew.
    /// - Throws: `MonitorError` naming the failing step; the previous file is then untouched.
    public func save(directory: String, ledger: Ledger? = nil) throws(MonitorError) {
        let path = Self.path(in: directory)
        var image: [UInt8]?
        if let saved = ledger?.entries, saved.count <= entries.count, entries.starts(with: saved) {
            if saved.count == entries.count, MonitorSystemCalls.isReachable(path) { return }
            // A file gone missing or that cannot be added to is written whole, below.
            image = try? Self.image(of: entries[saved.count...], startingAt: saved.count, for: path, adding: true)
        }
        do throws(HDF5Error) {
            if image == nil { image = try Self.image(of: entries[...], startingAt: 0, for: path, adding: false) }
        } catch {
            throw MonitorError(.io, path: path, reason: error.reason)
        }
        // A failed write leaves the file as it was, and what the ledger says of it stays true.
        try AtomicFile.replace(path, with: image ?? [])
        ledger?.record(entries)
    }

    /// The bytes of an HDF5 file holding `entries`: with `adding`, the file at `path` read into memory with
    /// them added; else a new file with the schema version.
    private static func image(
        of entries: ArraySlice<Entry>, startingAt first: Int, for path: String, adding: Bool
    ) throws(HDF5Error) -> [UInt8] {
        let file: HDF5File
        if adding {
            file = try HDF5File.openForAppending(path, inMemory: true)
        } else {
            file = try HDF5File.createInMemory(for: path)
            try file.setAttribute("schema_version", to: .int(schemaVersion))
        }
        try write(entries, startingAt: first, to: file)
        let bytes = try file.image()
        try file.close()
        return bytes
    }

    // MARK: - HDF5 layout

    /// Adds one group per entry, `@index` counting from `first`.
    private static func write(_ entries: ArraySlice<Entry>, startingAt first: Int, to file: HDF5File) throws(HDF5Error) {
        for (offset, entry) in entries.enumerated() {
            let group = escape(entry.checkpoint.id)
            try file.createGroup(group)
            try file.setAttribute("id", to: .string(entry.checkpoint.id), at: group)
            try file.setAttribute("name", to: .string(entry.checkpoint.name), at: group)
            try file.setAttribute("index", to: .int(first + offset), at: group)
            for probe in entry.heatmaps.keys.sorted() {
                guard let heatmap = entry.heatmaps[probe] else { continue }
                let dataset = group + "/" + escape(probe)
                try file.write(heatmap.values, shape: heatmap.shape, to: dataset)
                try file.setAttribute("probe", to: .string(probe), at: dataset)
                try file.setAttribute("class", to: .int(heatmap.classIndex), at: dataset)
                try file.setAttribute("score", to: .double(Double(heatmap.score)), at: dataset)
                try file.setAttribute("input_size", to: .ints(heatmap.inputSize), at: dataset)
            }
        }
    }

    private static func read(_ path: String) throws -> HeatmapArchive {
        let file = try HDF5File.open(path)
        func corrupt(_ reason: String) -> MonitorError { MonitorError(.corrupt, path: path, reason: reason) }
        guard let version = try file.attribute("schema_version")?.intValue else {
            throw corrupt("no @schema_version: not a camwatch heatmap archive")
        }
        guard version <= schemaVersion else {
            throw MonitorError(
                .unsupportedVersion, path: path,
                reason: "heatmap archive schema_version \(version) is newer than this camwatch's \(schemaVersion)")
        }
        // Version 1 lists the order at the root; version 2 numbers each group.
        var groups: [(group: String, id: String)] = []
        if version < 2 {
            for id in try file.attribute("checkpoint_ids")?.stringValues ?? [] {
                let group = escape(id)
                guard try file.kind(of: group) == .group else {
                    throw corrupt("checkpoint '\(id)' has no group '\(group)'")
                }
                groups.append((group, id))
            }
        } else {
            var numbered: [(index: Int, group: String, id: String)] = []
            for member in try file.members(ofGroup: "/") where member.kind == .group {
                let attributes = try file.attributes(at: member.name)
                guard let index = attributes["index"]?.intValue, let id = attributes["id"]?.stringValue else {
                    throw corrupt("'\(member.name)' has no @index and @id")
                }
                numbered.append((index, member.name, id))
            }
            numbered.sort { $0.index < $1.index }
            for (position, item) in numbered.enumerated() where item.index != position {
                throw corrupt("checkpoint '\(item.id)' has @index \(item.index), expected \(position)")
            }
            groups = numbered.map { ($0.group, $0.id) }
        }
        var entries: [Entry] = []
        for (group, id) in groups {
            let attributes = try file.attributes(at: group)
            guard let name = attributes["name"]?.stringValue else { throw corrupt("'\(group)' has no @name") }
            var heatmaps: [String: Heatmap] = [:]
            for member in try file.members(ofGroup: group) where member.kind == .dataset {
                let dataset = group + "/" + member.name
                let values = try file.readFloats(at: dataset)
                let tags = try file.attributes(at: dataset)
                guard let probe = tags["probe"]?.stringValue, let classIndex = tags["class"]?.intValue,
                    let score = tags["score"]?.doubleValue, case .ints(let size)? = tags["input_size"],
                    size.count == 2, size.allSatisfy({ $0 > 0 }), values.shape.count == 2,
                    let height = Int(exactly: size[0]), let width = Int(exactly: size[1])
                else {
                    throw corrupt("'\(dataset)' is not a [h, w] heatmap with @probe, @class, @score, @input_size")
                }
                heatmaps[probe] = Heatmap(
                    classIndex: Int(classIndex), score: Float(score), shape: values.shape, values: values.values,
                    inputSize: [height, width])
            }
            entries.append(Entry(checkpoint: CheckpointLabel(id: id, name: name), heatmaps: heatmaps))
        }
        return HeatmapArchive(entries: entries)
    }

    /// An id as an HDF5 link name: `%`, `/` and a leading `.` percent-escaped, `""` as `%`.
    static func escape(_ id: String) -> String {
        guard !id.isEmpty else { return "%" }
        var result = ""
        for (offset, character) in id.enumerated() {
            switch character {
            case "%": result += "%25"
            case "/": result += "%2F"
            case "." where offset == 0: result += "%2E"
            default: result.append(character)
            }
        }
        return result
    }
}
