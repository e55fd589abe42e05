@testable import ChatCore
import Testing

@Suite("Messages (SPEC §4.3)")
struct MessageTests {
    @Test("send: members only, viewers read-only, user types only, counters and event in one commit")
    func send() async throws {
        let chat = try TestChat()
        let room = try await chat.room()
        try await chat.add(alice, room, "bob", .viewer)
        try await expectRefusedWithoutWrites(chat, .notMember, .permissionDenied) { try await chat.send(carol, room) }
        try await expectRefusedWithoutWrites(chat, .viewerReadOnly, .permissionDenied) { try await chat.send(bob, room) }
        try await expectRefusedWithoutWrites(chat, .notFound) { try await chat.send(mallory, room) }
        for type in [MessageType.system, .toolCall, .toolResult] {
            let error = try await expectRefusedWithoutWrites(chat, .validation, .invalidArgument) {
                _ = try await chat.w(alice) { try $0.sendMessage($1, $2, roomId: room.id, content: "x", messageType: type) }
            }
            #expect(error?.metadata["field"] == "message_type")
        }
        let sent = try await chat.wc(alice) {
            try $0.sendMessage($1, $2, roomId: room.id, content: "hi", messageType: .action,
                               attachments: [Attachment(id: "a1", filename: "f.png", contentType: "image/png", size: 3)])
        }
        let m = sent.value.message
        #expect(m.role == .user && m.senderProfileId == "alice" && m.messageType == .action && m.version == 1)
        #expect(sent.events.map(\.kind) == [.messageCreated] && sent.events[0].seq == m.roomSeq)
        let stored = try await chat.r(alice) { try $0.getRoom($1, $2, roomId: room.id) }
        #expect(stored.room.lastMessageAt == m.createdAt && stored.room.lastEventSeq == m.roomSeq)
    }

    @Test("limits: content 64 KiB, 32 attachments, metadata object of 16 KiB")
    func limits() async throws {
        let chat = try TestChat()
        let room = try await chat.room()
        let big = String(repeating: "x", count: 64 * 1024 + 1)
        let attachments = (0..<33).map { Attachment(id: "a\($0)", filename: "f", contentType: "t", size: 1) }
        let cases: [(String, @Sendable (ChatDomain, any ChatTransaction, CallActor) throws -> SendResult)] = [
            ("content", { try $0.sendMessage($1, $2, roomId: room.id, content: big) }),
            ("content", { try $0.sendMessage($1, $2, roomId: room.id, content: "  ") }),
            ("attachments", { try $0.sendMessage($1, $2, roomId: room.id, content: "x", attachments: attachments) }),
            ("metadata", { try $0.sendMessage($1, $2, roomId: room.id, content: "x", metadata: "\"s\"") }),
            ("metadata", { try $0.sendMessage($1, $2, roomId: room.id, content: "x",
                                              metadata: "{\"a\":\"\(String(repeating: "y", count: 16 * 1024))\"}") }),
        ]
        for (field, op) in cases {
            let error = try await expectRefusedWithoutWrites(chat, .validation) { _ = try await chat.w(alice, op) }
            #expect(error?.metadata["field"] == field)
        }
        try await chat.send(alice, room, String(repeating: "x", count: 64 * 1024))
    }

    @Test("thread, reply and session references must belong to the same room and tenant")
    func foreignReferences() async throws {
        let chat = try TestChat()
        let room = try await chat.room()
        let other = try await chat.room(alice, .public, name: "other")
        let foreignMessage = try await chat.send(alice, other)
        let foreignThread = try await chat.w(alice) { try $0.startThread($1, $2, roomId: other.id) }
        let session = try await chat.w(alice) { try $0.createAgentSession($1, $2, agentId: "bot") }
        let otherTenantRoom = try await chat.room(mallory, .public)
        let otherTenantMessage = try await chat.send(mallory, otherTenantRoom)
        let cases: [(String, @Sendable (ChatDomain, any ChatTransaction, CallActor) throws -> SendResult)] = [
            ("thread_id", { try $0.sendMessage($1, $2, roomId: room.id, content: "x", threadId: foreignThread.id) }),
            ("reply_to_message_id", { try $0.sendMessage($1, $2, roomId: room.id, content: "x", replyToMessageId: foreignMessage.id) }),
            ("reply_to_message_id", { try $0.sendMessage($1, $2, roomId: room.id, content: "x", replyToMessageId: otherTenantMessage.id) }),
            ("agent_session_id", { try $0.sendMessage($1, $2, roomId: room.id, content: "x", agentSessionId: session.session.session.id) }),
            ("thread_id", { try $0.sendMessage($1, $2, roomId: room.id, content: "x", threadId: "no-such-thread") }),
        ]
        for (field, op) in cases {
            let error = try await expectRefusedWithoutWrites(chat, .foreignReference, .failedPrecondition) {
                _ = try await chat.w(alice, op)
            }
            #expect(error?.metadata["field"] == field)
        }
        // Empty optional ids count as not given.
        _ = try await chat.w(alice) {
            try $0.sendMessage($1, $2, roomId: room.id, content: "x", threadId: "", replyToMessageId: "",
                               agentSessionId: "", clientRequestId: "")
        }
    }

    @Test("idempotent send: same key and content replays, anything different conflicts, no second event")
    func idempotency() async throws {
        let chat = try TestChat()
        let room = try await chat.room()
        try await chat.add(alice, room, "bob")
        let first = try await chat.wc(alice) { try $0.sendMessage($1, $2, roomId: room.id, content: "hi", clientRequestId: "req-1") }
        #expect(!first.value.replayed && first.value.message.id == Identifiers.clientRequestMessageId(
            tenantId: tenant, roomId: room.id, threadId: nil, actorProfileId: "alice", clientRequestId: "req-1"))
        #expect(first.value.message.metadata.contains("\"clientRequestId\":\"req-1\""))
        let withOwn = try await chat.w(alice) {
            try $0.sendMessage($1, $2, roomId: room.id, content: "meta", metadata: #"{"topic":"x"}"#, clientRequestId: "req-m")
        }
        #expect(withOwn.message.metadata == #"{"clientRequestId":"req-m","topic":"x"}"#, "the caller's keys are kept")
        let plain = try await chat.w(alice) { try $0.sendMessage($1, $2, roomId: room.id, content: "p", metadata: #"{"b": 1}"#) }
        #expect(plain.message.metadata == #"{"b":1}"#, "without a key the metadata is stored as the validator wrote it")
        let before = try chat.footprint()
        let again = try await chat.wc(alice) { try $0.sendMessage($1, $2, roomId: room.id, content: "hi", clientRequestId: "req-1") }
        #expect(again.value.replayed && again.value.message == first.value.message && again.events.isEmpty)
        #expect(try chat.footprint() == before)
        let conflict = try await expectRefusedWithoutWrites(chat, .clientRequestConflict, .alreadyExists) {
            _ = try await chat.w(alice) { try $0.sendMessage($1, $2, roomId: room.id, content: "other", clientRequestId: "req-1") }
        }
        #expect(conflict?.metadata["existing_message_id"] == first.value.message.id)
        try await expectRefusedWithoutWrites(chat, .clientRequestConflict) {
            _ = try await chat.w(alice) {
                try $0.sendMessage($1, $2, roomId: room.id, content: "hi", messageType: .action, clientRequestId: "req-1")
            }
        }
        // The key is per sender: bob's req-1 is a different message.
        let bobs = try await chat.w(bob) { try $0.sendMessage($1, $2, roomId: room.id, content: "hi", clientRequestId: "req-1") }
        #expect(!bobs.replayed && bobs.message.id != first.value.message.id)
        // Authorization first: a non-member replaying the key gets NOT_MEMBER.
        try await chat.w(alice) { try $0.removeParticipant($1, $2, roomId: room.id, profileId: "bob") }
        try await expectRefusedWithoutWrites(chat, .notMember) {
            _ = try await chat.w(bob) { try $0.sendMessage($1, $2, roomId: room.id, content: "hi", clientRequestId: "req-1") }
        }
        // An edited original still replays with its first text.
        _ = try await chat.w(alice) { try $0.editMessage($1, $2, messageId: first.value.message.id, content: "edited") }
        let afterEdit = try await chat.w(alice) { try $0.sendMessage($1, $2, roomId: room.id, content: "hi", clientRequestId: "req-1") }
        #expect(afterEdit.replayed)
    }

    @Test("concurrent sends with one client_request_id make exactly one row and one event")
    func concurrentIdempotency() async throws {
        let chat = try TestChat()
        let room = try await chat.room()
        let results = try await withThrowingTaskGroup(of: SendResult.self) { group in
            for _ in 0..<24 {
                group.addTask {
                    try await chat.w(alice) { try $0.sendMessage($1, $2, roomId: room.id, content: "once", clientRequestId: "k") }
                }
            }
            return try await group.reduce(into: []) { $0.append($1) }
        }
        #expect(results.filter { !$0.replayed }.count == 1)
        #expect(Set(results.map(\.message.id)).count == 1)
        #expect(try chat.scalar("SELECT count(*) FROM messages") == 1)
        #expect(try chat.eventKinds(room.id).filter { $0 == .messageCreated }.count == 1)
    }

    @Test("GetMessage: members only; other tenants see NOT_FOUND")
    func get() async throws {
        let chat = try TestChat()
        let room = try await chat.room(alice, .private)
        let m = try await chat.send(alice, room)
        #expect(try await chat.r(alice) { try $0.getMessage($1, $2, messageId: m.id) } == m)
        await expectFailure(.notFound) { _ = try await chat.r(bob) { try $0.getMessage($1, $2, messageId: m.id) } }
        await expectFailure(.notFound) { _ = try await chat.r(mallory) { try $0.getMessage($1, $2, messageId: m.id) } }
        let pub = try await chat.room()
        let pm = try await chat.send(alice, pub)
        await expectFailure(.notMember) { _ = try await chat.r(bob) { try $0.getMessage($1, $2, messageId: pm.id) } }
    }

    @Test("ListRoomMessages: newest first, cursors, anchors, thread replies and deleted messages filtered")
    func list() async throws {
        let chat = try TestChat()
        let room = try await chat.room()
        var messages: [Message] = []
        for i in 0..<7 { messages.append(try await chat.send(alice, room, "m\(i)")) }
        let sent = messages
        let thread = try await chat.w(alice) { try $0.startThread($1, $2, roomId: room.id, rootMessageId: sent[0].id) }
        let inThread = try await chat.send(alice, room, "threaded", thread: thread.id)
        try await chat.w(alice) { try $0.deleteMessage($1, $2, messageId: sent[6].id) }

        let p1 = try await chat.r(alice) { try $0.listRoomMessages($1, $2, roomId: room.id, limit: 3) }
        #expect(p1.items.map(\.content) == ["m5", "m4", "m3"] && p1.hasMore)
        let p2 = try await chat.r(alice) { try $0.listRoomMessages($1, $2, roomId: room.id, cursor: p1.nextCursor, limit: 3) }
        #expect(p2.items.map(\.content) == ["m2", "m1", "m0"] && !p2.hasMore && p2.nextCursor.isEmpty)
        let all = try await chat.r(alice) {
            try $0.listRoomMessages($1, $2, roomId: room.id, includeThreadReplies: true, includeDeleted: true)
        }
        #expect(all.items.count == 8 && all.items[0].id == inThread.id && all.items[1].isDeleted)
        let before = try await chat.r(alice) { try $0.listRoomMessages($1, $2, roomId: room.id, anchor: .before(sent[3].id), limit: 2) }
        #expect(before.items.map(\.content) == ["m2", "m1"])
        let after = try await chat.r(alice) { try $0.listRoomMessages($1, $2, roomId: room.id, anchor: .after(sent[1].id), limit: 2) }
        #expect(after.items.map(\.content) == ["m3", "m2"] && after.hasMore)
        let next = try await chat.r(alice) { try $0.listRoomMessages($1, $2, roomId: room.id, cursor: after.nextCursor, limit: 2) }
        #expect(next.items.map(\.content) == ["m5", "m4"])
        let around = try await chat.r(alice) { try $0.listRoomMessages($1, $2, roomId: room.id, anchor: .around(sent[3].id), limit: 3) }
        #expect(around.items.map(\.content) == ["m4", "m3", "m2"])
        #expect(try await chat.r(alice) { try $0.listRoomMessages($1, $2, roomId: room.id, limit: 200) }.items.count == 6)
    }

    @Test("a cursor or anchor from another room or tenant is INVALID_ARGUMENT, not ignored")
    func badCursors() async throws {
        let chat = try TestChat()
        let room = try await chat.room()
        let other = try await chat.room(alice, .public, name: "other")
        for i in 0..<3 { try await chat.send(alice, other, "o\(i)") }
        let otherPage = try await chat.r(alice) { try $0.listRoomMessages($1, $2, roomId: other.id, limit: 1) }
        let otherMessage = otherPage.items[0]
        await expectFailure(.validation, .invalidArgument) {
            _ = try await chat.r(alice) { try $0.listRoomMessages($1, $2, roomId: room.id, cursor: otherPage.nextCursor) }
        }
        await expectFailure(.validation) {
            _ = try await chat.r(alice) { try $0.listRoomMessages($1, $2, roomId: room.id, anchor: .before(otherMessage.id)) }
        }
        await expectFailure(.validation) {
            _ = try await chat.r(alice) { try $0.listRoomMessages($1, $2, roomId: room.id, anchor: .around("unknown")) }
        }
        await expectFailure(.validation) {
            _ = try await chat.r(alice) { try $0.listRoomMessages($1, $2, roomId: room.id, cursor: "garbage") }
        }
        await expectFailure(.validation) { _ = try await chat.r(alice) { try $0.listRoomMessages($1, $2, roomId: room.id, limit: 201) } }
        let theirs = try await chat.room(mallory, .public)
        let theirMessage = try await chat.send(mallory, theirs)
        await expectFailure(.validation) {
            _ = try await chat.r(alice) { try $0.listRoomMessages($1, $2, roomId: room.id, anchor: .after(theirMessage.id)) }
        }
    }

    @Test("edit: sender only, keeps history oldest first, version grows, archived refused")
    func edit() async throws {
        let chat = try TestChat()
        let room = try await chat.room()
        try await chat.add(alice, room, "bob", .admin)
        let m = try await chat.send(alice, room, "v1")
        try await expectRefusedWithoutWrites(chat, .notMessageSender, .permissionDenied) {
            _ = try await chat.w(bob) { try $0.editMessage($1, $2, messageId: m.id, content: "hack") }
        }
        chat.clock.advance(ms: 5)
        let e1 = try await chat.wc(alice) { try $0.editMessage($1, $2, messageId: m.id, content: "v2") }
        chat.clock.advance(ms: 5)
        let e2 = try await chat.w(alice) { try $0.editMessage($1, $2, messageId: m.id, content: "v3") }
        #expect(e1.events.map(\.kind) == [.messageEdited] && e2.version == 3 && e2.editedAt != nil)
        let history = try await chat.r(bob) { try $0.getMessageHistory($1, $2, messageId: m.id) }
        #expect(history.map(\.content) == ["v1", "v2", "v3"] && history.map(\.version) == [1, 2, 3])
        #expect(history.map(\.editedAt) == history.map(\.editedAt).sorted())
        await expectFailure(.notFound) { _ = try await chat.r(mallory) { try $0.getMessageHistory($1, $2, messageId: m.id) } }
        try await expectRefusedWithoutWrites(chat, .validation) {
            _ = try await chat.w(alice) { try $0.editMessage($1, $2, messageId: m.id, content: "") }
        }
    }

    @Test("delete: sender or admin; tombstone with content cleared and reactions removed; twice is a no-op")
    func delete() async throws {
        let chat = try TestChat()
        let room = try await chat.room()
        try await chat.add(alice, room, "bob")
        try await chat.add(alice, room, "carol")
        let m = try await chat.send(bob, room, "secret")
        try await chat.w(carol) { try $0.addReaction($1, $2, messageId: m.id, emoji: "👍") }
        try await expectRefusedWithoutWrites(chat, .notRoomAdmin, .permissionDenied) {
            _ = try await chat.w(carol) { try $0.deleteMessage($1, $2, messageId: m.id) }
        }
        let deleted = try await chat.wc(alice) { try $0.deleteMessage($1, $2, messageId: m.id) }
        #expect(deleted.value.content == "" && deleted.value.deletedAt != nil && deleted.events.map(\.kind) == [.messageDeleted])
        #expect(try chat.scalar("SELECT count(*) FROM reactions") == 0)
        let again = try await chat.wc(bob) { try $0.deleteMessage($1, $2, messageId: m.id) }
        #expect(again.events.isEmpty)
        let fetched = try await chat.r(carol) { try $0.getMessage($1, $2, messageId: m.id) }
        #expect(fetched.isDeleted && fetched.content.isEmpty)
        try await expectRefusedWithoutWrites(chat, .messageDeleted) {
            _ = try await chat.w(bob) { try $0.editMessage($1, $2, messageId: m.id, content: "again") }
        }
        let own = try await chat.send(carol, room, "mine")
        _ = try await chat.w(carol) { try $0.deleteMessage($1, $2, messageId: own.id) }
    }

    @Test("search: full-text over the actor's rooms only, newest first, with filters and cursor")
    func search() async throws {
        let chat = try TestChat()
        let mine = try await chat.room()
        let hidden = try await chat.room(bob, .private)
        try await chat.send(alice, mine, "the quick brown fox")
        chat.clock.advance(ms: 1)
        try await chat.send(alice, mine, "a lazy dog and a fox")
        chat.clock.advance(ms: 1)
        try await chat.send(bob, hidden, "fox in a secret room")
        let other = try await chat.room(mallory, .public)
        try await chat.send(mallory, other, "fox of another tenant")
        let doomed = try await chat.send(alice, mine, "deleted fox")
        try await chat.w(alice) { try $0.deleteMessage($1, $2, messageId: doomed.id) }

        let hits = try await chat.r(alice) { try $0.searchMessages($1, $2, query: "fox") }
        #expect(hits.items.map(\.content) == ["a lazy dog and a fox", "the quick brown fox"])
        let both = try await chat.r(alice) { try $0.searchMessages($1, $2, query: "quick FOX") }
        #expect(both.items.count == 1)
        let paged = try await chat.r(alice) { try $0.searchMessages($1, $2, query: "fox", limit: 1) }
        let rest = try await chat.r(alice) { try $0.searchMessages($1, $2, query: "fox", cursor: paged.nextCursor, limit: 1) }
        #expect(paged.items.count == 1 && rest.items.count == 1 && paged.items[0].id != rest.items[0].id)
        let syntax = try await chat.r(alice) { try $0.searchMessages($1, $2, query: "fox\" OR * NEAR(") }
        #expect(syntax.items.count >= 0, "FTS syntax in the query is quoted, never an engine error")
        let bySender = try await chat.r(alice) { try $0.searchMessages($1, $2, query: "fox", senderProfileId: "bob") }
        #expect(bySender.items.isEmpty)
        await expectFailure(.notFound) { _ = try await chat.r(alice) { try $0.searchMessages($1, $2, query: "fox", roomId: hidden.id) } }
        await expectFailure(.validation) { _ = try await chat.r(alice) { try $0.searchMessages($1, $2, query: " ") } }
    }

    @Test("search index: sends, edits and deletes inside one commit are indexed once, as committed")
    func searchIndexInsideOneCommit() async throws {
        let chat = try TestChat()
        let room = try await chat.room()
        let old = try await chat.send(alice, room, "walrus before the batch")
        // One transaction: messages still queued for indexing are edited and deleted; an indexed one is edited.
        try await chat.w(alice) { d, tx, a in
            let fresh = try d.sendMessage(tx, a, roomId: room.id, content: "penguin draft").message
            _ = try d.editMessage(tx, a, messageId: fresh.id, content: "penguin final")
            let gone = try d.sendMessage(tx, a, roomId: room.id, content: "penguin doomed").message
            _ = try d.deleteMessage(tx, a, messageId: gone.id)
            _ = try d.editMessage(tx, a, messageId: old.id, content: "walrus edited")
        }
        func contents(_ query: String) async throws -> [String] {
            try await chat.r(alice) { try $0.searchMessages($1, $2, query: query) }.items.map(\.content)
        }
        #expect(try await contents("penguin") == ["penguin final"])
        #expect(try await contents("draft").isEmpty)
        #expect(try await contents("doomed").isEmpty)
        #expect(try await contents("walrus") == ["walrus edited"])
        #expect(try await contents("before").isEmpty)
        let report = try chat.storage.checkConsistency()
        #expect(report.isConsistent, "\(report)")
        // FTS5 compares its index with the messages table, term by term.
        try chat.storage.writeForTesting { db in
            try db.execute(sql: "INSERT INTO messages_fts(messages_fts) VALUES ('integrity-check')")
        }
    }
}
