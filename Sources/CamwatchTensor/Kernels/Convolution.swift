/// The shape parameters of a 2-D convolution or pooling window, PyTorch semantics.
public struct WindowGeometry: Sendable, Equatable, Hashable {
    public var kernelHeight: Int
    public var kernelWidth: Int
    public var strideHeight: Int
    public var strideWidth: Int
    /// Zero padding added before the first row, after the last row, before the first column, after the last.
    public var padTop: Int
    public var padBottom: Int
    public var padLeft: Int
    public var padRight: Int
    public var dilationHeight: Int
    public var dilationWidth: Int

    public init(
        kernel: (Int, Int), stride: (Int, Int) = (1, 1), padding: (top: Int, bottom: Int, left: Int, right: Int) = (0, 0, 0, 0),
        dilation: (Int, Int) = (1, 1)
    ) {
        (kernelHeight, kernelWidth) = kernel
        (strideHeight, strideWidth) = stride
        (padTop, padBottom, padLeft, padRight) = padding
        (dilationHeight, dilationWidth) = dilation
    }

    /// The output extent along one axis: `⌊(in + padding − dilation·(kernel − 1) − 1) / stride⌋ + 1`.
    public func outputSize(height: Int, width: Int) -> (height: Int, width: Int) {
        let h = (height + padTop + padBottom - dilationHeight * (kernelHeight - 1) - 1) / strideHeight + 1
        let w = (width + padLeft + padRight - dilationWidth * (kernelWidth - 1) - 1) / strideWidth + 1
        return (h, w)
    }

    /// Whether every output pixel reads exactly its own input pixel (a 1×1, stride-1, unpadded window).
    public var isPointwise: Bool {
        kernelHeight == 1 && kernelWidth == 1 && strideHeight == 1 && strideWidth == 1
            && padTop == 0 && padBottom == 0 && padLeft == 0 && padRight == 0
    }
}

/// 2-D convolution kernels.
public enum Convolution {
    /// How many floats one im2col buffer may hold before the batch is processed in chunks (16 MiB, so
    /// that the buffer stays below glibc's largest heap-served allocation and is reused, not remapped).
    static let columnBudget = 4 << 20

    /// Cross-correlates `input` with `weight`, as `torch.nn.functional.conv2d`.
    ///
    /// - Parameters:
    ///   - input: `[N, C, H, W]`.
    ///   - weight: `[O, C / groups, kH, kW]`.
    ///   - bias: `O` values, or `nil`.
    ///   - geometry: kernel size (must match `weight`), stride, padding, dilation.
    ///   - groups: the number of channel groups; `C` and `O` are multiples of it.
    ///   - activation: applied to the output in the same pass as the bias.
    ///   - winograd: the filters transformed by ``Winograd/transform(weight:)``: 3×3 stride-1 layers then
    ///     take the Winograd path.
    /// - Returns: `[N, O, OH, OW]` with `OH, OW = geometry.outputSize(H, W)`.
    public static func forward(
        _ input: Tensor, weight: Tensor, bias: [Float]?, geometry g: WindowGeometry, groups: Int,
        activation: Activation? = nil, winograd: Winograd.Filters? = nil
    ) -> Tensor {
        precondition(input.rank == 4 && weight.rank == 4, "conv2d wants [N,C,H,W] and [O,I,kH,kW]")
        let (n, c, h, w) = (input.shape[0], input.shape[1], input.shape[2], input.shape[3])
        let o = weight.shape[0]
        let cg = c / groups, og = o / groups
        precondition(c % groups == 0 && o % groups == 0 && weight.shape[1] == cg, "conv2d channel mismatch")
        precondition(weight.shape[2] == g.kernelHeight && weight.shape[3] == g.kernelWidth, "kernel size mismatch")
        precondition(bias == nil || bias?.count == o, "bias has \(bias?.count ?? 0) values for \(o) channels")
        let (oh, ow) = g.outputSize(height: h, width: w)
        precondition(oh > 0 && ow > 0, "conv2d input \(input.shape) too small for \(g)")
        let isDepthwise = cg == 1 && og == 1
        // sgemm overwrites every output element, so only the depthwise kernel needs a zeroed buffer.
        var output = [Float](unsafeUninitializedCapacity: n * o * oh * ow) { buffer, count in
            if isDepthwise { buffer.initialize(repeating: 0) }
            count = buffer.count
        }
        if isDepthwise {
            depthwise(input, weight: weight, geometry: g, into: &output, outputSize: (oh, ow))
        } else if let winograd, Winograd.supports(g, groups: groups) {
            Winograd.forward(input, filters: winograd, geometry: g, into: &output, outputSize: (oh, ow))
        } else {
            general(input, weight: weight, geometry: g, groups: groups, into: &output, outputSize: (oh, ow))
        }
        if bias != nil || activation != nil {
            // One pass over each output plane while it is warm: bias, then the fused activation.
            let plane = oh * ow
            output.withUnsafeMutableBufferPointer { out in
                for image in 0..<n {
                    for channel in 0..<o {
                        let slice = UnsafeMutableBufferPointer(rebasing: out[((image * o + channel) * plane)..<((image * o + channel + 1) * plane)])
                        if let value = bias?[channel] {
                            for i in slice.indices { slice[i] += value }
                        }
                        activation?.apply(to: slice)
                    }
                }
            }
        }
        return Tensor(shape: [n, o, oh, ow], scalars: output)
    }

    /// im2col + sgemm per group; pointwise convolutions skip im2col.
    static func general(
        _ input: Tensor, weight: Tensor, geometry g: WindowGeometry, groups: Int,
        into output: inout [Float], outputSize: (Int, Int)
    ) {
        let (n, c, h, w) = (input.shape[0], input.shape[1], input.shape[2], input.shape[3])
        let o = weight.shape[0]
        let cg = c / groups, og = o / groups
        let (oh, ow) = outputSize
        let plane = oh * ow
        let k = cg * g.kernelHeight * g.kernelWidth
        // Several images share one matrix product when their planes are small, so sgemm sees wide matrices.
        let imagesPerChunk = max(1, min(n, columnBudget / max(1, k * plane)))
        let pointwise = g.isPointwise
        var columns = [Float](repeating: 0, count: (pointwise && imagesPerChunk == 1) ? 0 : k * plane * imagesPerChunk)
        var product = [Float](repeating: 0, count: imagesPerChunk > 1 ? og * plane * imagesPerChunk : 0)
        input.scalars.withUnsafeBufferPointer { src in
            weight.scalars.withUnsafeBufferPointer { wgt in
                columns.withUnsafeMutableBufferPointer { col in
                    product.withUnsafeMutableBufferPointer { prod in
                        output.withUnsafeMutableBufferPointer { out in
                            var first = 0
                            while first < n {
                                let count = min(imagesPerChunk, n - first)
                                for group in 0..<groups {
                                    let wBase = wgt.baseAddress! + group * og * k
                                    if count == 1 {
                                        let inBase = src.baseAddress! + (first * c + group * cg) * h * w
                                        let outBase = out.baseAddress! + (first * o + group * og) * plane
                                        let b: UnsafePointer<Float>
                                        if pointwise {
                                            b = inBase
                                        } else {
                                            im2col(inBase, channels: cg, height: h, width: w, geometry: g,
                                                   outputSize: outputSize, into: col.baseAddress!, rowStride: plane)
                                            b = UnsafePointer(col.baseAddress!)
                                        }
                                        MatrixMultiply.gemm(m: og, n: plane, k: k, a: wBase, lda: k, b: b, ldb: plane,
                                                            c: outBase, ldc: plane)
                                    } else {
                                        let rowStride = plane * count
                                        for i in 0..<count {
                                            let inBase = src.baseAddress! + ((first + i) * c + group * cg) * h * w
                                            im2col(inBase, channels: cg, height: h, width: w, geometry: g,
                                                   outputSize: outputSize, into: col.baseAddress! + i * plane,
                                                   rowStride: rowStride)
                                        }
                                        MatrixMultiply.gemm(m: og, n: rowStride, k: k, a: wBase, lda: k,
                                                            b: col.baseAddress!, ldb: rowStride,
                                                            c: prod.baseAddress!, ldc: rowStride)
                                        for i in 0..<count {
                                            for oc in 0..<og {
                                                let dst = out.baseAddress! + ((first + i) * o + group * og + oc) * plane
                                                dst.update(from: prod.baseAddress! + oc * rowStride + i * plane, count: plane)
                                            }
                                        }
                                    }
                                }
                                first += count
                            }
                        }
                    }
                }
            }
        }
    }

    /// Unfolds one image's `[C, H, W]` into rows `(c, ky, kx)` of `OH·OW` samples (zero outside the image).
    @inline(__always)
    static func im2col(
        _ src: UnsafePointer<Float>, channels: Int, height h: Int, width w: Int, geometry g: WindowGeometry,
        outputSize: (Int, Int), into dst: UnsafeMutablePointer<Float>, rowStride: Int
    ) {
        let (oh, ow) = outputSize
        var row = 0
        for channel in 0..<channels {
            let plane = src + channel * h * w
            for ky in 0..<g.kernelHeight {
                for kx in 0..<g.kernelWidth {
                    let out = dst + row * rowStride
                    let dy = ky * g.dilationHeight - g.padTop
                    let dx = kx * g.dilationWidth - g.padLeft
                    for y in 0..<oh {
                        let iy = y * g.strideHeight + dy
                        let line = out + y * ow
                        if iy < 0 || iy >= h {
                            line.update(repeating: 0, count: ow)
                            continue
                        }
                        let srcRow = plane + iy * w
                        if g.strideWidth == 1 {
                            // Contiguous run: zeros on the left, a copy, zeros on the right.
                            let lo = min(ow, max(0, -dx)), hi = max(lo, min(ow, w - dx))
                            if lo > 0 { line.update(repeating: 0, count: lo) }
                            if hi > lo { (line + lo).update(from: srcRow + lo + dx, count: hi - lo) }
                            if hi < ow { (line + hi).update(repeating: 0, count: ow - hi) }
                        } else {
                            // Output columns whose input column lies inside the image: [lo, hi).
                            let s = g.strideWidth
                            let lo = min(ow, max(0, (-dx + s - 1) / s))
                            let hi = max(lo, min(ow, (w - dx + s - 1) / s))
                            if lo > 0 { line.update(repeating: 0, count: lo) }
                            for x in lo..<hi { line[x] = srcRow[x * s + dx] }
                            if hi < ow { (line + hi).update(repeating: 0, count: ow - hi) }
                        }
                    }
                    row += 1
                }
            }
        }
    }

    /// Direct depthwise convolution (one input and one output channel per group).
    static func depthwise(
        _ input: Tensor, weight: Tensor, geometry g: WindowGeometry, into output: inout [Float], outputSize: (Int, Int)
    ) {
        let (n, c, h, w) = (input.shape[0], input.shape[1], input.shape[2], input.shape[3])
        let (oh, ow) = outputSize
        let kh = g.kernelHeight, kw = g.kernelWidth
        input.scalars.withUnsafeBufferPointer { src in
            weight.scalars.withUnsafeBufferPointer { wgt in
                output.withUnsafeMutableBufferPointer { out in
                    for image in 0..<n {
                        for channel in 0..<c {
                            let plane = src.baseAddress! + (image * c + channel) * h * w
                            let dst = out.baseAddress! + (image * c + channel) * oh * ow
                            let kernel = wgt.baseAddress! + channel * kh * kw
                            for ky in 0..<kh {
                                for kx in 0..<kw {
                                    let weightValue = kernel[ky * kw + kx]
                                    let dy = ky * g.dilationHeight - g.padTop
                                    let dx = kx * g.dilationWidth - g.padLeft
                                    // Output columns whose input column lies inside the image.
                                    let xLow = max(0, (-dx + g.strideWidth - 1) / g.strideWidth)
                                    let xHigh = min(ow, (w - dx + g.strideWidth - 1) / g.strideWidth)
                                    if xHigh <= xLow { continue }
                                    for y in 0..<oh {
                                        let iy = y * g.strideHeight + dy
                                        if iy < 0 || iy >= h { continue }
                                        let srcRow = plane + iy * w + dx
                                        let dstRow = dst + y * ow
                                        if g.strideWidth == 1 {
                                            for x in xLow..<xHigh { dstRow[x] += weightValue * srcRow[x] }
                                        } else {
                                            for x in xLow..<xHigh { dstRow[x] += weightValue * srcRow[x * g.strideWidth] }
                                        }
                                    }
                                }
                            }
                        }
                    }
                }
            }
        }
    }
}
