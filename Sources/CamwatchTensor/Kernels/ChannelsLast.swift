/// Element orders of channels-last frameworks (Keras) on camwatch's channels-first tensors.
public enum ChannelsLast {
    /// Keras `Reshape(target)` and `Flatten` on a channels-first tensor.
    ///
    /// The elements are taken in channels-last order (`[N, H, W, C]`), regrouped as `target` and returned
    /// channels-first, so the result holds exactly what Keras computes, transposed to camwatch's layout.
    /// A pure permutation of the elements: its gradient is the same gather run backwards.
    ///
    /// - Parameters:
    ///   - input: `[N, C, H, W]` or `[N, F]`.
    ///   - target: channels-last per-item shape: `[f]` (a vector) or `[h, w, c]`, with as many elements as one
    ///     item of `input`.
    /// - Returns: `[N, f]` or `[N, c, h, w]`.
    public static func reshape(_ input: Tensor, to target: [Int]) -> Tensor {
        let n = input.shape[0]
        let perItem = input.scalarCount / Swift.max(n, 1)
        precondition(target.count == 1 || target.count == 3, "reshape: target \(target) is not [f] or [h, w, c]")
        precondition(target.reduce(1, *) == perItem, "reshape: \(input.shape) does not hold \(target)")
        let (c, plane) = input.rank == 4 ? (input.shape[1], input.shape[2] * input.shape[3]) : (perItem, 1)
        let (oc, oplane) = target.count == 3 ? (target[2], target[0] * target[1]) : (perItem, 1)
        let outputShape = target.count == 3 ? [n, target[2], target[0], target[1]] : [n, perItem]
        // With one pixel on both sides channels-last and channels-first orders coincide.
        if plane == 1 && oplane == 1 { return input.reshaped(to: outputShape) }
        var out = [Float](repeating: 0, count: input.scalarCount)
        input.scalars.withUnsafeBufferPointer { src in
            out.withUnsafeMutableBufferPointer { dst in
                for item in 0..<n {
                    let base = item * perItem
                    // Element e of the channels-last sequence sits at pixel e / c, channel e % c of the input
                    // and at pixel e / oc, channel e % oc of the output.
                    for e in 0..<perItem {
                        let from = (e % c) * plane + e / c
                        let to = (e % oc) * oplane + e / oc
                        dst[base + to] = src[base + from]
                    }
                }
            }
        }
        return Tensor(shape: outputShape, scalars: out)
    }
}
