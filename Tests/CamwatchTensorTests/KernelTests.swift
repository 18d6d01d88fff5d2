import CamwatchTensor
import Foundation
import CamwatchTestSupport
import Testing

/// Kernels against small independent reference loops and hand-computed values. (Agreement with
/// PyTorch itself is proven end to end in CamwatchNNTests on fixtures PyTorch made.)
@Suite struct KernelTests {
    /// A direct six-loop convolution, the definition of `torch.nn.functional.conv2d`.
    static func naiveConvolution(_ x: Tensor, _ w: Tensor, _ bias: [Float]?, _ g: WindowGeometry, groups: Int) -> Tensor {
        let (n, c, h, wd) = (x.shape[0], x.shape[1], x.shape[2], x.shape[3])
        let o = w.shape[0], cg = c / groups, og = o / groups
        let (oh, ow) = g.outputSize(height: h, width: wd)
        var out = [Float](repeating: 0, count: n * o * oh * ow)
        for b in 0..<n {
            for oc in 0..<o {
                let group = oc / og
                for y in 0..<oh {
                    for xo in 0..<ow {
                        var sum = bias?[oc] ?? 0
                        for ic in 0..<cg {
                            for ky in 0..<g.kernelHeight {
                                for kx in 0..<g.kernelWidth {
                                    let iy = y * g.strideHeight - g.padTop + ky * g.dilationHeight
                                    let ix = xo * g.strideWidth - g.padLeft + kx * g.dilationWidth
                                    guard iy >= 0, iy < h, ix >= 0, ix < wd else { continue }
                                    let xv = x.scalars[((b * c + group * cg + ic) * h + iy) * wd + ix]
                                    let wv = w.scalars[((oc * cg + ic) * g.kernelHeight + ky) * g.kernelWidth + kx]
                                    sum += xv * wv
                                }
                            }
                        }
                        out[((b * o + oc) * oh + y) * ow + xo] = sum
                    }
                }
            }
        }
        return Tensor(shape: [n, o, oh, ow], scalars: out)
    }

    static func random(_ shape: [Int], seed: UInt64) -> Tensor {
        var state = seed
        let count = shape.reduce(1, *)
        let values = (0..<count).map { _ -> Float in
            state = state &* 6_364_136_223_846_793_005 &+ 1_442_695_040_888_963_407
            return Float(Int64(bitPattern: state >> 11) % 2001) / 1000 - 1
        }
        return Tensor(shape: shape, scalars: values)
    }

    struct ConvCase: Sendable, CustomStringConvertible {
        var batch: Int, channels: Int, out: Int, size: (Int, Int), kernel: (Int, Int), stride: (Int, Int)
        var padding: (Int, Int, Int, Int), dilation: (Int, Int), groups: Int
        var description: String { "b\(batch) c\(channels)→\(out) k\(kernel) s\(stride) p\(padding) d\(dilation) g\(groups)" }
    }

    static let convCases: [ConvCase] = [
        ConvCase(batch: 1, channels: 3, out: 4, size: (9, 7), kernel: (3, 3), stride: (1, 1), padding: (1, 1, 1, 1), dilation: (1, 1), groups: 1),
        ConvCase(batch: 3, channels: 4, out: 6, size: (8, 8), kernel: (3, 3), stride: (2, 2), padding: (1, 1, 1, 1), dilation: (1, 1), groups: 2),
        ConvCase(batch: 2, channels: 5, out: 3, size: (6, 10), kernel: (1, 1), stride: (1, 1), padding: (0, 0, 0, 0), dilation: (1, 1), groups: 1),
        ConvCase(batch: 1, channels: 5, out: 3, size: (6, 10), kernel: (1, 1), stride: (1, 1), padding: (0, 0, 0, 0), dilation: (1, 1), groups: 1),
        ConvCase(batch: 2, channels: 3, out: 2, size: (11, 9), kernel: (3, 2), stride: (1, 2), padding: (2, 0, 1, 3), dilation: (2, 1), groups: 1),
        ConvCase(batch: 2, channels: 6, out: 6, size: (7, 7), kernel: (3, 3), stride: (2, 2), padding: (1, 1, 1, 1), dilation: (1, 1), groups: 6),
        ConvCase(batch: 1, channels: 4, out: 4, size: (9, 8), kernel: (5, 5), stride: (1, 1), padding: (2, 2, 2, 2), dilation: (2, 2), groups: 4),
        ConvCase(batch: 2, channels: 3, out: 6, size: (6, 6), kernel: (3, 3), stride: (1, 1), padding: (0, 1, 0, 1), dilation: (1, 1), groups: 3),
    ]

    @Test(arguments: convCases)
    func convolutionMatchesTheDefinition(_ c: ConvCase) {
        let x = Self.random([c.batch, c.channels, c.size.0, c.size.1], seed: 1)
        let w = Self.random([c.out, c.channels / c.groups, c.kernel.0, c.kernel.1], seed: 2)
        let bias = Self.random([c.out], seed: 3).scalars
        let g = WindowGeometry(kernel: c.kernel, stride: c.stride, padding: c.padding, dilation: c.dilation)
        let ours = Convolution.forward(x, weight: w, bias: bias, geometry: g, groups: c.groups)
        let reference = Self.naiveConvolution(x, w, bias, g, groups: c.groups)
        #expect(ours.shape == reference.shape)
        #expect(maxAbsoluteDifference(ours.scalars, reference.scalars) < 1e-5)
    }

    @Test func poolingExtentsFollowPyTorchCeilMode() {
        // nn.MaxPool2d(3, 2, ceil_mode=True) on 112 → 56; on 7 → 3; kernel 2 stride 2 ceil on 5 → 3.
        #expect(Pooling.outputExtent(input: 112, kernel: 3, stride: 2, padBefore: 0, padAfter: 0, dilation: 1, ceilMode: true) == 56)
        #expect(Pooling.outputExtent(input: 7, kernel: 3, stride: 2, padBefore: 0, padAfter: 0, dilation: 1, ceilMode: true) == 3)
        #expect(Pooling.outputExtent(input: 5, kernel: 2, stride: 2, padBefore: 0, padAfter: 0, dilation: 1, ceilMode: true) == 3)
        // The window that would start in the right padding is dropped: 4 + pad 1, kernel 2, stride 2.
        #expect(Pooling.outputExtent(input: 4, kernel: 2, stride: 2, padBefore: 1, padAfter: 1, dilation: 1, ceilMode: true) == 3)
    }

    @Test func averagePoolingDivisors() {
        let x = Tensor(shape: [1, 1, 2, 2], scalars: [1, 2, 3, 4])
        let g = WindowGeometry(kernel: (2, 2), stride: (1, 1), padding: (1, 1, 1, 1))
        let included = Pooling.average(x, geometry: g, ceilMode: false, countIncludePad: true)
        let excluded = Pooling.average(x, geometry: g, ceilMode: false, countIncludePad: false)
        #expect(included.shape == [1, 1, 3, 3])
        #expect(included.scalars[0] == 0.25 && included.scalars[4] == 2.5)
        #expect(excluded.scalars[0] == 1 && excluded.scalars[1] == 1.5 && excluded.scalars[4] == 2.5)
    }

    @Test func adaptiveAveragePoolingUsesOverlappingBins() {
        // 5 → 3 bins: [0,2), [1,4), [3,5).
        let x = Tensor(shape: [1, 1, 1, 5], scalars: [1, 2, 3, 4, 5])
        let y = Pooling.adaptiveAverage(x, outputHeight: 1, outputWidth: 3)
        #expect(y.scalars == [1.5, 3, 4.5])
    }

    @Test func bilinearResizeCornerAlignment() {
        let x = Tensor(shape: [1, 1, 2, 2], scalars: [0, 1, 2, 3])
        let aligned = Resize.bilinear(x, height: 3, width: 3, alignCorners: true)
        #expect(aligned.scalars == [0, 0.5, 1, 1, 1.5, 2, 2, 2.5, 3])
        // Half-pixel centres: output 0 samples source −0.25 → clamped to 0; output 1 samples 0.25.
        let halfPixel = Resize.bilinear(x, height: 4, width: 4, alignCorners: false)
        #expect(halfPixel.scalars[0] == 0 && halfPixel.scalars[1] == 0.25 && halfPixel.scalars[3] == 1)
        #expect(maxAbsoluteDifference(Array(halfPixel.scalars[12...]), [2, 2.25, 2.75, 3]) < 1e-6)
    }

    @Test func activationsMatchTheirDefinitions() {
        let x: [Float] = [-4, -1, 0, 1, 4, 7]
        #expect(Activation.relu6(Tensor(shape: [6], scalars: x)).scalars == [0, 0, 0, 1, 4, 6])
        #expect(Activation.hardswish(Tensor(shape: [6], scalars: x)).scalars == [0, -1.0 / 3, 0, 2.0 / 3, 4, 7])
        #expect(Activation.hardsigmoid(Tensor(shape: [6], scalars: x)).scalars == [0, 1.0 / 3, 0.5, 2.0 / 3, 1, 1])
        #expect(Activation.leakyReLU(negativeSlope: 0.2)(Tensor(shape: [6], scalars: x)).scalars == [-0.8, -0.2, 0, 1, 4, 7])
    }
}

@Suite struct WinogradTests {
    @Test(arguments: [
        (1, 16, 16, 9, 7, 1), (2, 5, 3, 8, 8, 1), (3, 4, 6, 7, 7, 0), (1, 3, 2, 4, 4, 1), (2, 8, 4, 13, 10, 2),
    ])
    func matchesTheDefinition(batch: Int, channels: Int, out: Int, height: Int, width: Int, pad: Int) {
        let x = KernelTests.random([batch, channels, height, width], seed: 7)
        let w = KernelTests.random([out, channels, 3, 3], seed: 8)
        let bias = KernelTests.random([out], seed: 9).scalars
        let g = WindowGeometry(kernel: (3, 3), padding: (pad, pad, pad, pad))
        let ours = Convolution.forward(x, weight: w, bias: bias, geometry: g, groups: 1, activation: .relu,
                                       winograd: Winograd.transform(weight: w))
        var reference = KernelTests.naiveConvolution(x, w, bias, g, groups: 1)
        Activation.relu.apply(to: &reference.scalars)
        #expect(ours.shape == reference.shape)
        #expect(maxAbsoluteDifference(ours.scalars, reference.scalars) < 1e-4)
    }

    @Test func largeChannelCountsStayAccurate() {
        let x = KernelTests.random([2, 256, 7, 7], seed: 3)
        let w = Tensor(shape: [64, 256, 3, 3], scalars: KernelTests.random([64, 256, 3, 3], seed: 4).scalars.map { $0 * 0.05 })
        let g = WindowGeometry(kernel: (3, 3), padding: (1, 1, 1, 1))
        let ours = Convolution.forward(x, weight: w, bias: nil, geometry: g, groups: 1, winograd: Winograd.transform(weight: w))
        let reference = KernelTests.naiveConvolution(x, w, nil, g, groups: 1)
        let scale = reference.scalars.map(abs).max() ?? 1
        #expect(maxAbsoluteDifference(ours.scalars, reference.scalars) < 2e-5 * max(1, scale))
    }
}

/// The Winograd kernels at every width this CPU runs (SSE always; AVX2 and AVX-512 where present): each against
/// the definition; the filter transforms bit for bit.
@Suite struct WinogradKernelLevelTests {
    static let runnable = KernelLevel.allCases.filter { $0 <= KernelLevel(for: .current()) }

    /// Channel counts around the lane widths (partial groups, padding) and rows narrower and wider than them.
    @Test(arguments: [
        (2, 3, 5, 7, 7, 1), (1, 16, 16, 9, 7, 1), (2, 17, 33, 12, 20, 1), (1, 8, 12, 30, 37, 0), (3, 20, 9, 5, 6, 2),
    ])
    func everyWidthMatchesTheDefinitionAndEachOther(
        batch: Int, channels: Int, out: Int, height: Int, width: Int, pad: Int
    ) throws {
        let x = KernelTests.random([batch, channels, height, width], seed: 31)
        let w = KernelTests.random([out, channels, 3, 3], seed: 32)
        let bias = KernelTests.random([out], seed: 33).scalars
        let g = WindowGeometry(kernel: (3, 3), padding: (pad, pad, pad, pad))
        let (oh, ow) = g.outputSize(height: height, width: width)
        var reference = KernelTests.naiveConvolution(x, w, bias, g, groups: 1)
        Activation.relu6.apply(to: &reference.scalars)
        var results: [KernelLevel: [Float]] = [:]
        for level in Self.runnable {
            var ours = [Float](repeating: .nan, count: batch * out * oh * ow)
            // Small blocks, so that several blocks (and a partial last one) run.
            Winograd.forward(x, filters: Winograd.transform(weight: w, kernels: level), geometry: g, bias: bias,
                             activation: .relu6, into: &ours, outputSize: (oh, ow), blockTiles: 5)
            #expect(maxAbsoluteDifference(ours, reference.scalars) < 1e-4, "\(level)")
            results[level] = ours
        }
        // The FMA levels multiply in their own kernels (one rounding per multiply-add): close to SSE's sgemm
        // products, not equal.
        let sse = try #require(results[.sse])
        for level in Self.runnable { #expect(maxAbsoluteDifference(results[level] ?? [], sse) < 1e-4, "\(level)") }
    }

    /// The filter transform at every width against `G g Gᵀ` computed here in double precision, bit for bit.
    @Test(arguments: [(5, 3), (16, 16), (7, 33)])
    func filterTransformMatchesTheDefinitionAtEveryWidth(outputs: Int, inputs: Int) {
        let w = KernelTests.random([outputs, inputs, 3, 3], seed: 41)
        let g: [[Double]] = [[0.25, 0, 0], [-1.0 / 6, -1.0 / 6, -1.0 / 6], [-1.0 / 6, 1.0 / 6, -1.0 / 6],
                             [1.0 / 24, 1.0 / 12, 1.0 / 6], [1.0 / 24, -1.0 / 12, 1.0 / 6], [0, 0, 1]]
        var expected = [Float](repeating: 0, count: 36 * outputs * inputs)
        for oc in 0..<outputs {
            for ic in 0..<inputs {
                let filter = (0..<9).map { Double(w.scalars[(oc * inputs + ic) * 9 + $0]) }
                var t = [[Double]](repeating: [0, 0, 0], count: 6)
                for i in 0..<6 {
                    for j in 0..<3 {
                        var sum = 0.0
                        for k in 0..<3 { sum += g[i][k] * filter[k * 3 + j] }
                        t[i][j] = sum
                    }
                }
                for i in 0..<6 {
                    for j in 0..<6 {
                        var sum = 0.0
                        for k in 0..<3 { sum += t[i][k] * g[j][k] }
                        expected[((i * 6 + j) * outputs + oc) * inputs + ic] = Float(sum)
                    }
                }
            }
        }
        for level in Self.runnable {
            let filters = Winograd.transform(weight: w, kernels: level)
            var unpacked = [Float](repeating: .nan, count: expected.count)
            let panel = max(filters.panel, 1), panels = (outputs + panel - 1) / panel
            for xi in 0..<36 {
                for oc in 0..<outputs {
                    for ic in 0..<inputs {
                        unpacked[(xi * outputs + oc) * inputs + ic] = filters.panel == 0
                            ? filters.values[(xi * outputs + oc) * inputs + ic]
                            : filters.values[((xi * panels + oc / panel) * inputs + ic) * panel + oc % panel]
                    }
                }
            }
            #expect(unpacked == expected, "\(level)")
        }
    }

    /// Depthwise convolutions at every width: 3×3 and 5×5, stride 1 and 2, symmetric and TF-style bottom/right
    /// padding, rows narrower and wider than the lanes, fused ReLU6 and a non-fused activation.
    @Test(arguments: [
        (3, 1, 1, 1, 9, 40), (3, 2, 1, 1, 9, 40), (5, 1, 2, 2, 7, 5), (5, 2, 1, 2, 12, 17), (3, 2, 0, 1, 8, 33),
        (3, 1, 0, 0, 3, 16),
    ])
    func depthwiseAtEveryWidthMatchesTheDefinition(
        kernel: Int, stride: Int, padTop: Int, padBottom: Int, height: Int, width: Int
    ) {
        let x = KernelTests.random([2, 5, height, width], seed: 51)
        let w = KernelTests.random([5, 1, kernel, kernel], seed: 52)
        let bias = KernelTests.random([5], seed: 53).scalars
        let g = WindowGeometry(kernel: (kernel, kernel), stride: (stride, stride),
                               padding: (padTop, padBottom, padTop, padBottom))
        for activation in [Activation.relu6, .hardswish] {
            var reference = KernelTests.naiveConvolution(x, w, bias, g, groups: 5)
            activation.apply(to: &reference.scalars)
            for level in Self.runnable {
                let ours = Convolution.forward(x, weight: w, bias: bias, geometry: g, groups: 5, activation: activation,
                                               kernels: level)
                #expect(ours.shape == reference.shape)
                #expect(maxAbsoluteDifference(ours.scalars, reference.scalars) < 1e-5, "\(level) \(activation)")
            }
        }
    }

    /// Grouped convolutions (the direct kernel for a few channels per group) at every width: square and
    /// asymmetric kernels, stride 1 and 2, TF-style bottom/right padding, 15 outputs per group (blocks of 8, 4, 2
    /// and 1), rows narrower and wider than the lanes, fused ReLU and a non-fused SiLU, with and without bias.
    @Test(arguments: [
        (3, 3, 1, 1, 1, 9, 40, 3, 8, 8), (3, 3, 2, 1, 1, 11, 33, 2, 3, 15), (5, 5, 1, 2, 2, 7, 5, 2, 2, 3),
        (1, 3, 2, 0, 1, 8, 17, 4, 1, 2), (3, 1, 1, 1, 1, 6, 20, 2, 5, 1), (3, 3, 2, 0, 1, 8, 18, 2, 4, 24),
    ])
    func groupedAtEveryWidthMatchesTheDefinition(
        kernelHeight: Int, kernelWidth: Int, stride: Int, padTop: Int, padBottom: Int, height: Int, width: Int,
        groups: Int, inputsPerGroup: Int, outputsPerGroup: Int
    ) {
        let x = KernelTests.random([2, groups * inputsPerGroup, height, width], seed: 61)
        let w = KernelTests.random([groups * outputsPerGroup, inputsPerGroup, kernelHeight, kernelWidth], seed: 62)
        let g = WindowGeometry(kernel: (kernelHeight, kernelWidth), stride: (stride, stride),
                               padding: (padTop, padBottom, padTop, padBottom))
        for (activation, bias) in [(Activation.relu, KernelTests.random([groups * outputsPerGroup], seed: 63).scalars),
                                   (.silu, nil)] {
            var reference = KernelTests.naiveConvolution(x, w, bias, g, groups: groups)
            activation.apply(to: &reference.scalars)
            for level in Self.runnable {
                let ours = Convolution.forward(x, weight: w, bias: bias, geometry: g, groups: groups,
                                               activation: activation, kernels: level)
                #expect(ours.shape == reference.shape)
                #expect(maxAbsoluteDifference(ours.scalars, reference.scalars) < 1e-5, "\(level) \(activation)")
            }
        }
    }

    @Test func theProcessRunsTheWidestLevelTheCPUHas() {
        #expect(KernelLevel(for: CPUDescription(model: "x", vendor: "GenuineIntel", flags: ["sse2"])) == .sse)
        #expect(KernelLevel(for: CPUDescription(model: "x", vendor: "AuthenticAMD", flags: ["avx", "avx2", "fma"])) == .avx2)
        let avx512: Set<String> = ["avx", "avx2", "fma", "avx512f", "avx512cd", "avx512bw", "avx512dq", "avx512vl"]
        #expect(KernelLevel(for: CPUDescription(model: "x", vendor: "GenuineIntel", flags: avx512)) == .avx512)
        // AVX-512 F alone (Knights Landing) lacks the subsets the kernels' target enables: AVX2 then.
        #expect(KernelLevel(for: CPUDescription(model: "x", vendor: "GenuineIntel", flags: ["avx", "avx2", "fma", "avx512f"])) == .avx2)
        #expect(KernelLevel(for: nil) == .sse)
        if ProcessInfo.processInfo.environment[KernelLevel.overrideVariable] == nil {
            #expect(KernelLevel.best == KernelLevel(for: .current()))
        }
    }
}

/// The cache-blocked paths: several blocks per layer, blocks across images, fused bias and activations.
@Suite struct BlockedKernelTests {
    func check(_ x: Tensor, _ w: Tensor, _ g: WindowGeometry, groups: Int = 1, activation: Activation? = nil,
                      winograd: Bool = false, tolerance: Float = 1e-4) {
        let bias = KernelTests.random([w.shape[0]], seed: 11).scalars
        let ours = Convolution.forward(x, weight: w, bias: bias, geometry: g, groups: groups, activation: activation,
                                       winograd: winograd ? Winograd.transform(weight: w) : nil)
        var reference = KernelTests.naiveConvolution(x, w, bias, g, groups: groups)
        if let activation { activation.apply(to: &reference.scalars) }
        #expect(ours.shape == reference.shape)
        #expect(maxAbsoluteDifference(ours.scalars, reference.scalars) < tolerance)
    }

    /// Winograd with blocks of `blockTiles` against the definition.
    func checkWinograd(_ x: Tensor, out: Int, pad: Int, activation: Activation?, blockTiles: Int) {
        let c = x.shape[1]
        let w = Tensor(shape: [out, c, 3, 3], scalars: KernelTests.random([out, c, 3, 3], seed: 22).scalars.map { $0 * 0.3 })
        let bias = KernelTests.random([out], seed: 11).scalars
        let g = WindowGeometry(kernel: (3, 3), padding: (pad, pad, pad, pad))
        let (oh, ow) = g.outputSize(height: x.shape[2], width: x.shape[3])
        var ours = [Float](repeating: .nan, count: x.shape[0] * out * oh * ow)
        Winograd.forward(x, filters: Winograd.transform(weight: w), geometry: g, bias: bias, activation: activation,
                         into: &ours, outputSize: (oh, ow), blockTiles: blockTiles)
        var reference = KernelTests.naiveConvolution(x, w, bias, g, groups: 1)
        if let activation { activation.apply(to: &reference.scalars) }
        #expect(maxAbsoluteDifference(ours, reference.scalars) < 1e-4)
    }

    @Test(arguments: [Activation.relu, .relu6, .hardswish])
    func winogradBlocksSpanImagesAndRows(activation: Activation) {
        // 3 images of 6 tile rows × 6 tiles; blocks of 4 rows (24 tiles, a multiple of 8) cross images, the
        // last one partial.
        checkWinograd(KernelTests.random([3, 5, 23, 22], seed: 21), out: 7, pad: 1, activation: activation, blockTiles: 20)
    }

    @Test func winogradOddTileRowsAndNoPadding() {
        // 7 tiles per row (blocks of 8 rows = 56 tiles), 9 output rows (a cropped last tile row), unpadded.
        checkWinograd(KernelTests.random([3, 4, 11, 30], seed: 23), out: 6, pad: 0, activation: nil, blockTiles: 30)
    }

    @Test func winogradDefaultBlocks() {
        check(KernelTests.random([2, 16, 9, 9], seed: 24),
              Tensor(shape: [16, 16, 3, 3], scalars: KernelTests.random([16, 16, 3, 3], seed: 25).scalars.map { $0 * 0.3 }),
              WindowGeometry(kernel: (3, 3), padding: (1, 1, 1, 1)), activation: .relu, winograd: true)
    }

    @Test func im2colInBlocksOfOutputRows() {
        // 101×103 outputs with 27 columns per sample: two row blocks written straight into the output.
        check(KernelTests.random([2, 3, 101, 103], seed: 25), KernelTests.random([5, 3, 3, 3], seed: 26),
              WindowGeometry(kernel: (3, 3), padding: (1, 1, 1, 1)), activation: .relu)
    }

    @Test func stridedUnfoldingUsesWholeVectorsInsideTheRow() {
        // conv1 of a ResNet in small: 7×7 stride 2, where the stride-2 unfolding reads 16 inputs at a time.
        check(KernelTests.random([1, 3, 70, 70], seed: 27), KernelTests.random([6, 3, 7, 7], seed: 28),
              WindowGeometry(kernel: (7, 7), stride: (2, 2), padding: (3, 3, 3, 3)), activation: .relu6)
    }

    @Test func pointwiseInBlocksOfOutputRows() {
        check(KernelTests.random([1, 600, 30, 30], seed: 29),
              Tensor(shape: [3, 600, 1, 1], scalars: KernelTests.random([3, 600, 1, 1], seed: 30).scalars.map { $0 * 0.05 }),
              WindowGeometry(kernel: (1, 1)), tolerance: 2e-4)
    }

    @Test func pointwiseSmallPlanesShareOneProduct() {
        check(KernelTests.random([5, 8, 3, 4], seed: 31), KernelTests.random([6, 8, 1, 1], seed: 32),
              WindowGeometry(kernel: (1, 1)), activation: .leakyReLU(negativeSlope: 0.1))
    }

    @Test(arguments: [1, 2])
    func depthwiseWithBiasAndActivation(stride: Int) {
        check(KernelTests.random([2, 4, 9, 40], seed: 33), KernelTests.random([4, 1, 3, 3], seed: 34),
              WindowGeometry(kernel: (3, 3), stride: (stride, stride), padding: (1, 1, 1, 1)), groups: 4,
              activation: .relu6)
    }

    @Test(arguments: [(3, 2, 1, false), (2, 2, 0, false), (3, 2, 0, true), (3, 1, 1, false)])
    func maxPoolingMatchesTheDefinition(kernel: Int, stride: Int, pad: Int, ceilMode: Bool) {
        let x = KernelTests.random([2, 3, 13, 12], seed: 35)
        let g = WindowGeometry(kernel: (kernel, kernel), stride: (stride, stride), padding: (pad, pad, pad, pad))
        let ours = Pooling.max(x, geometry: g, ceilMode: ceilMode)
        let (oh, ow) = Pooling.outputSize(height: 13, width: 12, geometry: g, ceilMode: ceilMode, dilated: true)
        var reference = [Float]()
        for plane in 0..<6 {
            for y in 0..<oh {
                for xo in 0..<ow {
                    var best = -Float.infinity
                    for ky in 0..<kernel {
                        for kx in 0..<kernel {
                            let iy = y * stride - pad + ky, ix = xo * stride - pad + kx
                            guard iy >= 0, iy < 13, ix >= 0, ix < 12 else { continue }
                            best = max(best, x.scalars[(plane * 13 + iy) * 12 + ix])
                        }
                    }
                    reference.append(best)
                }
            }
        }
        #expect(ours.shape == [2, 3, oh, ow])
        #expect(ours.scalars == reference)
    }
}
