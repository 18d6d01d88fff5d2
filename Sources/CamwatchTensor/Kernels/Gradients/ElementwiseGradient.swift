#if canImport(Glibc)
    import Glibc
#elseif canImport(Darwin)
    import Darwin
#endif

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
                        let s = 1 / (1 + expf(-x[i]))
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
                        g[i] *= 0.5 * (1 + erff(v * invSqrt2)) + v * invSqrt2Pi * expf(-0.5 * v * v)
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
        let operand = inputs[index]
        guard operand.shape != full.shape else { return full }
        // A broadcast gate: its gradient is the sum over each plane.
        let planes = operand.scalarCount
        let plane = full.scalarCount / Swift.max(1, planes)
        var result = [Float](repeating: 0, count: planes)
        full.scalars.withUnsafeBufferPointer { src in
            for p in 0..<planes {
                var sum: Float = 0
                for j in 0..<plane { sum += src[p * plane + j] }
                result[p] = sum
            }
        }
        return Tensor(shape: operand.shape, scalars: result)
    }

    /// The vector-Jacobian product of ``concatenateChannels(_:)``: the gradient's channel slices.
    ///
    /// - Parameters:
    ///   - outputGradient: `[N, ΣC_i, ...]`.
    ///   - channels: each input's `C_i`.
    /// - Returns: one `[N, C_i, ...]` per input.
    public static func concatenationGradients(_ outputGradient: Tensor, channels: [Int]) -> [Tensor] {
        let n = outputGradient.shape[0], total = outputGradient.shape[1]
        let inner = outputGradient.scalarCount / Swift.max(1, n * total)
        var offset = 0
        return channels.map { count in
            var scalars: [Float] = []
            scalars.reserveCapacity(n * count * inner)
            for image in 0..<n {
                let start = (image * total + offset) * inner
                scalars.append(contentsOf: outputGradient.scalars[start..<(start + count * inner)])
            }
            offset += count
            var shape = outputGradient.shape
            shape[1] = count
            return Tensor(shape: shape, scalars: scalars)
        }
    }

    /// The vector-Jacobian product of ``zeroPad(_:top:bottom:left:right:)``: the gradient without its border.
    ///
    /// - Parameter outputGradient: `[N, C, H + top + bottom, W + left + right]`. - Returns: `[N, C, H, W]`.
    public static func zeroPadGradient(_ outputGradient: Tensor, top: Int, bottom: Int, left: Int, right: Int) -> Tensor {
        let (n, c, oh, ow) = (outputGradient.shape[0], outputGradient.shape[1], outputGradient.shape[2], outputGradient.shape[3])
        let h = oh - top - bottom, w = ow - left - right
        var result = [Float](repeating: 0, count: n * c * h * w)
        for p in 0..<(n * c) {
            for y in 0..<h {
                let start = p * oh * ow + (y + top) * ow + left
                result.replaceSubrange((p * h * w + y * w)..<(p * h * w + (y + 1) * w),
                                       with: outputGradient.scalars[start..<(start + w)])
            }
        }
        return Tensor(shape: [n, c, h, w], scalars: result)
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
