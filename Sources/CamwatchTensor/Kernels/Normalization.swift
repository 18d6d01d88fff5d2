/// Layer and group normalization in inference form, PyTorch semantics: statistics of the input itself
/// (biased variance, `eps` inside the square root), then a per-channel `weight` and `bias`.
///
/// Both run in place on the input's storage, and their vector-Jacobian products in place on the output
/// gradient's, recomputing the statistics from the forward input rather than keeping them.
public enum Normalization {
    // MARK: - Layer norm over channels

    /// `F.layer_norm` over the channels of each pixel: ConvNeXt's `LayerNorm2d`, Keras
    /// `LayerNormalization(axis=-1)` on a channels-last map; over the features of a vector.
    ///
    /// Each channel plane is contiguous, so the statistics are accumulated a whole plane of pixels at a time
    /// (one running sum per pixel, channel after channel) instead of striding through memory pixel by pixel.
    ///
    /// - Parameters:
    ///   - input: `[N, C, H, W]` (each pixel's `C` values normalised) or `[N, F]`.
    ///   - weight, bias: `C` values each, or `nil` for 1 and 0.
    /// - Returns: the input's shape.
    public static func layerNorm(_ input: consuming Tensor, weight: [Float]?, bias: [Float]?, eps: Float) -> Tensor {
        var result = input
        let (n, c, pixels) = layout(result.shape)
        checkAffine(weight, bias, channels: c)
        // Per pixel of the current item: the mean, then 1/σ.
        var statistics = [Float](repeating: 0, count: 2 * pixels)
        result.scalars.withUnsafeMutableBufferPointer { buffer in
            statistics.withUnsafeMutableBufferPointer { s in
                guard let x = buffer.baseAddress, let mean = s.baseAddress else { return }
                let inverse = mean + pixels
                for image in 0..<n {
                    let item = x + image * c * pixels
                    measurePixels(item, channels: c, pixels: pixels, eps: eps, mean: mean, inverse: inverse)
                    for channel in 0..<c {
                        let row = item + channel * pixels
                        let w = weight?[channel] ?? 1, b = bias?[channel] ?? 0
                        for p in 0..<pixels { row[p] = (row[p] - mean[p]) * inverse[p] * w + b }
                    }
                }
            }
        }
        return result
    }

    /// The vector-Jacobian product of ``layerNorm(_:weight:bias:eps:)``: per pixel, with `x̂` the normalised
    /// input and `σ` its standard deviation, `dX = (1/σ)·(dY·w − mean(dY·w) − x̂·mean(dY·w·x̂))`, the means
    /// over the channels.
    ///
    /// - Parameters:
    ///   - outputGradient: the input's shape.
    ///   - input: the forward input, `[N, C, H, W]` or `[N, F]`.
    ///   - weight: `C` values, or `nil` for 1.
    /// - Returns: the input gradient, the input's shape.
    public static func layerNormGradient(_ outputGradient: consuming Tensor, input: Tensor, weight: [Float]?, eps: Float) -> Tensor {
        precondition(outputGradient.shape == input.shape, "layernorm gradient \(outputGradient.shape) for \(input.shape)")
        var result = outputGradient
        let (n, c, pixels) = layout(input.shape)
        checkAffine(weight, nil, channels: c)
        // Per pixel of the current item: the mean, 1/σ, Σ_c dY·w and Σ_c dY·w·x̂.
        var scratch = [Float](repeating: 0, count: 4 * pixels)
        let scale = 1 / Float(c)
        input.scalars.withUnsafeBufferPointer { xBuffer in
            result.scalars.withUnsafeMutableBufferPointer { gBuffer in
                scratch.withUnsafeMutableBufferPointer { s in
                    guard let x = xBuffer.baseAddress, let g = gBuffer.baseAddress, let mean = s.baseAddress else { return }
                    let inverse = mean + pixels, plain = mean + 2 * pixels, projected = mean + 3 * pixels
                    for image in 0..<n {
                        let xItem = x + image * c * pixels, gItem = g + image * c * pixels
                        measurePixels(xItem, channels: c, pixels: pixels, eps: eps, mean: mean, inverse: inverse)
                        plain.update(repeating: 0, count: 2 * pixels)
                        for channel in 0..<c {
                            let xs = xItem + channel * pixels, gs = gItem + channel * pixels
                            let w = weight?[channel] ?? 1
                            for p in 0..<pixels {
                                let gw = gs[p] * w
                                plain[p] += gw
                                projected[p] += gw * (xs[p] - mean[p]) * inverse[p]
                            }
                        }
                        for channel in 0..<c {
                            let xs = xItem + channel * pixels, gs = gItem + channel * pixels
                            let w = weight?[channel] ?? 1
                            for p in 0..<pixels {
                                let normalized = (xs[p] - mean[p]) * inverse[p]
                                gs[p] = inverse[p] * (gs[p] * w - scale * plain[p] - normalized * scale * projected[p])
                            }
                        }
                    }
                }
            }
        }
        return result
    }

    /// The mean and `1/√(var + eps)` over the channels of every pixel of one item `[C, pixels]`.
    ///
    /// Two passes (sum, then squared deviations), each one contiguous sweep per channel plane: as exact as
    /// PyTorch for the channel counts of real networks.
    static func measurePixels(
        _ item: UnsafePointer<Float>, channels c: Int, pixels: Int, eps: Float,
        mean: UnsafeMutablePointer<Float>, inverse: UnsafeMutablePointer<Float>
    ) {
        mean.update(repeating: 0, count: pixels)
        inverse.update(repeating: 0, count: pixels)
        for channel in 0..<c {
            let row = item + channel * pixels
            for p in 0..<pixels { mean[p] += row[p] }
        }
        let scale = 1 / Float(c)
        for p in 0..<pixels { mean[p] *= scale }
        for channel in 0..<c {
            let row = item + channel * pixels
            for p in 0..<pixels {
                let d = row[p] - mean[p]
                inverse[p] += d * d
            }
        }
        for p in 0..<pixels { inverse[p] = 1 / (inverse[p] * scale + eps).squareRoot() }
    }

    // MARK: - Group norm

    /// `nn.GroupNorm`: statistics per item and group of `C / groups` consecutive channels, over those
    /// channels and every pixel.
    ///
    /// - Parameters:
    ///   - input: `[N, C, ...]` with `C` a multiple of `groups`.
    ///   - weight, bias: `C` values each, or `nil` for 1 and 0.
    /// - Returns: the input's shape.
    public static func groupNorm(_ input: consuming Tensor, groups: Int, weight: [Float]?, bias: [Float]?, eps: Float) -> Tensor {
        var result = input
        let (n, c, pixels) = layout(result.shape)
        checkAffine(weight, bias, channels: c)
        precondition(groups > 0 && c % groups == 0, "groupnorm: \(c) channels in \(groups) groups")
        let perGroup = c / groups
        result.scalars.withUnsafeMutableBufferPointer { buffer in
            guard let x = buffer.baseAddress else { return }
            for block in 0..<(n * groups) {
                let start = x + block * perGroup * pixels
                let (mean, inverse) = blockStatistics(start, count: perGroup * pixels, eps: eps)
                for member in 0..<perGroup {
                    let channel = (block % groups) * perGroup + member
                    let a = inverse * (weight?[channel] ?? 1), b = (bias?[channel] ?? 0) - mean * a
                    let row = start + member * pixels
                    for p in 0..<pixels { row[p] = row[p] * a + b }
                }
            }
        }
        return result
    }

    /// The vector-Jacobian product of ``groupNorm(_:groups:weight:bias:eps:)``: the layer norm formula
    /// (``layerNormGradient(_:input:weight:eps:)``) with the means over each group's channels and pixels.
    ///
    /// - Parameters:
    ///   - outputGradient: the input's shape.
    ///   - input: the forward input, `[N, C, ...]`.
    ///   - weight: `C` values, or `nil` for 1.
    /// - Returns: the input gradient, the input's shape.
    public static func groupNormGradient(
        _ outputGradient: consuming Tensor, input: Tensor, groups: Int, weight: [Float]?, eps: Float
    ) -> Tensor {
        precondition(outputGradient.shape == input.shape, "groupnorm gradient \(outputGradient.shape) for \(input.shape)")
        var result = outputGradient
        let (n, c, pixels) = layout(input.shape)
        checkAffine(weight, nil, channels: c)
        let perGroup = c / groups
        input.scalars.withUnsafeBufferPointer { xBuffer in
            result.scalars.withUnsafeMutableBufferPointer { gBuffer in
                guard let x = xBuffer.baseAddress, let g = gBuffer.baseAddress else { return }
                for block in 0..<(n * groups) {
                    let offset = block * perGroup * pixels
                    let (mean, inverse) = blockStatistics(x + offset, count: perGroup * pixels, eps: eps)
                    var plain: Double = 0, projected: Double = 0
                    for member in 0..<perGroup {
                        let w = weight?[(block % groups) * perGroup + member] ?? 1
                        let xs = x + offset + member * pixels, gs = g + offset + member * pixels
                        for p in 0..<pixels {
                            let gw = gs[p] * w
                            plain += Double(gw)
                            projected += Double(gw * (xs[p] - mean) * inverse)
                        }
                    }
                    let scale = 1 / Double(perGroup * pixels)
                    let meanPlain = Float(plain * scale), meanProjected = Float(projected * scale)
                    for member in 0..<perGroup {
                        let w = weight?[(block % groups) * perGroup + member] ?? 1
                        let xs = x + offset + member * pixels, gs = g + offset + member * pixels
                        for p in 0..<pixels {
                            let normalized = (xs[p] - mean) * inverse
                            gs[p] = inverse * (gs[p] * w - meanPlain - normalized * meanProjected)
                        }
                    }
                }
            }
        }
        return result
    }

    /// Mean and `1/√(var + eps)` of `count` contiguous values, accumulated in double precision: a group
    /// holds up to `C/groups · H · W` values (hundreds of thousands), where float sums would drift.
    static func blockStatistics(_ start: UnsafePointer<Float>, count: Int, eps: Float) -> (mean: Float, inverse: Float) {
        var sum: Double = 0
        for i in 0..<count { sum += Double(start[i]) }
        let mean = sum / Double(count)
        var squares: Double = 0
        for i in 0..<count {
            let d = Double(start[i]) - mean
            squares += d * d
        }
        return (Float(mean), Float(1 / (squares / Double(count) + Double(eps)).squareRoot()))
    }

    // MARK: - Shapes

    /// `(N, C, pixels per channel)` of `[N, C, ...]`.
    static func layout(_ shape: [Int]) -> (Int, Int, Int) {
        precondition(shape.count >= 2 && shape[1] > 0, "normalization wants [N, C, ...], got \(shape)")
        return (shape[0], shape[1], shape.dropFirst(2).reduce(1, *))
    }

    static func checkAffine(_ weight: [Float]?, _ bias: [Float]?, channels: Int) {
        precondition((weight?.count ?? channels) == channels && (bias?.count ?? channels) == channels,
                     "normalization: weight/bias for \(weight?.count ?? bias?.count ?? 0) channels, input has \(channels)")
    }
}
