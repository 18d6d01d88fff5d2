import CamwatchCheckpoint
import CamwatchDaemon
import CamwatchNN
import Foundation

/// Loads a checkpoint and binds it to its architecture, as every command needs.
struct LoadedModel {
    var checkpoint: Checkpoint
    var spec: ModelSpec
    /// Where the architecture came from, for `inspect` and logs.
    var specSource: String
    var network: Network
}

/// Finds the architecture for a checkpoint in docs/architecture.md §2.2's order (`ArchitectureSource`).
enum ModelCatalog {

    /// Reads a checkpoint in a child process (`camwatch load-checkpoint-child`): libhdf5 can crash or
    /// hang on some damaged files, and that must end in a one-line error, not in a crash of camwatch.
    /// Its notes (a `module.` prefix removed) go to stderr, one line each naming the file.
    static func readCheckpoint(_ path: String) throws -> Checkpoint {
        let checkpoint: Checkpoint
        do {
            checkpoint = try CheckpointSubprocess.load(path: path, command: [Runtime.executablePath, LoadCheckpointChild.name])
        } catch { throw CLIError("\(error)") }
        for note in checkpoint.notes { Output.warn("\(path): \(note)") }
        return checkpoint
    }

    /// Loads `weightsPath` and binds it.
    static func load(weightsPath: String, options: ModelOptions) throws -> LoadedModel {
        let checkpoint = try readCheckpoint(weightsPath)
        do {
            let (network, spec, source) = try options.source.network(for: checkpoint, path: weightsPath)
            return LoadedModel(checkpoint: checkpoint, spec: spec, specSource: source, network: network)
        } catch { throw CLIError("\(error)") }
    }
}

/// A one-line error for the command line; ArgumentParser prints it on stderr and exits non-zero.
struct CLIError: Error, CustomStringConvertible {
    var description: String
    init(_ description: String) { self.description = description }
}
