import Foundation
import Nanomsg
import Testing

@Suite("PUB/SUB topic prefixes")
struct PubSubTests {
    /// PUB drops messages until a subscriber is connected, so publish in rounds until the
    /// subscriber hears something. Each round publishes `b/x` before `a/x`, so a broken filter
    /// would deliver a `b/` message first.
    @Test("a subscriber of a/ gets a/x but not b/x", arguments: Transport.allCases)
    func prefixFiltering(transport: Transport) throws {
        let publisher = try NanoSocket(.pub)
        defer { publisher.close() }
        let url = try bindFresh(publisher, on: transport)
        let subscriber = try NanoSocket(.sub)
        defer { subscriber.close() }
        try subscriber.setReceiveTimeout(milliseconds: 50)
        try subscriber.subscribe(bytes("a/"))
        try subscriber.connect(url)

        let received = try publishUntilHeard(publisher, subscriber, topics: ["b/x", "a/x"])
        #expect(received.allSatisfy { $0 == "a/x" })
        #expect(received.contains("a/x"))

        // Switching the subscription: after unsubscribing a/, only c/ arrives.
        try subscriber.subscribe(bytes("c/"))
        try subscriber.unsubscribe(bytes("a/"))
        let later = try publishUntilHeard(publisher, subscriber, topics: ["a/y", "b/y", "c/y"])
        #expect(later.allSatisfy { $0 == "c/y" })
    }

    @Test("unsubscribing an unknown prefix and subscribing on a REQ socket fail")
    func subscriptionErrors() throws {
        let subscriber = try NanoSocket(.sub)
        defer { subscriber.close() }
        // nanomsg itself would crash here (empty subscription trie); the wrapper refuses.
        let empty = #expect(throws: NanomsgError.self) { try subscriber.unsubscribe(bytes("never")) }
        #expect(empty?.code == EINVAL)
        try subscriber.subscribe(bytes("a/"))
        try subscriber.subscribe(bytes("a/"))
        try subscriber.unsubscribe(bytes("a/"))
        try subscriber.unsubscribe(bytes("a/"))
        #expect(throws: NanomsgError.self) { try subscriber.unsubscribe(bytes("a/")) }
        #expect(throws: NanomsgError.self) { try subscriber.unsubscribe(bytes("b/")) }
        let requester = try NanoSocket(.req)
        defer { requester.close() }
        let error = #expect(throws: NanomsgError.self) { try requester.subscribe(bytes("a/")) }
        #expect(error?.function == "nn_setsockopt")
    }

    /// Publishes `topics` in rounds (bounded to ~5 s) until the subscriber receives something,
    /// then drains what arrived in that round and returns every topic received.
    private func publishUntilHeard(
        _ publisher: NanoSocket, _ subscriber: NanoSocket, topics: [String]
    ) throws -> [String] {
        var received: [String] = []
        for _ in 0..<100 where received.isEmpty {
            for topic in topics {
                try publisher.send(bytes(topic))
            }
            while let message = try receiveOrNil(subscriber) {
                received.append(text(message))
            }
        }
        return received
    }

    /// Receives one message, or nil when the (short) receive timeout expires.
    private func receiveOrNil(_ socket: NanoSocket) throws -> [UInt8]? {
        do {
            return try socket.receive()
        } catch where error.isTimeout {
            return nil
        }
    }
}
