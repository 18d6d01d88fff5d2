/// TFRecord framing, the container of TensorBoard event files.
///
/// Each record is `length` (UInt64, little endian), `masked_crc32c(length bytes)` (UInt32 LE), the data,
/// `masked_crc32c(data)` (UInt32 LE). The mask is TensorFlow's: rotate right by 15 bits and add
/// 0xa282ead8, so that a CRC over data that itself holds CRCs is not trivially zero.
enum TFRecord {
    /// The bytes of one record holding `data`.
    static func frame(_ data: [UInt8]) -> [UInt8] {
        let length = littleEndian(UInt64(data.count))
        var record = length
        record.reserveCapacity(data.count + 16)
        record += littleEndian(maskedCRC(length))
        record += data
        record += littleEndian(maskedCRC(data))
        return record
    }

    /// One record read from a file: its data and where the record ends.
    struct Record: Equatable {
        var data: ArraySlice<UInt8>
        var end: Int
    }

    /// The complete, intact records at the start of `bytes`, and the offset after the last of them.
    ///
    /// Reading stops at the first record that is cut short or fails its checksum: in a file written by
    /// appending, that is a write interrupted by a crash (`validEnd < bytes.count`).
    static func records(in bytes: [UInt8]) -> (records: [Record], validEnd: Int) {
        var records: [Record] = []
        var offset = 0
        while bytes.count - offset >= 12 {
            let header = bytes[offset..<(offset + 8)]
            guard readUInt32(bytes, at: offset + 8) == maskedCRC(header) else { break }
            let length = readUInt64(bytes, at: offset)
            guard length <= UInt64(bytes.count - offset - 16) else { break }
            let start = offset + 12
            let end = start + Int(length)
            let data = bytes[start..<end]
            guard readUInt32(bytes, at: end) == maskedCRC(data) else { break }
            offset = end + 4
            records.append(Record(data: data, end: offset))
        }
        return (records, offset)
    }

    /// TensorFlow's masked CRC32C.
    static func maskedCRC<C: Collection>(_ data: C) -> UInt32 where C.Element == UInt8 {
        let crc = CRC32C.checksum(data)
        return ((crc >> 15) | (crc << 17)) &+ 0xa282_ead8
    }

    static func littleEndian<T: FixedWidthInteger>(_ value: T) -> [UInt8] {
        (0..<(T.bitWidth / 8)).map { UInt8(truncatingIfNeeded: value >> ($0 * 8)) }
    }

    static func readUInt32(_ bytes: [UInt8], at offset: Int) -> UInt32 {
        (0..<4).reduce(UInt32(0)) { $0 | UInt32(bytes[offset + $1]) << ($1 * 8) }
    }

    static func readUInt64(_ bytes: [UInt8], at offset: Int) -> UInt64 {
        (0..<8).reduce(UInt64(0)) { $0 | UInt64(bytes[offset + $1]) << ($1 * 8) }
    }
}

/// CRC-32C (Castagnoli, reflected polynomial 0x82F63B78), as TFRecord uses it.
enum CRC32C {
    static let table: [UInt32] = (0..<256).map { index in
        var crc = UInt32(index)
        for _ in 0..<8 { crc = crc & 1 == 1 ? (crc >> 1) ^ 0x82f6_3b78 : crc >> 1 }
        return crc
    }

    /// The CRC of `data` (initial value and final XOR 0xFFFFFFFF); `"123456789"` gives 0xE3069283.
    static func checksum<C: Collection>(_ data: C) -> UInt32 where C.Element == UInt8 {
        var crc: UInt32 = 0xffff_ffff
        for byte in data { crc = table[Int((crc ^ UInt32(byte)) & 0xff)] ^ (crc >> 8) }
        return crc ^ 0xffff_ffff
    }
}
