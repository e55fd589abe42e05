import ChatAPI
import ChatClient
import Foundation
import Testing

/// Several `smrt-chatd` instances sharing one PostgreSQL database (`make test-postgres` sets
/// SMRTCHAT_TEST_STORAGE; without it these tests are skipped: SQLite serves one process).
@Suite("Cluster", .serialized, .enabled(if: ServerProcess.postgresAdminURL != nil, "needs SMRTCHAT_TEST_STORAGE=postgres://…"))
struct ClusterTests {
    /// Every event of a room, paging by seq.
    static func roomLog(_ client: ChatClient, _ room: String) async throws -> [Smrt_Chat_V1_RoomEvent] {
        var events: [Smrt_Chat_V1_RoomEvent] = []
        while true {
            let page = try await client.listRoomEvents(.with {
                $0.roomID = room; $0.afterSeq = events.last?.seq ?? 0; $0.limit = 200
            })
            events += page.events
            if page.events.isEmpty || !page.hasMore_p { return events }
        }
    }

    /// The tenant log after `cursor`, paging by event id.
    static func tenantLog(_ client: ChatClient, after cursor: Int64) async throws -> [Smrt_Chat_V1_RoomEvent] {
        var events: [Smrt_Chat_V1_RoomEvent] = []
        var after = cursor
        while true {
            let page = try await client.listTenantEvents(.with { $0.afterEventID = after; $0.limit = 100 })
            events += page.events
            after = page.events.last?.eventID ?? after
            if page.events.isEmpty || !page.hasMore_p { return events }
        }
    }

    @Test("concurrent writers on 3 instances into one room: seq gap-free, a ListTenantEvents follower misses nothing")
    func ordering() async throws {
        let server = try ServerProcess(.ipc, instances: 3)
        #expect(server.rpcs.count == 3)
        let owner = try server.client(actor: "owner")
        let consumerKey = try server.createKey(scopes: ["events", "chat"])
        let consumer = try server.client(actor: "indexer", key: consumerKey)
        defer { owner.close(); consumer.close() }
        let room = try await owner.createRoom(.with { $0.name = "busy"; $0.roomType = .public }).room.id
        let other = try await owner.createRoom(.with { $0.name = "other"; $0.roomType = .public }).room.id

        // The follower polls the tenant log with a cursor the whole time, through every instance.
        let writersDone = Flag()
        let follower = Task { () -> [Smrt_Chat_V1_RoomEvent] in
            var seen: [Smrt_Chat_V1_RoomEvent] = []
            var cursor: Int64 = 0
            while true {
                let finished = writersDone.isSet
                let page = try await consumer.listTenantEvents(.with { $0.afterEventID = cursor; $0.limit = 50 })
                seen += page.events
                cursor = page.events.last?.eventID ?? cursor
                if finished && page.events.isEmpty { return seen }
                if page.events.isEmpty { try await Task.sleep(for: .milliseconds(5)) }
            }
        }
        let key = try server.createKey()
        let writers = 12, perWriter = 15
        try await withThrowingTaskGroup(of: Void.self) { group in
            for i in 0..<writers {
                // Each writer talks to one instance only, so the instances write concurrently.
                let endpoint = server.rpcs[i % server.rpcs.count]
                group.addTask {
                    let c = try server.client(actor: "w\(i)", key: key) {
                        $0.rpcEndpoints = [endpoint]; $0.connections = 1
                    }
                    defer { c.close() }
                    _ = try await c.joinRoom(.with { $0.roomID = room })
                    _ = try await c.joinRoom(.with { $0.roomID = other })
                    for j in 0..<perWriter {
                        _ = try await c.sendMessage(.with { $0.roomID = j % 3 == 0 ? other : room; $0.content = "w\(i)-\(j)" })
                    }
                }
            }
            try await group.waitForAll()
        }
        writersDone.set()
        let followed = try await follower.value

        let busyLog = try await Self.roomLog(consumer, room)
        let otherLog = try await Self.roomLog(consumer, other)
        #expect(busyLog.map(\.seq) == Array(1...Int64(busyLog.count)), "gap-free seq in the busy room")
        #expect(otherLog.map(\.seq) == Array(1...Int64(otherLog.count)), "gap-free seq in the other room")
        let messages = (busyLog + otherLog).filter { $0.kind == .messageCreated }
        #expect(messages.count == writers * perWriter)
        // Seq order is commit order: event ids grow with seq in each room.
        #expect(busyLog.map(\.eventID) == busyLog.map(\.eventID).sorted())
        let full = try await Self.tenantLog(consumer, after: 0)
        #expect(full.count == busyLog.count + otherLog.count)
        #expect(followed.map(\.eventID) == full.map(\.eventID), "the follower saw exactly the log, in order")
        #expect(Set(followed.map(\.eventID)).count == followed.count, "no duplicates")
    }

    @Test("failover: one of 3 instances killed under load; clients carry on, nothing acknowledged is lost")
    func failover() async throws {
        let server = try ServerProcess(.ipc, instances: 3)
        let owner = try server.client(actor: "owner")
        defer { owner.close() }
        let room = try await owner.createRoom(.with { $0.name = "failover"; $0.roomType = .public }).room.id
        let key = try server.createKey()
        let acknowledged = Acks()
        let clients = 6, perClient = 40
        let killer = Task {
            while await acknowledged.count < clients * perClient / 4 { try await Task.sleep(for: .milliseconds(5)) }
            server.kill(instance: 1)
            return await acknowledged.count
        }
        try await withThrowingTaskGroup(of: Void.self) { group in
            for i in 0..<clients {
                group.addTask {
                    // Balanced over every instance; a call lost with the killed one is resent (same request id).
                    let c = try server.client(actor: "c\(i)", key: key) {
                        $0.connections = 1; $0.timeoutMs = 3000; $0.resendIntervalMs = 300; $0.retries = 3
                    }
                    defer { c.close() }
                    _ = try await c.joinRoom(.with { $0.roomID = room })
                    for j in 0..<perClient {
                        let request = Smrt_Chat_V1_SendMessageRequest.with {
                            $0.roomID = room; $0.content = "c\(i)-\(j)"; $0.clientRequestID = "c\(i)-\(j)"
                        }
                        // A call that still failed is sent again as a new call: client_request_id keeps it once.
                        var attempt = 0
                        while true {
                            do {
                                let sent = try await c.sendMessage(request)
                                await acknowledged.add(sent.message.id)
                                break
                            } catch {
                                attempt += 1
                                if attempt >= 5 { throw error }
                            }
                        }
                    }
                }
            }
            try await group.waitForAll()
        }
        let ackedAtKill = try await killer.value
        #expect(ackedAtKill < clients * perClient, "the kill happened during the load")
        #expect(server.pids.count == 3)
        let log = try await Self.roomLog(owner, room)
        #expect(log.map(\.seq) == Array(1...Int64(log.count)), "gap-free seq after the kill")
        let created = log.filter { $0.kind == .messageCreated }.map(\.subjectID)
        let acked = await acknowledged.ids
        #expect(acked.count == clients * perClient)
        #expect(Set(acked).isSubset(of: Set(created)), "every acknowledged message is in the log")
        #expect(created.count == clients * perClient, "each message once")
    }
}

/// A one-way flag shared between tasks.
final class Flag: @unchecked Sendable {
    private let lock = NSLock()
    private var value = false
    var isSet: Bool { lock.lock(); defer { lock.unlock() }; return value }
    func set() { lock.lock(); value = true; lock.unlock() }
}

actor Acks {
    private(set) var ids: [String] = []
    var count: Int { ids.count }
    func add(_ id: String) { ids.append(id) }
}
