internal import CSystemCalls
import CamwatchTensor
import Foundation
#if canImport(Glibc)
    import Glibc
#endif

/// A program camwatch runs as a child, started with `posix_spawn`: the C calls of both kinds of child in one
/// place, the checkpoint reader (`CheckpointSubprocess`) and the daemon's alert hook (`ExecHook`).
///
/// Foundation's `Process` passes on the spawning thread's signal mask and the daemon's ignored signals:
/// swift-service-lifecycle sets `SIGTERM`/`SIGINT` to `SIG_IGN` (it reads them from a dispatch source),
/// and worker threads may block nearly every signal (seen under the test runner), so a child started that
/// way could not be stopped by `SIGTERM`. This starts the program with an empty signal mask and default
/// dispositions, optionally as the leader of its own process group (so a timeout can signal its children
/// too), with the three standard streams on given descriptors and no other descriptor inherited.
///
/// What stays with each caller, because they differ: the reader waits synchronously on a thread of its own
/// with a heartbeat and collects standard output (the reply), and a timeout is `SIGKILL` at once (a looping
/// libhdf5 ignores nothing, and `SIGXCPU` is a verdict); the hook waits asynchronously and cancellably on the
/// cooperative pool, its output goes to the journal, and a timeout is `SIGTERM`, a grace period, then
/// `SIGKILL` to the group.
public struct ChildProcess: Sendable {
    /// How the program ended.
    public enum Termination: Sendable, Equatable {
        case exited(Int32)
        case signaled(Int32)
    }

    /// Why the program could not be started (`strerror` of the failing call).
    public struct SpawnFailure: Error, Sendable, CustomStringConvertible {
        public var reason: String
        public var description: String { reason }
    }

    public let pid: Int32
    /// Whether the program leads a process group of its own (signals then go to the group).
    public let ownsGroup: Bool

    /// Starts `executable` with `arguments` (argv[1...]) and exactly `environment`.
    ///
    /// - Parameters:
    ///   - input, output, error: the descriptors to use as stdin, stdout and stderr.
    ///   - ownGroup: make the program the leader of a new process group.
    ///   - ownSession: make it the leader of a new session (and so of a new process group, and of a new
    ///     scheduler autogroup where the kernel has them); it has no controlling terminal then.
    public static func spawn(
        executable: String, arguments: [String], environment: [String: String], input: Int32, output: Int32,
        error: Int32, ownGroup: Bool, ownSession: Bool = false
    ) -> Result<ChildProcess, SpawnFailure> {
        var attributes = posix_spawnattr_t()
        posix_spawnattr_init(&attributes)
        defer { posix_spawnattr_destroy(&attributes) }
        var empty = sigset_t()
        sigemptyset(&empty)
        var defaults = sigset_t()
        sigemptyset(&defaults)
        for signal in 1..<Int32(32) where signal != SIGKILL && signal != SIGSTOP {
            sigaddset(&defaults, signal)
        }
        posix_spawnattr_setsigmask(&attributes, &empty)
        posix_spawnattr_setsigdefault(&attributes, &defaults)
        var flags = POSIX_SPAWN_SETSIGMASK | POSIX_SPAWN_SETSIGDEF
        if ownSession {
            flags |= Int32(CAMWATCH_POSIX_SPAWN_SETSID)
        } else if ownGroup {
            posix_spawnattr_setpgroup(&attributes, 0)
            flags |= POSIX_SPAWN_SETPGROUP
        }
        posix_spawnattr_setflags(&attributes, Int16(flags))

        var actions = posix_spawn_file_actions_t()
        posix_spawn_file_actions_init(&actions)
        defer { posix_spawn_file_actions_destroy(&actions) }
        posix_spawn_file_actions_adddup2(&actions, input, STDIN_FILENO)
        posix_spawn_file_actions_adddup2(&actions, output, STDOUT_FILENO)
        posix_spawn_file_actions_adddup2(&actions, error, STDERR_FILENO)
        // Descriptors without close-on-exec (opened by C libraries) would leak into the program.
        let streams: Set<Int32> = [input, output, error]
        for fd in 3..<openFileLimit() where !streams.contains(fd) {
            let flags = fcntl(fd, F_GETFD)
            if flags >= 0, flags & FD_CLOEXEC == 0 { posix_spawn_file_actions_addclose(&actions, fd) }
        }

        let argv = ([executable] + arguments).map { strdup($0) }
        let envp = environment.map { strdup("\($0.key)=\($0.value)") }
        defer {
            for pointer in argv + envp { free(pointer) }
        }
        var pid = pid_t()
        var status: Int32 = 0
        // ETXTBSY: the program is still open for writing somewhere, typically a descriptor inherited by
        // another process being started at that instant, or an installer finishing; it clears quickly.
        for attempt in 0..<5 {
            if attempt > 0 { usleep(20_000) }
            status = (argv + [nil]).withUnsafeBufferPointer { argvBuffer in
                (envp + [nil]).withUnsafeBufferPointer { envpBuffer in
                    guard let argvBase = argvBuffer.baseAddress, let envpBase = envpBuffer.baseAddress else {
                        return EINVAL
                    }
                    return posix_spawn(&pid, executable, &actions, &attributes, argvBase, envpBase)
                }
            }
            if status != ETXTBSY { break }
        }
        guard status == 0 else { return .failure(SpawnFailure(reason: String(cString: strerror(status)))) }
        return .success(ChildProcess(pid: pid, ownsGroup: ownGroup || ownSession))
    }

    /// The descriptor limit, capped: the range of descriptors that may be open.
    static func openFileLimit() -> Int32 {
        var limit = rlimit()
        guard getrlimit(Int32(RLIMIT_NOFILE.rawValue), &limit) == 0 else { return 1024 }
        return Int32(min(limit.rlim_cur, 65536))
    }

    /// Reaps the program if it has ended; `nil` while it runs.
    public func poll() -> Termination? {
        var status: Int32 = 0
        let result = retryingAfterInterrupts { waitpid(pid, &status, WNOHANG) }
        if result == 0 { return nil }
        // ECHILD: someone else reaped it (SIGCHLD ignored); it has ended, how is unknown.
        guard result == pid else { return .exited(-1) }
        let signal = status & 0x7f
        return signal == 0 ? .exited((status >> 8) & 0xff) : .signaled(signal)
    }

    /// Waits on this thread until the program ends, at most `limit` (forever without one), calling `heartbeat`
    /// every `interval`; `nil` on timeout. Polls: reaping here needs no SIGCHLD handler.
    public func wait(
        within limit: Duration? = nil, heartbeat: (interval: Duration, beat: @Sendable () -> Void)? = nil
    ) -> Termination? {
        let clock = ContinuousClock()
        let deadline = limit.map { clock.now + $0 }
        var nextBeat = heartbeat.map { clock.now + $0.interval }
        while true {
            if let termination = poll() { return termination }
            let now = clock.now
            if let deadline, now >= deadline { return nil }
            if let beat = heartbeat, let due = nextBeat, now >= due {
                beat.beat()
                nextBeat = due + beat.interval
            }
            usleep(5_000)
        }
    }

    /// Sends `signal` to the program, and to its whole group when it leads one.
    public func signal(_ signal: Int32) {
        guard pid > 0 else { return }
        kill(ownsGroup ? -pid : pid, signal)
    }

    // MARK: - Descriptors for the standard streams

    /// A pipe whose ends are both close-on-exec (the spawn duplicates the child's end onto its stream).
    /// (`pipe2` is a GNU extension Swift's Glibc module leaves out; `spawn` closes any descriptor without
    /// close-on-exec in its own children, so the moment between `pipe` and `fcntl` leaks nothing into them.)
    public static func makePipe() -> Result<(read: Int32, write: Int32), SpawnFailure> {
        var ends: [Int32] = [-1, -1]
        // Close-on-exec from the start: set afterwards, a child spawned by another thread in between would
        // inherit the write end and hold our read open until it exits.
        guard camwatch_pipe_cloexec(&ends) == 0 else {
            return .failure(SpawnFailure(reason: String(cString: strerror(errno))))
        }
        return .success((ends[0], ends[1]))
    }

    /// `/dev/null`, close-on-exec, for a stream the program must not use; -1 when it cannot be opened.
    public static func nullDevice(forWriting: Bool) -> Int32 {
        open("/dev/null", (forWriting ? O_WRONLY : O_RDONLY) | O_CLOEXEC)
    }

    public static func close(_ descriptor: Int32) {
        if descriptor >= 0 { _ = Glibc.close(descriptor) }
    }

    /// Reads what is there, up to `buffer.count` bytes, into the front of `buffer`: the count, 0 at the end
    /// (or on an error other than an interruption).
    public static func read(_ descriptor: Int32, into buffer: UnsafeMutableRawBufferPointer) -> Int {
        guard buffer.count > 0 else { return 0 }
        return max(0, retryingAfterInterrupts { Glibc.read(descriptor, buffer.baseAddress, buffer.count) })
    }

    /// Reads and drops everything up to the end.
    public static func discardToEnd(_ descriptor: Int32) {
        var chunk = [UInt8](repeating: 0, count: 1 << 16)
        while chunk.withUnsafeMutableBytes({ read(descriptor, into: $0) }) > 0 {}
    }

    /// Everything readable from `descriptor` until end-of-file (or an error).
    public static func readToEnd(_ descriptor: Int32) -> [UInt8] {
        var bytes: [UInt8] = []
        var chunk = [UInt8](repeating: 0, count: 1 << 16)
        while true {
            let count = chunk.withUnsafeMutableBytes { read(descriptor, into: $0) }
            guard count > 0 else { return bytes }
            bytes += chunk[0..<count]
        }
    }

    /// A read-only descriptor (close-on-exec) on an already-unlinked temporary file holding `bytes`,
    /// positioned at the start; `/dev/null` if no temporary file can be made. As stdin it cannot block the
    /// caller, as a pipe could, nor raise SIGPIPE in it when the program exits without reading.
    public static func inputFile(_ bytes: [UInt8]) -> Int32 {
        var template = Array((FileManager.default.temporaryDirectory.path + "/camwatch-input-XXXXXX").utf8CString)
        let fd = template.withUnsafeMutableBufferPointer { buffer in
            buffer.baseAddress.map { mkstemp($0) } ?? -1
        }
        guard fd >= 0 else { return nullDevice(forWriting: false) }
        _ = fcntl(fd, F_SETFD, FD_CLOEXEC)
        template.withUnsafeBufferPointer { buffer in
            if let path = buffer.baseAddress { _ = unlink(path) }
        }
        var written = 0
        while written < bytes.count {
            let count = retryingAfterInterrupts {
                bytes.withUnsafeBytes { write(fd, $0.baseAddress.map { $0 + written }, bytes.count - written) }
            }
            guard count > 0 else { break }
            written += count
        }
        lseek(fd, 0, SEEK_SET)
        return fd
    }

    /// Whether `path` may be executed by this process (`access(X_OK)`).
    public static func isExecutable(_ path: String) -> Bool { access(path, X_OK) == 0 }
}
