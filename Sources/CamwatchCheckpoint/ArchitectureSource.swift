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
                throw ArchitectureError(path: nil, .unknownArchitecture(name))
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
                    throw ArchitectureError(path: path, .invalidSpecAttribute(error))
                }
            }
            if let arch = checkpoint?.arch, let spec = ModelZoo.spec(named: arch) {
                return (spec, "zoo:\(arch) (arch attribute)")
            }
            if let (spec, file) = try Self.specBeside(path) { return (spec, file) }
            if let checkpoint, KerasVariables.isUntranslated(checkpoint) {
                throw ArchitectureError(path: path, .kerasModelMissing)
            }
            if let arch = checkpoint?.arch {
                throw ArchitectureError(path: path, .unknownArchAttribute(arch))
            }
            throw ArchitectureError(path: path, .noArchitecture)
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
            throw ArchitectureError(path: path, .invalidKerasModel(error))
        }
        guard let data = FileManager.default.contents(atPath: path) else {
            throw ArchitectureError(path: path, .unreadableSpec)
        }
        do { return try ModelSpec.parse(String(decoding: data, as: UTF8.self)) } catch {
            throw ArchitectureError(path: path, .invalidSpec(error))
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
        if let channels = spec.inputChannels, channels != 3 {
            throw ArchitectureError(path: path, .notRGB(channels: channels, source: source))
        }
        do {
            return (try Network(spec: spec, parameters: parameters), spec, source)
        } catch {
            throw ArchitectureError(path: path, .unbound(error, source: source))
        }
    }
}

/// No usable architecture for a checkpoint: the file concerned, what is wrong with it, and the error underneath
/// when another library's error is the reason.
///
/// `description` is one line, `"<file>: <problem>"` (just the problem when no file is concerned), built here
/// and nowhere else.
public struct ArchitectureError: Error, Sendable, Equatable, CustomStringConvertible {
    /// What is wrong, with the values the message names.
    public enum Problem: Sendable, Equatable, CustomStringConvertible {
        /// `--arch` names no built-in architecture.
        case unknownArchitecture(String)
        /// The checkpoint's `camwatch_model` attribute is not a valid model spec.
        case invalidSpecAttribute(NetworkError)
        /// A weights-only Keras file, and no Keras model to go by.
        case kerasModelMissing
        /// The checkpoint's root attribute `arch` names no built-in architecture.
        case unknownArchAttribute(String)
        /// Nothing in or beside the checkpoint says what the network is.
        case noArchitecture
        /// The spec file cannot be read.
        case unreadableSpec
        /// The spec file is a Keras config camwatch cannot read or build.
        case invalidKerasModel(KerasError)
        /// The spec file is not a valid model spec.
        case invalidSpec(NetworkError)
        /// `file`, given as the Keras model of a weights-only Keras checkpoint, is no Keras model config.
        case notKerasModel(file: String)
        /// The Keras model in `file` cannot be built, or does not fit the checkpoint's variables.
        case kerasModel(KerasError, file: String)
        /// The model takes `channels` input channels; probes are RGB.
        case notRGB(channels: Int, source: String)
        /// The checkpoint's tensors do not bind to the architecture from `source`.
        case unbound(NetworkError, source: String)

        public var description: String {
            switch self {
            case .unknownArchitecture(let name): ArchitectureSource.unknownArchitecture(name)
            case .invalidSpecAttribute(let error): "attribute camwatch_model: \(error)"
            case .kerasModelMissing: KerasVariables.modelHint
            case .unknownArchAttribute(let arch):
                "root attribute arch: \(ArchitectureSource.unknownArchitecture(arch)); store a camwatch_model spec "
                    + "instead (camwatch_torch.save_checkpoint writes one for any nn.Module), or pass --model FILE"
            case .noArchitecture:
                "no architecture: the checkpoint has no root attribute arch (a built-in name, as the README's "
                    + "save_checkpoint writes: f.attrs[\"arch\"] = \"resnet18\") and no camwatch_model (a model spec); "
                    + "pass --arch NAME or --model FILE, or put a model.json beside the checkpoint"
            case .unreadableSpec: "cannot read the model spec"
            case .invalidKerasModel(let error): error.description
            case .invalidSpec(let error): "\(error)"
            case .notKerasModel(let file): "\(file) is not a Keras model config; \(KerasVariables.modelHint)"
            case .kerasModel(let error, let file): "\(error) (Keras model from \(file))"
            case .notRGB(let channels, let source):
                "the model takes \(channels) input channels; camwatch feeds RGB images (3 channels) (architecture "
                    + "from \(source))"
            case .unbound(let error, let source): "\(error) (architecture from \(source))"
            }
        }

        /// The error underneath, when another library's error is the reason.
        public var cause: (any Error)? {
            switch self {
            case .invalidSpecAttribute(let error), .invalidSpec(let error), .unbound(let error, _): error
            case .invalidKerasModel(let error), .kerasModel(let error, _): error
            default: nil
            }
        }
    }

    /// The file the message is about: the checkpoint, or the spec file it was read with; `nil` when no file is
    /// concerned (an unknown `--arch`).
    public var path: String?
    /// What is wrong.
    public var problem: Problem

    public init(path: String?, _ problem: Problem) {
        self.path = path
        self.problem = problem
    }

    public var description: String { path.map { "\($0): \(problem)" } ?? problem.description }
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
