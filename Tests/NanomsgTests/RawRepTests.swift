import Foundation
import Nanomsg
import Synchronization
import Testing

@Suite("Raw REP with concurrent workers")
struct RawRepTests {
    /// 4 worker threads share one raw REP socket; 8 REQ clients ask at once. Each worker takes
    /// 100 ms per request, so serial service would need 800 ms; concurrent service ~200 ms.
    /// Not over inproc: nanomsg 1.1.5's inproc transport has known races when sockets close while
    /// messages are in flight (nanomsg/nanomsg#894, #1040); here it crashed 3 runs in 30 with a call
    /// through freed memory. smrt-chatd serves ipc and tcp only.
    @Test("4 workers answer 8 concurrent clients, each with its own reply", arguments: [Transport.ipc, .tcp])
    func concurrentWorkers(transport: Transport) async throws {
        let server = try NanoSocket(.rep, raw: true)
        defer { server.close() }
        // Workers wake every 100 ms to see whether to stop, as smrt-chatd's do: closing a socket while
        // other threads are blocked in it can crash nanomsg 1.1.5 (seen with inproc under load).
        try server.setReceiveTimeout(milliseconds: 100)
        let url = try bindFresh(server, on: transport)
        let gauge = ConcurrencyGauge()
        let stop = StopFlag()

        try await withThrowingTaskGroup(of: (served: Int, stopped: Bool).self) { workers in
            for index in 0..<4 {
                workers.addTask {
                    try await onThread("worker-\(index)") {
                        var served = 0
                        while true {
                            if stop.isSet { return (served, true) }
                            let request: NanoMessage
                            do throws(NanomsgError) {
                                request = try server.receiveMessage()
                            } catch {
                                if error.isTimeout { continue }
                                return (served, false)
                            }
                            gauge.enter()
                            Thread.sleep(forTimeInterval: 0.1)
                            gauge.leave()
                            try server.sendMessage(body: bytes("reply:") + request.body, header: request.header)
                            served += 1
                        }
                    }
                }
            }

            let clock = ContinuousClock()
            let start = clock.now
            let replies = try await withThrowingTaskGroup(of: (Int, String).self) { clients in
                for index in 0..<8 {
                    clients.addTask {
                        try await onThread("client-\(index)") {
                            let client = try NanoSocket(.req)
                            defer { client.close() }
                            try client.setReceiveTimeout(milliseconds: testTimeoutMilliseconds)
                            try client.connect(url)
                            try client.send(bytes("request-\(index)"))
                            return (index, text(try client.receive()))
                        }
                    }
                }
                return try await clients.reduce(into: [Int: String]()) { $0[$1.0] = $1.1 }
            }
            let elapsed = clock.now - start

            for index in 0..<8 {
                #expect(replies[index] == "reply:request-\(index)")
            }
            _ = elapsed  // Speed belongs to `make bench`; here only the overlap of requests is checked.
            #expect(gauge.peak >= 2, "requests were never handled in parallel")

            stop.set()
            var total = 0
            for try await outcome in workers {
                #expect(outcome.stopped, "a worker ended on an error instead of the stop flag")
                total += outcome.served
            }
            #expect(total == 8)
        }
    }

    @Test("the routing header is exposed and a reply without it goes nowhere")
    func headerIsRequiredForRouting() async throws {
        let server = try NanoSocket(.rep, raw: true)
        defer { server.close() }
        try server.setReceiveTimeout(milliseconds: testTimeoutMilliseconds)
        let url = try bindFresh(server, on: .inproc)
        let client = try NanoSocket(.req)
        defer { client.close() }
        try client.setReceiveTimeout(milliseconds: 300)
        try client.connect(url)

        try client.send(bytes("ping"))
        let request = try await onThread("raw-rep") { try server.receiveMessage() }
        #expect(text(request.body) == "ping")
        // pipe id (4 bytes) + request id (4 bytes, top bit set) for a direct REQ peer.
        #expect(request.header.count == 8)
        #expect(request.header.count >= 4 && request.header[4] & 0x80 != 0)

        // Without the backtrace nanomsg cannot route the reply and drops it silently.
        try server.sendMessage(body: bytes("lost"), header: [])
        let lost = #expect(throws: NanomsgError.self) { try client.receive() }
        #expect(lost?.isTimeout == true)
    }
}

/// Counts requests being handled right now and remembers the highest count seen.
private final class ConcurrencyGauge: Sendable {
    private let current = Atomic<Int>(0)
    private let highest = Atomic<Int>(0)

    /// The most requests that were ever in progress at once.
    var peak: Int { highest.load(ordering: .sequentiallyConsistent) }

    func enter() {
        let now = current.add(1, ordering: .sequentiallyConsistent).newValue
        highest.max(now, ordering: .sequentiallyConsistent)
    }

    func leave() {
        current.subtract(1, ordering: .sequentiallyConsistent)
    }
}

/// A flag threads poll to stop (an `Atomic` cannot be captured by escaping closures).
final class StopFlag: Sendable {
    private let value = Atomic<Bool>(false)
    var isSet: Bool { value.load(ordering: .acquiring) }
    func set() { value.store(true, ordering: .releasing) }
}
