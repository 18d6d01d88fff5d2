extension Convolution {
    /// The vector-Jacobian product of ``forward(_:weight:bias:geometry:groups:activation:winograd:)`` with
    /// respect to its input: the transposed convolution of `outputGradient` (bias and activation excluded;
    /// the caller applies the activation's derivative first).
    ///
    /// Per image and group, `columns = Wᵀ · dY` (one sgemm, `[C/g·kH·kW, OH·OW]`; for depthwise layers the
    /// outer product of the taps and dY) is folded back onto the input plane (col2im, summing overlapping
    /// windows).
    ///
    /// - Parameters:
    ///   - outputGradient: `[N, O, OH, OW]`.
    ///   - weight: `[O, C / groups, kH, kW]`.
    ///   - inputShape: `[N, C, H, W]` of the forward input.
    ///   - geometry: the geometry the forward pass used (for TF `same` layers, the one computed for `H × W`).
    /// - Returns: `[N, C, H, W]`.
    public static func inputGradient(
        _ outputGradient: Tensor, weight: Tensor, inputShape: [Int], geometry g: WindowGeometry, groups: Int
    ) -> Tensor {
        precondition(inputShape.count == 4 && outputGradient.rank == 4, "conv2d gradient wants [N,C,H,W]")
        let (n, c, h, w) = (inputShape[0], inputShape[1], inputShape[2], inputShape[3])
        let o = weight.shape[0]
        let (oh, ow) = (outputGradient.shape[2], outputGradient.shape[3])
        precondition(outputGradient.shape[0] == n && outputGradient.shape[1] == o, "conv2d gradient shape mismatch")
        let cg = c / groups, og = o / groups
        let kh = g.kernelHeight, kw = g.kernelWidth
        let plane = oh * ow
        let k = cg * kh * kw
        var result = [Float](repeating: 0, count: n * c * h * w)
        let pointwise = g.isPointwise
        let isDepthwise = cg == 1 && og == 1
        let columns = UnsafeMutablePointer<Float>.allocate(capacity: pointwise ? 1 : k * plane)
        defer { columns.deallocate() }
        outputGradient.scalars.withUnsafeBufferPointer { dy in
            weight.scalars.withUnsafeBufferPointer { wgt in
                result.withUnsafeMutableBufferPointer { dx in
                    for image in 0..<n {
                        for group in 0..<groups {
                            let gradient = dy.baseAddress! + (image * o + group * og) * plane
                            let input = dx.baseAddress! + (image * c + group * cg) * h * w
                            let filters = wgt.baseAddress! + group * og * k
                            if isDepthwise {
                                // One channel: the columns are the outer product of its taps and dY.
                                for tap in 0..<k {
                                    let weight = filters[tap]
                                    let row = columns + tap * plane
                                    for i in 0..<plane { row[i] = weight * gradient[i] }
                                }
                                col2im(columns, channels: 1, height: h, width: w, geometry: g, outputSize: (oh, ow),
                                       into: input)
                            } else if pointwise {
                                // Wᵀ · dY lands on the input plane directly.
                                MatrixMultiply.gemm(m: k, n: plane, k: og, a: filters, lda: k, transposeA: true,
                                                    b: gradient, ldb: plane, c: input, ldc: plane)
                            } else {
                                MatrixMultiply.gemm(m: k, n: plane, k: og, a: filters, lda: k, transposeA: true,
                                                    b: gradient, ldb: plane, c: columns, ldc: plane)
                                col2im(columns, channels: cg, height: h, width: w, geometry: g, outputSize: (oh, ow),
                                       into: input)
                            }
                        }
                    }
                }
            }
        }
        return Tensor(shape: inputShape, scalars: result)
    }

    /// Adds rows `(c, ky, kx)` of `OH·OW` samples back onto one image's `[C, H, W]` (the adjoint of im2col).
    static func col2im(
        _ columns: UnsafePointer<Float>, channels: Int, height h: Int, width w: Int, geometry g: WindowGeometry,
        outputSize: (Int, Int), into destination: UnsafeMutablePointer<Float>
    ) {
        let (oh, ow) = outputSize
        var row = 0
        for channel in 0..<channels {
            let plane = destination + channel * h * w
            for ky in 0..<g.kernelHeight {
                for kx in 0..<g.kernelWidth {
                    let source = columns + row * oh * ow
                    let dy = ky * g.dilationHeight - g.padTop
                    let dx = kx * g.dilationWidth - g.padLeft
                    let s = g.strideWidth
                    let inside = insideColumns(offset: dx, stride: s, width: w, outputWidth: ow)
                    for y in insideColumns(offset: dy, stride: g.strideHeight, width: h, outputWidth: oh) {
                        let line = plane + (y * g.strideHeight + dy) * w + dx
                        let samples = source + y * ow
                        if s == 1 {
                            for x in inside { line[x] += samples[x] }
                        } else {
                            for x in inside { line[x * s] += samples[x] }
                        }
                    }
                    row += 1
                }
            }
        }
    }
}

extension Dense {
    /// The vector-Jacobian product of ``forward(_:weight:bias:)`` with respect to its input: `dY · W`.
    ///
    /// - Parameters:
    ///   - outputGradient: `[N, out]`.
    ///   - weight: `[out, in]`.
    /// - Returns: `[N, in]`.
    public static func inputGradient(_ outputGradient: Tensor, weight: Tensor) -> Tensor {
        let n = outputGradient.shape[0], outFeatures = weight.shape[0], inFeatures = weight.shape[1]
        precondition(outputGradient.scalarCount == n * outFeatures, "linear gradient \(outputGradient.shape) vs \(weight.shape)")
        var result = [Float](repeating: 0, count: n * inFeatures)
        outputGradient.scalars.withUnsafeBufferPointer { dy in
            weight.scalars.withUnsafeBufferPointer { w in
                result.withUnsafeMutableBufferPointer { dx in
                    guard let a = dy.baseAddress, let b = w.baseAddress, let c = dx.baseAddress else { return }
                    MatrixMultiply.gemm(m: n, n: inFeatures, k: outFeatures, a: a, lda: outFeatures, b: b,
                                        ldb: inFeatures, c: c, ldc: inFeatures)
                }
            }
        }
        return Tensor(shape: [n, inFeatures], scalars: result)
    }
}
