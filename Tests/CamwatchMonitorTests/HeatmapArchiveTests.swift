import CamwatchCheckpoint
import CamwatchHDF5
import CamwatchMonitor
import CamwatchNN
import CamwatchSaliency
import CamwatchTensor
import CamwatchTestSupport
import Foundation
import Testing

@Suite struct HeatmapArchiveTests {
    static func heatmap(_ seed: Float, shape: [Int] = [2, 3], inputSize: [Int] = [8, 12]) -> HeatmapArchive.Heatmap {
        let count = shape.reduce(1, *)
        return HeatmapArchive.Heatmap(
            classIndex: Int(seed * 10), score: seed * 3.25, shape: shape,
            values: (0..<count).map { Float($0) / Float(count - 1) * seed }, inputSize: inputSize)
    }

    @Test func saveAndLoadRoundTripWithAwkwardIds() throws {
        let directory = try temporaryDirectory()
        defer { removeDirectory(directory) }
        var archive = HeatmapArchive()
        let ids = ["1234:1700000000.5:9981", "runs/a/last.h5#2", ".hidden", "100%", ""]
        for (index, id) in ids.enumerated() {
            archive.record(
                HeatmapArchive.Entry(
                    checkpoint: CheckpointLabel(id: id, name: "ckpt_\(index).h5"),
                    heatmaps: ["cat": Self.heatmap(0.5 + Float(index) / 10), "a/b.": Self.heatmap(1, shape: [3, 3])]))
        }
        try archive.save(directory: directory)
        #expect(try listing(directory) == ["heatmaps.h5"], "no temporary file left")

        let loaded = try HeatmapArchive.load(directory: directory)
        #expect(loaded == archive)
        #expect(loaded.entries.map(\.checkpoint.id) == ids, "processing order kept")
        #expect(loaded.entry(id: "100%")?.heatmaps["a/b."]?.shape == [3, 3])
    }

    @Test func recordReplacesByIdAndSavingAgainExtends() throws {
        let directory = try temporaryDirectory()
        defer { removeDirectory(directory) }
        var archive = HeatmapArchive()
        archive.record(.init(checkpoint: label(0), heatmaps: ["cat": Self.heatmap(0.5)]))
        try archive.save(directory: directory)

        var resumed = try HeatmapArchive.load(directory: directory)
        resumed.record(.init(checkpoint: label(1), heatmaps: ["cat": Self.heatmap(0.7)]))
        resumed.record(.init(checkpoint: label(0), heatmaps: ["cat": Self.heatmap(0.9)]))
        try resumed.save(directory: directory)
        let reread = try HeatmapArchive.load(directory: directory)
        #expect(reread.entries.map(\.checkpoint) == [label(0), label(1)])
        #expect(reread.entry(id: "id-0")?.heatmaps["cat"] == Self.heatmap(0.9))
        #expect(try listing(directory) == ["heatmaps.h5"])
    }

    /// With a ledger, a save adds the new checkpoints to a copy of the file instead of writing it anew —
    /// the marker attribute put into the file between saves survives — and what is read back is the archive,
    /// in order, through appends, a replaced entry (a full rewrite) and a vanished file.
    @Test func ledgerAppendsOnlyTheNewCheckpoints() throws {
        let directory = try temporaryDirectory()
        defer { removeDirectory(directory) }
        let path = HeatmapArchive.path(in: directory)
        func mark() throws {
            let file = try HDF5File.openForAppending(path)
            try file.setAttribute("marker", to: .int(7))
            try file.close()
        }
        func marked() throws -> Bool { try HDF5File.open(path).attribute("marker") != nil }

        let ledger = HeatmapArchive.Ledger()
        var archive = HeatmapArchive()
        archive.record(.init(checkpoint: label(0), heatmaps: ["cat": Self.heatmap(0.5), "dog": Self.heatmap(0.6)]))
        try archive.save(directory: directory, ledger: ledger)
        try mark()
        for n in 1...4 {
            archive.record(.init(checkpoint: label(n), heatmaps: ["cat": Self.heatmap(Float(n) / 5)]))
            try archive.save(directory: directory, ledger: ledger)
            #expect(try marked(), "checkpoint \(n) was added to the file, not written anew")
            #expect(try HeatmapArchive.load(directory: directory) == archive)
        }
        #expect(try listing(directory) == ["heatmaps.h5"], "no temporary file left")

        archive.record(.init(checkpoint: label(2), heatmaps: ["cat": Self.heatmap(0.99)]))
        try archive.save(directory: directory, ledger: ledger)
        #expect(try !marked(), "a replaced entry rewrites the file")
        #expect(try HeatmapArchive.load(directory: directory) == archive)

        try FileManager.default.removeItem(atPath: path)
        archive.record(.init(checkpoint: label(5), heatmaps: ["cat": Self.heatmap(0.3)]))
        try archive.save(directory: directory, ledger: ledger)
        #expect(try HeatmapArchive.load(directory: directory) == archive, "a vanished file is written whole")
        #expect(try HeatmapArchive.load(directory: directory).entries.map(\.checkpoint) == (0...5).map(label))
    }

    /// Archives written by camwatch before schema 2 (order in a root `@checkpoint_ids`) still load.
    @Test func schemaVersion1StillLoads() throws {
        let directory = try temporaryDirectory()
        defer { removeDirectory(directory) }
        let file = try HDF5File.create(HeatmapArchive.path(in: directory))
        try file.setAttribute("schema_version", to: .int(1))
        try file.setAttribute("checkpoint_ids", to: .strings(["b", "a"]))
        for (id, seed) in [("a", Float(0.25)), ("b", Float(0.75))] {
            let heatmap = Self.heatmap(seed)
            try file.createGroup(id)
            try file.setAttribute("id", to: .string(id), at: id)
            try file.setAttribute("name", to: .string("\(id).h5"), at: id)
            try file.write(heatmap.values, shape: heatmap.shape, to: "\(id)/cat")
            try file.setAttribute("probe", to: .string("cat"), at: "\(id)/cat")
            try file.setAttribute("class", to: .int(heatmap.classIndex), at: "\(id)/cat")
            try file.setAttribute("score", to: .double(Double(heatmap.score)), at: "\(id)/cat")
            try file.setAttribute("input_size", to: .ints(heatmap.inputSize), at: "\(id)/cat")
        }
        try file.close()
        let loaded = try HeatmapArchive.load(directory: directory)
        #expect(loaded.entries.map(\.checkpoint.id) == ["b", "a"])
        #expect(loaded.entry(id: "a")?.heatmaps["cat"] == Self.heatmap(0.25))
    }

    @Test func missingArchiveIsEmpty() throws {
        let directory = try temporaryDirectory()
        defer { removeDirectory(directory) }
        #expect(try HeatmapArchive.load(directory: directory) == HeatmapArchive())
        try HeatmapArchive().save(directory: directory)
        #expect(try HeatmapArchive.load(directory: directory).entries.isEmpty)
    }

    @Test func corruptArchiveIsAnErrorAndSetAsideOnOpen() throws {
        let directory = try temporaryDirectory()
        defer { removeDirectory(directory) }
        let path = HeatmapArchive.path(in: directory)
        let junk = Data("this is not HDF5".utf8)
        #expect(FileManager.default.createFile(atPath: path, contents: junk))
        #expect {
            try HeatmapArchive.load(directory: directory)
        } throws: { error in
            guard let error = error as? MonitorError else { return false }
            return error.kind == .corrupt && error.description.hasPrefix(path + ": ")
        }
        let (archive, recovery) = try HeatmapArchive.open(directory: directory, now: 0)
        #expect(archive.entries.isEmpty)
        #expect(recovery?.setAsidePath == path + ".corrupt-19700101T000000Z")
        #expect(FileManager.default.contents(atPath: path + ".corrupt-19700101T000000Z") == junk)
    }

    @Test func archiveWithMissingGroupIsCorrupt() throws {
        let directory = try temporaryDirectory()
        defer { removeDirectory(directory) }
        let path = HeatmapArchive.path(in: directory)
        let file = try HDF5File.create(path)
        try file.setAttribute("schema_version", to: .int(1))
        try file.setAttribute("checkpoint_ids", to: .strings(["gone"]))
        try file.close()
        #expect {
            try HeatmapArchive.load(directory: directory)
        } throws: { error in
            (error as? MonitorError)?.description == "\(path): checkpoint 'gone' has no group 'gone'"
        }
    }

    /// Archived low-resolution maps give back Score-CAM's heatmaps bit for bit, so drift recomputed after
    /// a restart equals the drift computed live.
    @Test(arguments: ["residual_layer2", "depthwise_head_act"])
    func upsampledLowResolutionReproducesScoreCAM(name: String) throws {
        let file = try HDF5File.open(Fixtures.path("scorecam/\(name).h5"))
        let attributes = try file.attributes(at: "/")
        let checkpoint = try CheckpointLoader.load(
            path: Fixtures.path(try #require(attributes["weights"]?.stringValue)))
        let network = try Network(
            spec: try ModelSpec.parse(try #require(checkpoint.modelSpec)), parameters: checkpoint.tensors)
        let x = try file.readFloats(at: "input")
        let input = Tensor(shape: x.shape, scalars: x.values)
        let scoreCAM = try ScoreCAM(
            network: network, targetLayer: try #require(attributes["target_layer"]?.stringValue))
        let first = try scoreCAM.explain(input)
        let second = try scoreCAM.explain(input, classIndex: (first.classIndex + 1) % 3)

        let directory = try temporaryDirectory()
        defer { removeDirectory(directory) }
        var archive = HeatmapArchive()
        archive.record(.init(checkpoint: label(0), heatmaps: ["p": .init(first)]))
        archive.record(.init(checkpoint: label(1), heatmaps: ["p": .init(second)]))
        try archive.save(directory: directory)
        let loaded = try HeatmapArchive.load(directory: directory)

        let a = try #require(loaded.entry(id: "id-0")?.heatmaps["p"])
        let b = try #require(loaded.entry(id: "id-1")?.heatmaps["p"])
        #expect(a.shape == first.lowResolution.shape)
        #expect(a.inputSize == [first.height, first.width])
        #expect(a.classIndex == first.classIndex && a.score == first.score)
        #expect(a.upsampled() == first.values)
        #expect(b.upsampled() == second.values)
        let live = try DriftMetrics(previous: first.values, current: second.values)
        #expect(try DriftMetrics(previous: a.upsampled(), current: b.upsampled()) == live)
        #expect(live.drift > 0)
    }
}
