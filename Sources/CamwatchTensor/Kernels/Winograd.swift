/// Winograd F(4×4, 3×3) convolution (Lavin & Gray, 2016) for 3×3, stride-1, undilated, ungrouped layers.
///
/// Each 4×4 output tile comes from a 6×6 input tile: `Y = Aᵀ [(G g Gᵀ) ⊙ (Bᵀ d B)] A`. Summed over input
/// channels, the elementwise products become 36 matrix products `[O, C] × [C, tiles]`, with 36 instead of
/// 144 multiplications per output tile and channel pair: 4× fewer than direct or im2col convolution.
/// Transforms use exact small constants; float32 error stays around 1e-6 relative on these layers.
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

    /// Transforms `[O, C, 3, 3]` filters once, at load time.
    public static func transform(weight: Tensor) -> Filters {
        precondition(weight.rank == 4 && weight.shape[2] == 3 && weight.shape[3] == 3, "Winograd needs 3×3 filters")
        let o = weight.shape[0], c = weight.shape[1]
        let g: [[Float]] = [
            [1.0 / 4, 0, 0], [-1.0 / 6, -1.0 / 6, -1.0 / 6], [-1.0 / 6, 1.0 / 6, -1.0 / 6],
            [1.0 / 24, 1.0 / 12, 1.0 / 6], [1.0 / 24, -1.0 / 12, 1.0 / 6], [0, 0, 1],
        ]
        var values = [Float](repeating: 0, count: 36 * o * c)
        for oc in 0..<o {
            for ic in 0..<c {
                let base = (oc * c + ic) * 9
                // t = G · w  (6×3), then u = t · Gᵀ (6×6), in Double for exact constants.
                var t = [Double](repeating: 0, count: 18)
                for i in 0..<6 {
                    for j in 0..<3 {
                        var sum = 0.0
                        for k in 0..<3 { sum += Double(g[i][k]) * Double(weight.scalars[base + k * 3 + j]) }
                        t[i * 3 + j] = sum
                    }
                }
                for i in 0..<6 {
                    for j in 0..<6 {
                        var sum = 0.0
                        for k in 0..<3 { sum += t[i * 3 + k] * Double(g[j][k]) }
                        values[((i * 6 + j) * o + oc) * c + ic] = Float(sum)
                    }
                }
            }
        }
        return Filters(outputChannels: o, inputChannels: c, values: values)
    }

    /// How many floats the tile buffers of one chunk of images may hold (2 × 16 MiB).
    static let tileBudget = 4 << 20

    /// Convolves `[N, C, H, W]` with transformed 3×3 filters into `output` (`[N, O, OH, OW]`, overwritten).
    public static func forward(
        _ input: Tensor, filters: Filters, geometry g: WindowGeometry, into output: inout [Float],
        outputSize: (Int, Int)
    ) {
        let (n, c, h, w) = (input.shape[0], input.shape[1], input.shape[2], input.shape[3])
        let o = filters.outputChannels
        precondition(c == filters.inputChannels, "Winograd filters for \(filters.inputChannels) channels, input has \(c)")
        let (oh, ow) = outputSize
        let tilesY = (oh + 3) / 4, tilesX = (ow + 3) / 4
        let tilesPerImage = tilesY * tilesX
        let imagesPerChunk = max(1, min(n, tileBudget / max(1, 36 * max(c, o) * tilesPerImage)))
        let maxTiles = imagesPerChunk * tilesPerImage
        var transformed = [Float](repeating: 0, count: 36 * c * maxTiles)
        var products = [Float](repeating: 0, count: 36 * o * maxTiles)
        input.scalars.withUnsafeBufferPointer { src in
            filters.values.withUnsafeBufferPointer { u in
                transformed.withUnsafeMutableBufferPointer { v in
                    products.withUnsafeMutableBufferPointer { m in
                        output.withUnsafeMutableBufferPointer { out in
                            var first = 0
                            while first < n {
                                let count = min(imagesPerChunk, n - first)
                                let tiles = count * tilesPerImage
                                transformInput(src.baseAddress! + first * c * h * w, images: count, channels: c,
                                               height: h, width: w, top: g.padTop, left: g.padLeft,
                                               tilesY: tilesY, tilesX: tilesX, into: v.baseAddress!, tileStride: tiles)
                                for xi in 0..<36 {
                                    MatrixMultiply.gemm(m: o, n: tiles, k: c, a: u.baseAddress! + xi * o * c, lda: c,
                                                        b: v.baseAddress! + xi * c * tiles, ldb: tiles,
                                                        c: m.baseAddress! + xi * o * tiles, ldc: tiles)
                                }
                                transformOutput(m.baseAddress!, images: count, channels: o, tilesY: tilesY,
                                                tilesX: tilesX, tileStride: tiles, outputHeight: oh, outputWidth: ow,
                                                into: out.baseAddress! + first * o * oh * ow)
                                first += count
                            }
                        }
                    }
                }
            }
        }
    }

    /// `V[ξ][c][t] = (Bᵀ d B)[ξ]` for every 6×6 input tile `d` (zero outside the image).
    ///
    /// Eight horizontally adjacent tiles are transformed at once in SIMD lanes: the arithmetic is
    /// vectorized and the 36 results per lane land in contiguous runs of `V`.
    static func transformInput(
        _ src: UnsafePointer<Float>, images: Int, channels c: Int, height h: Int, width w: Int, top: Int, left: Int,
        tilesY: Int, tilesX: Int, into v: UnsafeMutablePointer<Float>, tileStride: Int
    ) {
        // Each plane is first copied into a zero-bordered buffer that covers every tile, so the gathers
        // below need no bounds checks.
        let ph = tilesY * 4 + 2, pw = tilesX * 4 + 2 + 28
        let padded = UnsafeMutablePointer<Float>.allocate(capacity: ph * pw)
        defer { padded.deallocate() }
        let xiStride = c * tileStride
        let d = UnsafeMutablePointer<SIMD8<Float>>.allocate(capacity: 36)
        let t = UnsafeMutablePointer<SIMD8<Float>>.allocate(capacity: 36)
        let results = UnsafeMutablePointer<SIMD8<Float>>.allocate(capacity: 6)
        defer {
            d.deallocate()
            t.deallocate()
            results.deallocate()
        }
        for image in 0..<images {
            for channel in 0..<c {
                padded.update(repeating: 0, count: ph * pw)
                let plane = src + (image * c + channel) * h * w
                for y in 0..<h {
                    let py = y + top
                    guard py >= 0 && py < ph else { continue }
                    let x0 = max(0, -left), x1 = min(w, pw - left)
                    if x1 > x0 { (padded + py * pw + x0 + left).update(from: plane + y * w + x0, count: x1 - x0) }
                }
                for ty in 0..<tilesY {
                    var tx0 = 0
                    while tx0 < tilesX {
                        let lanes = min(8, tilesX - tx0)
                        for i in 0..<6 {
                            let row = padded + (ty * 4 + i) * pw + tx0 * 4
                            for j in 0..<6 {
                                let p = row + j
                                d[i * 6 + j] = SIMD8(p[0], p[4], p[8], p[12], p[16], p[20], p[24], p[28])
                            }
                        }
                        for j in 0..<6 {
                            let d0 = d[j], d1 = d[6 + j], d2 = d[12 + j], d3 = d[18 + j], d4 = d[24 + j], d5 = d[30 + j]
                            t[j] = 4 * d0 - 5 * d2 + d4
                            t[6 + j] = -4 * d1 - 4 * d2 + d3 + d4
                            t[12 + j] = 4 * d1 - 4 * d2 - d3 + d4
                            t[18 + j] = -2 * d1 - d2 + 2 * d3 + d4
                            t[24 + j] = 2 * d1 - d2 - 2 * d3 + d4
                            t[30 + j] = 4 * d1 - 5 * d3 + d5
                        }
                        let tile = (image * tilesY + ty) * tilesX + tx0
                        let base = v + channel * tileStride + tile
                        for i in 0..<6 {
                            let r0 = t[i * 6], r1 = t[i * 6 + 1], r2 = t[i * 6 + 2]
                            let r3 = t[i * 6 + 3], r4 = t[i * 6 + 4], r5 = t[i * 6 + 5]
                            results[0] = 4 * r0 - 5 * r2 + r4
                            results[1] = -4 * r1 - 4 * r2 + r3 + r4
                            results[2] = 4 * r1 - 4 * r2 - r3 + r4
                            results[3] = -2 * r1 - r2 + 2 * r3 + r4
                            results[4] = 2 * r1 - r2 - 2 * r3 + r4
                            results[5] = 4 * r1 - 5 * r3 + r5
                            for k in 0..<6 {
                                let destination = base + (i * 6 + k) * xiStride
                                if lanes == 8 {
                                    UnsafeMutableRawPointer(destination).storeBytes(of: results[k], as: SIMD8<Float>.self)
                                } else {
                                    for lane in 0..<lanes { destination[lane] = results[k][lane] }
                                }
                            }
                        }
                        tx0 += 8
                    }
                }
            }
        }
    }

    /// `Y = Aᵀ m A` for every tile and output channel, cropped to the output size; eight tiles per step.
    static func transformOutput(
        _ m: UnsafePointer<Float>, images: Int, channels o: Int, tilesY: Int, tilesX: Int, tileStride: Int,
        outputHeight oh: Int, outputWidth ow: Int, into out: UnsafeMutablePointer<Float>
    ) {
        let xiStride = o * tileStride
        let tilesPerImage = tilesY * tilesX
        let tiles = images * tilesPerImage
        let input = UnsafeMutablePointer<SIMD8<Float>>.allocate(capacity: 36)
        let t = UnsafeMutablePointer<SIMD8<Float>>.allocate(capacity: 24)
        let y = UnsafeMutablePointer<SIMD8<Float>>.allocate(capacity: 16)
        defer {
            input.deallocate()
            t.deallocate()
            y.deallocate()
        }
        for channel in 0..<o {
            var t0 = 0
            while t0 < tiles {
                let lanes = min(8, tiles - t0)
                let base = m + channel * tileStride + t0
                for xi in 0..<36 {
                    let p = base + xi * xiStride
                    if lanes == 8 {
                        input[xi] = UnsafeRawPointer(p).loadUnaligned(as: SIMD8<Float>.self)
                    } else {
                        var value = SIMD8<Float>.zero
                        for lane in 0..<lanes { value[lane] = p[lane] }
                        input[xi] = value
                    }
                }
                for j in 0..<6 {
                    let m0 = input[j], m1 = input[6 + j], m2 = input[12 + j]
                    let m3 = input[18 + j], m4 = input[24 + j], m5 = input[30 + j]
                    t[j] = m0 + m1 + m2 + m3 + m4
                    t[6 + j] = m1 - m2 + 2 * m3 - 2 * m4
                    t[12 + j] = m1 + m2 + 4 * m3 + 4 * m4
                    t[18 + j] = m1 - m2 + 8 * m3 - 8 * m4 + m5
                }
                for i in 0..<4 {
                    let r0 = t[i * 6], r1 = t[i * 6 + 1], r2 = t[i * 6 + 2]
                    let r3 = t[i * 6 + 3], r4 = t[i * 6 + 4], r5 = t[i * 6 + 5]
                    y[i * 4] = r0 + r1 + r2 + r3 + r4
                    y[i * 4 + 1] = r1 - r2 + 2 * r3 - 2 * r4
                    y[i * 4 + 2] = r1 + r2 + 4 * r3 + 4 * r4
                    y[i * 4 + 3] = r1 - r2 + 8 * r3 - 8 * r4 + r5
                }
                for lane in 0..<lanes {
                    let tile = t0 + lane
                    let image = tile / tilesPerImage, within = tile % tilesPerImage
                    let ty = within / tilesX, tx = within % tilesX
                    let plane = out + (image * o + channel) * oh * ow
                    let rows = min(4, oh - ty * 4), cols = min(4, ow - tx * 4)
                    for i in 0..<rows {
                        let row = plane + (ty * 4 + i) * ow + tx * 4
                        for k in 0..<cols { row[k] = y[i * 4 + k][lane] }
                    }
                }
                t0 += 8
            }
        }
    }
}
