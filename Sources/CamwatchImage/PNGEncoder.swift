import Foundation

/// Writes 8-bit RGB and RGBA PNG files atomically.
///
/// The image goes to a temporary file in the destination's directory (a dotfile ending in `.tmp`, which
/// watchers ignore), is fsynced, then renamed over the destination: a reader sees the old file or the new
/// one, never a partial one.
public enum PNGEncoder {
    /// Writes RGBA pixels (`[height, width, 4]`, row-major, 8 bits) to `path`.
    /// - Throws: `ImageError` when the file cannot be written.
    public static func writeRGBA8(path: String, width: Int, height: Int, pixels: [UInt8]) throws(ImageError) {
        try write(path: path, width: width, height: height, channels: 4, pixels: pixels)
    }

    /// Writes RGB pixels (`[height, width, 3]`, row-major, 8 bits) to `path`.
    /// - Throws: `ImageError` when the file cannot be written.
    public static func writeRGB8(path: String, width: Int, height: Int, pixels: [UInt8]) throws(ImageError) {
        try write(path: path, width: width, height: height, channels: 3, pixels: pixels)
    }

    /// Encodes RGBA pixels (`[height, width, 4]`, row-major, 8 bits) as PNG bytes, in memory (for images
    /// embedded in other files: TensorBoard summaries, HTML pages).
    /// - Throws: `ImageError` when libpng fails.
    public static func encodeRGBA8(width: Int, height: Int, pixels: [UInt8]) throws(ImageError) -> [UInt8] {
        try encode(width: width, height: height, channels: 4, pixels: pixels)
    }

    /// Encodes RGB pixels (`[height, width, 3]`, row-major, 8 bits) as PNG bytes, in memory.
    /// - Throws: `ImageError` when libpng fails.
    public static func encodeRGB8(width: Int, height: Int, pixels: [UInt8]) throws(ImageError) -> [UInt8] {
        try encode(width: width, height: height, channels: 3, pixels: pixels)
    }

    private static func encode(width: Int, height: Int, channels: Int, pixels: [UInt8]) throws(ImageError) -> [UInt8] {
        precondition(width > 0 && height > 0, "a PNG needs at least one pixel, got \(width)x\(height)")
        precondition(width <= Int(Int32.max) && height <= Int(Int32.max), "image too large: \(width)x\(height)")
        precondition(
            pixels.count == width * height * channels, "\(pixels.count) bytes for \(width)x\(height)x\(channels)")
        switch LibPNG.encode8Bit(width: width, height: height, channels: channels, pixels: pixels) {
        case .success(let bytes): return bytes
        case .failure(let failure): throw ImageError(path: "(in memory)", reason: failure.message)
        }
    }

    private static func write(path: String, width: Int, height: Int, channels: Int, pixels: [UInt8]) throws(ImageError)
    {
        precondition(width > 0 && height > 0, "a PNG needs at least one pixel, got \(width)x\(height)")
        precondition(width <= Int(Int32.max) && height <= Int(Int32.max), "image too large: \(width)x\(height)")
        precondition(
            pixels.count == width * height * channels, "\(pixels.count) bytes for \(width)x\(height)x\(channels)")
        let url = URL(fileURLWithPath: path)
        let directory = url.deletingLastPathComponent().path
        let temporary = url.deletingLastPathComponent()
            .appendingPathComponent(".\(url.lastPathComponent).\(UUID().uuidString).tmp").path
        if let reason = LibPNG.write8Bit(temporary, width: width, height: height, channels: channels, pixels: pixels) {
            LibPNG.remove(temporary)
            throw ImageError(path: path, reason: reason)
        }
        if let reason = LibPNG.replace(temporary, with: path, directory: directory) {
            LibPNG.remove(temporary)
            throw ImageError(path: path, reason: reason)
        }
    }
}
