import Foundation
import Nanomsg
import Testing

@Suite("Cooked REQ/REP")
struct ReqRepTests {
    @Test("round trip", arguments: Transport.allCases)
    func roundTrip(transport: Transport) async throws {
        let server = try NanoSocket(.rep)
        defer { server.close() }
        try server.setReceiveTimeout(milliseconds: testTimeoutMilliseconds)
        let url = try bindFresh(server, on: transport)

        let client = try NanoSocket(.req)
        defer { client.close() }
        try client.setReceiveTimeout(milliseconds: testTimeoutMilliseconds)
        try client.connect(url)

        async let served: [UInt8] = onThread("rep") {
            let request = try server.receive()
            try server.send(bytes("echo:") + request)
            return request
        }
        let reply = try await onThread("req") {
            try client.send(bytes("hello \(transport)"))
            return try client.receive()
        }
        #expect(text(try await served) == "hello \(transport)")
        #expect(text(reply) == "echo:hello \(transport)")
    }

    @Test("large and empty bodies survive the zero-copy receive")
    func largeAndEmptyBodies() async throws {
        let server = try NanoSocket(.rep)
        defer { server.close() }
        try server.setReceiveTimeout(milliseconds: testTimeoutMilliseconds)
        let url = try bindFresh(server, on: .tcp)
        let client = try NanoSocket(.req)
        defer { client.close() }
        try client.setReceiveTimeout(milliseconds: testTimeoutMilliseconds)
        try client.connect(url)

        let large = (0..<300_000).map { UInt8(truncatingIfNeeded: $0 &* 31) }
        for body in [large, []] {
            async let served: Void = onThread("rep") {
                try server.send(try server.receive())
            }
            let echoed = try await onThread("req") {
                try client.send(body)
                return try client.receive()
            }
            try await served
            #expect(echoed == body)
        }
    }

    @Test("cooked REP cannot send before it has a request")
    func repSendWithoutRequest() throws {
        let server = try NanoSocket(.rep)
        defer { server.close() }
        let error = #expect(throws: NanomsgError.self) { try server.send(bytes("nobody asked")) }
        #expect(error?.function == "nn_send")
        #expect(error?.isTimeout == false)
        #expect(error?.isClosed == false)
    }
}
