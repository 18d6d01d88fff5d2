extension Pooling {
    /// The vector-Jacobian product of ``max(_:geometry:ceilMode:)``: each output's gradient goes to the
    /// input position that won its window, the first maximum in row-major window order (PyTorch's rule;
    /// padding never wins).
    ///
    /// - Parameters:
    ///   - outputGradient: `[N, C, OH, OW]`.
    ///   - input: `[N, C, H, W]`, the forward input.
    /// - Returns: `[N, C, H, W]`.
    public static func maxGradient(_ outputGradient: Tensor, input: Tensor, geometry g: WindowGeometry) -> Tensor {
        var result = [Float](repeating: 0, count: input.scalarCount)
        input.scalars.withUnsafeBufferPointer { src in
            outputGradient.scalars.withUnsafeBufferPointer { dy in
                result.withUnsafeMutableBufferPointer { dx in
                    forEachMaxWinner(src, shape: input.shape, outputSize: (outputGradient.shape[2], outputGradient.shape[3]),
                                     geometry: g) { winner, output in
                        if winner >= 0 { dx[winner] += dy[output] }
                    }
                }
            }
        }
        return Tensor(shape: input.shape, scalars: result)
    }

    /// The vector-Jacobian product of ``average(_:geometry:ceilMode:countIncludePad:)``: each output's
    /// gradient spread over its window with the divisor the forward pass used.
    ///
    /// - Parameters:
    ///   - outputGradient: `[N, C, OH, OW]`.
    ///   - inputShape: `[N, C, H, W]`.
    /// - Returns: `[N, C, H, W]`.
    public static func averageGradient(
        _ outputGradient: Tensor, inputShape: [Int], geometry g: WindowGeometry, countIncludePad: Bool
    ) -> Tensor {
        let (oh, ow) = (outputGradient.shape[2], outputGradient.shape[3])
        return windowAverageGradient(
            outputGradient, inputShape: inputShape,
            rows: averageSpans(input: inputShape[2], output: oh, kernel: g.kernelHeight, stride: g.strideHeight,
                               padBefore: g.padTop, padAfter: g.padBottom),
            columns: averageSpans(input: inputShape[3], output: ow, kernel: g.kernelWidth, stride: g.strideWidth,
                                  padBefore: g.padLeft, padAfter: g.padRight),
            countPadding: countIncludePad)
    }

    /// The vector-Jacobian product of ``adaptiveAverage(_:outputHeight:outputWidth:)``.
    ///
    /// - Parameters:
    ///   - outputGradient: `[N, C, OH, OW]`.
    ///   - inputShape: `[N, C, H, W]`.
    /// - Returns: `[N, C, H, W]`.
    public static func adaptiveAverageGradient(_ outputGradient: Tensor, inputShape: [Int]) -> Tensor {
        windowAverageGradient(outputGradient, inputShape: inputShape,
                              rows: adaptiveSpans(input: inputShape[2], output: outputGradient.shape[2]),
                              columns: adaptiveSpans(input: inputShape[3], output: outputGradient.shape[3]),
                              countPadding: true)
    }

    /// The adjoint of ``windowAverage(_:rows:columns:countPadding:)``.
    static func windowAverageGradient(
        _ outputGradient: Tensor, inputShape: [Int], rows: [WindowSpan], columns: [WindowSpan], countPadding: Bool
    ) -> Tensor {
        let (n, c, h, w) = (inputShape[0], inputShape[1], inputShape[2], inputShape[3])
        let (oh, ow) = (rows.count, columns.count)
        var result = [Float](repeating: 0, count: n * c * h * w)
        outputGradient.scalars.withUnsafeBufferPointer { dy in
            result.withUnsafeMutableBufferPointer { dx in
                forEachWindow(planes: n * c, rows: rows, columns: columns) { plane, output, row, column in
                    let divisor = divisor(row, column, countPadding: countPadding)
                    guard divisor > 0 else { return }
                    let s = plane * h * w
                    let share = dy[plane * oh * ow + output] / Float(divisor)
                    for iy in row.start..<row.end {
                        for ix in column.start..<column.end { dx[s + iy * w + ix] += share }
                    }
                }
            }
        }
        return Tensor(shape: inputShape, scalars: result)
    }

    /// The vector-Jacobian product of ``global(_:maximum:)``: the mean's gradient spread evenly over the
    /// plane, the maximum's to the first position holding it (`nn.AdaptiveMaxPool2d(1)`'s rule).
    ///
    /// - Parameters:
    ///   - outputGradient: `[N, C, 1, 1]`.
    ///   - input: `[N, C, H, W]`, the forward input.
    /// - Returns: `[N, C, H, W]`.
    public static func globalGradient(_ outputGradient: Tensor, input: Tensor, maximum: Bool) -> Tensor {
        let (n, c) = (input.shape[0], input.shape[1])
        let plane = input.shape[2] * input.shape[3]
        var result = [Float](repeating: 0, count: input.scalarCount)
        input.scalars.withUnsafeBufferPointer { src in
            result.withUnsafeMutableBufferPointer { dx in
                for i in 0..<(n * c) {
                    let base = i * plane
                    let gradient = outputGradient.scalars[i]
                    if maximum {
                        var winner = 0
                        for j in 1..<Swift.max(1, plane) where src[base + j] > src[base + winner] || src[base + j].isNaN {
                            winner = j
                        }
                        dx[base + winner] = gradient
                    } else {
                        let share = gradient / Float(plane)
                        for j in 0..<plane { dx[base + j] = share }
                    }
                }
            }
        }
        return Tensor(shape: input.shape, scalars: result)
    }
}
