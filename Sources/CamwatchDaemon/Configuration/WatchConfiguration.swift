public import CamwatchCheckpoint
public import CamwatchImage
public import CamwatchMonitor
public import CamwatchSaliency
public import CamwatchTensor
import CamwatchCharts
import CamwatchNN
import Foundation
public import Logging

/// Everything `camwatch watch` needs, from the config file (``ConfigFile``; deploy/camwatch.example.yaml shows
/// every key) with the command-line flags laid over it. What a reload (SIGHUP) may change and what needs a
/// restart are two types; their fields read and write as the configuration's own (`configuration.layer`).
@dynamicMemberLookup
public struct WatchConfiguration: Sendable, Equatable {
    /// What a running watcher keeps until it restarts.
    public var restart: RestartSettings
    /// What a reload applies at once.
    public var live = LiveSettings()

    /// The settings that shape what the run has recorded so far (the directories, the model and its input,
    /// the channel selection, the convergence rule) or the process itself (log level, threads): heatmaps from
    /// another layer or channel selection are not comparable with the run's earlier ones, so a reload keeps
    /// these and names the ones its file changed.
    public struct RestartSettings: Sendable, Equatable {
        /// The directory the trainer writes checkpoints into.
        public var checkpoints: String
        public var probes: String
        public var out: String
        public var architecture: ArchitectureSource = .automatic
        public var layer: String?
        /// What the command line says about the input (`--input-size`, `--mean`, `--std`, `--scale`,
        /// `--bgr`/`--rgb`): first in ``PreprocessingResolver``'s order.
        public var preprocessingFlags = PreprocessingValues()
        /// What the config file says (`input_size:`, `preprocessing:`): after the flags, before the
        /// checkpoint's attributes, the model spec and the default.
        public var preprocessingFile = PreprocessingValues()
        /// How the run is judged converged (`convergence:`; relative to the run's own history by default).
        public var convergence = ConvergenceRule()
        public var logLevel: Logger.Level = .info
        /// Score-CAM threads (`resources.threads`); `nil` uses ``WatchConfiguration/defaultThreads``.
        public var threads: Int?
        /// Faster Score-CAM: score only this many channels of the target layer (`resources.top_channels`).
        public var topChannels: Int?

        /// The config-file names of the settings that differ from `old`, in the order the reload's log line
        /// gives them.
        func changes(from old: RestartSettings) -> [String] {
            func differs<Value: Equatable>(_ keyPath: KeyPath<RestartSettings, Value>) -> Bool {
                self[keyPath: keyPath] != old[keyPath: keyPath]
            }
            let named: [(String, Bool)] = [
                ("checkpoints", differs(\.checkpoints)), ("probes", differs(\.probes)), ("out", differs(\.out)),
                ("arch/model", differs(\.architecture)), ("layer", differs(\.layer)),
                ("input_size", differs(\.inputSize)),
                ("preprocessing", differs(\.normalization)),
                ("convergence", differs(\.convergence)), ("log_level", differs(\.logLevel)),
                ("resources.threads", differs(\.threads)), ("resources.top_channels", differs(\.topChannels)),
            ]
            return named.filter(\.1).map(\.0)
        }

        /// The input size the flags or the file set (square); `nil` leaves it to the checkpoint, the model
        /// spec or the default.
        public var inputSize: Int? { preprocessingFlags.height ?? preprocessingFile.height }

        /// The preprocessing before any checkpoint or model is known: the flags over the file over the
        /// defaults (what `validate` checks; each checkpoint's own comes from ``PreprocessingResolver``).
        public var preprocessing: Preprocessing {
            PreprocessingResolver.resolve(flags: preprocessingFlags, config: preprocessingFile).preprocessing
        }

        /// The flags and the file without the input size (which `changes(from:)` names on its own).
        var normalization: [PreprocessingValues] {
            [preprocessingFlags, preprocessingFile].map { values in
                var values = values
                (values.height, values.width) = (nil, nil)
                return values
            }
        }
    }

    /// The settings a reload applies at once: watching, the outputs, alerts, what the analysis may cost.
    public struct LiveSettings: Sendable, Equatable {
        /// Label in metrics and alerts; defaults to the output directory's name.
        public var jobName = ""
        /// Glob of checkpoint file names.
        public var pattern = "*.h5"
        /// Seconds between directory scans when no inotify event wakes the watcher (and the poll-only interval).
        public var interval = 10.0
        /// Seconds a file must stay unchanged before it is read.
        public var settle = 2.0
        /// Seconds an unchanged file may stay open-for-writing or short before it is reported as failed.
        public var incompleteAfter = 300.0
        /// Whether to use inotify (off: poll every `interval`, for NFS/Lustre).
        public var inotify = true
        public var batchSize = 16
        /// CPU and I/O priority of the analysis (`resources.priority`): idle by default, so the trainer beside
        /// camwatch keeps its speed and camwatch catches up whenever the trainer pauses.
        public var priority: ComputePriority = .idle
        /// Analyse every n-th checkpoint only (`resources.every_nth`; 1 = all).
        public var everyNth = 1
        public var maxColumns = TimelineChart.Options.defaultMaxColumns
        public var colormap = HeatmapOverlay.defaultColormap
        public var alpha = HeatmapOverlay.defaultAlpha
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
        /// Process what is there once and exit (no watching).
        public var once = false
        /// The CAM method drift is measured with (`saliency.method`), and its samples and seed
        /// (`saliency.samples`, `saliency.seed`: IS-CAM, SS-CAM).
        public var method: CAMMethod = .scoreCAM
        public var methodSamples: Int?
        public var methodSeed: UInt64 = 0
    }

    public init(checkpoints: String, probes: String, out: String, jobName: String? = nil) {
        restart = RestartSettings(checkpoints: checkpoints, probes: probes, out: out)
        live.jobName = jobName ?? Self.defaultJobName(out: out)
    }

    public subscript<Value>(dynamicMember keyPath: WritableKeyPath<RestartSettings, Value>) -> Value {
        get { restart[keyPath: keyPath] }
        set { restart[keyPath: keyPath] = newValue }
    }

    public subscript<Value>(dynamicMember keyPath: WritableKeyPath<LiveSettings, Value>) -> Value {
        get { live[keyPath: keyPath] }
        set { live[keyPath: keyPath] = newValue }
    }

    /// The input size the flags or the file set (``RestartSettings/inputSize``).
    public var inputSize: Int? { restart.inputSize }
    /// The flags over the file over the defaults (``RestartSettings/preprocessing``).
    public var preprocessing: Preprocessing { restart.preprocessing }

    static func defaultJobName(out: String) -> String {
        let name = URL(fileURLWithPath: out).standardizedFileURL.lastPathComponent
        return name.isEmpty || name == "/" ? "camwatch" : name
    }

    /// Score-CAM threads when `resources.threads` is not set: half the cores (at least 1, at most 4), so a
    /// trainer's own threads never share a core with more than one of camwatch's.
    public static var defaultThreads: Int { min(4, max(1, ProcessInfo.processInfo.activeProcessorCount / 2)) }

    /// Score-CAM options from the configuration.
    public var scoreCAMOptions: ScoreCAM.Options {
        ScoreCAM.Options(topChannels: self.topChannels, batchSize: self.batchSize, threads: self.threads ?? Self.defaultThreads)
    }

    /// A fresh tracker with the configured rule.
    public var tracker: ConvergenceTracker { ConvergenceTracker(rule: self.convergence) }

    /// The URL of the webhook, read from `webhookURLFile` when given (the URL is a secret).
    public func resolvedWebhookURL() throws(ConfigurationError) -> String? {
        if let webhookURL = self.webhookURL { return webhookURL }
        guard let webhookURLFile = self.webhookURLFile else { return nil }
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
    /// The shortest scan interval and timeout: 0.1 s. Shorter turns an idle watcher into a busy loop
    /// (`--interval 1e-300` used most of a core) and a timeout into an immediate failure.
    public static let minimumSeconds = 0.1

    /// The longest path a setting may hold: Linux's PATH_MAX.
    public static let maximumPathLength = 4096
    /// The longest name (`job_name`, `layer`, `arch`, `pattern`): a label in every metric and alert, a key in
    /// every report; 256 bytes is more than any real one (a 10 MB `job_name` made a 367 MB metrics file).
    public static let maximumNameLength = 256
    /// The longest webhook URL.
    public static let maximumURLLength = 2048

    /// Every string setting with its key and its longest length, and whether it may be empty.
    private var strings: [(key: String, value: String, limit: Int, mayBeEmpty: Bool)] {
        let path = Self.maximumPathLength
        let name = Self.maximumNameLength
        var architecture: (key: String, value: String, limit: Int)?
        switch self.architecture {
        case .zoo(let arch): architecture = ("arch (--arch)", arch, name)
        case .specFile(let model): architecture = ("model (--model)", model, path)
        case .automatic: architecture = nil
        }
        let optional: [(String, String?, Int, Bool)] = [
            ("checkpoints", self.checkpoints, path, false), ("probes (--probes)", self.probes, path, false),
            ("out (--out)", self.out, path, false), ("job_name", self.jobName, name, false),
            ("pattern (--pattern)", self.pattern, name, false), ("layer (--layer)", self.layer, name, false),
            (architecture?.key ?? "arch", architecture?.value, architecture?.limit ?? name, false),
            ("tensorboard (--tensorboard)", self.tensorboard, path, false),
            ("metrics.textfile_directory", self.textfileDirectory, path, false),
            ("alerts.webhook.url", self.webhookURL, Self.maximumURLLength, false),
            ("alerts.webhook.url_file", self.webhookURLFile, path, false),
        ]
        let command = (self.execCommand ?? []).map { ("alerts.exec.command", Optional($0), path, true) }
        return (optional + command).compactMap { key, value, limit, mayBeEmpty in
            value.map { (key, $0, limit, mayBeEmpty) }
        }
    }

    /// Checks every value in one place, before any is used: ranges, and numbers that must be finite.
    public func validate() throws(ConfigurationError) {
        /// The key as the message names it, and the rest of the sentence (the whole sentence without a key).
        func bad(_ key: String?, _ rule: String) -> ConfigurationError { ConfigurationError(key: key, .invalid(rule)) }
        // Lengths first: every later message may repeat a value.
        for (key, value, limit, mayBeEmpty) in strings {
            guard value.utf8.count <= limit else {
                throw bad(key, "is \(value.utf8.count) bytes long; at most \(limit)")
            }
            // An empty path is the current directory, or the watched directory for tensorboard: ''.
            guard mayBeEmpty || !value.isEmpty else { throw bad(key, "is empty") }
        }
        if let command = self.execCommand, command.count > 256 {
            throw bad("alerts.exec.command", "has \(command.count) arguments; at most 256")
        }
        if let inputSize = self.inputSize, !(1...ModelLimits.extent).contains(inputSize) {
            throw bad("input_size", "must be in 1...\(ModelLimits.extent)")
        }
        // Every wait becomes a `Duration` or an integer count of nanoseconds, which traps on an infinite,
        // NaN or enormous value: check each here, naming its key, so a bad file is a one-line error at
        // start-up and a rejected reload on SIGHUP, never a crash.
        func seconds(_ value: Double, _ key: String, zeroAllowed: Bool = false) throws(ConfigurationError) {
            let lowest = zeroAllowed ? 0 : Self.minimumSeconds
            guard value.isFinite, value >= lowest, value <= Self.maximumSeconds else {
                throw bad(key, "must be a number of seconds, at least \(zeroAllowed ? "0" : "\(lowest)") and at most "
                    + "\(Int(Self.maximumSeconds)) (1 day); got \(value)")
            }
        }
        try seconds(self.interval, "watch.interval (--interval)")
        try seconds(self.settle, "watch.settle", zeroAllowed: true)
        try seconds(self.incompleteAfter, "watch.incomplete_after")
        try seconds(self.execTimeout, "alerts.exec.timeout")
        try seconds(self.webhookTimeout, "alerts.webhook.timeout")
        let rule = self.convergence
        guard rule.threshold > 0 && rule.threshold < 1 else { throw bad("convergence.threshold", "must be in (0, 1)") }
        guard rule.settleRatio > 0 && rule.settleRatio < 1 else { throw bad("convergence.settle_ratio", "must be in (0, 1)") }
        guard rule.weightSettleRatio > 0 && rule.weightSettleRatio < 1 else {
            throw bad("convergence.weight_settle_ratio", "must be in (0, 1)")
        }
        guard rule.patience >= 1 else { throw bad("convergence.patience", "must be at least 1") }
        guard rule.hysteresis >= 1 && rule.hysteresis.isFinite else {
            throw bad("convergence.hysteresis", "must be a number of at least 1")
        }
        guard (1...1024).contains(self.batchSize) else { throw bad("score_cam.batch_size", "must be in 1...1024") }
        if let threads = self.threads, !(1...256).contains(threads) { throw bad("resources.threads", "must be in 1...256") }
        guard (1...1_000_000).contains(self.everyNth) else { throw bad("resources.every_nth", "must be in 1...1000000") }
        if let topChannels = self.topChannels, topChannels < 1 { throw bad("resources.top_channels", "must be at least 1") }
        guard (2...1000).contains(self.maxColumns) else { throw bad("timeline.max_columns", "must be in 2...1000") }
        guard (0...1).contains(self.alpha) else { throw bad("timeline.alpha", "must be in 0...1") }
        for values in [self.preprocessingFlags, self.preprocessingFile] {
            guard values.mean.map({ $0.count == 3 }) ?? true, values.std.map({ $0.count == 3 && !$0.contains(0) }) ?? true else {
                throw bad(nil, "preprocessing.mean and .std take 3 values each, std non-zero")
            }
        }
        // A NaN or infinite mean, std or scale turns every input into NaN, and the heatmaps with it.
        if let problem = self.preprocessing.problem { throw bad(nil, "preprocessing: \(problem)") }
        if let execCommand = self.execCommand, execCommand.isEmpty { throw bad("alerts.exec.command", "is empty") }
        guard (0...100).contains(self.webhookRetries) else { throw bad("alerts.webhook.retries", "must be in 0...100") }
    }
}

extension WatchConfiguration {
    /// The configuration from an optional file with the flags laid over it.
    /// - Throws: `ConfigurationError` for a bad file, a bad value or a missing required setting.
    public static func resolve(file path: String?, overrides: Overrides) throws(ConfigurationError) -> WatchConfiguration {
        let file = try path.map { (p: String) throws(ConfigurationError) in try ConfigFile.read(p) }
            ?? ConfigFile()
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
        let flags = overrides.model
        let arch = flags.arch ?? (flags.model == nil ? file.arch : nil)
        let model = flags.model ?? (flags.arch == nil ? file.model : nil)
        switch (arch, model) {
        case (.some, .some): throw ConfigurationError(path: path, reason: "give arch or model, not both")
        case (.some(let arch), nil): c.architecture = .zoo(arch)
        case (nil, .some(let model)): c.architecture = .specFile(model)
        case (nil, nil): c.architecture = .automatic
        }
        c.layer = overrides.layer ?? file.layer
        // Flags, then the file, then (per checkpoint) its attributes, the model spec, the default: `validate`
        // checks the values given here, `CheckpointProcessor.preprocessing` resolves them per checkpoint.
        c.preprocessingFlags = overrides.preprocessing.values
        c.preprocessingFile = PreprocessingValues(inputSize: file.inputSize)
        if let p = file.preprocessing {
            (c.preprocessingFile.mean, c.preprocessingFile.std, c.preprocessingFile.scale) = (p.mean, p.std, p.scale)
            c.preprocessingFile.channelOrder = p.channelOrder?.value
        }
        c.interval = overrides.interval ?? file.watch?.interval ?? c.interval
        c.settle = file.watch?.settle ?? c.settle
        c.incompleteAfter = file.watch?.incompleteAfter ?? c.incompleteAfter
        c.inotify = file.watch?.inotify ?? c.inotify
        if let settings = file.convergence {
            // A threshold without a mode is a config from before the relative rule: it meant the absolute one.
            let mode = settings.mode?.value ?? (settings.threshold == nil ? .relative : .absolute)
            // A setting the chosen rule does not use would be silently ignored: refuse it instead.
            if mode == .relative, settings.threshold != nil {
                throw ConfigurationError(path: path, key: "convergence.threshold", .invalid("needs mode: absolute"))
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
        c.priority = overrides.priority ?? file.resources?.priority?.value ?? c.priority
        c.everyNth = file.resources?.everyNth ?? c.everyNth
        c.maxColumns = file.timeline?.maxColumns ?? c.maxColumns
        c.colormap = file.timeline?.colormap?.value ?? c.colormap
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
        c.logLevel = file.logLevel?.value ?? c.logLevel
        c.once = overrides.once
        try c.applySaliency(file.saliency, path: path)
        do { try c.validate() } catch { throw error.inFile(path) }
        return c
    }
}

extension WatchConfiguration {
    /// The exec hook's settings, when `alerts.exec` is configured.
    public var execHook: ExecHook.Configuration? {
        self.execCommand.map { ExecHook.Configuration(command: $0, timeout: .seconds(self.execTimeout)) }
    }

    /// The webhook's settings, when `alerts.webhook` is configured (the URL read from its file).
    /// - Throws: `ConfigurationError` when the URL file cannot be read or the URL is not usable.
    public func webhook() throws(ConfigurationError) -> Webhook.Configuration? {
        guard let url = try resolvedWebhookURL() else { return nil }
        let configuration = Webhook.Configuration(url: url, timeout: .seconds(self.webhookTimeout), retries: self.webhookRetries)
        if let reason = configuration.invalidReason {
            throw ConfigurationError(path: self.webhookURLFile, reason: "alerts.webhook: \(reason)")
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
    /// This (reloaded) configuration with the restart settings kept at `old`'s, and the names of those the
    /// file changed (they take effect at the next start).
    func keepingRestartOnly(from old: WatchConfiguration) -> (applied: WatchConfiguration, changed: [String]) {
        (WatchConfiguration(restart: old.restart, live: live), restart.changes(from: old.restart))
    }

    init(restart: RestartSettings, live: LiveSettings) {
        self.restart = restart
        self.live = live
    }
}
