@testable import ChatCore
import Testing

@Suite("Rooms (SPEC §4.1, §12.2)")
struct RoomTests {
    @Test("creating a room makes the actor its owner and logs ROOM_CREATED then PARTICIPANT_JOINED")
    func create() async throws {
        let chat = try TestChat()
        let committed = try await chat.wc(alice) {
            try $0.createRoom($1, $2, name: "General", roomType: .public, topic: "t", metadata: #"{"k":1}"#)
        }
        let room = committed.value
        #expect(room.status == .active && room.createdByProfileId == "alice" && room.lastEventSeq == 2)
        #expect(committed.events.map(\.kind) == [.roomCreated, .participantJoined])
        #expect(committed.events.map(\.seq) == [1, 2])
        let view = try await chat.r(alice) { try $0.getRoom($1, $2, roomId: room.id) }
        #expect(view.participant?.role == .owner)
    }

    @Test("dm and agent rooms cannot be created with CreateRoom", arguments: [RoomType.dm, .agent])
    func createRejectsSpecialTypes(type: RoomType) async throws {
        let chat = try TestChat()
        try await expectRefusedWithoutWrites(chat, .validation, .invalidArgument) {
            _ = try await chat.room(alice, type)
        }
    }

    @Test("bad input is INVALID_ARGUMENT naming the field and writes nothing")
    func createValidation() async throws {
        let chat = try TestChat()
        let cases: [(String, @Sendable (ChatDomain, any ChatTransaction, CallActor) throws -> Room)] = [
            ("name", { try $0.createRoom($1, $2, name: "", roomType: .public) }),
            ("name", { try $0.createRoom($1, $2, name: String(repeating: "x", count: 257), roomType: .public) }),
            ("metadata", { try $0.createRoom($1, $2, name: "a", roomType: .public, metadata: "[1]") }),
            ("metadata", { try $0.createRoom($1, $2, name: "a", roomType: .public, metadata: "{") }),
            ("max_participants", { try $0.createRoom($1, $2, name: "a", roomType: .public, maxParticipants: -1) }),
        ]
        for (field, op) in cases {
            let error = try await expectRefusedWithoutWrites(chat, .validation, .invalidArgument) {
                _ = try await chat.w(alice, op)
            }
            #expect(error?.metadata["field"] == field)
        }
        let badActor = CallActor(tenantId: tenant, profileId: "bad id!")
        try await expectRefusedWithoutWrites(chat, .validation) { _ = try await chat.room(badActor) }
    }

    @Test("a private room is NOT_FOUND to outsiders and to other tenants; a public one is visible")
    func visibility() async throws {
        let chat = try TestChat()
        let priv = try await chat.room(alice, .private)
        let pub = try await chat.room(alice, .public)
        await expectFailure(.notFound, .notFound) { _ = try await chat.r(bob) { try $0.getRoom($1, $2, roomId: priv.id) } }
        await expectFailure(.notFound) { _ = try await chat.r(mallory) { try $0.getRoom($1, $2, roomId: pub.id) } }
        let view = try await chat.r(bob) { try $0.getRoom($1, $2, roomId: pub.id) }
        #expect(view.participant == nil)
        // Visible but not a member: every other read is NOT_MEMBER.
        await expectFailure(.notMember, .permissionDenied) {
            _ = try await chat.r(bob) { try $0.listRoomMessages($1, $2, roomId: pub.id) }
        }
        // A missing room and a hidden room give identical errors.
        let hidden = await expectFailure(.notFound) { _ = try await chat.r(bob) { try $0.getRoom($1, $2, roomId: priv.id) } }
        let missing = await expectFailure(.notFound) { _ = try await chat.r(bob) { try $0.getRoom($1, $2, roomId: "nope") } }
        #expect(hidden?.message == missing?.message && hidden?.metadata == missing?.metadata)
    }

    @Test("a kicked profile still sees the room it has a row in, but nothing inside it")
    func kickedVisibility() async throws {
        let chat = try TestChat()
        let room = try await chat.room(alice, .private)
        try await chat.add(alice, room, "bob")
        try await chat.w(alice) { try $0.removeParticipant($1, $2, roomId: room.id, profileId: "bob") }
        let view = try await chat.r(bob) { try $0.getRoom($1, $2, roomId: room.id) }
        #expect(view.participant?.status == .kicked)
        await expectFailure(.notMember) { _ = try await chat.r(bob) { try $0.listRoomMessages($1, $2, roomId: room.id) } }
        try await expectRefusedWithoutWrites(chat, .notMember) { try await chat.send(bob, room) }
    }

    @Test("UpdateRoom: admins only, only supplied fields change, empty string clears")
    func update() async throws {
        let chat = try TestChat()
        let room = try await chat.w(alice) {
            try $0.createRoom($1, $2, name: "General", roomType: .public, description: "d", topic: "t")
        }
        try await chat.add(alice, room, "bob")
        try await expectRefusedWithoutWrites(chat, .notRoomAdmin, .permissionDenied) {
            _ = try await chat.w(bob) { try $0.updateRoom($1, $2, roomId: room.id, name: "x") }
        }
        let updated = try await chat.w(alice) { try $0.updateRoom($1, $2, roomId: room.id, topic: "") }
        #expect(updated.name == "General" && updated.description == "d" && updated.topic == "")
        let before = try chat.eventKinds(room.id).count
        _ = try await chat.w(alice) { try $0.updateRoom($1, $2, roomId: room.id, topic: "") }
        #expect(try chat.eventKinds(room.id).count == before, "an update that changes nothing appends no event")
        try await chat.add(alice, room, "carol", .admin)
        _ = try await chat.w(carol) { try $0.updateRoom($1, $2, roomId: room.id, name: "Renamed") }
        #expect(try chat.eventKinds(room.id).last == .roomUpdated)
    }

    @Test("archived rooms are read-only for every write and readable; unarchive restores writes")
    func archive() async throws {
        let chat = try TestChat()
        let room = try await chat.room()
        try await chat.add(alice, room, "bob")
        let message = try await chat.send(bob, room)
        let thread = try await chat.w(alice) { try $0.startThread($1, $2, roomId: room.id) }
        try await expectRefusedWithoutWrites(chat, .notRoomAdmin) {
            _ = try await chat.w(bob) { try $0.archiveRoom($1, $2, roomId: room.id) }
        }
        _ = try await chat.w(alice) { try $0.archiveRoom($1, $2, roomId: room.id) }
        let writes: [@Sendable () async throws -> Void] = [
            { try await chat.send(bob, room) },
            { _ = try await chat.w(bob) { try $0.startThread($1, $2, roomId: room.id) } },
            { _ = try await chat.w(bob) { try $0.addReaction($1, $2, messageId: message.id, emoji: "👍") } },
            { _ = try await chat.w(bob) { try $0.editMessage($1, $2, messageId: message.id, content: "x") } },
            { _ = try await chat.w(bob) { try $0.deleteMessage($1, $2, messageId: message.id) } },
            { _ = try await chat.w(alice) { try $0.addParticipant($1, $2, roomId: room.id, profileId: "carol") } },
            { _ = try await chat.w(bob) { try $0.removeParticipant($1, $2, roomId: room.id, profileId: "bob") } },
            { _ = try await chat.w(alice) { try $0.updateRoom($1, $2, roomId: room.id, name: "n") } },
            { _ = try await chat.w(alice) { try $0.resolveThread($1, $2, threadId: thread.id) } },
            { _ = try await chat.w(bob) { try $0.joinRoom($1, $2, roomId: room.id) } },
            { _ = try await chat.w(carol) { try $0.joinRoom($1, $2, roomId: room.id) } },
        ]
        for write in writes {
            try await expectRefusedWithoutWrites(chat, .roomArchived, .failedPrecondition) { try await write() }
        }
        let page = try await chat.r(bob) { try $0.listRoomMessages($1, $2, roomId: room.id) }
        #expect(page.items.count == 1)
        _ = try await chat.w(alice) { try $0.unarchiveRoom($1, $2, roomId: room.id) }
        try await chat.send(bob, room)
    }

    @Test("DeleteRoom: owners only; afterwards the room and its messages are NOT_FOUND for everyone")
    func delete() async throws {
        let chat = try TestChat()
        let room = try await chat.room()
        try await chat.add(alice, room, "bob", .admin)
        let message = try await chat.send(bob, room)
        try await expectRefusedWithoutWrites(chat, .notRoomOwner, .permissionDenied) {
            _ = try await chat.w(bob) { try $0.deleteRoom($1, $2, roomId: room.id) }
        }
        let deleted = try await chat.wc(alice) { try $0.deleteRoom($1, $2, roomId: room.id) }
        #expect(deleted.events.map(\.kind) == [.roomDeleted])
        for actor in [alice, bob] {
            await expectFailure(.notFound) { _ = try await chat.r(actor) { try $0.getRoom($1, $2, roomId: room.id) } }
            await expectFailure(.notFound) { _ = try await chat.r(actor) { try $0.getMessage($1, $2, messageId: message.id) } }
            await expectFailure(.notFound) { try await chat.send(actor, room) }
        }
        let mine = try await chat.r(alice) { try $0.listMyRooms($1, $2) }
        #expect(mine.items.isEmpty)
    }

    @Test("ListMyRooms: active memberships, newest activity first, unread counts, preview, cursor pages")
    func listMine() async throws {
        let chat = try TestChat()
        var rooms: [Room] = []
        for i in 0..<5 {
            rooms.append(try await chat.room(alice, .public, name: "room \(i)"))
            chat.clock.advance(ms: 10)
        }
        try await chat.add(alice, rooms[1], "bob")
        try await chat.send(bob, rooms[1], "latest")
        let other = try await chat.room(bob, .private)
        _ = other
        let first = try await chat.r(alice) { try $0.listMyRooms($1, $2, limit: 2) }
        #expect(first.items.map(\.room.id) == [rooms[1].id, rooms[4].id])
        #expect(first.items[0].unreadCount == 1 && first.items[0].lastMessage?.content == "latest")
        #expect(first.hasMore && !first.nextCursor.isEmpty)
        let second = try await chat.r(alice) { try $0.listMyRooms($1, $2, cursor: first.nextCursor, limit: 2) }
        let third = try await chat.r(alice) { try $0.listMyRooms($1, $2, cursor: second.nextCursor, limit: 2) }
        #expect(second.items.map(\.room.id) == [rooms[3].id, rooms[2].id])
        #expect(third.items.map(\.room.id) == [rooms[0].id] && !third.hasMore && third.nextCursor.isEmpty)
        await expectFailure(.validation) {
            _ = try await chat.r(bob) { try $0.listMyRooms($1, $2, cursor: first.nextCursor) }
        }
        let privateOnly = try await chat.r(bob) { try $0.listMyRooms($1, $2, type: .private) }
        #expect(privateOnly.items.count == 1)
    }

    @Test("SearchRooms: public rooms plus the actor's rooms, by name, description or topic")
    func search() async throws {
        let chat = try TestChat()
        _ = try await chat.w(alice) { try $0.createRoom($1, $2, name: "Rust fans", roomType: .public) }
        _ = try await chat.w(alice) { try $0.createRoom($1, $2, name: "x", roomType: .public, topic: "all about RUST") }
        let secret = try await chat.w(alice) { try $0.createRoom($1, $2, name: "rust secret", roomType: .private) }
        _ = try await chat.w(mallory) { try $0.createRoom($1, $2, name: "rust elsewhere", roomType: .public) }
        let forBob = try await chat.r(bob) { try $0.searchRooms($1, $2, query: "rust") }
        #expect(forBob.items.count == 2)
        let forAlice = try await chat.r(alice) { try $0.searchRooms($1, $2, query: "rust") }
        #expect(forAlice.items.count == 3 && forAlice.items.contains { $0.id == secret.id })
        let wildcard = try await chat.r(alice) { try $0.searchRooms($1, $2, query: "%") }
        #expect(wildcard.items.isEmpty, "LIKE wildcards in the query are literal")
    }

    @Test("JoinRoom: public only, idempotent for members, banned refused, full refused, rejoin keeps role")
    func join() async throws {
        let chat = try TestChat()
        let room = try await chat.room(alice, .public, max: 3)
        let joined = try await chat.wc(bob) { try $0.joinRoom($1, $2, roomId: room.id) }
        #expect(joined.value.role == .member && joined.events.map(\.kind) == [.participantJoined])
        let again = try await chat.wc(bob) { try $0.joinRoom($1, $2, roomId: room.id) }
        #expect(again.events.isEmpty && again.value == joined.value)
        let priv = try await chat.room(alice, .private)
        try await expectRefusedWithoutWrites(chat, .notFound) { _ = try await chat.w(bob) { try $0.joinRoom($1, $2, roomId: priv.id) } }
        try await chat.add(alice, priv, "bob")
        _ = try await chat.w(bob) { try $0.joinRoom($1, $2, roomId: priv.id) }  // active member: unchanged, no ROOM_TYPE
        try await chat.w(bob) { try $0.removeParticipant($1, $2, roomId: priv.id, profileId: "bob") }
        try await expectRefusedWithoutWrites(chat, .roomType, .failedPrecondition) {
            _ = try await chat.w(bob) { try $0.joinRoom($1, $2, roomId: priv.id) }
        }
        try await chat.w(alice) { try $0.banParticipant($1, $2, roomId: room.id, profileId: "carol") }
        try await expectRefusedWithoutWrites(chat, .participantBanned) {
            _ = try await chat.w(carol) { try $0.joinRoom($1, $2, roomId: room.id) }
        }
        _ = try await chat.w(dave) { try $0.joinRoom($1, $2, roomId: room.id) }
        let eve = CallActor(tenantId: tenant, profileId: "eve")
        try await expectRefusedWithoutWrites(chat, .roomFull) { _ = try await chat.w(eve) { try $0.joinRoom($1, $2, roomId: room.id) } }
        try await chat.w(alice) { try $0.setParticipantRole($1, $2, roomId: room.id, profileId: "bob", role: .viewer) }
        try await chat.w(bob) { try $0.removeParticipant($1, $2, roomId: room.id, profileId: "bob") }
        let rejoined = try await chat.w(bob) { try $0.joinRoom($1, $2, roomId: room.id) }
        #expect(rejoined.role == .viewer, "re-activation keeps the previous role")
    }
}
