@testable import CamwatchCheckpoint
import CamwatchTensor
import CamwatchTestSupport
import Foundation
import Synchronization
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
        // The reply comes in pieces: the header, then one tensor at a time.
        let status = CheckpointSubprocess.serve(environment: [CheckpointSubprocess.requestVariable: json]) {
            reply += $0
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

    @Test("a crashed, killed or hung reader is a failure of the reader, not a verdict on the file")
    func readerFailuresAreTransient() throws {
        let start = Date()
        let crashed = try #require(throws: CheckpointError.self) {
            try CheckpointSubprocess.load(path: "/data/ckpt.h5", command: ["/bin/sh", "-c", "kill -SEGV $$"])
        }
        #expect(crashed.kind == .readerFailed)
        #expect(crashed.isTransient)
        #expect(
            crashed.description
                == "/data/ckpt.h5: the checkpoint reader crashed (signal 11, SIGSEGV; libhdf5 crashes on some damaged files)")
        let killed = try #require(throws: CheckpointError.self) {
            try CheckpointSubprocess.load(path: "/data/ckpt.h5", command: ["/bin/sh", "-c", "kill -9 $$"])
        }
        #expect(killed.kind == .readerFailed)
        #expect(killed.reason == "the checkpoint reader was killed (signal 9, SIGKILL: out of memory, or killed from outside)")
        #expect(Date().timeIntervalSince(start) < 10)
    }

    @Test("a reader that used up its CPU time was looping: that is a verdict on the file")
    func cpuLimitIsADamagedFile() throws {
        let error = try #require(throws: CheckpointError.self) {
            // A child that spins past its CPU limit, as `ReaderLimits` sets it (the test process blocks SIGXCPU,
            // and a spawned child inherits that; the real child unblocks it as this one does).
            let spin = """
                import resource, signal
                signal.pthread_sigmask(signal.SIG_UNBLOCK, [signal.SIGXCPU])
                resource.setrlimit(resource.RLIMIT_CPU, (1, 3))
                while True: pass
                """
            return try CheckpointSubprocess.load(path: "/data/ckpt.h5", command: ["/usr/bin/python3", "-c", spin])
        }
        #expect(error.kind == .damaged)
        #expect(!error.isTransient)
        #expect(error.reason == "reading the file used up the reader's 120 CPU seconds (libhdf5 loops on some damaged files)")
    }

    @Test func hangingChildIsKilled() throws {
        let start = Date()
        let error = try #require(throws: CheckpointError.self) {
            try CheckpointSubprocess.load(
                path: "/data/ckpt.h5", command: ["/bin/sleep", "30"], timeout: .milliseconds(500))
        }
        #expect(error.kind == .readerFailed)
        #expect(
            error.reason
                == "reading the file did not finish within 0.5 s (a busy machine starving the reader, or libhdf5 "
                + "looping on a damaged file)")
        #expect(Date().timeIntervalSince(start) < 10)
    }

    @Test("the caller hears a heartbeat while the reader runs (systemd's watchdog is shorter than the timeout)")
    func heartbeatWhileWaiting() throws {
        let beats = Mutex(0)
        #expect(throws: CheckpointError.self) {
            try CheckpointSubprocess.load(
                path: "/x.h5", command: ["/bin/sleep", "1"], heartbeatInterval: .milliseconds(100)
            ) { beats.withLock { $0 += 1 } }
        }
        #expect((5...11).contains(beats.withLock { $0 }))
    }

    /// The open file descriptors of this process.
    static func openDescriptors() throws -> Int {
        try FileManager.default.contentsOfDirectory(atPath: "/proc/self/fd").count
    }

    @Test("no file descriptor is left behind per checkpoint, loaded or failed")
    func noDescriptorLeaks() throws {
        let directory = try Fixtures.temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: directory) }
        let reply = try Self.savedReply(for: Self.good, in: directory)
        // Warm up: Foundation opens a few descriptors of its own on the first child.
        _ = try CheckpointSubprocess.load(path: Self.good, command: Self.replay(reply))
        let before = try Self.openDescriptors()
        for _ in 0..<50 {
            _ = try CheckpointSubprocess.load(path: Self.good, command: Self.replay(reply))
        }
        for command in [["/bin/sh", "-c", "kill -9 $$"], ["/bin/sh", "-c", "exit 3"], ["/nonexistent/reader"]] {
            for _ in 0..<5 {
                #expect(throws: CheckpointError.self) { try CheckpointSubprocess.load(path: Self.good, command: command) }
            }
        }
        let after = try Self.openDescriptors()
        // The count is the whole process's, and tests running in parallel open and close files of their own:
        // allow some (the in-process pipeline tests hold copies and reports open; 19 were seen once). A leak costs
        // at least one descriptor per load (+65 here; +60 before the fix), twice this bound.
        #expect(abs(after - before) <= 32, "\(before) descriptors before 65 loads, \(after) after")
    }

    @Test("the real reader child limits its own address space and CPU time before it opens the file")
    func childLimitsItself() throws {
        let binary = CommandRunner.binary.path
        guard FileManager.default.isExecutableFile(atPath: binary) else {
            Issue.record("\(binary) is not built (swift build --build-tests builds it)")
            return
        }
        let directory = try Fixtures.temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: directory) }
        // A FIFO nobody writes: the child blocks opening it, so its limits can be read meanwhile.
        let fifo = directory.appendingPathComponent("blocked.h5").path
        #expect(mkfifo(fifo, 0o600) == 0)
        let request = CheckpointSubprocess.Request(path: fifo, format: nil, allowNonFinite: false)
        let process = Process()
        process.executableURL = URL(fileURLWithPath: binary)
        process.arguments = ["load-checkpoint-child"]
        process.environment = ProcessInfo.processInfo.environment.merging([
            CheckpointSubprocess.requestVariable: String(decoding: try JSONEncoder().encode(request), as: UTF8.self)
        ]) { $1 }
        process.standardOutput = FileHandle.nullDevice
        try process.run()
        defer {
            // SIGKILL: the child inherits this process's blocked SIGTERM.
            kill(process.processIdentifier, SIGKILL)
            process.waitUntilExit()
        }
        var limits = ""
        for _ in 0..<100 where !limits.contains("Max cpu time              120") {
            Thread.sleep(forTimeInterval: 0.1)
            limits = (try? String(contentsOfFile: "/proc/\(process.processIdentifier)/limits", encoding: .utf8)) ?? ""
        }
        let cpu = limits.split(separator: "\n").first { $0.hasPrefix("Max cpu time") }.map(String.init) ?? ""
        #expect(cpu.split(separator: " ", omittingEmptySubsequences: true).dropFirst(3).prefix(2) == ["120", "125"])
        let space = limits.split(separator: "\n").first { $0.hasPrefix("Max address space") }.map(String.init) ?? ""
        let bytes = space.split(separator: " ", omittingEmptySubsequences: true).dropFirst(3).first.flatMap { Int($0) }
        // The FIFO has no size: the smallest budget, 2^26 floats three times over plus the headroom, above
        // what the child had mapped.
        #expect(bytes.map { $0 > 3 * 4 * (1 << 26) + (512 << 20) && $0 < 64 << 30 } == true, "\(space)")
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
        #expect(missing.kind == .readerFailed)
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

    /// The reply is decoded as it arrives from the pipe: a reply with bytes past its last tensor, or whose
    /// header claims more numbers than the reader ever sends (2^40 here), is refused without allocating what
    /// it claims, and the child, still writing, is drained to the end rather than left blocked on the pipe.
    @Test func damagedRepliesFromThePipeAreRefusedAndDrained() throws {
        let directory = try Fixtures.temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: directory) }
        let good = try Data(contentsOf: URL(fileURLWithPath: try Self.savedReply(for: Self.good, in: directory)))
        let trailing = directory.appendingPathComponent("trailing.bin")
        try (good + Data([0])).write(to: trailing)
        let header = Array((#"{"format":"pytorch-state-dict","tensors":[{"name":"w","shape":[1048576,1048576]}],"#
            + #""storedTypes":{},"attributes":{},"skipped":{}}"#).utf8)
        var length = UInt64(header.count).littleEndian
        let huge = directory.appendingPathComponent("huge.bin")
        // 4 MiB after the header: more than a pipe holds, so the writer blocks unless the reader drains it.
        try Data(CheckpointSubprocess.magic + withUnsafeBytes(of: &length) { Array($0) } + header
            + [UInt8](repeating: 1, count: 4 << 20)).write(to: huge)
        for (file, reason) in [(trailing, "trailing bytes"), (huge, "beyond the reader's limit")] {
            let error = try #require(throws: CheckpointError.self) {
                try CheckpointSubprocess.load(path: Self.good, command: Self.replay(file.path), timeout: .seconds(60))
            }
            #expect(error.kind == .readerFailed)
            #expect(error.reason.contains(reason), "\(error)")
        }
    }
}
