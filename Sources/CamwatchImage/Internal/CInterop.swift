internal import CPNG

// Every libpng call of CamwatchImage goes through this file. The C side (Sources/CPNG/shim.h) keeps
// setjmp/longjmp to itself and reports failures as a message string.

/// A decoded PNG as libpng produced it: 3 samples per pixel, 8 or 16 bits.
struct DecodedPNG {
    var width: Int
    var height: Int
    var bitDepth: Int
    /// Samples on the 0…255 scale, interleaved RGB.
    var samples: [Float]
}

enum LibPNG {
    /// Decodes the file at `path` to RGB samples, or returns libpng's (or the shim's) reason for failing
    /// (among them an image of more than `maximumPixels` pixels, refused from its header).
    static func readRGB(_ path: String, maximumPixels: Int) -> Result<DecodedPNG, DecodeFailure> {
        var image = unsafe cpng_rgb_image()
        if let message = unsafe cpng_read_rgb(path, UInt64(max(0, maximumPixels)), &image) {
            return .failure(DecodeFailure(message: unsafe String(cString: message)))
        }
        defer { unsafe cpng_free(image.pixels) }
        let width = unsafe Int(image.width)
        let height = unsafe Int(image.height)
        let bitDepth = unsafe Int(image.bit_depth)
        let count = width * height * 3
        var samples = [Float](repeating: 0, count: count)
        if let base = unsafe image.pixels, count > 0 {
            if bitDepth == 16 {
                let scale = Float(255) / Float(65535)
                unsafe base.withMemoryRebound(to: UInt16.self, capacity: count) { words in
                    for i in 0..<count { samples[i] = Float(unsafe words[i]) * scale }
                }
            } else {
                for i in 0..<count { samples[i] = Float(unsafe base[i]) }
            }
        }
        return .success(DecodedPNG(width: width, height: height, bitDepth: bitDepth, samples: samples))
    }

    /// Writes 8-bit RGB or RGBA pixels to `path` and fsyncs it; returns the reason on failure.
    static func write8Bit(_ path: String, width: Int, height: Int, channels: Int, pixels: [UInt8]) -> String? {
        let message = unsafe pixels.withUnsafeBufferPointer { buffer in
            unsafe cpng_write_8bit(path, UInt32(width), UInt32(height), Int32(channels), buffer.baseAddress)
        }
        return unsafe message.map { unsafe String(cString: $0) }
    }

    /// Encodes 8-bit RGB or RGBA pixels as PNG bytes in memory.
    static func encode8Bit(width: Int, height: Int, channels: Int, pixels: [UInt8]) -> Result<[UInt8], DecodeFailure> {
        var out: UnsafeMutablePointer<UInt8>? = nil
        var size = 0
        let message = unsafe pixels.withUnsafeBufferPointer { buffer in
            unsafe cpng_encode_8bit(UInt32(width), UInt32(height), Int32(channels), buffer.baseAddress, &out, &size)
        }
        if let message = unsafe message { return .failure(DecodeFailure(message: unsafe String(cString: message))) }
        defer { unsafe cpng_free(out) }
        guard let base = unsafe out else { return .success([]) }
        return .success(unsafe Array(UnsafeBufferPointer(start: base, count: size)))
    }

    /// Renames `from` over `to` and fsyncs `directory`; returns the reason on failure.
    static func replace(_ from: String, with to: String, directory: String) -> String? {
        unsafe cpng_replace(from, to, directory).map { unsafe String(cString: $0) }
    }

    static func remove(_ path: String) {
        unsafe cpng_remove(path)
    }
}

/// Why libpng could not decode a file.
struct DecodeFailure: Error {
    var message: String
}
