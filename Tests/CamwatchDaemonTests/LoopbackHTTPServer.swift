import Foundation
import Glibc
import Synchronization

/// A minimal HTTP/1.1 server on 127.0.0.1 (an ephemeral port) for the webhook tests.
///
/// One thread accepts connections one at a time, reads one request per connection (honouring
/// `Expect: 100-continue`), records it and answers with the next scripted reply, then closes the
/// connection. `.hang` holds the connection open without answering until `stop()`.
final class LoopbackHTTPServer: Sendable {
    enum Reply: Sendable {
        case status(Int, headers: [String: String] = [:], body: String = "ok")
        case hang
    }

    struct Request: Sendable {
        var method: String
        var path: String
        /// Header names lowercased.
        var headers: [String: String]
        var body: [UInt8]

        /// The body parsed as a JSON object, or `nil`.
        func jsonObject() -> [String: Any]? {
            (try? JSONSerialization.jsonObject(with: Data(body))) as? [String: Any]
        }
    }

    private struct State {
        var replies: [Reply]
        var requests: [Request] = []
        var stopped = false
    }

    let port: UInt16
    private let listener: Int32
    private let state: Mutex<State>
    private let fallback: Reply

    /// Starts listening; `replies` answer the requests in order, `fallback` any after them.
    init(replies: [Reply], fallback: Reply = .status(200)) throws {
        let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0)
        guard fd >= 0 else { throw POSIXError(.init(rawValue: errno) ?? .EIO) }
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_port = 0
        address.sin_addr.s_addr = inet_addr("127.0.0.1")
        let bound = withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) {
                bind(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size))
            }
        }
        guard bound == 0, listen(fd, 16) == 0 else {
            let code = errno
            close(fd)
            throw POSIXError(.init(rawValue: code) ?? .EIO)
        }
        var length = socklen_t(MemoryLayout<sockaddr_in>.size)
        _ = withUnsafeMutablePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { getsockname(fd, $0, &length) }
        }
        port = UInt16(bigEndian: address.sin_port)
        listener = fd
        state = Mutex(State(replies: replies))
        self.fallback = fallback
        let thread = Thread { [self] in serve() }
        thread.start()
    }

    /// `http://127.0.0.1:<port><path>`.
    func url(_ path: String) -> String { "http://127.0.0.1:\(port)\(path)" }

    /// The requests received so far.
    var requests: [Request] { state.withLock { $0.requests } }

    /// Stops accepting; the thread closes held connections and the listener within 20 ms.
    ///
    /// Does not wait for that: blocking here would hold one of the few cooperative threads that every
    /// test in the process shares.
    func stop() {
        state.withLock { $0.stopped = true }
    }

    private var isStopped: Bool { state.withLock { $0.stopped } }

    private func serve() {
        var held: [Int32] = []
        while !isStopped {
            var pollfd = Glibc.pollfd(fd: listener, events: Int16(POLLIN), revents: 0)
            guard poll(&pollfd, 1, 20) > 0 else { continue }
            let connection = accept(listener, nil, nil)
            guard connection >= 0 else { continue }
            guard let request = readRequest(connection) else {
                close(connection)
                continue
            }
            let reply = state.withLock { state -> Reply in
                state.requests.append(request)
                return state.replies.isEmpty ? fallback : state.replies.removeFirst()
            }
            switch reply {
            case .hang:
                held.append(connection)
            case .status(let status, let headers, let body):
                var text =
                    "HTTP/1.1 \(status) Status\r\nContent-Type: text/plain\r\nContent-Length: \(body.utf8.count)\r\n"
                for (name, value) in headers { text += "\(name): \(value)\r\n" }
                text += "Connection: close\r\n\r\n" + body
                write(connection, Array(text.utf8))
                close(connection)
            }
        }
        for connection in held { close(connection) }
        close(listener)
    }

    /// Reads one request, waiting at most two seconds for its parts.
    private func readRequest(_ fd: Int32) -> Request? {
        var buffer: [UInt8] = []
        let separator = Array("\r\n\r\n".utf8)
        var headerEnd: Int?
        while headerEnd == nil {
            guard let chunk = readChunk(fd) else { return nil }
            buffer += chunk
            headerEnd = buffer.firstRange(of: separator)?.upperBound
        }
        guard let headerEnd else { return nil }
        let head = String(decoding: buffer[..<headerEnd], as: UTF8.self)
        var lines = head.components(separatedBy: "\r\n").filter { !$0.isEmpty }
        guard !lines.isEmpty else { return nil }
        let requestLine = lines.removeFirst().split(separator: " ")
        guard requestLine.count >= 2 else { return nil }
        var headers: [String: String] = [:]
        for line in lines {
            guard let colon = line.firstIndex(of: ":") else { continue }
            headers[line[..<colon].lowercased()] = line[line.index(after: colon)...].trimmingCharacters(
                in: .whitespaces)
        }
        if headers["expect"]?.lowercased() == "100-continue" {
            write(fd, Array("HTTP/1.1 100 Continue\r\n\r\n".utf8))
        }
        let length = Int(headers["content-length"] ?? "0") ?? 0
        var body = Array(buffer[headerEnd...])
        while body.count < length {
            guard let chunk = readChunk(fd) else { return nil }
            body += chunk
        }
        return Request(
            method: String(requestLine[0]), path: String(requestLine[1]), headers: headers,
            body: Array(body.prefix(length)))
    }

    private func readChunk(_ fd: Int32) -> [UInt8]? {
        var pollfd = Glibc.pollfd(fd: fd, events: Int16(POLLIN), revents: 0)
        guard poll(&pollfd, 1, 2000) > 0 else { return nil }
        var chunk = [UInt8](repeating: 0, count: 65536)
        let count = chunk.withUnsafeMutableBytes { recv(fd, $0.baseAddress, $0.count, 0) }
        guard count > 0 else { return nil }
        return Array(chunk.prefix(count))
    }

    private func write(_ fd: Int32, _ bytes: [UInt8]) {
        var offset = 0
        while offset < bytes.count {
            let sent = bytes.withUnsafeBytes {
                send(fd, $0.baseAddress.map { $0 + offset }, bytes.count - offset, Int32(MSG_NOSIGNAL))
            }
            guard sent > 0 else { return }
            offset += sent
        }
    }
}

/// A TCP port on 127.0.0.1 with nothing listening (bound, then closed), for "connection refused".
func closedLoopbackPort() -> UInt16 {
    let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
    defer { close(fd) }
    var address = sockaddr_in()
    address.sin_family = sa_family_t(AF_INET)
    address.sin_addr.s_addr = inet_addr("127.0.0.1")
    var length = socklen_t(MemoryLayout<sockaddr_in>.size)
    _ = withUnsafeMutablePointer(to: &address) {
        $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { pointer in
            _ = bind(fd, pointer, length)
            return getsockname(fd, pointer, &length)
        }
    }
    return UInt16(bigEndian: address.sin_port)
}
