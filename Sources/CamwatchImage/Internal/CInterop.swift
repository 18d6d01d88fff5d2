internal import CPNG

// Every libpng call of CamwatchImage goes through this file. The C side (Sources/CPNG/shim.h) keeps
// setjmp/longjmp to itself and reports failures as a message string.

/// A PNG opened for decoding row by row (`cpng_reader`): the header is read on creation, then
/// `nextRow(into:)` hands out RGB rows top to bottom, so no more than a row need be held. `@safe`: the reader
/// pointer never leaves the class and lives exactly as long as it; every row is copied into a buffer checked
/// to hold it.
@safe final class PNGRowReader {
    let width: Int
    let height: Int
    /// 8 or 16: the bits of each sample `nextRow(into:)` writes (16-bit samples big-endian, as PNG stores them).
    let bitDepth: Int
    private let reader: UnsafeMutablePointer<cpng_reader>

    /// Opens `path` and reads its header; with `headerOnly` nothing past the header is read (and
    /// `nextRow(into:)` must not be called).
    /// - Throws: libpng's (or the shim's) reason, among them an image of more than `maximumPixels` pixels,
    ///   refused from its header.
    init(path: String, maximumPixels: Int, headerOnly: Bool = false) throws(DecodeFailure) {
        var opened: UnsafeMutablePointer<cpng_reader>? = nil
        if let message = unsafe cpng_reader_open(path, UInt64(max(0, maximumPixels)), headerOnly ? 1 : 0, &opened) {
            throw DecodeFailure(message: unsafe String(cString: message))
        }
        guard let opened = unsafe opened else { throw DecodeFailure(message: "libpng: no reader") }
        unsafe reader = opened
        width = unsafe Int(opened.pointee.header.width)
        height = unsafe Int(opened.pointee.header.height)
        bitDepth = unsafe Int(opened.pointee.header.bit_depth)
    }

    deinit { unsafe cpng_reader_close(reader) }

    /// The bytes of one RGB row: `width × 3` samples of `bitDepth` bits.
    var rowBytes: Int { width * 3 * bitDepth / 8 }

    /// Reads the next row into `row` (at least `rowBytes` long); after the last row, the rest of the file
    /// is checked too.
    func nextRow(into row: inout [UInt8]) throws(DecodeFailure) {
        precondition(row.count >= rowBytes, "a row buffer of \(row.count) bytes for \(rowBytes)")
        let message = unsafe row.withUnsafeMutableBufferPointer { buffer in
            unsafe cpng_reader_next_row(reader, buffer.baseAddress)
        }
        if let message = unsafe message { throw DecodeFailure(message: unsafe String(cString: message)) }
    }
}

enum LibPNG {
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
