import CamwatchImage

/// A rendered chart: 8-bit RGBA pixels, not premultiplied.
public struct Picture: Sendable, Equatable {
    /// Width in pixels.
    public var width: Int
    /// Height in pixels.
    public var height: Int
    /// `[height, width, 4]` in row-major order: `rgba[(y * width + x) * 4 + c]`, `c` = 0 red … 3 alpha.
    public var rgba: [UInt8]

    /// Creates a picture; `rgba.count` must be `width · height · 4`.
    public init(width: Int, height: Int, rgba: [UInt8]) {
        precondition(width >= 0 && height >= 0, "negative picture size \(width)x\(height)")
        precondition(rgba.count == width * height * 4, "\(rgba.count) bytes for a \(width)x\(height) RGBA picture")
        self.width = width
        self.height = height
        self.rgba = rgba
    }

    /// Writes the picture as an RGBA PNG, atomically (a reader sees the old file or the new one).
    /// - Throws: `ChartError` naming `path` when the picture is empty or the file cannot be written.
    public func write(to path: String) throws(ChartError) {
        guard width > 0, height > 0 else { throw ChartError(path: path, reason: "the picture has no pixels") }
        do throws(ImageError) {
            try PNGEncoder.writeRGBA8(path: path, width: width, height: height, pixels: rgba)
        } catch {
            throw ChartError(path: path, reason: error.reason)
        }
    }
}
