import ArgumentParser
import CamwatchImage

/// Where the architecture comes from (design.md §2.2).
struct ModelOptions: ParsableArguments {
    @Option(name: .long, help: "A built-in architecture: \(ModelCatalog.zooNames).")
    var arch: String?

    @Option(name: .long, help: "A model spec file (JSON or YAML, docs/model-spec.md).")
    var model: String?

    func validate() throws {
        if arch != nil && model != nil { throw ValidationError("give --arch or --model, not both") }
    }
}

/// How a PNG becomes the network input (design.md §2.3).
struct PreprocessingOptions: ParsableArguments {
    @Option(name: .long, help: "Input height and width in pixels (images are resized bilinearly).")
    var inputSize: Int = 224

    @Option(name: .long, parsing: .upToNextOption, help: "Per-channel mean subtracted after scaling (3 values).")
    var mean: [Float] = [0.485, 0.456, 0.406]

    @Option(name: .long, parsing: .upToNextOption, help: "Per-channel standard deviation divided by (3 values).")
    var std: [Float] = [0.229, 0.224, 0.225]

    @Option(name: .long, help: "Factor applied to 0–255 pixel values before normalization.")
    var scale: Float = 1.0 / 255.0

    @Flag(name: .long, help: "Feed channels in BGR order (Caffe-style models).")
    var bgr = false

    func validate() throws {
        guard inputSize > 0 && inputSize <= 4096 else { throw ValidationError("--input-size must be in 1...4096") }
        guard mean.count == 3, std.count == 3 else { throw ValidationError("--mean and --std take 3 values each") }
        guard std.allSatisfy({ $0 != 0 }) else { throw ValidationError("--std values must not be 0") }
    }

    var preprocessing: Preprocessing {
        var p = Preprocessing()
        p.height = inputSize
        p.width = inputSize
        p.mean = mean
        p.std = std
        p.scale = scale
        p.channelOrder = bgr ? .bgr : .rgb
        return p
    }
}
