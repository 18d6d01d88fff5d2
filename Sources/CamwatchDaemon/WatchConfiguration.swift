public import CamwatchCheckpoint
public import CamwatchImage
public import CamwatchMonitor
public import CamwatchSaliency
public import CamwatchTensor
import CamwatchNN
import Foundation
import Yams
public import Logging

/// Everything `camwatch watch` needs, from the config file (deploy/camwatch.example.yaml lists every key)
/// with the command-line flags laid over it.
public struct WatchConfiguration: Sendable, Equatable {
    /// The directory the trainer writes checkpoints into.
    public var checkpoints: String
    public var probes: String
    public var out: String
    /// Label in metrics and alerts; defaults to the output directory's name.
    public var jobName: String
    /// Glob of checkpoint file names.
    public var pattern = "*.h5"
    public var architecture: ArchitectureSource = .automatic
    public var layer: String?
    /// Input height and width; `nil` takes the model spec's `input_size`, else 224.
    public var inputSize: Int?
    /// Mean/std/scale/channel order (the size is decided per model, see `inputSize`).
    public var preprocessing = Preprocessing()
    /// The `preprocessing` keys the config file sets (`mean`, `std`, `scale`): those win over the
    /// checkpoint's own attributes of the same names.
    public var explicitPreprocessing: Set<String> = []
    /// Seconds between directory scans when no inotify event wakes the watcher (and the poll-only interval).
    public var interval = 10.0
    /// Seconds a file must stay unchanged before it is read.
    public var settle = 2.0
    /// Seconds an unchanged file may stay open-for-writing or short before it is reported as failed.
    public var incompleteAfter = 300.0
    /// Whether to use inotify (off: poll every `interval`, for NFS/Lustre).
    public var inotify = true
    /// How the run is judged converged (`convergence:`; relative to the run's own history by default).
    public var convergence = ConvergenceRule()
    public var batchSize = 16
    /// Score-CAM threads (`resources.threads`); `nil` uses ``defaultThreads``.
    public var threads: Int?
    /// CPU and I/O priority of the analysis (`resources.priority`): idle by default, so the trainer beside
    /// camwatch keeps its speed and camwatch catches up whenever the trainer pauses.
    public var priority: ComputePriority = .idle
    /// Analyse every n-th checkpoint only (`resources.every_nth`; 1 = all).
    public var everyNth = 1
    /// Faster Score-CAM: score only this many channels of the target layer (`resources.top_channels`).
    public var topChannels: Int?
    public var maxColumns = 12
    public var colormap: Colormap = .jet
    public var alpha: Float = 0.5
    /// A node_exporter textfile-collector directory that also gets `camwatch-<job>.prom`.
    public var textfileDirectory: String?
    /// The heatmap metrics computed at every checkpoint (`metrics.heatmap`, `metrics.step`).
    public var metrics = MetricSettings.standard
    /// A TensorBoard log directory that gets camwatch's event file (`tensorboard:`, `--tensorboard`).
    public var tensorboard: String?
    public var execCommand: [String]?
    public var execTimeout = 10.0
    public var webhookURL: String?
    public var webhookURLFile: String?
    public var webhookTimeout = 5.0
    public var webhookRetries = 3
    public var logLevel: Logger.Level = .info
    /// Process what is there once and exit (no watching).
    public var once = false
    /// The CAM method drift is measured with (`saliency.method`), and its samples and seed (`saliency.samples`,
    /// `saliency.seed`: IS-CAM, SS-CAM).
    public var method: CAMMethod = .scoreCAM
    public var methodSamples: Int?
    public var methodSeed: UInt64 = 0

    public init(checkpoints: String, probes: String, out: String, jobName: String? = nil) {
        self.checkpoints = checkpoints
        self.probes = probes
        self.out = out
        self.jobName = jobName ?? Self.defaultJobName(out: out)
    }

    static func defaultJobName(out: String) -> String {
        let name = URL(fileURLWithPath: out).standardizedFileURL.lastPathComponent
        return name.isEmpty || name == "/" ? "camwatch" : name
    }

    /// Score-CAM threads when `resources.threads` is not set: half the cores (at least 1, at most 4), so a
    /// trainer's own threads never share a core with more than one of camwatch's.
    public static var defaultThreads: Int { min(4, max(1, ProcessInfo.processInfo.activeProcessorCount / 2)) }

    /// Score-CAM options from the configuration.
    public var scoreCAMOptions: ScoreCAM.Options {
        ScoreCAM.Options(topChannels: topChannels, batchSize: batchSize, threads: threads ?? Self.defaultThreads)
    }

    /// A fresh tracker with the configured rule.
    public var tracker: ConvergenceTracker { ConvergenceTracker(rule: convergence) }

    /// The URL of the webhook, read from `webhookURLFile` when given (the URL is a secret).
    public func resolvedWebhookURL() throws(ConfigurationError) -> String? {
        if let webhookURL { return webhookURL }
        guard let webhookURLFile else { return nil }
        guard let data = FileManager.default.contents(atPath: webhookURLFile) else {
            throw ConfigurationError(path: webhookURLFile, reason: "cannot read the webhook URL file")
        }
        let url = String(decoding: data, as: UTF8.self).trimmingCharacters(in: .whitespacesAndNewlines)
        guard url.hasPrefix("http://") || url.hasPrefix("https://") else {
            throw ConfigurationError(path: webhookURLFile, reason: "does not hold an http(s) URL")
        }
        return url
    }

    /// The longest wait any `watch.*` or alert timeout may ask for: 1 day. Longer is a typo (or `.inf`),
    /// and would overflow the conversions to `Duration` and nanoseconds.
    public static let maximumSeconds = 86_400.0

    /// Checks every value in one place, before any is used: ranges, and numbers that must be finite.
    public func validate() throws(ConfigurationError) {
        func bad(_ reason: String) -> ConfigurationError { ConfigurationError(path: nil, reason: reason) }
        if let inputSize, !(1...4096).contains(inputSize) { throw bad("input_size must be in 1...4096") }
        // Every wait becomes a `Duration` or an integer count of nanoseconds, which traps on an infinite,
        // NaN or enormous value: check each here, naming its key, so a bad file is a one-line error at
        // start-up and a rejected reload on SIGHUP, never a crash.
        func seconds(_ value: Double, _ key: String, zeroAllowed: Bool = false) throws(ConfigurationError) {
            let lowest = zeroAllowed ? "0" : "more than 0"
            guard value.isFinite, zeroAllowed ? value >= 0 : value > 0, value <= Self.maximumSeconds else {
                throw bad("\(key) must be a number of seconds, \(lowest) and at most \(Int(Self.maximumSeconds)) (1 day); got \(value)")
            }
        }
        try seconds(interval, "watch.interval (--interval)")
        try seconds(settle, "watch.settle", zeroAllowed: true)
        try seconds(incompleteAfter, "watch.incomplete_after")
        try seconds(execTimeout, "alerts.exec.timeout")
        try seconds(webhookTimeout, "alerts.webhook.timeout")
        let rule = convergence
        guard rule.threshold > 0 && rule.threshold < 1 else { throw bad("convergence.threshold must be in (0, 1)") }
        guard rule.settleRatio > 0 && rule.settleRatio < 1 else { throw bad("convergence.settle_ratio must be in (0, 1)") }
        guard rule.weightSettleRatio > 0 && rule.weightSettleRatio < 1 else {
            throw bad("convergence.weight_settle_ratio must be in (0, 1)")
        }
        guard rule.patience >= 1 else { throw bad("convergence.patience must be at least 1") }
        guard rule.hysteresis >= 1 && rule.hysteresis.isFinite else {
            throw bad("convergence.hysteresis must be a number of at least 1")
        }
        guard (1...1024).contains(batchSize) else { throw bad("score_cam.batch_size must be in 1...1024") }
        if let threads, !(1...256).contains(threads) { throw bad("resources.threads must be in 1...256") }
        guard (1...1_000_000).contains(everyNth) else { throw bad("resources.every_nth must be at least 1") }
        if let topChannels, topChannels < 1 { throw bad("resources.top_channels must be at least 1") }
        guard (2...1000).contains(maxColumns) else { throw bad("timeline.max_columns must be in 2...1000") }
        guard (0...1).contains(alpha) else { throw bad("timeline.alpha must be in 0...1") }
        guard preprocessing.mean.count == 3, preprocessing.std.count == 3, preprocessing.std.allSatisfy({ $0 != 0 }) else {
            throw bad("preprocessing.mean and .std take 3 values each, std non-zero")
        }
        // A NaN or infinite mean, std or scale turns every input into NaN, and the heatmaps with it.
        if let problem = preprocessing.problem { throw bad("preprocessing: \(problem)") }
        if let execCommand, execCommand.isEmpty { throw bad("alerts.exec.command is empty") }
        guard (0...100).contains(webhookRetries) else { throw bad("alerts.webhook.retries must be in 0...100") }
    }
}

/// A bad configuration file or value; one line naming the file.
public struct ConfigurationError: Error, Sendable, Equatable, CustomStringConvertible {
    public var path: String?
    public var reason: String
    public init(path: String?, reason: String) {
        self.path = path
        self.reason = reason
    }
    public var description: String { path.map { "\($0): \(reason)" } ?? reason }
}

// MARK: - The config file

/// The YAML file as written (every key optional; snake_case as in deploy/camwatch.example.yaml).
public struct WatchConfigurationFile: Sendable, Equatable, Decodable {
    public struct Preprocessing: Sendable, Equatable, Decodable {
        var mean: [Float]?
        var std: [Float]?
        var scale: Float?
        var channelOrder: String?
        enum CodingKeys: String, CodingKey {
            case mean, std, scale
            case channelOrder = "channel_order"
        }
    }
    public struct Watch: Sendable, Equatable, Decodable {
        var interval: Double?
        var settle: Double?
        var incompleteAfter: Double?
        var inotify: Bool?
        enum CodingKeys: String, CodingKey {
            case interval, settle, inotify
            case incompleteAfter = "incomplete_after"
        }
    }
    public struct Convergence: Sendable, Equatable, Decodable {
        var mode: String?
        var settleRatio: Double?
        var weightSettleRatio: Double?
        var threshold: Double?
        var patience: Int?
        var hysteresis: Double?
        enum CodingKeys: String, CodingKey {
            case mode, threshold, patience, hysteresis
            case settleRatio = "settle_ratio"
            case weightSettleRatio = "weight_settle_ratio"
        }
    }
    public struct ScoreCAMSettings: Sendable, Equatable, Decodable {
        var batchSize: Int?
        var threads: Int?
        var topChannels: Int?
        enum CodingKeys: String, CodingKey {
            case threads
            case batchSize = "batch_size"
            case topChannels = "top_channels"
        }
    }
    public struct Resources: Sendable, Equatable, Decodable {
        var threads: Int?
        var priority: String?
        var everyNth: Int?
        var topChannels: Int?
        enum CodingKeys: String, CodingKey {
            case threads, priority
            case everyNth = "every_nth"
            case topChannels = "top_channels"
        }
    }
    public struct Timeline: Sendable, Equatable, Decodable {
        var maxColumns: Int?
        var colormap: String?
        var alpha: Float?
        enum CodingKeys: String, CodingKey {
            case colormap, alpha
            case maxColumns = "max_columns"
        }
    }
    public struct Metrics: Sendable, Equatable, Decodable {
        var textfileDirectory: String?
        /// `metrics.heatmap`, or `metrics:` given as a list (WatchConfiguration+Metrics.swift).
        var heatmap: [String]?
        var step: Int?
        enum CodingKeys: String, CodingKey {
            case heatmap, step
            case textfileDirectory = "textfile_directory"
        }
    }
    public struct Alerts: Sendable, Equatable, Decodable {
        public struct Exec: Sendable, Equatable, Decodable {
            var command: [String]
            var timeout: Double?
        }
        public struct Webhook: Sendable, Equatable, Decodable {
            var url: String?
            var urlFile: String?
            var timeout: Double?
            var retries: Int?
            enum CodingKeys: String, CodingKey {
                case url, timeout, retries
                case urlFile = "url_file"
            }
        }
        var exec: Exec?
        var webhook: Webhook?
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
    var logLevel: String?
    var tensorboard: String?
    var saliency: Saliency?

    enum CodingKeys: String, CodingKey {
        case tensorboard, saliency
        case checkpoints, probes, out, pattern, arch, model, layer, preprocessing, watch, convergence, timeline, metrics, alerts
        case resources
        case jobName = "job_name"
        case inputSize = "input_size"
        case scoreCam = "score_cam"
        case logLevel = "log_level"
    }

    /// Reads and parses a config file; unknown keys are errors (a typo must not be silently ignored).
    public static func read(_ path: String) throws(ConfigurationError) -> WatchConfigurationFile {
        guard let data = FileManager.default.contents(atPath: path) else {
            throw ConfigurationError(path: path, reason: "cannot read the config file")
        }
        let text = String(decoding: data, as: UTF8.self)
        do {
            if let unknown = try unknownKeys(in: text).first {
                throw ConfigurationError(path: path, reason: "unknown key '\(unknown)'")
            }
            if text.trimmingCharacters(in: .whitespacesAndNewlines).isEmpty { return WatchConfigurationFile() }
            return try YAMLDecoder().decode(WatchConfigurationFile.self, from: text)
        } catch let error as ConfigurationError {
            throw error
        } catch let error as DecodingError {
            throw ConfigurationError(path: path, reason: "invalid config: \(error.summary)")
        } catch {
            let line = "\(error)".split(whereSeparator: \.isNewline).joined(separator: " ")
            throw ConfigurationError(path: path, reason: "invalid YAML: \(line)")
        }
    }

    init() {}

    /// Every key the file may hold, by section ("" = top level).
    static let knownKeys: [String: Set<String>] = [
        "": ["checkpoints", "probes", "out", "job_name", "pattern", "arch", "model", "layer", "input_size",
             "preprocessing", "watch", "convergence", "score_cam", "timeline", "metrics", "alerts", "log_level",
             "resources", "tensorboard", "saliency"],
        "saliency": ["method", "samples", "seed"],
        "preprocessing": ["mean", "std", "scale", "channel_order"],
        "watch": ["interval", "settle", "incomplete_after", "inotify"],
        "convergence": ["mode", "settle_ratio", "weight_settle_ratio", "threshold", "patience", "hysteresis"],
        "score_cam": ["batch_size", "threads", "top_channels"],
        "resources": ["threads", "priority", "every_nth", "top_channels"],
        "timeline": ["max_columns", "colormap", "alpha"],
        "metrics": ["textfile_directory", "heatmap", "step"],
        "alerts": ["exec", "webhook"],
        "alerts.exec": ["command", "timeout"],
        "alerts.webhook": ["url", "url_file", "timeout", "retries"],
    ]

    static func unknownKeys(in text: String) throws -> [String] {
        guard let node = try Yams.compose(yaml: text) else { return [] }
        var unknown: [String] = []
        func walk(_ node: Node, section: String) {
            guard let mapping = node.mapping, let known = knownKeys[section] else { return }
            for (key, value) in mapping {
                guard let name = key.string else { continue }
                let path = section.isEmpty ? name : "\(section).\(name)"
                if known.contains(name) { walk(value, section: path) } else { unknown.append(path) }
            }
        }
        walk(node, section: "")
        return unknown
    }
}

extension WatchConfiguration {
    /// What the command line can set; `nil` leaves the config file's value.
    public struct Overrides: Sendable, Equatable {
        public var checkpoints: String?
        public var probes: String?
        public var out: String?
        public var arch: String?
        public var model: String?
        public var layer: String?
        public var inputSize: Int?
        public var interval: Double?
        public var tensorboard: String?
        public var priority: ComputePriority?
        public var pattern: String?
        /// `--scale`, `--mean`, `--std`, `--bgr`: each wins over the config file's `preprocessing:` key.
        public var scale: Float?
        public var mean: [Float]?
        public var std: [Float]?
        public var bgr = false
        public var once = false
        public init() {}
    }

    /// The configuration from an optional file with the flags laid over it.
    /// - Throws: `ConfigurationError` for a bad file, a bad value or a missing required setting.
    public static func resolve(file path: String?, overrides: Overrides) throws(ConfigurationError) -> WatchConfiguration {
        let file = try path.map { (p: String) throws(ConfigurationError) in try WatchConfigurationFile.read(p) }
            ?? WatchConfigurationFile()
        let origin = path.map { " (or in \($0))" } ?? ""
        guard let checkpoints = overrides.checkpoints ?? file.checkpoints else {
            throw ConfigurationError(path: nil, reason: "no checkpoint directory: give DIR\(origin.isEmpty ? "" : " or checkpoints:\(origin)")")
        }
        guard let probes = overrides.probes ?? file.probes else {
            throw ConfigurationError(path: nil, reason: "no probe directory: give --probes DIR\(origin)")
        }
        // Under systemd, StateDirectory= (exported as $STATE_DIRECTORY) is the natural home of the outputs.
        let stateDirectory = ProcessInfo.processInfo.environment["STATE_DIRECTORY"]?
            .split(separator: ":").first.map(String.init)
        guard let out = overrides.out ?? file.out ?? stateDirectory else {
            throw ConfigurationError(path: nil, reason: "no output directory: give --out DIR\(origin)")
        }
        var c = WatchConfiguration(checkpoints: checkpoints, probes: probes, out: out, jobName: file.jobName)
        c.pattern = overrides.pattern ?? file.pattern ?? c.pattern
        let arch = overrides.arch ?? (overrides.model == nil ? file.arch : nil)
        let model = overrides.model ?? (overrides.arch == nil ? file.model : nil)
        switch (arch, model) {
        case (.some, .some): throw ConfigurationError(path: path, reason: "give arch or model, not both")
        case (.some(let arch), nil): c.architecture = .zoo(arch)
        case (nil, .some(let model)): c.architecture = .specFile(model)
        case (nil, nil): c.architecture = .automatic
        }
        c.layer = overrides.layer ?? file.layer
        c.inputSize = overrides.inputSize ?? file.inputSize
        if let p = file.preprocessing {
            c.explicitPreprocessing = Set(
                [("mean", p.mean != nil), ("std", p.std != nil), ("scale", p.scale != nil)].filter(\.1).map(\.0))
            c.preprocessing.mean = p.mean ?? c.preprocessing.mean
            c.preprocessing.std = p.std ?? c.preprocessing.std
            c.preprocessing.scale = p.scale ?? c.preprocessing.scale
            if let order = p.channelOrder {
                guard let parsed = CamwatchImage.Preprocessing.ChannelOrder(rawValue: order) else {
                    throw ConfigurationError(path: path, reason: "preprocessing.channel_order must be rgb or bgr")
                }
                c.preprocessing.channelOrder = parsed
            }
        }
        // Flags win over the file and, like its keys, over the checkpoint's own attributes (`validate` checks them).
        if let mean = overrides.mean { (c.preprocessing.mean, _) = (mean, c.explicitPreprocessing.insert("mean")) }
        if let std = overrides.std { (c.preprocessing.std, _) = (std, c.explicitPreprocessing.insert("std")) }
        if let scale = overrides.scale { (c.preprocessing.scale, _) = (scale, c.explicitPreprocessing.insert("scale")) }
        if overrides.bgr { c.preprocessing.channelOrder = .bgr }
        c.interval = overrides.interval ?? file.watch?.interval ?? c.interval
        c.settle = file.watch?.settle ?? c.settle
        c.incompleteAfter = file.watch?.incompleteAfter ?? c.incompleteAfter
        c.inotify = file.watch?.inotify ?? c.inotify
        if let settings = file.convergence {
            // A threshold without a mode is a config from before the relative rule: it meant the absolute one.
            var mode: ConvergenceMode = settings.threshold == nil ? .relative : .absolute
            if let name = settings.mode {
                guard let parsed = ConvergenceMode(rawValue: name) else {
                    throw ConfigurationError(path: path, reason: "convergence.mode must be relative or absolute")
                }
                mode = parsed
            }
            // A setting the chosen rule does not use would be silently ignored: refuse it instead.
            if mode == .relative, settings.threshold != nil {
                throw ConfigurationError(path: path, reason: "convergence.threshold needs mode: absolute")
            }
            if mode == .absolute, settings.settleRatio != nil || settings.weightSettleRatio != nil {
                throw ConfigurationError(
                    path: path, reason: "convergence.settle_ratio and weight_settle_ratio need mode: relative")
            }
            // Out-of-range values are reported by validate(), not clamped here.
            var rule = ConvergenceRule(mode: mode)
            rule.settleRatio = settings.settleRatio ?? rule.settleRatio
            rule.weightSettleRatio = settings.weightSettleRatio ?? rule.weightSettleRatio
            rule.threshold = settings.threshold ?? rule.threshold
            rule.patience = settings.patience ?? rule.patience
            rule.hysteresis = settings.hysteresis ?? rule.hysteresis
            c.convergence = rule
        }
        c.batchSize = file.scoreCam?.batchSize ?? c.batchSize
        // threads and top_channels are resources (what the analysis costs); score_cam: takes them too, where
        // they were first looked for, but one place only.
        if file.scoreCam?.threads != nil, file.resources?.threads != nil {
            throw ConfigurationError(path: path, reason: "give resources.threads or score_cam.threads, not both")
        }
        if file.scoreCam?.topChannels != nil, file.resources?.topChannels != nil {
            throw ConfigurationError(path: path, reason: "give resources.top_channels or score_cam.top_channels, not both")
        }
        c.threads = file.resources?.threads ?? file.scoreCam?.threads ?? c.threads
        c.topChannels = file.resources?.topChannels ?? file.scoreCam?.topChannels
        if let name = file.resources?.priority {
            guard let priority = ComputePriority(rawValue: name) else {
                throw ConfigurationError(path: path, reason: "resources.priority must be idle, low or normal")
            }
            c.priority = priority
        }
        c.priority = overrides.priority ?? c.priority
        c.everyNth = file.resources?.everyNth ?? c.everyNth
        c.maxColumns = file.timeline?.maxColumns ?? c.maxColumns
        if let name = file.timeline?.colormap {
            guard let colormap = Colormap(named: name) else {
                throw ConfigurationError(path: path, reason: "timeline.colormap must be jet, turbo or viridis")
            }
            c.colormap = colormap
        }
        c.alpha = file.timeline?.alpha ?? c.alpha
        c.textfileDirectory = file.metrics?.textfileDirectory
        c.metrics = try MetricSettings(file.metrics, path: path)
        c.tensorboard = overrides.tensorboard ?? file.tensorboard
        c.execCommand = file.alerts?.exec?.command
        c.execTimeout = file.alerts?.exec?.timeout ?? c.execTimeout
        c.webhookURL = file.alerts?.webhook?.url
        c.webhookURLFile = file.alerts?.webhook?.urlFile
        c.webhookTimeout = file.alerts?.webhook?.timeout ?? c.webhookTimeout
        c.webhookRetries = file.alerts?.webhook?.retries ?? c.webhookRetries
        if let name = file.logLevel {
            guard let level = Logger.Level(rawValue: name) else {
                let names = Logger.Level.allCases.map(\.rawValue).joined(separator: ", ")
                throw ConfigurationError(path: path, reason: "log_level must be one of \(names)")
            }
            c.logLevel = level
        }
        c.once = overrides.once
        try c.applySaliency(file.saliency, path: path)
        do { try c.validate() } catch { throw ConfigurationError(path: path, reason: error.reason) }
        return c
    }
}

extension WatchConfiguration {
    /// The exec hook's settings, when `alerts.exec` is configured.
    public var execHook: ExecHook.Configuration? {
        execCommand.map { ExecHook.Configuration(command: $0, timeout: .seconds(execTimeout)) }
    }

    /// The webhook's settings, when `alerts.webhook` is configured (the URL read from its file).
    /// - Throws: `ConfigurationError` when the URL file cannot be read or the URL is not usable.
    public func webhook() throws(ConfigurationError) -> Webhook.Configuration? {
        guard let url = try resolvedWebhookURL() else { return nil }
        let configuration = Webhook.Configuration(url: url, timeout: .seconds(webhookTimeout), retries: webhookRetries)
        if let reason = configuration.invalidReason {
            throw ConfigurationError(path: webhookURLFile, reason: "alerts.webhook: \(reason)")
        }
        return configuration
    }
}

extension AlertDispatcher {
    /// A dispatcher with the configured hooks.
    /// - Throws: `ConfigurationError` for an unusable webhook URL.
    public convenience init(configuration: WatchConfiguration, logger: Logger) throws(ConfigurationError) {
        let webhook = try configuration.webhook()
        self.init(execHook: configuration.execHook.map(ExecHook.init), webhook: webhook.map(Webhook.init), logger: logger)
    }
}

// MARK: - Reload

extension WatchConfiguration {
    /// A setting a running watcher keeps until it restarts: it shapes what the run has recorded so far (the
    /// directories, the model and its input, the channel selection, the convergence rule) or the process
    /// itself (log level, threads). Heatmaps from another layer or channel selection are not comparable with
    /// the run's earlier ones.
    struct RestartOnlySetting: Sendable {
        /// The name in the config file, for the reload's log line.
        let name: String
        let differs: @Sendable (WatchConfiguration, WatchConfiguration) -> Bool
        let keep: @Sendable (inout WatchConfiguration, WatchConfiguration) -> Void

        init<Value: Equatable & Sendable>(_ name: String, _ keyPath: any WritableKeyPath<WatchConfiguration, Value> & Sendable) {
            self.name = name
            differs = { $0[keyPath: keyPath] != $1[keyPath: keyPath] }
            keep = { $0[keyPath: keyPath] = $1[keyPath: keyPath] }
        }
    }

    /// Every restart-only setting, in the order the reload's log line names them.
    static let restartOnly: [RestartOnlySetting] = [
        RestartOnlySetting("checkpoints", \.checkpoints),
        RestartOnlySetting("probes", \.probes),
        RestartOnlySetting("out", \.out),
        RestartOnlySetting("arch/model", \.architecture),
        RestartOnlySetting("layer", \.layer),
        RestartOnlySetting("input_size", \.inputSize),
        RestartOnlySetting("preprocessing", \.preprocessing),
        RestartOnlySetting("convergence", \.convergence),
        RestartOnlySetting("log_level", \.logLevel),
        RestartOnlySetting("resources.threads", \.threads),
        RestartOnlySetting("resources.top_channels", \.topChannels),
    ]

    /// This (reloaded) configuration with every restart-only setting kept at `old`'s value, and the names of
    /// those the file changed (they take effect at the next start).
    func keepingRestartOnly(from old: WatchConfiguration) -> (applied: WatchConfiguration, changed: [String]) {
        var applied = self
        var changed: [String] = []
        for setting in Self.restartOnly where setting.differs(self, old) {
            changed.append(setting.name)
            setting.keep(&applied, old)
        }
        return (applied, changed)
    }
}
