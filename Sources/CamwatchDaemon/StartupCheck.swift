import CamwatchCheckpoint
import CamwatchImage
import CamwatchNN
import CamwatchSaliency
import Foundation

/// The start-up checks that need the file system or a checkpoint (docs/architecture.md §6: a bad start exits non-zero
/// before anything is written): `--out` away from the watched directory, and the architecture, layer and
/// input size against the first complete checkpoint already in the directory.
enum StartupCheck {
    /// The start-up check's private copies go to `<temporary directory>/<prefix><pid>`.
    static let stagingPrefix = "camwatch-startup-"

    /// Refuses an output directory that is the watched directory or inside it: camwatch would find its own
    /// `heatmaps.h5` there as a checkpoint.
    static func checkOutput(_ configuration: WatchConfiguration) throws(ConfigurationError) {
        let watched = resolved(configuration.checkpoints)
        let out = resolved(configuration.out)
        // Paths can differ for the same directory (a bind mount): compare what the file system says, too.
        let sameDirectory = out == watched || sameFile(configuration.out, configuration.checkpoints)
        guard sameDirectory || out.hasPrefix(watched == "/" ? "/" : watched + "/") else { return }
        let where_ = sameDirectory ? "is the watched directory" : "is inside the watched directory \(configuration.checkpoints)"
        throw ConfigurationError(
            path: configuration.out,
            reason: "--out \(where_); camwatch would read its own outputs (heatmaps.h5) as checkpoints: "
                + "give an output directory outside it")
    }

    /// Whether both paths exist and name the same file (device and inode).
    static func sameFile(_ a: String, _ b: String) -> Bool {
        guard case .success(let first) = WatcherSystemCalls.pathStatus(a),
            case .success(let second) = WatcherSystemCalls.pathStatus(b)
        else { return false }
        return first.device == second.device && first.inode == second.inode
    }

    /// The absolute path with symbolic links resolved, as far as it exists (an `--out` may not yet).
    static func resolved(_ path: String) -> String {
        var url = URL(fileURLWithPath: path).standardizedFileURL
        var missing: [String] = []
        while !FileManager.default.fileExists(atPath: url.path), url.path != "/" {
            missing.insert(url.lastPathComponent, at: 0)
            url.deleteLastPathComponent()
        }
        var base = url.resolvingSymlinksInPath().path
        for component in missing { base = (base as NSString).appendingPathComponent(component) }
        return base
    }

    /// Loads the first complete checkpoint in the directory (a private copy, in a child process) and checks
    /// that its architecture resolves, its weights bind, the layer exists and the network accepts the input
    /// size. A checkpoint that cannot be loaded is not a start-up error (it becomes a `failed` entry); the
    /// next one is tried, up to 3. Nothing to check when the directory holds no complete checkpoint yet.
    /// - Returns: the file checked and the input size it gave, for the start-up log line.
    /// - Throws: `ConfigurationError` naming the checkpoint and what does not fit.
    static func checkFirstCheckpoint(
        _ configuration: WatchConfiguration, watcher: CheckpointWatcher, childCommand: [String]
    ) throws(ConfigurationError) -> (file: String, inputSize: (height: Int, width: Int))? {
        let staging = FileManager.default.temporaryDirectory
            .appendingPathComponent(stagingPrefix + "\(ProcessInfo.processInfo.processIdentifier)").path
        defer { try? FileManager.default.removeItem(atPath: staging) }
        let processor = CheckpointProcessor(childCommand: childCommand, configuration: configuration)
        for file in watcher.completeFiles(limit: 3) {
            let snapshot: CheckpointSnapshot
            do {
                snapshot = try CheckpointSnapshot.copy(
                    file, into: staging, watchedDirectory: watcher.directory, synchronize: false, afterCopy: nil)
            } catch { continue }
            let pending = processor.load(file, snapshotPath: snapshot.path)
            snapshot.remove()
            guard case .success(let checkpoint) = pending.loaded else { continue }
            return try check(checkpoint, file: file, processor: processor)
        }
        return nil
    }

    static func check(_ checkpoint: Checkpoint, file: CheckpointFile, processor: CheckpointProcessor)
        throws(ConfigurationError) -> (file: String, inputSize: (height: Int, width: Int))
    {
        let configuration = processor.configuration
        let bound: (network: Network, spec: ModelSpec, source: String)
        do { bound = try configuration.architecture.network(for: checkpoint, path: file.path) } catch {
            throw ConfigurationError(path: nil, reason: error.description)
        }
        // An unknown layer first: it is a mistake whatever the input size.
        do {
            _ = try bound.network.camTargetIndex(configuration.layer)
        } catch {
            throw ConfigurationError(path: file.path, reason: "\(error) (architecture from \(bound.source))")
        }
        let input: ResolvedPreprocessing
        do { input = try processor.preprocessing(for: checkpoint, spec: bound.spec) } catch {
            throw ConfigurationError(path: nil, reason: error.description)
        }
        let preprocessing = input.preprocessing
        do { try bound.network.validate(inputHeight: preprocessing.height, inputWidth: preprocessing.width) } catch {
            throw ConfigurationError(
                path: file.path,
                reason: "the network does not take a \(preprocessing.width)×\(preprocessing.height) input "
                    + "(input size from \(input.sizeSource)): \(error)")
        }
        return (file.path, (preprocessing.height, preprocessing.width))
    }
}
