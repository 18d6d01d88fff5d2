import CamwatchCheckpoint
import CamwatchNN
import CamwatchTensor
import CamwatchTestSupport
import Foundation
import Testing

/// `ArchitectureError` and `KerasError` keep the file and the error underneath as values; the one-line message
/// they print is built once, from those values, and reads as it always has.
@Suite struct ArchitectureErrorTests {
    @Test func aBrokenSpecFileKeepsItsPathAndTheParsersError() throws {
        let directory = try Fixtures.temporaryDirectory("architecture-error")
        defer { try? FileManager.default.removeItem(at: directory) }
        let path = directory.appendingPathComponent("model.yaml").path
        try Data("name: broken\n\tlayers: []\n".utf8).write(to: URL(fileURLWithPath: path))
        let error = try #require(throws: ArchitectureError.self) { _ = try ArchitectureSource.readSpec(at: path) }
        #expect(error.path == path)
        let cause = try #require(error.problem.cause as? NetworkError)
        #expect(cause.message.hasPrefix("invalid model spec: "))
        #expect(error.description == "\(path): \(cause.message)")
        #expect(!error.description.contains("\n"))
    }

    @Test func aNetworkErrorKeepsAParsersErrorAndFoldsItsWords() {
        struct ParserError: Error, CustomStringConvertible {
            var description = "mapping values are not allowed\n  here"
        }
        let error = NetworkError("invalid model spec", cause: ErrorCause(ParserError()))
        #expect(error.message == "invalid model spec: mapping values are not allowed   here")
        #expect(error.description == error.message && error.cause?.error is ParserError)
        #expect(NetworkError("layer 'a' has no inputs").cause == nil)
    }

    @Test func anUnknownZooNameConcernsNoFile() throws {
        let error = try #require(throws: ArchitectureError.self) {
            _ = try ArchitectureSource.zoo("resnet19").fixedSpec()
        }
        #expect(error.path == nil && error.problem.cause == nil)
        #expect(error.description.hasPrefix("unknown architecture 'resnet19' (did you mean "))
    }

    @Test func aKerasArchiveThatCannotBeReadKeepsTheArchivesError() throws {
        let directory = try Fixtures.temporaryDirectory("architecture-error-keras")
        defer { try? FileManager.default.removeItem(at: directory) }
        // A zip's signature and nothing after it: a `.keras` file at first sight, no archive to read.
        let path = directory.appendingPathComponent("model.keras").path
        try Data([0x50, 0x4B, 0x03, 0x04, 0, 0]).write(to: URL(fileURLWithPath: path))
        let error = try #require(throws: ArchitectureError.self) { _ = try ArchitectureSource.readSpec(at: path) }
        let keras = try #require(error.problem.cause as? KerasError)
        guard case .unreadableArchive(let archive) = keras.reason else {
            Issue.record("expected the archive's own error, got \(keras.reason)")
            return
        }
        #expect(archive.path == path && archive.kind == .damaged)
        // The zip reader's own error, kept under the archive's, in parentheses after camwatch's words.
        #expect(archive.context == "not a readable zip archive" && archive.cause?.placement == .inParentheses)
        #expect(error.description == "\(path): \(archive)")
    }

    @Test func theMessagesReadAsBefore() {
        let checkpoint = "/runs/a/epoch-1.h5"
        #expect(ArchitectureError(path: checkpoint, .unreadableSpec).description
            == "/runs/a/epoch-1.h5: cannot read the model spec")
        #expect(ArchitectureError(path: checkpoint, .notRGB(channels: 1, source: "model.json")).description
            == "/runs/a/epoch-1.h5: the model takes 1 input channels; camwatch feeds RGB images (3 channels) "
            + "(architecture from model.json)")
        let keras = KerasError("layer 'memory' (LSTM) is not supported")
        #expect(ArchitectureError(path: checkpoint, .kerasModel(keras, file: "/runs/a/model.json")).description
            == "/runs/a/epoch-1.h5: layer 'memory' (LSTM) is not supported (Keras model from /runs/a/model.json)")
        let binding = NetworkError("layer 'fc' expects 10 features")
        let unbound = ArchitectureError(path: checkpoint, .unbound(binding, source: "zoo:resnet18"))
        #expect(unbound.description
            == "/runs/a/epoch-1.h5: layer 'fc' expects 10 features (architecture from zoo:resnet18)")
        #expect((unbound.problem.cause as? NetworkError)?.message == "layer 'fc' expects 10 features")
    }
}
