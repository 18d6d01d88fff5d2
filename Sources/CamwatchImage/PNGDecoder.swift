import Foundation

/// Reads PNG files of every colour type and bit depth into `RGBImage`.
public enum PNGDecoder {
    /// The most pixels a PNG may have: 2^26 = 67,108,864 (64 Mpx, e.g. 8192×8192), checked from the header
    /// before anything is allocated. A PNG compresses a flat image about 1000:1, so a small hostile file can
    /// declare gigapixels. Rows are decoded one at a time (an interlaced file whole, at most 384 MiB at this
    /// limit), so what stays is the decoded image: 768 MiB of float samples at full size, or far less when
    /// the caller asks for a reduced image (`maximumSide`), as probes do.
    public static let maximumPixels = 1 << 26

    /// A PNG's size as its header declares it.
    public struct Header: Sendable, Equatable {
        public var width: Int
        public var height: Int
        public var pixels: Int { width * height }

        public init(width: Int, height: Int) {
            self.width = width
            self.height = height
        }
    }

    /// Reads the header of the PNG at `path` only: no pixel is decoded or allocated.
    /// - Throws: `ImageError` for a missing or unreadable file, a file that is not PNG, a damaged header, or
    ///   one declaring more than ``maximumPixels`` pixels.
    public static func header(path: String) throws(ImageError) -> Header {
        try checkIsFile(path)
        do {
            let reader = try PNGRowReader(path: path, maximumPixels: maximumPixels, headerOnly: true)
            return Header(width: reader.width, height: reader.height)
        } catch {
            throw ImageError(path: path, reason: error.message)
        }
    }

    /// Decodes the PNG at `path` to RGB on the 0…255 scale.
    ///
    /// Palette images are expanded, gray (1, 2, 4, 8 or 16 bits) is replicated to three channels, alpha and
    /// tRNS transparency are dropped without compositing, interlaced files are de-interlaced; no gamma or
    /// colour-profile conversion is applied. For 8-bit files the result equals
    /// `np.asarray(PIL.Image.open(path).convert("RGB"))`; 16-bit samples `v` become `v · 255 / 65535`.
    ///
    /// With `maximumSide`, an image wider or taller than that is reduced while it is decoded, by the smallest
    /// whole factor `k` that brings both sides within it: each output pixel is the mean of a `k × k` block
    /// (the last row and column of blocks may be narrower), the output `⌈width / k⌉ × ⌈height / k⌉`. Only one
    /// row of the file and one row of sums are held, never the full-size image. An image within the bound is
    /// decoded exactly as without it.
    /// - Throws: `ImageError` for a missing or unreadable file, a file that is not PNG, a truncated or
    ///   damaged PNG, or one of more than ``maximumPixels`` pixels.
    public static func decode(path: String, maximumSide: Int? = nil) throws(ImageError) -> RGBImage {
        precondition(maximumSide.map { $0 > 0 } ?? true, "maximumSide must be positive")
        try checkIsFile(path)
        do {
            let reader = try PNGRowReader(path: path, maximumPixels: maximumPixels)
            let longSide = max(reader.width, reader.height)
            let factor = maximumSide.map { longSide <= $0 ? 1 : (longSide + $0 - 1) / $0 } ?? 1
            var reducer = BlockMeanReducer(width: reader.width, height: reader.height, factor: factor)
            var row = [UInt8](repeating: 0, count: reader.rowBytes)
            var samples = [Float](repeating: 0, count: reader.width * 3)
            let scale = Float(255) / Float(65535)
            for _ in 0..<reader.height {
                try reader.nextRow(into: &row)
                if reader.bitDepth == 16 {
                    for i in samples.indices {
                        samples[i] = Float(UInt16(row[2 * i]) << 8 | UInt16(row[2 * i + 1])) * scale
                    }
                } else {
                    for i in samples.indices { samples[i] = Float(row[i]) }
                }
                reducer.add(row: samples)
            }
            return reducer.image
        } catch {
            throw ImageError(path: path, reason: error.message)
        }
    }

    private static func checkIsFile(_ path: String) throws(ImageError) {
        guard FileManager.default.fileExists(atPath: path) else { throw ImageError(path: path, reason: "no such file") }
        let type = (try? FileManager.default.attributesOfItem(atPath: path))?[.type] as? FileAttributeType
        if type == .typeDirectory { throw ImageError(path: path, reason: "is a directory, not an image") }
    }
}
