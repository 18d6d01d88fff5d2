@testable import CamwatchCheckpoint
import CamwatchTensor
import CamwatchTestSupport
import Foundation
import Testing

/// The child-process loader: replies travel intact, and a child that crashes, hangs or talks nonsense becomes a
/// `CheckpointError` in the parent. (The real child is a `camwatch` subcommand calling `serve()`; here
/// `/bin/sh` plays it, replaying a reply made by `serve(environment:write:)`.)
@Suite struct CheckpointSubprocessTests {
    static let good = Fixtures.path("checkpoints/tiny_flat.h5")

    /// The reply `serve()` would write for `path`, saved to a file in `directory`.
    static func savedReply(for path: String, in directory: URL, allowNonFinite: Bool = false) throws -> String {
        let request = CheckpointSubprocess.Request(path: path, format: nil, allowNonFinite: allowNonFinite)
        let json = String(decoding: try JSONEncoder().encode(request), as: UTF8.self)
        var reply: [UInt8] = []
        let status = CheckpointSubprocess.serve(environment: [CheckpointSubprocess.requestVariable: json]) {
            reply = $0
        }
        #expect(status == 0)
        let file = directory.appendingPathComponent("reply-\(UUID().uuidString).bin").path
        try Data(reply).write(to: URL(fileURLWithPath: file))
        return file
    }

    static func replay(_ file: String) -> [String] { ["/bin/sh", "-c", "exec cat \"$0\"", file] }

    @Test func checkpointCrossesTheProcessBoundaryIntact() throws {
        let directory = try Fixtures.temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: directory) }
        let direct = try CheckpointLoader.load(path: Self.good)
        let reply = try Self.savedReply(for: Self.good, in: directory)
        let loaded = try CheckpointSubprocess.load(path: Self.good, command: Self.replay(reply))
        #expect(loaded.path == Self.good)
        #expect(loaded.format == direct.format)
        #expect(loaded.tensors == direct.tensors)
        #expect(loaded.attributes == direct.attributes)
        #expect(loaded.storedTypes == direct.storedTypes)
        #expect(loaded.skipped == direct.skipped)
        #expect(loaded.epoch == 7)
    }

    @Test func childErrorsArriveUnchanged() throws {
        let directory = try Fixtures.temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: directory) }
        let truncated = directory.appendingPathComponent("cut.h5").path
        try Data(try Data(contentsOf: URL(fileURLWithPath: Self.good)).prefix(5000)).write(
            to: URL(fileURLWithPath: truncated))
        let direct = try #require(throws: CheckpointError.self) { try CheckpointLoader.load(path: truncated) }
        let reply = try Self.savedReply(for: truncated, in: directory)
        let error = try #require(throws: CheckpointError.self) {
            try CheckpointSubprocess.load(path: truncated, command: Self.replay(reply))
        }
        #expect(error == direct)
        #expect(error.kind == .truncated)
    }

    @Test func crashingChildIsADamagedFile() throws {
        let start = Date()
        let error = try #require(throws: CheckpointError.self) {
            try CheckpointSubprocess.load(path: "/data/ckpt.h5", command: ["/bin/sh", "-c", "kill -SEGV $$"])
        }
        #expect(error.kind == .damaged)
        #expect(
            error.description
                == "/data/ckpt.h5: the checkpoint reader crashed (signal 11): libhdf5 cannot parse this damaged file")
        #expect(Date().timeIntervalSince(start) < 10)
    }

    @Test func hangingChildIsKilled() throws {
        let start = Date()
        let error = try #require(throws: CheckpointError.self) {
            try CheckpointSubprocess.load(
                path: "/data/ckpt.h5", command: ["/bin/sleep", "30"], timeout: .milliseconds(500))
        }
        #expect(error.kind == .damaged)
        #expect(error.reason == "reading the file did not finish within 0.5 s (libhdf5 loops on some damaged files)")
        #expect(Date().timeIntervalSince(start) < 10)
    }

    @Test func nonsenseAndFailures() throws {
        let nonsense = try #require(throws: CheckpointError.self) {
            try CheckpointSubprocess.load(path: "/x.h5", command: ["/bin/echo", "hello"])
        }
        #expect(nonsense.reason == "unreadable reply from the checkpoint reader process (no header)")
        let failing = try #require(throws: CheckpointError.self) {
            try CheckpointSubprocess.load(path: "/x.h5", command: ["/bin/sh", "-c", "exit 3"])
        }
        #expect(failing.reason == "the checkpoint reader process failed (exit status 3)")
        let missing = try #require(throws: CheckpointError.self) {
            try CheckpointSubprocess.load(path: "/x.h5", command: ["/nonexistent/reader"])
        }
        #expect(missing.kind == .unreadable)
        #expect(missing.reason.hasPrefix("cannot start the checkpoint reader process /nonexistent/reader: "))
    }

    @Test func requestTravelsInTheEnvironment() throws {
        let directory = try Fixtures.temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: directory) }
        let captured = directory.appendingPathComponent("request.json").path
        let command = ["/bin/sh", "-c", "printf '%s' \"$CAMWATCH_CHECKPOINT_REQUEST\" > \"$0\"", captured]
        #expect(throws: CheckpointError.self) {
            try CheckpointSubprocess.load(
                path: "/runs/a b.h5", command: command, format: "pytorch-state-dict", allowNonFinite: true)
        }
        let request = try JSONDecoder().decode(
            CheckpointSubprocess.Request.self, from: try Data(contentsOf: URL(fileURLWithPath: captured)))
        #expect(request.path == "/runs/a b.h5")
        #expect(request.format == "pytorch-state-dict")
        #expect(request.allowNonFinite)
        #expect(
            CheckpointSubprocess.serve(environment: [:]) { _ in Issue.record("wrote a reply without a request") } == 2)
    }

    @Test func truncatedRepliesAreRejected() throws {
        let directory = try Fixtures.temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: directory) }
        let reply = [UInt8](
            try Data(contentsOf: URL(fileURLWithPath: try Self.savedReply(for: Self.good, in: directory))))
        for length in [10, reply.count / 2, reply.count - 1] {
            #expect(throws: CheckpointError.self) {
                try CheckpointSubprocess.decodeReply(Array(reply.prefix(length)), path: Self.good)
            }
        }
        #expect(try CheckpointSubprocess.decodeReply(reply, path: Self.good).tensors.count == 10)
    }
}
