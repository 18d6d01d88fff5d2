import CamwatchImage
import CamwatchTestSupport
import Foundation
import Testing

/// Bad image files give an `ImageError` with a one-line reason, never a crash.
@Suite struct PNGErrorTests {
    static func decodeError(_ bytes: [UInt8]?, name: String = "bad.png") throws -> (String, ImageError) {
        let directory = try Fixtures.temporaryDirectory()
        let path = directory.appendingPathComponent(name).path
        if let bytes { try Data(bytes).write(to: URL(fileURLWithPath: path)) }
        defer { try? FileManager.default.removeItem(at: directory) }
        let error = try #require(throws: ImageError.self) { try PNGDecoder.decode(path: path) }
        #expect(error.path == path)
        #expect(!error.description.contains("\n"))
        return (path, error)
    }

    static let good: [UInt8] = {
        guard let data = try? Data(contentsOf: URL(fileURLWithPath: Fixtures.path("images/rgb8.png"))) else {
            return []
        }
        return [UInt8](data)
    }()

    @Test func missingFile() throws {
        let (path, error) = try Self.decodeError(nil)
        #expect(error.description == "\(path): no such file")
    }

    @Test func emptyAndForeignFiles() throws {
        let (emptyPath, empty) = try Self.decodeError([])
        #expect(empty.description == "\(emptyPath): empty file (0 bytes), not a PNG image")
        let (textPath, text) = try Self.decodeError(Array("hello, world\n".utf8))
        #expect(text.description == "\(textPath): not a PNG image (no PNG signature)")
        let hdf5 = [UInt8](try Data(contentsOf: URL(fileURLWithPath: Fixtures.path("checkpoints/latest.h5"))))
        let (_, notPNG) = try Self.decodeError(hdf5)
        #expect(notPNG.reason == "not a PNG image (no PNG signature)")
    }

    @Test func truncatedPNGs() throws {
        #expect(Self.good.count > 60)
        for length in [4, 20, 40, Self.good.count / 2, Self.good.count - 12, Self.good.count - 1] {
            let (_, error) = try Self.decodeError(Array(Self.good.prefix(length)))
            if length < 8 {
                #expect(error.reason == "not a PNG image (no PNG signature)")
            } else {
                #expect(error.reason == "cannot decode PNG: unexpected end of file (truncated PNG)", "cut at \(length)")
            }
        }
    }

    @Test func corruptedChunks() throws {
        var header = Self.good
        header[16] ^= 0x01  // IHDR width: its CRC no longer matches
        let (_, crc) = try Self.decodeError(header)
        #expect(crc.reason == "cannot decode PNG: IHDR: CRC error")

        var huge = Self.good
        // IHDR width 0x00FF0000 with a correct CRC: over camwatch's size limit.
        huge[16...19] = [0x00, 0xFF, 0x00, 0x00]
        let crcValue = crc32(Array(huge[12..<29]))
        huge[29...32] = [
            UInt8(crcValue >> 24), UInt8(crcValue >> 16 & 0xFF), UInt8(crcValue >> 8 & 0xFF), UInt8(crcValue & 0xFF),
        ]
        let (_, limit) = try Self.decodeError(huge)
        #expect(limit.reason.hasPrefix("cannot decode PNG: "))
        #expect(limit.reason.contains("width"))
    }

    /// A PNG of `width`×`height` 8-bit gray whose IDAT holds only the first row (zeros, in one stored deflate
    /// block): a few kilobytes that a decoder without a pixel limit would size its buffers from.
    static func declaring(width: UInt32, height: UInt32) -> [UInt8] {
        func bigEndian(_ value: UInt32) -> [UInt8] { [24, 16, 8, 0].map { UInt8(value >> $0 & 0xFF) } }
        func chunk(_ type: String, _ data: [UInt8]) -> [UInt8] {
            let body = Array(type.utf8) + data
            return bigEndian(UInt32(data.count)) + body + bigEndian(crc32(body))
        }
        let row = [UInt8](repeating: 0, count: Int(min(width, 60_000)) + 1)
        var adler: (UInt32, UInt32) = (1, 0)
        for byte in row { adler.0 = (adler.0 + UInt32(byte)) % 65521; adler.1 = (adler.1 + adler.0) % 65521 }
        let length = UInt16(row.count)
        let deflate: [UInt8] = [0x78, 0x01, 0x00, UInt8(length & 0xFF), UInt8(length >> 8), UInt8(~length & 0xFF), UInt8(~length >> 8)]
            + row + bigEndian(adler.1 << 16 | adler.0)
        let header = bigEndian(width) + bigEndian(height) + [8, 0, 0, 0, 0]
        return [0x89, 0x50, 0x4E, 0x47, 0x0D, 0x0A, 0x1A, 0x0A] + chunk("IHDR", header) + chunk("IDAT", deflate)
            + chunk("IEND", [])
    }

    @Test("a small PNG declaring gigapixels is refused from its header, naming the file")
    func pixelBomb() throws {
        // Within libpng's per-side limit (2^15) but 400 Mpx: camwatch's own limit, before any allocation.
        let (path, bomb) = try Self.decodeError(Self.declaring(width: 20_000, height: 20_000), name: "bomb.png")
        #expect(bomb.description == "\(path): cannot decode PNG: the header declares 20000x20000 = 400000000 pixels, "
            + "more than the limit of 67108864")
        // 100000×100000: libpng's per-side limit speaks first.
        let (widePath, wide) = try Self.decodeError(Self.declaring(width: 100_000, height: 100_000), name: "wide.png")
        #expect(wide.description.hasPrefix(widePath + ": cannot decode PNG: "), "\(wide)")
        #expect(wide.reason.contains("exceeds user limit"), "\(wide)")
        // 8192×8192 = 2^26 is allowed through to the data, which ends after one row.
        let (_, atLimit) = try Self.decodeError(Self.declaring(width: 8192, height: 8192))
        #expect(!atLimit.reason.contains("more than the limit"), "\(atLimit)")
        #expect(PNGDecoder.maximumPixels == 8192 * 8192)
    }

    /// Flips bits all over a real PNG: every result is an image or an `ImageError`.
    @Test func bitFlipsNeverCrash() throws {
        let directory = try Fixtures.temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: directory) }
        var failures = 0
        for position in 8..<Self.good.count {
            var damaged = Self.good
            damaged[position] ^= UInt8(1) << UInt8(position % 8)
            let path = directory.appendingPathComponent("flip.png").path
            try Data(damaged).write(to: URL(fileURLWithPath: path))
            do {
                let image = try PNGDecoder.decode(path: path)
                #expect(image.pixels.count == image.width * image.height * 3)
            } catch {
                #expect(error.description.hasPrefix(path + ": "))
                failures += 1
            }
        }
        #expect(failures > Self.good.count / 2)  // CRCs catch most flips
    }

    @Test func directoryIsNotAnImage() throws {
        let directory = try Fixtures.temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: directory) }
        let error = try #require(throws: ImageError.self) { try PNGDecoder.decode(path: directory.path) }
        #expect(error.reason == "is a directory, not an image")
    }
}

/// CRC-32 as PNG chunks use it (polynomial 0xEDB88320).
func crc32(_ bytes: [UInt8]) -> UInt32 {
    var crc: UInt32 = 0xFFFF_FFFF
    for byte in bytes {
        crc ^= UInt32(byte)
        for _ in 0..<8 { crc = crc & 1 == 1 ? (crc >> 1) ^ 0xEDB8_8320 : crc >> 1 }
    }
    return ~crc
}
