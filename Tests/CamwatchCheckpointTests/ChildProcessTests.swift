import CamwatchCheckpoint
import Foundation
import Synchronization
import Glibc
import Testing

/// The shared child-process runner: what the reader and the alert hook both rely on.
@Suite struct ChildProcessTests {
    /// Runs `/bin/sh -c script` and returns its standard output and how it ended.
    static func run(_ script: String, ownGroup: Bool = false) throws -> (output: String, pid: Int32, ended: ChildProcess.Termination?) {
        let pipe = try ChildProcess.makePipe().get()
        defer { ChildProcess.close(pipe.read) }
        let null = ChildProcess.nullDevice(forWriting: false)
        defer { ChildProcess.close(null) }
        let started = ChildProcess.spawn(
            executable: "/bin/sh", arguments: ["-c", script], environment: ["PATH": "/usr/bin:/bin"], input: null,
            output: pipe.write, error: pipe.write, ownGroup: ownGroup)
        ChildProcess.close(pipe.write)
        let child = try started.get()
        let output = ChildProcess.readToEnd(pipe.read)
        return (String(decoding: output, as: UTF8.self), child.pid, child.wait(within: .seconds(10)))
    }

    @Test("the program starts with no blocked signal, even when the spawning thread blocks some")
    func emptySignalMask() throws {
        var blocked = sigset_t()
        sigemptyset(&blocked)
        sigaddset(&blocked, SIGTERM)
        sigaddset(&blocked, SIGUSR1)
        var previous = sigset_t()
        pthread_sigmask(SIG_BLOCK, &blocked, &previous)
        defer { pthread_sigmask(SIG_SETMASK, &previous, nil) }
        // `exec`, and the program's own status: dash blocks every signal around a fork, so a forked grep reading
        // the shell's status (`/proc/$$`) can catch that moment (seen once in a parallel run).
        let (output, _, ended) = try Self.run("exec grep '^SigBlk' /proc/self/status")
        #expect(output == "SigBlk:\t0000000000000000\n")
        #expect(ended == .exited(0))
    }

    @Test("both ends of a child's pipe are close-on-exec from the start")
    func pipeEndsAreCloseOnExec() throws {
        let pipe = try ChildProcess.makePipe().get()
        defer {
            ChildProcess.close(pipe.read)
            ChildProcess.close(pipe.write)
        }
        #expect(fcntl(pipe.read, F_GETFD) & FD_CLOEXEC != 0)
        #expect(fcntl(pipe.write, F_GETFD) & FD_CLOEXEC != 0)
    }

    @Test("a program of its own group leads it; otherwise it shares ours")
    func processGroup() throws {
        let own = try Self.run("cut -d' ' -f5 /proc/$$/stat", ownGroup: true)
        #expect(own.output == "\(own.pid)\n")
        let shared = try Self.run("cut -d' ' -f5 /proc/$$/stat", ownGroup: false)
        #expect(shared.output == "\(getpgrp())\n")
    }

    @Test("a descriptor this process left without close-on-exec does not reach the program")
    func noStrayDescriptors() throws {
        let stray: Int32 = 200
        let fd = open("/dev/null", O_RDONLY)
        #expect(dup2(fd, stray) == stray)
        close(fd)
        defer { close(stray) }
        let (output, _, _) = try Self.run("ls /proc/$$/fd")
        let descriptors = output.split(separator: "\n").map(String.init)
        #expect(descriptors.contains("0") && descriptors.contains("1") && descriptors.contains("2"))
        #expect(!descriptors.contains("\(stray)"), "\(descriptors)")
    }

    @Test("wait gives up at its limit, beating meanwhile; the signal then ends the program")
    func timeoutAndSignal() throws {
        let null = ChildProcess.nullDevice(forWriting: true)
        defer { ChildProcess.close(null) }
        let child = try ChildProcess.spawn(
            executable: "/bin/sleep", arguments: ["30"], environment: [:], input: null, output: null, error: null,
            ownGroup: true
        ).get()
        let beats = Atomic(0)
        #expect(child.wait(within: .milliseconds(300), heartbeat: (.milliseconds(50), { beats.add(1, ordering: .relaxed) })) == nil)
        #expect((3...7).contains(beats.load(ordering: .relaxed)))
        child.signal(SIGKILL)
        #expect(child.wait(within: .seconds(5)) == .signaled(SIGKILL))
    }

    @Test func aMissingProgramIsASpawnFailure() {
        let result = ChildProcess.spawn(
            executable: "/nonexistent/program", arguments: [], environment: [:], input: 0, output: 1, error: 2,
            ownGroup: false)
        guard case .failure(let failure) = result else {
            Issue.record("started")
            return
        }
        #expect(failure.reason == "No such file or directory")
    }

    @Test("the input file holds the bytes from the start, and its name is already gone")
    func inputFile() throws {
        let fd = ChildProcess.inputFile(Array("{\"event\":\"stable\"}".utf8))
        defer { ChildProcess.close(fd) }
        #expect(ChildProcess.readToEnd(fd) == Array("{\"event\":\"stable\"}".utf8))
        let link = try FileManager.default.destinationOfSymbolicLink(atPath: "/proc/self/fd/\(fd)")
        #expect(link.hasSuffix("(deleted)"), "\(link)")
    }
}
