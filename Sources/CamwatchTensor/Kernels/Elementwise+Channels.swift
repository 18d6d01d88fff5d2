/// Kernels that move whole channel planes or rows (shuffle, slice, crop) and the scalar and broadcast
/// arithmetic of converted graphs (`x · a + b`, `a − b`).
extension Elementwise {
    /// `x · multiplier + offset` for every element (Keras 3's `x + 3`, `x * (1/6)`; `1 − x`).
    ///
    /// - Parameter input: any shape; its storage is reused when uniquely referenced.
    public static func scalarAffine(_ input: consuming Tensor, multiplier: Float, offset: Float) -> Tensor {
        var result = input
        result.scalars.withUnsafeMutableBufferPointer { x in
            for i in x.indices { x[i] = x[i] * multiplier + offset }
        }
        return result
    }

    /// `minuend − subtrahend`; either may be `[N, C, 1, 1]` broadcast over the other's `[N, C, H, W]`.
    ///
    /// - Returns: the larger operand's shape.
    public static func difference(_ minuend: consuming Tensor, _ subtrahend: Tensor) -> Tensor {
        // A broadcast minuend (rare: a constant map minus a feature map) as −(b − a).
        guard minuend.scalarCount >= subtrahend.scalarCount else {
            return scalarAffine(difference(subtrahend, minuend), multiplier: -1, offset: 0)
        }
        var result = minuend
        let plane = broadcastPlane(subtrahend.shape, over: result.shape)
        subtrahend.scalars.withUnsafeBufferPointer { b in
            result.scalars.withUnsafeMutableBufferPointer { a in
                for p in b.indices {
                    let v = b[p]
                    for i in (p * plane)..<((p + 1) * plane) { a[i] -= v }
                }
            }
        }
        return result
    }

    /// How many elements of `full` each element of `operand` covers: 1 for equal shapes, `H · W` for an
    /// `[N, C, 1, 1]` operand over `[N, C, H, W]`.
    static func broadcastPlane(_ operand: [Int], over full: [Int]) -> Int {
        if operand == full { return 1 }
        precondition(operand.count == 4 && full.count == 4 && operand[0] == full[0] && operand[1] == full[1]
            && operand[2] == 1 && operand[3] == 1, "cannot broadcast \(operand) over \(full)")
        return full[2] * full[3]
    }

    /// ShuffleNet's channel shuffle: `[N, g·k, ...]` viewed as `[N, g, k, ...]`, the two channel axes
    /// swapped, viewed back. Output channel `j·g + i` is input channel `i·k + j`.
    ///
    /// - Parameter input: `[N, C, ...]` with `C` a multiple of `groups`.
    /// - Returns: the input's shape.
    public static func channelShuffle(_ input: Tensor, groups: Int) -> Tensor {
        let (n, c) = (input.shape[0], input.shape[1])
        precondition(groups > 0 && c % groups == 0, "channel_shuffle: \(c) channels in \(groups) groups")
        let k = c / groups
        let plane = input.scalarCount / Swift.max(1, n * c)
        var out = [Float](repeating: 0, count: input.scalarCount)
        input.scalars.withUnsafeBufferPointer { src in
            out.withUnsafeMutableBufferPointer { dst in
                guard let s = src.baseAddress, let d = dst.baseAddress else { return }
                for image in 0..<n {
                    let base = image * c * plane
                    for i in 0..<groups {
                        for j in 0..<k {
                            (d + base + (j * groups + i) * plane).update(from: s + base + (i * k + j) * plane, count: plane)
                        }
                    }
                }
            }
        }
        return Tensor(shape: input.shape, scalars: out)
    }

    /// Channels `range` of `[N, C, ...]`: `x[:, start:end]` (ShuffleNet's `chunk`, `torch.split`).
    ///
    /// - Returns: `[N, range.count, ...]`.
    public static func channelSlice(_ input: Tensor, channels range: Range<Int>) -> Tensor {
        let (n, c) = (input.shape[0], input.shape[1])
        precondition(range.lowerBound >= 0 && range.upperBound <= c && !range.isEmpty, "slice \(range) of \(c) channels")
        let plane = input.scalarCount / Swift.max(1, n * c)
        var scalars: [Float] = []
        scalars.reserveCapacity(n * range.count * plane)
        for image in 0..<n {
            let start = (image * c + range.lowerBound) * plane
            scalars.append(contentsOf: input.scalars[start..<(start + range.count * plane)])
        }
        var shape = input.shape
        shape[1] = range.count
        return Tensor(shape: shape, scalars: scalars)
    }

    /// The vector-Jacobian product of ``channelSlice(_:channels:)``: the gradient placed at channels `range`
    /// of zeros.
    ///
    /// - Parameters:
    ///   - outputGradient: `[N, range.count, ...]`.
    ///   - channels: the input's `C`.
    /// - Returns: `[N, C, ...]`.
    public static func channelSliceGradient(_ outputGradient: Tensor, channels c: Int, range: Range<Int>) -> Tensor {
        let n = outputGradient.shape[0]
        let plane = outputGradient.scalarCount / Swift.max(1, n * range.count)
        var shape = outputGradient.shape
        shape[1] = c
        var result = [Float](repeating: 0, count: n * c * plane)
        let size = range.count * plane
        for image in 0..<n {
            let start = (image * c + range.lowerBound) * plane
            result.replaceSubrange(start..<(start + size), with: outputGradient.scalars[(image * size)..<((image + 1) * size)])
        }
        return Tensor(shape: shape, scalars: result)
    }

    /// Keras `Cropping2D`: `[N, C, H, W]` without `top` rows, `bottom` rows, `left` and `right` columns
    /// (the inverse of ``zeroPad(_:top:bottom:left:right:)``, and its gradient).
    ///
    /// - Returns: `[N, C, H − top − bottom, W − left − right]`.
    public static func crop(_ input: Tensor, top: Int, bottom: Int, left: Int, right: Int) -> Tensor {
        let (n, c, h, w) = (input.shape[0], input.shape[1], input.shape[2], input.shape[3])
        let oh = h - top - bottom, ow = w - left - right
        precondition(oh > 0 && ow > 0, "crop [\(top), \(bottom), \(left), \(right)] of \(input.shape)")
        var result = [Float](repeating: 0, count: n * c * oh * ow)
        input.scalars.withUnsafeBufferPointer { src in
            result.withUnsafeMutableBufferPointer { dst in
                guard let s = src.baseAddress, let d = dst.baseAddress else { return }
                for p in 0..<(n * c) {
                    for y in 0..<oh {
                        (d + (p * oh + y) * ow).update(from: s + p * h * w + (y + top) * w + left, count: ow)
                    }
                }
            }
        }
        return Tensor(shape: [n, c, oh, ow], scalars: result)
    }
}
