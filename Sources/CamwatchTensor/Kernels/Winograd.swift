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

    /// Transformed filters `G g Gᵀ`, one `[O, C]` matrix per position of the 6×6 tile: `[36, O, C]`.
    public struct Filters: Sendable {
        public let outputChannels: Int
        public let inputChannels: Int
        public let values: [Float]
    }

    /// `G` of F(4×4, 3×3), row-major 6×3.
    static let filterMatrix: [Double] = [
        1.0 / 4, 0, 0, -1.0 / 6, -1.0 / 6, -1.0 / 6, -1.0 / 6, 1.0 / 6, -1.0 / 6,
        1.0 / 24, 1.0 / 12, 1.0 / 6, 1.0 / 24, -1.0 / 12, 1.0 / 6, 0, 0, 1,
    ]

    /// Transforms `[O, C, 3, 3]` filters once, at load time.
    public static func transform(weight: Tensor) -> Filters {
        precondition(weight.rank == 4 && weight.shape[2] == 3 && weight.shape[3] == 3, "Winograd needs 3×3 filters")
        let o = weight.shape[0], c = weight.shape[1]
        let values = [Float](unsafeUninitializedCapacity: 36 * o * c) { buffer, count in
            weight.scalars.withUnsafeBufferPointer { w in
                filterMatrix.withUnsafeBufferPointer { g in
                    // t = G · w (6×3), then u = t · Gᵀ (6×6), in Double so the constants are exact.
                    var t = (0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0)
                    withUnsafeMutableBytes(of: &t) { raw in
                        let t = raw.bindMemory(to: Double.self)
                        for oc in 0..<o {
                            for ic in 0..<c {
                                let base = (oc * c + ic) * 9
                                for i in 0..<6 {
                                    for j in 0..<3 {
                                        var sum = 0.0
                                        for k in 0..<3 { sum += g[i * 3 + k] * Double(w[base + k * 3 + j]) }
                                        t[i * 3 + j] = sum
                                    }
                                }
                                for i in 0..<6 {
                                    for j in 0..<6 {
                                        var sum = 0.0
                                        for k in 0..<3 { sum += t[i * 3 + k] * g[j * 3 + k] }
                                        buffer[((i * 6 + j) * o + oc) * c + ic] = Float(sum)
                                    }
                                }
                            }
                        }
                    }
                }
            }
            count = 36 * o * c
        }
        return Filters(outputChannels: o, inputChannels: c, values: values)
    }

    /// How many floats a block's transformed inputs and products may hold together (2 MiB), and the fewest
    /// tiles a block should have, so that the matrix products stay wide enough to run at full rate.
    static let blockBudget = 1 << 19
    static let minimumBlockTiles = 64

    static func gcd(_ a: Int, _ b: Int) -> Int { b == 0 ? a : gcd(b, a % b) }

    /// Convolves `[N, C, H, W]` with transformed 3×3 filters into `output` (`[N, O, OH, OW]`, overwritten),
    /// adding `bias` and applying `activation` on the way out.
    ///
    /// - Parameter blockTiles: tiles per block; `nil` sizes blocks by the cache budget (tests pass small
    ///   blocks to cover block boundaries).
    public static func forward(
        _ input: Tensor, filters: Filters, geometry g: WindowGeometry, bias: [Float]? = nil,
        activation: Activation? = nil, into output: inout [Float], outputSize: (Int, Int), blockTiles: Int? = nil
    ) {
        let (n, c, h, w) = (input.shape[0], input.shape[1], input.shape[2], input.shape[3])
        let o = filters.outputChannels
        precondition(c == filters.inputChannels, "Winograd filters for \(filters.inputChannels) channels, input has \(c)")
        let (oh, ow) = outputSize
        let tilesY = (oh + 3) / 4, tilesX = (ow + 3) / 4
        let tileRows = n * tilesY
        let wantedTiles = blockTiles ?? max(minimumBlockTiles, blockBudget / (36 * (c + o)))
        // Whole tile rows, a multiple of eight tiles where the batch allows (full SIMD lanes).
        let rowQuantum = 8 / gcd(tilesX, 8)
        let wantedRows = (wantedTiles + tilesX - 1) / tilesX
        let rowsPerBlock = max(1, min(tileRows, (wantedRows + rowQuantum - 1) / rowQuantum * rowQuantum))
        let maxTiles = rowsPerBlock * tilesX
        // The zero-bordered copies of the six input rows under each tile row of a block.
        let bandWidth = tilesX * 4 + 2
        let transformed = UnsafeMutablePointer<Float>.allocate(capacity: 36 * c * maxTiles)
        let products = UnsafeMutablePointer<Float>.allocate(capacity: 36 * o * maxTiles)
        let band = UnsafeMutablePointer<Float>.allocate(capacity: rowsPerBlock * 6 * bandWidth)
        let offsets = UnsafeMutablePointer<Int>.allocate(capacity: maxTiles + 8)
        let extents = UnsafeMutablePointer<Int>.allocate(capacity: maxTiles + 8)
        let origins = UnsafeMutablePointer<Int>.allocate(capacity: maxTiles + 8)
        defer {
            transformed.deallocate()
            products.deallocate()
            band.deallocate()
            offsets.deallocate()
            extents.deallocate()
            origins.deallocate()
        }
        let inPlaneActivation: Activation?
        switch activation {
        case .relu, .relu6, nil: inPlaneActivation = nil
        default: inPlaneActivation = activation
        }
        input.scalars.withUnsafeBufferPointer { src in
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
                        transformInput(src.baseAddress!, channels: c, height: h, width: w, top: g.padTop,
                                       left: g.padLeft, tilesY: tilesY, tilesX: tilesX, firstRow: firstRow, rows: rows,
                                       band: band, bandWidth: bandWidth, origins: origins, into: transformed)
                        for xi in 0..<36 {
                            MatrixMultiply.gemm(m: o, n: tiles, k: c, a: u.baseAddress! + xi * o * c, lda: c,
                                                b: transformed + xi * c * tiles, ldb: tiles,
                                                c: products + xi * o * tiles, ldc: tiles)
                        }
                        transformOutput(products, channels: o, tiles: tiles, offsets: offsets, extents: extents,
                                        planeSize: oh * ow, outputWidth: ow, bias: bias, activation: activation,
                                        into: out.baseAddress!)
                        firstRow += rows
                    }
                    if let inPlaneActivation { inPlaneActivation.apply(to: out) }
                }
            }
        }
    }

    /// `V[ξ][c][t] = (Bᵀ d B)[ξ]` for every 6×6 input tile `d` of tile rows `firstRow ..< firstRow + rows`
    /// (tile rows counted across the batch; zero outside the image). `V` is `[36, C, rows · tilesX]`.
    ///
    /// For each channel, the six input rows under every tile row of the block are first copied into a
    /// zero-bordered band (`rows × 6` lines of `bandWidth`), so the gathers need no bounds checks. Eight
    /// consecutive tiles of the block are then transformed at once in SIMD lanes: the arithmetic is
    /// vectorized and the 36 results land in contiguous runs of `V`.
    static func transformInput(
        _ src: UnsafePointer<Float>, channels c: Int, height h: Int, width w: Int, top: Int, left: Int,
        tilesY: Int, tilesX: Int, firstRow: Int, rows: Int, band: UnsafeMutablePointer<Float>, bandWidth pw: Int,
        origins: UnsafeMutablePointer<Int>, into v: UnsafeMutablePointer<Float>
    ) {
        let tiles = rows * tilesX
        let xiStride = c * tiles
        // Input columns that land inside the band, and where.
        let x0 = max(0, -left), x1 = min(w, pw - left)
        for r in 0..<rows {
            for tx in 0..<tilesX { origins[r * tilesX + tx] = r * 6 * pw + tx * 4 }
        }
        // Spare lanes of the last group read tile 0 again; their results are not stored.
        for t in tiles..<(tiles + 8) { origins[t] = 0 }
        for channel in 0..<c {
            for r in 0..<rows {
                let image = (firstRow + r) / tilesY, ty = (firstRow + r) % tilesY
                let plane = src + (image * c + channel) * h * w
                for i in 0..<6 {
                    let line = band + (r * 6 + i) * pw
                    let y = ty * 4 + i - top
                    if y < 0 || y >= h || x1 <= x0 {
                        line.update(repeating: 0, count: pw)
                        continue
                    }
                    if x0 + left > 0 { line.update(repeating: 0, count: x0 + left) }
                    (line + x0 + left).update(from: plane + y * w + x0, count: x1 - x0)
                    if x1 + left < pw { (line + x1 + left).update(repeating: 0, count: pw - x1 - left) }
                }
            }
            let base = v + channel * tiles
            var t0 = 0
            while t0 < tiles {
                transformEightTiles(band, origins: origins + t0, bandWidth: pw, lanes: min(8, tiles - t0),
                                    into: base + t0, xiStride: xiStride)
                t0 += 8
            }
        }
    }

    /// `Bᵀ d B` for the eight tiles whose top-left corners are `band + origins[lane]` (rows `bandWidth`
    /// apart), stored at `destination + ξ · xiStride + lane` for the first `lanes` lanes.
    @inline(__always)
    static func transformEightTiles(
        _ band: UnsafePointer<Float>, origins: UnsafePointer<Int>, bandWidth pw: Int, lanes: Int,
        into destination: UnsafeMutablePointer<Float>, xiStride: Int
    ) {
        let p0 = band + origins[0], p1 = band + origins[1], p2 = band + origins[2], p3 = band + origins[3]
        let p4 = band + origins[4], p5 = band + origins[5], p6 = band + origins[6], p7 = band + origins[7]
        // Columns first: t[i][j] = (Bᵀ d)[i][j], each row of six inputs gathered once per column.
        typealias Column = (SIMD8<Float>, SIMD8<Float>, SIMD8<Float>, SIMD8<Float>, SIMD8<Float>, SIMD8<Float>)
        @inline(__always) func column(_ j: Int) -> Column {
            @inline(__always) func gather(_ k: Int) -> SIMD8<Float> {
                SIMD8(p0[k], p1[k], p2[k], p3[k], p4[k], p5[k], p6[k], p7[k])
            }
            let d0 = gather(j), d1 = gather(pw + j), d2 = gather(2 * pw + j)
            let d3 = gather(3 * pw + j), d4 = gather(4 * pw + j), d5 = gather(5 * pw + j)
            return (4 * d0 - 5 * d2 + d4, -4 * (d1 + d2) + d3 + d4, 4 * (d1 - d2) - d3 + d4,
                    2 * (d3 - d1) - d2 + d4, 2 * (d1 - d3) - d2 + d4, 4 * d1 - 5 * d3 + d5)
        }
        let c0 = column(0), c1 = column(1), c2 = column(2), c3 = column(3), c4 = column(4), c5 = column(5)
        @inline(__always) func store(_ i: Int, _ r0: SIMD8<Float>, _ r1: SIMD8<Float>, _ r2: SIMD8<Float>,
                                     _ r3: SIMD8<Float>, _ r4: SIMD8<Float>, _ r5: SIMD8<Float>) {
            let results = (4 * r0 - 5 * r2 + r4, -4 * (r1 + r2) + r3 + r4, 4 * (r1 - r2) - r3 + r4,
                           2 * (r3 - r1) - r2 + r4, 2 * (r1 - r3) - r2 + r4, 4 * r1 - 5 * r3 + r5)
            let row = destination + i * 6 * xiStride
            if lanes == 8 {
                UnsafeMutableRawPointer(row).storeBytes(of: results.0, as: SIMD8<Float>.self)
                UnsafeMutableRawPointer(row + xiStride).storeBytes(of: results.1, as: SIMD8<Float>.self)
                UnsafeMutableRawPointer(row + 2 * xiStride).storeBytes(of: results.2, as: SIMD8<Float>.self)
                UnsafeMutableRawPointer(row + 3 * xiStride).storeBytes(of: results.3, as: SIMD8<Float>.self)
                UnsafeMutableRawPointer(row + 4 * xiStride).storeBytes(of: results.4, as: SIMD8<Float>.self)
                UnsafeMutableRawPointer(row + 5 * xiStride).storeBytes(of: results.5, as: SIMD8<Float>.self)
            } else {
                for lane in 0..<lanes {
                    row[lane] = results.0[lane]
                    row[xiStride + lane] = results.1[lane]
                    row[2 * xiStride + lane] = results.2[lane]
                    row[3 * xiStride + lane] = results.3[lane]
                    row[4 * xiStride + lane] = results.4[lane]
                    row[5 * xiStride + lane] = results.5[lane]
                }
            }
        }
        store(0, c0.0, c1.0, c2.0, c3.0, c4.0, c5.0)
        store(1, c0.1, c1.1, c2.1, c3.1, c4.1, c5.1)
        store(2, c0.2, c1.2, c2.2, c3.2, c4.2, c5.2)
        store(3, c0.3, c1.3, c2.3, c3.3, c4.3, c5.3)
        store(4, c0.4, c1.4, c2.4, c3.4, c4.4, c5.4)
        store(5, c0.5, c1.5, c2.5, c3.5, c4.5, c5.5)
    }

    /// `Y = Aᵀ m A` for every tile of a block and every output channel, plus the bias, through ReLU/ReLU6,
    /// cropped to the output; eight tiles per step. `m` is `[36, O, tiles]`; tile `t`'s 4×4 output starts
    /// at `out + offsets[t] + channel · planeSize`, `extents[t] = rows · 8 + columns` inside the output.
    static func transformOutput(
        _ m: UnsafePointer<Float>, channels o: Int, tiles: Int, offsets: UnsafePointer<Int>,
        extents: UnsafePointer<Int>,
        planeSize: Int, outputWidth ow: Int, bias: [Float]?, activation: Activation?,
        into out: UnsafeMutablePointer<Float>
    ) {
        let xiStride = o * tiles
        let (clampLow, clampHigh): (Float, Float)
        switch activation {
        case .relu: (clampLow, clampHigh) = (0, .infinity)
        case .relu6: (clampLow, clampHigh) = (0, 6)
        default: (clampLow, clampHigh) = (-.infinity, .infinity)
        }
        var yStorage = (SIMD8<Float>.zero, SIMD8<Float>.zero, SIMD8<Float>.zero, SIMD8<Float>.zero,
                        SIMD8<Float>.zero, SIMD8<Float>.zero, SIMD8<Float>.zero, SIMD8<Float>.zero,
                        SIMD8<Float>.zero, SIMD8<Float>.zero, SIMD8<Float>.zero, SIMD8<Float>.zero,
                        SIMD8<Float>.zero, SIMD8<Float>.zero, SIMD8<Float>.zero, SIMD8<Float>.zero)
        withUnsafeMutableBytes(of: &yStorage) { raw in
            let y = raw.baseAddress!.assumingMemoryBound(to: SIMD8<Float>.self)
            let yScalars = raw.baseAddress!.assumingMemoryBound(to: Float.self)
            for channel in 0..<o {
                let shift = SIMD8<Float>(repeating: bias?[channel] ?? 0)
                let channelOut = out + channel * planeSize
                var t0 = 0
                while t0 < tiles {
                    let lanes = min(8, tiles - t0)
                    let base = m + channel * tiles + t0
                    @inline(__always) func load(_ xi: Int) -> SIMD8<Float> {
                        let p = base + xi * xiStride
                        if lanes == 8 { return UnsafeRawPointer(p).loadUnaligned(as: SIMD8<Float>.self) }
                        var value = SIMD8<Float>.zero
                        for lane in 0..<lanes { value[lane] = p[lane] }
                        return value
                    }
                    // Rows first: t[k][j] = (Aᵀ m)[k][j].
                    typealias Column = (SIMD8<Float>, SIMD8<Float>, SIMD8<Float>, SIMD8<Float>)
                    @inline(__always) func column(_ j: Int) -> Column {
                        let m0 = load(j), m1 = load(6 + j), m2 = load(12 + j)
                        let m3 = load(18 + j), m4 = load(24 + j), m5 = load(30 + j)
                        let s12 = m1 + m2, d12 = m1 - m2, s34 = m3 + m4, d34 = m3 - m4
                        return (m0 + s12 + s34, d12 + 2 * d34, s12 + 4 * s34, d12 + 8 * d34 + m5)
                    }
                    let c0 = column(0), c1 = column(1), c2 = column(2), c3 = column(3), c4 = column(4), c5 = column(5)
                    @inline(__always) func row(_ i: Int, _ r0: SIMD8<Float>, _ r1: SIMD8<Float>, _ r2: SIMD8<Float>,
                                               _ r3: SIMD8<Float>, _ r4: SIMD8<Float>, _ r5: SIMD8<Float>) {
                        let s12 = r1 + r2, d12 = r1 - r2, s34 = r3 + r4, d34 = r3 - r4
                        y[i * 4] = r0 + s12 + s34 + shift
                        y[i * 4 + 1] = d12 + 2 * d34 + shift
                        y[i * 4 + 2] = s12 + 4 * s34 + shift
                        y[i * 4 + 3] = d12 + 8 * d34 + r5 + shift
                    }
                    row(0, c0.0, c1.0, c2.0, c3.0, c4.0, c5.0)
                    row(1, c0.1, c1.1, c2.1, c3.1, c4.1, c5.1)
                    row(2, c0.2, c1.2, c2.2, c3.2, c4.2, c5.2)
                    row(3, c0.3, c1.3, c2.3, c3.3, c4.3, c5.3)
                    // The activation as scalar selects on the way out (SIMD min/max are not inlined).
                    @inline(__always) func value(_ q: Int, _ lane: Int) -> Float {
                        Swift.min(Swift.max(yScalars[q * 8 + lane], clampLow), clampHigh)
                    }
                    for lane in 0..<lanes {
                        let tile = t0 + lane
                        let target = channelOut + offsets[tile]
                        let extent = extents[tile]
                        if extent == 4 * 8 + 4 {
                            for i in 0..<4 {
                                let line = target + i * ow
                                line[0] = value(i * 4, lane)
                                line[1] = value(i * 4 + 1, lane)
                                line[2] = value(i * 4 + 2, lane)
                                line[3] = value(i * 4 + 3, lane)
                            }
                        } else {
                            let rows = extent >> 3, cols = extent & 7
                            for i in 0..<rows {
                                for k in 0..<cols { target[i * ow + k] = value(i * 4 + k, lane) }
                            }
                        }
                    }
                    t0 += 8
                }
            }
        }
    }
}
