public import CamwatchNN
import CamwatchTensor
import Foundation

/// A Keras model configuration (`model.to_json()`, a `.keras` file's `config.json`, a legacy `.h5`'s
/// `model_config`) translated into camwatch's graph, and the plan that turns Keras's weights into it.
///
/// Keras is channels-last and camwatch channels-first, so every weight is rearranged: convolution kernels
/// `[kH, kW, I, O]` → `[O, I, kH, kW]`, depthwise kernels `[kH, kW, C, M]` → `[C·M, 1, kH, kW]`, dense kernels
/// `[in, out]` → `[out, in]`; `Reshape` and `Flatten` regroup elements in channels-last order
/// (``Layer/reshapeChannelsLast(_:)``). Node names are Keras layer names, so `--layer` and `inspect` speak
/// Keras; a layer that becomes two nodes (a convolution with a fused activation) keeps its name on the
/// second and calls the first `<name>/conv` (`/dense`, `/depthwise`). A final softmax is left out: the
/// network's output is the logits before it, as tf-keras-vis's `ReplaceToLinear` makes them.
public struct KerasModel: Sendable {
    /// The graph, with `input_size` when the model's input shape is fixed.
    public var spec: ModelSpec
    /// The layers that own weights, in graph order.
    var weighted: [WeightedLayer]
    /// Weights the graph needs that Keras keeps in the config (Rescaling, a Normalization given its
    /// mean and variance), by camwatch name.
    var constants: [String: Tensor]

    /// A Keras layer that owns variables: where its variables are stored and what each becomes.
    struct WeightedLayer: Sendable {
        var kerasName: String
        var className: String
        /// The layer's group in a Keras 3 weights file (`layers/functional/layers/conv2d`).
        var keras3Path: String
        /// The layer's place in a legacy file: its top-level layer, and its name inside that layer when the
        /// top-level layer is a nested model.
        var legacyOuter: String
        var legacyInner: String?
        /// What each variable becomes, in Keras's variable order.
        var roles: [Role]
    }

    /// What one Keras variable becomes.
    enum Role: Sendable, Equatable {
        /// `[kH, kW, I, O]` → `<node>.weight` `[O, I, kH, kW]`.
        case convKernel(String)
        /// `[kH, kW, C, M]` → `<node>.weight` `[C·M, 1, kH, kW]`.
        case depthwiseKernel(String)
        /// `[in, out]` → `<node>.weight` `[out, in]`.
        case denseKernel(String)
        /// A vector stored under the camwatch name as it is (`<node>.bias`, `.running_mean`, …).
        case vector(String)
        /// Normalization's mean and variance, folded into `<node>.weight`/`.bias` once both are read.
        case normalizationMean(String)
        case normalizationVariance(String)
        /// A variable the graph does not need (Normalization's sample count).
        case ignored
    }

    /// The variable names Keras gives each role, in the order Keras creates them; legacy files name their
    /// variables, and nested models list them trainable first, so they are put back in this order.
    static let variableOrder: [String: Int] = [
        "kernel": 0, "depthwise_kernel": 0, "pointwise_kernel": 1, "bias": 2,
        "gamma": 0, "beta": 1, "moving_mean": 2, "moving_variance": 3,
        "mean": 0, "variance": 1, "count": 2,
    ]

    /// Translates a Keras config.
    ///
    /// - Parameters:
    ///   - json: the config text, `{"class_name": "Functional"|"Sequential"|"Model", "config": {…}}`.
    ///   - name: the model name to use when the config has none.
    /// - Throws: ``KerasError`` naming the first layer camwatch cannot build, with its class, or for a config
    ///   too large to parse (``KerasConfigSize``).
    public init(json: String, name: String = "keras") throws(KerasError) {
        if let problem = KerasConfigSize(counting: json).problem { throw KerasError(problem) }
        guard let data = json.data(using: .utf8), let root = try? JSONSerialization.jsonObject(with: data),
            let object = root as? [String: Any]
        else { throw KerasError("the Keras model config is not a JSON object") }
        var builder = KerasGraphBuilder()
        let output = try builder.model(object, input: nil, path: "", legacyOuter: nil)
        try builder.finish(output: output, fallbackName: name)
        spec = builder.spec
        weighted = builder.weighted
        constants = builder.constants
    }

    /// Camwatch's tensors from Keras's variables.
    ///
    /// - Parameter variables: each weighted layer's variables in Keras order, by the key
    ///   ``Self/variableKey(_:legacy:)`` gives it.
    /// - Throws: ``KerasError`` naming a layer whose variables are missing or mis-shaped.
    func parameters(from variables: [String: [Tensor]], legacy: Bool) throws(KerasError) -> [String: Tensor] {
        var result = constants
        for layer in weighted {
            let key = Self.variableKey(layer, legacy: legacy)
            guard let values = variables[key] else {
                throw KerasError("layer '\(layer.kerasName)' (\(layer.className)): no weights at '\(key)' in the file")
            }
            guard values.count == layer.roles.count else {
                throw KerasError("layer '\(layer.kerasName)' (\(layer.className)): \(values.count) variables at '\(key)', "
                    + "expected \(layer.roles.count)")
            }
            var mean: Tensor?
            for (role, value) in zip(layer.roles, values) {
                switch role {
                case .convKernel(let node):
                    result[node + ".weight"] = try Self.permuted(value, [3, 2, 0, 1], layer: layer)
                case .depthwiseKernel(let node):
                    let t = try Self.permuted(value, [2, 3, 0, 1], layer: layer)
                    result[node + ".weight"] = t.reshaped(to: [t.shape[0] * t.shape[1], 1, t.shape[2], t.shape[3]])
                case .denseKernel(let node):
                    result[node + ".weight"] = try Self.permuted(value, [1, 0], layer: layer)
                case .vector(let name):
                    result[name] = value
                case .normalizationMean:
                    mean = value
                case .normalizationVariance(let node):
                    guard let mean, mean.scalarCount == value.scalarCount else {
                        throw KerasError("layer '\(layer.kerasName)' (Normalization): mean and variance differ in size")
                    }
                    let (scale, shift) = Self.normalization(mean: mean.scalars, variance: value.scalars)
                    result[node + ".weight"] = Tensor(shape: [scale.count], scalars: scale)
                    result[node + ".bias"] = Tensor(shape: [shift.count], scalars: shift)
                case .ignored:
                    continue
                }
            }
        }
        return result
    }

    /// Where ``parameters(from:legacy:)`` looks for a layer's variables.
    static func variableKey(_ layer: WeightedLayer, legacy: Bool) -> String {
        legacy ? layer.legacyOuter + (layer.legacyInner.map { "/" + $0 } ?? "") : layer.keras3Path
    }

    /// Keras's `Normalization`: `(x − mean) / max(√variance, 1e-7)` as a scale and a shift.
    static func normalization(mean: [Float], variance: [Float]) -> (scale: [Float], shift: [Float]) {
        let scale = variance.map { 1 / max($0.squareRoot(), 1e-7) }
        return (scale, zip(mean, scale).map { -$0 * $1 })
    }

    /// `tensor` with its axes reordered (`order[i]` is the source axis of result axis `i`).
    static func permuted(_ tensor: Tensor, _ order: [Int], layer: WeightedLayer) throws(KerasError) -> Tensor {
        guard tensor.rank == order.count else {
            throw KerasError("layer '\(layer.kerasName)' (\(layer.className)): a variable of shape \(tensor.shape), "
                + "expected rank \(order.count)")
        }
        let shape = order.map { tensor.shape[$0] }
        var sourceStrides = [Int](repeating: 1, count: tensor.rank)
        for axis in stride(from: tensor.rank - 2, through: 0, by: -1) {
            sourceStrides[axis] = sourceStrides[axis + 1] * tensor.shape[axis + 1]
        }
        let strides = order.map { sourceStrides[$0] }
        var out = [Float](repeating: 0, count: tensor.scalarCount)
        var index = [Int](repeating: 0, count: shape.count)
        tensor.scalars.withUnsafeBufferPointer { src in
            for position in 0..<out.count {
                var offset = 0
                for axis in 0..<shape.count { offset += index[axis] * strides[axis] }
                out[position] = src[offset]
                var axis = shape.count - 1
                while axis >= 0 {
                    index[axis] += 1
                    if index[axis] < shape[axis] { break }
                    index[axis] = 0
                    axis -= 1
                }
            }
        }
        return Tensor(shape: shape, scalars: out)
    }
}

/// Why a Keras model cannot be read or built; one line naming the layer and its class where there is one.
public struct KerasError: Error, Sendable, Equatable, CustomStringConvertible {
    /// What is wrong.
    public enum Reason: Sendable, Equatable {
        /// The config describes something camwatch cannot build, in words.
        case config(String)
        /// The `.keras` archive holding the config cannot be read; the archive's own error, which names the file.
        case unreadableArchive(CheckpointError)
    }

    public var reason: Reason

    /// A config camwatch cannot build; `description` should name the layer and its class where there is one.
    public init(_ description: String) { reason = .config(description) }

    /// A `.keras` archive whose config cannot be read.
    public init(unreadableArchive error: CheckpointError) { reason = .unreadableArchive(error) }

    public var description: String {
        switch reason {
        case .config(let message): message
        case .unreadableArchive(let error): error.description
        }
    }
}
