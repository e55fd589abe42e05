import ChatAPI
import ChatCore
@testable import ChatServer
import Foundation
import Logging
import Nanomsg
import Testing

/// The PUB side of the event feed: a commit's few events leave from the committing thread, more from the publishing
/// thread, and every subscriber gets every event in commit order either way.
@Suite("Event publisher")
struct PublisherTests {
    @Test("every subscriber gets every event once, in commit order, whichever thread writes it", arguments: [1, 20])
    func order(subscribers: Int) throws {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("smrtchat-pub-\(UUID().uuidString.prefix(8))")
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: dir) }
        let endpoint = "ipc://\(dir.path)/events.sock"
        let publisher = try EventPublisher(endpoint: endpoint, bufferBytes: 4 << 20, includeEntities: false,
                                           logger: Logger(label: "test"))
        let sockets = try (0..<subscribers).map { _ in
            let socket = try NanoSocket(.sub)
            try socket.setReceiveBufferSize(4 << 20)
            try socket.setReceiveTimeout(milliseconds: 5000)
            try socket.subscribe(Array("smrt.chat.v1/t/".utf8))
            try socket.connect(endpoint)
            return socket
        }
        defer {
            publisher.stop()
            sockets.forEach { $0.close() }
        }
        let connected = Date().addingTimeInterval(5)
        while publisher.connections ?? 0 < UInt64(subscribers) && Date() < connected { Thread.sleep(forTimeInterval: 0.01) }
        #expect(publisher.connections == UInt64(subscribers))
        // Commits of 1 and of 7 events in turn: the single events leave from this thread and the batches from the
        // publishing thread, which may still be sending the previous batch when the next single event comes.
        var seq: Int64 = 0
        for commit in 0..<400 {
            let events = (0..<(commit % 2 == 0 ? 1 : 7)).map { _ in
                seq += 1
                return RoomEvent(tenantId: "t", roomId: "r", seq: seq, eventId: seq, kind: .messageCreated,
                                 actorProfileId: "alice", subjectId: "m\(seq)", createdAt: 1, entity: nil)
            }
            publisher.publish(events)
        }
        for socket in sockets {
            var received: [Int64] = []
            while received.count < Int(seq) {
                let frame = try socket.receive()
                let body = try #require(frame.firstIndex(of: 0)).advanced(by: 1)
                received.append(try Smrt_Chat_V1_RoomEvent(serializedBytes: frame[body...]).seq)
            }
            #expect(received == Array(1...seq))
        }
    }
}
