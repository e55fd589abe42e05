import Foundation
import Nanomsg
import Synchronization
import Testing

@Suite("Raw REP with concurrent workers")
struct RawRepTests {
    /// 4 worker threads share one raw REP socket; 8 REQ clients ask at once. Each worker takes
    /// 100 ms per request, so serial service would need 800 ms; concurrent service ~200 ms.
    @Test("4 workers answer 8 concurrent clients, each with its own reply", arguments: Transport.allCases)
    func concurrentWorkers(transport: Transport) async throws {
        let server = try NanoSocket(.rep, raw: true)
        defer { server.close() }
        try server.setReceiveTimeout(milliseconds: testTimeoutMilliseconds)
        let url = try bindFresh(server, on: transport)
        let gauge = ConcurrencyGauge()

        try await withThrowingTaskGroup(of: (served: Int, endedClosed: Bool).self) { workers in
            for index in 0..<4 {
                workers.addTask {
                    try await onThread("worker-\(index)") {
                        var served = 0
                        while true {
                            let request: NanoMessage
                            do throws(NanomsgError) {
                                request = try server.receiveMessage()
                            } catch {
                                // The test closes the socket to stop the workers.
                                return (served, error.isClosed)
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

            // Closing wakes the workers blocked in receiveMessage with a closed error.
            server.close()
            var total = 0
            for try await outcome in workers {
                #expect(outcome.endedClosed)
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
