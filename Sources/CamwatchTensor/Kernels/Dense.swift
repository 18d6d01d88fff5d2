/// Fully connected layers.
public enum Dense {
    /// `y = x · weightᵀ + bias`, as `torch.nn.functional.linear`.
    ///
    /// - Parameters:
    ///   - input: `[N, in]`.
    ///   - weight: `[out, in]`.
    ///   - bias: `out` values or `nil`.
    /// - Returns: `[N, out]`.
    public static func forward(_ input: Tensor, weight: Tensor, bias: [Float]?) -> Tensor {
        precondition(input.rank == 2 && weight.rank == 2 && input.shape[1] == weight.shape[1],
                     "linear: input \(input.shape) vs weight \(weight.shape)")
        let n = input.shape[0], inFeatures = input.shape[1], outFeatures = weight.shape[0]
        var out = [Float](repeating: 0, count: n * outFeatures)
        if let bias {
            for i in 0..<n { for j in 0..<outFeatures { out[i * outFeatures + j] = bias[j] } }
        }
        input.scalars.withUnsafeBufferPointer { x in
            weight.scalars.withUnsafeBufferPointer { w in
                out.withUnsafeMutableBufferPointer { y in
                    guard let xa = x.baseAddress, let wa = w.baseAddress, let ya = y.baseAddress else { return }
                    MatrixMultiply.gemm(m: n, n: outFeatures, k: inFeatures, a: xa, lda: inFeatures,
                                        b: wa, ldb: inFeatures, transposeB: true, c: ya, ldc: outFeatures,
                                        beta: bias == nil ? 0 : 1)
                }
            }
        }
        return Tensor(shape: [n, outFeatures], scalars: out)
    }
}
