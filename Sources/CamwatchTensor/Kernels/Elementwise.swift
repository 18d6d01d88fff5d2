/// Kernels that combine tensors or rearrange channels.
public enum Elementwise {
    /// The elementwise sum of tensors of one shape.
    public static func sum(_ inputs: [Tensor]) -> Tensor {
        precondition(!inputs.isEmpty, "add needs inputs")
        return sum(inputs[0], adding: Array(inputs.dropFirst()))
    }

    /// `first + others[0] + …`, accumulated into `first`'s storage when it is uniquely referenced.
    public static func sum(_ first: consuming Tensor, adding others: [Tensor]) -> Tensor {
        var result = first
        for other in others {
            precondition(other.shape == result.shape, "add: \(other.shape) vs \(result.shape)")
            other.scalars.withUnsafeBufferPointer { src in
                result.scalars.withUnsafeMutableBufferPointer { dst in
                    for i in dst.indices { dst[i] += src[i] }
                }
            }
        }
        return result
    }

    /// The elementwise product; a `[N, C, 1, 1]` operand is broadcast over `[N, C, H, W]`.
    public static func product(_ inputs: [Tensor]) -> Tensor {
        precondition(!inputs.isEmpty, "mul needs inputs")
        // The result starts as a copy of the largest operand rather than as ones: one pass over the planes less
        // (squeeze-and-excitation's gate multiplies every expanded activation).
        let fullIndex = inputs.indices.max { inputs[$0].scalarCount < inputs[$1].scalarCount } ?? 0
        let full = inputs[fullIndex]
        var result = full.scalars
        for (index, operand) in inputs.enumerated() where index != fullIndex {
            operand.scalars.withUnsafeBufferPointer { src in
                result.withUnsafeMutableBufferPointer { dst in
                    if operand.shape == full.shape {
                        for i in dst.indices { dst[i] *= src[i] }
                    } else {
                        let plane = broadcastPlane(operand.shape, over: full.shape)
                        for p in src.indices {
                            let v = src[p]
                            for j in 0..<plane { dst[p * plane + j] *= v }
                        }
                    }
                }
            }
        }
        return Tensor(shape: full.shape, scalars: result)
    }

    /// Joins `[N, C_i, H, W]` tensors along the channel dimension.
    public static func concatenateChannels(_ inputs: [Tensor]) -> Tensor {
        precondition(!inputs.isEmpty, "concat needs inputs")
        let n = inputs[0].shape[0]
        let inner = inputs[0].rank > 2 ? inputs[0].shape[2...].reduce(1, *) : 1
        let channels = inputs.reduce(0) { $0 + $1.shape[1] }
        var result: [Float] = []
        result.reserveCapacity(n * channels * inner)
        for image in 0..<n {
            for part in inputs {
                precondition(part.shape[0] == n && Array(part.shape.dropFirst(2)) == Array(inputs[0].shape.dropFirst(2)),
                             "concat: \(part.shape) vs \(inputs[0].shape)")
                let size = part.shape[1] * inner
                result.append(contentsOf: part.scalars[(image * size)..<((image + 1) * size)])
            }
        }
        var shape = inputs[0].shape
        shape[1] = channels
        return Tensor(shape: shape, scalars: result)
    }

    /// `y = x · scale[c] + shift[c]` per channel of `[N, C, ...]` (an unfolded batch norm).
    public static func channelAffine(_ input: consuming Tensor, scale: [Float], shift: [Float]) -> Tensor {
        let n = input.shape[0], c = input.shape[1]
        precondition(scale.count == c && shift.count == c, "affine: \(c) channels")
        let inner = input.scalarCount / max(1, n * c)
        var result = input
        result.scalars.withUnsafeMutableBufferPointer { dst in
            for p in 0..<(n * c) {
                let a = scale[p % c], b = shift[p % c]
                for j in 0..<inner { dst[p * inner + j] = dst[p * inner + j] * a + b }
            }
        }
        return result
    }

    /// Zero padding of `[N, C, H, W]`.
    public static func zeroPad(_ input: Tensor, top: Int, bottom: Int, left: Int, right: Int) -> Tensor {
        let (n, c, h, w) = (input.shape[0], input.shape[1], input.shape[2], input.shape[3])
        let oh = h + top + bottom, ow = w + left + right
        var result = [Float](repeating: 0, count: n * c * oh * ow)
        input.scalars.withUnsafeBufferPointer { src in
            result.withUnsafeMutableBufferPointer { dst in
                for p in 0..<(n * c) {
                    for y in 0..<h {
                        let d = dst.baseAddress! + p * oh * ow + (y + top) * ow + left
                        d.update(from: src.baseAddress! + p * h * w + y * w, count: w)
                    }
                }
            }
        }
        return Tensor(shape: [n, c, oh, ow], scalars: result)
    }

    /// Softmax of one vector (max-subtracted, float32 as PyTorch computes it).
    public static func softmax(_ row: [Float]) -> [Float] {
        let peak = row.max() ?? 0
        let exps = row.map { Activation.exp($0 - peak) }
        let total = exps.reduce(0, +)
        return exps.map { $0 / total }
    }

    /// Softmax over dimension 1 of `[N, K, ...]`.
    public static func softmax(_ input: Tensor) -> Tensor {
        let n = input.shape[0], k = input.shape[1]
        let inner = input.scalarCount / max(1, n * k)
        var result = input.scalars
        for image in 0..<n {
            for j in 0..<inner {
                let base = image * k * inner + j
                var peak = -Float.infinity
                for i in 0..<k { peak = max(peak, result[base + i * inner]) }
                var total: Float = 0
                for i in 0..<k {
                    let e = Activation.exp(result[base + i * inner] - peak)
                    result[base + i * inner] = e
                    total += e
                }
                for i in 0..<k { result[base + i * inner] /= total }
            }
        }
        return Tensor(shape: input.shape, scalars: result)
    }
}
