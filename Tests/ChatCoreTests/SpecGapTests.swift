@testable import ChatCore
import GRDB
import Testing

@Suite("Rules found untested on review")
struct SpecGapTests {
    @Test("GetOrCreateDM re-activates a left profile but never a banned one (SPEC §4.6)")
    func dmKeepsBannedOut() async throws {
        let chat = try TestChat()
        let dm = try await chat.w(alice) { try $0.getOrCreateDM($1, $2, profileA: "alice", profileB: "bob") }
        // Nobody administers a DM, so the ban is set in the table directly.
        try chat.storage.writeForTesting {
            try $0.execute(sql: "UPDATE participants SET status = 'banned' WHERE room_id = ? AND profile_id = 'bob'",
                           arguments: [dm.id])
        }
        let again = try await chat.wc(alice) { try $0.getOrCreateDM($1, $2, profileA: "alice", profileB: "bob") }
        #expect(again.events.isEmpty)
        #expect(try chat.scalar("SELECT count(*) FROM participants WHERE room_id = ? AND status = 'banned'", [dm.id]) == 1)
        try await expectRefusedWithoutWrites(chat, .notMember) { try await chat.send(bob, dm) }
    }

    @Test("JoinRoom re-activates a kicked profile with its previous role (SPEC §4.1, §12.8)")
    func joinAfterKick() async throws {
        let chat = try TestChat()
        let room = try await chat.room()
        try await chat.add(alice, room, "bob", .viewer)
        try await chat.w(alice) { try $0.removeParticipant($1, $2, roomId: room.id, profileId: "bob") }
        let back = try await chat.wc(bob) { try $0.joinRoom($1, $2, roomId: room.id) }
        #expect(back.value.status == .active && back.value.role == .viewer)
        #expect(back.events.map(\.kind) == [.participantJoined])
    }

    @Test("ExpireStaleSessions acts in the call's tenant only (SPEC §12.8)")
    func expireIsTenantBound() async throws {
        let chat = try TestChat()
        let theirs = try await chat.w(mallory) { try $0.createAgentSession($1, $2, agentId: "bot", ttlSeconds: 1) }
        chat.clock.advance(seconds: 5)
        let count = try await chat.w(adminKey) { try $0.expireStaleSessions($1, $2, olderThanSeconds: 0) }
        #expect(count == 0)
        let otherAdmin = CallActor(tenantId: "tenant-2", profileId: "ops", scopes: [.admin])
        #expect(try await chat.w(otherAdmin) { try $0.expireStaleSessions($1, $2, olderThanSeconds: 0) } == 1)
        let view = try await chat.r(mallory) { try $0.getAgentSession($1, $2, sessionId: theirs.session.session.id) }
        #expect(view.session.status == .expired)
    }

    @Test("text and JSON carrying U+0000 are VALIDATION on every engine, and nothing is written")
    func nulCharacters() async throws {
        let chat = try TestChat()
        let room = try await chat.room()
        for content in ["a\u{0}b", "\u{0}"] {
            let error = await expectFailure(.validation) { try await chat.send(alice, room, content) }
            #expect(error?.metadata["field"] == "content")
        }
        await expectFailure(.validation) {
            _ = try await chat.w(alice) { try $0.sendMessage($1, $2, roomId: room.id, content: "x", metadata: #"{"k":"a\u0000b"}"#) }
        }
        await expectFailure(.validation) {
            _ = try await chat.w(alice) { try $0.sendMessage($1, $2, roomId: room.id, content: "x", metadata: #"{"\u0000":1}"#) }
        }
        await expectFailure(.validation) { _ = try await chat.room(name: "bad\u{0}name") }
        await expectFailure(.validation) {
            _ = try await chat.w(alice) { try $0.getRoom($1, $2, roomId: "r\u{0}") }
        }
        let page = try await chat.r(alice) { try $0.listRoomMessages($1, $2, roomId: room.id) }
        #expect(page.items.isEmpty)
    }

    @Test("ListReactions caps the profile ids per emoji but counts every reaction (SPEC §4.5)")
    func reactionProfileCap() async throws {
        var limits = ChatLimits()
        limits.reactionProfileCap = 2
        let chat = try TestChat(limits: limits)
        let room = try await chat.room()
        for p in ["bob", "carol", "dave"] { try await chat.add(alice, room, p) }
        let m = try await chat.send(alice, room, "react")
        for actor in [alice, bob, carol, dave] {
            _ = try await chat.w(actor) { try $0.addReaction($1, $2, messageId: m.id, emoji: "👍") }
        }
        let groups = try await chat.r(dave) { try $0.listReactions($1, $2, messageId: m.id) }
        #expect(groups == [ReactionGroup(emoji: "👍", count: 4, reactedByActor: true, profileIds: ["alice", "bob"])])
    }
}
