import CamwatchTensor
import Foundation
import Yams

/// A network described as a graph of named layers (docs/model-spec.md).
///
/// Weights are not part of the spec: they are found by layer name (`<name>.weight`, …) when the spec is
/// bound to a checkpoint's tensors with ``Network/init(spec:parameters:)``.
public struct ModelSpec: Codable, Sendable, Equatable {
    public var name: String
    /// Channels of the network input (3 for RGB).
    public var inputChannels: Int?
    /// The input height and width the network was trained at; the default input size of `watch`,
    /// `explain` and `predict` when no `--input-size` is given (224 when the spec has none either).
    public var inputSize: IntPair?
    /// Layers in evaluation order.
    public var layers: [LayerSpec]
    /// The layer whose output is the logits; the last layer when `nil`.
    public var output: String?
    /// Tensors of the checkpoint the network does not use, by name or module path (`aux1` covers
    /// `aux1.conv.weight`): heads that run in training mode only, such as GoogLeNet's `aux1`/`aux2` and
    /// Inception v3's `AuxLogits`, whose weights are in every state_dict. Binding accepts them unread.
    public var ignoreWeights: [String]?

    public init(
        name: String, inputChannels: Int? = nil, inputSize: IntPair? = nil, layers: [LayerSpec], output: String? = nil,
        ignoreWeights: [String]? = nil
    ) {
        self.name = name
        self.inputChannels = inputChannels
        self.inputSize = inputSize
        self.layers = layers
        self.output = output
        self.ignoreWeights = ignoreWeights
    }

    enum CodingKeys: String, CodingKey {
        case name, layers, output
        case inputChannels = "input_channels"
        case inputSize = "input_size"
        case ignoreWeights = "ignore_weights"
    }

    /// Whether the tensor `key` is one the spec declares unused (``ignoreWeights``).
    public func ignores(_ key: String) -> Bool {
        ignoreWeights?.contains { key == $0 || key.hasPrefix($0 + ".") } ?? false
    }

    /// Parses a spec from JSON or YAML text (YAML is a superset of JSON) and checks its values
    /// (``validate()``).
    ///
    /// - Throws: ``NetworkError`` naming what is wrong in the text.
    public static func parse(_ text: String) throws(NetworkError) -> ModelSpec {
        let trimmed = text.drop { $0.isWhitespace }
        let spec: ModelSpec
        do {
            if trimmed.first == "{" {
                spec = try JSONDecoder().decode(ModelSpec.self, from: Data(text.utf8))
            } else {
                spec = try YAMLDecoder().decode(ModelSpec.self, from: text)
            }
        } catch let error as DecodingError {
            throw NetworkError("invalid model spec: \(error.summary)")
        } catch {
            // Parser messages may span lines; `NetworkError` folds them to one.
            throw NetworkError("invalid model spec", cause: ErrorCause(error))
        }
        try spec.validate()
        return spec
    }

    /// The spec as compact JSON (what camwatch stores in a checkpoint's `camwatch_model` attribute).
    public func jsonString() -> String {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys]
        guard let data = try? encoder.encode(self) else { return "{}" }
        return String(decoding: data, as: UTF8.self)
    }
}

/// One layer of a ``ModelSpec``; which keys apply depends on `op` (docs/model-spec.md).
public struct LayerSpec: Codable, Sendable, Equatable {
    public var name: String
    public var op: Operation
    public var inputs: [String]?
    public var outChannels: Int?
    public var kernel: IntPair?
    public var stride: IntPair?
    public var padding: PaddingSpec?
    public var dilation: IntPair?
    public var groups: Int?
    public var bias: Bool?
    public var outFeatures: Int?
    public var eps: Double?
    public var negativeSlope: Double?
    public var ceilMode: Bool?
    public var countIncludePad: Bool?
    public var outputSize: IntPair?
    /// `relu`: Keras's `max_value` and `threshold` (see ``Activation/kerasReLU(negativeSlope:threshold:maxValue:)``).
    public var maxValue: Double?
    public var threshold: Double?
    /// `reshape`: the channels-last shape per item, `[f]`, `[-1]` (flatten) or `[h, w, c]`.
    public var targetShape: [Int]?
    /// `scale`: the name of the tensor of per-channel factors (default `<name>.weight`).
    public var parameter: String?
    /// `slice`: the first channel taken and the one after the last.
    public var start: Int?
    public var end: Int?
    /// `scalar_affine`: `x · multiplier + offset`.
    public var multiplier: Double?
    public var offset: Double?
    /// `crop`: rows and columns removed, `[top, bottom, left, right]`.
    public var cropping: [Int]?

    public init(name: String, op: Operation, inputs: [String]? = nil) {
        self.name = name
        self.op = op
        self.inputs = inputs
    }

    enum CodingKeys: String, CodingKey {
        case name, op, inputs, kernel, stride, padding, dilation, groups, bias, eps
        case outChannels = "out_channels"
        case outFeatures = "out_features"
        case negativeSlope = "negative_slope"
        case ceilMode = "ceil_mode"
        case countIncludePad = "count_include_pad"
        case outputSize = "output_size"
        case maxValue = "max_value"
        case threshold
        case targetShape = "target_shape"
        case parameter, start, end, multiplier, offset, cropping
    }
}

extension LayerSpec {
    /// What a layer computes: every `op` a spec may name (docs/model-spec.md). Binding switches over this
    /// closed set, so an op added here without a binding does not compile.
    public enum Operation: String, Codable, Sendable, CaseIterable {
        case conv2d, linear, batchnorm, affine, reshape
        case relu, relu6, leakyReLU = "leaky_relu", sigmoid, tanh, silu, gelu, hardswish, hardsigmoid, softmax
        case identity, dropout
        case maxpool, avgpool
        case adaptiveAvgpool = "adaptive_avgpool", globalAvgpool = "global_avgpool", globalMaxpool = "global_maxpool"
        case flatten, add, mul, concat, zeropad
        case layernorm, groupnorm, scale, sub, scalarAffine = "scalar_affine", crop
        case channelShuffle = "channel_shuffle", slice, channelLinear = "channel_linear"

        /// An unknown name is refused with the names a spec may use.
        public init(from decoder: any Decoder) throws {
            let container = try decoder.singleValueContainer()
            let name = try container.decode(String.self)
            guard let operation = Self(rawValue: name) else {
                let known = Self.allCases.map(\.rawValue).joined(separator: ", ")
                throw DecodingError.dataCorruptedError(in: container, debugDescription: "unknown op '\(name)' (ops: \(known))")
            }
            self = operation
        }
    }
}

/// A height/width pair written as one integer or `[h, w]`.
public struct IntPair: Codable, Sendable, Equatable, ExpressibleByIntegerLiteral {
    public var height: Int
    public var width: Int

    public init(_ height: Int, _ width: Int) {
        self.height = height
        self.width = width
    }

    public init(integerLiteral value: Int) { self.init(value, value) }

    public init(from decoder: any Decoder) throws {
        let container = try decoder.singleValueContainer()
        if let single = try? container.decode(Int.self) {
            self.init(single, single)
            return
        }
        let pair = try container.decode([Int].self)
        guard pair.count == 2 else {
            throw DecodingError.dataCorruptedError(in: container, debugDescription: "expected an integer or [h, w]")
        }
        self.init(pair[0], pair[1])
    }

    public func encode(to encoder: any Encoder) throws {
        var container = encoder.singleValueContainer()
        if height == width { try container.encode(height) } else { try container.encode([height, width]) }
    }
}

/// Convolution or pooling padding: explicit amounts, TensorFlow's `same`, or `valid` (none).
public enum PaddingSpec: Codable, Sendable, Equatable {
    case explicit(top: Int, bottom: Int, left: Int, right: Int)
    case same

    public static func symmetric(_ value: Int) -> PaddingSpec { .explicit(top: value, bottom: value, left: value, right: value) }

    public init(from decoder: any Decoder) throws {
        let container = try decoder.singleValueContainer()
        if let word = try? container.decode(String.self) {
            switch word.lowercased() {
            case "same": self = .same
            case "valid": self = .symmetric(0)
            default:
                throw DecodingError.dataCorruptedError(in: container, debugDescription: "padding '\(word)' is not same/valid")
            }
            return
        }
        if let single = try? container.decode(Int.self) {
            self = .symmetric(single)
            return
        }
        let values = try container.decode([Int].self)
        switch values.count {
        case 2: self = .explicit(top: values[0], bottom: values[0], left: values[1], right: values[1])
        case 4: self = .explicit(top: values[0], bottom: values[1], left: values[2], right: values[3])
        default:
            throw DecodingError.dataCorruptedError(
                in: container, debugDescription: "padding wants an integer, [h, w] or [top, bottom, left, right]")
        }
    }

    public func encode(to encoder: any Encoder) throws {
        var container = encoder.singleValueContainer()
        switch self {
        case .same: try container.encode("same")
        case .explicit(let t, let b, let l, let r):
            if t == b && l == r && t == l { try container.encode(t) } else { try container.encode([t, b, l, r]) }
        }
    }
}
