import CamwatchCheckpoint
import CamwatchImage
import CamwatchMonitor
import CamwatchNN
import Foundation
import Logging

/// One checkpoint on its way through the pipeline: the trainer's file, its private copy, what loading it gave.
struct PendingCheckpoint: Sendable {
    var file: CheckpointFile
    var snapshotPath: String
    var loaded: Result<Checkpoint, LoadFailure>
    var loadSeconds: Double

    var label: CheckpointLabel { CheckpointLabel(id: file.id, name: file.name) }
}

/// Why a checkpoint could not be loaded, with the trainer's file named (not the private copy).
struct LoadFailure: Error, Sendable, CustomStringConvertible {
    var description: String
}

/// Loads, orders and analyses checkpoints; records each in the session.
struct CheckpointProcessor: Sendable {
    /// The child process that parses checkpoints (`camwatch load-checkpoint-child`): libhdf5 can crash on
    /// damaged files, and that must cost one failed entry, not the daemon.
    var childCommand: [String]
    var configuration: WatchConfiguration

    /// Parses a private copy in the child; errors name the trainer's file.
    func load(_ file: CheckpointFile, snapshotPath: String) -> PendingCheckpoint {
        let start = ContinuousClock.now
        let loaded: Result<Checkpoint, LoadFailure>
        do {
            loaded = .success(try CheckpointSubprocess.load(path: snapshotPath, command: childCommand))
        } catch {
            let message = "\(error)".replacingOccurrences(of: snapshotPath, with: file.path)
            loaded = .failure(LoadFailure(description: message.hasPrefix(file.path) ? message : "\(file.path): \(message)"))
        }
        return PendingCheckpoint(file: file, snapshotPath: snapshotPath, loaded: loaded,
                                 loadSeconds: (ContinuousClock.now - start).seconds)
    }

    /// Processing order within a batch (design.md §6): by `step`, else `epoch`, else natural name order,
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

    /// Builds the network and runs Score-CAM on every probe.
    /// - Throws: `CancellationError` when the task is cancelled (shutdown); any other error is a one-line reason.
    func analyze(
        _ checkpoint: Checkpoint, path: String, probes: ProbeSet, progress: (@Sendable (Int, Int, Int) -> Void)?
    ) throws -> CheckpointAnalysis {
        let bound: (network: Network, spec: ModelSpec, source: String)
        do { bound = try configuration.architecture.network(for: checkpoint, path: path) } catch {
            throw AnalysisError(error.description)
        }
        var preprocessing = configuration.preprocessing
        let size = inputSize(spec: bound.spec)
        preprocessing.height = size.height
        preprocessing.width = size.width
        return try CheckpointAnalysis.run(
            network: bound.network, probes: probes, layer: configuration.layer, preprocessing: preprocessing,
            options: configuration.scoreCAMOptions, progress: progress)
    }

    /// `--input-size`, else the spec's `input_size`, else 224.
    func inputSize(spec: ModelSpec?) -> (height: Int, width: Int) {
        if let size = configuration.inputSize { return (size, size) }
        if let size = spec?.inputSize { return (size.height, size.width) }
        return (224, 224)
    }
}
