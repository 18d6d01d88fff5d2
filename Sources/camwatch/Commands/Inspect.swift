import ArgumentParser
import CamwatchCheckpoint
import CamwatchDaemon
import CamwatchImage
import CamwatchNN
import CamwatchSaliency
import CamwatchTensor
import Foundation

extension Camwatch {
    struct Inspect: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "List a checkpoint's tensors and attributes; with an architecture, its layers and shapes.")

        @Argument(help: "The HDF5 checkpoint.")
        var file: String

        @OptionGroup var model: ModelOptions

        /// The input size of the listed shapes comes by the same rule as every command's input.
        @OptionGroup var preprocessing: PreprocessingOptions

        func run() throws {
            let checkpoint = try ModelCatalog.readCheckpoint(file)
            print("\(file): \(checkpoint.format), \(checkpoint.tensors.count) tensors")
            let attributes = checkpoint.attributeSummary.sorted { $0.key < $1.key }
            for (name, value) in attributes where name != "camwatch_model" { print("  @\(name) = \(value)") }
            if checkpoint.modelSpec != nil { print("  @camwatch_model = <model spec>") }
            for name in checkpoint.tensors.keys.sorted() {
                let tensor = checkpoint.tensors[name]
                let dtype = checkpoint.storedTypes[name] ?? "float32"
                print("  \(name)  [\((tensor?.shape ?? []).map(String.init).joined(separator: ", "))]  \(dtype)")
            }
            let resolved: (ModelSpec, String)
            do { resolved = try model.source.spec(for: checkpoint, path: file) } catch {
                if model.arch == nil && model.model == nil {
                    print("no architecture found (pass --arch or --model to list layers)")
                    return
                }
                throw CLIError("\(error)")
            }
            let network: Network
            do {
                network = try Network(spec: resolved.0, parameters: try model.source.parameters(for: checkpoint, path: file))
            } catch {
                throw CLIError("\(file): \(error) (architecture from \(resolved.1))")
            }
            let input: ResolvedPreprocessing
            do { input = try PreprocessingResolver.resolve(flags: preprocessing.values, checkpoint: checkpoint, spec: resolved.0) } catch {
                throw CLIError("\(error)")
            }
            let (height, width) = (input.preprocessing.height, input.preprocessing.width)
            let shapes: [[Int]]
            do { shapes = try network.shapes(inputHeight: height, inputWidth: width) } catch {
                throw CLIError("\(file): \(error) (input \(height)×\(width) from \(input.sizeSource))")
            }
            let candidates = Set(network.candidateTargetNames())
            let defaultTarget = try? network.camTarget(nil, inputHeight: height, inputWidth: width)
            print("architecture: \(resolved.0.name) from \(resolved.1); input [1, \(network.inputChannels), \(height), \(width)]")
            print(input.summary)
            if let warning = defaultTarget?.warning { print("default target: \(warning)") }
            print("layers (* = usable as a Score-CAM target, ** = the default target at this input size):")
            for (index, node) in network.nodes.enumerated() {
                let mark = index == defaultTarget?.index ? "**" : candidates.contains(node.name) ? "* " : "  "
                let shape = "[" + shapes[index].map(String.init).joined(separator: ", ") + "]"
                print("  \(mark) \(node.name)  \(node.layer.opName)  \(shape)")
            }
            let modules = Self.moduleTargets(of: network, candidates: candidates)
            guard !modules.isEmpty else { return }
            print("modules usable as a target (--layer PATH means the output of the module's last layer, as "
                + "pytorch-grad-cam's target_layers):")
            for (path, index) in modules {
                let shape = "[" + shapes[index].map(String.init).joined(separator: ", ") + "]"
                print("  \(path) → \(network.nodes[index].name)  \(shape)")
            }
        }

        /// The module paths one or two levels deep (`layer4`, `features.7`) whose output is a Score-CAM
        /// candidate, in evaluation order, each with the layer it stands for. A network of hundreds of layers
        /// (a traced torchvision model) is easier to target by these than by its leaf layers.
        static func moduleTargets(of network: Network, candidates: Set<String>) -> [(path: String, index: Int)] {
            var seen: Set<String> = []
            var paths: [String] = []
            for node in network.nodes {
                let parts = node.name.split(separator: ".")
                for depth in 1..<min(parts.count, 3) {
                    let path = parts[..<depth].joined(separator: ".")
                    if seen.insert(path).inserted { paths.append(path) }
                }
            }
            return paths.compactMap { path in
                guard let index = try? network.nodeIndex(named: path), candidates.contains(network.nodes[index].name),
                    network.nodes[index].name != path
                else { return nil }
                return (path, index)
            }
        }
    }
}
