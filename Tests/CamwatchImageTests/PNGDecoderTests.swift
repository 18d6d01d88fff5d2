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

    @Test func sixteenBitKeepsPrecision() throws {
        let image = try PNGDecoder.decode(path: Fixtures.path("images/rgb16.png"))
        // 16-bit samples are not multiples of 257, so some values fall between 8-bit steps.
        #expect(image.pixels.contains { $0 != $0.rounded() })
        #expect(image.pixels.allSatisfy { $0 >= 0 && $0 <= 255 })
    }
}
