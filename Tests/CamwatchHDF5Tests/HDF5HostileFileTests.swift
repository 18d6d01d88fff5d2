import CamwatchHDF5
import CamwatchTestSupport
import Foundation
import Testing

/// The libhdf5 wrapper itself never reaches outside the file it reads, whichever call is used: the checks
/// sit where datasets are described and groups are listed, not only in the checkpoint loader.
@Suite struct HDF5HostileFileTests {
    let files: HostileCheckpoints

    init() throws { files = try HostileCheckpoints() }

    func readError(_ name: String, _ dataset: String) throws -> HDF5Error {
        let file = try HDF5File.open(files.path(name))
        let error = try #require(throws: HDF5Error.self) { try file.readFloats(at: dataset) }
        #expect(!error.description.contains("SECRETTOKEN"))
        return error
    }

    @Test("external raw storage and virtual datasets are refused by readFloats and datasetInfo")
    func externalDataIsNeverRead() throws {
        let external = try readError("external_storage.h5", "fc.bias")
        #expect(
            external.reason
                == "'fc.bias': raw data stored in 1 external file(s) refused: a checkpoint must hold its own data")
        let virtual = try readError("virtual.h5", "fc.bias")
        #expect(
            virtual.reason
                == "'fc.bias': virtual dataset (data mapped from other files) refused: a checkpoint must hold its own data")
        let file = try HDF5File.open(files.path("external_storage.h5"))
        #expect(throws: HDF5Error.self) { try file.datasetInfo(at: "fc.bias") }
        #expect(throws: HDF5Error.self) { try file.readIntegers(at: "fc.bias") }
    }

    @Test("an external link is listed as such, refused by the walk and never traversed")
    func externalLinksAreNeverFollowed() throws {
        let file = try HDF5File.open(files.path("external_link.h5"))
        #expect(
            try file.members(ofGroup: "/") == [
                HDF5Member(name: "conv.weight", kind: .dataset), HDF5Member(name: "fc.bias", kind: .externalLink),
            ])
        let walk = try #require(throws: HDF5Error.self) { try file.datasetPaths() }
        #expect(walk.object == "fc.bias")
        // libhdf5 cannot traverse it even when asked by name: the link class is unregistered.
        let read = try readError("external_link.h5", "fc.bias")
        #expect(read.reason == "'fc.bias': no such dataset")
        #expect(try file.kind(of: "fc.bias") == nil)
    }

    @Test("a group of 70,000 links is refused in seconds, not listed for minutes")
    func linksAreBounded() throws {
        let path = files.directory.appendingPathComponent("links.h5").path
        let script = """
            import sys, h5py, numpy as np
            with h5py.File(sys.argv[1], "w") as f:
                f["w"] = np.ones(3, dtype=np.float32)
                g = f.create_group("g")
                for i in range(70000):
                    g[f"l{i:05d}"] = h5py.SoftLink("/w")
            """
        let process = Process()
        process.executableURL = URL(fileURLWithPath: "/usr/bin/python3")
        process.arguments = ["-c", script, path]
        try process.run()
        process.waitUntilExit()
        try #require(process.terminationStatus == 0)
        let file = try HDF5File.open(path)
        let start = Date()
        let error = try #require(throws: HDF5Error.self) { try file.datasetPaths() }
        #expect(error.reason == "'g': group holds 70000 links, more than camwatch lists in one file (65536)")
        #expect(throws: HDF5Error.self) { try file.members(ofGroup: "g") }
        #expect(Date().timeIntervalSince(start) < 5)
    }

    @Test func walkAndAttributesAreBounded() throws {
        let deep = try HDF5File.open(files.path("deep.h5"))
        #expect(throws: HDF5Error.self) { try deep.datasetPaths() }
        let many = try HDF5File.open(files.path("many_attributes.h5"))
        let error = try #require(throws: HDF5Error.self) { try many.attributes() }
        #expect(error.reason == "'/': 2000 attributes, more than camwatch reads on one object (1024)")
        // One attribute by name is still one lookup.
        #expect(try many.attribute("note_1999") == .int(1999))
    }
}
