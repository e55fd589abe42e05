import Foundation
import Nanomsg

/// One REQ socket connected to every RPC endpoint, with a thread that runs its blocking calls. A
/// cooked REQ socket carries one call at a time, so the client keeps a few of them.
final class Connection: @unchecked Sendable {
    // @unchecked Sendable: the socket is used only by `thread`; `jobs` is guarded by `condition`.
    private let socket: NanoSocket
    private let condition = NSCondition()
    private var jobs: [() -> Void] = []
    private var closed = false

    init(endpoints: [String], timeoutMs: Int, resendIntervalMs: Int, maxReceiveBytes: Int) throws {
        socket = try NanoSocket(.req)
        try socket.setReceiveMaxSize(maxReceiveBytes)
        try socket.setReceiveTimeout(milliseconds: timeoutMs)
        try socket.setSendTimeout(milliseconds: timeoutMs)
        try socket.setRequestResendInterval(milliseconds: resendIntervalMs > 0 ? max(100, resendIntervalMs) : Self.noTimedResend)
        try socket.setReconnectInterval(milliseconds: 50)
        for endpoint in endpoints { _ = try socket.connect(endpoint) }
        let thread = Thread { [self] in loop() }
        thread.name = "smrt.chat.client"
        thread.start()
    }

    /// nanomsg's resend interval when the configuration asks for none: a day, past any call's timeout.
    static let noTimedResend = 86_400_000

    /// Sends `frame` and waits for the reply on this connection's thread.
    func roundTrip(_ frame: [UInt8]) async throws -> [UInt8] {
        try await withCheckedThrowingContinuation { (continuation: CheckedContinuation<[UInt8], Error>) in
            enqueue { continuation.resume(with: Result { try self.blockingRoundTrip(frame) }) }
        }
    }

    /// Sends `frame` and waits for the reply on the calling thread (a dedicated one).
    func blockingRoundTrip(_ frame: [UInt8]) throws -> [UInt8] {
        let result: Result<[UInt8], NanomsgError> = Result { () throws(NanomsgError) in
            try socket.send(frame)
            return try socket.receive()
        }
        switch result {
        case .success(let bytes):
            return bytes
        case .failure(let error) where error.isTimeout:
            throw RPCError.local(4, "DEADLINE_EXCEEDED", "no reply within the timeout")
        case .failure(let error):
            throw RPCError.local(14, "UNAVAILABLE", "transport: \(error)")
        }
    }

    private func enqueue(_ job: @escaping () -> Void) {
        condition.lock()
        jobs.append(job)
        condition.signal()
        condition.unlock()
    }

    func close() {
        condition.lock()
        closed = true
        condition.broadcast()
        condition.unlock()
    }

    private func loop() {
        while true {
            condition.lock()
            while jobs.isEmpty && !closed { condition.wait() }
            if jobs.isEmpty && closed {
                condition.unlock()
                socket.close()
                return
            }
            let job = jobs.removeFirst()
            condition.unlock()
            job()
        }
    }
}

/// Free connections and callers waiting for one.
final class ConnectionPool: @unchecked Sendable {
    // @unchecked Sendable: all state is guarded by `lock`.
    private let lock = NSLock()
    private var free: [Connection]
    private var waiters: [CheckedContinuation<Connection, Never>] = []
    let all: [Connection]

    init(_ connections: [Connection]) {
        all = connections
        free = connections
    }

    func acquire() async -> Connection {
        if let c = lock.withLock({ free.popLast() }) { return c }
        return await withCheckedContinuation { continuation in
            let ready: Connection? = lock.withLock {
                if let c = free.popLast() { return c }
                waiters.append(continuation)
                return nil
            }
            if let ready { continuation.resume(returning: ready) }
        }
    }

    /// Blocking acquire for dedicated threads (event subscriptions).
    func acquireBlocking() -> Connection {
        let semaphore = DispatchSemaphore(value: 0)
        nonisolated(unsafe) var connection: Connection?
        Task {
            connection = await acquire()
            semaphore.signal()
        }
        semaphore.wait()
        return connection!
    }

    func release(_ c: Connection) {
        let waiter: CheckedContinuation<Connection, Never>? = lock.withLock {
            if waiters.isEmpty {
                free.append(c)
                return nil
            }
            return waiters.removeFirst()
        }
        waiter?.resume(returning: c)
    }

    func close() { for c in all { c.close() } }
}
