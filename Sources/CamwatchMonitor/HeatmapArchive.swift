import CamwatchHDF5
public import CamwatchSaliency
import CamwatchTensor

#if canImport(Glibc)
    import Glibc
#elseif canImport(Darwin)
    import Darwin
#endif

/// `heatmaps.h5`: every heatmap of the run at the target layer's resolution (design.md §7).
///
/// Enough to recompute drift after a restart (`Heatmap.upsampled()` reproduces the input-resolution
/// heatmap exactly) and to redraw the timeline. Layout (names percent-escaped, see below):
/// ```
/// /                      @schema_version = 1, @checkpoint_ids = [id, …] in processing order
/// /<checkpoint id>/      @id, @name
/// /<checkpoint id>/<probe id>   float32 [h, w]  @probe, @class (int), @score (float64 logit),
///                                               @input_size = [H, W]
/// ```
/// HDF5 names cannot hold `/` and treat `.` specially, so in group and dataset names `%`, `/` and a
/// leading `.` are written as `%25`, `%2F`, `%2E` (an empty id as `%`); readers take the true ids from
/// the `@id` and `@probe` attributes.
///
/// Saving rewrites the whole file under a temporary name, `fsync`s it and renames it over
/// `heatmaps.h5`: no append-in-place, so a crash mid-write never damages what was there. The archive
/// is small (a 7×7 map per probe per checkpoint for a ResNet), so rewriting stays cheap for thousands
/// of checkpoints.
public struct HeatmapArchive: Sendable, Equatable {
    /// The archive's file name in the output directory.
    public static let fileName = "heatmaps.h5"
    /// The layout version written in `@schema_version`.
    public static let schemaVersion = 1

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
            let low = Tensor(shape: shape, scalars: values)
            let resized = Resize.bilinear(low, height: inputSize[0], width: inputSize[1], alignCorners: false).scalars
            // The same operations in the same order as ScoreCAM.minMaxScaled, so the result is bit-identical.
            let minimum = resized.min() ?? 0
            let shifted = resized.map { $0 - minimum }
            let maximum = shifted.max() ?? 0
            return shifted.map { $0 / (1e-7 + maximum) }
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
        var status = stat()
        guard lstat(path, &status) == 0 else {
            if errno == ENOENT { return HeatmapArchive() }
            throw AtomicFile.systemError("stat", path)
        }
        do {
            return try read(path)
        } catch let error as HDF5Error {
            throw MonitorError(.corrupt, path: path, reason: error.reason)
        } catch let error as MonitorError {
            throw error
        } catch {
            throw MonitorError(.corrupt, path: path, reason: "\(error)")
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

    /// Writes the whole archive to `directory/heatmaps.h5` atomically.
    /// - Throws: `MonitorError` naming the failing step; the previous file is then untouched.
    public func save(directory: String) throws(MonitorError) {
        try AtomicFile.replace(
            Self.path(in: directory),
            creatingWith: { (temporary: String) throws(MonitorError) in
                do throws(HDF5Error) {
                    try write(temporary)
                } catch {
                    throw MonitorError(.io, path: temporary, reason: error.reason)
                }
            })
    }

    // MARK: - HDF5 layout

    private func write(_ path: String) throws(HDF5Error) {
        let file = try HDF5File.create(path)
        try file.setAttribute("schema_version", to: .int(Int64(Self.schemaVersion)))
        if !entries.isEmpty {
            try file.setAttribute("checkpoint_ids", to: .strings(entries.map(\.checkpoint.id)))
        }
        for entry in entries {
            let group = Self.escape(entry.checkpoint.id)
            try file.createGroup(group)
            try file.setAttribute("id", to: .string(entry.checkpoint.id), at: group)
            try file.setAttribute("name", to: .string(entry.checkpoint.name), at: group)
            for probe in entry.heatmaps.keys.sorted() {
                guard let heatmap = entry.heatmaps[probe] else { continue }
                let dataset = group + "/" + Self.escape(probe)
                try file.write(heatmap.values, shape: heatmap.shape, to: dataset)
                try file.setAttribute("probe", to: .string(probe), at: dataset)
                try file.setAttribute("class", to: .int(Int64(heatmap.classIndex)), at: dataset)
                try file.setAttribute("score", to: .double(Double(heatmap.score)), at: dataset)
                try file.setAttribute("input_size", to: .ints(heatmap.inputSize.map(Int64.init)), at: dataset)
            }
        }
        try file.close()
    }

    private static func read(_ path: String) throws -> HeatmapArchive {
        let file = try HDF5File.open(path)
        func corrupt(_ reason: String) -> MonitorError { MonitorError(.corrupt, path: path, reason: reason) }
        guard let version = try file.attribute("schema_version")?.intValue else {
            throw corrupt("no @schema_version: not a camwatch heatmap archive")
        }
        guard version <= Int64(schemaVersion) else {
            throw MonitorError(
                .unsupportedVersion, path: path,
                reason: "heatmap archive schema_version \(version) is newer than this camwatch's \(schemaVersion)")
        }
        let ids = try file.attribute("checkpoint_ids")?.stringValues ?? []
        var entries: [Entry] = []
        for id in ids {
            let group = escape(id)
            guard try file.kind(of: group) == .group else {
                throw corrupt("checkpoint '\(id)' has no group '\(group)'")
            }
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
