public import CamwatchNN
public import CamwatchTensor

/// The gradient CAM methods on a native ``Network``: one forward pass and one backward pass from the class
/// score down to the target layer (``Network/gradients(of:classes:)``), then pytorch-grad-cam's formulas.
///
/// With `A` the target layer's output `[K, h, w]` and `G = ∂y_c/∂A`:
/// - Grad-CAM: `w_k = mean(G_k)`, map `Σ_k w_k A_k`.
/// - Grad-CAM++: `α = G² / (2G² + Σ_ij A_k · G³ + 1e-6)` (0 where `G = 0`), `w_k = Σ_ij ReLU(G_k) α`.
/// - XGrad-CAM: `w_k = Σ_ij G_k A_k / (Σ_ij A_k + 1e-7)`.
/// - LayerCAM: map `Σ_k ReLU(G_k) ⊙ A_k`.
/// - HiResCAM: map `Σ_k G_k ⊙ A_k`.
/// Then ReLU, min-max, resize, min-max as every method (``CAMFinish``).
public struct GradientCAM: Sendable {
    /// Which formula turns activations and gradients into a map.
    public enum Variant: Sendable, CaseIterable {
        case gradCAM, gradCAMPlusPlus, xGradCAM, layerCAM, hiResCAM
    }

    /// The network, with batch norms folded except where that would change the target's output.
    public let network: Network
    public let targetIndex: Int
    public let targetName: String
    public let variant: Variant

    /// - Parameters:
    ///   - network: a classifier whose output is `[N, classes]`.
    ///   - targetLayer: a layer name or module prefix; `nil` picks the last conv-like layer.
    /// - Throws: ``SaliencyError`` when the layer does not exist or has no spatial output.
    public init(network: Network, targetLayer: String? = nil, variant: Variant) throws {
        let index = try network.camTargetIndex(targetLayer)
        // One forward pass per image: the Winograd filter transform would cost more than it saves.
        self.network = network.optimized(preserving: [index], winograd: false)
        targetIndex = index
        targetName = network.nodes[index].name
        self.variant = variant
    }

    /// Explains one image.
    ///
    /// - Parameters:
    ///   - input: `[1, C, H, W]`, normalized as the network expects.
    ///   - classIndex: the class to explain; `nil` explains the predicted (argmax) class.
    /// - Returns: the heatmap at `H × W` in [0, 1]; `channelWeights` holds the per-channel weights
    ///   (LayerCAM and HiResCAM weigh positions, not channels: their spatial mean of the weighting).
    /// - Throws: ``SaliencyError`` for a class out of range or non-finite outputs or gradients.
    public func explain(_ input: Tensor, classIndex: Int? = nil) throws -> SaliencyMap {
        precondition(input.rank == 4 && input.shape[0] == 1, "explain takes one image [1, C, H, W], got \(input.shape)")
        let record = network.record(input, from: targetIndex)
        guard let activations = record.values[targetIndex], activations.rank == 4, record.output.rank == 2 else {
            throw SaliencyError("layer '\(targetName)' output is not a spatial map")
        }
        let target = try CAMFinish.targetClass(record.output, requested: classIndex)
        let gradients = network.gradients(of: record, classes: [target])
        let gradient = gradients[targetIndex] ?? Tensor(shape: activations.shape, repeating: 0)
        guard gradient.scalars.allSatisfy(\.isFinite) else { throw SaliencyError("the gradient at '\(targetName)' is not finite") }
        let (cam, weights) = Self.map(variant, activations: activations, gradient: gradient)
        let (h, w) = (activations.shape[2], activations.shape[3])
        let (values, low, isConstant) = CAMFinish.heatmap(cam, h: h, w: w, height: input.shape[2], width: input.shape[3])
        return SaliencyMap(
            classIndex: target, score: record.output.scalars[target], width: input.shape[3], height: input.shape[2],
            values: values, lowResolution: low, scoredChannels: [], channelScores: [], channelWeights: weights,
            isConstant: isConstant)
    }

    /// The map before ReLU and the per-channel weights.
    ///
    /// - Parameters:
    ///   - activations, gradient: `[1, K, h, w]`.
    /// - Returns: `h · w` values and `K` weights.
    static func map(_ variant: Variant, activations: Tensor, gradient: Tensor) -> (cam: [Float], weights: [Float]) {
        let (k, plane) = (activations.shape[1], activations.shape[2] * activations.shape[3])
        let a = activations.scalars, g = gradient.scalars
        func channelSum(_ term: (Int) -> Float) -> [Float] {
            (0..<k).map { channel in
                var sum: Float = 0
                for i in (channel * plane)..<((channel + 1) * plane) { sum += term(i) }
                return sum
            }
        }
        switch variant {
        case .gradCAM:
            let weights = channelSum { g[$0] }.map { $0 / Float(plane) }
            return (CAMFinish.weightedSum(activations, weights: weights), weights)
        case .gradCAMPlusPlus:
            let sums = channelSum { a[$0] }
            let weights = channelSum { i in
                let gi = g[i]
                guard gi != 0 else { return 0 }
                let square = gi * gi
                let alpha = square / (2 * square + sums[i / plane] * square * gi + 1e-6)
                return max(gi, 0) * alpha
            }
            return (CAMFinish.weightedSum(activations, weights: weights), weights)
        case .xGradCAM:
            let sums = channelSum { a[$0] }
            let weights = channelSum { g[$0] * a[$0] / (sums[$0 / plane] + 1e-7) }
            return (CAMFinish.weightedSum(activations, weights: weights), weights)
        case .layerCAM, .hiResCAM:
            let positive = variant == .layerCAM
            var cam = [Float](repeating: 0, count: plane)
            for channel in 0..<k {
                for i in 0..<plane {
                    let j = channel * plane + i
                    cam[i] += (positive ? max(g[j], 0) : g[j]) * a[j]
                }
            }
            let weights = channelSum { positive ? max(g[$0], 0) : g[$0] }.map { $0 / Float(plane) }
            return (cam, weights)
        }
    }
}
