/// Pooling kernels over the spatial dimensions of `[N, C, H, W]`, PyTorch semantics.
public enum Pooling {
    /// The output extent of a pooling window along one axis, with PyTorch's `ceil_mode` rule
    /// (the last window must start inside the input or the left padding).
    public static func outputExtent(input: Int, kernel: Int, stride: Int, padBefore: Int, padAfter: Int,
                                    dilation: Int, ceilMode: Bool) -> Int {
        let span = input + padBefore + padAfter - dilation * (kernel - 1) - 1
        var out = (ceilMode ? (span + stride - 1) / stride : span / stride) + 1
        if ceilMode && (out - 1) * stride >= input + padBefore { out -= 1 }
        return out
    }

    /// A pooling window's output height and width for an input of `height × width` (`dilated: false`
    /// ignores the geometry's dilation, as average pooling has none).
    public static func outputSize(height: Int, width: Int, geometry g: WindowGeometry, ceilMode: Bool,
                                  dilated: Bool) -> (height: Int, width: Int) {
        let oh = outputExtent(input: height, kernel: g.kernelHeight, stride: g.strideHeight, padBefore: g.padTop,
                              padAfter: g.padBottom, dilation: dilated ? g.dilationHeight : 1, ceilMode: ceilMode)
        let ow = outputExtent(input: width, kernel: g.kernelWidth, stride: g.strideWidth, padBefore: g.padLeft,
                              padAfter: g.padRight, dilation: dilated ? g.dilationWidth : 1, ceilMode: ceilMode)
        return (oh, ow)
    }

    /// `torch.nn.MaxPool2d`: padded positions never win.
    ///
    /// - Parameter input: `[N, C, H, W]`.
    /// - Returns: `[N, C, OH, OW]`.
    public static func max(_ input: Tensor, geometry g: WindowGeometry, ceilMode: Bool) -> Tensor {
        let (n, c, h, w) = (input.shape[0], input.shape[1], input.shape[2], input.shape[3])
        let (oh, ow) = outputSize(height: h, width: w, geometry: g, ceilMode: ceilMode, dilated: true)
        if g.dilationHeight == 1 && g.dilationWidth == 1 {
            // Every element is written.
            var out = [Float](unsafeUninitializedCapacity: n * c * oh * ow) { _, count in count = n * c * oh * ow }
            separableMax(input, geometry: g, outputSize: (oh, ow), into: &out)
            return Tensor(shape: [n, c, oh, ow], scalars: out)
        }
        var out = [Float](repeating: 0, count: n * c * oh * ow)
        input.scalars.withUnsafeBufferPointer { src in
            out.withUnsafeMutableBufferPointer { dst in
                for plane in 0..<(n * c) {
                    let s = plane * h * w, d = plane * oh * ow
                    for y in 0..<oh {
                        for x in 0..<ow {
                            var best = -Float.infinity
                            for ky in 0..<g.kernelHeight {
                                let iy = y * g.strideHeight - g.padTop + ky * g.dilationHeight
                                if iy < 0 || iy >= h { continue }
                                for kx in 0..<g.kernelWidth {
                                    let ix = x * g.strideWidth - g.padLeft + kx * g.dilationWidth
                                    if ix < 0 || ix >= w { continue }
                                    let v = src[s + iy * w + ix]
                                    if v > best || v.isNaN { best = v }
                                }
                            }
                            dst[d + y * ow + x] = best
                        }
                    }
                }
            }
        }
        return Tensor(shape: [n, c, oh, ow], scalars: out)
    }

    /// Max pooling as a vertical pass then a horizontal one: each output row first takes the elementwise
    /// maximum of its input rows (contiguous, vectorized), then windows along that row, read from a copy
    /// bordered with −∞ so that padding never wins and no bounds are checked. (Branch-free selects; unlike
    /// the general path, a NaN does not propagate. Checkpoints with non-finite weights are rejected at load
    /// time.)
    static func separableMax(
        _ input: Tensor, geometry g: WindowGeometry, outputSize: (Int, Int), into out: inout [Float]
    ) {
        let (n, c, h, w) = (input.shape[0], input.shape[1], input.shape[2], input.shape[3])
        let (oh, ow) = outputSize
        let sx = g.strideWidth, kw = g.kernelWidth, left = g.padLeft
        // The row buffer covers every window: [−left, (ow − 1)·sx + kw − left).
        let span = Swift.max(w + left, (ow - 1) * sx + kw) + 1
        let rowBuffer = UnsafeMutablePointer<Float>.allocate(capacity: span)
        defer { rowBuffer.deallocate() }
        rowBuffer.initialize(repeating: -Float.infinity, count: span)
        let row = rowBuffer + left
        input.scalars.withUnsafeBufferPointer { src in
            out.withUnsafeMutableBufferPointer { dst in
                for plane in 0..<(n * c) {
                    let s = src.baseAddress! + plane * h * w
                    let d = dst.baseAddress! + plane * oh * ow
                    for y in 0..<oh {
                        let lo = Swift.max(0, y * g.strideHeight - g.padTop)
                        let hi = Swift.min(h, y * g.strideHeight - g.padTop + g.kernelHeight)
                        let line = d + y * ow
                        guard hi > lo else {
                            line.update(repeating: -Float.infinity, count: ow)
                            continue
                        }
                        row.update(from: s + lo * w, count: w)
                        for iy in (lo + 1)..<Swift.max(lo + 1, hi) {
                            let source = s + iy * w
                            for x in 0..<w { row[x] = source[x] > row[x] ? source[x] : row[x] }
                        }
                        if kw == 3 {
                            for x in 0..<ow {
                                let p = row + x * sx - left
                                let a = p[0] > p[1] ? p[0] : p[1]
                                line[x] = p[2] > a ? p[2] : a
                            }
                        } else {
                            for x in 0..<ow {
                                let p = row + x * sx - left
                                var best = p[0]
                                for kx in 1..<Swift.max(1, kw) { best = p[kx] > best ? p[kx] : best }
                                line[x] = best
                            }
                        }
                    }
                }
            }
        }
    }

    /// `torch.nn.AvgPool2d` (symmetric padding as PyTorch allows, or asymmetric).
    ///
    /// - Parameter input: `[N, C, H, W]`.
    /// - Returns: `[N, C, OH, OW]`.
    public static func average(_ input: Tensor, geometry g: WindowGeometry, ceilMode: Bool,
                               countIncludePad: Bool) -> Tensor {
        let (n, c, h, w) = (input.shape[0], input.shape[1], input.shape[2], input.shape[3])
        let (oh, ow) = outputSize(height: h, width: w, geometry: g, ceilMode: ceilMode, dilated: false)
        var out = [Float](repeating: 0, count: n * c * oh * ow)
        input.scalars.withUnsafeBufferPointer { src in
            out.withUnsafeMutableBufferPointer { dst in
                for plane in 0..<(n * c) {
                    let s = plane * h * w, d = plane * oh * ow
                    for y in 0..<oh {
                        var y0 = y * g.strideHeight - g.padTop
                        var y1 = Swift.min(y0 + g.kernelHeight, h + g.padBottom)
                        let spanY = y1 - y0
                        y0 = Swift.max(y0, 0)
                        y1 = Swift.min(y1, h)
                        for x in 0..<ow {
                            var x0 = x * g.strideWidth - g.padLeft
                            var x1 = Swift.min(x0 + g.kernelWidth, w + g.padRight)
                            let spanX = x1 - x0
                            x0 = Swift.max(x0, 0)
                            x1 = Swift.min(x1, w)
                            var sum: Float = 0
                            for iy in y0..<Swift.max(y0, y1) {
                                for ix in x0..<Swift.max(x0, x1) { sum += src[s + iy * w + ix] }
                            }
                            let divisor = countIncludePad ? spanY * spanX : (y1 - y0) * (x1 - x0)
                            dst[d + y * ow + x] = divisor > 0 ? sum / Float(divisor) : 0
                        }
                    }
                }
            }
        }
        return Tensor(shape: [n, c, oh, ow], scalars: out)
    }

    /// `torch.nn.AdaptiveAvgPool2d`: bin `i` covers `⌊i·H/OH⌋ ..< ⌈(i+1)·H/OH⌉`.
    ///
    /// - Parameter input: `[N, C, H, W]`.
    /// - Returns: `[N, C, outputHeight, outputWidth]`.
    public static func adaptiveAverage(_ input: Tensor, outputHeight oh: Int, outputWidth ow: Int) -> Tensor {
        let (n, c, h, w) = (input.shape[0], input.shape[1], input.shape[2], input.shape[3])
        var out = [Float](repeating: 0, count: n * c * oh * ow)
        input.scalars.withUnsafeBufferPointer { src in
            out.withUnsafeMutableBufferPointer { dst in
                for plane in 0..<(n * c) {
                    let s = plane * h * w, d = plane * oh * ow
                    for y in 0..<oh {
                        let y0 = (y * h) / oh, y1 = ((y + 1) * h + oh - 1) / oh
                        for x in 0..<ow {
                            let x0 = (x * w) / ow, x1 = ((x + 1) * w + ow - 1) / ow
                            var sum: Float = 0
                            for iy in y0..<y1 {
                                for ix in x0..<x1 { sum += src[s + iy * w + ix] }
                            }
                            dst[d + y * ow + x] = sum / Float((y1 - y0) * (x1 - x0))
                        }
                    }
                }
            }
        }
        return Tensor(shape: [n, c, oh, ow], scalars: out)
    }

    /// Mean (or maximum) over each channel's plane: `[N, C, H, W]` → `[N, C, 1, 1]`.
    public static func global(_ input: Tensor, maximum: Bool) -> Tensor {
        let (n, c) = (input.shape[0], input.shape[1])
        let plane = input.shape[2] * input.shape[3]
        var out = [Float](repeating: 0, count: n * c)
        input.scalars.withUnsafeBufferPointer { src in
            for i in 0..<(n * c) {
                let base = i * plane
                if maximum {
                    var best = -Float.infinity
                    for j in 0..<plane where src[base + j] > best || src[base + j].isNaN { best = src[base + j] }
                    out[i] = best
                } else {
                    var sum: Float = 0
                    for j in 0..<plane { sum += src[base + j] }
                    out[i] = sum / Float(plane)
                }
            }
        }
        return Tensor(shape: [n, c, 1, 1], scalars: out)
    }
}
