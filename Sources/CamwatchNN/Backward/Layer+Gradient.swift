public import CamwatchTensor

extension Layer {
    /// The vector-Jacobian product of this layer: the gradient with respect to each input wanted, given
    /// the gradient with respect to the output.
    ///
    /// - Parameters:
    ///   - outputGradient: the shape of `output`.
    ///   - inputs: the forward inputs.
    ///   - output: the forward output.
    ///   - preActivation: a convolution's output before its fused activation, when that activation's
    ///     derivative needs it (``Activation/gradientNeedsInput``).
    ///   - wanted: per input, whether its gradient is needed.
    /// - Returns: per input, its gradient (input's shape) or `nil` when not wanted.
    public func inputGradients(
        _ outputGradient: Tensor, inputs: [Tensor], output: Tensor, preActivation: Tensor? = nil, wanted: [Bool]
    ) -> [Tensor?] {
        let x = inputs[0]
        func only(_ gradient: @autoclosure () -> Tensor) -> [Tensor?] { [wanted[0] ? gradient() : nil] }
        switch self {
        case .conv2d(let conv):
            var gradient = outputGradient
            if let activation = conv.activation {
                gradient = activation.inputGradient(gradient, input: preActivation, output: output)
            }
            let geometry = conv.geometry(height: x.shape[2], width: x.shape[3])
            return only(Convolution.inputGradient(gradient, weight: conv.weight, inputShape: x.shape,
                                                  geometry: geometry, groups: conv.groups))
        case .linear(let linear):
            return only(Dense.inputGradient(outputGradient, weight: linear.weight).reshaped(to: x.shape))
        case .batchNorm(let bn):
            return only(Elementwise.channelScaleGradient(outputGradient, scale: bn.scale))
        case .activation(let activation):
            return only(activation.inputGradient(outputGradient, input: x, output: output))
        case .maxPool(let g, _, let same):
            return only(Pooling.maxGradient(outputGradient, input: x, geometry: Self.window(g, same: same, input: x.shape)))
        case .avgPool(let g, _, let countIncludePad, let same):
            return only(Pooling.averageGradient(outputGradient, inputShape: x.shape,
                                                geometry: Self.window(g, same: same, input: x.shape),
                                                countIncludePad: countIncludePad))
        case .adaptiveAvgPool:
            return only(Pooling.adaptiveAverageGradient(outputGradient, inputShape: x.shape))
        case .globalAvgPool:
            return only(Pooling.globalGradient(outputGradient, input: x, maximum: false))
        case .globalMaxPool:
            return only(Pooling.globalGradient(outputGradient, input: x, maximum: true))
        case .flatten, .identity:
            return only(outputGradient.reshaped(to: x.shape))
        case .reshapeChannelsLast:
            // A permutation that keeps the channels-last order of the elements: regrouping the gradient as the
            // input's channels-last shape runs it backwards.
            return only(ChannelsLast.reshape(
                outputGradient, to: x.rank == 4 ? [x.shape[2], x.shape[3], x.shape[1]] : [x.scalarCount / max(x.shape[0], 1)]))
        case .add:
            return wanted.map { $0 ? outputGradient : nil }
        case .multiply:
            return inputs.indices.map { wanted[$0] ? Elementwise.productGradient(outputGradient, inputs: inputs, index: $0) : nil }
        case .concat:
            let parts = Elementwise.concatenationGradients(outputGradient, channels: inputs.map { $0.shape[1] })
            return zip(parts, wanted).map { $1 ? $0 : nil }
        case .zeroPad(let t, let b, let l, let r):
            return only(Elementwise.zeroPadGradient(outputGradient, top: t, bottom: b, left: l, right: r))
        case .crop(let t, let b, let l, let r):
            return only(Elementwise.zeroPad(outputGradient, top: t, bottom: b, left: l, right: r))
        case .layerNorm(let norm):
            return only(Normalization.layerNormGradient(outputGradient, input: x, weight: norm.weight, eps: norm.eps))
        case .groupNorm(let norm):
            return only(Normalization.groupNormGradient(outputGradient, input: x, groups: norm.groups, weight: norm.weight,
                                                        eps: norm.eps))
        case .scalarAffine(let multiplier, _):
            return only(Elementwise.scalarAffine(outputGradient, multiplier: multiplier, offset: 0))
        case .subtract:
            return Elementwise.differenceGradients(outputGradient, minuendShape: x.shape, subtrahendShape: inputs[1].shape,
                                                   wanted: wanted)
        case .channelShuffle(let groups):
            // The inverse permutation is the shuffle with the other factor of the channel count.
            return only(Elementwise.channelShuffle(outputGradient, groups: x.shape[1] / groups))
        case .channelSlice(let range):
            return only(Elementwise.channelSliceGradient(outputGradient, channels: x.shape[1], range: range))
        case .softmax:
            return only(Elementwise.softmaxGradient(outputGradient, output: output))
        }
    }
}
