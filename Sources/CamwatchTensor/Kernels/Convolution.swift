internal import CVectorKernels

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

    /// This window with TensorFlow `same` padding for an input of `height × width`: along each axis the
    /// total padding `max((⌈in/s⌉ − 1)·s + (k − 1)·d + 1 − in, 0)`, the odd pixel at the bottom/right, so
    /// that the output has `⌈in/s⌉` pixels.
    public func samePadded(height: Int, width: Int) -> WindowGeometry {
        func amount(_ input: Int, _ kernel: Int, _ stride: Int, _ dilation: Int) -> (Int, Int) {
            let total = Swift.max(((input + stride - 1) / stride - 1) * stride + (kernel - 1) * dilation + 1 - input, 0)
            return (total / 2, total - total / 2)
        }
        var g = self
        (g.padTop, g.padBottom) = amount(height, kernelHeight, strideHeight, dilationHeight)
        (g.padLeft, g.padRight) = amount(width, kernelWidth, strideWidth, dilationWidth)
        return g
    }

    /// Whether every output pixel reads exactly its own input pixel (a 1×1, stride-1, unpadded window).
    public var isPointwise: Bool {
        kernelHeight == 1 && kernelWidth == 1 && strideHeight == 1 && strideWidth == 1
            && padTop == 0 && padBottom == 0 && padLeft == 0 && padRight == 0
    }
}

/// 2-D convolution kernels.
public enum Convolution {
    /// How many floats one block of unfolded columns may hold (1 MiB): with the block of outputs it feeds,
    /// it stays in the caches from the unfolding through the matrix product to the bias and activation.
    static let columnBudget = 1 << 18
    /// The fewest output columns per matrix product, so that sgemm's packing stays a small part of its work.
    static let minimumColumns = 512

    /// The most output channels per group that the direct grouped kernel takes: up to here im2col's products
    /// have so few rows that sgemm runs at a fraction of its speed (RegNet's groups of 8 at 89 against 199
    /// GFLOP/s), while the direct kernel multiplies each loaded input vector into 8 outputs at a time.
    static let maximumDirectGroupOutputs = 32

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
        activation: Activation? = nil, winograd: Winograd.Filters? = nil, kernels: KernelLevel = .best
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
        // Every path overwrites every output element, so the buffer is not zeroed first.
        var output = [Float](unsafeUninitializedCapacity: n * o * oh * ow) { buffer, count in count = buffer.count }
        if isDepthwise, g.dilationHeight == 1, g.dilationWidth == 1, g.strideHeight == g.strideWidth,
            g.strideWidth == 1 || g.strideWidth == 2
        {
            vectorDepthwise(input, weight: weight, bias: bias, geometry: g, activation: activation, into: &output,
                            outputSize: (oh, ow), kernels: kernels)
        } else if isDepthwise {
            depthwise(input, weight: weight, bias: bias, geometry: g, activation: activation, into: &output,
                      outputSize: (oh, ow))
        } else if groups > 1, og <= maximumDirectGroupOutputs, g.dilationHeight == 1, g.dilationWidth == 1,
            g.strideHeight == g.strideWidth, g.strideWidth == 1 || g.strideWidth == 2
        {
            vectorGrouped(input, weight: weight, bias: bias, geometry: g, groups: groups, activation: activation,
                          into: &output, outputSize: (oh, ow), kernels: kernels)
        } else if let winograd, Winograd.supports(g, groups: groups) {
            Winograd.forward(input, filters: winograd, geometry: g, bias: bias, activation: activation, into: &output,
                             outputSize: (oh, ow))
        } else {
            general(input, weight: weight, bias: bias, geometry: g, groups: groups, activation: activation,
                    into: &output, outputSize: (oh, ow))
        }
        return Tensor(shape: [n, o, oh, ow], scalars: output)
    }

    /// Adds `bias` to `count` values and applies `activation`, reading from `source` and writing to
    /// `destination` (which may be the same buffer).
    @inline(__always)
    static func epilogue(
        _ source: UnsafePointer<Float>, _ destination: UnsafeMutablePointer<Float>, count: Int, bias: Float,
        activation: Activation?
    ) {
        let (low, high, rest) = Activation.storeClamp(activation)
        if let rest {
            if source != UnsafePointer(destination) { destination.update(from: source, count: count) }
            rest.apply(to: UnsafeMutableBufferPointer(start: destination, count: count), adding: bias)
            return
        }
        // Selects, not branches, so the loop vectorizes.
        for i in 0..<count { destination[i] = Swift.min(Swift.max(source[i] + bias, low), high) }
    }

    /// im2col + sgemm per group, a block of output columns at a time; pointwise convolutions read their
    /// input in place. Large output planes are cut into blocks of whole output rows, written by sgemm
    /// straight into the output; small planes of several images share one product (wide enough for sgemm)
    /// whose rows are then copied out. Bias and activation are applied to each block while it is warm.
    static func general(
        _ input: Tensor, weight: Tensor, bias: [Float]?, geometry g: WindowGeometry, groups: Int,
        activation: Activation?, into output: inout [Float], outputSize: (Int, Int)
    ) {
        let (n, c, h, w) = (input.shape[0], input.shape[1], input.shape[2], input.shape[3])
        let o = weight.shape[0]
        let cg = c / groups, og = o / groups
        let (oh, ow) = outputSize
        let plane = oh * ow
        let k = cg * g.kernelHeight * g.kernelWidth
        let pointwise = g.isPointwise
        let blockColumns = Swift.max(minimumColumns, columnBudget / Swift.max(1, k))
        let imagesPerBlock = plane >= blockColumns ? 1 : Swift.min(n, blockColumns / plane)
        let rowsPerBlock = imagesPerBlock > 1 ? oh : Swift.max(1, Swift.min(oh, blockColumns / ow))
        let shared = imagesPerBlock > 1
        let columnCount = shared ? k * plane * imagesPerBlock : (pointwise ? 0 : k * rowsPerBlock * ow)
        let columns = UnsafeMutablePointer<Float>.allocate(capacity: Swift.max(1, columnCount))
        let product = UnsafeMutablePointer<Float>.allocate(capacity: shared ? og * plane * imagesPerBlock : 1)
        defer {
            columns.deallocate()
            product.deallocate()
        }
        input.scalars.withUnsafeBufferPointer { src in
            weight.scalars.withUnsafeBufferPointer { wgt in
                output.withUnsafeMutableBufferPointer { out in
                    for group in 0..<groups {
                        let wBase = wgt.baseAddress! + group * og * k
                        if shared {
                            var first = 0
                            while first < n {
                                let count = Swift.min(imagesPerBlock, n - first)
                                let rowStride = plane * count
                                for i in 0..<count {
                                    let inBase = src.baseAddress! + ((first + i) * c + group * cg) * h * w
                                    if pointwise {
                                        for channel in 0..<cg {
                                            (columns + channel * rowStride + i * plane).update(
                                                from: inBase + channel * plane, count: plane)
                                        }
                                    } else {
                                        im2col(inBase, channels: cg, height: h, width: w, geometry: g,
                                               outputSize: outputSize, rows: 0..<oh, into: columns + i * plane,
                                               rowStride: rowStride)
                                    }
                                }
                                MatrixMultiply.gemm(m: og, n: rowStride, k: k, a: wBase, lda: k, b: columns,
                                                    ldb: rowStride, c: product, ldc: rowStride)
                                for i in 0..<count {
                                    for oc in 0..<og {
                                        let channel = group * og + oc
                                        epilogue(product + oc * rowStride + i * plane,
                                                 out.baseAddress! + ((first + i) * o + channel) * plane, count: plane,
                                                 bias: bias?[channel] ?? 0, activation: activation)
                                    }
                                }
                                first += count
                            }
                        } else {
                            for image in 0..<n {
                                let inBase = src.baseAddress! + (image * c + group * cg) * h * w
                                let outBase = out.baseAddress! + (image * o + group * og) * plane
                                var y0 = 0
                                while y0 < oh {
                                    let y1 = Swift.min(oh, y0 + rowsPerBlock)
                                    let start = y0 * ow, width = (y1 - y0) * ow
                                    let b: UnsafePointer<Float>
                                    let ldb: Int
                                    if pointwise {
                                        (b, ldb) = (inBase + start, plane)
                                    } else {
                                        im2col(inBase, channels: cg, height: h, width: w, geometry: g,
                                               outputSize: outputSize, rows: y0..<y1, into: columns, rowStride: width)
                                        (b, ldb) = (UnsafePointer(columns), width)
                                    }
                                    MatrixMultiply.gemm(m: og, n: width, k: k, a: wBase, lda: k, b: b, ldb: ldb,
                                                        c: outBase + start, ldc: plane)
                                    if bias != nil || activation != nil {
                                        for oc in 0..<og {
                                            let line = outBase + oc * plane + start
                                            epilogue(line, line, count: width, bias: bias?[group * og + oc] ?? 0,
                                                     activation: activation)
                                        }
                                    }
                                    y0 = y1
                                }
                            }
                        }
                    }
                }
            }
        }
    }

    /// The output columns `x` whose input column `x · stride + offset` lies inside `0..<width`.
    @inline(__always)
    static func insideColumns(offset: Int, stride: Int, width: Int, outputWidth: Int) -> Range<Int> {
        let low = min(outputWidth, max(0, (-offset + stride - 1) / stride))
        return low..<max(low, min(outputWidth, (width - offset + stride - 1) / stride))
    }

    /// Unfolds output rows `rows` of one image's `[C, H, W]` into rows `(c, ky, kx)` of
    /// `rows.count · OW` samples (zero outside the image).
    @inline(__always)
    static func im2col(
        _ src: UnsafePointer<Float>, channels: Int, height h: Int, width w: Int, geometry g: WindowGeometry,
        outputSize: (Int, Int), rows: Range<Int>, into dst: UnsafeMutablePointer<Float>, rowStride: Int
    ) {
        let ow = outputSize.1
        var row = 0
        for channel in 0..<channels {
            let plane = src + channel * h * w
            for ky in 0..<g.kernelHeight {
                for kx in 0..<g.kernelWidth {
                    let out = dst + row * rowStride
                    let dy = ky * g.dilationHeight - g.padTop
                    let dx = kx * g.dilationWidth - g.padLeft
                    for y in rows {
                        let iy = y * g.strideHeight + dy
                        let line = out + (y - rows.lowerBound) * ow
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
                            let s = g.strideWidth
                            let inside = insideColumns(offset: dx, stride: s, width: w, outputWidth: ow)
                            let (lo, hi) = (inside.lowerBound, inside.upperBound)
                            if lo > 0 { line.update(repeating: 0, count: lo) }
                            var x = lo
                            if s == 2 {
                                // Eight outputs from sixteen contiguous inputs, while those stay inside the row.
                                while x + 8 <= hi && 2 * x + dx + 16 <= w {
                                    let pair = UnsafeRawPointer(srcRow + 2 * x + dx)
                                        .loadUnaligned(as: SIMD16<Float>.self)
                                    UnsafeMutableRawPointer(line + x)
                                        .storeBytes(of: pair.evenHalf, as: SIMD8<Float>.self)
                                    x += 8
                                }
                            }
                            while x < hi {
                                line[x] = srcRow[x * s + dx]
                                x += 1
                            }
                            if hi < ow { (line + hi).update(repeating: 0, count: ow - hi) }
                        }
                    }
                    row += 1
                }
            }
        }
    }

    /// Depthwise convolution with stride 1 or 2 and no dilation in the C kernels of `kernels`' width: every
    /// output vector accumulates all its taps in a register (the fallback below adds one tap at a time to the
    /// whole plane). ReLU and ReLU6 are applied on the way out, other activations on the planes after.
    static func vectorDepthwise(
        _ input: Tensor, weight: Tensor, bias: [Float]?, geometry g: WindowGeometry, activation: Activation?,
        into output: inout [Float], outputSize: (Int, Int), kernels: KernelLevel
    ) {
        let (c, h, w) = (input.shape[1], input.shape[2], input.shape[3])
        let (oh, ow) = outputSize
        let (kh, kw, s) = (g.kernelHeight, g.kernelWidth, g.strideWidth)
        directPerImage(input, weight: weight, bias: bias, activation: activation, into: &output,
                       outputPerImage: c * oh * ow, scratch: cw_depthwise_scratch(oh, ow, kh, kw, s)) {
            image, filters, shift, clamp, scratch, planes in
            cw_depthwise(kernels.c, image, c, c, h, w, filters, kh, kw, s, g.padTop, g.padLeft, oh, ow, shift,
                         clamp.low, clamp.high, scratch, planes)
        }
    }

    /// Grouped convolution with stride 1 or 2 and no dilation in the C kernels of `kernels`' width, for groups of
    /// a few channels: each group's input planes are padded once, then every output vector of 8 channels at a
    /// time accumulates all its taps in registers. ReLU and ReLU6 are applied on the way out, other activations
    /// on the planes after.
    static func vectorGrouped(
        _ input: Tensor, weight: Tensor, bias: [Float]?, geometry g: WindowGeometry, groups: Int,
        activation: Activation?, into output: inout [Float], outputSize: (Int, Int), kernels: KernelLevel
    ) {
        let (c, h, w) = (input.shape[1], input.shape[2], input.shape[3])
        let o = weight.shape[0]
        let (oh, ow) = outputSize
        let (kh, kw, s) = (g.kernelHeight, g.kernelWidth, g.strideWidth)
        directPerImage(input, weight: weight, bias: bias, activation: activation, into: &output,
                       outputPerImage: o * oh * ow, scratch: cw_grouped_scratch(c / groups, oh, ow, kh, kw, s)) {
            image, filters, shift, clamp, scratch, planes in
            cw_grouped(kernels.c, image, 1, c, groups, h, w, filters, o, kh, kw, s, g.padTop, g.padLeft, oh, ow,
                       shift, clamp.low, clamp.high, scratch, planes)
        }
    }

    /// Runs a direct C convolution kernel an image at a time: `kernel` gets the image's input `[C, H, W]`, the
    /// filters, the bias (or `nil`), the clamp that stands for ReLU/ReLU6, `scratch` floats of scratch and the
    /// image's `outputPerImage` output floats; any other activation is applied to those right after, while they
    /// are warm (EfficientNet's SiLU after its depthwise layers).
    static func directPerImage(
        _ input: Tensor, weight: Tensor, bias: [Float]?, activation: Activation?, into output: inout [Float],
        outputPerImage: Int, scratch scratchCount: Int,
        kernel: (
            _ image: UnsafePointer<Float>, _ filters: UnsafePointer<Float>, _ bias: UnsafePointer<Float>?,
            _ clamp: (low: Float, high: Float), _ scratch: UnsafeMutablePointer<Float>,
            _ planes: UnsafeMutablePointer<Float>
        ) -> Void
    ) {
        let n = input.shape[0], inputPerImage = input.scalarCount / Swift.max(1, n)
        let (clampLow, clampHigh, rest) = Activation.storeClamp(activation)
        let scratch = UnsafeMutablePointer<Float>.allocate(capacity: scratchCount)
        defer { scratch.deallocate() }
        let biasStorage = bias ?? []
        input.scalars.withUnsafeBufferPointer { src in
            weight.scalars.withUnsafeBufferPointer { wgt in
                biasStorage.withUnsafeBufferPointer { biasBuffer in
                    output.withUnsafeMutableBufferPointer { out in
                        for image in 0..<n {
                            let planes = UnsafeMutableBufferPointer(
                                rebasing: out[(image * outputPerImage)..<((image + 1) * outputPerImage)])
                            kernel(src.baseAddress! + image * inputPerImage, wgt.baseAddress!,
                                   bias == nil ? nil : biasBuffer.baseAddress, (clampLow, clampHigh), scratch,
                                   planes.baseAddress!)
                            rest?.apply(to: planes)
                        }
                    }
                }
            }
        }
    }

    /// Direct depthwise convolution (one input and one output channel per group), with the bias and
    /// activation applied to each output plane while it is warm: dilated layers and strides other than 1 and 2.
    static func depthwise(
        _ input: Tensor, weight: Tensor, bias: [Float]?, geometry g: WindowGeometry, activation: Activation?,
        into output: inout [Float], outputSize: (Int, Int)
    ) {
        let (n, c, h, w) = (input.shape[0], input.shape[1], input.shape[2], input.shape[3])
        let (oh, ow) = outputSize
        let kh = g.kernelHeight, kw = g.kernelWidth
        let s = g.strideWidth
        input.scalars.withUnsafeBufferPointer { src in
            weight.scalars.withUnsafeBufferPointer { wgt in
                output.withUnsafeMutableBufferPointer { out in
                    for image in 0..<n {
                        for channel in 0..<c {
                            let plane = src.baseAddress! + (image * c + channel) * h * w
                            let dst = out.baseAddress! + (image * c + channel) * oh * ow
                            let kernel = wgt.baseAddress! + channel * kh * kw
                            let shift = bias?[channel] ?? 0
                            dst.update(repeating: shift, count: oh * ow)
                            for ky in 0..<kh {
                                for kx in 0..<kw {
                                    let weightValue = kernel[ky * kw + kx]
                                    let scale = SIMD8<Float>(repeating: weightValue)
                                    let dy = ky * g.dilationHeight - g.padTop
                                    let dx = kx * g.dilationWidth - g.padLeft
                                    let inside = insideColumns(offset: dx, stride: s, width: w, outputWidth: ow)
                                    let (xLow, xHigh) = (inside.lowerBound, inside.upperBound)
                                    if xHigh <= xLow { continue }
                                    for y in 0..<oh {
                                        let iy = y * g.strideHeight + dy
                                        if iy < 0 || iy >= h { continue }
                                        let srcRow = plane + iy * w + dx
                                        let dstRow = dst + y * ow
                                        if s == 1 {
                                            for x in xLow..<xHigh { dstRow[x] += weightValue * srcRow[x] }
                                        } else {
                                            var x = xLow
                                            if s == 2 {
                                                // Eight outputs from sixteen contiguous inputs inside the row.
                                                while x + 8 <= xHigh && 2 * x + dx + 16 <= w {
                                                    let pair = UnsafeRawPointer(srcRow + 2 * x).loadUnaligned(
                                                        as: SIMD16<Float>.self)
                                                    let sum = UnsafeRawPointer(dstRow + x).loadUnaligned(
                                                        as: SIMD8<Float>.self) + scale * pair.evenHalf
                                                    UnsafeMutableRawPointer(dstRow + x)
                                                        .storeBytes(of: sum, as: SIMD8<Float>.self)
                                                    x += 8
                                                }
                                            }
                                            while x < xHigh {
                                                dstRow[x] += weightValue * srcRow[x * s]
                                                x += 1
                                            }
                                        }
                                    }
                                }
                            }
                            if activation != nil { epilogue(dst, dst, count: oh * ow, bias: 0, activation: activation) }
                        }
                    }
                }
            }
        }
    }
}
