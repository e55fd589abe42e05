@testable import ChatCore
import Testing

@Suite("Threads, reactions and DMs (SPEC §4.4–§4.6)")
struct ThreadReactionDMTests {
    @Test("StartThread: writers only, root must be in the same room, several threads per root")
    func start() async throws {
        let chat = try TestChat()
        let room = try await chat.room()
        try await chat.add(alice, room, "bob", .viewer)
        let root = try await chat.send(alice, room)
        let other = try await chat.room(alice, .public, name: "other")
        let foreign = try await chat.send(alice, other)
        try await expectRefusedWithoutWrites(chat, .viewerReadOnly) {
            _ = try await chat.w(bob) { try $0.startThread($1, $2, roomId: room.id) }
        }
        try await expectRefusedWithoutWrites(chat, .notMember) {
            _ = try await chat.w(carol) { try $0.startThread($1, $2, roomId: room.id) }
        }
        try await expectRefusedWithoutWrites(chat, .foreignReference, .failedPrecondition) {
            _ = try await chat.w(alice) { try $0.startThread($1, $2, roomId: room.id, rootMessageId: foreign.id) }
        }
        let t1 = try await chat.wc(alice) { try $0.startThread($1, $2, roomId: room.id, rootMessageId: root.id, title: "a") }
        let t2 = try await chat.w(alice) { try $0.startThread($1, $2, roomId: room.id, rootMessageId: root.id, title: "b") }
        #expect(t1.events.map(\.kind) == [.threadStarted] && t1.value.id != t2.id)
    }

    @Test("thread counters are exact: message count, distinct senders, last message time")
    func counters() async throws {
        let chat = try TestChat()
        let room = try await chat.room()
        try await chat.add(alice, room, "bob")
        let thread = try await chat.w(alice) { try $0.startThread($1, $2, roomId: room.id) }
        try await chat.send(alice, room, "1", thread: thread.id)
        try await chat.send(bob, room, "2", thread: thread.id)
        chat.clock.advance(ms: 7)
        let last = try await chat.send(alice, room, "3", thread: thread.id)
        let fetched = try await chat.r(bob) { try $0.getThread($1, $2, threadId: thread.id) }
        #expect(fetched.messageCount == 3 && fetched.participantCount == 2 && fetched.lastMessageAt == last.createdAt)
        #expect(try chat.scalar("SELECT count(*) FROM messages WHERE thread_id = ?", [thread.id]) == fetched.messageCount)
    }

    @Test("ListRoomThreads newest activity first with an unresolved filter; ListThreadMessages in order and latest-N")
    func lists() async throws {
        let chat = try TestChat()
        let room = try await chat.room()
        let t1 = try await chat.w(alice) { try $0.startThread($1, $2, roomId: room.id, title: "one") }
        chat.clock.advance(ms: 1)
        let t2 = try await chat.w(alice) { try $0.startThread($1, $2, roomId: room.id, title: "two") }
        chat.clock.advance(ms: 1)
        var sent: [Message] = []
        for i in 0..<5 { sent.append(try await chat.send(alice, room, "t\(i)", thread: t1.id)) }
        let threads = try await chat.r(alice) { try $0.listRoomThreads($1, $2, roomId: room.id) }
        #expect(threads.items.map(\.id) == [t1.id, t2.id])
        _ = try await chat.w(alice) { try $0.resolveThread($1, $2, threadId: t1.id) }
        let open = try await chat.r(alice) { try $0.listRoomThreads($1, $2, roomId: room.id, onlyUnresolved: true) }
        #expect(open.items.map(\.id) == [t2.id])
        let first = try await chat.r(alice) { try $0.listThreadMessages($1, $2, threadId: t1.id, limit: 2) }
        #expect(first.items.map(\.content) == ["t0", "t1"] && first.hasMore)
        let second = try await chat.r(alice) { try $0.listThreadMessages($1, $2, threadId: t1.id, cursor: first.nextCursor, limit: 2) }
        #expect(second.items.map(\.content) == ["t2", "t3"])
        let latest = try await chat.r(alice) { try $0.listThreadMessages($1, $2, threadId: t1.id, limit: 2, latest: true) }
        #expect(latest.items.map(\.content) == ["t3", "t4"] && latest.hasMore)
        let older = try await chat.r(alice) { try $0.listThreadMessages($1, $2, threadId: t1.id, cursor: latest.nextCursor, limit: 2) }
        #expect(older.items.map(\.content) == ["t1", "t2"])
        await expectFailure(.notFound) { _ = try await chat.r(mallory) { try $0.getThread($1, $2, threadId: t1.id) } }
        await expectFailure(.notMember) { _ = try await chat.r(bob) { try $0.listThreadMessages($1, $2, threadId: t1.id) } }
        await expectFailure(.validation) {
            _ = try await chat.r(alice) { try $0.listThreadMessages($1, $2, threadId: t2.id, cursor: first.nextCursor) }
        }
    }

    @Test("ListReplies returns the thread's replies to one message")
    func replies() async throws {
        let chat = try TestChat()
        let room = try await chat.room()
        let thread = try await chat.w(alice) { try $0.startThread($1, $2, roomId: room.id) }
        let target = try await chat.send(alice, room, "question", thread: thread.id)
        try await chat.send(alice, room, "answer 1", thread: thread.id, reply: target.id)
        try await chat.send(alice, room, "unrelated", thread: thread.id)
        try await chat.send(alice, room, "answer 2", thread: thread.id, reply: target.id)
        try await chat.send(alice, room, "outside the thread", reply: target.id)
        let replies = try await chat.r(alice) { try $0.listReplies($1, $2, threadId: thread.id, messageId: target.id) }
        #expect(replies.items.map(\.content) == ["answer 1", "answer 2"])
    }

    @Test("resolve/reopen: starter or admin; posting into a resolved thread keeps it resolved")
    func resolve() async throws {
        let chat = try TestChat()
        let room = try await chat.room()
        try await chat.add(alice, room, "bob")
        try await chat.add(alice, room, "carol")
        let thread = try await chat.w(bob) { try $0.startThread($1, $2, roomId: room.id) }
        try await expectRefusedWithoutWrites(chat, .notRoomAdmin, .permissionDenied) {
            _ = try await chat.w(carol) { try $0.resolveThread($1, $2, threadId: thread.id) }
        }
        let resolved = try await chat.wc(bob) { try $0.resolveThread($1, $2, threadId: thread.id) }
        #expect(resolved.value.isResolved && resolved.value.resolvedAt != nil && resolved.events.map(\.kind) == [.threadResolved])
        try await chat.send(carol, room, "late", thread: thread.id)
        #expect(try await chat.r(carol) { try $0.getThread($1, $2, threadId: thread.id) }.isResolved)
        let again = try await chat.wc(bob) { try $0.resolveThread($1, $2, threadId: thread.id) }
        #expect(again.events.isEmpty)
        let reopened = try await chat.wc(alice) { try $0.reopenThread($1, $2, threadId: thread.id) }
        #expect(!reopened.value.isResolved && reopened.events.map(\.kind) == [.threadReopened])
    }

    @Test("reactions: members not viewers, idempotent add, own removal only, aggregated list")
    func reactions() async throws {
        let chat = try TestChat()
        let room = try await chat.room()
        try await chat.add(alice, room, "bob")
        try await chat.add(alice, room, "carol", .viewer)
        let m = try await chat.send(alice, room)
        let added = try await chat.wc(bob) { try $0.addReaction($1, $2, messageId: m.id, emoji: "👍") }
        #expect(added.value.added && added.events.map(\.kind) == [.reactionAdded] && added.events[0].subjectId == m.id)
        let again = try await chat.wc(bob) { try $0.addReaction($1, $2, messageId: m.id, emoji: "👍") }
        #expect(!again.value.added && again.events.isEmpty)
        try await chat.w(alice) { try $0.addReaction($1, $2, messageId: m.id, emoji: "👍") }
        try await chat.w(alice) { try $0.addReaction($1, $2, messageId: m.id, emoji: "🎉") }
        try await expectRefusedWithoutWrites(chat, .viewerReadOnly) {
            _ = try await chat.w(carol) { try $0.addReaction($1, $2, messageId: m.id, emoji: "👍") }
        }
        try await expectRefusedWithoutWrites(chat, .viewerReadOnly) {
            _ = try await chat.w(carol) { try $0.removeReaction($1, $2, messageId: m.id, emoji: "👍") }
        }
        try await expectRefusedWithoutWrites(chat, .notMember) {
            _ = try await chat.w(dave) { try $0.addReaction($1, $2, messageId: m.id, emoji: "👍") }
        }
        try await expectRefusedWithoutWrites(chat, .notFound) {
            _ = try await chat.w(mallory) { try $0.addReaction($1, $2, messageId: m.id, emoji: "👍") }
        }
        for emoji in ["", "a b", "\u{7}", String(repeating: "x", count: 65), "\n"] {
            try await expectRefusedWithoutWrites(chat, .validation, .invalidArgument) {
                _ = try await chat.w(bob) { try $0.addReaction($1, $2, messageId: m.id, emoji: emoji) }
            }
        }
        let groups = try await chat.r(bob) { try $0.listReactions($1, $2, messageId: m.id) }
        #expect(groups == [
            ReactionGroup(emoji: "👍", count: 2, reactedByActor: true, profileIds: ["bob", "alice"]),
            ReactionGroup(emoji: "🎉", count: 1, reactedByActor: false, profileIds: ["alice"]),
        ])
        let notMine = try await chat.wc(bob) { try $0.removeReaction($1, $2, messageId: m.id, emoji: "🎉") }
        #expect(!notMine.value && notMine.events.isEmpty, "only the actor's own reaction is removed")
        let removed = try await chat.wc(bob) { try $0.removeReaction($1, $2, messageId: m.id, emoji: "👍") }
        #expect(removed.value && removed.events.map(\.kind) == [.reactionRemoved])
    }

    @Test("DMs: canonical id, both enrolled, actor must be one of the two, converge, self-DM allowed")
    func dms() async throws {
        let chat = try TestChat()
        try await expectRefusedWithoutWrites(chat, .notDMParticipant, .permissionDenied) {
            _ = try await chat.w(carol) { try $0.getOrCreateDM($1, $2, profileA: "alice", profileB: "bob") }
        }
        let created = try await chat.wc(bob) { try $0.getOrCreateDM($1, $2, profileA: "bob", profileB: "alice") }
        #expect(created.value.id == "d68c0cb4-fe6f-5d49-ac32-f00f473a8856" && created.value.roomType == .dm)
        #expect(created.events.map(\.kind) == [.roomCreated, .participantJoined, .participantJoined])
        let again = try await chat.wc(alice) { try $0.getOrCreateDM($1, $2, profileA: "alice", profileB: "bob") }
        #expect(again.value.id == created.value.id && again.events.isEmpty)
        let other = try await chat.w(mallory) { try $0.getOrCreateDM($1, $2, profileA: "alice", profileB: "bob") }
        #expect(other.id == "c381bd62-1382-5060-9302-211e385c3fbc")
        // A left profile is re-activated.
        try await chat.w(alice) { try $0.removeParticipant($1, $2, roomId: created.value.id, profileId: "alice") }
        let back = try await chat.wc(bob) { try $0.getOrCreateDM($1, $2, profileA: "alice", profileB: "bob") }
        #expect(back.events.map(\.kind) == [.participantJoined])
        let selfDM = try await chat.wc(carol) { try $0.getOrCreateDM($1, $2, profileA: "carol", profileB: "carol") }
        #expect(selfDM.events.map(\.kind) == [.roomCreated, .participantJoined])
        // Concurrent creation converges on one room.
        let ids = try await withThrowingTaskGroup(of: String.self) { group in
            for i in 0..<10 {
                let actor = i % 2 == 0 ? dave : CallActor(tenantId: tenant, profileId: "erin")
                group.addTask { try await chat.w(actor) { try $0.getOrCreateDM($1, $2, profileA: "dave", profileB: "erin") }.id }
            }
            return try await group.reduce(into: Set<String>()) { $0.insert($1) }
        }
        #expect(ids.count == 1)
        #expect(try chat.scalar("SELECT count(*) FROM participants WHERE room_id = ?", [ids.first!]) == 2)
    }
}
