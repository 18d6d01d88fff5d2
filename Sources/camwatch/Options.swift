public import ArgumentParser
import CamwatchCheckpoint
public import CamwatchImage
import CamwatchNN
public import CamwatchSaliency
public import CamwatchTensor

/// Where the architecture comes from (docs/architecture.md §2.2).
struct ModelOptions: ParsableArguments {
    @Option(name: .long, help: "A built-in architecture: \(ModelCatalog.zooNames).")
    var arch: String?

    @Option(name: .long, help: "A model spec file (JSON or YAML, docs/model-spec.md), or a Keras model: a .keras file or model.to_json() output.")
    var model: String?

    func validate() throws {
        if arch != nil && model != nil { throw ValidationError("give --arch or --model, not both") }
    }

    /// The options as the library's architecture source.
    var source: ArchitectureSource {
        if let arch { return .zoo(arch) }
        if let model { return .specFile(model) }
        return .automatic
    }
}

/// How a PNG becomes the network input (docs/architecture.md §2.3).
struct PreprocessingOptions: ParsableArguments {
    @Option(name: .long, help: "Input height and width in pixels (images are resized bilinearly; default: the model spec's input_size, else 224).")
    var inputSize: Int?

    @Option(name: .long, parsing: .upToNextOption, help: "Per-channel mean subtracted after scaling (3 values).")
    var mean: [Float] = [0.485, 0.456, 0.406]

    @Option(name: .long, parsing: .upToNextOption, help: "Per-channel standard deviation divided by (3 values).")
    var std: [Float] = [0.229, 0.224, 0.225]

    @Option(name: .long, help: "Factor applied to 0–255 pixel values before normalization.")
    var scale: Float = 1.0 / 255.0

    @Flag(name: .long, help: "Feed channels in BGR order (Caffe-style models).")
    var bgr = false

    func validate() throws {
        if let inputSize, !(1...4096).contains(inputSize) { throw ValidationError("--input-size must be in 1...4096") }
        guard mean.count == 3, std.count == 3 else { throw ValidationError("--mean and --std take 3 values each") }
        guard std.allSatisfy({ $0 != 0 }) else { throw ValidationError("--std values must not be 0") }
        // NaN or infinity would make every input NaN (and the heatmaps with it).
        guard (mean + std + [scale]).allSatisfy(\.isFinite), scale != 0 else {
            throw ValidationError("--mean, --std and --scale must be finite numbers (--scale non-zero)")
        }
    }

    /// The preprocessing for a model whose spec may state its own input size.
    func preprocessing(for spec: ModelSpec?) -> Preprocessing {
        var p = Preprocessing()
        p.height = inputSize ?? spec?.inputSize?.height ?? 224
        p.width = inputSize ?? spec?.inputSize?.width ?? 224
        p.mean = mean
        p.std = std
        p.scale = scale
        p.channelOrder = bgr ? .bgr : .rgb
        return p
    }
}

// Options parsed straight into the libraries' enums: `--priority`, `--colormap`, `--weighting` (a rejection
// lists the values).
extension ComputePriority: ExpressibleByArgument {}
extension Colormap: ExpressibleByArgument {}
extension ScoreCAM.Weighting: ExpressibleByArgument {}
