import CamwatchNN
import CamwatchTensor
import Foundation

/// Walks a Keras config (Sequential, Functional, nested models) and emits camwatch spec layers.
///
/// Keras configs come in two dialects: Keras 3 (`inbound_nodes: [{"args": [keras tensors]}]`, input
/// `batch_shape`, layers carry a `module`) and Keras 2 / tf-keras (`inbound_nodes: [[[name, 0, 0, {}]]]`,
/// `batch_input_shape`); both are read here.
struct KerasGraphBuilder {
    var spec = ModelSpec(name: "keras", layers: [])
    var weighted: [KerasModel.WeightedLayer] = []
    var constants: [String: Tensor] = [:]
    /// What is known of each node's output, channels-last: the network input is `input`.
    private var shapes: [String: NodeShape] = [:]
    /// The op and inputs of each emitted node, to drop a final softmax.
    private var producers: [String: LayerSpec] = [:]
    private var used: Set<String> = ["input"]

    /// A node's output size where it is known (`nil` height/width: it depends on the input size).
    struct NodeShape {
        var height: Int?
        var width: Int?
        var channels: Int
        var isMap = true

        /// Values per item, or `nil` when unknown or beyond any limit (a hostile config must not overflow).
        var elements: Int? {
            guard isMap else { return channels }
            guard let height, let width else { return nil }
            let (area, o1) = height.multipliedReportingOverflow(by: width)
            let (all, o2) = area.multipliedReportingOverflow(by: channels)
            return o1 || o2 ? nil : all
        }
    }

    /// Where a layer's variables live in the two file layouts.
    struct Location {
        /// The Keras 3 weights-file group of the layer's container, ending in `/` (empty at the top).
        var containerPath: String
        /// The top-level layer this one is inside of (a nested model), if any.
        var legacyOuter: String?
        /// The name of the nested model the layer belongs to, to keep node names unique.
        var scope: String?
    }

    // MARK: - Models

    /// Emits a model's layers; returns the node holding its output.
    mutating func model(_ entry: [String: Any], input: String?, path: String, legacyOuter: String?,
                        scope: String? = nil) throws(KerasError) -> String {
        let className = entry["class_name"] as? String ?? ""
        guard let config = entry["config"] as? [String: Any] else {
            throw KerasError("the Keras config has no 'config' for its \(className.isEmpty ? "model" : className)")
        }
        if input == nil, let name = config["name"] as? String { spec.name = name }
        let location = Location(containerPath: path, legacyOuter: legacyOuter, scope: scope)
        switch className {
        case "Sequential": return try sequential(config, input: input, location: location)
        case "Functional", "Model": return try functional(config, input: input, location: location)
        default:
            throw KerasError("the Keras config describes a '\(className)', not a Sequential or Functional model")
        }
    }

    private mutating func sequential(_ config: [String: Any], input: String?, location: Location) throws(KerasError)
        -> String
    {
        let entries = (config["layers"] as? [[String: Any]]) ?? []
        guard !entries.isEmpty else { throw KerasError("a Sequential model without layers") }
        var current = input
        var keys = KeyNamer()
        for entry in entries {
            let className = entry["class_name"] as? String ?? "?"
            let layerConfig = entry["config"] as? [String: Any] ?? [:]
            if className == "InputLayer" {
                if current == nil { current = try defineInput(layerConfig, name: Self.name(of: entry)) }
                continue
            }
            if current == nil { current = try defineInput(layerConfig, name: Self.name(of: entry)) }
            guard let source = current else { continue }
            // Sequential's saved layer list leaves out the InputLayer.
            let key = keys.key(for: className)
            current = try layer(entry, inputs: [source], key: key, location: location)
        }
        guard let current else { throw KerasError("a Sequential model without layers") }
        return current
    }

    private mutating func functional(_ config: [String: Any], input: String?, location: Location) throws(KerasError)
        -> String
    {
        let entries = (config["layers"] as? [[String: Any]]) ?? []
        var outputs: [String: String] = [:]
        var keys = KeyNamer()
        for entry in entries {
            let className = entry["class_name"] as? String ?? "?"
            let name = Self.name(of: entry)
            if Self.isOperation(entry) {
                // Not a layer: it has no weights-file entry, so it takes no key.
                outputs[name] = try operation(entry, outputs: outputs, location: location)
                continue
            }
            let key = keys.key(for: className)
            if className == "InputLayer" {
                if let input {
                    outputs[name] = input
                } else {
                    outputs[name] = try defineInput(entry["config"] as? [String: Any] ?? [:], name: name)
                }
                continue
            }
            var sources: [String] = []
            for source in try Self.inboundLayers(entry) {
                guard let node = outputs[source] else {
                    throw KerasError("layer '\(name)' (\(className)) reads '\(source)', which is not an earlier layer")
                }
                sources.append(node)
            }
            guard !sources.isEmpty else { throw KerasError("layer '\(name)' (\(className)) has no inputs") }
            outputs[name] = try layer(entry, inputs: sources, key: key, location: location)
        }
        let declared = Self.references(config["output_layers"])
        guard declared.count == 1, let outputName = declared.first, let output = outputs[outputName] else {
            throw KerasError("the model '\(config["name"] as? String ?? "?")' must have exactly one output layer "
                + "(it names \(declared.count))")
        }
        return output
    }

    /// The network input, from an InputLayer's (or a first layer's) batch shape `[null, H, W, C]`.
    private mutating func defineInput(_ config: [String: Any], name: String) throws(KerasError) -> String {
        let raw = (config["batch_shape"] ?? config["batch_input_shape"]) as? [Any]
        guard let raw, raw.count == 4 else {
            throw KerasError("input '\(name)': camwatch needs an image input [batch, height, width, channels], got "
                + "\(raw.map { "\($0)" } ?? "no batch shape")")
        }
        let dims = raw.map { ($0 as? NSNumber)?.intValue }
        guard let channels = dims[3], (1...ModelLimits.features).contains(channels) else {
            throw KerasError("input '\(name)': the channel count is not fixed or outside 1...\(ModelLimits.features)")
        }
        for size in [dims[1], dims[2]] {
            if let size, !(1...ModelLimits.extent).contains(size) {
                throw KerasError("input '\(name)': a size of \(size) is outside 1...\(ModelLimits.extent)")
            }
        }
        spec.inputChannels = channels
        if let height = dims[1], let width = dims[2], height > 0, width > 0 { spec.inputSize = IntPair(height, width) }
        shapes["input"] = NodeShape(height: dims[1], width: dims[2], channels: channels)
        return "input"
    }

    /// Drops a final softmax (the output is the logits before it) and sets the output.
    mutating func finish(output: String, fallbackName: String) throws(KerasError) {
        var output = output
        if let last = producers[output], last.op == .softmax, let source = last.inputs?.first, source != "input" {
            output = source
        }
        guard output != "input" else { throw KerasError("the model computes nothing from its input") }
        if let index = spec.layers.lastIndex(where: { $0.name == output }) {
            spec.layers.removeSubrange((index + 1)...)
        }
        spec.output = output
        if spec.name.isEmpty { spec.name = fallbackName }
    }

    // MARK: - Layers

    /// Emits one Keras layer (possibly a nested model); returns the node holding its output.
    private mutating func layer(_ entry: [String: Any], inputs: [String], key: String, location: Location)
        throws(KerasError) -> String
    {
        let className = entry["class_name"] as? String ?? "?"
        let config = entry["config"] as? [String: Any] ?? [:]
        let name = Self.name(of: entry)
        let isKeras3 = entry["module"] != nil
        let path = location.containerPath + "layers/" + key
        let here = KerasLayerContext(
            name: name, className: className, config: config, isKeras3: isKeras3,
            keras3Path: path, legacyOuter: location.legacyOuter ?? name,
            legacyInner: location.legacyOuter == nil ? nil : name, scope: location.scope,
            module: entry["module"] as? String)
        let x = inputs[0]
        guard let shape = shapes[x] else { throw here.error("its input is unknown") }
        // Constants below are sized from the input's channels (BatchNormalization without scale, Rescaling).
        guard (0...ModelLimits.features).contains(shape.channels) else {
            throw here.error("gets \(shape.channels) channels, more than \(ModelLimits.features)")
        }
        switch className {
        case "Sequential", "Functional", "Model":
            return try model(entry, input: x, path: path + "/", legacyOuter: location.legacyOuter ?? name,
                             scope: name)
        case "Conv2D", "Convolution2D":
            try here.requireChannelsLast()
            let filters = try here.int("filters")
            let groups = try here.optionalInt("groups") ?? 1
            let conv = try convSpec(here, input: x, shape: shape, outChannels: filters, groups: groups,
                                    bias: here.bool("use_bias", default: true))
            var roles: [KerasModel.Role] = [.convKernel(conv.node)]
            if here.bool("use_bias", default: true) { roles.append(.vector(conv.node + ".bias")) }
            record(here, roles: roles)
            return try activation(here, named: here.config["activation"], input: conv.node, final: conv.final)
        case "DepthwiseConv2D":
            try here.requireChannelsLast()
            let multiplier = try here.optionalInt("depth_multiplier") ?? 1
            let conv = try convSpec(here, input: x, shape: shape, outChannels: shape.channels * multiplier,
                                    groups: shape.channels, bias: here.bool("use_bias", default: true))
            var roles: [KerasModel.Role] = [.depthwiseKernel(conv.node)]
            if here.bool("use_bias", default: true) { roles.append(.vector(conv.node + ".bias")) }
            record(here, roles: roles)
            return try activation(here, named: here.config["activation"], input: conv.node, final: conv.final)
        case "SeparableConv2D", "SeparableConvolution2D":
            try here.requireChannelsLast()
            let multiplier = try here.optionalInt("depth_multiplier") ?? 1
            let filters = try here.int("filters")
            let depthwise = try convSpec(here, input: x, shape: shape, outChannels: shape.channels * multiplier,
                                         groups: shape.channels, bias: false, suffix: "/depthwise")
            let pointwiseShape = shapes[depthwise.node] ?? shape
            var pointwiseContext = here
            pointwiseContext.config["kernel_size"] = [1, 1]
            pointwiseContext.config["strides"] = [1, 1]
            pointwiseContext.config["dilation_rate"] = [1, 1]
            pointwiseContext.config["padding"] = "valid"
            let pointwise = try convSpec(pointwiseContext, input: depthwise.node, shape: pointwiseShape,
                                         outChannels: filters, groups: 1, bias: here.bool("use_bias", default: true))
            var roles: [KerasModel.Role] = [.depthwiseKernel(depthwise.node), .convKernel(pointwise.node)]
            if here.bool("use_bias", default: true) { roles.append(.vector(pointwise.node + ".bias")) }
            record(here, roles: roles)
            return try activation(here, named: here.config["activation"], input: pointwise.node, final: pointwise.final)
        case "BatchNormalization":
            let axis = here.config["axis"]
            guard Self.isLastAxis(axis) else {
                throw here.error("normalizes axis \(axis.map { "\($0)" } ?? "?"), not the channels (-1)")
            }
            let node = uniqueName(here)
            var layer = LayerSpec(name: node, op: .batchnorm, inputs: [x])
            layer.eps = here.double("epsilon") ?? 1e-3
            emit(layer, shape: shape)
            var roles: [KerasModel.Role] = []
            if here.bool("scale", default: true) {
                roles.append(.vector(node + ".weight"))
            } else {
                constants[node + ".weight"] = Tensor(shape: [shape.channels], repeating: 1)
            }
            if here.bool("center", default: true) {
                roles.append(.vector(node + ".bias"))
            } else {
                constants[node + ".bias"] = Tensor(shape: [shape.channels], repeating: 0)
            }
            roles += [.vector(node + ".running_mean"), .vector(node + ".running_var")]
            record(here, roles: roles)
            return node
        case "Dense":
            let units = try here.int("units")
            let final = Self.isLinear(here.config["activation"])
            let node = uniqueName(here, suffix: final ? "" : "/dense")
            // A Dense on a 4-D tensor applies to each pixel's channels (ConvNeXt's pointwise layers); a 1×1 map
            // keeps the vector output it always had here.
            let perPixel = shape.isMap && !(shape.height == 1 && shape.width == 1)
            var layer = LayerSpec(name: node, op: perPixel ? .channelLinear : .linear, inputs: [x])
            layer.outFeatures = units
            layer.bias = here.bool("use_bias", default: true)
            var out = NodeShape(channels: units, isMap: false)
            if perPixel { out = NodeShape(height: shape.height, width: shape.width, channels: units) }
            emit(layer, shape: out)
            var roles: [KerasModel.Role] = [.denseKernel(node)]
            if here.bool("use_bias", default: true) { roles.append(.vector(node + ".bias")) }
            record(here, roles: roles)
            return try activation(here, named: here.config["activation"], input: node, final: final)
        case "Activation":
            return try activation(here, named: here.config["activation"], input: x, final: true)
        case "ReLU":
            var layer = LayerSpec(name: uniqueName(here), op: .relu, inputs: [x])
            layer.maxValue = here.double("max_value")
            layer.negativeSlope = here.double("negative_slope")
            layer.threshold = here.double("threshold")
            return emit(layer, shape: shape)
        case "LeakyReLU":
            var layer = LayerSpec(name: uniqueName(here), op: .leakyReLU, inputs: [x])
            layer.negativeSlope = here.double("negative_slope") ?? here.double("alpha") ?? 0.3
            return emit(layer, shape: shape)
        case "Softmax":
            guard Self.isLastAxis(here.config["axis"]) else { throw here.error("takes the softmax over another axis than -1") }
            return emit(LayerSpec(name: uniqueName(here), op: .softmax, inputs: [x]), shape: shape)
        case "MaxPooling2D", "MaxPool2D", "AveragePooling2D", "AvgPool2D":
            try here.requireChannelsLast()
            return try pooling(here, input: x, shape: shape, isMax: className.hasPrefix("Max"))
        case "GlobalAveragePooling2D", "GlobalAvgPool2D", "GlobalMaxPooling2D", "GlobalMaxPool2D":
            try here.requireChannelsLast()
            let op: LayerSpec.Operation = className.hasPrefix("GlobalMax") ? .globalMaxpool : .globalAvgpool
            let keep = here.bool("keepdims", default: false)
            return emit(LayerSpec(name: uniqueName(here), op: op, inputs: [x]),
                        shape: NodeShape(height: keep ? 1 : nil, width: keep ? 1 : nil, channels: shape.channels,
                                         isMap: keep))
        case "ZeroPadding2D":
            try here.requireChannelsLast()
            let (t, b, l, r) = try here.padding2D()
            var layer = LayerSpec(name: uniqueName(here), op: .zeropad, inputs: [x])
            layer.padding = .explicit(top: t, bottom: b, left: l, right: r)
            return emit(layer, shape: NodeShape(height: shape.height.map { $0 + t + b }, width: shape.width.map { $0 + l + r },
                                                channels: shape.channels))
        case "Add", "Multiply":
            guard inputs.count >= 2 else { throw here.error("needs two or more inputs") }
            return emit(LayerSpec(name: uniqueName(here), op: className == "Add" ? .add : .mul, inputs: inputs),
                        shape: widest(inputs) ?? shape)
        case "Subtract":
            guard inputs.count == 2 else { throw here.error("needs exactly two inputs") }
            return emit(LayerSpec(name: uniqueName(here), op: .sub, inputs: inputs), shape: widest(inputs) ?? shape)
        case "Concatenate":
            guard inputs.count >= 2 else { throw here.error("needs two or more inputs") }
            guard Self.isLastAxis(here.config["axis"]) else {
                throw here.error("joins along another axis than the channels (-1)")
            }
            let parts = inputs.compactMap { shapes[$0] }
            var joined = shape
            joined.channels = parts.reduce(0) { $0 + $1.channels }
            return emit(LayerSpec(name: uniqueName(here), op: .concat, inputs: inputs), shape: joined)
        case "Reshape":
            return try reshape(here, input: x, shape: shape)
        case "Flatten":
            guard shape.isMap else { return x }
            if shape.height == 1 && shape.width == 1 {
                // A 1×1 map flattens the same in either layout; the node makes a model ending in a 1×1 convolution
                // (MobileNetV3's head) output [N, classes].
                return emit(LayerSpec(name: uniqueName(here), op: .flatten, inputs: [x]),
                            shape: NodeShape(channels: shape.channels, isMap: false))
            }
            var layer = LayerSpec(name: uniqueName(here), op: .reshape, inputs: [x])
            layer.targetShape = shape.elements.map { [$0] } ?? [-1]
            return emit(layer, shape: NodeShape(channels: shape.elements ?? 0, isMap: false))
        case "Dropout", "SpatialDropout2D", "GaussianDropout", "GaussianNoise", "AlphaDropout", "ActivityRegularization",
            "Identity":
            return x
        case "StochasticDepth":
            // Drops whole residual branches in training only. A two-input StochasticDepth (KerasCV's, which also
            // adds the shortcut) computes something else.
            guard inputs.count == 1 else { throw here.error("takes \(inputs.count) inputs; camwatch reads the one-input form") }
            return x
        case "LayerNormalization":
            guard Self.isLastAxis(here.config["axis"]) else {
                throw here.error("normalizes axis \(here.config["axis"].map { "\($0)" } ?? "?"), not the channels (-1)")
            }
            guard !here.bool("rms_scaling", default: false) else { throw here.error("uses rms_scaling") }
            let node = uniqueName(here)
            var layer = LayerSpec(name: node, op: .layernorm, inputs: [x])
            layer.eps = here.double("epsilon") ?? 1e-3
            emit(layer, shape: shape)
            // An absent gamma or beta is 1 or 0 in the layernorm op.
            var roles: [KerasModel.Role] = []
            if here.bool("scale", default: true) { roles.append(.vector(node + ".weight")) }
            if here.bool("center", default: true) { roles.append(.vector(node + ".bias")) }
            record(here, roles: roles)
            return node
        case "LayerScale" where here.isApplicationLayer("convnext"):
            let node = emit(LayerSpec(name: uniqueName(here), op: .scale, inputs: [x]), shape: shape)
            record(here, roles: [.vector(node + ".weight")])
            return node
        case "CustomScaleLayer" where here.isApplicationLayer("inception_resnet_v2"):
            // InceptionResNetV2's residual: `inputs[0] + inputs[1] * scale`.
            guard inputs.count == 2 else { throw here.error("needs exactly two inputs") }
            guard let factor = here.double("scale"), factor.isFinite else { throw here.error("has no finite 'scale'") }
            var scaled = LayerSpec(name: uniqueName(here, suffix: "/scale"), op: .scalarAffine, inputs: [inputs[1]])
            scaled.multiplier = factor
            let branch = emit(scaled, shape: shapes[inputs[1]] ?? shape)
            return emit(LayerSpec(name: uniqueName(here), op: .add, inputs: [x, branch]), shape: shape)
        case "Cropping2D":
            try here.requireChannelsLast()
            let (t, b, l, r) = try here.padding2D(key: "cropping")
            let height = shape.height.map { $0 - t - b }, width = shape.width.map { $0 - l - r }
            guard (height ?? 1) > 0, (width ?? 1) > 0 else {
                throw here.error("crops a \(shape.height ?? 0)×\(shape.width ?? 0) map to nothing")
            }
            var layer = LayerSpec(name: uniqueName(here), op: .crop, inputs: [x])
            layer.cropping = [t, b, l, r]
            return emit(layer, shape: NodeShape(height: height, width: width, channels: shape.channels))
        case "Rescaling":
            let scale = try here.perChannel("scale", channels: shape.channels, default: 1)
            let offset = try here.perChannel("offset", channels: shape.channels, default: 0)
            return affine(here, input: x, shape: shape, scale: scale, shift: offset)
        case "Normalization":
            guard Self.isLastAxis(here.config["axis"]) else {
                throw here.error("normalizes another axis than the channels (-1)")
            }
            guard !here.bool("invert", default: false) else { throw here.error("inverts (invert=True)") }
            if here.config["mean"] != nil, !(here.config["mean"] is NSNull) {
                let mean = try here.perChannel("mean", channels: shape.channels, default: 0)
                let variance = try here.perChannel("variance", channels: shape.channels, default: 1)
                let (scale, shift) = KerasModel.normalization(mean: mean, variance: variance)
                return affine(here, input: x, shape: shape, scale: scale, shift: shift)
            }
            let node = uniqueName(here)
            emit(LayerSpec(name: node, op: .affine, inputs: [x]), shape: shape)
            record(here, roles: [.normalizationMean(node), .normalizationVariance(node), .ignored])
            return node
        default:
            throw here.error("is not a layer camwatch can build")
        }
    }

    // MARK: - Operation nodes

    /// One argument of a Keras 3 operation node: another node's output or a Python number.
    enum OperationArgument {
        case tensor(String)
        case number(Double)
    }

    /// Whether a functional entry is a Keras 3 operation node (`x + y`, `x * 0.1`, `ops.relu6(x)` written
    /// between layers) rather than a layer.
    static func isOperation(_ entry: [String: Any]) -> Bool {
        (entry["module"] as? String)?.hasPrefix("keras.src.ops.") == true
    }

    /// Emits an operation node as the spec op that computes it; returns the node holding its output.
    ///
    /// Tensor–tensor arithmetic becomes `add`, `sub`, `mul`; arithmetic with a number becomes `scalar_affine`
    /// (Keras stores the number in the node's arguments, as written: `x - 1.0`, `1.0 - x`); `ops.relu6` and the
    /// other activations become the activation op. Anything else is refused naming the node.
    private mutating func operation(_ entry: [String: Any], outputs: [String: String], location: Location)
        throws(KerasError) -> String
    {
        let className = entry["class_name"] as? String ?? "?"
        let name = Self.name(of: entry)
        let here = KerasLayerContext(
            name: name, className: className, config: entry["config"] as? [String: Any] ?? [:], isKeras3: true,
            keras3Path: "", legacyOuter: location.legacyOuter ?? name, legacyInner: nil, scope: location.scope,
            kind: "operation")
        var arguments: [OperationArgument] = []
        for argument in try Self.operationArguments(entry, here) {
            guard case .tensor(let source) = argument else {
                arguments.append(argument)
                continue
            }
            guard let node = outputs[source] else { throw here.error("reads '\(source)', which is not an earlier layer") }
            arguments.append(.tensor(node))
        }
        let tensors = arguments.compactMap { if case .tensor(let node) = $0 { node } else { nil } }
        let numbers = arguments.compactMap { if case .number(let value) = $0 { value } else { nil } }
        guard let x = tensors.first, let shape = shapes[x] else { throw here.error("has no tensor input") }
        let unary = arguments.count == 1 && tensors.count == 1
        let binary = arguments.count == 2 && tensors.count == 2
        // With one number: (tensor first?, the number).
        let withNumber: (tensorFirst: Bool, value: Double)? =
            arguments.count == 2 && numbers.count == 1
            ? (tensorFirst: { if case .tensor = arguments[0] { true } else { false } }(), value: numbers[0]) : nil

        func affine(_ multiplier: Double, _ offset: Double) -> LayerSpec {
            var layer = LayerSpec(name: uniqueName(here), op: .scalarAffine, inputs: [x])
            layer.multiplier = multiplier
            layer.offset = offset
            return layer
        }
        let layer: LayerSpec
        switch className {
        case "Add" where binary, "Subtract" where binary, "Multiply" where binary:
            let op: LayerSpec.Operation = className == "Add" ? .add : className == "Subtract" ? .sub : .mul
            return emit(LayerSpec(name: uniqueName(here), op: op, inputs: tensors), shape: widest(tensors) ?? shape)
        case "Add" where withNumber != nil:
            layer = affine(1, withNumber?.value ?? 0)
        case "Subtract" where withNumber != nil:
            let (tensorFirst, value) = (withNumber?.tensorFirst ?? true, withNumber?.value ?? 0)
            layer = tensorFirst ? affine(1, -value) : affine(-1, value)
        case "Multiply" where withNumber != nil:
            layer = affine(withNumber?.value ?? 1, 0)
        case "TrueDivide" where withNumber?.tensorFirst == true, "Divide" where withNumber?.tensorFirst == true:
            let value = withNumber?.value ?? 0
            guard value != 0, (1 / value).isFinite else { throw here.error("divides by \(value)") }
            layer = affine(1 / value, 0)
        case "Negative" where unary:
            layer = affine(-1, 0)
        case "Relu" where unary, "Relu6" where unary, "Sigmoid" where unary, "Tanh" where unary,
            "Silu" where unary, "Swish" where unary, "HardSigmoid" where unary, "HardSilu" where unary,
            "HardSwish" where unary, "Gelu" where unary, "LeakyRelu" where unary:
            var activation = LayerSpec(name: uniqueName(here), op: .identity, inputs: [x])
            switch className {
            case "Relu": activation.op = .relu
            case "Relu6": activation.op = .relu6
            case "Sigmoid": activation.op = .sigmoid
            case "Tanh": activation.op = .tanh
            case "Silu", "Swish": activation.op = .silu
            case "HardSigmoid": activation.op = .hardsigmoid
            case "HardSilu", "HardSwish": activation.op = .hardswish
            case "Gelu":
                // ops.gelu defaults to the tanh approximation; the gelu op is the exact (erf) one.
                guard here.config["approximate"] as? Bool == false else {
                    throw here.error("uses the tanh approximation of GELU, which camwatch does not build")
                }
                activation.op = .gelu
            default:
                activation.op = .leakyReLU
                activation.negativeSlope = here.double("negative_slope") ?? 0.2
            }
            layer = activation
        default:
            let described = arguments.map { argument -> String in
                switch argument {
                case .tensor: "tensor"
                case .number(let value): "\(value)"
                }
            }
            throw here.error("(\(described.joined(separator: ", "))) is not an operation camwatch can build")
        }
        return emit(layer, shape: shape)
    }

    /// An operation node's positional arguments; keyword arguments and nested lists are refused.
    static func operationArguments(_ entry: [String: Any], _ here: KerasLayerContext) throws(KerasError)
        -> [OperationArgument]
    {
        guard let nodes = entry["inbound_nodes"] as? [Any], nodes.count == 1, let node = nodes[0] as? [String: Any],
            let args = node["args"] as? [Any]
        else { throw here.error("is not called exactly once with positional arguments") }
        if let kwargs = node["kwargs"] as? [String: Any], !kwargs.isEmpty {
            throw here.error("has keyword arguments (\(kwargs.keys.sorted().joined(separator: ", "))), which camwatch does not read")
        }
        var result: [OperationArgument] = []
        for arg in args {
            if let tensor = arg as? [String: Any], let config = tensor["config"] as? [String: Any],
                let history = config["keras_history"] as? [Any], let source = history.first as? String
            {
                result.append(.tensor(source))
            } else if let number = arg as? NSNumber, number.doubleValue.isFinite {
                result.append(.number(number.doubleValue))
            } else {
                throw here.error("has an argument camwatch cannot read (\(arg))")
            }
        }
        return result
    }

    // MARK: - Layer helpers

    private mutating func convSpec(
        _ here: KerasLayerContext, input: String, shape: NodeShape, outChannels: Int, groups: Int, bias: Bool,
        suffix: String? = nil
    ) throws(KerasError) -> (node: String, final: Bool) {
        guard shape.isMap else { throw here.error("needs an image-shaped input, got a vector") }
        let kernel = try here.pair("kernel_size")
        let stride = try here.boundedPair("strides") ?? (1, 1)
        let dilation = try here.boundedPair("dilation_rate") ?? (1, 1)
        let same = try here.isSamePadding()
        let final = suffix == nil && Self.isLinear(here.config["activation"])
        let node = uniqueName(here, suffix: suffix ?? (final ? "" : "/conv"))
        var layer = LayerSpec(name: node, op: .conv2d, inputs: [input])
        layer.outChannels = outChannels
        layer.kernel = IntPair(kernel.0, kernel.1)
        layer.stride = IntPair(stride.0, stride.1)
        layer.dilation = IntPair(dilation.0, dilation.1)
        layer.padding = same ? .same : .symmetric(0)
        layer.groups = groups
        layer.bias = bias
        func extent(_ size: Int?, _ k: Int, _ s: Int, _ d: Int) -> Int? {
            guard let size else { return nil }
            return same ? (size + s - 1) / s : (size - (k - 1) * d - 1) / s + 1
        }
        emit(layer, shape: NodeShape(height: extent(shape.height, kernel.0, stride.0, dilation.0),
                                     width: extent(shape.width, kernel.1, stride.1, dilation.1), channels: outChannels))
        return (node, final)
    }

    private mutating func pooling(_ here: KerasLayerContext, input: String, shape: NodeShape, isMax: Bool)
        throws(KerasError) -> String
    {
        let kernel = try here.pair("pool_size")
        let stride = try here.boundedPair("strides") ?? kernel
        var layer = LayerSpec(name: uniqueName(here), op: isMax ? .maxpool : .avgpool, inputs: [input])
        layer.kernel = IntPair(kernel.0, kernel.1)
        layer.stride = IntPair(stride.0, stride.1)
        var out = shape
        if try here.isSamePadding() {
            // TensorFlow's `same` (the engine's too): the odd pixel of padding goes after; padded positions never
            // win a max and are not counted in an average, whatever the input size.
            layer.padding = .same
            out.height = shape.height.map { ($0 + stride.0 - 1) / stride.0 }
            out.width = shape.width.map { ($0 + stride.1 - 1) / stride.1 }
        } else {
            layer.padding = .symmetric(0)
            out.height = shape.height.map { ($0 - kernel.0) / stride.0 + 1 }
            out.width = shape.width.map { ($0 - kernel.1) / stride.1 + 1 }
        }
        return emit(layer, shape: out)
    }

    /// The largest of some nodes' shapes: what `add`, `mul` and `sub` give when one input broadcasts.
    private func widest(_ inputs: [String]) -> NodeShape? {
        inputs.compactMap { shapes[$0] }.max { ($0.elements ?? Int.max) < ($1.elements ?? Int.max) }
    }

    private mutating func reshape(_ here: KerasLayerContext, input: String, shape: NodeShape) throws(KerasError) -> String {
        guard let raw = here.config["target_shape"] as? [Any] else { throw here.error("has no target_shape") }
        var target = raw.map { ($0 as? NSNumber)?.intValue ?? -1 }
        guard target.count == 1 || target.count == 3 else {
            throw here.error("reshapes to \(target): camwatch builds vectors (n) and images (h, w, c) only")
        }
        guard target.allSatisfy({ $0 == -1 || (1...ModelLimits.features).contains($0) }),
            target.filter({ $0 == -1 }).count <= 1
        else { throw here.error("reshapes to \(target)") }
        if let unknown = target.firstIndex(of: -1) {
            var known = 1
            for (offset, size) in target.enumerated() where offset != unknown {
                let (product, overflow) = known.multipliedReportingOverflow(by: size)
                guard !overflow else { throw here.error("reshapes to \(target)") }
                known = product
            }
            guard let elements = shape.elements, known > 0, elements % known == 0 else {
                throw here.error("reshapes to \(target) with a size camwatch cannot work out for an input of unknown size")
            }
            target[unknown] = elements / known
        }
        guard target.allSatisfy({ $0 > 0 }) else { throw here.error("reshapes to \(target)") }
        var layer = LayerSpec(name: uniqueName(here), op: .reshape, inputs: [input])
        layer.targetShape = target
        let out = target.count == 3
            ? NodeShape(height: target[0], width: target[1], channels: target[2])
            : NodeShape(channels: target[0], isMap: false)
        return emit(layer, shape: out)
    }

    private mutating func affine(_ here: KerasLayerContext, input: String, shape: NodeShape, scale: [Float],
                                 shift: [Float]) -> String {
        let node = emit(LayerSpec(name: uniqueName(here), op: .affine, inputs: [input]), shape: shape)
        constants[node + ".weight"] = Tensor(shape: [scale.count], scalars: scale)
        constants[node + ".bias"] = Tensor(shape: [shift.count], scalars: shift)
        return node
    }

    /// The activation a layer applies after its main op, as a node named after the layer (`final`) or
    /// nothing for `linear`.
    private mutating func activation(_ here: KerasLayerContext, named value: Any?, input: String, final: Bool)
        throws(KerasError) -> String
    {
        guard !Self.isLinear(value) else { return input }
        guard let name = value as? String else {
            throw here.error("uses a custom activation (\(value.map { "\($0)" } ?? "?"))")
        }
        // The activation's output is the Keras layer's output, so it takes the layer's name.
        var layer = LayerSpec(name: uniqueName(here), op: .identity, inputs: [input])
        switch name {
        case "relu": layer.op = .relu
        case "relu6": layer.op = .relu6
        case "swish", "silu": layer.op = .silu
        case "sigmoid": layer.op = .sigmoid
        case "tanh": layer.op = .tanh
        case "gelu": layer.op = .gelu
        case "softmax": layer.op = .softmax
        case "hard_swish", "hard_silu": layer.op = .hardswish
        case "leaky_relu":
            layer.op = .leakyReLU
            layer.negativeSlope = 0.2
        case "hard_sigmoid" where here.isKeras3: layer.op = .hardsigmoid
        case "hard_sigmoid":
            throw here.error("uses Keras 2's hard_sigmoid (clip(0.2·x + 0.5, 0, 1)), which camwatch does not build")
        default:
            throw here.error("uses the activation '\(name)', which camwatch does not build")
        }
        return emit(layer, shape: shapes[input] ?? NodeShape(channels: 0))
    }

    @discardableResult
    private mutating func emit(_ layer: LayerSpec, shape: NodeShape) -> String {
        used.insert(layer.name)
        spec.layers.append(layer)
        shapes[layer.name] = shape
        producers[layer.name] = layer
        return layer.name
    }

    private mutating func record(_ here: KerasLayerContext, roles: [KerasModel.Role]) {
        weighted.append(KerasModel.WeightedLayer(
            kerasName: here.name, className: here.className, keras3Path: here.keras3Path,
            legacyOuter: here.legacyOuter, legacyInner: here.legacyInner, roles: roles))
    }

    /// The layer's node name (with `suffix`), made unique with the nested model's name when a name repeats.
    private mutating func uniqueName(_ here: KerasLayerContext, suffix: String = "") -> String {
        let name = here.nodeName(scopedBy: used, suffix: suffix)
        used.insert(name)
        return name
    }

    // MARK: - Config reading

    static func name(of entry: [String: Any]) -> String {
        (entry["name"] as? String) ?? ((entry["config"] as? [String: Any])?["name"] as? String) ?? "?"
    }

    static func isLinear(_ value: Any?) -> Bool {
        value == nil || value is NSNull || (value as? String) == "linear"
    }

    static func isLastAxis(_ value: Any?) -> Bool {
        if value == nil || value is NSNull { return true }
        if let axes = value as? [Any] { return axes.count == 1 && isLastAxis(axes[0]) }
        guard let axis = (value as? NSNumber)?.intValue else { return false }
        return axis == -1 || axis == 3
    }

    /// The names of the layers whose outputs a Functional layer reads, in argument order.
    static func inboundLayers(_ entry: [String: Any]) throws(KerasError) -> [String] {
        guard let nodes = entry["inbound_nodes"] as? [Any], !nodes.isEmpty else { return [] }
        guard nodes.count == 1 else {
            throw KerasError("layer '\(name(of: entry))' (\(entry["class_name"] as? String ?? "?")) is called "
                + "\(nodes.count) times (a shared layer), which camwatch does not build")
        }
        var names: [String] = []
        collectHistory(nodes[0], into: &names)
        return names
    }

    /// Layer names in a Keras 3 node (`keras_history` of `__keras_tensor__`s) or a Keras 2 node
    /// (`[[name, node, tensor, {}], …]`).
    private static func collectHistory(_ value: Any, into names: inout [String]) {
        if let object = value as? [String: Any] {
            if let config = object["config"] as? [String: Any], let history = config["keras_history"] as? [Any],
                let layer = history.first as? String
            {
                names.append(layer)
                return
            }
            if let args = object["args"] { collectHistory(args, into: &names) }
            return
        }
        guard let list = value as? [Any] else { return }
        if list.count >= 3, let layer = list[0] as? String, list[1] is NSNumber {
            names.append(layer)
            return
        }
        for item in list { collectHistory(item, into: &names) }
    }

    /// `[[name, 0, 0], …]` or one `[name, 0, 0]` → names.
    static func references(_ value: Any?) -> [String] {
        guard let list = value as? [Any] else { return [] }
        if let first = list.first as? String { return [first] }
        return list.compactMap { ($0 as? [Any])?.first as? String }
    }

    /// Snake-case class names with a counter for repeats: how Keras 3 names a container's layers in a
    /// weights file (`conv2d`, `conv2d_1`, `batch_normalization`).
    struct KeyNamer {
        private var counts: [String: Int] = [:]

        mutating func key(for className: String) -> String {
            let base = Self.snakeCase(className)
            if let count = counts[base] {
                counts[base] = count + 1
                return "\(base)_\(count + 1)"
            }
            counts[base] = 0
            return base
        }

        /// Keras's `to_snake_case`: `(.)([A-Z][a-z]+)` → `\1_\2`, then `([a-z])([A-Z])` → `\1_\2`, lowercased.
        static func snakeCase(_ name: String) -> String {
            let chars = Array(name.filter { $0.isLetter || $0.isNumber || $0 == "_" })
            var first: [Character] = []
            for (i, c) in chars.enumerated() {
                if i > 0, c.isUppercase, i + 1 < chars.count, chars[i + 1].isLowercase { first.append("_") }
                first.append(c)
            }
            var second: [Character] = []
            for (i, c) in first.enumerated() {
                if i > 0, c.isUppercase, first[i - 1].isLowercase { second.append("_") }
                second.append(c)
            }
            return String(second).lowercased()
        }
    }
}

/// One Keras layer being translated: its config and where its variables live.
struct KerasLayerContext {
    var name: String
    var className: String
    var config: [String: Any]
    var isKeras3: Bool
    var keras3Path: String
    var legacyOuter: String
    var legacyInner: String?
    var scope: String?
    /// `layer`, or `operation` for a Keras 3 operation node; errors say which.
    var kind = "layer"
    /// The Python module of the layer's class (Keras 3 only).
    var module: String?

    func error(_ what: String) -> KerasError { KerasError("\(kind) '\(name)' (\(className)) \(what)") }

    /// Whether the layer is the class a keras.applications family defines (a user's own class of the same name
    /// may compute something else); files without modules (Keras 2) are taken at their word.
    func isApplicationLayer(_ family: String) -> Bool {
        guard let module else { return true }
        return module == "keras.src.applications." + family || module == "keras.applications." + family
    }

    func nodeName(scopedBy used: Set<String>, suffix: String = "") -> String {
        var candidate = name + suffix
        if used.contains(candidate), let scope { candidate = scope + "/" + name + suffix }
        var counter = 1
        let base = candidate
        while used.contains(candidate) {
            candidate = "\(base)_\(counter)"
            counter += 1
        }
        return candidate
    }

    func requireChannelsLast() throws(KerasError) {
        if let format = config["data_format"] as? String, format != "channels_last" {
            throw error("uses data_format '\(format)'; camwatch reads channels_last models")
        }
    }

    /// A count (filters, units): 1 … ``ModelLimits/features``.
    func int(_ key: String) throws(KerasError) -> Int {
        guard let value = try optionalInt(key) else { throw error("has no '\(key)'") }
        return value
    }

    /// A count when present (groups, depth_multiplier), bounded like ``int(_:)`` so sizes computed from it
    /// cannot overflow.
    func optionalInt(_ key: String) throws(KerasError) -> Int? {
        guard let value = (config[key] as? NSNumber)?.intValue else { return nil }
        guard (1...ModelLimits.features).contains(value) else {
            throw error("has \(key) = \(value), outside 1...\(ModelLimits.features)")
        }
        return value
    }

    func double(_ key: String) -> Double? { (config[key] as? NSNumber)?.doubleValue }

    func bool(_ key: String, default value: Bool) -> Bool { (config[key] as? Bool) ?? value }

    func optionalPair(_ key: String) -> (Int, Int)? {
        if let single = (config[key] as? NSNumber)?.intValue { return (single, single) }
        guard let list = config[key] as? [Any], list.count == 2, let a = (list[0] as? NSNumber)?.intValue,
            let b = (list[1] as? NSNumber)?.intValue
        else { return nil }
        return (a, b)
    }

    /// A kernel, pool size, stride or dilation: 1 … ``ModelLimits/extent`` per axis.
    func pair(_ key: String) throws(KerasError) -> (Int, Int) {
        guard let value = try boundedPair(key) else { throw error("has no valid '\(key)'") }
        return value
    }

    func boundedPair(_ key: String) throws(KerasError) -> (Int, Int)? {
        guard let value = optionalPair(key) else { return nil }
        let range = 1...ModelLimits.extent
        guard range.contains(value.0), range.contains(value.1) else {
            throw error("has \(key) = (\(value.0), \(value.1)), outside 1...\(ModelLimits.extent)")
        }
        return value
    }

    func isSamePadding() throws(KerasError) -> Bool {
        switch (config["padding"] as? String)?.lowercased() ?? "valid" {
        case "same": return true
        case "valid": return false
        case let other: throw error("uses padding '\(other)'")
        }
    }

    /// ZeroPadding2D's `padding` or Cropping2D's `cropping`: `p`, `[h, w]` or `[[top, bottom], [left, right]]`.
    func padding2D(key: String = "padding") throws(KerasError) -> (Int, Int, Int, Int) {
        let value = config[key]
        if let single = (value as? NSNumber)?.intValue, (0...ModelLimits.extent).contains(single) {
            return (single, single, single, single)
        }
        if let list = value as? [Any], list.count == 2 {
            var values: [Int] = []
            if let h = (list[0] as? NSNumber)?.intValue, let w = (list[1] as? NSNumber)?.intValue { values = [h, h, w, w] }
            if let h = list[0] as? [Any], let w = list[1] as? [Any], h.count == 2, w.count == 2 {
                values = (h + w).compactMap { ($0 as? NSNumber)?.intValue }
            }
            if values.count == 4, values.allSatisfy({ (0...ModelLimits.extent).contains($0) }) {
                return (values[0], values[1], values[2], values[3])
            }
        }
        throw error("has a \(key) camwatch cannot read")
    }

    /// A number or a list of one number per channel (Rescaling's scale and offset, Normalization's mean).
    func perChannel(_ key: String, channels: Int, default fallback: Float) throws(KerasError) -> [Float] {
        let value = config[key]
        if value == nil || value is NSNull { return [Float](repeating: fallback, count: channels) }
        let list = ((value as? [Any]) ?? [value as Any]).compactMap { ($0 as? NSNumber)?.floatValue }
        guard list.allSatisfy(\.isFinite) else { throw error("has a '\(key)' that is not a finite float32") }
        if list.count == 1 { return [Float](repeating: list[0], count: channels) }
        guard list.count == channels else { throw error("has \(list.count) values of '\(key)' for \(channels) channels") }
        return list
    }
}
