public import CamwatchNN
import Foundation

/// Where a checkpoint's architecture comes from, in docs/architecture.md §2.2's order: a zoo name or a spec file
/// chosen by the user; else the checkpoint's own description (`camwatch_model` spec, `arch` attribute);
/// else a `model.json`/`model.yaml` beside the checkpoint.
public enum ArchitectureSource: Sendable, Equatable {
    /// A built-in architecture (`--arch`).
    case zoo(String)
    /// A spec file (`--model`).
    case specFile(String)
    /// Whatever the checkpoint or its directory says.
    case automatic

    /// The built-in architectures in a few words, for help texts.
    public static var zooSummary: String {
        "any of torchvision's \(ModelZoo.names.count) CNN classification builders by its name (resnet50, "
            + "efficientnet_b0, convnext_tiny, densenet121, regnet_y_400mf, …; docs/model-zoo.md)"
    }

    /// Why `name` is not a built-in architecture, with the closest names.
    static func unknownArchitecture(_ name: String) -> String {
        let close = ModelZoo.suggestions(for: name)
        let hint = close.isEmpty ? "" : "did you mean \(close.joined(separator: ", "))? "
        return "unknown architecture '\(name.prefix(80))' (\(hint)the zoo has torchvision's \(ModelZoo.names.count) CNN "
            + "builders, docs/model-zoo.md)"
    }

    /// The spec files looked for beside a checkpoint.
    public static let besideNames = ["model.json", "model.yaml", "model.yml"]

    /// Checks what can be checked without a checkpoint: the zoo name exists, the spec file parses.
    /// - Returns: the spec when the source names one; `nil` for `.automatic`.
    /// - Throws: `ArchitectureError` naming the unknown architecture or the bad file.
    public func fixedSpec() throws(ArchitectureError) -> ModelSpec? {
        switch self {
        case .zoo(let name):
            guard let spec = ModelZoo.spec(named: name) else {
                throw ArchitectureError(Self.unknownArchitecture(name))
            }
            return spec
        case .specFile(let path):
            return try Self.readSpec(at: path)
        case .automatic:
            return nil
        }
    }

    /// The spec for `checkpoint` (read from `path`) and a few words on where it came from.
    /// - Throws: `ArchitectureError` naming the file when there is no usable architecture.
    public func spec(for checkpoint: Checkpoint?, path: String) throws(ArchitectureError) -> (spec: ModelSpec, source: String) {
        switch self {
        case .zoo(let name):
            return (try fixedSpec() ?? ModelSpec(name: name, layers: []), "zoo:\(name)")
        case .specFile(let file):
            return (try fixedSpec() ?? ModelSpec(name: file, layers: []), file)
        case .automatic:
            if let text = checkpoint?.modelSpec {
                do { return (try ModelSpec.parse(text), "its camwatch_model attribute") } catch {
                    throw ArchitectureError("\(path): attribute camwatch_model: \(error)")
                }
            }
            if let arch = checkpoint?.arch, let spec = ModelZoo.spec(named: arch) {
                return (spec, "zoo:\(arch) (arch attribute)")
            }
            if let (spec, file) = try Self.specBeside(path) { return (spec, file) }
            if let checkpoint, KerasVariables.isUntranslated(checkpoint) {
                throw ArchitectureError("\(path): \(KerasVariables.modelHint)")
            }
            if let arch = checkpoint?.arch {
                throw ArchitectureError(
                    "\(path): root attribute arch: \(Self.unknownArchitecture(arch)); store a camwatch_model spec "
                        + "instead (camwatch_torch.save_checkpoint writes one for any nn.Module), or pass --model FILE")
            }
            throw ArchitectureError(
                "\(path): no architecture: the checkpoint has no root attribute arch (a built-in name, as the "
                    + "README's save_checkpoint writes: f.attrs[\"arch\"] = \"resnet18\") and no camwatch_model "
                    + "(a model spec); pass --arch NAME or --model FILE, or put a model.json beside the checkpoint")
        }
    }

    /// A `model.json`/`model.yaml` in the directory of `checkpointPath`, if there is one.
    public static func specBeside(_ checkpointPath: String) throws(ArchitectureError) -> (ModelSpec, String)? {
        let directory = URL(fileURLWithPath: checkpointPath).deletingLastPathComponent()
        for name in besideNames {
            let candidate = directory.appendingPathComponent(name).path
            if FileManager.default.fileExists(atPath: candidate) { return (try readSpec(at: candidate), candidate) }
        }
        return nil
    }

    /// Parses a spec file.
    public static func readSpec(at path: String) throws(ArchitectureError) -> ModelSpec {
        do {
            if let keras = try KerasModel.described(by: path) { return keras.spec }
        } catch {
            throw ArchitectureError("\(path): \(error)")
        }
        guard let data = FileManager.default.contents(atPath: path) else {
            throw ArchitectureError("\(path): cannot read the model spec")
        }
        do { return try ModelSpec.parse(String(decoding: data, as: UTF8.self)) } catch {
            throw ArchitectureError("\(path): \(error)")
        }
    }

    /// Binds a checkpoint's tensors to its architecture.
    /// - Throws: `ArchitectureError` naming the file, the mismatch and where the architecture came from.
    public func network(for checkpoint: Checkpoint, path: String) throws(ArchitectureError) -> (
        network: Network, spec: ModelSpec, source: String
    ) {
        let (spec, source) = try spec(for: checkpoint, path: path)
        let parameters = try parameters(for: checkpoint, path: path)
        // Probes are decoded to RGB: a model that takes another number of channels (a grayscale Keras model,
        // a spec's input_channels) would get tensors of the wrong shape, so it is refused here, in words.
        guard (spec.inputChannels ?? 3) == 3 else {
            throw ArchitectureError("\(path): the model takes \(spec.inputChannels ?? 3) input channels; camwatch feeds "
                + "RGB images (3 channels) (architecture from \(source))")
        }
        do {
            return (try Network(spec: spec, parameters: parameters), spec, source)
        } catch {
            throw ArchitectureError("\(path): \(error) (architecture from \(source))")
        }
    }
}

/// No usable architecture for a checkpoint; the message is one line and names the file.
public struct ArchitectureError: Error, Sendable, Equatable, CustomStringConvertible {
    public var description: String
    public init(_ description: String) { self.description = description }
}

extension ModelSpec {
    /// Whether `name` is one of the spec's layers or a module prefix of some (`layer4` of `layer4.1.conv2`),
    /// as `Network.nodeIndex(named:)` resolves it; a start-up check before any weights are loaded.
    public func hasLayer(named name: String) -> Bool {
        layers.contains { $0.name == name || $0.name.hasPrefix(name + ".") }
    }

    /// The names a `--layer` may take, for messages: every layer name.
    public var layerNames: [String] { layers.map(\.name) }
}
