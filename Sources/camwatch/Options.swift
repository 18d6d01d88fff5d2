public import ArgumentParser
import CamwatchCheckpoint
public import CamwatchImage
import CamwatchNN
public import CamwatchSaliency
public import CamwatchTensor

/// Where the architecture comes from (docs/architecture.md §2.2).
struct ModelOptions: ParsableArguments {
    @Option(name: .long, help: "A built-in architecture: \(ModelCatalog.zooSummary).")
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

/// How a PNG becomes the network input (docs/architecture.md §2.3). Every value is optional: one not given
/// comes from the checkpoint's attributes, the model spec or the default (``PreprocessingResolver``), so a
/// flag must be told apart from a default.
struct PreprocessingOptions: ParsableArguments {
    @Option(name: .long, help: "Input height and width in pixels (images are resized bilinearly; default: the checkpoint's input_size attribute, else the model spec's, else 224).")
    var inputSize: Int?

    @Option(name: .long, parsing: .upToNextOption, help: "Per-channel mean subtracted after scaling (3 values; default: the checkpoint's mean attribute, else ImageNet's).")
    var mean: [Float] = []

    @Option(name: .long, parsing: .upToNextOption, help: "Per-channel standard deviation divided by (3 values; default: the checkpoint's std attribute, else ImageNet's).")
    var std: [Float] = []

    @Option(name: .long, help: "Factor applied to 0–255 pixel values before normalization (default: the checkpoint's scale attribute, else 1/255).")
    var scale: Float?

    @Flag(name: .long, help: "Feed channels in BGR order (Caffe-style models; default: the checkpoint's channel_order attribute, else RGB).")
    var bgr = false

    @Flag(name: .long, help: "Feed channels in RGB order, whatever the checkpoint's channel_order attribute says.")
    var rgb = false

    func validate() throws {
        if let problem = values.problem { throw ValidationError("--input-size, --mean, --std, --scale: \(problem)") }
        if bgr && rgb { throw ValidationError("give --bgr or --rgb, not both") }
    }

    /// The values given on the command line; the rest are `nil`.
    var values: PreprocessingValues {
        PreprocessingValues(
            height: inputSize, width: inputSize, mean: mean.isEmpty ? nil : mean, std: std.isEmpty ? nil : std,
            scale: scale, channelOrder: bgr ? .bgr : rgb ? .rgb : nil)
    }

    /// The preprocessing for a loaded model by the one rule (flags, the checkpoint's attributes, the model
    /// spec, the default). The command prints its `summary` on stderr once it has succeeded (a failure stays
    /// one line).
    /// - Throws: `CLIError` naming the checkpoint when one of its input attributes cannot be used.
    func resolve(for loaded: LoadedModel) throws -> ResolvedPreprocessing {
        do { return try PreprocessingResolver.resolve(flags: values, checkpoint: loaded.checkpoint, spec: loaded.spec) } catch {
            throw CLIError("\(error)")
        }
    }
}

// Options parsed straight into the libraries' enums: `--priority`, `--colormap`, `--weighting` (a rejection
// lists the values).
extension ComputePriority: ExpressibleByArgument {}
extension Colormap: ExpressibleByArgument {}
extension ScoreCAM.Weighting: ExpressibleByArgument {}
