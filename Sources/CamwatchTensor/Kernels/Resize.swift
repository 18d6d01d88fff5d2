/// Bilinear resampling of the two innermost dimensions.
public enum Resize {
    /// Resizes `[..., h, w]` to `[..., height, width]` with bilinear interpolation.
    ///
    /// - Parameters:
    ///   - input: a tensor of rank ≥ 2, e.g. `[N, C, h, w]`.
    ///   - alignCorners: `true` maps corner pixel centres onto each other (PyTorch
    ///     `align_corners=True`, `nn.UpsamplingBilinear2d`); `false` uses half-pixel centres
    ///     (PyTorch `align_corners=False` without antialiasing, and `cv2.resize` INTER_LINEAR
    ///     when upscaling).
    /// - Returns: `[..., height, width]`.
    public static func bilinear(_ input: Tensor, height: Int, width: Int, alignCorners: Bool) -> Tensor {
        precondition(input.rank >= 2 && height > 0 && width > 0, "bad resize of \(input.shape) to \(height)x\(width)")
        let inH = input.shape[input.rank - 2], inW = input.shape[input.rank - 1]
        let planes = inH * inW == 0 ? 0 : input.scalarCount / (inH * inW)
        var outShape = input.shape
        outShape[input.rank - 2] = height
        outShape[input.rank - 1] = width
        let rows = axisSamples(input: inH, output: height, alignCorners: alignCorners)
        let cols = axisSamples(input: inW, output: width, alignCorners: alignCorners)
        var out = [Float](repeating: 0, count: planes * height * width)
        input.scalars.withUnsafeBufferPointer { src in
            out.withUnsafeMutableBufferPointer { dst in
                for p in 0..<planes {
                    let s = p * inH * inW, d = p * height * width
                    for y in 0..<height {
                        let r = rows[y]
                        let top = s + r.low * inW, bottom = s + r.high * inW
                        for x in 0..<width {
                            let c = cols[x]
                            let t = src[top + c.low] * (1 - c.weight) + src[top + c.high] * c.weight
                            let b = src[bottom + c.low] * (1 - c.weight) + src[bottom + c.high] * c.weight
                            dst[d + y * width + x] = t * (1 - r.weight) + b * r.weight
                        }
                    }
                }
            }
        }
        return Tensor(shape: outShape, scalars: out)
    }

    /// Where output index `i` samples the input axis: between `low` and `high` at `weight`.
    struct Sample {
        var low: Int
        var high: Int
        var weight: Float
    }

    static func axisSamples(input: Int, output: Int, alignCorners: Bool) -> [Sample] {
        (0..<output).map { i in
            let source: Float
            if alignCorners {
                source = output > 1 ? Float(i) * Float(input - 1) / Float(output - 1) : 0
            } else {
                source = max((Float(i) + 0.5) * Float(input) / Float(output) - 0.5, 0)
            }
            let low = min(Int(source), input - 1)
            let high = min(low + 1, input - 1)
            return Sample(low: low, high: high, weight: source - Float(low))
        }
    }
}
