/// An RGB image with float samples on the 0…255 scale, rows top to bottom, channels interleaved.
///
/// Whatever the file held (8- or 16-bit, gray, palette, with alpha), decoding gives three samples per
/// pixel; a 16-bit sample `v` becomes `v · 255 / 65535`, so 8- and 16-bit files share one scale.
public struct RGBImage: Sendable, Equatable {
    /// Width in pixels.
    public var width: Int
    /// Height in pixels.
    public var height: Int
    /// `[height, width, 3]` in row-major order: `pixels[(y * width + x) * 3 + c]`, `c` = 0 red, 1 green, 2 blue.
    public var pixels: [Float]

    /// Creates an image from interleaved RGB samples on the 0…255 scale.
    public init(width: Int, height: Int, pixels: [Float]) {
        precondition(width >= 0 && height >= 0, "negative image size \(width)x\(height)")
        precondition(pixels.count == width * height * 3, "\(pixels.count) samples for a \(width)x\(height) RGB image")
        self.width = width
        self.height = height
        self.pixels = pixels
    }

    /// The samples rounded and clamped to 8 bits, interleaved RGB (for `PNGEncoder.writeRGB8`).
    public var rgb8Pixels: [UInt8] {
        pixels.map { UInt8(clamping: Int(($0.isNaN ? 0 : min(max($0, 0), 255)).rounded())) }
    }
}
