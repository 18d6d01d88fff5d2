import CamwatchHDF5
import CamwatchTestSupport
import Foundation
import Testing

@Suite struct HDF5RoundTripTests {
    @Test func datasetsAndGroupsRoundTrip() throws {
        let directory = try Fixtures.temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: directory) }
        let path = directory.appendingPathComponent("round.h5").path

        let file = try HDF5File.create(path)
        try file.write([Float]([1, -2.5, 3.25, 0, 1e-7, 65504]), shape: [2, 3], to: "layer1/0/conv1/weight")
        try file.write([Float]([0.125]), shape: [], to: "scalar")
        try file.write([Double]([1.0 / 3.0, -1e300]), shape: [2], to: "doubles")
        try file.write([Int32]([Int32.min, 0, Int32.max]), shape: [3], to: "ints32")
        try file.write([Int64]([Int64.min, 42]), shape: [1, 2], to: "group/ints64")
        try file.write([Float](), shape: [0, 4], to: "empty")
        try file.createGroup("lonely/group")
        try file.createGroup("lonely")  // exists already: no-op
        try file.close()

        let reread = try HDF5File.open(path)
        #expect(!reread.isWritable)
        #expect(
            try reread.datasetPaths() == [
                "doubles", "empty", "group/ints64", "ints32", "layer1/0/conv1/weight", "scalar",
            ])
        let weight = try reread.readFloats(at: "layer1/0/conv1/weight")
        #expect(weight.shape == [2, 3])
        #expect(weight.elementType == .float32)
        #expect(weight.values == [1, -2.5, 3.25, 0, 1e-7, 65504])
        #expect(try reread.readFloats(at: "/layer1/0/conv1/weight") == weight)

        let scalar = try reread.readFloats(at: "scalar")
        #expect(scalar.shape == [])
        #expect(scalar.values == [0.125])

        let doubles = try reread.readFloats(at: "doubles")
        #expect(doubles.elementType == .float64)
        #expect(doubles.values[0] == Float(1.0 / 3.0))
        #expect(doubles.values[1] == -.infinity)  // libhdf5 converts out-of-range float64 to -inf

        let ints32 = try reread.readIntegers(at: "ints32")
        #expect(ints32.elementType == .int32)
        #expect(ints32.values == [Int64(Int32.min), 0, Int64(Int32.max)])
        #expect(try reread.readIntegers(at: "group/ints64").values == [Int64.min, 42])
        #expect(try reread.readFloats(at: "ints32").values == [Float(Int32.min), 0, Float(Int32.max)])

        let empty = try reread.readFloats(at: "empty")
        #expect(empty.shape == [0, 4])
        #expect(empty.values.isEmpty)

        #expect(try reread.kind(of: "lonely/group") == .group)
        #expect(try reread.kind(of: "group/ints64") == .dataset)
        #expect(try reread.kind(of: "nothing/here") == nil)
        #expect(
            try reread.members(ofGroup: "/") == [
                HDF5Member(name: "doubles", kind: .dataset), HDF5Member(name: "empty", kind: .dataset),
                HDF5Member(name: "group", kind: .group), HDF5Member(name: "ints32", kind: .dataset),
                HDF5Member(name: "layer1", kind: .group), HDF5Member(name: "lonely", kind: .group),
                HDF5Member(name: "scalar", kind: .dataset),
            ])
        let info = try reread.datasetInfo(at: "group/ints64")
        #expect(info == HDF5DatasetInfo(path: "group/ints64", shape: [1, 2], elementType: .int64))
    }

    @Test func attributesRoundTrip() throws {
        let directory = try Fixtures.temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: directory) }
        let path = directory.appendingPathComponent("attrs.h5").path
        let values: [String: HDF5Attribute] = [
            "arch": .string("resnet18"),
            "unicode": .string("Grüße ✓"),
            "empty_string": .string(""),
            "names": .strings(["conv1", "", "fc"]),
            "no_names": .strings([]),
            "epoch": .int(12),
            "shape": .ints([3, 224, 224]),
            "val_acc": .double(0.8125),
            "curve": .doubles([0.5, -1e-300, .infinity]),
            "no_weights": .doubles([]),
        ]
        let file = try HDF5File.create(path)
        try file.write([Float]([1, 2]), shape: [2], to: "fc/bias")
        for (name, value) in values { try file.setAttribute(name, to: value) }
        try file.setAttribute("epoch", to: .int(13))  // replaces
        try file.setAttribute("units", to: .string("logits"), at: "fc/bias")
        try file.setAttribute("kind", to: .string("layer"), at: "fc")
        #expect(throws: HDF5Error.self) { try file.setAttribute("bad", to: .unsupported("compound")) }
        #expect(throws: HDF5Error.self) { try file.setAttribute("x", to: .int(1), at: "missing") }
        try file.close()

        let reread = try HDF5File.open(path)
        var expected = values
        expected["epoch"] = .int(13)
        #expect(try reread.attributes() == expected)
        #expect(try reread.attributeNames() == expected.keys.sorted())
        #expect(try reread.attribute("units", at: "fc/bias") == .string("logits"))
        #expect(try reread.attribute("kind", at: "/fc") == .string("layer"))
        #expect(try reread.attribute("absent") == nil)
        #expect(try reread.attributes(at: "fc/bias") == ["units": .string("logits")])
        #expect(throws: HDF5Error.self) { try reread.setAttribute("x", to: .int(1)) }
        #expect(throws: HDF5Error.self) { try reread.write([Float]([1]), shape: [1], to: "new") }
    }

    @Test func writingMisuseIsReported() throws {
        let directory = try Fixtures.temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: directory) }
        let path = directory.appendingPathComponent("misuse.h5").path
        let file = try HDF5File.create(path)
        try file.write([Float]([1]), shape: [1], to: "a")
        let taken = try #require(throws: HDF5Error.self) { try file.write([Float]([2]), shape: [1], to: "a") }
        #expect(taken.description == "\(path): 'a': cannot write dataset: the name is taken")
        let notGroup = try #require(throws: HDF5Error.self) { try file.createGroup("a") }
        #expect(notGroup.description.hasSuffix("'a': exists and is not a group"))
        try file.close()
        try file.close()  // closing twice is harmless
        let closed = try #require(throws: HDF5Error.self) { try file.datasetPaths() }
        #expect(closed.description == "\(path): HDF5 file is already closed")
    }

    @Test func concurrentReadersShareTheLibrary() async throws {
        let path = Fixtures.path("checkpoints/tiny_flat.h5")
        let expected = try HDF5File.open(path).readFloats(at: "conv1.weight")
        try await withThrowingTaskGroup(of: HDF5Array<Float>.self) { group in
            for _ in 0..<8 {
                group.addTask {
                    let file = try HDF5File.open(path)
                    var last = try file.readFloats(at: "conv1.weight")
                    for _ in 0..<20 { last = try file.readFloats(at: "conv1.weight") }
                    return last
                }
            }
            for try await result in group { #expect(result == expected) }
        }
    }
}

/// camwatch must never hold a lock on a trainer's file: a held shared lock makes the trainer's next
/// `H5Fcreate(…, H5F_ACC_TRUNC)` fail after truncating the checkpoint to 0 bytes.
@Suite struct HDF5LockingTests {
    @Test func openFileTakesNoLock() throws {
        let directory = try Fixtures.temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: directory) }
        let path = directory.appendingPathComponent("locked.h5").path
        try FileManager.default.copyItem(atPath: Fixtures.path("checkpoints/tiny_flat.h5"), toPath: path)
        let reader = try HDF5File.open(path)
        #expect(try reader.readFloats(at: "fc.bias").values.count == 3)

        // What a writer's libhdf5 does first: an exclusive, non-blocking flock on its own descriptor.
        let descriptor = open(path, O_RDWR)
        #expect(descriptor >= 0)
        defer { close(descriptor) }
        #expect(flock(descriptor, LOCK_EX | LOCK_NB) == 0, "camwatch holds a lock on the file")
        #expect(flock(descriptor, LOCK_UN) == 0)
        // (A writer in this same process would still be refused: libhdf5 will not truncate a file it has open.)
        #expect(try reader.datasetPaths().count == 12)
    }
}
