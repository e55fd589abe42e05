@testable import ChatCore
import Testing

@Suite("Participants, roles, bans, read state (SPEC §4.2)")
struct ParticipantTests {
    @Test("AddParticipant: admins only; only owners grant owner; idempotent for active members")
    func add() async throws {
        let chat = try TestChat()
        let room = try await chat.room(alice, .private)
        try await chat.add(alice, room, "bob")
        try await expectRefusedWithoutWrites(chat, .notRoomAdmin, .permissionDenied) {
            try await chat.add(bob, room, "carol")
        }
        try await expectRefusedWithoutWrites(chat, .notFound) { try await chat.add(carol, room, "dave") }
        try await expectRefusedWithoutWrites(chat, .notFound) { try await chat.add(mallory, room, "dave") }
        try await chat.w(alice) { try $0.setParticipantRole($1, $2, roomId: room.id, profileId: "bob", role: .admin) }
        try await expectRefusedWithoutWrites(chat, .notRoomOwner, .permissionDenied) {
            try await chat.add(bob, room, "carol", .owner)
        }
        let carolRow = try await chat.add(bob, room, "carol", .viewer)
        #expect(carolRow.role == .viewer)
        let again = try await chat.wc(alice) { try $0.addParticipant($1, $2, roomId: room.id, profileId: "carol", role: .admin) }
        #expect(again.value.role == .viewer && again.events.isEmpty, "already active: unchanged")
        try await expectRefusedWithoutWrites(chat, .validation) { try await chat.add(alice, room, "bad id") }
    }

    @Test("re-adding a left or kicked profile re-activates it; banned stays out until unbanned")
    func reactivate() async throws {
        let chat = try TestChat()
        let room = try await chat.room(alice, .private)
        try await chat.add(alice, room, "bob", .admin)
        try await chat.w(bob) { try $0.removeParticipant($1, $2, roomId: room.id, profileId: "bob") }
        let back = try await chat.add(alice, room, "bob")
        #expect(back.status == .active && back.role == .admin, "no role given: the previous one")
        try await chat.w(alice) { try $0.removeParticipant($1, $2, roomId: room.id, profileId: "bob") }
        let kickedBack = try await chat.add(alice, room, "bob", .viewer)
        #expect(kickedBack.status == .active && kickedBack.role == .viewer)
        try await chat.w(alice) { try $0.banParticipant($1, $2, roomId: room.id, profileId: "bob") }
        try await expectRefusedWithoutWrites(chat, .participantBanned, .failedPrecondition) {
            try await chat.add(alice, room, "bob")
        }
        try await expectRefusedWithoutWrites(chat, .notMember) { try await chat.send(bob, room) }
        let unbanned = try await chat.wc(alice) { try $0.unbanParticipant($1, $2, roomId: room.id, profileId: "bob") }
        #expect(unbanned.value.status == .left && unbanned.events.map(\.kind) == [.participantUnbanned])
        let readded = try await chat.add(alice, room, "bob", .member)
        #expect(readded.role == .member)
        try await chat.send(bob, room)
    }

    @Test("room full and room type are enforced on add")
    func fullAndType() async throws {
        let chat = try TestChat()
        let room = try await chat.room(alice, .private, max: 2)
        try await chat.add(alice, room, "bob")
        try await expectRefusedWithoutWrites(chat, .roomFull, .failedPrecondition) { try await chat.add(alice, room, "carol") }
        let dm = try await chat.w(alice) { try $0.getOrCreateDM($1, $2, profileA: "alice", profileB: "bob") }
        try await expectRefusedWithoutWrites(chat, .notRoomAdmin) {
            _ = try await chat.w(alice) { try $0.addParticipant($1, $2, roomId: dm.id, profileId: "carol") }
        }
        let created = try await chat.w(alice) { try $0.createAgentSession($1, $2, agentId: "helper") }
        try await expectRefusedWithoutWrites(chat, .roomType, .failedPrecondition) {
            _ = try await chat.w(alice) { try $0.addParticipant($1, $2, roomId: created.room.id, profileId: "carol") }
        }
    }

    @Test("leaving: always allowed except for the last owner of a populated room")
    func lastOwner() async throws {
        let chat = try TestChat()
        let room = try await chat.room(alice, .private)
        try await chat.add(alice, room, "bob")
        try await expectRefusedWithoutWrites(chat, .lastOwner, .failedPrecondition) {
            _ = try await chat.w(alice) { try $0.removeParticipant($1, $2, roomId: room.id, profileId: "alice") }
        }
        try await expectRefusedWithoutWrites(chat, .lastOwner) {
            _ = try await chat.w(alice) { try $0.setParticipantRole($1, $2, roomId: room.id, profileId: "alice", role: .admin) }
        }
        try await chat.w(alice) { try $0.setParticipantRole($1, $2, roomId: room.id, profileId: "bob", role: .owner) }
        let left = try await chat.wc(alice) { try $0.removeParticipant($1, $2, roomId: room.id, profileId: "alice") }
        #expect(left.value.status == .left && left.events.map(\.kind) == [.participantLeft])
        let solo = try await chat.room(carol, .private)
        _ = try await chat.w(carol) { try $0.removeParticipant($1, $2, roomId: solo.id, profileId: "carol") }
    }

    @Test("kicking: admins only, admins cannot remove owners, unknown target is NOT_FOUND")
    func kick() async throws {
        let chat = try TestChat()
        let room = try await chat.room(alice, .private)
        try await chat.add(alice, room, "bob", .admin)
        try await chat.add(alice, room, "carol")
        try await expectRefusedWithoutWrites(chat, .notRoomAdmin) {
            _ = try await chat.w(carol) { try $0.removeParticipant($1, $2, roomId: room.id, profileId: "bob") }
        }
        try await expectRefusedWithoutWrites(chat, .notRoomOwner) {
            _ = try await chat.w(bob) { try $0.removeParticipant($1, $2, roomId: room.id, profileId: "alice") }
        }
        try await expectRefusedWithoutWrites(chat, .notFound, .notFound) {
            _ = try await chat.w(bob) { try $0.removeParticipant($1, $2, roomId: room.id, profileId: "zed") }
        }
        let kicked = try await chat.wc(bob) { try $0.removeParticipant($1, $2, roomId: room.id, profileId: "carol") }
        #expect(kicked.value.status == .kicked && kicked.events.map(\.kind) == [.participantKicked])
    }

    @Test("roles: admins cannot grant, take or demote owner; the last owner cannot be demoted")
    func roles() async throws {
        let chat = try TestChat()
        let room = try await chat.room(alice, .private)
        try await chat.add(alice, room, "bob", .admin)
        try await chat.add(alice, room, "carol")
        try await expectRefusedWithoutWrites(chat, .notRoomOwner) {
            _ = try await chat.w(bob) { try $0.setParticipantRole($1, $2, roomId: room.id, profileId: "carol", role: .owner) }
        }
        try await expectRefusedWithoutWrites(chat, .notRoomOwner) {
            _ = try await chat.w(bob) { try $0.setParticipantRole($1, $2, roomId: room.id, profileId: "alice", role: .member) }
        }
        try await expectRefusedWithoutWrites(chat, .notRoomAdmin) {
            _ = try await chat.w(carol) { try $0.setParticipantRole($1, $2, roomId: room.id, profileId: "carol", role: .admin) }
        }
        let changed = try await chat.wc(bob) {
            try $0.setParticipantRole($1, $2, roomId: room.id, profileId: "carol", role: .viewer)
        }
        #expect(changed.value.role == .viewer && changed.events.map(\.kind) == [.participantRoleChanged])
        let same = try await chat.wc(bob) { try $0.setParticipantRole($1, $2, roomId: room.id, profileId: "carol", role: .viewer) }
        #expect(same.events.isEmpty)
    }

    @Test("bans: admins only, not of owners; banned profiles cannot rejoin")
    func bans() async throws {
        let chat = try TestChat()
        let room = try await chat.room(alice, .public)
        try await chat.add(alice, room, "bob", .admin)
        try await chat.add(alice, room, "carol")
        try await expectRefusedWithoutWrites(chat, .notRoomOwner) {
            _ = try await chat.w(bob) { try $0.banParticipant($1, $2, roomId: room.id, profileId: "alice") }
        }
        try await expectRefusedWithoutWrites(chat, .notRoomAdmin) {
            _ = try await chat.w(carol) { try $0.banParticipant($1, $2, roomId: room.id, profileId: "bob") }
        }
        let banned = try await chat.wc(bob) { try $0.banParticipant($1, $2, roomId: room.id, profileId: "carol") }
        #expect(banned.value.status == .banned && banned.events.map(\.kind) == [.participantBanned])
        try await expectRefusedWithoutWrites(chat, .participantBanned) {
            _ = try await chat.w(carol) { try $0.joinRoom($1, $2, roomId: room.id) }
        }
        let twice = try await chat.wc(bob) { try $0.banParticipant($1, $2, roomId: room.id, profileId: "carol") }
        #expect(twice.events.isEmpty)
        try await expectRefusedWithoutWrites(chat, .notRoomAdmin) {
            _ = try await chat.w(dave) { _ = try $0.joinRoom($1, $2, roomId: room.id); return try $0.unbanParticipant($1, $2, roomId: room.id, profileId: "carol") }
        }
    }

    @Test("ListParticipants: members only, ordered by profile, status filter, cursor")
    func list() async throws {
        let chat = try TestChat()
        let room = try await chat.room(alice, .public)
        for p in ["bob", "carol", "dave"] { try await chat.add(alice, room, p) }
        try await chat.w(alice) { try $0.removeParticipant($1, $2, roomId: room.id, profileId: "dave") }
        let page1 = try await chat.r(bob) { try $0.listParticipants($1, $2, roomId: room.id, limit: 2) }
        #expect(page1.items.map(\.profileId) == ["alice", "bob"] && page1.hasMore)
        let page2 = try await chat.r(bob) { try $0.listParticipants($1, $2, roomId: room.id, cursor: page1.nextCursor, limit: 2) }
        #expect(page2.items.map(\.profileId) == ["carol", "dave"] && !page2.hasMore)
        let active = try await chat.r(bob) { try $0.listParticipants($1, $2, roomId: room.id, status: .active) }
        #expect(active.items.count == 3)
        await expectFailure(.notMember) { _ = try await chat.r(dave) { try $0.listParticipants($1, $2, roomId: room.id) } }
        let eve = CallActor(tenantId: tenant, profileId: "eve")
        await expectFailure(.notMember) { _ = try await chat.r(eve) { try $0.listParticipants($1, $2, roomId: room.id) } }
    }

    @Test("SetOnlineStatus updates the actor's rows only")
    func presence() async throws {
        let chat = try TestChat()
        let room = try await chat.room(alice, .public)
        try await chat.add(alice, room, "bob")
        let n = try await chat.w(bob) { try $0.setOnlineStatus($1, $2, status: .dnd) }
        #expect(n == 1)
        let rows = try await chat.r(alice) { try $0.listParticipants($1, $2, roomId: room.id) }
        #expect(rows.items.first { $0.profileId == "bob" }?.onlineStatus == .dnd)
        #expect(rows.items.first { $0.profileId == "alice" }?.onlineStatus == .offline)
    }

    @Test("unread counts exclude own, thread and deleted messages; MarkRead only moves forward")
    func unread() async throws {
        let chat = try TestChat()
        let room = try await chat.room(alice, .public)
        try await chat.add(alice, room, "bob")
        let m1 = try await chat.send(alice, room, "one")
        try await chat.send(bob, room, "own message")
        let m3 = try await chat.send(alice, room, "three")
        let thread = try await chat.w(alice) { try $0.startThread($1, $2, roomId: room.id, rootMessageId: m1.id) }
        try await chat.send(alice, room, "in thread", thread: thread.id)
        let doomed = try await chat.send(alice, room, "to delete")
        try await chat.w(alice) { try $0.deleteMessage($1, $2, messageId: doomed.id) }
        var counts = try await chat.r(bob) { try $0.getUnreadCounts($1, $2) }
        #expect(counts.rooms == [.init(roomId: room.id, unread: 2)] && counts.total == 2)
        let afterRead = try await chat.w(bob) { try $0.markRead($1, $2, roomId: room.id, messageId: m3.id) }
        #expect(afterRead == 0)
        let backwards = try await chat.wc(bob) { try $0.markRead($1, $2, roomId: room.id, messageId: m1.id) }
        #expect(backwards.value == 0 && backwards.events.isEmpty, "the cursor never moves backward")
        let view = try await chat.r(bob) { try $0.getRoom($1, $2, roomId: room.id) }
        #expect(view.participant?.lastReadMessageId == m3.id && view.unreadCount == 0)
        try await chat.send(alice, room, "four")
        counts = try await chat.r(bob) { try $0.getUnreadCounts($1, $2) }
        #expect(counts.total == 1)
        _ = try await chat.w(bob) { try $0.markRead($1, $2, roomId: room.id) }
        counts = try await chat.r(bob) { try $0.getUnreadCounts($1, $2) }
        #expect(counts.total == 0)
        // Threads: bob takes part, then sees alice's next thread message as unread there.
        try await chat.send(bob, room, "bob in thread", thread: thread.id)
        try await chat.send(alice, room, "reply", thread: thread.id)
        counts = try await chat.r(bob) { try $0.getUnreadCounts($1, $2) }
        #expect(counts.threads == [.init(roomId: room.id, threadId: thread.id, unread: 2)] && counts.total == 0)
        let threadUnread = try await chat.w(bob) { try $0.markRead($1, $2, roomId: room.id, threadId: thread.id) }
        #expect(threadUnread == 0)
        await expectFailure(.foreignReference) {
            let other = try await chat.room(alice, .public, name: "other")
            let foreign = try await chat.send(alice, other)
            _ = try await chat.w(bob) { try $0.markRead($1, $2, roomId: room.id, messageId: foreign.id) }
        }
    }

    @Test("unread counts stop at the cap in GetRoom, ListMyRooms, GetUnreadCounts and MarkRead, rooms and threads, and look at most twice the cap past the cursor")
    func unreadCap() async throws {
        var limits = ChatLimits()
        limits.unreadCountCap = 3
        let chat = try TestChat(limits: limits)
        let room = try await chat.room(alice, .public)
        try await chat.add(alice, room, "bob")
        var sent: [Message] = []
        for i in 1...5 { sent.append(try await chat.send(alice, room, "message \(i)")) }
        let first = sent[0]
        let thread = try await chat.w(alice) { try $0.startThread($1, $2, roomId: room.id, rootMessageId: first.id) }
        try await chat.send(bob, room, "bob in thread", thread: thread.id)
        for i in 1...5 { try await chat.send(alice, room, "reply \(i)", thread: thread.id) }
        let view = try await chat.r(bob) { try $0.getRoom($1, $2, roomId: room.id) }
        #expect(view.unreadCount == 3, "5 unread, capped at 3")
        let mine = try await chat.r(bob) { try $0.listMyRooms($1, $2) }
        #expect(mine.items.map(\.unreadCount) == [3])
        let counts = try await chat.r(bob) { try $0.getUnreadCounts($1, $2) }
        #expect(counts.rooms == [.init(roomId: room.id, unread: 3)] && counts.total == 3)
        #expect(counts.threads == [.init(roomId: room.id, threadId: thread.id, unread: 3)])
        // Below the cap the count is exact again: read up to the first message leaves 4 (→ 3), up to the third 2.
        let afterFirst = try await chat.w(bob) { try $0.markRead($1, $2, roomId: room.id, messageId: first.id) }
        #expect(afterFirst == 3)
        let third = sent[2]
        let exact = try await chat.w(bob) { try $0.markRead($1, $2, roomId: room.id, messageId: third.id) }
        #expect(exact == 2)
        // A count looks at the first 2 × cap messages past the cursor: alice's own 7 fill it, so bob's 2 after them
        // are not seen until she reads past her own.
        let busy = try await chat.room(alice, .public, name: "busy")
        try await chat.add(alice, busy, "bob")
        var own: Message?
        for i in 1...7 { own = try await chat.send(alice, busy, "own \(i)") }
        for i in 1...2 { try await chat.send(bob, busy, "bob \(i)") }
        let window = try await chat.r(alice) { try $0.getRoom($1, $2, roomId: busy.id) }
        #expect(window.unreadCount == 0, "a lower bound once the actor's own messages fill the window")
        let lastOwn = try #require(own)
        let afterOwn = try await chat.w(alice) { try $0.markRead($1, $2, roomId: busy.id, messageId: lastOwn.id) }
        #expect(afterOwn == 2)
    }

    @Test("PARTICIPANT_READ events only when enabled")
    func readEvents() async throws {
        var limits = ChatLimits()
        limits.emitReadEvents = true
        let chat = try TestChat(limits: limits)
        let room = try await chat.room(alice, .public)
        try await chat.add(alice, room, "bob")
        try await chat.send(alice, room)
        let read = try await chat.wc(bob) { try $0.markRead($1, $2, roomId: room.id) }
        #expect(read.events.map(\.kind) == [.participantRead])
        let quiet = try TestChat()
        let room2 = try await quiet.room(alice, .public)
        let read2 = try await quiet.wc(alice) { try $0.markRead($1, $2, roomId: room2.id) }
        #expect(read2.events.isEmpty)
    }
}
