public import CamwatchImage
import CamwatchNN
import CamwatchTensor
import Foundation
import Yams

/// The fixed images a watcher explains at every checkpoint, with what the manifest says about them.
///
/// A probe directory holds PNG files and, optionally, a manifest `probes.json`, `probes.yaml` or
/// `probes.yml` (docs/architecture.md §2.3): a list of `{id, file, class, label, bbox}` (or `{"probes": [...]}`),
/// where `class` is an index or `"predicted"` and `bbox` is `[x0, y0, x1, y1]` in image pixels. Without a
/// manifest every `*.png` is a probe, in name order, explained for its predicted class.
public struct ProbeSet: Sendable {
    /// One probe: its description (as the report stores it) and its decoded image.
    public struct Probe: Sendable {
        public var description: Report.Probe
        /// The path the image was read from: inside the probe directory.
        public var path: String
        /// The image as decoded: the file's pixels, or a copy reduced to at most ``ProbeSet/maximumSide`` on its
        /// long side.
        public var image: RGBImage
        /// The image's size in the file: the pixels a `bbox` is given in.
        public var fileWidth: Int
        public var fileHeight: Int
    }

    /// The manifest file names looked for, in order.
    public static let manifestNames = ["probes.json", "probes.yaml", "probes.yml"]

    /// The most probes a set may hold. Every probe costs a Score-CAM run (hundreds of forward passes) at every
    /// checkpoint; a few dozen is typical, thousands is a damaged or generated manifest.
    public static let maximumCount = 1000
    /// The most pixels all probe images together may have: 2^27 (128 Mpx, 1.5 GiB as float RGB), two
    /// images at ``PNGDecoder/maximumPixels``. Without it a manifest naming one large file a thousand times
    /// would decode it a thousand times.
    public static let maximumTotalPixels = 1 << 27
    /// The longest side a probe image is kept at. Every use of a probe resizes it to the model input (224 to a
    /// few hundred pixels) or smaller, so a larger photograph is reduced while it is decoded (area averaging
    /// by a whole factor, `PNGDecoder.decode(path:maximumSide:)`): two 8192×8192 probes then hold 24 MiB
    /// instead of 1.5 GiB for the daemon's life. The bilinear resize to the input starts from that copy.
    public static let maximumSide = 1024

    public var directory: String
    public var probes: [Probe]
    /// The manifest that was read, if any.
    public var manifestPath: String?

    /// The probes as the report lists them.
    public var descriptions: [Report.Probe] { probes.map(\.description) }

    /// The decoded images by probe id.
    public var images: [String: RGBImage] {
        Dictionary(probes.map { ($0.description.id, $0.image) }, uniquingKeysWith: { first, _ in first })
    }

    /// Reads the probe directory: the manifest when there is one, and every image.
    /// - Parameter pixelLimit: the most pixels of all images together (tests lower it).
    /// - Throws: `MonitorError` naming the directory, the manifest or the image and the reason (missing
    ///   directory, no PNG, unreadable image, bad manifest entry, duplicate id, too many probes or pixels).
    public static func load(directory: String, pixelLimit: Int = maximumTotalPixels) throws(MonitorError) -> ProbeSet {
        var isDirectory: ObjCBool = false
        guard FileManager.default.fileExists(atPath: directory, isDirectory: &isDirectory) else {
            throw MonitorError(.missing, path: directory, reason: "probe directory does not exist")
        }
        guard isDirectory.boolValue else { throw MonitorError(.corrupt, path: directory, reason: "not a directory") }
        let base = URL(fileURLWithPath: directory)
        var manifestPath: String?
        var entries: [Report.Probe]
        if let name = manifestNames.first(where: { FileManager.default.fileExists(atPath: base.appendingPathComponent($0).path) }) {
            let path = base.appendingPathComponent(name).path
            manifestPath = path
            entries = try readManifest(path)
        } else {
            let names: [String]
            do { names = try FileManager.default.contentsOfDirectory(atPath: directory) } catch {
                throw MonitorError(.io, path: directory, reason: "cannot list the probe directory")
            }
            entries = names.filter { $0.lowercased().hasSuffix(".png") && !$0.hasPrefix(".") }
                .sorted { $0.compare($1, options: .numeric) == .orderedAscending }
                .map { Report.Probe(id: String($0.dropLast(4)), file: $0) }
        }
        guard !entries.isEmpty else {
            throw MonitorError(.missing, path: directory, reason: "no probe images (*.png) and no probes.json")
        }
        guard entries.count <= maximumCount else {
            throw MonitorError(.corrupt, path: manifestPath ?? directory,
                               reason: "\(entries.count) probes, more than the limit of \(maximumCount)")
        }
        var seen: Set<String> = []
        var files: [(entry: Report.Probe, path: String, header: PNGDecoder.Header)] = []
        var totalPixels = 0
        // Every header first: the total is known before any pixel is decoded.
        for entry in entries {
            guard seen.insert(entry.id).inserted else {
                throw MonitorError(.corrupt, path: manifestPath ?? directory, reason: "probe id '\(entry.id)' appears twice")
            }
            let path = base.appendingPathComponent(entry.file).path
            // The manifest's names are relative and free of `..` (readManifest); a symbolic link may still lead out.
            guard ResolvedPath.isInside(path, directory: directory) else {
                throw MonitorError(
                    .corrupt, path: manifestPath ?? directory,
                    reason: "probe '\(DisplayText.clipped(entry.id))' (\(DisplayText.clipped(entry.file))) is a symbolic "
                        + "link leading out of the probe directory: probes must be files inside it")
            }
            let header: PNGDecoder.Header
            do { header = try PNGDecoder.header(path: path) } catch {
                throw MonitorError(.corrupt, path: path, reason: "unreadable probe image: \(error.reason)")
            }
            var digest = Fingerprint()
            digest.add(FileManager.default.contents(atPath: path) ?? Data())
            var entry = entry
            entry.digest = digest.hex
            // Each image is at most PNGDecoder.maximumPixels, so the sum cannot overflow.
            totalPixels += header.pixels
            guard totalPixels <= pixelLimit else {
                throw MonitorError(.corrupt, path: path, reason: "the probe images hold more than \(pixelLimit) pixels together")
            }
            files.append((entry, path, header))
        }
        var probes: [Probe] = []
        for file in files {
            let image: RGBImage
            do { image = try PNGDecoder.decode(path: file.path, maximumSide: maximumSide) } catch {
                throw MonitorError(.corrupt, path: file.path, reason: "unreadable probe image: \(error.reason)")
            }
            probes.append(Probe(description: file.entry, path: file.path, image: image, fileWidth: file.header.width,
                                fileHeight: file.header.height))
        }
        return ProbeSet(directory: directory, probes: probes, manifestPath: manifestPath)
    }

    /// One manifest entry as written by people: `class` may be an index or `"predicted"`, `id` may be
    /// left out (the file's stem).
    private struct ManifestEntry: Decodable {
        var id: String?
        var file: String
        var classIndex: Int?
        var label: String?
        var bbox: [Double]?

        enum CodingKeys: String, CodingKey {
            case id, file, label, bbox
            case classIndex = "class"
        }

        init(from decoder: any Decoder) throws {
            let c = try decoder.container(keyedBy: CodingKeys.self)
            id = try c.decodeIfPresent(String.self, forKey: .id)
            file = try c.decode(String.self, forKey: .file)
            label = try c.decodeIfPresent(String.self, forKey: .label)
            bbox = try c.decodeIfPresent([Double].self, forKey: .bbox)
            if let index = try? c.decodeIfPresent(Int.self, forKey: .classIndex) {
                classIndex = index
            } else if let word = try? c.decodeIfPresent(String.self, forKey: .classIndex) {
                guard word == "predicted" else {
                    throw DecodingError.dataCorruptedError(
                        forKey: .classIndex, in: c, debugDescription: "class must be an index or \"predicted\", got \"\(word)\"")
                }
                classIndex = nil
            } else {
                classIndex = nil
            }
        }
    }

    private struct WrappedManifest: Decodable {
        var probes: [ManifestEntry]
    }

    /// The longest `id`, `file` or `label` a manifest entry may have: they end up in every report, page and
    /// metric, and a name longer than a path is a damaged or hostile manifest.
    public static let maximumNameLength = 1024

    /// What is wrong with an entry's strings, or `nil`: too long, or a file that is not a relative path inside
    /// the probe directory (an absolute path or a `..` would read any PNG the daemon can, and publish it as a
    /// probe in the world-readable outputs).
    private static func problem(with entry: ManifestEntry) -> String? {
        for (key, value) in [("id", entry.id), ("file", entry.file), ("label", entry.label)] {
            if let value, value.utf8.count > maximumNameLength {
                return "\(key) is \(value.utf8.count) bytes long, at most \(maximumNameLength)"
            }
        }
        if entry.file.isEmpty { return "file is empty" }
        if entry.file.hasPrefix("/") || entry.file.split(separator: "/").contains("..") {
            return "file must be a path inside the probe directory (no absolute path, no '..')"
        }
        return nil
    }

    private static func readManifest(_ path: String) throws(MonitorError) -> [Report.Probe] {
        guard let data = FileManager.default.contents(atPath: path) else {
            throw MonitorError(.io, path: path, reason: "cannot read the probe manifest")
        }
        let text = String(decoding: data, as: UTF8.self)
        let raw: [ManifestEntry]
        do {
            // YAML is a superset of JSON, so one decoder reads both manifest forms.
            if try Yams.compose(yaml: text)?.sequence != nil {
                raw = try YAMLDecoder().decode([ManifestEntry].self, from: text)
            } else {
                raw = try YAMLDecoder().decode(WrappedManifest.self, from: text).probes
            }
        } catch let error as DecodingError {
            throw MonitorError(.corrupt, path: path, reason: "invalid probe manifest: \(error.summary)")
        } catch {
            throw MonitorError(.corrupt, path: path, context: "invalid probe manifest", cause: ErrorCause(error))
        }
        var entries: [Report.Probe] = []
        for (index, entry) in raw.enumerated() {
            if let problem = problem(with: entry) {
                throw MonitorError(.corrupt, path: path, reason: "probe \(index) (\(DisplayText.clipped(entry.file))): \(problem)")
            }
            if let classIndex = entry.classIndex, classIndex < 0 {
                throw MonitorError(.corrupt, path: path, reason: "probe \(index) (\(DisplayText.clipped(entry.file))): negative class \(classIndex)")
            }
            if let bbox = entry.bbox {
                // Finite and within ±2^24 pixels: NaN or infinity cannot be written to report.json, and
                // coordinates become integer pixels when a box is drawn.
                let bound = Double(1 << 24)
                guard bbox.count == 4, bbox.allSatisfy({ $0.isFinite && abs($0) <= bound }), bbox[0] < bbox[2],
                    bbox[1] < bbox[3]
                else {
                    throw MonitorError(.corrupt, path: path,
                                       reason: "probe \(index) (\(DisplayText.clipped(entry.file))): bbox must be [x0, y0, x1, y1] with x0 < x1, y0 < y1, finite, within ±2^24")
                }
            }
            let id = entry.id ?? URL(fileURLWithPath: entry.file).deletingPathExtension().lastPathComponent
            entries.append(Report.Probe(id: id, file: entry.file, classIndex: entry.classIndex, label: entry.label,
                                        bbox: entry.bbox))
        }
        return entries
    }
}
