import CamwatchCheckpoint
import CamwatchHDF5
import CamwatchTensor
import CamwatchTestSupport
import Foundation
import Testing

/// Bad checkpoint files, made in a temporary directory from a good one: every one gives a
/// `CheckpointError` whose one-line description names the file and the reason; nothing crashes.
@Suite struct CheckpointBadFileTests {
    static let good = Fixtures.path("checkpoints/tiny_flat.h5")

    /// A scratch directory that removes itself.
    final class Scratch {
        let url: URL
        init() throws { url = try Fixtures.temporaryDirectory("camwatch-checkpoint") }
        deinit { try? FileManager.default.removeItem(at: url) }

        func write(_ bytes: [UInt8], _ name: String) throws -> String {
            let path = url.appendingPathComponent(name).path
            try Data(bytes).write(to: URL(fileURLWithPath: path))
            return path
        }
    }

    static func goodBytes() throws -> [UInt8] { [UInt8](try Data(contentsOf: URL(fileURLWithPath: good))) }

    static func loadError(_ path: String) throws -> CheckpointError {
        let error = try #require(throws: CheckpointError.self) { try CheckpointLoader.load(path: path) }
        #expect(error.path == path)
        #expect(error.description.hasPrefix("\(path): "))
        #expect(!error.description.contains("\n"))
        return error
    }

    /// Deterministic noise (a linear congruential generator) that never starts like a known format.
    static func noise(_ count: Int) -> [UInt8] {
        var state: UInt32 = 12345
        return (0..<count).map { i in
            state = state &* 1_664_525 &+ 1_013_904_223
            return i == 0 ? 0x01 : UInt8(truncatingIfNeeded: state >> 24)
        }
    }

    @Test func missingEmptyAndRandomFiles() throws {
        let scratch = try Scratch()
        let missing = scratch.url.appendingPathComponent("missing.h5").path
        #expect(try Self.loadError(missing) == CheckpointError(.missing, path: missing, reason: "no such file"))
        let empty = try scratch.write([], "empty.h5")
        #expect(try Self.loadError(empty).description == "\(empty): empty file (0 bytes), not yet written?")
        #expect(try Self.loadError(empty).kind == .empty)
        let random = try scratch.write(Self.noise(10_000), "random.h5")
        let error = try Self.loadError(random)
        #expect(error.kind == .notHDF5)
        #expect(error.description == "\(random): not an HDF5 file (no HDF5 signature)")
        let folder = try Self.loadError(scratch.url.path)
        #expect(folder.reason == "is a directory, not a checkpoint file")
    }

    @Test func pngRenamedToH5() throws {
        let scratch = try Scratch()
        let png = [UInt8](try Data(contentsOf: URL(fileURLWithPath: Fixtures.path("images/rgb8.png"))))
        let path = try scratch.write(png, "photo.h5")
        let error = try Self.loadError(path)
        #expect(error.kind == .notHDF5)
        #expect(error.description == "\(path): not an HDF5 file (it looks like a PNG image)")
    }

    @Test func truncatedAtSeveralPoints() throws {
        let scratch = try Scratch()
        let bytes = try Self.goodBytes()
        for length in [8, 60, 96, 800, 2048, bytes.count / 2, bytes.count - 100, bytes.count - 1] {
            let path = try scratch.write(Array(bytes.prefix(length)), "cut-\(length).h5")
            let error = try Self.loadError(path)
            #expect(error.kind == .truncated, "cut at \(length)")
            if length >= 96 {
                #expect(
                    error.description == "\(path): truncated HDF5 file (\(length) bytes, header says \(bytes.count))")
            } else {
                #expect(error.reason.hasPrefix("truncated HDF5 file (\(length) bytes"))
            }
        }
    }

    @Test func stillOpenForWriting() throws {
        let scratch = try Scratch()
        let path = scratch.url.appendingPathComponent("writing.h5").path
        let writer = try HDF5File.create(path)
        try writer.write([Float](repeating: 0.5, count: 12), shape: [3, 4], to: "fc.weight")
        try writer.flush()
        let error = try Self.loadError(path)
        #expect(error.kind == .incomplete)
        #expect(
            error.description
                == "\(path): HDF5 file is still open for writing, or its writer crashed (superblock status flags 0x1)")
        try writer.close()
        #expect(try CheckpointLoader.load(path: path).tensors["fc.weight"]?.shape == [3, 4])
    }

    @Test func bitFlippedHeader() throws {
        let scratch = try Scratch()
        let bytes = try Self.goodBytes()
        var signature = bytes
        signature[1] ^= 0x01
        #expect(try Self.loadError(try scratch.write(signature, "signature.h5")).kind == .notHDF5)
        var version = bytes
        version[8] ^= 0x04
        let versionError = try Self.loadError(try scratch.write(version, "version.h5"))
        #expect(versionError.kind == .damaged)
        #expect(versionError.reason == "damaged HDF5 file: unknown HDF5 superblock version 4")
        var root = bytes
        root[96 + 8] ^= 0x40  // the root group's object header address
        let rootError = try Self.loadError(try scratch.write(root, "root.h5"))
        #expect(rootError.kind == .damaged)
        #expect(rootError.reason.hasPrefix("cannot open HDF5 file: "))
    }

    @Test func damagedWeightData() throws {
        let scratch = try Scratch()
        let bytes = try Self.goodBytes()
        let clean = try CheckpointLoader.load(path: Self.good)
        let weight = try #require(clean.tensors["fc.weight"]?.scalars.first)
        let pattern = withUnsafeBytes(of: weight.bitPattern.littleEndian) { Array($0) }
        let offset = try #require(Self.firstOffset(of: pattern, in: bytes))

        // h5py writes no checksums, so a flipped mantissa bit in raw data is invisible: it loads, one value off.
        var mantissa = bytes
        mantissa[offset] ^= 0x01
        let quiet = try CheckpointLoader.load(path: try scratch.write(mantissa, "mantissa.h5"))
        let changed = zip(quiet.tensors["fc.weight"]?.scalars ?? [], clean.tensors["fc.weight"]?.scalars ?? [])
            .filter { $0 != $1 }
        #expect(changed.count == 1)
        #expect(quiet.tensors["conv1.weight"] == clean.tensors["conv1.weight"])

        // Damage that turns a weight into NaN (all exponent bits set) is caught.
        var nan = bytes
        nan[offset + 3] |= 0x7F
        nan[offset + 2] |= 0x80
        nan[offset] |= 0x01
        let path = try scratch.write(nan, "nan.h5")
        let error = try Self.loadError(path)
        #expect(error.kind == .nonFinite)
        #expect(error.object == "fc.weight")
        #expect(error.reason == "tensor 'fc.weight' holds 1 NaN or infinite value (training diverged?)")
        let allowed = try CheckpointLoader.load(path: path, allowNonFinite: true)
        #expect(allowed.tensors["fc.weight"]?.scalars.first?.isNaN == true)
    }

    /// One bit flipped at every 4th byte of a real checkpoint: each copy loads or fails cleanly. The file has
    /// no attributes, because libhdf5 1.10.8 segfaults or loops on some damaged attribute metadata (about 1 in
    /// 250 flips of `tiny_flat.h5`, all in its root attributes and their strings); loading such files safely
    /// takes a child process, `CheckpointSubprocess`.
    @Test func bitFlipsAnywhereNeverCrash() throws {
        let scratch = try Scratch()
        let bytes = [UInt8](try Data(contentsOf: URL(fileURLWithPath: Fixtures.path("checkpoints/tiny_bare.h5"))))
        var kinds: [CheckpointError.Kind: Int] = [:]
        var loaded = 0
        for position in stride(from: 0, to: bytes.count, by: 4) {
            var damaged = bytes
            damaged[position] ^= UInt8(1) << UInt8(position % 8)
            let path = try scratch.write(damaged, "flip.h5")
            do {
                // A flip may rename a tensor, turn its type into an integer (then it is skipped) or make a
                // group's symbol table list an extra entry; whatever libhdf5 reports is what loads.
                let checkpoint = try CheckpointLoader.load(path: path, allowNonFinite: true)
                #expect(!checkpoint.tensors.isEmpty)
                loaded += 1
            } catch let error as CheckpointError {
                #expect(error.description.hasPrefix("\(path): "))
                #expect(!error.description.contains("\n"))
                kinds[error.kind, default: 0] += 1
            }
        }
        #expect(loaded > 1000)
        #expect((kinds[.damaged] ?? 0) > 100)
        #expect((kinds[.notHDF5] ?? 0) > 0)
    }

    @Test func filesWithoutWeights() throws {
        let scratch = try Scratch()
        let onlyIntegers = scratch.url.appendingPathComponent("ints.h5").path
        let file = try HDF5File.create(onlyIntegers)
        try file.write([Int64(1), 2], shape: [2], to: "labels")
        try file.close()
        let error = try Self.loadError(onlyIntegers)
        #expect(error.kind == .unsupported)
        #expect(error.reason == "no float tensors in the checkpoint (skipped: labels)")

        let nothing = scratch.url.appendingPathComponent("nothing.h5").path
        try HDF5File.create(nothing).close()
        #expect(try Self.loadError(nothing).reason == "no datasets: the HDF5 file holds no weights")
    }

    @Test func ambiguousNamesAreRejected() throws {
        let scratch = try Scratch()
        let path = scratch.url.appendingPathComponent("both.h5").path
        let file = try HDF5File.create(path)
        try file.write([Float]([1]), shape: [1], to: "fc.bias")
        try file.write([Float]([2]), shape: [1], to: "fc/bias")
        try file.close()
        let error = try Self.loadError(path)
        #expect(error.object == "fc.bias")
        #expect(error.reason == "both 'fc/bias' and 'fc.bias' give the tensor name 'fc.bias'")  // groups sort first
    }

    static func firstOffset(of pattern: [UInt8], in bytes: [UInt8]) -> Int? {
        guard bytes.count >= pattern.count else { return nil }
        return (0...(bytes.count - pattern.count)).first { Array(bytes[$0..<($0 + pattern.count)]) == pattern }
    }
}
