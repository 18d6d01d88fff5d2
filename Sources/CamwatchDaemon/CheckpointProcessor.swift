import CamwatchCheckpoint
import CamwatchImage
import CamwatchMonitor
import CamwatchNN
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
    /// No architecture fits it. The error names the file it read: the checkpoint, or a model spec beside it.
    case architecture(file: String, ArchitectureError)
    /// An input attribute of the checkpoint (`input_size`, `mean`, `std`, `scale`) cannot be used.
    case inputAttributes(CheckpointError)
    /// The CAM method or a probe failed on it.
    case analysis(file: String, AnalysisError)

    var description: String {
        switch self {
        case .unreadable(let error, let attempts): attempts.map { "\(error) (\($0) attempts)" } ?? error.description
        case .architecture(let file, let error):
            error.description.hasPrefix(file + ":") ? error.description : "\(file): \(error)"
        case .inputAttributes(let error): error.description
        case .analysis(let file, let error): "\(file): \(error)"
        }
    }
}

/// Loads, orders and analyses checkpoints; records each in the session.
struct CheckpointProcessor: Sendable {
    /// The child process that parses checkpoints (`camwatch load-checkpoint-child`): libhdf5 can crash on
    /// damaged files, and that must cost one failed entry, not the daemon.
    var childCommand: [String]
    var configuration: WatchConfiguration

    /// Attempts at one checkpoint when the reader itself fails (killed, crashed, timed out: `.readerFailed`),
    /// before it becomes a `failed` entry. A reader killed by memory pressure beside a trainer is no verdict on
    /// the file; a file that kills the reader every time is failed after the third.
    static let readerAttempts = 3
    /// The pause before a retry, times the attempts made (the moment of memory pressure may pass).
    var retryPause: Duration = .seconds(5)

    /// Parses a private copy in the child, retrying a failed reader; errors name the trainer's file.
    ///
    /// - Parameters:
    ///   - heartbeat: called every few seconds while the child reads (the caller pings the watchdog).
    ///   - isCancelled: when true, a failed reader is not tried again (shutdown).
    ///   - retrying: told, in one line, about each failed attempt that is retried.
    func load(
        _ file: CheckpointFile, snapshotPath: String, heartbeat: (@Sendable () -> Void)? = nil,
        isCancelled: () -> Bool = { false }, retrying: ((String) -> Void)? = nil
    ) -> PendingCheckpoint {
        let start = ContinuousClock.now
        // The child read the private copy; what it says is about the trainer's file.
        func named(_ error: CheckpointError) -> CheckpointError {
            var error = error
            error.path = file.path
            return error
        }
        var loaded: Result<Checkpoint, CheckpointFailure>
        var attempt = 1
        while true {
            do throws(CheckpointError) {
                var checkpoint = try CheckpointSubprocess.load(
                    path: snapshotPath, command: childCommand, priority: configuration.priority, heartbeat: heartbeat)
                // What is found wrong with it later (its input attributes) names the trainer's file too.
                checkpoint.path = file.path
                // Keras files carry no learning rate or validation metrics; a CSVLogger file beside them does.
                let directory = URL(fileURLWithPath: file.path).deletingLastPathComponent().path
                checkpoint.attributes.merge(KerasTrainingLog.attributes(for: checkpoint, directory: directory)) { own, _ in own }
                loaded = .success(checkpoint)
                break
            } catch where error.isTransient && attempt < Self.readerAttempts && !isCancelled() {
                retrying?("\(named(error)); trying again (attempt \(attempt + 1) of \(Self.readerAttempts))")
                Thread.sleep(forTimeInterval: (retryPause * attempt).seconds)
                attempt += 1
            } catch {
                loaded = .failure(.unreadable(named(error), attempts: error.isTransient ? attempt : nil))
                break
            }
        }
        return PendingCheckpoint(file: file, snapshotPath: snapshotPath, loaded: loaded,
                                 loadSeconds: (ContinuousClock.now - start).seconds)
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

    /// Builds the network and runs the configured CAM method on every probe; also says where the input size came from.
    /// - Throws: `CheckpointFailure` naming `path`; `CancellationError` when the task is cancelled (shutdown).
    func analyze(
        _ checkpoint: Checkpoint, path: String, probes: ProbeSet, isCancelled: @escaping @Sendable () -> Bool,
        progress: (@Sendable (Int, Int, Int) -> Void)?
    ) throws -> (analysis: CheckpointAnalysis, sizeSource: String) {
        let bound: (network: Network, spec: ModelSpec, source: String)
        do { bound = try configuration.architecture.network(for: checkpoint, path: path) } catch {
            throw CheckpointFailure.architecture(file: path, error)
        }
        let (preprocessing, source) = try self.preprocessing(for: checkpoint, spec: bound.spec)
        do {
            var analysis = try CheckpointAnalysis.run(
                network: bound.network, probes: probes, layer: configuration.layer, preprocessing: preprocessing,
                options: configuration.scoreCAMOptions, method: configuration.method,
                methodOptions: configuration.methodOptions, metrics: configuration.metrics, isCancelled: isCancelled,
                progress: progress)
            analysis.architecture = bound.spec.name
            return (analysis, source)
        } catch let error as AnalysisError {
            throw CheckpointFailure.analysis(file: path, error)
        }
    }

    /// `--input-size`, else the spec's `input_size`, else 224 (before any checkpoint is read).
    func inputSize(spec: ModelSpec?) -> (height: Int, width: Int) {
        if let size = configuration.inputSize { return (size, size) }
        if let size = spec?.inputSize { return (size.height, size.width) }
        return (224, 224)
    }

    /// How probes become this checkpoint's input, and where the size came from (for messages). The size:
    /// `--input-size` / `input_size:`, else the checkpoint's `input_size` attribute, else the model spec's,
    /// else 224. Mean, std and scale: the config file's, else the checkpoint's attributes, else ImageNet's.
    /// - Throws: `.inputAttributes` when an input attribute of the checkpoint cannot be used.
    func preprocessing(
        for checkpoint: Checkpoint, spec: ModelSpec?
    ) throws(CheckpointFailure) -> (preprocessing: Preprocessing, sizeSource: String) {
        let stored: Checkpoint.InputAttributes
        do { stored = try checkpoint.inputAttributes() } catch { throw .inputAttributes(error) }
        var preprocessing = configuration.preprocessing
        let source: String
        if let size = configuration.inputSize {
            (preprocessing.height, preprocessing.width) = (size, size)
            source = "--input-size / input_size in the config"
        } else if let height = stored.height, let width = stored.width {
            (preprocessing.height, preprocessing.width) = (height, width)
            source = "the checkpoint's input_size attribute"
        } else if let size = spec?.inputSize {
            (preprocessing.height, preprocessing.width) = (size.height, size.width)
            source = "the model spec's input_size"
        } else {
            (preprocessing.height, preprocessing.width) = (224, 224)
            source = "the default: no --input-size, no input_size attribute in the checkpoint or the model spec"
        }
        let explicit = configuration.explicitPreprocessing
        if !explicit.contains("mean"), let mean = stored.mean { preprocessing.mean = mean }
        if !explicit.contains("std"), let std = stored.std { preprocessing.std = std }
        if !explicit.contains("scale"), let scale = stored.scale { preprocessing.scale = scale }
        return (preprocessing, source)
    }
}
