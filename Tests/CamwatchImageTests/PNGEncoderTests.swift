import CamwatchImage
import CamwatchTestSupport
import Foundation
import Testing

@Suite struct PNGEncoderTests {
    @Test func rgbaRoundTripsThroughLibpngAndDropsAlpha() throws {
        let directory = try Fixtures.temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: directory) }
        let path = directory.appendingPathComponent("out.png").path
        let width = 5, height = 3
        var rgba: [UInt8] = []
        for i in 0..<(width * height) {
            let red = UInt8(i * 17)
            let green = UInt8(255 - i * 3)
            let blue = UInt8((i % 4) * 60)
            let alpha = UInt8(i * 10)
            rgba += [red, green, blue, alpha]
        }
        try PNGEncoder.writeRGBA8(path: path, width: width, height: height, pixels: rgba)
        let bytes = [UInt8](try Data(contentsOf: URL(fileURLWithPath: path)))
        #expect(Array(bytes.prefix(8)) == [0x89, 0x50, 0x4E, 0x47, 0x0D, 0x0A, 0x1A, 0x0A])
        #expect(bytes[25] == 6)  // IHDR colour type: RGBA
        let decoded = try PNGDecoder.decode(path: path)
        #expect(decoded.width == width && decoded.height == height)
        let expected = (0..<(width * height)).flatMap { i in (0..<3).map { Float(rgba[i * 4 + $0]) } }
        #expect(decoded.pixels == expected)
        // Only the final file remains: the temporary was renamed into place.
        #expect(try FileManager.default.contentsOfDirectory(atPath: directory.path) == ["out.png"])
    }

    @Test func rgbReplacesAnExistingFile() throws {
        let directory = try Fixtures.temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: directory) }
        let path = directory.appendingPathComponent("out.png").path
        try Data("old".utf8).write(to: URL(fileURLWithPath: path))
        let image = try PNGDecoder.decode(path: Fixtures.path("images/rgb8.png"))
        try PNGEncoder.writeRGB8(path: path, width: image.width, height: image.height, pixels: image.rgb8Pixels)
        let bytes = [UInt8](try Data(contentsOf: URL(fileURLWithPath: path)))
        #expect(bytes[25] == 2)  // IHDR colour type: RGB
        #expect(try PNGDecoder.decode(path: path) == image)
    }

    @Test func unwritableDestinationIsAnError() throws {
        let error = try #require(throws: ImageError.self) {
            try PNGEncoder.writeRGB8(path: "/nonexistent-dir/x.png", width: 1, height: 1, pixels: [1, 2, 3])
        }
        #expect(error.description.hasPrefix("/nonexistent-dir/x.png: cannot create file: "))
    }
}
