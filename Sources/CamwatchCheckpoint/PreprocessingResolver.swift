public import CamwatchImage
public import CamwatchNN

/// Some of the preprocessing settings, as one place states them: the command line, a config file, a
/// checkpoint's root attributes (``Checkpoint/InputAttributes``) or a model spec. `nil` means "this place
/// does not say".
public struct PreprocessingValues: Sendable, Equatable {
    public var height: Int?
    public var width: Int?
    public var mean: [Float]?
    public var std: [Float]?
    public var scale: Float?
    public var channelOrder: Preprocessing.ChannelOrder?

    public init(
        height: Int? = nil, width: Int? = nil, mean: [Float]? = nil, std: [Float]? = nil, scale: Float? = nil,
        channelOrder: Preprocessing.ChannelOrder? = nil
    ) {
        (self.height, self.width) = (height, width)
        (self.mean, self.std, self.scale) = (mean, std, scale)
        self.channelOrder = channelOrder
    }

    /// A square input size and nothing else (`--input-size N`, `input_size: N`).
    public init(inputSize: Int?) {
        self.init(height: inputSize, width: inputSize)
    }

    /// What a model spec says: its `input_size` only.
    public init(spec: ModelSpec?) {
        self.init(height: spec?.inputSize?.height, width: spec?.inputSize?.width)
    }

    /// Why the values that are given cannot be used, or `nil` when they can (naming the setting, for a
    /// message that says where it was given).
    public var problem: String? {
        if let height, !(1...ModelLimits.extent).contains(height) { return "input size must be in 1...\(ModelLimits.extent), got \(height)" }
        if let width, !(1...ModelLimits.extent).contains(width) { return "input size must be in 1...\(ModelLimits.extent), got \(width)" }
        if let mean, mean.count != 3 || !mean.allSatisfy(\.isFinite) { return "mean needs 3 finite values, got \(mean)" }
        if let std, std.count != 3 || !std.allSatisfy({ $0.isFinite && $0 != 0 }) {
            return "std needs 3 finite non-zero values, got \(std)"
        }
        if let scale, !scale.isFinite || scale == 0 { return "scale must be finite and non-zero, got \(scale)" }
        return nil
    }
}

/// Where a preprocessing value came from. The cases are in precedence order: the first place that states a
/// value wins (docs/architecture.md §2.3).
public enum PreprocessingOrigin: String, Sendable, CaseIterable {
    /// A command-line flag (`--input-size`, `--mean`, `--std`, `--scale`, `--bgr`/`--rgb`).
    case flag
    /// `camwatch watch`'s config file (`input_size:`, `preprocessing:`).
    case config
    /// The checkpoint's root attributes (`input_size`, `mean`, `std`, `scale`, `channel_order`).
    case checkpoint
    /// The model spec's `input_size` (a spec file, the checkpoint's `camwatch_model`, a Keras model).
    case modelSpec = "model spec"
    /// torchvision's ImageNet preprocessing: 224×224, 1/255, ImageNet mean/std, RGB.
    case `default`
}

/// The preprocessing one command uses, and where each of its values came from.
public struct ResolvedPreprocessing: Sendable, Equatable {
    public var preprocessing: Preprocessing
    public var size: PreprocessingOrigin
    public var mean: PreprocessingOrigin
    public var std: PreprocessingOrigin
    public var scale: PreprocessingOrigin
    public var channelOrder: PreprocessingOrigin

    /// One line for the user: `preprocessing: 128×128 (checkpoint), mean/std (checkpoint), scale 1/255 (default),
    /// RGB (default)`. Mean and std that do not come from the default are shown with their values.
    public var summary: String {
        let p = preprocessing
        func values(_ v: [Float]) -> String { "[" + v.map { "\($0)" }.joined(separator: ", ") + "]" }
        let normalization: String
        if mean == .default && std == .default {
            normalization = "ImageNet mean/std (default)"
        } else if mean == std {
            normalization = "mean \(values(p.mean)), std \(values(p.std)) (\(mean.rawValue))"
        } else {
            normalization = "mean \(values(p.mean)) (\(mean.rawValue)), std \(values(p.std)) (\(std.rawValue))"
        }
        return "preprocessing: \(p.height)×\(p.width) (\(size.rawValue)), \(normalization), "
            + "scale \(Self.describe(scale: p.scale)) (\(scale.rawValue)), "
            + "\(p.channelOrder.rawValue.uppercased()) (\(channelOrder.rawValue))"
    }

    /// Where the input size came from, in words, for warnings about the size.
    public var sizeSource: String {
        switch size {
        case .flag: "--input-size"
        case .config: "input_size in the config file"
        case .checkpoint: "the checkpoint's input_size attribute"
        case .modelSpec: "the model spec's input_size"
        case .default: "the default: no --input-size, no input_size attribute in the checkpoint or the model spec"
        }
    }

    /// `1/255` rather than `0.003921569`, when the scale is the reciprocal of a whole or half number.
    static func describe(scale: Float) -> String {
        if scale == 1 { return "1" }
        let inverse = 1 / Double(scale)
        let halves = (inverse * 2).rounded()
        if abs(inverse) >= 1, abs(inverse * 2 - halves) < 1e-3 * abs(inverse) {
            let text = halves.truncatingRemainder(dividingBy: 2) == 0 ? "\(Int(halves / 2))" : "\(halves / 2)"
            return "1/" + text
        }
        return "\(scale)"
    }
}

/// The one rule every command follows to turn probe images into the network's input (docs/architecture.md
/// §2.3): for each of input size, mean, std, scale and channel order, the first of these that states it wins —
/// a command-line flag, `watch`'s config file, the checkpoint's root attributes, the model spec (input size
/// only), the default (224×224, 1/255, ImageNet mean/std, RGB). A model trained at 128 px with its own
/// normalization is then fed as it was trained whichever command reads it.
public enum PreprocessingResolver {
    /// - Parameters:
    ///   - flags: what the command line says.
    ///   - config: what `watch`'s config file says (other commands have none).
    ///   - checkpoint: the checkpoint's input attributes, when a checkpoint is known.
    ///   - spec: the bound model spec.
    public static func resolve(
        flags: PreprocessingValues = PreprocessingValues(), config: PreprocessingValues = PreprocessingValues(),
        checkpoint: Checkpoint.InputAttributes? = nil, spec: ModelSpec? = nil
    ) -> ResolvedPreprocessing {
        let defaults = Preprocessing()
        let places: [(PreprocessingOrigin, PreprocessingValues)] = [
            (.flag, flags), (.config, config), (.checkpoint, checkpoint ?? PreprocessingValues()),
            (.modelSpec, PreprocessingValues(spec: spec)),
            (.default, PreprocessingValues(
                height: defaults.height, width: defaults.width, mean: defaults.mean, std: defaults.std,
                scale: defaults.scale, channelOrder: defaults.channelOrder)),
        ]
        /// The first place that states the value, and the value (the default always states it).
        func first<Value>(_ read: (PreprocessingValues) -> Value?) -> (PreprocessingOrigin, Value) {
            for (origin, values) in places { if let value = read(values) { return (origin, value) } }
            preconditionFailure("the default states every value")
        }
        let size = first { v in v.height.flatMap { h in v.width.map { (h, $0) } } }
        let mean = first(\.mean), std = first(\.std), scale = first(\.scale), order = first(\.channelOrder)
        let preprocessing = Preprocessing(
            height: size.1.0, width: size.1.1, mean: mean.1, std: std.1, scale: scale.1, channelOrder: order.1)
        return ResolvedPreprocessing(
            preprocessing: preprocessing, size: size.0, mean: mean.0, std: std.0, scale: scale.0, channelOrder: order.0)
    }

    /// ``resolve(flags:config:checkpoint:spec:)`` with the checkpoint's attributes read and checked.
    /// - Throws: `CheckpointError` naming the file and the attribute that cannot be used.
    public static func resolve(
        flags: PreprocessingValues = PreprocessingValues(), config: PreprocessingValues = PreprocessingValues(),
        checkpoint: Checkpoint, spec: ModelSpec?
    ) throws(CheckpointError) -> ResolvedPreprocessing {
        resolve(flags: flags, config: config, checkpoint: try checkpoint.inputAttributes(), spec: spec)
    }
}
