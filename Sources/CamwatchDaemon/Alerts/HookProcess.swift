import Glibc

/// A hook program started with `posix_spawn`, the C calls of `ExecHook` in one place.
///
/// Foundation's `Process` passes on the spawning thread's signal mask and the daemon's ignored signals:
/// swift-service-lifecycle sets `SIGTERM`/`SIGINT` to `SIG_IGN` (it reads them from a dispatch source),
/// and worker threads may block nearly every signal (seen under the test runner), so a hook started that
/// way could not be stopped by `SIGTERM`. This starts the program with an empty signal mask and default dispositions, as the leader
/// of its own process group (so a timeout can signal its children too), stdin from a given descriptor and
/// stdout onto the daemon's stderr.
struct HookProcess {
    /// How the program ended.
    enum Termination: Equatable {
        case exited(Int32)
        case signaled(Int32)
    }

    let pid: pid_t

    /// Starts `executable` with `arguments` (argv[1...]) and exactly `environment`.
    ///
    /// - Parameter input: the descriptor to use as stdin.
    /// - Returns: the process, or why it could not start (`strerror` of the failing call).
    static func spawn(
        executable: String, arguments: [String], environment: [String: String], input: Int32
    ) -> Result<HookProcess, SpawnFailure> {
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
        posix_spawnattr_setpgroup(&attributes, 0)
        posix_spawnattr_setflags(
            &attributes, Int16(POSIX_SPAWN_SETSIGMASK | POSIX_SPAWN_SETSIGDEF | POSIX_SPAWN_SETPGROUP))

        var actions = posix_spawn_file_actions_t()
        posix_spawn_file_actions_init(&actions)
        defer { posix_spawn_file_actions_destroy(&actions) }
        posix_spawn_file_actions_adddup2(&actions, input, STDIN_FILENO)
        posix_spawn_file_actions_adddup2(&actions, STDERR_FILENO, STDOUT_FILENO)
        // Descriptors without close-on-exec (opened by C libraries) would leak into the hook.
        for fd in 3..<openFileLimit() where fd != input {
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
        return .success(HookProcess(pid: pid))
    }

    /// The descriptor limit, capped: the range of descriptors that may be open.
    static func openFileLimit() -> Int32 {
        var limit = rlimit()
        guard getrlimit(Int32(RLIMIT_NOFILE.rawValue), &limit) == 0 else { return 1024 }
        return Int32(min(limit.rlim_cur, 65536))
    }

    struct SpawnFailure: Error {
        var reason: String
    }

    /// Reaps the program if it has ended; `nil` while it runs.
    func poll() -> Termination? {
        var status: Int32 = 0
        while true {
            let result = waitpid(pid, &status, WNOHANG)
            if result == 0 { return nil }
            if result == pid { break }
            if errno == EINTR { continue }
            // ECHILD: someone else reaped it (SIGCHLD ignored); it has ended, how is unknown.
            return .exited(-1)
        }
        let signal = status & 0x7f
        return signal == 0 ? .exited((status >> 8) & 0xff) : .signaled(signal)
    }

    /// Sends `signal` to the program's process group (itself and whatever it started).
    func signalGroup(_ signal: Int32) {
        guard pid > 0 else { return }
        kill(-pid, signal)
    }
}
