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
                forEachMaxWinner(src, shape: input.shape, outputSize: (oh, ow), geometry: g) { winner, output in
                    dst[output] = winner < 0 ? -Float.infinity : src[winner]
                }
            }
        }
        return Tensor(shape: [n, c, oh, ow], scalars: out)
    }

    /// Calls `body(winner, output)` for every output of a max pooling of `[N, C, H, W]`: `output` indexes
    /// `[N, C, OH, OW]`, `winner` the input (``maxPosition(_:height:width:y:x:geometry:)`` in its plane,
    /// −1 for a window in the padding).
    @inline(__always)
    static func forEachMaxWinner(_ src: UnsafeBufferPointer<Float>, shape: [Int], outputSize: (Int, Int),
                                 geometry g: WindowGeometry, _ body: (Int, Int) -> Void) {
        let (h, w) = (shape[2], shape[3])
        let (oh, ow) = outputSize
        for plane in 0..<(shape[0] * shape[1]) {
            let s = plane * h * w
            for y in 0..<oh {
                for x in 0..<ow {
                    let winner = maxPosition(src.baseAddress! + s, height: h, width: w, y: y, x: x, geometry: g)
                    body(winner < 0 ? -1 : s + winner, (plane * oh + y) * ow + x)
                }
            }
        }
    }

    /// The position `iy · W + ix` of output `(y, x)`'s window maximum in one plane: the first in row-major
    /// window order, a NaN winning (PyTorch's rule); −1 when the window lies in the padding.
    @inline(__always)
    static func maxPosition(_ plane: UnsafePointer<Float>, height h: Int, width w: Int, y: Int, x: Int,
                            geometry g: WindowGeometry) -> Int {
        var best = -Float.infinity
        var winner = -1
        for ky in 0..<g.kernelHeight {
            let iy = y * g.strideHeight - g.padTop + ky * g.dilationHeight
            if iy < 0 || iy >= h { continue }
            for kx in 0..<g.kernelWidth {
                let ix = x * g.strideWidth - g.padLeft + kx * g.dilationWidth
                if ix < 0 || ix >= w { continue }
                let v = plane[iy * w + ix]
                if winner < 0 || v > best || v.isNaN {
                    best = v
                    winner = iy * w + ix
                }
            }
        }
        return winner
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
        input.scalars.withUnsafeBufferPointer { src in
            out.withUnsafeMutableBufferPointer { dst in
                for plane in 0..<(n * c) {
                    maxPlane(src.baseAddress! + plane * h * w, height: h, width: w, geometry: g, outputSize: outputSize,
                             into: dst.baseAddress! + plane * oh * ow)
                }
            }
        }
    }

    /// Max pooling of one `height × width` plane into `outputSize` (undilated windows), as ``max(_:geometry:ceilMode:)``
    /// computes each plane: for callers that build a plane and pool it while it is still in the caches.
    public static func maxPlane(
        _ s: UnsafePointer<Float>, height h: Int, width w: Int, geometry g: WindowGeometry, outputSize: (Int, Int),
        into d: UnsafeMutablePointer<Float>
    ) {
        precondition(g.dilationHeight == 1 && g.dilationWidth == 1, "maxPlane pools undilated windows")
        let (oh, ow) = outputSize
        let sx = g.strideWidth, kw = g.kernelWidth, left = g.padLeft
        // The row buffer covers every window: [−left, (ow − 1)·sx + kw − left).
        let span = Swift.max(w + left, (ow - 1) * sx + kw) + 1
        let rowBuffer = UnsafeMutablePointer<Float>.allocate(capacity: span)
        defer { rowBuffer.deallocate() }
        rowBuffer.initialize(repeating: -Float.infinity, count: span)
        let row = rowBuffer + left
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

    /// `torch.nn.AvgPool2d` (symmetric padding as PyTorch allows, or asymmetric).
    ///
    /// - Parameter input: `[N, C, H, W]`.
    /// - Returns: `[N, C, OH, OW]`.
    public static func average(_ input: Tensor, geometry g: WindowGeometry, ceilMode: Bool,
                               countIncludePad: Bool) -> Tensor {
        let (h, w) = (input.shape[2], input.shape[3])
        let (oh, ow) = outputSize(height: h, width: w, geometry: g, ceilMode: ceilMode, dilated: false)
        return windowAverage(input, rows: averageSpans(input: h, output: oh, kernel: g.kernelHeight, stride: g.strideHeight,
                                                       padBefore: g.padTop, padAfter: g.padBottom),
                             columns: averageSpans(input: w, output: ow, kernel: g.kernelWidth, stride: g.strideWidth,
                                                   padBefore: g.padLeft, padAfter: g.padRight),
                             countPadding: countIncludePad)
    }

    /// `torch.nn.AdaptiveAvgPool2d`: bin `i` covers `⌊i·H/OH⌋ ..< ⌈(i+1)·H/OH⌉`.
    ///
    /// - Parameter input: `[N, C, H, W]`.
    /// - Returns: `[N, C, outputHeight, outputWidth]`.
    public static func adaptiveAverage(_ input: Tensor, outputHeight oh: Int, outputWidth ow: Int) -> Tensor {
        windowAverage(input, rows: adaptiveSpans(input: input.shape[2], output: oh),
                      columns: adaptiveSpans(input: input.shape[3], output: ow), countPadding: true)
    }

    /// Where one output of an averaging window reads along an axis: `start..<end` inside the input, and
    /// the window's extent counting padding (the `count_include_pad` divisor).
    struct WindowSpan {
        var start: Int
        var end: Int
        var padded: Int
    }

    /// Average pooling's windows along one axis (a window never extends past the padding).
    static func averageSpans(input: Int, output: Int, kernel: Int, stride: Int, padBefore: Int, padAfter: Int) -> [WindowSpan] {
        (0..<output).map { i in
            let first = i * stride - padBefore
            let last = Swift.min(first + kernel, input + padAfter)
            let start = Swift.max(first, 0)
            return WindowSpan(start: start, end: Swift.max(start, Swift.min(last, input)), padded: last - first)
        }
    }

    /// Adaptive average pooling's bins along one axis.
    static func adaptiveSpans(input: Int, output: Int) -> [WindowSpan] {
        (0..<output).map { i in
            let start = (i * input) / output, end = ((i + 1) * input + output - 1) / output
            return WindowSpan(start: start, end: end, padded: end - start)
        }
    }

    /// The window's divisor: its padded area, or the part inside the input.
    @inline(__always)
    static func divisor(_ row: WindowSpan, _ column: WindowSpan, countPadding: Bool) -> Int {
        countPadding ? row.padded * column.padded : (row.end - row.start) * (column.end - column.start)
    }

    /// Calls `body(plane, output, row, column)` for every output of every plane, in memory order.
    @inline(__always)
    static func forEachWindow(planes: Int, rows: [WindowSpan], columns: [WindowSpan],
                              _ body: (Int, Int, WindowSpan, WindowSpan) -> Void) {
        for plane in 0..<planes {
            for (y, row) in rows.enumerated() {
                for (x, column) in columns.enumerated() { body(plane, y * columns.count + x, row, column) }
            }
        }
    }

    /// The mean of every window `rows[y] × columns[x]` of each plane of `[N, C, H, W]`.
    static func windowAverage(_ input: Tensor, rows: [WindowSpan], columns: [WindowSpan], countPadding: Bool) -> Tensor {
        let (n, c, h, w) = (input.shape[0], input.shape[1], input.shape[2], input.shape[3])
        let (oh, ow) = (rows.count, columns.count)
        var out = [Float](repeating: 0, count: n * c * oh * ow)
        input.scalars.withUnsafeBufferPointer { src in
            out.withUnsafeMutableBufferPointer { dst in
                forEachWindow(planes: n * c, rows: rows, columns: columns) { plane, output, row, column in
                    let s = plane * h * w
                    var sum: Float = 0
                    for iy in row.start..<row.end {
                        for ix in column.start..<column.end { sum += src[s + iy * w + ix] }
                    }
                    let divisor = divisor(row, column, countPadding: countPadding)
                    dst[plane * oh * ow + output] = divisor > 0 ? sum / Float(divisor) : 0
                }
            }
        }
        return Tensor(shape: [n, c, oh, ow], scalars: out)
    }

    /// The sum of `values` in eight interleaved partial sums: a single running sum is one dependent addition
    /// per element, which the compiler may not reorder into vector lanes (squeeze-and-excitation takes the
    /// mean of every expanded plane).
    static func sum(_ values: UnsafeBufferPointer<Float>) -> Float {
        var partial = SIMD8<Float>()
        var j = 0
        while j + 8 <= values.count {
            partial += UnsafeRawPointer(values.baseAddress! + j).loadUnaligned(as: SIMD8<Float>.self)
            j += 8
        }
        var total = partial.sum()
        while j < values.count {
            total += values[j]
            j += 1
        }
        return total
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
                    out[i] = Self.sum(UnsafeBufferPointer(rebasing: src[base..<(base + plane)])) / Float(plane)
                }
            }
        }
        return Tensor(shape: [n, c, 1, 1], scalars: out)
    }
}
