import CamwatchCheckpoint
import CamwatchTensor
import Foundation
import Synchronization

/// `camwatch watch` in a session of its own, so that lowering its session's CPU share (autogroup nice 19)
/// never touches the session that started it (`ComputeThreads.SessionSharePlan`).
///
/// A process cannot leave its session while it leads its process group (an interactive shell makes every
/// command the leader of a job's group), and leaving it would cut the command off from the terminal's
/// Ctrl-C anyway. So the process that was started stays where it is, as a supervisor: it starts camwatch again
/// as the leader of a new session, with the same arguments, streams and environment, passes SIGINT, SIGTERM
/// and SIGHUP on to it, and exits as it exits. The new process dies with a SIGTERM if the supervisor is killed.
enum OwnSession {
    /// Set in the new session's environment to the supervisor's pid; read (and removed) at start-up.
    static let parentVariable = "CAMWATCH_SESSION_PARENT"

    /// The pid signals are forwarded to (0 before the child runs); read in the signal handler.
    private static let child = Atomic<Int32>(0)

    /// For `watch`: runs the command in a session of its own when `priority` lowers the session's CPU share
    /// and this process does not lead its session. Returns at once when nothing is to be done, or when the
    /// new process cannot be started (the session's share is then left alone, and `lowerSessionShare` says
    /// so); otherwise never returns.
    static func enterIfNeeded(priority: ComputePriority) {
        guard ProcessInfo.processInfo.environment[parentVariable] == nil,
            ComputeThreads.sessionSharePlan(for: priority) == .startOwnSession
        else { return }
        var environment = ProcessInfo.processInfo.environment
        environment[parentVariable] = "\(getpid())"
        // The BLAS note was read (and removed from the environment) by this process; the new one logs it.
        if let note = Runtime.blasNote { environment[BLASCoreCheck.restartVariable] = note }
        let spawned = ChildProcess.spawn(
            executable: Runtime.executablePath, arguments: Array(CommandLine.arguments.dropFirst()),
            environment: environment, input: STDIN_FILENO, output: STDOUT_FILENO, error: STDERR_FILENO,
            ownGroup: false, ownSession: true)
        guard case .success(let process) = spawned else { return }
        child.store(process.pid, ordering: .sequentiallyConsistent)
        for signal in [SIGINT, SIGTERM, SIGHUP] {
            var current = sigaction()
            // `nohup` and the like ignore SIGHUP: then it is not passed on either.
            // (Handlers are C function pointers, compared by address.)
            if sigaction(signal, nil, &current) == 0,
                unsafeBitCast(current.__sigaction_handler.sa_handler, to: Int.self) == unsafeBitCast(SIG_IGN, to: Int.self)
            {
                continue
            }
            _ = Glibc.signal(signal) { received in
                let pid = OwnSession.child.load(ordering: .sequentiallyConsistent)
                if pid > 0 { _ = kill(pid, received) }
            }
        }
        var status: Int32 = 0
        guard retryingAfterInterrupts({ waitpid(process.pid, &status, 0) }) >= 0 else { exit(EXIT_FAILURE) }
        let signal = status & 0x7f
        if signal == 0 { exit((status >> 8) & 0xff) }
        // Ended by a signal: end the same way, so the shell sees what happened.
        _ = Glibc.signal(signal, SIG_DFL)
        _ = raise(signal)
        exit(128 + signal)
    }

    /// In the new session's process, first thing: forget the variable (hooks must not inherit it) and stop with
    /// a SIGTERM when the supervisor dies (a `kill -9` of it runs none of its forwarding).
    static func adoptParent() {
        guard let value = ProcessInfo.processInfo.environment[parentVariable] else { return }
        unsetenv(parentVariable)
        guard let parent = Int32(value) else { return }
        if !ComputeThreads.dieWithParent(signal: SIGTERM) || getppid() != parent { exit(EXIT_FAILURE) }
    }
}
