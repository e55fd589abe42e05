import ChatAPI
import ChatCore
@testable import ChatServer
import ChatStore
import Foundation
import Logging
import Synchronization
import Testing

/// Where a mutation commits: a lone call on the RPC worker that received it (no writer wake-up, its reply sent from
/// there), a call received while others were in flight or queued on the writer thread, so that they share its commits.
@Suite("Caller-thread commits")
struct CallerCommitTests {
    @Test("a lone SendMessage commits and is answered on its own thread, then publishes; with other calls in flight or queued, on the writer's, which publishes first",
          arguments: [true, false])
    func commitThread(alone: Bool) throws {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("smrtchat-caller-\(UUID().uuidString.prefix(8))")
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: dir) }
        // What happened in which order: the reply, and the commit's events handed to the publisher.
        let order = Mutex<[String]>([])
        var configuration = SQLiteConfiguration(path: dir.appendingPathComponent("chat.sqlite").path)
        configuration.onCommit = { events in
            if events.contains(where: { $0.kind == .messageCreated }) { order.withLock { $0.append("events") } }
        }
        let storage = try SQLiteStorage(configuration)
        defer { storage.close() }
        let secret = Array(repeating: UInt8(7), count: 32)
        let now = ChatDomain.systemClock()
        let domain = ChatDomain()
        let alice = CallActor(tenantId: "tenant-1", profileId: "alice", scopes: [.chat])
        let room = try storage.writeBlocking { tx in
            try tx.insertApiKey(ApiKey(keyId: "sk_1", secret: secret, tenants: ["tenant-1"], allTenants: false,
                                       scopes: [.chat], createdAt: now))
            return try domain.createRoom(tx, alice, name: "general", roomType: .private)
        }
        // The writer thread runs its housekeeping after that first commit: a caller commits only on an idle write path.
        storage.yieldToWrites(upTo: 10)
        let handler = RequestHandler(configuration: ServerConfiguration(), storage: storage, domain: domain,
                                     logger: Logger(label: "test"))
        defer { handler.stop() }

        var request = Smrt_Chat_V1_RpcRequest()
        request.method = RequestSigning.methodName("SendMessage")
        request.context.tenantID = "tenant-1"
        request.context.actorProfileID = "alice"
        request.context.requestID = "req-\(alone)"
        request.auth.keyID = "sk_1"
        request.auth.timestampUnixMs = now
        request.payload = try Smrt_Chat_V1_SendMessageRequest.with { $0.roomID = room.id; $0.content = "hi" }
            .serializedData()
        request.auth.signature = RequestSigning.signature(
            secret: secret, method: request.method, tenantId: "tenant-1", actorProfileId: "alice",
            requestId: request.context.requestID, timestampUnixMs: now, payload: request.payload)

        let caller = pthread_self()
        let answer = Mutex<(onCaller: Bool, reply: [UInt8])?>(nil)
        let answered = DispatchSemaphore(value: 0)
        handler.handle(Array(try request.serializedData()), alone: alone) { reply in
            answer.withLock { $0 = (pthread_equal(pthread_self(), caller) != 0, reply) }
            order.withLock { $0.append("reply") }
            answered.signal()
        }
        #expect(answered.wait(timeout: .now() + 10) == .success)
        let (onCaller, reply) = try #require(answer.withLock { $0 })
        let response = try Smrt_Chat_V1_RpcResponse(serializedBytes: reply)
        #expect(!response.hasStatus || response.status.code == .ok, "\(response.status)")
        #expect(try Smrt_Chat_V1_SendMessageResponse(serializedBytes: response.payload).message.content == "hi")
        #expect(onCaller == alone)
        // A lone call's events go out after its reply (nothing else waits on that thread); the writer thread's
        // batches publish before their replies. Either way before the next commit.
        let settled = Date().addingTimeInterval(5)
        while order.withLock({ $0.count }) < 2 && Date() < settled { Thread.sleep(forTimeInterval: 0.001) }
        #expect(order.withLock { $0 } == (alone ? ["reply", "events"] : ["events", "reply"]))
    }
}
