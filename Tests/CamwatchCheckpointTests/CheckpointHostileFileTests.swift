import CamwatchHDF5
@testable import CamwatchCheckpoint
import CamwatchTensor
import CamwatchTestSupport
import Foundation
import Testing

/// Hostile checkpoints (docs/reliability.md), written by h5py at test time (`HostileCheckpoints`): none reads a byte
/// outside its file, none makes the reader allocate what the file does not hold, none parses for minutes;
/// each fails with one line naming the file, the dataset and the reason.
@Suite struct CheckpointHostileFileTests {
    let files: HostileCheckpoints

    init() throws { files = try HostileCheckpoints() }

    func loadError(_ name: String) throws -> CheckpointError {
        let path = files.path(name)
        let error = try #require(throws: CheckpointError.self) { try CheckpointLoader.load(path: path) }
        #expect(error.path == path)
        #expect(!error.description.contains("\n"))
        #expect(!error.description.contains("SECRETTOKEN"))
        return error
    }

    @Test("data in another file (external storage, external link, virtual dataset) is refused, naming the dataset")
    func dataOutsideTheFileIsRefused() throws {
        let cases = [
            ("external_storage.h5", "'fc.bias': raw data stored in 1 external file(s) refused"),
            ("external_link.h5", "'fc.bias': external link (an object in another file) refused"),
            ("virtual.h5", "'fc.bias': virtual dataset (data mapped from other files) refused"),
        ]
        for (name, reason) in cases {
            let error = try loadError(name)
            #expect(error.reason.hasPrefix(reason), "\(name): \(error.reason)")
            #expect(error.object == "fc.bias", "\(name)")
        }
        // Without the refusal libhdf5 follows all three: the same values straight from the source file.
        let source = try CheckpointLoader.load(path: files.path("source.h5"))
        #expect(source.tensors["secret"]?.scalars == HostileCheckpoints.secretAsFloats)
    }

    @Test func pluginFiltersAreRefused() throws {
        let error = try loadError("plugin_filter.h5")
        #expect(
            error.reason
                == "'fc.bias': compressed with filter 32000 (LZF), not a filter built into libhdf5 (camwatch reads "
                + "deflate (gzip), shuffle, fletcher32, szip; plugins are never loaded)")
    }

    @Test("declared sizes are checked before anything is read")
    func compressionBombsAreRefusedBeforeReading() throws {
        let start = Date()
        let tensor = try loadError("bomb.h5")
        #expect(
            tensor.reason
                == "dataset 'fc.weight' declares 800000000 elements (shape [20000, 40000]), more than one tensor may "
                + "hold (268435456)")
        #expect(tensor.object == "fc.weight")
        let total = try loadError("bomb_total.h5")
        #expect(total.reason.hasPrefix("datasets declare 400000054 numbers ("))
        #expect(total.reason.contains("more than 16 per byte of a "))
        #expect(total.reason.hasSuffix("refused before reading"))
        let chunk = try loadError("huge_chunk.h5")
        #expect(chunk.reason.hasPrefix("'fc.bias': chunks of 16777216 elements for a dataset of 10 would make libhdf5"))
        // Reading 1.6 GB of fill values takes seconds even in a release build.
        #expect(Date().timeIntervalSince(start) < 5)
    }

    @Test func elementBudget() {
        #expect(CheckpointLoader.elementBudget(fileSize: 2264) == 1 << 26)
        #expect(CheckpointLoader.elementBudget(fileSize: 10_000_000) == 160_000_000)
        // VGG-19 as float32 (548 MiB) fits, whatever the file's size beyond that.
        #expect(CheckpointLoader.elementBudget(fileSize: 575_000_000) == 1 << 30)
        #expect(CheckpointLoader.elementBudget(fileSize: Int64.max) == 1 << 30)
        #expect(CheckpointLoader.elementBudget(fileSize: -1) == 1 << 26)
    }

    @Test func readerAddressSpace() {
        // Three copies of the budget as float32 plus the headroom, above what is mapped already.
        #expect(ReaderLimits.addressSpace(fileSize: 2264, mapped: 1 << 30) == (1 << 30) + 3 * 4 * (1 << 26) + (512 << 20))
        #expect(ReaderLimits.addressSpace(fileSize: Int64.max, mapped: 0) == 3 * 4 * (1 << 30) + (512 << 20))
        #expect(ReaderLimits.addressSpace(fileSize: 0, mapped: Int.max - 1) == Int.max)
    }

    @Test("deep groups and masses of attributes are refused instead of parsed for minutes")
    func walkIsBounded() throws {
        let deep = try loadError("deep.h5")
        #expect(deep.reason.hasSuffix("': groups nested deeper than 32 levels"))
        let attributes = try loadError("many_attributes.h5")
        #expect(attributes.reason == "'/': 2000 attributes, more than camwatch reads on one object (1024)")
    }

    @Test("NaN and infinite attributes cross the process boundary")
    func nonFiniteAttributesSurviveTheReply() throws {
        let path = files.path("nan_attributes.h5")
        let reply = try CheckpointSubprocessTests.savedReply(for: path, in: files.directory)
        let loaded = try CheckpointSubprocess.load(path: path, command: CheckpointSubprocessTests.replay(reply))
        #expect(loaded.attributes["val_loss"]?.doubleValue?.isNaN == true)
        #expect(loaded.attributes["best"] == .double(.infinity))
        #expect(loaded.attributes["worst"] == .double(-.infinity))
        #expect(loaded.epoch == 3)
        #expect(loaded.tensors["conv.weight"]?.shape == [2, 3, 3, 3])
    }
}
