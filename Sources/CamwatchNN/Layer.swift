public import CamwatchTensor

/// A 2-D convolution with its weights, PyTorch `nn.Conv2d` semantics.
public struct Conv2D: Sendable {
    /// `[O, I / groups, kH, kW]`.
    public var weight: Tensor
    /// `O` values, or `nil`.
    public var bias: [Float]?
    public var geometry: WindowGeometry
    public var groups: Int
    /// TensorFlow `same` padding, computed from each input's size (the odd pixel at the bottom/right).
    public var samePadding: Bool
    /// An activation fused into the convolution's output pass by ``Network/optimized(preserving:)``.
    public var activation: Activation? = nil
    /// Winograd-transformed filters, prepared by ``Network/optimized(preserving:)`` for 3×3 stride-1 layers.
    public var winograd: Winograd.Filters? = nil

    public var outputChannels: Int { weight.shape[0] }

    /// The geometry used for an input of the given size.
    public func geometry(height: Int, width: Int) -> WindowGeometry {
        samePadding ? geometry.samePadded(height: height, width: width) : geometry
    }

    /// - Parameter input: `[N, I, H, W]`. - Returns: `[N, O, OH, OW]`.
    public func callAsFunction(_ input: Tensor) -> Tensor {
        Convolution.forward(input, weight: weight, bias: bias,
                            geometry: geometry(height: input.shape[2], width: input.shape[3]), groups: groups,
                            activation: activation, winograd: winograd)
    }
}

/// A fully connected layer, PyTorch `nn.Linear` semantics.
public struct Linear: Sendable {
    /// `[out, in]`.
    public var weight: Tensor
    public var bias: [Float]?

    /// - Parameter input: `[N, in]` (or any `[N, ...]` with `in` elements per item). - Returns: `[N, out]`.
    public func callAsFunction(_ input: Tensor) -> Tensor {
        let n = input.shape[0]
        return Dense.forward(input.reshaped(to: [n, input.scalarCount / max(n, 1)]), weight: weight, bias: bias)
    }
}

/// Inference-mode batch normalization as a per-channel affine map `x · scale + shift`.
public struct BatchNorm: Sendable {
    public var scale: [Float]
    public var shift: [Float]

    /// Folds `weight·(x − mean)/√(var + eps) + bias` into one scale and shift.
    public init(weight: [Float], bias: [Float], mean: [Float], variance: [Float], eps: Float) {
        let scale = zip(weight, variance).map { $0 / ($1 + eps).squareRoot() }
        self.scale = scale
        shift = (0..<weight.count).map { bias[$0] - mean[$0] * scale[$0] }
    }

    /// A per-channel affine map given directly: Keras `Rescaling` (`x · scale + offset`) and `Normalization`
    /// (`(x − mean) / max(√variance, ε)`) become one.
    public init(scale: [Float], shift: [Float]) {
        precondition(scale.count == shift.count, "affine: \(scale.count) scales, \(shift.count) shifts")
        self.scale = scale
        self.shift = shift
    }

    public func callAsFunction(_ input: consuming Tensor) -> Tensor {
        Elementwise.channelAffine(input, scale: scale, shift: shift)
    }
}

/// `F.layer_norm` over the channels of each pixel of a map, or over the features of a vector
/// (``Normalization/layerNorm(_:weight:bias:eps:)``).
public struct LayerNorm: Sendable {
    /// `C` values, or `nil` for 1.
    public var weight: [Float]?
    /// `C` values, or `nil` for 0.
    public var bias: [Float]?
    public var eps: Float

    /// - Parameter input: `[N, C, H, W]` or `[N, C]`. - Returns: the input's shape.
    public func callAsFunction(_ input: consuming Tensor) -> Tensor {
        Normalization.layerNorm(input, weight: weight, bias: bias, eps: eps)
    }
}

/// `nn.GroupNorm`: statistics over each group of `C / groups` channels and their pixels
/// (``Normalization/groupNorm(_:groups:weight:bias:eps:)``).
public struct GroupNorm: Sendable {
    public var groups: Int
    /// `C` values, or `nil` for 1.
    public var weight: [Float]?
    /// `C` values, or `nil` for 0.
    public var bias: [Float]?
    public var eps: Float

    /// - Parameter input: `[N, C, ...]`, `C` a multiple of ``groups``. - Returns: the input's shape.
    public func callAsFunction(_ input: consuming Tensor) -> Tensor {
        Normalization.groupNorm(input, groups: groups, weight: weight, bias: bias, eps: eps)
    }
}

/// What one node of a ``Network`` computes.
public enum Layer: Sendable {
    case conv2d(Conv2D)
    case linear(Linear)
    case batchNorm(BatchNorm)
    case activation(Activation)
    /// With `samePadding` the geometry's padding is TensorFlow's `same` for each input's size
    /// (``CamwatchTensor/WindowGeometry/samePadded(height:width:)``).
    case maxPool(WindowGeometry, ceilMode: Bool, samePadding: Bool = false)
    case avgPool(WindowGeometry, ceilMode: Bool, countIncludePad: Bool, samePadding: Bool = false)
    case adaptiveAvgPool(height: Int, width: Int)
    case globalAvgPool
    case globalMaxPool
    case flatten
    /// Keras `Reshape`/`Flatten`: regroups the elements in channels-last order (``ChannelsLast/reshape(_:to:)``).
    /// The target is channels-last without the batch, `[f]` or `[h, w, c]`; `[-1]` flattens whatever comes.
    case reshapeChannelsLast([Int])
    case add
    case multiply
    case concat
    case zeroPad(top: Int, bottom: Int, left: Int, right: Int)
    /// Keras `Cropping2D`: removes rows and columns.
    case crop(top: Int, bottom: Int, left: Int, right: Int)
    case layerNorm(LayerNorm)
    case groupNorm(GroupNorm)
    /// `x · multiplier + offset` elementwise.
    case scalarAffine(multiplier: Float, offset: Float)
    /// `a − b`, `b` (or `a`) possibly `[N, C, 1, 1]` broadcast over a map.
    case subtract
    /// ShuffleNet's channel shuffle (``CamwatchTensor/Elementwise/channelShuffle(_:groups:)``).
    case channelShuffle(groups: Int)
    /// `x[:, range]`: a run of channels or features.
    case channelSlice(Range<Int>)
    case softmax
    /// Passes its input through (dropout at inference, identity, a batch norm folded into its conv).
    case identity

    /// The op name used in model specs.
    public var opName: String {
        switch self {
        case .conv2d: "conv2d"
        case .linear: "linear"
        case .batchNorm: "batchnorm"
        case .activation(let a):
            switch a {
            case .relu: "relu"
            case .relu6: "relu6"
            case .leakyReLU: "leaky_relu"
            case .sigmoid: "sigmoid"
            case .tanh: "tanh"
            case .silu: "silu"
            case .hardswish: "hardswish"
            case .hardsigmoid: "hardsigmoid"
            case .gelu: "gelu"
            case .kerasReLU: "relu"
            }
        case .maxPool: "maxpool"
        case .avgPool: "avgpool"
        case .adaptiveAvgPool: "adaptive_avgpool"
        case .globalAvgPool: "global_avgpool"
        case .globalMaxPool: "global_maxpool"
        case .flatten: "flatten"
        case .reshapeChannelsLast: "reshape"
        case .add: "add"
        case .multiply: "mul"
        case .concat: "concat"
        case .zeroPad: "zeropad"
        case .crop: "crop"
        case .layerNorm: "layernorm"
        case .groupNorm: "groupnorm"
        case .scalarAffine: "scalar_affine"
        case .subtract: "sub"
        case .channelShuffle: "channel_shuffle"
        case .channelSlice: "slice"
        case .softmax: "softmax"
        case .identity: "identity"
        }
    }

    /// Whether the output is a spatial map `[N, C, H, W]` that Score-CAM can weight (conv-like).
    public var isConvLike: Bool {
        switch self {
        case .conv2d, .batchNorm, .activation, .maxPool, .avgPool, .add, .multiply, .concat, .zeroPad, .identity,
            .crop, .layerNorm, .groupNorm, .scalarAffine, .subtract, .channelShuffle, .channelSlice:
            true
        default: false
        }
    }

    /// Evaluates the layer on its inputs.
    ///
    /// Elementwise layers reuse their first input's storage when the caller hands over the only
    /// reference (``Network/forward(_:capturing:)`` does, after a value's last reader).
    public func callAsFunction(_ inputs: consuming [Tensor]) -> Tensor {
        var rest = inputs
        let x = rest.removeFirst()
        switch self {
        case .conv2d(let conv): return conv(x)
        case .linear(let linear): return linear(x)
        case .batchNorm(let bn): return bn(x)
        case .activation(let activation): return activation(x)
        case .maxPool(let g, let ceilMode, let same):
            return Pooling.max(x, geometry: Self.window(g, same: same, input: x.shape), ceilMode: ceilMode)
        case .avgPool(let g, let ceilMode, let countIncludePad, let same):
            return Pooling.average(x, geometry: Self.window(g, same: same, input: x.shape), ceilMode: ceilMode,
                                   countIncludePad: countIncludePad)
        case .adaptiveAvgPool(let h, let w): return Pooling.adaptiveAverage(x, outputHeight: h, outputWidth: w)
        case .globalAvgPool: return Pooling.global(x, maximum: false)
        case .globalMaxPool: return Pooling.global(x, maximum: true)
        case .flatten: return x.reshaped(to: [x.shape[0], x.scalarCount / max(x.shape[0], 1)])
        case .reshapeChannelsLast(let target):
            return ChannelsLast.reshape(x, to: target == [-1] ? [x.scalarCount / max(x.shape[0], 1)] : target)
        case .add: return Elementwise.sum(x, adding: rest)
        case .multiply: return Elementwise.product([x] + rest)
        case .concat: return Elementwise.concatenateChannels([x] + rest)
        case .zeroPad(let t, let b, let l, let r): return Elementwise.zeroPad(x, top: t, bottom: b, left: l, right: r)
        case .crop(let t, let b, let l, let r): return Elementwise.crop(x, top: t, bottom: b, left: l, right: r)
        case .layerNorm(let norm): return norm(x)
        case .groupNorm(let norm): return norm(x)
        case .scalarAffine(let multiplier, let offset): return Elementwise.scalarAffine(x, multiplier: multiplier, offset: offset)
        case .subtract: return Elementwise.difference(x, rest[0])
        case .channelShuffle(let groups): return Elementwise.channelShuffle(x, groups: groups)
        case .channelSlice(let range): return Elementwise.channelSlice(x, channels: range)
        case .softmax: return Elementwise.softmax(x)
        case .identity: return x
        }
    }

    /// A pooling window as applied to an input of `shape` `[N, C, H, W]`: with `same` padding resolved for its size.
    static func window(_ geometry: WindowGeometry, same: Bool, input shape: [Int]) -> WindowGeometry {
        same ? geometry.samePadded(height: shape[2], width: shape[3]) : geometry
    }
}
