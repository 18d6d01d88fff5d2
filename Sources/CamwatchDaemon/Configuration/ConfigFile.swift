import CamwatchImage
import CamwatchMonitor
import CamwatchNN
import CamwatchSaliency
import CamwatchTensor
import Foundation
import Logging
import Yams

/// A mapping of the config file. Its `CodingKeys` are the keys it may hold, spelled once: decoding, the
/// unknown-key check and the test that the example file shows every key all read them.
protocol ConfigSection: Decodable {
    associatedtype CodingKeys: CodingKey & CaseIterable
    /// The section a key's value is, when it is a mapping of its own (its keys are checked in turn).
    static func section(_ key: CodingKeys) -> (any ConfigSection.Type)?
}

extension ConfigSection {
    static func section(_ key: CodingKeys) -> (any ConfigSection.Type)? { nil }
}

/// The YAML file as written: one nested type per section, every key optional, snake_case as in
/// deploy/camwatch.example.yaml. A key that takes one of a list of names is decoded into its enum here (a
/// ``Choice``), by the command line's rule. ``WatchConfiguration/resolve(file:overrides:)`` lays the flags over
/// it and fills in the defaults.
public struct ConfigFile: Sendable, Equatable, ConfigSection {
    public struct Preprocessing: Sendable, Equatable, ConfigSection {
        var mean: [Float]?
        var std: [Float]?
        var scale: Float?
        var channelOrder: Choice<CamwatchImage.Preprocessing.ChannelOrder>?
        enum CodingKeys: String, CodingKey, CaseIterable {
            case mean, std, scale
            case channelOrder = "channel_order"
        }
    }
    public struct Watch: Sendable, Equatable, ConfigSection {
        var interval: Double?
        var settle: Double?
        var incompleteAfter: Double?
        var inotify: Bool?
        enum CodingKeys: String, CodingKey, CaseIterable {
            case interval, settle, inotify
            case incompleteAfter = "incomplete_after"
        }
    }
    public struct Convergence: Sendable, Equatable, ConfigSection {
        var mode: Choice<ConvergenceMode>?
        var settleRatio: Double?
        var weightSettleRatio: Double?
        var threshold: Double?
        var patience: Int?
        var hysteresis: Double?
        enum CodingKeys: String, CodingKey, CaseIterable {
            case mode, threshold, patience, hysteresis
            case settleRatio = "settle_ratio"
            case weightSettleRatio = "weight_settle_ratio"
        }
    }
    public struct ScoreCAMSettings: Sendable, Equatable, ConfigSection {
        var batchSize: Int?
        var threads: Int?
        var topChannels: Int?
        enum CodingKeys: String, CodingKey, CaseIterable {
            case threads
            case batchSize = "batch_size"
            case topChannels = "top_channels"
        }
    }
    public struct Resources: Sendable, Equatable, ConfigSection {
        var threads: Int?
        var priority: Choice<ComputePriority>?
        var everyNth: Int?
        var topChannels: Int?
        enum CodingKeys: String, CodingKey, CaseIterable {
            case threads, priority
            case everyNth = "every_nth"
            case topChannels = "top_channels"
        }
    }
    public struct Timeline: Sendable, Equatable, ConfigSection {
        var maxColumns: Int?
        var colormap: Choice<Colormap>?
        var alpha: Float?
        enum CodingKeys: String, CodingKey, CaseIterable {
            case colormap, alpha
            case maxColumns = "max_columns"
        }
    }
    /// `metrics:`, decoded by hand (ConfigFile+Metrics.swift): it may also be a list.
    public struct Metrics: Sendable, Equatable, ConfigSection {
        var textfileDirectory: String?
        var heatmap: [String]?
        var step: Int?
        enum CodingKeys: String, CodingKey, CaseIterable {
            case heatmap, step
            case textfileDirectory = "textfile_directory"
        }
    }
    /// `saliency:`: which CAM method the drift is measured with.
    public struct Saliency: Sendable, Equatable, ConfigSection {
        var method: Choice<CAMMethod>?
        /// IS-CAM / SS-CAM masked inputs per channel.
        var samples: Int?
        /// SS-CAM noise seed.
        var seed: UInt64?
        enum CodingKeys: String, CodingKey, CaseIterable { case method, samples, seed }
    }
    public struct Alerts: Sendable, Equatable, ConfigSection {
        public struct Exec: Sendable, Equatable, ConfigSection {
            var command: [String]
            var timeout: Double?
            enum CodingKeys: String, CodingKey, CaseIterable { case command, timeout }
        }
        public struct Webhook: Sendable, Equatable, ConfigSection {
            var url: String?
            var urlFile: String?
            var timeout: Double?
            var retries: Int?
            enum CodingKeys: String, CodingKey, CaseIterable {
                case url, timeout, retries
                case urlFile = "url_file"
            }
        }
        var exec: Exec?
        var webhook: Webhook?
        enum CodingKeys: String, CodingKey, CaseIterable { case exec, webhook }

        static func section(_ key: CodingKeys) -> (any ConfigSection.Type)? {
            switch key {
            case .exec: Exec.self
            case .webhook: Webhook.self
            }
        }
    }

    var checkpoints: String?
    var probes: String?
    var out: String?
    var jobName: String?
    var pattern: String?
    var arch: String?
    var model: String?
    var layer: String?
    var inputSize: Int?
    var preprocessing: Preprocessing?
    var watch: Watch?
    var convergence: Convergence?
    var scoreCam: ScoreCAMSettings?
    var resources: Resources?
    var timeline: Timeline?
    var metrics: Metrics?
    var alerts: Alerts?
    var logLevel: Choice<Logger.Level>?
    var tensorboard: String?
    var saliency: Saliency?

    enum CodingKeys: String, CodingKey, CaseIterable {
        case checkpoints, probes, out, pattern, arch, model, layer, preprocessing, watch, convergence, resources
        case timeline, metrics, alerts, tensorboard, saliency
        case jobName = "job_name"
        case inputSize = "input_size"
        case scoreCam = "score_cam"
        case logLevel = "log_level"
    }

    static func section(_ key: CodingKeys) -> (any ConfigSection.Type)? {
        switch key {
        case .preprocessing: Preprocessing.self
        case .watch: Watch.self
        case .convergence: Convergence.self
        case .scoreCam: ScoreCAMSettings.self
        case .resources: Resources.self
        case .timeline: Timeline.self
        case .metrics: Metrics.self
        case .alerts: Alerts.self
        case .saliency: Saliency.self
        default: nil
        }
    }

    init() {}

    /// The largest config file camwatch reads: 1 MiB, a hundred times the example with every key. A 10 MB
    /// file took a minute of YAML parsing (in each of the processes that read it) before any key was checked.
    public static let maximumSize = 1 << 20

    /// Reads and parses a config file; unknown keys are errors (a typo must not be silently ignored).
    public static func read(_ path: String) throws(ConfigurationError) -> ConfigFile {
        let size = (try? FileManager.default.attributesOfItem(atPath: path))?[.size] as? Int ?? 0
        guard size <= maximumSize else {
            throw ConfigurationError(path: path, reason: "the config file has \(size) bytes; at most \(maximumSize)")
        }
        guard let data = FileManager.default.contents(atPath: path) else {
            throw ConfigurationError(path: path, reason: "cannot read the config file")
        }
        let text = String(decoding: data, as: UTF8.self)
        do {
            if let unknown = try unknownKeys(in: text).first {
                throw ConfigurationError(path: path, key: unknown, .unknownKey)
            }
            if text.trimmingCharacters(in: .whitespacesAndNewlines).isEmpty { return ConfigFile() }
            return try YAMLDecoder().decode(ConfigFile.self, from: text)
        } catch let error as ConfigurationError {
            throw error.inFile(path)
        } catch let error as DecodingError {
            // A name a key does not take is refused while decoding (``Choice``), where the key is known; Yams
            // hands it on as the cause of a "not valid YAML" error, and the file is known here.
            if case .dataCorrupted(let context) = error, let refusal = context.underlyingError as? ConfigurationError {
                throw refusal.inFile(path)
            }
            throw ConfigurationError(path: path, reason: "invalid config: \(error.summary)")
        } catch {
            // Yams quotes the offending line, which may be megabytes long.
            let line = "\(error)".oneLine
            throw ConfigurationError(path: path, reason: "invalid YAML: \(DisplayText.clipped(line, limit: 1000))")
        }
    }

    /// The dotted paths of the keys in `text` that no section has, in file order. Runs on the composed
    /// node tree before decoding, so an alias bomb under an unknown key is refused before it is expanded.
    static func unknownKeys(in text: String) throws -> [String] {
        guard let node = try Yams.compose(yaml: text) else { return [] }
        var unknown: [String] = []
        func walk<Section: ConfigSection>(_ node: Node, _: Section.Type, prefix: String) {
            guard let mapping = node.mapping else { return }
            for (key, value) in mapping {
                guard let name = key.string else { continue }
                let path = prefix.isEmpty ? name : "\(prefix).\(name)"
                guard let codingKey = Section.CodingKeys(stringValue: name) else {
                    unknown.append(path)
                    continue
                }
                if let section = Section.section(codingKey) { walk(value, section, prefix: path) }
            }
        }
        walk(node, ConfigFile.self, prefix: "")
        return unknown
    }

    /// Every key the file may hold, as dotted paths (`watch.settle`, `alerts.exec.command`).
    static var keyPaths: [String] {
        func paths<Section: ConfigSection>(_: Section.Type, prefix: String) -> [String] {
            Section.CodingKeys.allCases.flatMap { key -> [String] in
                let path = prefix + key.stringValue
                return [path] + (Section.section(key).map { paths($0, prefix: path + ".") } ?? [])
            }
        }
        return paths(ConfigFile.self, prefix: "")
    }
}
