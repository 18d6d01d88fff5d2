public import CamwatchTensor

extension Network {
    /// Binds a spec to named weights (PyTorch state_dict names, camwatch layout).
    ///
    /// Every layer's weights are checked against the shape the graph implies; sizes the spec leaves
    /// open (`out_channels`, `kernel`, `out_features`: e.g. the number of classes) are taken from the
    /// weights. Tensors named `*.num_batches_tracked` are ignored, and so are those the spec's `ignore_weights`
    /// names (training-only heads).
    ///
    /// - Throws: ``NetworkError`` naming every missing, unexpected or mis-shaped tensor (expected and
    ///   actual shape), unknown ops, inputs that do not exist, and values outside ``ModelLimits``.
    public init(spec: ModelSpec, parameters: [String: Tensor]) throws(NetworkError) {
        try spec.validate()
        var binder = Binder(parameters: parameters.filter { !spec.ignores($0.key) })
        let inputChannels = spec.inputChannels ?? 3
        var nodes: [Node] = []
        var infos: [ShapeInfo] = []
        var indexByName: [String: Int] = [:]
        guard !spec.layers.isEmpty else { throw NetworkError("model spec '\(spec.name)' has no layers") }
        for (position, layerSpec) in spec.layers.enumerated() {
            let name = layerSpec.name
            guard !name.isEmpty, name != "input" else { throw NetworkError("layer \(position) has a reserved or empty name '\(name)'") }
            guard indexByName[name] == nil else { throw NetworkError("layer name '\(name)' is used twice") }
            let sourceNames = layerSpec.inputs ?? [position == 0 ? "input" : spec.layers[position - 1].name]
            let sources = try sourceNames.map { source throws(NetworkError) -> Int in
                if source == "input" { return Self.inputIndex }
                guard let index = indexByName[source] else {
                    throw NetworkError("layer '\(name)' reads '\(source)', which is not an earlier layer")
                }
                return index
            }
            guard !sources.isEmpty else { throw NetworkError("layer '\(name)' has no inputs") }
            let inputInfos = sources.map { $0 == Self.inputIndex ? ShapeInfo(channels: inputChannels) : infos[$0] }
            let (layer, info) = try binder.bind(layerSpec, inputs: inputInfos)
            // Later layers size buffers from these counts (a batch norm without weights allocates one scale
            // per channel), so a count beyond the limit stops here.
            guard (0...ModelLimits.features).contains(info.channels) else {
                throw NetworkError("layer '\(name)' would output \(info.channels) channels or features, more than \(ModelLimits.features)")
            }
            indexByName[name] = nodes.count
            nodes.append(Node(name: name, layer: layer, inputs: sources))
            infos.append(info)
        }
        try binder.finish()
        guard binder.parameterCount <= ModelLimits.parameters else {
            throw NetworkError("model spec '\(spec.name)' binds \(binder.parameterCount) parameters, more than \(ModelLimits.parameters)")
        }
        let outputIndex: Int
        if let output = spec.output {
            guard let index = indexByName[output] else { throw NetworkError("output layer '\(output)' does not exist") }
            outputIndex = index
        } else {
            outputIndex = nodes.count - 1
        }
        self.init(name: spec.name, inputChannels: inputChannels, nodes: nodes, outputIndex: outputIndex)
    }
}

/// What binding knows of a node's output without an input size.
struct ShapeInfo {
    /// Dimension 1: channels of a map, or features of a vector.
    var channels: Int
    /// `true` for `[N, C, H, W]`.
    var isMap: Bool = true
    /// The spatial size when it no longer depends on the input (after adaptive or global pooling).
    var fixedSpatial: (Int, Int)?
}

/// Takes tensors out of the parameter dictionary layer by layer and records every problem.
struct Binder {
    var parameters: [String: Tensor]
    var used: Set<String> = []
    var missing: [String] = []
    var mismatched: [String] = []
    /// Scalars of the tensors taken so far (saturating: a sum past the limit is rejected, never wraps).
    var parameterCount = 0

    init(parameters: [String: Tensor]) { self.parameters = parameters }

    /// Throws one error listing all recorded problems and every tensor no layer used.
    func finish() throws(NetworkError) {
        let unexpected = parameters.keys
            .filter { !used.contains($0) && !$0.hasSuffix("num_batches_tracked") }
            .sorted()
        var parts: [String] = []
        if !mismatched.isEmpty { parts.append(Self.list("shape mismatch", mismatched)) }
        if !missing.isEmpty { parts.append(Self.list("missing tensor", missing)) }
        if !unexpected.isEmpty {
            parts.append(Self.list("unexpected tensor", unexpected.map { "'\($0)' \(shapeText(parameters[$0]?.shape ?? []))" }))
        }
        if !parts.isEmpty { throw NetworkError("weights do not fit the model: " + parts.joined(separator: "; ")) }
    }

    static func list(_ what: String, _ items: [String]) -> String {
        let shown = items.prefix(3).joined(separator: ", ")
        let more = items.count > 3 ? " and \(items.count - 3) more" : ""
        return "\(items.count) \(what)\(items.count == 1 ? "" : "s"): \(shown)\(more)"
    }

    /// The tensor `key`, checked against `expected` (where a dimension is `nil`, any size passes).
    mutating func take(_ key: String, expected: [Int?], required: Bool = true) -> Tensor? {
        guard let tensor = parameters[key] else {
            if required { missing.append("'\(key)' (expected \(Self.text(expected)))") }
            return nil
        }
        used.insert(key)
        // A dimension of 0 has no weights to apply: a damaged file, and a kernel or channel count of 0 below.
        let fits = tensor.rank == expected.count && tensor.shape.allSatisfy { $0 > 0 }
            && zip(tensor.shape, expected).allSatisfy { $1 == nil || $0 == $1 }
        guard fits else {
            mismatched.append("'\(key)' expected \(Self.text(expected)), got \(shapeText(tensor.shape))")
            return nil
        }
        parameterCount = CheckedSize.sum([parameterCount, tensor.scalarCount]) ?? Int.max
        return tensor
    }

    static func text(_ shape: [Int?]) -> String { "[" + shape.map { $0.map(String.init) ?? "?" }.joined(separator: ", ") + "]" }

    /// A bias that must exist (`true`), must not (`false`), or may (`nil`).
    mutating func bias(_ key: String, count: Int, wanted: Bool?) -> [Float]? {
        switch wanted {
        case .some(true): return take(key, expected: [count])?.scalars
        case .some(false): return nil
        case .none: return optionalVector(key, count: count)
        }
    }

    /// The `[C]` tensor `key` when the checkpoint has it (a bias the spec leaves open, a layer norm's optional
    /// weight or bias), else `nil`; a `count` of 0 (channels unknown until an input size) takes any length.
    mutating func optionalVector(_ key: String, count: Int) -> [Float]? {
        parameters[key] == nil ? nil : take(key, expected: [count > 0 ? count : nil])?.scalars
    }

    /// The tensor `key` holding one factor per channel in any shape whose other dimensions are 1 (`[C]`,
    /// `[C, 1, 1]`, `[1, C, 1, 1]`: ConvNeXt's `layer_scale`, Keras `LayerScale`).
    mutating func takeChannelFactors(_ key: String, count: Int) -> [Float]? {
        guard let tensor = parameters[key] else {
            missing.append("'\(key)' (expected [\(count)])")
            return nil
        }
        used.insert(key)
        let fits = tensor.rank >= 1 && tensor.shape.allSatisfy { $0 > 0 } && tensor.shape.filter { $0 != 1 }.count <= 1
            && (count <= 0 || tensor.scalarCount == count)
        guard fits else {
            mismatched.append("'\(key)' expected \(count) values ([\(count)], [\(count), 1, 1] or [1, \(count), 1, 1]), "
                + "got \(shapeText(tensor.shape))")
            return nil
        }
        parameterCount = CheckedSize.sum([parameterCount, tensor.scalarCount]) ?? Int.max
        return tensor.scalars
    }

    /// The features a map flattens to when its spatial size is fixed (`nil` when it depends on the input),
    /// or a vector's features.
    static func features(of x: ShapeInfo, layer name: String) throws(NetworkError) -> Int? {
        guard x.isMap else { return x.channels }
        guard let (height, width) = x.fixedSpatial else { return nil }
        guard let features = CheckedSize.product([x.channels, height, width]), features <= ModelLimits.features else {
            throw NetworkError("layer '\(name)': \(x.channels)×\(height)×\(width) features are more than \(ModelLimits.features)")
        }
        return features
    }

    mutating func bind(_ spec: LayerSpec, inputs: [ShapeInfo]) throws(NetworkError) -> (Layer, ShapeInfo) {
        let x = inputs[0]
        let name = spec.name
        func needMap() throws(NetworkError) {
            guard x.isMap else { throw NetworkError("layer '\(name)' (\(spec.op.rawValue)) needs a [N, C, H, W] input, got a flat vector") }
        }
        switch spec.op {
        case .conv2d:
            try needMap()
            let groups = spec.groups ?? 1
            guard groups >= 1, x.channels % groups == 0 else {
                throw NetworkError("layer '\(name)': \(x.channels) input channels do not split into \(groups) groups")
            }
            let stored = parameters[name + ".weight"]
            let out = spec.outChannels ?? stored?.shape.first
            let kernelH = spec.kernel?.height ?? (stored?.rank == 4 ? stored?.shape[2] : nil)
            let kernelW = spec.kernel?.width ?? (stored?.rank == 4 ? stored?.shape[3] : nil)
            let weight = take(name + ".weight", expected: [out, x.channels / groups, kernelH, kernelW])
            guard let weight else { return (.identity, ShapeInfo(channels: out ?? x.channels)) }
            let o = weight.shape[0]
            guard o % groups == 0 else { throw NetworkError("layer '\(name)': \(o) output channels do not split into \(groups) groups") }
            guard weight.shape[2] <= ModelLimits.extent, weight.shape[3] <= ModelLimits.extent else {
                throw NetworkError("layer '\(name)': kernel \(weight.shape[2])×\(weight.shape[3]) from '\(name).weight' exceeds \(ModelLimits.extent)")
            }
            let stride = spec.stride ?? 1, dilation = spec.dilation ?? 1
            var geometry = WindowGeometry(kernel: (weight.shape[2], weight.shape[3]), stride: (stride.height, stride.width),
                                          dilation: (dilation.height, dilation.width))
            var same = false
            switch spec.padding ?? .symmetric(0) {
            case .same: same = true
            case .explicit(let t, let b, let l, let r): (geometry.padTop, geometry.padBottom, geometry.padLeft, geometry.padRight) = (t, b, l, r)
            }
            let conv = Conv2D(weight: weight, bias: bias(name + ".bias", count: o, wanted: spec.bias), geometry: geometry,
                              groups: groups, samePadding: same)
            return (.conv2d(conv), ShapeInfo(channels: o))
        case .linear:
            let features = try Self.features(of: x, layer: name)
            let weight = take(name + ".weight", expected: [spec.outFeatures, features])
            guard let weight else { return (.identity, ShapeInfo(channels: spec.outFeatures ?? 0, isMap: false)) }
            let o = weight.shape[0]
            return (.linear(Linear(weight: weight, bias: bias(name + ".bias", count: o, wanted: spec.bias))),
                    ShapeInfo(channels: o, isMap: false))
        case .batchnorm:
            let c = x.channels
            let hasAffine = parameters[name + ".weight"] != nil || parameters[name + ".bias"] != nil
            let weight = hasAffine ? take(name + ".weight", expected: [c])?.scalars : [Float](repeating: 1, count: c)
            let shift = hasAffine ? take(name + ".bias", expected: [c])?.scalars : [Float](repeating: 0, count: c)
            let mean = take(name + ".running_mean", expected: [c])?.scalars
            let variance = take(name + ".running_var", expected: [c])?.scalars
            guard let weight, let shift, let mean, let variance else { return (.identity, x) }
            let bn = BatchNorm(weight: weight, bias: shift, mean: mean, variance: variance, eps: Float(spec.eps ?? 1e-5))
            return (.batchNorm(bn), x)
        case .relu:
            guard spec.maxValue != nil || spec.threshold != nil || (spec.negativeSlope ?? 0) != 0 else {
                return (.activation(.relu), x)
            }
            let relu = Activation.kerasReLU(negativeSlope: Float(spec.negativeSlope ?? 0), threshold: Float(spec.threshold ?? 0),
                                            maxValue: spec.maxValue.map(Float.init))
            return (.activation(relu), x)
        case .gelu: return (.activation(.gelu), x)
        case .affine:
            // Keras Rescaling and Normalization: a per-channel scale and shift given as weights.
            let scale = take(name + ".weight", expected: [x.channels])?.scalars
            let shift = take(name + ".bias", expected: [x.channels])?.scalars
            guard let scale, let shift else { return (.identity, x) }
            return (.batchNorm(BatchNorm(scale: scale, shift: shift)), x)
        case .reshape:
            guard let target = spec.targetShape else { throw NetworkError("layer '\(name)' (reshape) needs 'target_shape'") }
            if target.count == 3 {
                return (.reshapeChannelsLast(target), ShapeInfo(channels: target[2], fixedSpatial: (target[0], target[1])))
            }
            let features = target == [-1] ? try Self.features(of: x, layer: name) : target[0]
            return (.reshapeChannelsLast(target), ShapeInfo(channels: features ?? 0, isMap: false))
        case .relu6: return (.activation(.relu6), x)
        case .leakyReLU: return (.activation(.leakyReLU(negativeSlope: Float(spec.negativeSlope ?? 0.01))), x)
        case .sigmoid: return (.activation(.sigmoid), x)
        case .tanh: return (.activation(.tanh), x)
        case .silu: return (.activation(.silu), x)
        case .hardswish: return (.activation(.hardswish), x)
        case .hardsigmoid: return (.activation(.hardsigmoid), x)
        case .identity, .dropout: return (.identity, x)
        case .softmax: return (.softmax, x)
        case .maxpool, .avgpool:
            try needMap()
            guard let kernel = spec.kernel else { throw NetworkError("layer '\(name)' (\(spec.op.rawValue)) needs 'kernel'") }
            let stride = spec.stride ?? kernel
            let dilation = spec.op == .maxpool ? (spec.dilation ?? 1) : 1
            var g = WindowGeometry(kernel: (kernel.height, kernel.width), stride: (stride.height, stride.width),
                                   dilation: (dilation.height, dilation.width))
            let info = ShapeInfo(channels: x.channels)
            let ceilMode = spec.ceilMode ?? false
            switch spec.padding ?? .symmetric(0) {
            case .same:
                // TensorFlow pools have no ceil mode, and its `same` average counts only the real pixels.
                guard !ceilMode, spec.op == .maxpool || spec.countIncludePad != true else {
                    throw NetworkError("layer '\(name)' (\(spec.op.rawValue)): padding 'same' takes neither ceil_mode "
                        + "nor count_include_pad true")
                }
                if spec.op == .maxpool { return (.maxPool(g, ceilMode: false, samePadding: true), info) }
                return (.avgPool(g, ceilMode: false, countIncludePad: false, samePadding: true), info)
            case .explicit(let t, let b, let l, let r): (g.padTop, g.padBottom, g.padLeft, g.padRight) = (t, b, l, r)
            }
            // PyTorch's rule: a window must always cover some input, else a max is −∞ and an average divides
            // by nothing.
            let halfHeight = (dilation.height * (kernel.height - 1) + 1) / 2
            let halfWidth = (dilation.width * (kernel.width - 1) + 1) / 2
            guard max(g.padTop, g.padBottom) <= halfHeight, max(g.padLeft, g.padRight) <= halfWidth else {
                throw NetworkError("layer '\(name)' (\(spec.op.rawValue)): padding must be at most half the kernel")
            }
            if spec.op == .maxpool { return (.maxPool(g, ceilMode: ceilMode), info) }
            return (.avgPool(g, ceilMode: ceilMode, countIncludePad: spec.countIncludePad ?? true), info)
        case .adaptiveAvgpool:
            try needMap()
            guard let size = spec.outputSize, size.height > 0, size.width > 0 else {
                throw NetworkError("layer '\(name)' (adaptive_avgpool) needs a positive 'output_size'")
            }
            return (.adaptiveAvgPool(height: size.height, width: size.width),
                    ShapeInfo(channels: x.channels, fixedSpatial: (size.height, size.width)))
        case .globalAvgpool, .globalMaxpool:
            try needMap()
            return (spec.op == .globalAvgpool ? .globalAvgPool : .globalMaxPool,
                    ShapeInfo(channels: x.channels, fixedSpatial: (1, 1)))
        case .flatten:
            let features = try Self.features(of: x, layer: name)
            return (.flatten, ShapeInfo(channels: features ?? 0, isMap: false))
        case .add, .mul:
            guard inputs.count >= 2 else { throw NetworkError("layer '\(name)' (\(spec.op.rawValue)) needs two or more inputs") }
            guard inputs.allSatisfy({ $0.channels == x.channels || $0.channels == 0 }) else {
                throw NetworkError("layer '\(name)' (\(spec.op.rawValue)) combines \(inputs.map { String($0.channels) }.joined(separator: " and ")) channels")
            }
            let info = inputs.first { $0.fixedSpatial == nil } ?? x
            return (spec.op == .add ? .add : .multiply, info)
        case .concat:
            guard inputs.count >= 2 else { throw NetworkError("layer '\(name)' (concat) needs two or more inputs") }
            guard let channels = CheckedSize.sum(inputs.map(\.channels)) else {
                throw NetworkError("layer '\(name)' (concat): the channel count overflows")
            }
            return (.concat, ShapeInfo(channels: channels, fixedSpatial: x.fixedSpatial))
        case .zeropad:
            try needMap()
            guard case .explicit(let t, let b, let l, let r) = spec.padding ?? .symmetric(0) else {
                throw NetworkError("layer '\(name)' (zeropad) needs explicit 'padding'")
            }
            return (.zeroPad(top: t, bottom: b, left: l, right: r), ShapeInfo(channels: x.channels))
        case .crop:
            try needMap()
            guard let cropping = spec.cropping else {
                throw NetworkError("layer '\(name)' (crop) needs 'cropping' [top, bottom, left, right]")
            }
            return (.crop(top: cropping[0], bottom: cropping[1], left: cropping[2], right: cropping[3]),
                    ShapeInfo(channels: x.channels))
        case .layernorm, .groupnorm, .scale, .scalarAffine, .sub, .channelShuffle, .slice, .channelLinear:
            return try bindChannelOp(spec, inputs: inputs)
        }
    }

    /// The ops of converted ConvNeXt, ShuffleNet, GroupNorm and Keras 3 graphs that work along the channels
    /// of a map or the features of a vector.
    mutating func bindChannelOp(_ spec: LayerSpec, inputs: [ShapeInfo]) throws(NetworkError) -> (Layer, ShapeInfo) {
        let x = inputs[0]
        let name = spec.name
        let eps = Float(spec.eps ?? 1e-5)
        func groups() throws(NetworkError) -> Int {
            guard let groups = spec.groups else { throw NetworkError("layer '\(name)' (\(spec.op.rawValue)) needs 'groups'") }
            guard x.channels % groups == 0 else {
                throw NetworkError("layer '\(name)' (\(spec.op.rawValue)): \(x.channels) channels do not split into \(groups) groups")
            }
            return groups
        }
        switch spec.op {
        case .layernorm:
            let norm = LayerNorm(weight: optionalVector(name + ".weight", count: x.channels),
                                 bias: optionalVector(name + ".bias", count: x.channels), eps: eps)
            return (.layerNorm(norm), x)
        case .groupnorm:
            let norm = GroupNorm(groups: try groups(), weight: optionalVector(name + ".weight", count: x.channels),
                                 bias: optionalVector(name + ".bias", count: x.channels), eps: eps)
            return (.groupNorm(norm), x)
        case .scale:
            // A per-channel affine map without shift: binds as one, so it folds into a preceding convolution.
            guard let factors = takeChannelFactors(spec.parameter ?? name + ".weight", count: x.channels) else {
                return (.identity, x)
            }
            return (.batchNorm(BatchNorm(scale: factors, shift: [Float](repeating: 0, count: factors.count))),
                    ShapeInfo(channels: factors.count, isMap: x.isMap, fixedSpatial: x.fixedSpatial))
        case .scalarAffine:
            return (.scalarAffine(multiplier: Float(spec.multiplier ?? 1), offset: Float(spec.offset ?? 0)), x)
        case .sub:
            guard inputs.count == 2 else { throw NetworkError("layer '\(name)' (sub) needs exactly two inputs") }
            guard inputs[1].channels == x.channels || inputs[1].channels == 0 || x.channels == 0 else {
                throw NetworkError("layer '\(name)' (sub) subtracts \(inputs[1].channels) channels from \(x.channels)")
            }
            return (.subtract, inputs.first { $0.fixedSpatial == nil } ?? x)
        case .channelShuffle:
            return (.channelShuffle(groups: try groups()), x)
        case .slice:
            guard let start = spec.start, let end = spec.end else {
                throw NetworkError("layer '\(name)' (slice) needs 'start' and 'end'")
            }
            guard x.channels == 0 || end <= x.channels else {
                throw NetworkError("layer '\(name)' (slice): channels \(start)..<\(end) are not within the input's \(x.channels)")
            }
            return (.channelSlice(start..<end),
                    ShapeInfo(channels: end - start, isMap: x.isMap, fixedSpatial: x.fixedSpatial))
        case .channelLinear:
            // nn.Linear on each pixel's channel vector is a 1×1 convolution; on a vector it is nn.Linear.
            let weight = take(name + ".weight", expected: [spec.outFeatures, x.channels > 0 ? x.channels : nil])
            guard let weight else { return (.identity, ShapeInfo(channels: spec.outFeatures ?? 0, isMap: x.isMap)) }
            let o = weight.shape[0]
            let bias = bias(name + ".bias", count: o, wanted: spec.bias)
            guard x.isMap else { return (.linear(Linear(weight: weight, bias: bias)), ShapeInfo(channels: o, isMap: false)) }
            let conv = Conv2D(weight: weight.reshaped(to: [o, weight.shape[1], 1, 1]), bias: bias,
                              geometry: WindowGeometry(kernel: (1, 1)), groups: 1, samePadding: false)
            return (.conv2d(conv), ShapeInfo(channels: o, fixedSpatial: x.fixedSpatial))
        default:
            preconditionFailure("op \(spec.op.rawValue) is bound by bind(_:inputs:)")
        }
    }
}
