#if canImport(Glibc)
    import Glibc
#elseif canImport(Darwin)
    import Darwin
#endif

/// The result of `call`, made again for as long as it fails with `EINTR`.
///
/// A signal that arrives during a blocking system call (SIGHUP reloading the configuration, SIGCHLD of a reader
/// child, a profiler's timer) makes it fail with `EINTR` without having done anything: the call is simply made
/// again. Any other result, success or failure, is returned as it is, with `errno` as the call left it.
/// - Parameter call: a system call (or a few lines around one) that returns a negative value on failure.
public func retryingAfterInterrupts<Result: SignedInteger>(_ call: () -> Result) -> Result {
    while true {
        let result = call()
        if result >= 0 || errno != EINTR { return result }
    }
}
