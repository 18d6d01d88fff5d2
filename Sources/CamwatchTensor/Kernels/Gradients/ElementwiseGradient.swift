extension Activation {
    /// Whether the derivative needs the activation's input; for the others it follows from the output.
    public var gradientNeedsInput: Bool {
        switch self {
        case .silu, .hardswish, .gelu, .kerasReLU: true
        default: false
        }
    }

    /// The vector-Jacobian product: `dX = dY ⊙ f′(x)`, with PyTorch's values at the kinks (ReLU 0 at 0,
    /// ReLU6 and the hard functions 0 at their bounds).
    ///
    /// - Parameters:
    ///   - outputGradient: any shape.
    ///   - input: the forward input (required when ``gradientNeedsInput``), same shape.
    ///   - output: the forward output, same shape.
    /// - Returns: the input gradient, same shape.
    public func inputGradient(_ outputGradient: consuming Tensor, input: Tensor?, output: Tensor) -> Tensor {
        precondition(!gradientNeedsInput || input != nil, "\(self) needs its input for the gradient")
        var result = outputGradient
        let x = input?.scalars ?? []
        output.scalars.withUnsafeBufferPointer { y in
            result.scalars.withUnsafeMutableBufferPointer { g in
                switch self {
                case .relu:
                    for i in g.indices { g[i] = y[i] > 0 ? g[i] : 0 }
                case .relu6:
                    for i in g.indices { g[i] = y[i] > 0 && y[i] < 6 ? g[i] : 0 }
                case .leakyReLU(let slope):
                    // Same sign as the input for a positive slope; PyTorch takes the slope at 0.
                    for i in g.indices { g[i] = y[i] > 0 ? g[i] : g[i] * slope }
                case .sigmoid:
                    for i in g.indices { g[i] *= y[i] * (1 - y[i]) }
                case .tanh:
                    for i in g.indices { g[i] *= 1 - y[i] * y[i] }
                case .hardsigmoid:
                    for i in g.indices { g[i] = y[i] > 0 && y[i] < 1 ? g[i] / 6 : 0 }
                case .silu:
                    for i in g.indices {
                        let s = 1 / (1 + Self.exp(-x[i]))
                        g[i] *= s * (1 + x[i] * (1 - s))
                    }
                case .hardswish:
                    // PyTorch: 0 below −3, 1 above 3, (2x + 3)/6 between (both bounds on the outer side).
                    for i in g.indices {
                        let v = x[i]
                        g[i] = v < -3 ? 0 : (v <= 3 ? g[i] * (2 * v + 3) / 6 : g[i])
                    }
                case .gelu:
                    // d/dx x·Φ(x) = Φ(x) + x·φ(x), φ the standard normal density.
                    let invSqrt2: Float = 0.7071067811865476, invSqrt2Pi: Float = 0.3989422804014327
                    for i in g.indices {
                        let v = x[i]
                        g[i] *= 0.5 * (1 + Self.erf(v * invSqrt2)) + v * invSqrt2Pi * Self.exp(-0.5 * v * v)
                    }
                case .kerasReLU(let slope, let threshold, let maxValue):
                    // 1 where the kept value x lies strictly inside the clip range, plus the slope below the
                    // threshold; 0 at the kinks, as PyTorch's ReLU.
                    let upper = maxValue ?? Float.infinity
                    let lower: Float = maxValue == nil ? -Float.infinity : 0
                    for i in g.indices {
                        let v = x[i]
                        let kept: Float = v > threshold && v > lower && v < upper ? 1 : 0
                        g[i] *= kept + (v < threshold ? slope : 0)
                    }
                }
            }
        }
        return result
    }
}

extension Elementwise {
    /// The vector-Jacobian product of ``product(_:)`` for operand `index`: `dY ⊙ Π_{j≠index} X_j`, summed over
    /// the plane when that operand was broadcast from `[N, C, 1, 1]`.
    ///
    /// - Returns: a tensor of `inputs[index]`'s shape.
    public static func productGradient(_ outputGradient: Tensor, inputs: [Tensor], index: Int) -> Tensor {
        var others = inputs
        others.remove(at: index)
        let full = others.isEmpty ? outputGradient : product(others + [outputGradient])
        return broadcastGradient(full, to: inputs[index].shape)
    }

    /// The gradient of an operand broadcast into `gradient`'s shape: `gradient` itself for equal shapes,
    /// its sum over each plane for an `[N, C, 1, 1]` operand.
    static func broadcastGradient(_ gradient: Tensor, to shape: [Int]) -> Tensor {
        guard shape != gradient.shape else { return gradient }
        let plane = broadcastPlane(shape, over: gradient.shape)
        var result = [Float](repeating: 0, count: gradient.scalarCount / plane)
        gradient.scalars.withUnsafeBufferPointer { src in
            for p in result.indices {
                var sum: Float = 0
                for j in 0..<plane { sum += src[p * plane + j] }
                result[p] = sum
            }
        }
        return Tensor(shape: shape, scalars: result)
    }

    /// The vector-Jacobian products of ``difference(_:_:)``: `dY` for the minuend and `−dY` for the
    /// subtrahend, each summed over the plane when that operand was broadcast.
    ///
    /// - Returns: gradients of the minuend's and the subtrahend's shapes, `nil` where not wanted.
    public static func differenceGradients(
        _ outputGradient: Tensor, minuendShape: [Int], subtrahendShape: [Int], wanted: [Bool]
    ) -> [Tensor?] {
        let minuend = wanted[0] ? broadcastGradient(outputGradient, to: minuendShape) : nil
        let subtrahend = wanted[1]
            ? scalarAffine(broadcastGradient(outputGradient, to: subtrahendShape), multiplier: -1, offset: 0) : nil
        return [minuend, subtrahend]
    }

    /// The vector-Jacobian product of ``concatenateChannels(_:)``: the gradient's channel slices.
    ///
    /// - Parameters:
    ///   - outputGradient: `[N, ΣC_i, ...]`.
    ///   - channels: each input's `C_i`.
    /// - Returns: one `[N, C_i, ...]` per input.
    public static func concatenationGradients(_ outputGradient: Tensor, channels: [Int]) -> [Tensor] {
        var offset = 0
        return channels.map { count in
            defer { offset += count }
            return channelSlice(outputGradient, channels: offset..<(offset + count))
        }
    }

    /// The vector-Jacobian product of ``zeroPad(_:top:bottom:left:right:)``: the gradient without its border.
    ///
    /// - Parameter outputGradient: `[N, C, H + top + bottom, W + left + right]`. - Returns: `[N, C, H, W]`.
    public static func zeroPadGradient(_ outputGradient: Tensor, top: Int, bottom: Int, left: Int, right: Int) -> Tensor {
        crop(outputGradient, top: top, bottom: bottom, left: left, right: right)
    }

    /// The vector-Jacobian product of ``softmax(_:)`` over dimension 1: `dX = y ⊙ (dY − Σ_k dY_k·y_k)`.
    ///
    /// - Parameters:
    ///   - outputGradient: `[N, K, ...]`.
    ///   - output: the forward output, same shape.
    public static func softmaxGradient(_ outputGradient: Tensor, output: Tensor) -> Tensor {
        let n = output.shape[0], k = output.shape[1]
        let inner = output.scalarCount / Swift.max(1, n * k)
        var result = outputGradient.scalars
        let y = output.scalars
        for image in 0..<n {
            for j in 0..<inner {
                let base = image * k * inner + j
                var dot: Float = 0
                for i in 0..<k { dot += result[base + i * inner] * y[base + i * inner] }
                for i in 0..<k { result[base + i * inner] = y[base + i * inner] * (result[base + i * inner] - dot) }
            }
        }
        return Tensor(shape: output.shape, scalars: result)
    }

    /// The vector-Jacobian product of ``channelAffine(_:scale:shift:)``: `dY · scale[c]`.
    public static func channelScaleGradient(_ outputGradient: consuming Tensor, scale: [Float]) -> Tensor {
        channelAffine(outputGradient, scale: scale, shift: [Float](repeating: 0, count: scale.count))
    }
}
