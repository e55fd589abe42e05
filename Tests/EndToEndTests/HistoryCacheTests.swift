import ChatAPI
import ChatClient
import Foundation
import Testing

/// ListRoomMessages pages are served again from the server's cache while the room's log has not moved (README: how the
/// server is built). These show that a page read again is never stale and never skips the access rule.
@Suite("History pages read again: never stale, never past the access rule", .serialized)
struct HistoryCacheTests {
    @Test("the same page read after a send, an edit, a delete or a reaction shows it")
    func pagesFollowTheRoom() async throws {
        let server = try ServerProcess(.ipc)
        let alice = try server.client(actor: "alice")
        defer { alice.close() }
        let room = try await alice.createRoom(.with { $0.name = "cached"; $0.roomType = .public }).room
        var ids: [String] = []
        for i in 0..<3 { ids.append(try await alice.sendMessage(.with { $0.roomID = room.id; $0.content = "m\(i)" }).message.id) }
        let request = Smrt_Chat_V1_ListRoomMessagesRequest.with { $0.roomID = room.id; $0.limit = 10 }
        func page() async throws -> [Smrt_Chat_V1_Message] { try await alice.listRoomMessages(request).messages }

        #expect(try await page().map(\.content) == ["m2", "m1", "m0"])
        #expect(try await page().map(\.content) == ["m2", "m1", "m0"])
        _ = try await alice.editMessage(.with { $0.messageID = ids[1]; $0.content = "m1 edited" })
        #expect(try await page().map(\.content) == ["m2", "m1 edited", "m0"])
        _ = try await alice.addReaction(.with { $0.messageID = ids[0]; $0.emoji = "👍" })
        let reacted = try await page()
        #expect(reacted.map(\.content) == ["m2", "m1 edited", "m0"])
        _ = try await alice.deleteMessage(.with { $0.messageID = ids[2] })
        #expect(try await page().map(\.content) == ["m1 edited", "m0"])
        _ = try await alice.sendMessage(.with { $0.roomID = room.id; $0.content = "m3" })
        #expect(try await page().map(\.content) == ["m3", "m1 edited", "m0"])
    }

    @Test("a page another member read is refused to a caller who is no longer a member, and to another tenant")
    func accessCheckedEveryTime() async throws {
        let server = try ServerProcess(.ipc)
        let alice = try server.client(actor: "alice")
        let bob = try server.client(actor: "bob")
        let otherTenant = try server.client(actor: "alice", tenant: "other")
        defer { alice.close(); bob.close(); otherTenant.close() }
        let room = try await alice.createRoom(.with { $0.name = "private"; $0.roomType = .private }).room
        _ = try await alice.addParticipant(.with { $0.roomID = room.id; $0.profileID = "bob" })
        _ = try await alice.sendMessage(.with { $0.roomID = room.id; $0.content = "secret" })
        let request = Smrt_Chat_V1_ListRoomMessagesRequest.with { $0.roomID = room.id; $0.limit = 5 }
        #expect(try await bob.listRoomMessages(request).messages.map(\.content) == ["secret"])
        #expect(try await alice.listRoomMessages(request).messages.map(\.content) == ["secret"])
        await expectRPC("NOT_FOUND") { _ = try await otherTenant.listRoomMessages(request) }

        _ = try await alice.removeParticipant(.with { $0.roomID = room.id; $0.profileID = "bob" })
        // Removing bob moved the log; read the page into the cache again at the new position before bob asks.
        #expect(try await alice.listRoomMessages(request).messages.map(\.content) == ["secret"])
        await expectRPC("NOT_MEMBER") { _ = try await bob.listRoomMessages(request) }
        // Bad input still gets its own error, not a stored page.
        await expectRPC("VALIDATION") { _ = try await alice.listRoomMessages(.with { $0.roomID = room.id; $0.limit = -1 }) }
    }
}
