import CamwatchCheckpoint
import CamwatchImage
import CamwatchMonitor
import CamwatchNN
import CamwatchSaliency
import CamwatchTensor
import Foundation
import Logging

/// One checkpoint on its way through the pipeline: the trainer's file, its private copy, what loading it gave.
struct PendingCheckpoint: Sendable {
    var file: CheckpointFile
    var snapshotPath: String
    var loaded: Result<Checkpoint, CheckpointFailure>
    var loadSeconds: Double

    var label: CheckpointLabel { CheckpointLabel(id: file.id, name: file.name) }
}

/// Why a checkpoint is a `failed` entry, typed until it is written down: one line, `"<file>: <reason>"`,
/// always about the trainer's file (the private copy the reader read is an implementation detail).
enum CheckpointFailure: Error, Sendable, CustomStringConvertible {
    /// The reader's verdict on the file, or the reader's own failure after `attempts` tries (`.readerFailed`).
    case unreadable(CheckpointError, attempts: Int?)
    /// No architecture fits it. The error names the file it read (`ArchitectureError.path`): the checkpoint, or a
    /// model spec beside it; the checkpoint is named first when it is not that file.
    case architecture(file: String, ArchitectureError)
    /// An input attribute of the checkpoint (`input_size`, `mean`, `std`, `scale`) cannot be used.
    case inputAttributes(CheckpointError)
    /// The CAM method or a probe failed on it.
    case analysis(file: String, AnalysisError)

    /// Whether camwatch's own reader failed (killed, crashed, timed out, could not start): no verdict on the
    /// file, which is read again later (`Report.retrying`) instead of becoming a `failed` entry.
    var isReaderFailure: Bool {
        if case .unreadable(let error, _) = self { return error.isTransient }
        return false
    }

    /// Whether the checkpoint was read and holds NaN or infinite weights: training diverged.
    var isDivergence: Bool {
        if case .unreadable(let error, _) = self { return error.kind == .nonFinite }
        return false
    }

    var description: String {
        switch self {
        case .unreadable(let error, let attempts): attempts.map { "\(error) (\($0) attempts)" } ?? error.description
        case .architecture(let file, let error):
            error.path == file ? error.description : "\(file): \(error)"
        case .inputAttributes(let error): error.description
        case .analysis(let file, let error): "\(file): \(error)"
        }
    }
}

/// How the pipeline reads a private copy of a checkpoint: in the daemon, camwatch's reader child; in tests of
/// the pipeline, a stub in this process.
struct SnapshotReader: Sendable {
    /// Reads the copy at `path` at `priority`, calling `heartbeat` every second while it waits.
    /// - Throws: the reader's verdict on the file, or `.readerFailed` when the reader itself failed.
    var read: @Sendable (_ path: String, _ priority: ComputePriority, _ heartbeat: (@Sendable () -> Void)?)
        throws(CheckpointError) -> Checkpoint

    /// The child process that parses checkpoints (`camwatch load-checkpoint-child`): libhdf5 can crash on
    /// damaged files, and that must cost one failed entry, not the daemon.
    static func child(_ command: [String]) -> SnapshotReader {
        SnapshotReader { path, priority, heartbeat throws(CheckpointError) in
            // A beat every second: the watchdog's period may be as short as 2 s.
            try CheckpointSubprocess.load(
                path: path, command: command, priority: priority, heartbeatInterval: .seconds(1), heartbeat: heartbeat)
        }
    }
}

/// Loads, orders and analyses checkpoints; records each in the session.
struct CheckpointProcessor: Sendable {
    var reader: SnapshotReader
    var configuration: WatchConfiguration
    /// Measures load times and waits between reader attempts.
    var clock: any PipelineClock

    init(reader: SnapshotReader, configuration: WatchConfiguration, clock: any PipelineClock = SystemPipelineClock()) {
        self.reader = reader
        self.configuration = configuration
        self.clock = clock
    }

    /// A processor reading with camwatch's reader child `childCommand`.
    init(childCommand: [String], configuration: WatchConfiguration) {
        self.init(reader: .child(childCommand), configuration: configuration)
    }

    /// Attempts at one checkpoint, one right after the other, when the reader itself fails (killed, crashed,
    /// timed out: `.readerFailed`). A reader killed by memory pressure beside a trainer is no verdict on the
    /// file: after these the daemon reads it again later, at growing intervals (`pause(after:)`), and `--once`
    /// reports it unread.
    static let readerAttempts = 3
    /// The first pause after a failed reader; each later one doubles it (the moment of memory pressure may pass).
    var retryPause: Duration = .seconds(5)
    /// The longest pause between two attempts: a reader that keeps failing is tried every 10 minutes for as
    /// long as the daemon runs (one child process each time, which costs little), so a good checkpoint caught
    /// in a long stretch of memory pressure is never given up on.
    static let longestPause: Duration = .seconds(600)

    /// The pause after `attempts` failed reader attempts before the next: 5 s, 10 s, 20 s, … up to 10 minutes.
    func pause(after attempts: Int) -> Duration {
        let doublings = min(max(attempts - 1, 0), 20)
        return min(retryPause * (1 << doublings), Self.longestPause)
    }

    /// Parses a private copy in the child, retrying a failed reader; errors name the trainer's file.
    ///
    /// - Parameters:
    ///   - heartbeat: called every second while the child reads (the watchdog's heartbeat).
    ///   - attemptsBefore: reader attempts made at this checkpoint earlier (a later round counts on from
    ///     them and makes one attempt: the pause before it was the long one).
    ///   - isCancelled: when true, a failed reader is not tried again (shutdown).
    ///   - retrying: told, in one line, about each failed attempt that is retried.
    func load(
        _ file: CheckpointFile, snapshotPath: String, heartbeat: (@Sendable () -> Void)? = nil, attemptsBefore: Int = 0,
        isCancelled: () -> Bool = { false }, retrying: ((String) -> Void)? = nil
    ) -> PendingCheckpoint {
        let start = clock.now
        // The child read the private copy; what it says is about the trainer's file.
        func named(_ error: CheckpointError) -> CheckpointError {
            var error = error
            error.path = file.path
            return error
        }
        var loaded: Result<Checkpoint, CheckpointFailure>
        var attempt = attemptsBefore + 1
        while true {
            do throws(CheckpointError) {
                var checkpoint = try reader.read(snapshotPath, configuration.priority, heartbeat)
                // What is found wrong with it later (its input attributes) names the trainer's file too.
                checkpoint.path = file.path
                // Keras files carry no learning rate or validation metrics; a CSVLogger file beside them does.
                let directory = URL(fileURLWithPath: file.path).deletingLastPathComponent().path
                checkpoint.attributes.merge(KerasTrainingLog.attributes(for: checkpoint, directory: directory)) { own, _ in own }
                loaded = .success(checkpoint)
                break
            } catch where error.isTransient && attempt < Self.readerAttempts && !isCancelled() {
                retrying?("\(named(error)); trying again (attempt \(attempt + 1) of \(Self.readerAttempts))")
                clock.sleep(for: pause(after: attempt))
                attempt += 1
            } catch {
                loaded = .failure(.unreadable(named(error), attempts: error.isTransient ? attempt : nil))
                break
            }
        }
        return PendingCheckpoint(file: file, snapshotPath: snapshotPath, loaded: loaded,
                                 loadSeconds: (clock.now - start).seconds)
    }

    /// Processing order within a batch (docs/architecture.md §6): by `step`, else `epoch`, else natural name order,
    /// else modification time. Checkpoints that failed to load keep their name order among the rest.
    static func ordered(_ batch: [PendingCheckpoint]) -> [PendingCheckpoint] {
        func key(_ pending: PendingCheckpoint) -> (step: Int?, epoch: Int?) {
            guard case .success(let checkpoint) = pending.loaded else { return (nil, nil) }
            return (checkpoint.step, checkpoint.epoch)
        }
        return batch.sorted { a, b in
            let (ka, kb) = (key(a), key(b))
            if let sa = ka.step, let sb = kb.step, sa != sb { return sa < sb }
            if let ea = ka.epoch, let eb = kb.epoch, ea != eb { return ea < eb }
            if a.file.name != b.file.name { return CheckpointFile.naturalOrder(a.file.name, b.file.name) }
            return a.file.mtimeNanoseconds < b.file.mtimeNanoseconds
        }
    }

    /// What analysing one checkpoint gave, with how its input was made and which layer was explained (for the
    /// log: where each preprocessing value came from, and a warning when the layer's map is coarse).
    struct Analysed {
        var analysis: CheckpointAnalysis
        var input: ResolvedPreprocessing
        var target: CAMTarget
    }

    /// A checkpoint's network ready for the CAM method: bound to an architecture, its input resolved and taken
    /// by the network, the layer to explain chosen at that input size.
    struct Binding {
        var network: Network
        var spec: ModelSpec
        /// Where the architecture came from (`--arch`, a model.json beside it, the checkpoint's attribute …).
        var source: String
        var input: ResolvedPreprocessing
        var target: CAMTarget
    }

    /// The step of ``bind(_:path:layer:)`` that failed, with its cause. The pipeline records any of them as the
    /// checkpoint's failure (`failure(path:)`); the start-up check stops the start on those the settings cause
    /// (a `--layer` the network lacks, an input size set by the flags or the config file).
    enum BindFailure: Error {
        /// No architecture fits the checkpoint, or its weights do not bind.
        case architecture(ArchitectureError)
        /// The named layer does not exist or has no spatial output: wrong at any input size, so checked first.
        case layer(any Error, source: String)
        /// An input attribute of the checkpoint (`input_size`, `mean`, `std`, `scale`) cannot be used.
        case inputAttributes(CheckpointFailure)
        /// The network does not take an input of the resolved size.
        case inputSize(ResolvedPreprocessing, any Error)
        /// No layer to explain at that size (the default has no spatial output there).
        case target(any Error, source: String)

        /// The checkpoint's `failed` entry: one line naming `path`.
        func failure(path: String) -> CheckpointFailure {
            switch self {
            case .architecture(let error): .architecture(file: path, error)
            case .layer(let error, _), .target(let error, _): .analysis(file: path, .method(error))
            case .inputAttributes(let failure): failure
            case .inputSize(let input, let error):
                .analysis(
                    file: path,
                    .inputSize(height: input.preprocessing.height, width: input.preprocessing.width, error))
            }
        }
    }

    /// Binds `checkpoint` to its architecture, resolves its input and chooses the layer to explain: the path
    /// every checkpoint takes before its CAM method runs, in the pipeline and in the start-up check.
    /// - Parameter choose: the layer to explain (a name or module prefix) once the architecture is known, from
    ///   its name; `nil` for the default at the input size.
    func bind(_ checkpoint: Checkpoint, path: String, layer choose: (_ architecture: String) -> String?)
        throws(BindFailure) -> Binding
    {
        let bound: (network: Network, spec: ModelSpec, source: String)
        do { bound = try configuration.architecture.network(for: checkpoint, path: path) } catch {
            throw .architecture(error)
        }
        let layer = choose(bound.spec.name)
        if let layer {
            do { _ = try bound.network.camTargetIndex(layer) } catch { throw .layer(error, source: bound.source) }
        }
        let input: ResolvedPreprocessing
        do { input = try preprocessing(for: checkpoint, spec: bound.spec) } catch { throw .inputAttributes(error) }
        let (height, width) = (input.preprocessing.height, input.preprocessing.width)
        do { try bound.network.validate(inputHeight: height, inputWidth: width) } catch {
            throw .inputSize(input, error)
        }
        let target: CAMTarget
        do { target = try bound.network.camTarget(layer, inputHeight: height, inputWidth: width) } catch {
            throw .target(error, source: bound.source)
        }
        return Binding(network: bound.network, spec: bound.spec, source: bound.source, input: input, target: target)
    }

    /// The configured CAM method set up on `binding`'s network at its target layer: what the analysis explains
    /// every probe with, and what the start-up check builds to know that it can.
    func explainer(for binding: Binding) throws -> CAMExplainer {
        var options = configuration.methodOptions
        options.scoreCAM = configuration.scoreCAMOptions
        return try CAMExplainer(
            method: configuration.method, network: binding.network, targetLayer: binding.target.name, options: options)
    }

    /// Binds the checkpoint and runs the configured CAM method on every probe.
    /// - Parameters:
    ///   - runLayer: the layer the run's earlier checkpoints were explained at, when no layer is configured: a
    ///     resumed run keeps it (its heatmaps stay comparable), whatever the default is now.
    ///   - runModel: the model of the run's last processed checkpoint; a checkpoint of another model starts a new
    ///     segment and gets its own default layer instead of `runLayer`.
    /// - Throws: `CheckpointFailure` naming `path`; `CancellationError` when the task is cancelled (shutdown).
    func analyze(
        _ checkpoint: Checkpoint, path: String, probes: ProbeSet, runLayer: String? = nil,
        runModel: ModelIdentity? = nil, isCancelled: @escaping @Sendable () -> Bool, progress: (@Sendable (Int, Int, Int) -> Void)?
    ) throws -> Analysed {
        let binding: Binding
        do {
            binding = try bind(checkpoint, path: path) { architecture in
                // The run's layer holds for the same model only: another one starts a segment with its own default.
                let sameModel = runModel.map {
                    ModelIdentity(architecture: architecture, tensors: checkpoint.tensors).change(from: $0) == nil
                } ?? true
                return configuration.layer ?? (sameModel ? runLayer : nil)
            }
        } catch { throw error.failure(path: path) }
        do {
            var analysis = try CheckpointAnalysis.run(
                network: binding.network, probes: probes, layer: binding.target.name,
                preprocessing: binding.input.preprocessing, options: configuration.scoreCAMOptions,
                method: configuration.method, methodOptions: configuration.methodOptions, metrics: configuration.metrics,
                isCancelled: isCancelled, progress: progress)
            analysis.architecture = binding.spec.name
            return Analysed(analysis: analysis, input: binding.input, target: binding.target)
        } catch let error as AnalysisError {
            throw CheckpointFailure.analysis(file: path, error)
        }
    }

    /// The input size before any checkpoint is read: the flags, the config file, the spec, else 224.
    func inputSize(spec: ModelSpec?) -> (height: Int, width: Int) {
        let p = PreprocessingResolver.resolve(
            flags: configuration.preprocessingFlags, config: configuration.preprocessingFile, spec: spec).preprocessing
        return (p.height, p.width)
    }

    /// How probes become this checkpoint's input, and where each value came from: ``PreprocessingResolver``'s
    /// rule (the flags, the config file, the checkpoint's attributes, the model spec, the default), the one
    /// `predict`, `explain` and `inspect` follow too.
    /// - Throws: `.inputAttributes` when an input attribute of the checkpoint cannot be used.
    func preprocessing(for checkpoint: Checkpoint, spec: ModelSpec?) throws(CheckpointFailure) -> ResolvedPreprocessing {
        do {
            return try PreprocessingResolver.resolve(
                flags: configuration.preprocessingFlags, config: configuration.preprocessingFile, checkpoint: checkpoint,
                spec: spec)
        } catch { throw .inputAttributes(error) }
    }
}
