import CamwatchCheckpoint
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

/// Finds the architecture for a checkpoint in design.md §2.2's order.
enum ModelCatalog {
    static var zooNames: String { ModelZoo.names.joined(separator: ", ") }

    /// The spec named by the options, else the checkpoint's own, else a model.json/.yaml beside it.
    static func spec(options: ModelOptions, checkpoint: Checkpoint?, weightsPath: String) throws -> (ModelSpec, String) {
        if let arch = options.arch {
            guard let spec = ModelZoo.spec(named: arch) else {
                throw CLIError("unknown architecture '\(arch)'; known: \(zooNames)")
            }
            return (spec, "zoo:\(arch)")
        }
        if let model = options.model { return (try readSpec(at: model), model) }
        if let text = checkpoint?.modelSpec {
            do { return (try ModelSpec.parse(text), "\(weightsPath) (camwatch_model)") } catch {
                throw CLIError("\(weightsPath): attribute camwatch_model: \(error)")
            }
        }
        if let arch = checkpoint?.arch, let spec = ModelZoo.spec(named: arch) { return (spec, "zoo:\(arch) (arch attribute)") }
        let directory = URL(fileURLWithPath: weightsPath).deletingLastPathComponent()
        for name in ["model.json", "model.yaml", "model.yml"] {
            let candidate = directory.appendingPathComponent(name).path
            if FileManager.default.fileExists(atPath: candidate) { return (try readSpec(at: candidate), candidate) }
        }
        throw CLIError("\(weightsPath): no architecture: pass --arch NAME or --model FILE, or store a camwatch_model "
            + "attribute or a model.json beside the checkpoint")
    }

    static func readSpec(at path: String) throws -> ModelSpec {
        guard let data = FileManager.default.contents(atPath: path) else { throw CLIError("\(path): cannot read the model spec") }
        do { return try ModelSpec.parse(String(decoding: data, as: UTF8.self)) } catch { throw CLIError("\(path): \(error)") }
    }

    /// Reads a checkpoint in a child process (`camwatch load-checkpoint-child`): libhdf5 can crash or
    /// hang on some damaged files, and that must end in a one-line error, not in a crash of camwatch.
    static func readCheckpoint(_ path: String) throws -> Checkpoint {
        do {
            return try CheckpointSubprocess.load(path: path, command: [Runtime.executablePath, LoadCheckpointChild.name])
        } catch { throw CLIError("\(error)") }
    }

    /// Loads `weightsPath` and binds it.
    static func load(weightsPath: String, options: ModelOptions) throws -> LoadedModel {
        let checkpoint = try readCheckpoint(weightsPath)
        let (spec, source) = try spec(options: options, checkpoint: checkpoint, weightsPath: weightsPath)
        do {
            let network = try Network(spec: spec, parameters: checkpoint.tensors)
            return LoadedModel(checkpoint: checkpoint, spec: spec, specSource: source, network: network)
        } catch {
            throw CLIError("\(weightsPath): \(error) (architecture from \(source))")
        }
    }
}

/// A one-line error for the command line; ArgumentParser prints it on stderr and exits non-zero.
struct CLIError: Error, CustomStringConvertible {
    var description: String
    init(_ description: String) { self.description = description }
}
