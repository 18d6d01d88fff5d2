import CamwatchImage
import CamwatchTestSupport
import Foundation
import Testing

/// PNGs of every colour type and bit depth (Scripts/fixtures/make_image_fixtures.py) against the pixels
/// PIL's `convert("RGB")` gives (8 bits and fewer) or `v · 255 / 65535` (16 bits).
@Suite struct PNGDecoderTests {
    struct Expected: Decodable {
        var width: Int
        var height: Int
        var bit_depth: Int
        var rgb: [Float]
    }

    static let expected: [String: Expected] = {
        let url = URL(fileURLWithPath: Fixtures.path("images/expected.json"))
        guard let data = try? Data(contentsOf: url),
            let decoded = try? JSONDecoder().decode([String: Expected].self, from: data)
        else { return [:] }
        return decoded
    }()

    static let names = [
        "gray1", "gray2", "gray4", "gray8", "gray16", "gray8_trns", "gray4_interlaced", "graya8", "graya16", "rgb8",
        "rgb16", "rgb8_trns", "rgb8_interlaced", "rgba8", "rgba16", "pal1", "pal2", "pal4", "pal8", "pal4_trns",
        "pal8_trns", "pal2_interlaced", "pil_rgb", "pil_palette", "pil_la",
    ]

    @Test func everyFixtureHasAnExpectation() {
        #expect(Set(Self.expected.keys) == Set(Self.names))
    }

    @Test(arguments: names)
    func decodesLikePIL(name: String) throws {
        let expected = try #require(Self.expected[name])
        let image = try PNGDecoder.decode(path: Fixtures.path("images/\(name).png"))
        #expect(image.width == expected.width)
        #expect(image.height == expected.height)
        #expect(image.pixels.count == expected.width * expected.height * 3)
        if expected.bit_depth <= 8 {
            #expect(image.pixels == expected.rgb)  // exact: 8-bit samples are integers
        } else {
            #expect(isClose(image.pixels, expected.rgb, atol: 1e-4))
        }
        // The fixtures are not flat: a decoder that ignored the data would not pass.
        #expect(Set(image.pixels).count >= 2)
    }

    /// `pixels` (`[height, width, 3]`) reduced by `factor`: each output pixel the mean of its block, edge blocks
    /// over the pixels they have.
    static func blockMeans(_ pixels: [Float], width: Int, height: Int, factor: Int) -> [Float] {
        let outWidth = (width + factor - 1) / factor, outHeight = (height + factor - 1) / factor
        var out: [Float] = []
        for by in 0..<outHeight {
            for bx in 0..<outWidth {
                for c in 0..<3 {
                    var sum = 0.0, count = 0.0
                    for y in (by * factor)..<min(height, (by + 1) * factor) {
                        for x in (bx * factor)..<min(width, (bx + 1) * factor) {
                            sum += Double(pixels[(y * width + x) * 3 + c])
                            count += 1
                        }
                    }
                    out.append(Float(sum / count))
                }
            }
        }
        return out
    }

    @Test("a large image is reduced while it is decoded: block means, every colour type, depth and interlacing",
          arguments: names)
    func reducedWhileDecoding(name: String) throws {
        let expected = try #require(Self.expected[name])
        let path = Fixtures.path("images/\(name).png")
        // Within the bound: the same pixels as a full decode.
        let longSide = max(expected.width, expected.height)
        #expect(try PNGDecoder.decode(path: path, maximumSide: longSide) == PNGDecoder.decode(path: path))
        // Over it: the smallest whole factor that fits, never a larger image.
        let side = max(1, longSide / 3)
        let factor = (longSide + side - 1) / side
        let reduced = try PNGDecoder.decode(path: path, maximumSide: side)
        #expect(max(reduced.width, reduced.height) <= side)
        #expect(reduced.width == (expected.width + factor - 1) / factor)
        #expect(reduced.height == (expected.height + factor - 1) / factor)
        let reference = Self.blockMeans(expected.rgb, width: expected.width, height: expected.height, factor: factor)
        #expect(reduced.pixels.count == reference.count)
        let worst = zip(reduced.pixels, reference).map { abs($0 - $1) }.max() ?? .infinity
        #expect(worst <= 1e-3, "\(name): \(worst)")
    }

    @Test("a 2000×1500 photograph bounded to 256 px: 250×188 block means of 8×8 pixels")
    func photographReduced() throws {
        let (width, height) = (2000, 1500)
        var bytes = [UInt8](repeating: 0, count: width * height * 3)
        for y in 0..<height {
            for x in 0..<width {
                let p = (y * width + x) * 3
                (bytes[p], bytes[p + 1], bytes[p + 2]) = (UInt8(x % 256), UInt8(y % 256), UInt8((x * 7 + y * 13) % 256))
            }
        }
        let directory = try Fixtures.temporaryDirectory("camwatch-reduce")
        defer { try? FileManager.default.removeItem(at: directory) }
        let path = directory.appendingPathComponent("photo.png").path
        try PNGEncoder.writeRGB8(path: path, width: width, height: height, pixels: bytes)
        #expect(try PNGDecoder.header(path: path) == PNGDecoder.Header(width: width, height: height))
        let reduced = try PNGDecoder.decode(path: path, maximumSide: 256)
        #expect(reduced.width == 250 && reduced.height == 188)
        let reference = Self.blockMeans(bytes.map(Float.init), width: width, height: height, factor: 8)
        let worst = zip(reduced.pixels, reference).map { abs($0 - $1) }.max() ?? .infinity
        #expect(worst <= 1e-3, "\(worst)")
    }

    @Test func sixteenBitKeepsPrecision() throws {
        let image = try PNGDecoder.decode(path: Fixtures.path("images/rgb16.png"))
        // 16-bit samples are not multiples of 257, so some values fall between 8-bit steps.
        #expect(image.pixels.contains { $0 != $0.rounded() })
        #expect(image.pixels.allSatisfy { $0 >= 0 && $0 <= 255 })
    }
}
