@testable import ChatCore
import Testing

@Suite("The durable event log (SPEC §6, §12.4)")
struct EventLogTests {
    @Test("per-room seq is gap-free and matches the log under many concurrent writers")
    func gapFreeUnderConcurrency() async throws {
        let chat = try TestChat()
        let rooms = [try await chat.room(alice, .public, name: "a"), try await chat.room(alice, .public, name: "b")]
        let profiles = (0..<8).map { CallActor(tenantId: tenant, profileId: "p\($0)") }
        for room in rooms { for p in profiles { try await chat.add(alice, room, p.profileId) } }
        let mark = chat.committedEventCount
        try await withThrowingTaskGroup(of: Void.self) { group in
            for (i, p) in profiles.enumerated() {
                group.addTask {
                    for j in 0..<25 {
                        let room = rooms[(i + j) % 2]
                        let sent = try await chat.w(p) { try $0.sendMessage($1, $2, roomId: room.id, content: "m\(j)") }
                        if j % 5 == 0 {
                            try await chat.w(p) { try $0.addReaction($1, $2, messageId: sent.message.id, emoji: "👍") }
                        }
                    }
                }
            }
            try await group.waitForAll()
        }
        // Events leave only through the commit callback: exactly the logged ones, each once, in log order.
        let returned = chat.committedEvents(since: mark)
        #expect(returned.map(\.eventId) == returned.map(\.eventId).sorted())
        for room in rooms {
            let log = try chat.events(room.id)
            #expect(log.map(\.seq) == Array(1...Int64(log.count)), "seq has no gaps")
            let head = try await chat.r(alice) { try $0.getRoom($1, $2, roomId: room.id) }.room.lastEventSeq
            #expect(head == Int64(log.count))
            let mine = returned.filter { $0.roomId == room.id }.map(\.seq)
            let logged = log.filter { $0.kind == .messageCreated || $0.kind == .reactionAdded }.map(\.seq)
            #expect(mine == logged, "the events the commit callback delivered are exactly the logged ones")
            let ids = log.map(\.eventId)
            #expect(ids == ids.sorted() && Set(ids).count == ids.count, "event_id grows with seq")
        }
        let messages = try chat.scalar("SELECT count(*) FROM messages")
        let rowsMatch = try chat.scalar("""
            SELECT count(*) FROM messages m JOIN room_events e ON e.room_id = m.room_id AND e.seq = m.room_seq
            WHERE e.kind = 'MESSAGE_CREATED' AND e.subject_id = m.id
            """)
        #expect(messages == 200 && rowsMatch == messages)
    }

    @Test("ListRoomEvents: members or events keys, in order after a seq, with head and has_more")
    func roomEvents() async throws {
        let chat = try TestChat()
        let room = try await chat.room(alice, .private)
        for i in 0..<5 { try await chat.send(alice, room, "m\(i)") }
        let page = try await chat.r(alice) { try $0.listRoomEvents($1, $2, roomId: room.id, afterSeq: 2, limit: 3) }
        #expect(page.events.map(\.seq) == [3, 4, 5] && page.head == 7 && page.hasMore)
        if case .message(let m)? = page.events[0].entity { #expect(m.content == "m0") } else {
            Issue.record("full payload mode carries the entity")
        }
        let rest = try await chat.r(eventsKey) { try $0.listRoomEvents($1, $2, roomId: room.id, afterSeq: 5) }
        #expect(rest.events.map(\.seq) == [6, 7] && !rest.hasMore)
        await expectFailure(.notFound) { _ = try await chat.r(bob) { try $0.listRoomEvents($1, $2, roomId: room.id, afterSeq: 0) } }
        let otherTenantEvents = CallActor(tenantId: "tenant-2", profileId: "indexer", scopes: [.events])
        await expectFailure(.notFound) {
            _ = try await chat.r(otherTenantEvents) { try $0.listRoomEvents($1, $2, roomId: room.id, afterSeq: 0) }
        }
        let agentOnly = CallActor(tenantId: tenant, profileId: "alice", scopes: [.agent])
        await expectFailure(.scopeMissing) { _ = try await chat.r(agentOnly) { try $0.listRoomEvents($1, $2, roomId: room.id, afterSeq: 0) } }
        // Events of a deleted room stay readable by consumers, never by members.
        _ = try await chat.w(alice) { try $0.deleteRoom($1, $2, roomId: room.id) }
        let final = try await chat.r(eventsKey) { try $0.listRoomEvents($1, $2, roomId: room.id, afterSeq: 7) }
        #expect(final.events.map(\.kind) == [.roomDeleted])
        await expectFailure(.notFound) { _ = try await chat.r(alice) { try $0.listRoomEvents($1, $2, roomId: room.id, afterSeq: 0) } }
    }

    @Test("ListTenantEvents: events scope only, tenant-bound, strictly increasing event ids")
    func tenantEvents() async throws {
        let chat = try TestChat()
        let a = try await chat.room(alice, .public, name: "a")
        let b = try await chat.room(bob, .private, name: "b")
        try await chat.send(alice, a)
        try await chat.send(bob, b)
        _ = try await chat.room(mallory)
        await expectFailure(.scopeMissing, .permissionDenied) {
            _ = try await chat.r(alice) { try $0.listTenantEvents($1, $2, afterEventId: 0) }
        }
        let all = try await chat.r(eventsKey) { try $0.listTenantEvents($1, $2, afterEventId: 0) }
        #expect(all.events.count == 6 && all.events.allSatisfy { $0.tenantId == tenant })
        #expect(all.events.map(\.eventId) == all.events.map(\.eventId).sorted())
        #expect(all.head == all.events.last?.eventId)
        let tail = try await chat.r(eventsKey) { try $0.listTenantEvents($1, $2, afterEventId: all.events[3].eventId, limit: 1) }
        #expect(tail.events.map(\.eventId) == [all.events[4].eventId] && tail.hasMore)
    }

    @Test("retention purge: reading before the retained start is RESYNC_REQUIRED; after it works")
    func retention() async throws {
        let chat = try TestChat()
        let room = try await chat.room()
        for i in 0..<3 { try await chat.send(alice, room, "old \(i)") }
        chat.clock.advance(seconds: 3600)
        try await chat.send(alice, room, "new")
        let purged = try await chat.w(adminKey) { d, tx, _ in try d.purgeEvents(tx, retentionSeconds: 1800) }
        #expect(purged == 5)
        let error = await expectFailure(.resyncRequired, .outOfRange) {
            _ = try await chat.r(alice) { try $0.listRoomEvents($1, $2, roomId: room.id, afterSeq: 2) }
        }
        #expect(error?.metadata["oldest_seq"] == "6")
        let ok = try await chat.r(alice) { try $0.listRoomEvents($1, $2, roomId: room.id, afterSeq: 5) }
        #expect(ok.events.map(\.seq) == [6])
        await expectFailure(.resyncRequired) { _ = try await chat.r(eventsKey) { try $0.listTenantEvents($1, $2, afterEventId: 0) } }
        let fromWatermark = try await chat.r(eventsKey) { try $0.listTenantEvents($1, $2, afterEventId: 5) }
        #expect(fromWatermark.events.count == 1)
        let upToDate = try await chat.r(alice) { try $0.listRoomEvents($1, $2, roomId: room.id, afterSeq: 6) }
        #expect(upToDate.events.isEmpty && upToDate.head == 6)
        // Messages stay: retention trims the log only.
        #expect(try chat.scalar("SELECT count(*) FROM messages") == 4)
    }

    @Test("idempotent no-ops append nothing; every write returns the events it committed")
    func noOpsAppendNothing() async throws {
        let chat = try TestChat()
        let room = try await chat.room()
        let m = try await chat.send(alice, room, key: "k")
        try await chat.w(alice) { try $0.addReaction($1, $2, messageId: m.id, emoji: "x") }
        try await chat.w(alice) { try $0.deleteMessage($1, $2, messageId: m.id) }
        let seq = try chat.events(room.id).count
        let noops: [@Sendable () async throws -> Int] = [
            { try await chat.wc(alice) { try $0.sendMessage($1, $2, roomId: room.id, content: "hello", clientRequestId: "k") }.events.count },
            { try await chat.wc(alice) { try $0.deleteMessage($1, $2, messageId: m.id) }.events.count },
            { try await chat.wc(alice) { try $0.joinRoom($1, $2, roomId: room.id) }.events.count },
            { try await chat.wc(alice) { try $0.archiveRoom($1, $2, roomId: room.id) }.events.count - 1 },
            { try await chat.wc(alice) { try $0.archiveRoom($1, $2, roomId: room.id) }.events.count },
            { try await chat.wc(alice) { try $0.unarchiveRoom($1, $2, roomId: room.id) }.events.count - 1 },
            { try await chat.wc(alice) { try $0.unarchiveRoom($1, $2, roomId: room.id) }.events.count },
        ]
        for noop in noops { #expect(try await noop() == 0) }
        #expect(try chat.events(room.id).count == seq + 2)
    }
}
