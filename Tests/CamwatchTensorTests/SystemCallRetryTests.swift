import CamwatchTensor
import Glibc
import Testing

/// `retryingAfterInterrupts`: a call a signal interrupted is made again; every other result is the caller's.
@Suite struct SystemCallRetryTests {
    @Test func anInterruptedCallIsMadeAgainUntilItAnswers() {
        var calls = 0
        let result = retryingAfterInterrupts { () -> Int in
            calls += 1
            guard calls > 2 else {
                errno = EINTR
                return -1
            }
            return 7
        }
        #expect(result == 7 && calls == 3)
    }

    @Test func anotherFailureIsReturnedAtOnceWithItsErrno() {
        var calls = 0
        let result = retryingAfterInterrupts { () -> Int32 in
            calls += 1
            errno = EAGAIN
            return -1
        }
        #expect(result == -1 && calls == 1 && errno == EAGAIN)
    }

    @Test func aRealInterruptedReadIsResumed() throws {
        // A pipe with data: read(2) answers on the first call, through the helper as without it.
        var ends: [Int32] = [-1, -1]
        try #require(pipe(&ends) == 0)
        defer { ends.forEach { _ = close($0) } }
        var byte: UInt8 = 42
        #expect(write(ends[1], &byte, 1) == 1)
        var received: UInt8 = 0
        #expect(retryingAfterInterrupts { Glibc.read(ends[0], &received, 1) } == 1 && received == 42)
    }
}
