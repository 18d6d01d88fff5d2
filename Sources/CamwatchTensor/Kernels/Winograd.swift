internal import CVectorKernels
import Foundation

/// Winograd F(4×4, 3×3) convolution (Lavin & Gray, 2016) for 3×3, stride-1, undilated, ungrouped layers.
///
/// Each 4×4 output tile comes from a 6×6 input tile: `Y = Aᵀ [(G g Gᵀ) ⊙ (Bᵀ d B)] A`. Summed over input
/// channels, the elementwise products become 36 matrix products `[O, C] × [C, tiles]`, with 36 instead of
/// 144 multiplications per output tile and channel pair: 4× fewer than direct or im2col convolution.
/// Transforms use exact small constants; float32 error stays around 1e-6 relative on these layers.
///
/// The tiles of a batch are processed in blocks of whole tile rows, sized so that a block's transformed
/// inputs and products (`36 · (C + O) · tiles` floats) stay in the caches between the input transform, the
/// 36 matrix products and the output transform; the output transform adds the bias and applies the
/// activation before it stores, so each output element is written once.
public enum Winograd {
    /// Whether a layer with this geometry can use the Winograd path.
    public static func supports(_ g: WindowGeometry, groups: Int) -> Bool {
        g.kernelHeight == 3 && g.kernelWidth == 3 && g.strideHeight == 1 && g.strideWidth == 1
            && g.dilationHeight == 1 && g.dilationWidth == 1 && groups == 1
    }

    /// Transformed filters `G g Gᵀ`, one `[O, C]` matrix per position of the 6×6 tile, laid out for the kernels
    /// that will multiply them: `[36, O, C]` for sgemm (``panel`` 0), or in panels of ``panel`` output
    /// channels, `[36, ⌈O / panel⌉, C, panel]` (zero past O), for the packed-filter products of the FMA levels.
    public struct Filters: Sendable {
        public let outputChannels: Int
        public let inputChannels: Int
        /// The kernels these filters were laid out for; ``Winograd/forward`` runs those.
        public let kernels: KernelLevel
        /// Output channels per packed panel; 0 for sgemm's layout.
        public let panel: Int
        public let values: [Float]

        /// Panels of output channels (1 block of all of them for sgemm's layout).
        var panelCount: Int { panel == 0 ? 1 : (outputChannels + panel - 1) / panel }
    }

    /// Transforms `[O, C, 3, 3]` filters once, at load time, in the C kernels of `kernels`' width, on every core
    /// (the output channels are split between them: a serial scalar transform was 6 % of a whole resnet18
    /// Score-CAM's wall time).
    public static func transform(weight: Tensor, kernels: KernelLevel = .best) -> Filters {
        precondition(weight.rank == 4 && weight.shape[2] == 3 && weight.shape[3] == 3, "Winograd needs 3×3 filters")
        let o = weight.shape[0], c = weight.shape[1]
        let panel = cw_winograd_panel(kernels.c)
        let workers = min(o, ProcessInfo.processInfo.activeProcessorCount, 8)
        // Each worker writes its own output channels' elements only (whole panels; the kernel writes the last
        // panel's padding), so every element is written exactly once.
        let unit = max(1, panel), units = (o + unit - 1) / unit
        let count = 36 * c * units * unit
        let values = [Float](unsafeUninitializedCapacity: count) { buffer, initialized in
            nonisolated(unsafe) let destination = buffer.baseAddress!
            weight.scalars.withUnsafeBufferPointer { w in
                nonisolated(unsafe) let source = w.baseAddress!
                ComputeThreads.perform(workers: workers) { worker in
                    let first = min(o, units * worker / workers * unit), end = min(o, units * (worker + 1) / workers * unit)
                    if first < end { cw_winograd_filters(kernels.c, source, o, c, first, end, panel, destination) }
                }
            }
            initialized = count
        }
        return Filters(outputChannels: o, inputChannels: c, kernels: kernels, panel: panel, values: values)
    }

    /// How many floats a block's transformed inputs and products may hold together (2 MiB), and the fewest
    /// tiles a block should have, so that the matrix products stay wide enough to run at full rate.
    static let blockBudget = 1 << 19
    static let minimumBlockTiles = 64

    /// Convolves `[N, C, H, W]` with transformed 3×3 filters into `output` (`[N, O, OH, OW]`, overwritten),
    /// adding `bias` and applying `activation` on the way out.
    ///
    /// The transforms run in the C kernels the filters were laid out for, with their lanes over channels: the
    /// transformed inputs are `[36, tiles, C']` and the products `[36, tiles, O']` (C', O' rounded up to the
    /// lanes or the filter panels), so each of the 36 products is `[tiles, C] × [C, O]` against the transposed
    /// filters: packed-filter FMA kernels on AVX2 and AVX-512, sgemm on SSE.
    ///
    /// - Parameter blockTiles: tiles per block; `nil` sizes blocks by the cache budget (tests pass small blocks
    ///   to cover block boundaries).
    public static func forward(
        _ input: Tensor, filters: Filters, geometry g: WindowGeometry, bias: [Float]? = nil,
        activation: Activation? = nil, into output: inout [Float], outputSize: (Int, Int), blockTiles: Int? = nil
    ) {
        let (n, c, h, w) = (input.shape[0], input.shape[1], input.shape[2], input.shape[3])
        let o = filters.outputChannels
        precondition(c == filters.inputChannels, "Winograd filters for \(filters.inputChannels) channels, input has \(c)")
        let kernels = filters.kernels
        let (oh, ow) = outputSize
        let tilesY = (oh + 3) / 4, tilesX = (ow + 3) / 4
        let tileRows = n * tilesY
        let lanes = kernels.lanes
        let packed = filters.panel != 0
        let paddedC = (c + lanes - 1) / lanes * lanes
        let paddedO = packed ? filters.panelCount * filters.panel : (o + lanes - 1) / lanes * lanes
        let wantedTiles = blockTiles ?? max(minimumBlockTiles, blockBudget / (36 * (paddedC + paddedO)))
        let rowsPerBlock = max(1, min(tileRows, (wantedTiles + tilesX - 1) / tilesX))
        let maxTiles = rowsPerBlock * tilesX
        // The zero-bordered copies of the six input rows under each tile row of a block, channels interleaved.
        let bandWidth = tilesX * 4 + 2
        let transformed = UnsafeMutablePointer<Float>.allocate(capacity: 36 * paddedC * maxTiles)
        let products = UnsafeMutablePointer<Float>.allocate(capacity: 36 * paddedO * maxTiles)
        let band = UnsafeMutablePointer<Float>.allocate(capacity: rowsPerBlock * 6 * bandWidth * lanes)
        let offsets = UnsafeMutablePointer<Int>.allocate(capacity: maxTiles)
        let extents = UnsafeMutablePointer<Int>.allocate(capacity: maxTiles)
        defer {
            transformed.deallocate()
            products.deallocate()
            band.deallocate()
            offsets.deallocate()
            extents.deallocate()
        }
        // sgemm leaves the product lanes past O alone, and the output transform reads them (then drops them).
        if !packed && paddedO > o { products.initialize(repeating: 0, count: 36 * paddedO * maxTiles) }
        // ReLU and ReLU6 are clamps the output transform applies on the way out; others run on the planes after.
        let (clampLow, clampHigh, inPlaneActivation) = Activation.storeClamp(activation)
        let biasStorage = bias ?? []
        input.scalars.withUnsafeBufferPointer { src in
            biasStorage.withUnsafeBufferPointer { biasBuffer in
                let biasPointer = bias == nil ? nil : biasBuffer.baseAddress
                filters.values.withUnsafeBufferPointer { u in
                    output.withUnsafeMutableBufferPointer { out in
                        var firstRow = 0
                        while firstRow < tileRows {
                            let rows = min(rowsPerBlock, tileRows - firstRow)
                            let tiles = rows * tilesX
                            // Where each tile's 4×4 output starts (channel 0) and how much of it lies inside.
                            for r in 0..<rows {
                                let image = (firstRow + r) / tilesY, ty = (firstRow + r) % tilesY
                                for tx in 0..<tilesX {
                                    offsets[r * tilesX + tx] = image * o * oh * ow + ty * 4 * ow + tx * 4
                                    extents[r * tilesX + tx] = min(4, oh - ty * 4) * 8 + min(4, ow - tx * 4)
                                }
                            }
                            cw_winograd_input(kernels.c, src.baseAddress!, c, h, w, g.padTop, g.padLeft, tilesY,
                                              tilesX, firstRow, rows, band, bandWidth, transformed, paddedC)
                            for xi in 0..<36 {
                                let v = transformed + xi * tiles * paddedC, m = products + xi * tiles * paddedO
                                if packed {
                                    cw_winograd_multiply(kernels.c, v, tiles, paddedC,
                                                         u.baseAddress! + xi * filters.panelCount * filters.panel * c,
                                                         filters.panelCount, c, m, paddedO)
                                } else {
                                    MatrixMultiply.gemm(m: tiles, n: o, k: c, a: v, lda: paddedC,
                                                        b: u.baseAddress! + xi * o * c, ldb: c, transposeB: true,
                                                        c: m, ldc: paddedO)
                                }
                            }
                            cw_winograd_output(kernels.c, products, o, tiles, paddedO, offsets, extents,
                                               oh * ow, ow, biasPointer, clampLow, clampHigh, out.baseAddress!)
                            firstRow += rows
                        }
                        if let inPlaneActivation { inPlaneActivation.apply(to: out) }
                    }
                }
            }
        }
    }
}
