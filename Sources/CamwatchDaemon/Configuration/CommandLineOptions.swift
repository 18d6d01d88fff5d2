public import ArgumentParser
public import CamwatchCheckpoint
import CamwatchImage
public import CamwatchTensor

// The command-line options that set what a config file also sets. They live beside the config file's model
// because `watch` lays them over it through one value, ``WatchConfiguration/Overrides``: an option is declared
// once, here, and read by the command line and by ``WatchConfiguration/resolve(file:overrides:)`` alike.
// Every command that loads a model takes ``ModelOptions`` and ``PreprocessingOptions`` too.

/// Where the architecture comes from (docs/architecture.md §2.2).
public struct ModelOptions: ParsableArguments, Sendable {
    @Option(name: .long, help: "A built-in architecture: \(ArchitectureSource.zooSummary).")
    public var arch: String?

    @Option(name: .long, help: "A model spec file (JSON or YAML, docs/model-spec.md), or a Keras model: a .keras file or model.to_json() output.")
    public var model: String?

    public init() {}

    public func validate() throws {
        if arch != nil && model != nil { throw ValidationError("give --arch or --model, not both") }
    }

    /// The options as the library's architecture source.
    public var source: ArchitectureSource {
        if let arch { return .zoo(arch) }
        if let model { return .specFile(model) }
        return .automatic
    }
}

/// How a PNG becomes the network input (docs/architecture.md §2.3). Every value is optional: one not given
/// comes from the checkpoint's attributes, the model spec or the default (``PreprocessingResolver``), so a
/// flag must be told apart from a default.
public struct PreprocessingOptions: ParsableArguments, Sendable {
    @Option(name: .long, help: "Input height and width in pixels (images are resized bilinearly; default: the checkpoint's input_size attribute, else the model spec's, else \(Preprocessing.defaultInputSize)).")
    public var inputSize: Int?

    @Option(name: .long, parsing: .upToNextOption, help: "Per-channel mean subtracted after scaling (3 values; default: the checkpoint's mean attribute, else ImageNet's).")
    public var mean: [Float] = []

    @Option(name: .long, parsing: .upToNextOption, help: "Per-channel standard deviation divided by (3 values; default: the checkpoint's std attribute, else ImageNet's).")
    public var std: [Float] = []

    @Option(name: .long, help: "Factor applied to 0–255 pixel values before normalization (default: the checkpoint's scale attribute, else 1/255).")
    public var scale: Float?

    @Flag(name: .long, help: "Feed channels in BGR order (Caffe-style models; default: the checkpoint's channel_order attribute, else RGB).")
    public var bgr = false

    @Flag(name: .long, help: "Feed channels in RGB order, whatever the checkpoint's channel_order attribute says.")
    public var rgb = false

    public init() {}

    public func validate() throws {
        if let problem = values.problem { throw ValidationError("--input-size, --mean, --std, --scale: \(problem)") }
        if bgr && rgb { throw ValidationError("give --bgr or --rgb, not both") }
    }

    /// The values given on the command line; the rest are `nil`.
    public var values: PreprocessingValues {
        PreprocessingValues(
            height: inputSize, width: inputSize, mean: mean.isEmpty ? nil : mean, std: std.isEmpty ? nil : std,
            scale: scale, channelOrder: bgr ? .bgr : rgb ? .rgb : nil)
    }
}

extension WatchConfiguration {
    /// `camwatch watch`'s options, laid over the config file by ``WatchConfiguration/resolve(file:overrides:)``;
    /// one not given leaves the file's value. Only parsing gives these options values (ArgumentParser's
    /// wrappers have none before), so a program builds one with `Overrides.parse(["--layer", "layer3"])`.
    public struct Overrides: ParsableArguments, Sendable {
        @Argument(help: ArgumentHelp(
            "The directory the trainer writes checkpoints into (or 'checkpoints:' in --config).", valueName: "directory"))
        public var checkpoints: String?

        @Option(name: .long, help: "Probe PNGs, with an optional probes.json manifest.")
        public var probes: String?

        @Option(name: .long, help: "Output directory (state, report, pictures, metrics).")
        public var out: String?

        /// `--arch` / `--model`, as `explain` and `predict` take them (default: the checkpoint's camwatch_model, or a
        /// model.json beside the checkpoints).
        @OptionGroup public var model: ModelOptions

        @Option(name: .long, help: "Glob of checkpoint file names (default *.h5; *.keras for Keras 3's default).")
        public var pattern: String?

        @Option(name: .long, help: "Target layer or module prefix (default: the deepest conv-like layer with a map of at least 7×7 at the input size).")
        public var layer: String?

        /// `--input-size`, `--mean`, `--std`, `--scale`, `--bgr`/`--rgb`, as every command takes them; each wins
        /// over the config file (`input_size:`, `preprocessing:`), which wins over the checkpoint's attributes.
        @OptionGroup public var preprocessing: PreprocessingOptions

        @Flag(name: .long, help: "Process the checkpoints that are there, then exit.")
        public var once = false

        @Option(name: .long, help: "Seconds between scans when no inotify event arrives (default 10).")
        public var interval: Double?

        @Option(name: .long, help: "Also write camwatch's scalars and heatmaps to a TensorBoard event file in DIR.")
        public var tensorboard: String?

        @Option(name: .long, help: "CPU and I/O priority of the analysis: idle (default; only cores the trainer leaves free), low, normal.")
        public var priority: ComputePriority?

        public init() {}
    }
}
