@testable import ChatCore
@testable import ChatSQL
import ChatStore
import Foundation
import GRDB
import Testing

/// The domain half of the hardening issue: extreme integers, hostile JSON, unbounded growth, what events
/// reveal, and rules found out of order. Each test fails without its fix (a trap, a stall, or a wrong answer).
@Suite("Hardening: extreme values, hostile JSON, bounded replies (issue: hardening)")
struct HardeningTests {
    private func session(_ chat: TestChat, ttl: Int64 = 0) async throws -> AgentSession {
        try await chat.w(alice) {
            try $0.createAgentSession($1, $2, agentId: "bot", allowedTools: ["notes.*"], systemPrompt: "secret prompt",
                                      ttlSeconds: ttl)
        }.session.session
    }

    @Test("durations and token counts at Int64's edges are VALIDATION, never an overflow trap", arguments: [
        Int64.max, Int64(1) << 62, 3_153_600_001,
    ])
    func extremeIntegers(value: Int64) async throws {
        let chat = try TestChat()
        try await expectRefusedWithoutWrites(chat, .validation) {
            _ = try await chat.w(alice) { try $0.createAgentSession($1, $2, agentId: "bot", ttlSeconds: value) }
        }
        let s = try await session(chat)
        try await expectRefusedWithoutWrites(chat, .validation) {
            _ = try await chat.w(alice) { try $0.updateAgentSessionConfig($1, $2, sessionId: s.id, ttlSeconds: value) }
        }
        try await expectRefusedWithoutWrites(chat, .validation) {
            _ = try await chat.w(adminKey) { try $0.expireStaleSessions($1, $2, olderThanSeconds: value) }
        }
        try await expectRefusedWithoutWrites(chat, .validation) {
            _ = try await chat.w(agentKey) { try $0.sendAgentReply($1, $2, sessionId: s.id, content: "x", tokensUsed: value) }
        }
    }

    @Test("the longest duration (100 years) is accepted and computes its expiry")
    func longestDuration() async throws {
        let chat = try TestChat()
        let s = try await session(chat, ttl: 3_153_600_000)
        #expect(s.expiresAt == chat.clock.now + 3_153_600_000_000)
        #expect(try await chat.w(adminKey) { try $0.expireStaleSessions($1, $2, olderThanSeconds: 3_153_600_000) } == 0)
    }

    @Test("a reply whose tokens would overflow the session's total is refused and leaves the session usable")
    func tokenTotalOverflow() async throws {
        let chat = try TestChat()
        let s = try await session(chat)
        try chat.storage.writeForTesting {
            try $0.execute(sql: "UPDATE agent_sessions SET total_tokens_used = ? WHERE id = ?",
                           arguments: [Int64.max - 10, s.id])
        }
        try await expectRefusedWithoutWrites(chat, .validation) {
            _ = try await chat.w(agentKey) { try $0.sendAgentReply($1, $2, sessionId: s.id, content: "x", tokensUsed: 11) }
        }
        _ = try await chat.w(agentKey) { try $0.sendAgentReply($1, $2, sessionId: s.id, content: "x", tokensUsed: 10) }
        #expect(try chat.scalar("SELECT total_tokens_used FROM agent_sessions WHERE id = ?", [s.id]) == Int64.max)
    }

    @Test("hostile JSON is refused as VALIDATION, fast, on every JSON field", arguments: [
        String(repeating: "[", count: 100_000) + String(repeating: "]", count: 100_000),
        String(repeating: "{\"a\":", count: 50_000) + "1" + String(repeating: "}", count: 50_000),
        "\u{FEFF}{\"a\":1}", "{\"a\":1,}", "{\"a\":1,\"a\":2}", "{\"a\":\"\\ud800\"}", "{\"a\":1e400}",
        "{\"a\":01}", "{\"a\":\"tab\there\"}", "{\"a\":1} x", "{'a':1}", "{\"a\":NaN}", "{\"a\":\"x\\u0000y\"}",
    ])
    func hostileJSON(text: String) async throws {
        let chat = try TestChat()
        let room = try await chat.room()
        try await expectRefusedWithoutWrites(chat, .validation) { try await chat.send(alice, room, "m", metadata: text) }
        try await expectRefusedWithoutWrites(chat, .validation) {
            _ = try await chat.w(alice) { try $0.createRoom($1, $2, name: "r", roomType: .public, metadata: text) }
        }
        let s = try await session(chat)
        try await expectRefusedWithoutWrites(chat, .validation) {
            _ = try await chat.w(alice) { try $0.updateSessionContext($1, $2, sessionId: s.id, replace: text) }
        }
        let tool = ToolCallInput(callId: "c1", name: "notes.read", arguments: text, result: nil, isError: false)
        try await expectRefusedWithoutWrites(chat, .validation) {
            _ = try await chat.w(agentKey) {
                try $0.sendAgentReply($1, $2, sessionId: s.id, content: "", kind: .tool, messageType: .toolCall, toolCall: tool)
            }
        }
    }

    @Test("nesting is accepted up to 64 levels and refused past them")
    func depthLimit() async throws {
        let chat = try TestChat()
        let room = try await chat.room()
        let deep = { (levels: Int) in "{\"a\":" + String(repeating: "[", count: levels - 1)
            + String(repeating: "]", count: levels - 1) + "}" }
        _ = try await chat.send(alice, room, "ok", metadata: deep(64))
        try await expectRefusedWithoutWrites(chat, .validation) { try await chat.send(alice, room, "no", metadata: deep(65)) }
    }

    @Test("what the validator accepts is stored as it wrote it, and every engine's JSON check agrees")
    func storedIsValidated() async throws {
        let chat = try TestChat()
        let room = try await chat.room()
        let sent = try await chat.send(alice, room, "m", metadata: " {\"z\": [1, 2.5, \"\\u00e9\\n\"], \"a\": {\"b\": null}} ")
        #expect(sent.metadata == #"{"a":{"b":null},"z":[1,2.5,"é\n"]}"#)
        #expect(try chat.scalar("SELECT count(*) FROM messages WHERE json_valid(metadata) = 0") == 0)
    }

    @Test("SESSION_* events carry neither the system prompt nor the session context")
    func sessionEventsRedacted() async throws {
        let chat = try TestChat()
        let s = try await session(chat)
        _ = try await chat.w(alice) { try $0.updateSessionContext($1, $2, sessionId: s.id, replace: #"{"ssn":"123"}"#) }
        _ = try await chat.w(alice) { try $0.updateAgentSessionConfig($1, $2, sessionId: s.id, systemPrompt: "new secret") }
        _ = try await chat.w(alice) { try $0.closeAgentSession($1, $2, sessionId: s.id) }
        let log = try await chat.r(eventsKey) { try $0.listRoomEvents($1, $2, roomId: s.roomId, afterSeq: 0) }
        let events = log.events.filter { [.sessionCreated, .sessionUpdated, .sessionClosed].contains($0.kind) }
        #expect(events.count == 4)
        for event in events {
            guard case .session(let carried)? = event.entity else {
                Issue.record("\(event.kind) carries no session")
                continue
            }
            #expect(carried.systemPrompt.isEmpty && carried.sessionContext.isEmpty, "\(event.kind) leaks session secrets")
            #expect(carried.id == s.id)
        }
        #expect(try chat.scalar("SELECT count(*) FROM room_events WHERE payload LIKE '%secret%' OR payload LIKE '%ssn%'") == 0)

        // Events written before this rule: migration v4 empties both fields in place.
        try chat.storage.writeForTesting {
            try $0.execute(sql: """
                UPDATE room_events SET payload = json_set(payload, '$.session._0.systemPrompt', 'old secret',
                                                          '$.session._0.sessionContext', '{"ssn":"1"}')
                WHERE kind LIKE 'SESSION_%'
                """)
        }
        #expect(try chat.scalar("SELECT count(*) FROM room_events WHERE payload LIKE '%secret%'") == 4)
        try chat.storage.writeForTesting { try $0.execute(sql: Migrations.redactSessionEvents(.sqlite)) }
        #expect(try chat.scalar("SELECT count(*) FROM room_events WHERE payload LIKE '%secret%' OR payload LIKE '%ssn%'") == 0)
        let after = try await chat.r(eventsKey) { try $0.listRoomEvents($1, $2, roomId: s.roomId, afterSeq: 0) }
        #expect(after.events.count == log.events.count, "the redacted payloads still decode")
    }

    @Test("a message carries at most 64 distinct emoji; existing ones stay addable")
    func reactionCap() async throws {
        let chat = try TestChat()
        let room = try await chat.room()
        try await chat.add(alice, room, "bob")
        let m = try await chat.send(alice, room)
        for i in 0..<64 {
            _ = try await chat.w(alice) { try $0.addReaction($1, $2, messageId: m.id, emoji: "e\(i)") }
        }
        try await expectRefusedWithoutWrites(chat, .reactionLimit, .failedPrecondition) {
            _ = try await chat.w(bob) { try $0.addReaction($1, $2, messageId: m.id, emoji: "one-more") }
        }
        let same = try await chat.w(bob) { try $0.addReaction($1, $2, messageId: m.id, emoji: "e7") }
        #expect(same.added)
        #expect(try await chat.r(alice) { try $0.listReactions($1, $2, messageId: m.id) }.count == 64)
    }

    @Test("a page ends before its reply passes maxReplyBytes, and the cursor continues exactly there")
    func replyByteCap() async throws {
        var limits = ChatLimits()
        limits.maxReplyBytes = 64 * 1024
        let chat = try TestChat(limits: limits)
        let room = try await chat.room()
        var sent: [String] = []
        for i in 0..<12 { sent.append(try await chat.send(alice, room, String(repeating: "\(i % 10)", count: 20_000)).id) }
        var seen: [String] = []
        var cursor: String?
        repeat {
            let at = cursor
            let page = try await chat.r(alice) { try $0.listRoomMessages($1, $2, roomId: room.id, cursor: at, limit: 200) }
            #expect(page.items.reduce(0) { $0 + $1.replyBytes } <= limits.maxReplyBytes)
            #expect(!page.items.isEmpty)
            seen += page.items.map(\.id)
            cursor = page.hasMore ? page.nextCursor : nil
        } while cursor != nil
        #expect(seen == sent.reversed(), "every message once, newest first")
        let events = try await chat.r(eventsKey) { try $0.listRoomEvents($1, $2, roomId: room.id, afterSeq: 0, limit: 200) }
        #expect(events.hasMore && events.events.count < 13)
    }

    @Test("a cursor works only in its own tenant and list, and visibility is checked before it")
    func cursorsAreBound() async throws {
        let chat = try TestChat()
        for i in 0..<3 { _ = try await chat.room(name: "r\(i)") }
        let mine = try await chat.r(alice) { try $0.listMyRooms($1, $2, limit: 1) }
        #expect(mine.hasMore)
        // mallory is "alice" in tenant-2: same profile id, other tenant.
        try await expectRefusedWithoutWrites(chat, .validation) {
            _ = try await chat.r(mallory) { try $0.listMyRooms($1, $2, cursor: mine.nextCursor) }
        }
        let a = try await chat.room(alice, .private, name: "a")
        let b = try await chat.room(bob, .private, name: "b")
        for _ in 0..<3 { _ = try await chat.send(alice, a) }
        let page = try await chat.r(alice) { try $0.listRoomMessages($1, $2, roomId: a.id, limit: 1) }
        try await expectRefusedWithoutWrites(chat, .notFound) {
            _ = try await chat.r(alice) { try $0.listRoomMessages($1, $2, roomId: b.id, cursor: page.nextCursor) }
        }
        try await expectRefusedWithoutWrites(chat, .validation) {
            _ = try await chat.r(bob) { try $0.listRoomMessages($1, $2, roomId: b.id, cursor: page.nextCursor) }
        }
    }

    @Test("DeleteRoom of an agent room closes its session in the same commit; a new session is created after")
    func deleteRoomClosesSession() async throws {
        let chat = try TestChat()
        let s = try await session(chat)
        let deleted = try await chat.wc(alice) { try $0.deleteRoom($1, $2, roomId: s.roomId) }
        #expect(deleted.events.map(\.kind) == [.sessionClosed, .roomDeleted])
        let view = try await chat.r(agentKey) { try $0.getAgentSession($1, $2, sessionId: s.id) }
        #expect(view.session.status == .closed && !view.isActive)
        let next = try await chat.w(alice) { try $0.createAgentSession($1, $2, agentId: "bot") }
        #expect(!next.reused && next.session.session.id != s.id && next.room.id != s.roomId)
    }

    @Test("SearchMessages validates sender_profile_id like every profile id")
    func searchSender() async throws {
        let chat = try TestChat()
        _ = try await chat.room()
        for sender in ["a\u{0}b", String(repeating: "x", count: 129), "with space"] {
            try await expectRefusedWithoutWrites(chat, .validation) {
                _ = try await chat.r(alice) { try $0.searchMessages($1, $2, query: "hello", senderProfileId: sender) }
            }
        }
    }

    @Test("CreateAgentSession's reuse check names its caller on the SESSION_EXPIRED it appends")
    func reuseExpiryActor() async throws {
        let chat = try TestChat()
        let s = try await session(chat, ttl: 1)
        chat.clock.advance(seconds: 5)
        let again = try await chat.wc(alice) { try $0.createAgentSession($1, $2, agentId: "bot") }
        #expect(!again.value.reused)
        let expired = again.events.filter { $0.kind == .sessionExpired }
        #expect(expired.count == 1 && expired[0].subjectId == s.id && expired[0].actorProfileId == "alice")
    }

    @Test("deleted messages are hidden by default in all three message lists and shown as tombstones on request")
    func tombstonesConsistent() async throws {
        let chat = try TestChat()
        let room = try await chat.room()
        let thread = try await chat.w(alice) { try $0.startThread($1, $2, roomId: room.id) }
        let target = try await chat.send(alice, room, "question", thread: thread.id)
        let doomed = try await chat.send(alice, room, "answer", thread: thread.id, reply: target.id)
        _ = try await chat.w(alice) { try $0.deleteMessage($1, $2, messageId: doomed.id) }
        let lists: [(Bool) async throws -> [Message]] = [
            { all in try await chat.r(alice) {
                try $0.listRoomMessages($1, $2, roomId: room.id, includeThreadReplies: true, includeDeleted: all) }.items },
            { all in try await chat.r(alice) {
                try $0.listThreadMessages($1, $2, threadId: thread.id, includeDeleted: all) }.items },
            { all in try await chat.r(alice) {
                try $0.listReplies($1, $2, threadId: thread.id, messageId: target.id, includeDeleted: all) }.items },
        ]
        for (i, list) in lists.enumerated() {
            #expect(try await list(false).allSatisfy { $0.deletedAt == nil }, "list \(i) shows a deleted message")
            #expect(try await list(true).contains { $0.id == doomed.id && $0.deletedAt != nil && $0.content.isEmpty },
                    "list \(i) hides the tombstone when asked for it")
        }
    }

    @Test("ListReactions for one emoji pages through every profile that used it")
    func reactionProfilesPaged() async throws {
        let chat = try TestChat()
        let room = try await chat.room()
        let m = try await chat.send(alice, room)
        var expected: [String] = []
        for i in 0..<7 {
            let profile = CallActor(tenantId: tenant, profileId: "p\(i)")
            _ = try await chat.w(profile) { try $0.joinRoom($1, $2, roomId: room.id) }
            _ = try await chat.w(profile) { try $0.addReaction($1, $2, messageId: m.id, emoji: "+1") }
            expected.append(profile.profileId)
        }
        var seen: [String] = []
        var cursor: String?
        repeat {
            let at = cursor
            let page = try await chat.r(alice) {
                try $0.listReactionProfiles($1, $2, messageId: m.id, emoji: "+1", cursor: at, limit: 3)
            }
            #expect(page.items.count == 1 && page.items[0].count == 7 && !page.items[0].reactedByActor)
            seen += page.items[0].profileIds
            cursor = page.hasMore ? page.nextCursor : nil
        } while cursor != nil
        #expect(seen == expected)
        try await expectRefusedWithoutWrites(chat, .validation) {
            _ = try await chat.r(alice) {
                try $0.listReactionProfiles($1, $2, messageId: m.id, emoji: "-1", cursor: "djF8eHw", limit: 3)
            }
        }
    }

    @Test("GetMessageHistory of a much-edited message returns its newest versions that fit, oldest first")
    func historyOfManyEdits() async throws {
        var limits = ChatLimits()
        limits.maxReplyBytes = 8 * 1024
        let chat = try TestChat(limits: limits)
        let room = try await chat.room()
        let m = try await chat.send(alice, room, "v1", key: "k1")
        for i in 2...30 { _ = try await chat.w(alice) { try $0.editMessage($1, $2, messageId: m.id, content: "v\(i)") } }
        let history = try await chat.r(alice) { try $0.getMessageHistory($1, $2, messageId: m.id) }
        #expect(!history.isEmpty && history.count < 30)
        #expect(history.map(\.content) == (31 - history.count...30).map { "v\($0)" }, "the newest, oldest first")
        #expect(history.reduce(0) { $0 + $1.replyBytes } <= limits.maxReplyBytes)
        // A resend of the original send still replays: it is compared with the first version, read alone.
        let again = try await chat.w(alice) {
            try $0.sendMessage($1, $2, roomId: room.id, content: "v1", clientRequestId: "k1")
        }
        #expect(again.replayed && again.message.id == m.id)
        await expectFailure(.clientRequestConflict) {
            _ = try await chat.w(alice) { try $0.sendMessage($1, $2, roomId: room.id, content: "v30", clientRequestId: "k1") }
        }
    }

    @Test("ListMyRooms ends its page before the rooms' last messages pass maxReplyBytes, and pages through all")
    func myRoomsByteCap() async throws {
        var limits = ChatLimits()
        limits.maxReplyBytes = 64 * 1024
        let chat = try TestChat(limits: limits)
        var rooms: Set<String> = []
        for i in 0..<6 {
            let room = try await chat.room(name: "r\(i)")
            _ = try await chat.send(alice, room, String(repeating: "x", count: 20_000))
            rooms.insert(room.id)
        }
        var seen: [String] = []
        var cursor: String?
        var pages = 0
        repeat {
            let at = cursor
            let page = try await chat.r(alice) { try $0.listMyRooms($1, $2, cursor: at, limit: 200) }
            #expect(page.items.reduce(0) { $0 + $1.replyBytes } <= limits.maxReplyBytes)
            seen += page.items.map(\.room.id)
            cursor = page.hasMore ? page.nextCursor : nil
            pages += 1
        } while cursor != nil
        #expect(seen.count == 6 && Set(seen) == rooms && pages >= 2)
    }
}
