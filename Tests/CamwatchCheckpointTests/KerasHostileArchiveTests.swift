import CamwatchCheckpoint
import CamwatchTestSupport
import Foundation
import Testing

/// Hostile `.keras` archives (Scripts/fixtures/make_hostile_keras.py): each is one error line naming the file,
/// never a crash, a huge allocation or a file written outside camwatch's private directory.
@Suite(.serialized) struct KerasHostileArchiveTests {
    static let directory: URL? = {
        guard let url = try? Fixtures.temporaryDirectory("camwatch-keras-hostile") else { return nil }
        let process = Process()
        process.executableURL = URL(fileURLWithPath: "/usr/bin/python3")
        process.arguments = [Fixtures.packageRoot.appendingPathComponent("Scripts/fixtures/make_hostile_keras.py").path,
                             url.appendingPathComponent("out").path, Fixtures.path("keras/functional.keras")]
        guard (try? process.run()) != nil else { return nil }
        process.waitUntilExit()
        return process.terminationStatus == 0 ? url.appendingPathComponent("out") : nil
    }()

    static let cases: [(file: String, kind: CheckpointError.Kind, words: String)] = [
        ("truncated.keras", .incomplete, "zip archive without its end record"),
        ("no_config.keras", .unsupported, "without config.json"),
        ("no_weights.keras", .unsupported, "without model.weights.h5"),
        ("bomb.keras", .unsupported, "model.weights.h5 declares 268435456 bytes"),
        ("many_entries.keras", .unsupported, "more than 256 entries"),
        ("bad_layer.keras", .unsupported, "config.json: layer 'stem_conv' (LSTM) is not a layer camwatch can build"),
        ("deep_config.keras", .unsupported, "config.json: the Keras model config is not a JSON object"),
        ("garbage_weights.keras", .notHDF5, "model.weights.h5: not an HDF5 file"),
    ]

    @Test(arguments: cases.indices)
    func refusedInOneLine(_ index: Int) throws {
        let c = Self.cases[index]
        let path = try #require(Self.directory).appendingPathComponent(c.file).path
        let error = #expect(throws: CheckpointError.self) { _ = try CheckpointLoader.load(path: path) }
        #expect(error?.kind == c.kind, "\(c.file): \(error.map { "\($0)" } ?? "")")
        let line = error?.description ?? ""
        #expect(line.hasPrefix(path + ": "), "\(line)")
        #expect(line.contains(c.words), "\(line)")
        #expect(!line.contains("\n"))
    }

    @Test func entryNamesAreNeverPaths() throws {
        let out = try #require(Self.directory)
        let checkpoint = try CheckpointLoader.load(path: out.appendingPathComponent("traversal.keras").path)
        #expect(checkpoint.modelSpec != nil)
        #expect(!FileManager.default.fileExists(atPath: out.deletingLastPathComponent().appendingPathComponent("escaped.txt").path))
        #expect(!FileManager.default.fileExists(atPath: out.appendingPathComponent("escaped.txt").path))
    }

    @Test func completeArchiveIsRecognized() throws {
        let out = try #require(Self.directory)
        #expect(KerasArchive.isComplete(Fixtures.path("keras/functional.keras")))
        #expect(!KerasArchive.isComplete(out.appendingPathComponent("truncated.keras").path))
        #expect(KerasArchive.isArchive(out.appendingPathComponent("truncated.keras").path))
        #expect(!KerasArchive.isArchive(Fixtures.path("keras/functional.legacy.h5")))
    }

    @Test func directoriesOfDeadReadersAreRemoved() throws {
        // A reader child killed at its limits leaves its private copy behind; the next load removes it.
        let dead = FileManager.default.temporaryDirectory.appendingPathComponent("camwatch-keras-999999999-test")
        let alive = FileManager.default.temporaryDirectory
            .appendingPathComponent("camwatch-keras-\(ProcessInfo.processInfo.processIdentifier)-test")
        for directory in [dead, alive] { try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true) }
        defer { try? FileManager.default.removeItem(at: alive) }
        _ = try CheckpointLoader.load(path: Fixtures.path("keras/functional.keras"))
        #expect(!FileManager.default.fileExists(atPath: dead.path))
        #expect(FileManager.default.fileExists(atPath: alive.path))
    }
}
