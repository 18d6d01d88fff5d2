import Foundation

/// Reads PNG files of every colour type and bit depth into `RGBImage`.
public enum PNGDecoder {
    /// The most pixels a PNG may have: 2^26 = 67,108,864 (64 Mpx, e.g. 8192×8192), checked from the header
    /// before anything is allocated. A PNG compresses a flat image about 1000:1, so a small hostile file can
    /// declare gigapixels; at this limit decoding needs at most 384 MiB for libpng's 16-bit rows and 768 MiB
    /// for the float samples. Larger photographs are far beyond any probe: each is resized to the model
    /// input (224 to a few hundred pixels) anyway.
    public static let maximumPixels = 1 << 26

    /// Decodes the PNG at `path` to RGB on the 0…255 scale.
    ///
    /// Palette images are expanded, gray (1, 2, 4, 8 or 16 bits) is replicated to three channels, alpha and
    /// tRNS transparency are dropped without compositing, interlaced files are de-interlaced; no gamma or
    /// colour-profile conversion is applied. For 8-bit files the result equals
    /// `np.asarray(PIL.Image.open(path).convert("RGB"))`; 16-bit samples `v` become `v · 255 / 65535`.
    /// - Throws: `ImageError` for a missing or unreadable file, a file that is not PNG, a truncated or
    ///   damaged PNG, or one of more than ``maximumPixels`` pixels.
    public static func decode(path: String) throws(ImageError) -> RGBImage {
        guard FileManager.default.fileExists(atPath: path) else { throw ImageError(path: path, reason: "no such file") }
        let type = (try? FileManager.default.attributesOfItem(atPath: path))?[.type] as? FileAttributeType
        if type == .typeDirectory { throw ImageError(path: path, reason: "is a directory, not an image") }
        switch LibPNG.readRGB(path, maximumPixels: maximumPixels) {
        case .success(let decoded):
            return RGBImage(width: decoded.width, height: decoded.height, pixels: decoded.samples)
        case .failure(let failure):
            throw ImageError(path: path, reason: failure.message)
        }
    }
}
