import CamwatchHDF5
import CamwatchTestSupport
import Foundation
import Testing

/// Files written by h5py (Scripts/fixtures/make_checkpoint_fixtures.py), read with camwatch's libhdf5 wrapper.
@Suite struct H5pyFixtureTests {
    struct Expected: Decodable {
        struct Values: Decodable {
            var shape: [Int]
            var values: [Float]
        }
        var f16: Values
        var f64: Values
        var chunked: Values
    }

    let file: HDF5File
    let expected: Expected

    init() throws {
        file = try HDF5File.open(Fixtures.path("checkpoints/h5py_types.h5"))
        let json = try Data(contentsOf: URL(fileURLWithPath: Fixtures.path("checkpoints/h5py_types.json")))
        expected = try JSONDecoder().decode(Expected.self, from: json)
    }

    @Test func listsEveryDatasetInNameOrder() throws {
        #expect(
            try file.datasetPaths() == [
                "chunked", "empty", "f16", "f32_scalar", "f64", "flags", "i32", "i64_scalar", "nested/group/deep/x",
                "u8", "words",
            ])
        #expect(
            try file.members(ofGroup: "nested") == [
                HDF5Member(name: "empty_group", kind: .group), HDF5Member(name: "group", kind: .group),
            ])
    }

    @Test func convertsFloat16AndFloat64() throws {
        let f16 = try file.readFloats(at: "f16")
        #expect(f16.elementType == .float16)
        #expect(f16.shape == expected.f16.shape)
        #expect(f16.values == expected.f16.values)
        #expect(f16.values[3] == 65504)  // the largest float16
        let f64 = try file.readFloats(at: "f64")
        #expect(f64.elementType == .float64)
        #expect(f64.values == expected.f64.values)
        let chunked = try file.readFloats(at: "chunked")
        #expect(chunked.shape == [6, 5])
        #expect(chunked.values == expected.chunked.values)
    }

    @Test func readsScalarsAndIntegers() throws {
        let steps = try file.readIntegers(at: "i64_scalar")
        #expect(steps.shape == [])
        #expect(steps.elementType == .int64)
        #expect(steps.values == [300])
        #expect(try file.readFloats(at: "i64_scalar").values == [300])
        #expect(try file.readFloats(at: "f32_scalar") == HDF5Array(shape: [], elementType: .float32, values: [-2.75]))
        let bytes = try file.readFloats(at: "u8")
        #expect(bytes.elementType == .uint8)
        #expect(bytes.values == [0, 1, 128, 254, 255])
        let ints = try file.readIntegers(at: "i32")
        #expect(ints.shape == [2, 2])
        #expect(ints.values == [-7, 0, 2_147_483_647, -2_147_483_648])
        #expect(try file.readFloats(at: "nested/group/deep/x").values == [1.5, 2.5])
        let empty = try file.readFloats(at: "empty")
        #expect(empty.shape == [0])
        #expect(empty.values == [])
    }

    @Test func refusesNonNumericDatasets() throws {
        let path = Fixtures.path("checkpoints/h5py_types.h5")
        let strings = try #require(throws: HDF5Error.self) { try file.readFloats(at: "words") }
        #expect(strings.description == "\(path): 'words': cannot read string elements as numbers")
        #expect(strings.object == "words")
        let bools = try #require(throws: HDF5Error.self) { try file.readFloats(at: "flags") }
        #expect(bools.description == "\(path): 'flags': cannot read enum elements as numbers")
        #expect(try file.datasetInfo(at: "words").elementType == .string)
        let missing = try #require(throws: HDF5Error.self) { try file.readFloats(at: "nested/nope/x") }
        #expect(missing.description == "\(path): 'nested/nope/x': no such dataset")
        #expect(throws: HDF5Error.self) { try file.readFloats(at: "nested") }
    }

    @Test func readsEveryKindOfAttribute() throws {
        let attributes = try file.attributes()
        #expect(attributes["vlen_str"] == .string("hello \u{2713}"))
        #expect(attributes["vlen_strs"] == .strings(["a", "bc", ""]))
        #expect(attributes["fixed_str"] == .string("abc"))
        #expect(attributes["fixed_strs"] == .strings(["conv1", "dense"]))
        #expect(attributes["int64"] == .int(-5))
        #expect(attributes["ints"] == .ints([1, 2, 3]))
        #expect(attributes["uint64"] == .int(7))
        #expect(attributes["float64"] == .double(0.25))
        #expect(attributes["floats"] == .doubles([0.5, 1.5]))
        #expect(attributes["empty_f64"] == .doubles([]))
        #expect(attributes["flag"] == .int(1))
        #expect(attributes["flag_array"] == .ints([1, 0]))
        #expect(attributes["null"] == .doubles([]))
        #expect(attributes.count == 13)
        #expect(try file.attributes(at: "f64") == ["units": .string("m")])
        #expect(attributes["fixed_strs"]?.stringValues == ["conv1", "dense"])
        #expect(attributes["float64"]?.doubleValue == 0.25)
        #expect(attributes["int64"]?.intValue == -5)
    }

    @Test func readsNestedCheckpointLayout() throws {
        let nested = try HDF5File.open(Fixtures.path("checkpoints/tiny_nested.h5"))
        #expect(
            try nested.datasetPaths() == [
                "bn/bias", "bn/num_batches_tracked", "bn/running_mean", "bn/running_var", "bn/weight", "conv1/bias",
                "conv1/weight", "conv2/bias", "conv2/weight", "fc/bias", "fc/weight", "meta/class_ids",
            ])
        let flat = try HDF5File.open(Fixtures.path("checkpoints/tiny_flat.h5"))
        #expect(try nested.readFloats(at: "conv1/weight") == flat.readFloats(at: "conv1.weight"))
        #expect(try flat.attribute("epoch") == .int(7))
        #expect(try flat.attribute("arch") == .string("tinynet"))
    }

    @Test func readsOtherSuperblockLayouts() throws {
        let latest = try HDF5File.open(Fixtures.path("checkpoints/latest.h5"))
        #expect(try latest.readFloats(at: "x").values == [0, 1, 2, 3, 4, 5])
        #expect(try latest.attribute("epoch") == .int(1))
        let userBlock = try HDF5File.open(Fixtures.path("checkpoints/userblock.h5"))
        #expect(try userBlock.readFloats(at: "x").values == [0, 1, 2, 3])
    }
}
