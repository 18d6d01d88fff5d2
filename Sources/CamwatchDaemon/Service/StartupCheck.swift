import CamwatchCheckpoint
import CamwatchImage
import CamwatchMonitor
import CamwatchNN
import CamwatchSaliency
import Foundation
import Synchronization

/// The start-up checks that need the file system or a checkpoint (docs/architecture.md §6: a bad start exits non-zero
/// before anything is written): `--out` and `--tensorboard` away from the watched directory, and the layer and
/// input size against the first checkpoint in the directory that can be analysed.
///
/// Only what is wrong for every checkpoint stops the start. A checkpoint that cannot be read or bound is data:
/// it becomes a `failed` entry once the watcher runs. Stopping on it would make a service that restarts on
/// failure (systemd's `Restart=on-failure`) restart forever without watching anything.
enum StartupCheck {
    /// The start-up check's private copies go to `<temporary directory>/<prefix><pid>-<n>`, `n` counting the checks
    /// of this process: two checks at once (tests run them in parallel) must not remove each other's copies.
    static let stagingPrefix = "camwatch-startup-"
    private static let checksStarted = Atomic<Int>(0)

    /// The process id in a start-up staging directory's name (`<prefix><pid>` or `<prefix><pid>-<n>`, nothing
    /// else: other programs' and tests' directories may start with the prefix too), if it is one.
    static func stagingProcess(_ name: String) -> Int32? {
        guard name.hasPrefix(stagingPrefix) else { return nil }
        let numbers = name.dropFirst(stagingPrefix.count).split(separator: "-", omittingEmptySubsequences: false)
        guard numbers.count <= 2, numbers.allSatisfy({ !$0.isEmpty && $0.allSatisfy { $0.isASCII && $0.isNumber } })
        else { return nil }
        return Int32(numbers[0])
    }
    /// How many complete checkpoints the check tries before starting anyway.
    static let attempts = 3

    /// Refuses an output or TensorBoard directory that is the watched directory or inside it: camwatch would
    /// write into the trainer's directory and find its own files there as checkpoints.
    static func checkOutput(_ configuration: WatchConfiguration) throws(ConfigurationError) {
        try refuseInsideWatched(
            configuration.out, key: "--out", configuration: configuration,
            consequence: "camwatch would read its own outputs (heatmaps.h5) as checkpoints: give an output directory outside it")
        try checkTensorBoard(configuration)
    }

    /// Refuses a TensorBoard directory in the watched directory (also checked on a reload, which may change it).
    static func checkTensorBoard(_ configuration: WatchConfiguration) throws(ConfigurationError) {
        guard let tensorboard = configuration.tensorboard else { return }
        try refuseInsideWatched(
            tensorboard, key: "tensorboard (--tensorboard)", configuration: configuration,
            consequence: "camwatch would write its event file into the trainer's directory and watch it there: "
                + "give a log directory outside it")
    }

    /// Throws when `path` is the watched directory or inside it, by path or (a bind mount) by device and inode.
    private static func refuseInsideWatched(
        _ path: String, key: String, configuration: WatchConfiguration, consequence: String
    ) throws(ConfigurationError) {
        let watched = resolved(configuration.checkpoints)
        let target = resolved(path)
        // Paths can differ for the same directory (a bind mount): compare what the file system says, too.
        let sameDirectory = target == watched || sameFile(path, configuration.checkpoints)
        guard sameDirectory || ResolvedPath.isResolved(target, inside: watched) else { return }
        let where_ = sameDirectory ? "is the watched directory" : "is inside the watched directory \(configuration.checkpoints)"
        throw ConfigurationError(path: path, reason: "\(key) \(where_); \(consequence)")
    }

    /// Whether both paths exist and name the same file (device and inode).
    static func sameFile(_ a: String, _ b: String) -> Bool {
        guard case .success(let first) = DaemonSystemCalls.pathStatus(a),
            case .success(let second) = DaemonSystemCalls.pathStatus(b)
        else { return false }
        return first.device == second.device && first.inode == second.inode
    }

    /// The absolute path with symbolic links resolved, as far as it exists (`ResolvedPath.of`).
    static func resolved(_ path: String) -> String { ResolvedPath.of(path) }

    /// What the start-up check found.
    enum Finding {
        /// The first checkpoint that could be analysed, and the input size it gave.
        case checked(file: String, inputSize: (height: Int, width: Int))
        /// The checkpoints tried, none of which could be analysed, each with why: they will be `failed`
        /// entries, and the watcher starts anyway.
        case unusable([String])
        /// No complete checkpoint yet.
        case nothing
    }

    /// What a checkpoint says about the configuration.
    private enum Verdict {
        case fits(inputSize: (height: Int, width: Int))
        /// The checkpoint itself is the problem (its architecture, weights or attributes), not the settings.
        case unusable(String)
    }

    /// Loads the first complete checkpoints in the directory (private copies, in a child process), up to
    /// ``attempts``, until one can be analysed, and checks the layer and the input size against it.
    /// - Parameter recordedFailed: ids the run's report already holds as `failed`: judged, and not tried again
    ///   at every start.
    /// - Throws: `ConfigurationError` naming the checkpoint and the setting that does not fit it (an unknown
    ///   `--layer`, an `--input-size` the network does not take): wrong for every checkpoint.
    static func checkFirstCheckpoint(
        _ configuration: WatchConfiguration, watcher: CheckpointWatcher, reader: SnapshotReader,
        recordedFailed: Set<String> = []
    ) throws(ConfigurationError) -> Finding {
        let checkNumber = Self.checksStarted.add(1, ordering: .relaxed).newValue
        let staging = FileManager.default.temporaryDirectory
            .appendingPathComponent(stagingPrefix + "\(ProcessInfo.processInfo.processIdentifier)-\(checkNumber)").path
        defer { try? FileManager.default.removeItem(atPath: staging) }
        let processor = CheckpointProcessor(reader: reader, configuration: configuration)
        var unusable: [String] = []
        for file in watcher.completeFiles(limit: attempts, skipping: recordedFailed) {
            let snapshot: CheckpointSnapshot
            do {
                snapshot = try CheckpointSnapshot.copy(
                    file, into: staging, watchedDirectory: watcher.directory, synchronize: false, afterCopy: nil)
            } catch { continue }
            let pending = processor.load(file, snapshotPath: snapshot.path)
            snapshot.remove()
            switch pending.loaded {
            case .failure(let failure): unusable.append(failure.description)
            case .success(let checkpoint):
                switch try check(checkpoint, file: file, processor: processor) {
                case .fits(let inputSize): return .checked(file: file.path, inputSize: inputSize)
                case .unusable(let reason): unusable.append(reason)
                }
            }
        }
        return unusable.isEmpty ? .nothing : .unusable(unusable)
    }

    /// The checkpoint through the pipeline's own path (`CheckpointProcessor.bind`, then the configured CAM method
    /// set up on it); a failure the settings cause throws, one of the checkpoint's own makes it unusable.
    private static func check(_ checkpoint: Checkpoint, file: CheckpointFile, processor: CheckpointProcessor)
        throws(ConfigurationError) -> Verdict
    {
        let configuration = processor.configuration
        let binding: CheckpointProcessor.Binding
        do { binding = try processor.bind(checkpoint, path: file.path) { _ in configuration.layer } } catch {
            switch error {
            case .architecture(let cause):
                // No architecture, a broken camwatch_model, weights that do not bind: this file's content.
                return .unusable(CheckpointFailure.architecture(file: file.path, cause).description)
            case .layer(let cause, let source):
                // An unknown layer: a mistake whatever the input size (a named layer is always configured here).
                throw ConfigurationError(path: file.path, reason: "\(cause) (architecture from \(source))")
            case .inputAttributes(let failure):
                // The settings were validated before: what fails here is one of the checkpoint's attributes.
                return .unusable(failure.description)
            case .inputSize(let input, let cause):
                let reason = "the network does not take a \(input.preprocessing.height)×\(input.preprocessing.width) "
                    + "input (input size from \(input.sizeSource)): \(cause)"
                // A size the flags or the config file set is wrong for every checkpoint; one from the checkpoint is its own.
                guard input.size == .flag || input.size == .config else { return .unusable("\(file.path): \(reason)") }
                throw ConfigurationError(path: file.path, reason: reason)
            case .target(let cause, let source):
                // No default layer with a spatial output in this checkpoint's network.
                return .unusable("\(file.path): \(cause) (architecture from \(source))")
            }
        }
        // The configured method, set up as the analysis sets it up: one that cannot work on this network makes
        // the checkpoint a failed entry, as it would in the pipeline.
        do { _ = try processor.explainer(for: binding) } catch {
            return .unusable(CheckpointFailure.analysis(file: file.path, .method(error)).description)
        }
        let preprocessing = binding.input.preprocessing
        return .fits(inputSize: (preprocessing.height, preprocessing.width))
    }
}
