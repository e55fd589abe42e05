import Foundation
import Nanomsg
import Testing

@Suite("Errors, limits, options and closing")
struct ErrorAndOptionTests {
    @Test("receive timeout throws a timeout error after about the timeout")
    func receiveTimeout() throws {
        let server = try NanoSocket(.rep)
        defer { server.close() }
        try server.setReceiveTimeout(milliseconds: 150)
        _ = try bindFresh(server, on: .inproc)

        let clock = ContinuousClock()
        let start = clock.now
        let error = #expect(throws: NanomsgError.self) { try server.receive() }
        let elapsed = clock.now - start
        #expect(error?.isTimeout == true)
        #expect(error?.isClosed == false)
        #expect(error?.function == "nn_recv")
        #expect(elapsed >= .milliseconds(100) && elapsed < .seconds(3))

        let immediate = #expect(throws: NanomsgError.self) { try server.receive(dontWait: true) }
        #expect(immediate?.isTimeout == true)
        let raw = try NanoSocket(.rep, raw: true)
        defer { raw.close() }
        let rawError = #expect(throws: NanomsgError.self) { try raw.receiveMessage(dontWait: true) }
        #expect(rawError?.isTimeout == true)
        #expect(rawError?.function == "nn_recvmsg")
    }

    /// inproc does not enforce NN_RCVMAXSIZE, so only the stream transports are tested.
    @Test("NN_RCVMAXSIZE drops an oversize frame and the server keeps serving", arguments: [Transport.tcp, .ipc])
    func receiveMaxSize(transport: Transport) async throws {
        let server = try NanoSocket(.rep)
        defer { server.close() }
        try server.setReceiveMaxSize(1_024)
        #expect(try server.receiveMaxSize == 1_024)
        try server.setReceiveTimeout(milliseconds: 500)
        let url = try bindFresh(server, on: transport)

        let greedy = try NanoSocket(.req)
        defer { greedy.close() }
        try greedy.connect(url)
        try greedy.send([UInt8](repeating: 0x47, count: 4_096))
        let dropped = try await onThread("rep-oversize") {
            Result { () throws(NanomsgError) in try server.receive() }
        }
        #expect(throws: NanomsgError.self) { try dropped.get() }
        if case .failure(let error) = dropped {
            #expect(error.isTimeout)
        }

        let polite = try NanoSocket(.req)
        defer { polite.close() }
        try polite.setReceiveTimeout(milliseconds: testTimeoutMilliseconds)
        try polite.connect(url)
        try server.setReceiveTimeout(milliseconds: testTimeoutMilliseconds)
        async let served: [UInt8] = onThread("rep") {
            let request = try server.receive()
            try server.send(bytes("ok:") + request)
            return request
        }
        let reply = try await onThread("req") {
            try polite.send(bytes("small"))
            return try polite.receive()
        }
        #expect(text(try await served) == "small")
        #expect(text(reply) == "ok:small")
    }

    @Test("using a closed socket throws a closed error; closing twice is harmless")
    func closedSocket() throws {
        let socket = try NanoSocket(.req)
        #expect(socket.isClosed == false)
        socket.close()
        socket.close()
        #expect(socket.isClosed)

        let sendError = #expect(throws: NanomsgError.self) { try socket.send(bytes("late")) }
        #expect(sendError?.isClosed == true)
        #expect(sendError?.function == "nn_send")
        let receiveError = #expect(throws: NanomsgError.self) { try socket.receive() }
        #expect(receiveError?.isClosed == true)
        #expect(throws: NanomsgError.self) { try socket.connect("inproc://whatever") }
        #expect(throws: NanomsgError.self) { try socket.setReceiveTimeout(milliseconds: 10) }
    }

    @Test("options round-trip through nn_setsockopt / nn_getsockopt")
    func optionsRoundTrip() throws {
        let socket = try NanoSocket(.req)
        defer { socket.close() }
        #expect(try socket.receiveTimeout == -1)
        try socket.setReceiveTimeout(milliseconds: 1_234)
        #expect(try socket.receiveTimeout == 1_234)
        try socket.setSendTimeout(milliseconds: 250)
        #expect(try socket.sendTimeout == 250)
        try socket.setSendBufferSize(256 * 1_024)
        #expect(try socket.sendBufferSize == 256 * 1_024)
        try socket.setReceiveBufferSize(64 * 1_024)
        #expect(try socket.receiveBufferSize == 64 * 1_024)
        try socket.setReceiveMaxSize(-1)
        #expect(try socket.receiveMaxSize == -1)
        try socket.setLinger(milliseconds: 0)
        #expect(try socket.linger == 0)
        try socket.setReconnectInterval(milliseconds: 50)
        #expect(try socket.reconnectInterval == 50)
        try socket.setRequestResendInterval(milliseconds: 5_000)
        #expect(try socket.requestResendInterval == 5_000)
        #expect(try socket.receiveFileDescriptor >= 0)
        #expect(try socket.sendFileDescriptor >= 0)

        let invalid = #expect(throws: NanomsgError.self) { try socket.setSendBufferSize(0) }
        #expect(invalid?.function == "nn_setsockopt")
        #expect(invalid?.description.contains("nn_setsockopt failed") == true)

        let publisher = try NanoSocket(.pub)
        defer { publisher.close() }
        #expect(throws: NanomsgError.self) { _ = try publisher.receiveFileDescriptor }
    }

    @Test("binding an address twice reports EADDRINUSE")
    func addressInUse() throws {
        let first = try NanoSocket(.rep)
        defer { first.close() }
        let url = try bindFresh(first, on: .tcp)
        let second = try NanoSocket(.rep)
        defer { second.close() }
        let error = #expect(throws: NanomsgError.self) { try second.bind(url) }
        #expect(error?.isAddressInUse == true)
        #expect(error?.function == "nn_bind")
    }
}
