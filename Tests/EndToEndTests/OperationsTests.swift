import ChatAPI
import ChatClient
import Foundation
import Testing

@Suite("Every operation through ChatClient against a running smrt-chatd", .serialized)
struct OperationsTests {
    @Test("Health and ServerInfo answer without credentials", arguments: Transport.allCases)
    func healthWithoutCredentials(transport: Transport) async throws {
        let server = try ServerProcess(transport)
        let anonymous = try ChatClient(ClientConfiguration(rpcEndpoints: [server.rpc], tenantId: "", actorProfileId: ""))
        defer { anonymous.close() }
        let health = try await anonymous.health()
        #expect(health.status == "SERVING" && health.serverTimeUnixMs > 0)
        let info = try await anonymous.serverInfo()
        #expect(info.api == "smrt.chat.v1" && info.eventsEndpoint == server.events && info.maxPageSize == 200)
    }

    @Test("the audit trail records key creation and revocation, ExpireStaleSessions and refused admin calls; smrt-chatd audit lists them")
    func auditTrail() async throws {
        let server = try ServerProcess(.ipc)
        let adminKey = try server.createKey(scopes: ["admin"])
        let chatKey = try server.createKey(scopes: ["chat"])
        let admin = try server.client(key: adminKey)
        let chatOnly = try server.client(key: chatKey)
        defer { admin.close(); chatOnly.close() }
        #expect(try await admin.expireStaleSessions(.with { $0.agentID = "bot" }).expiredCount == 0)
        await expectRPC("SCOPE_MISSING") { _ = try await chatOnly.expireStaleSessions(.init()) }
        await expectRPC("SCOPE_MISSING") { _ = try await chatOnly.listTenantEvents(.init()) }  // not an admin operation
        try server.revokeKey(chatKey.keyId)
        // The refusal is recorded without delaying its reply: wait for its commit.
        var lines: [[String: Any]] = []
        for _ in 0..<50 {
            lines = try ServerProcess.run(["audit", "--db", server.database, "--json"]).split(separator: "\n").map {
                try JSONSerialization.jsonObject(with: Data($0.utf8)) as! [String: Any]
            }
            if lines.contains(where: { $0["action"] as? String == "admin.denied" }) { break }
            try await Task.sleep(for: .milliseconds(100))
        }
        let actions = lines.map { $0["action"] as! String }
        #expect(actions.sorted() == ["admin.denied", "key.create", "key.create", "key.revoke", "sessions.expire"])
        #expect(lines.map { $0["id"] as! Int } == lines.map { $0["id"] as! Int }.sorted())
        let created = lines.filter { $0["action"] as? String == "key.create" }
        #expect(created.map { $0["subject"] as? String } == [adminKey.keyId, chatKey.keyId])
        #expect(created.allSatisfy { ($0["actor"] as! String).hasPrefix("cli:") })
        #expect(created.first?["detail"] as? String == #"{"all_tenants":false,"scopes":["admin"],"tenants":["tenant-1"]}"#)
        let expired = try #require(lines.first { $0["action"] as? String == "sessions.expire" })
        #expect(expired["actor"] as? String == "key:\(adminKey.keyId)" && expired["tenant_id"] as? String == "tenant-1")
        #expect(expired["subject"] as? String == "bot" && expired["outcome"] as? String == "ok")
        let denied = try #require(lines.first { $0["action"] as? String == "admin.denied" })
        #expect(denied["actor"] as? String == "key:\(chatKey.keyId)" && denied["subject"] as? String == "ExpireStaleSessions")
        #expect(denied["outcome"] as? String == "denied" && denied["detail"] as? String == #"{"reason":"SCOPE_MISSING"}"#)
        let revoked = try #require(lines.first { $0["action"] as? String == "key.revoke" })
        #expect(revoked["subject"] as? String == chatKey.keyId && revoked["outcome"] as? String == "ok")
        // No secret reaches the trail; --since filters; the table form has a header and a line per entry.
        let all = try ServerProcess.run(["audit", "--db", server.database])
        for secret in [adminKey.secret, chatKey.secret] { #expect(!all.contains(RequestSigning.hex(secret))) }
        #expect(all.split(separator: "\n").count == 1 + lines.count)
        #expect(try ServerProcess.run(["audit", "--db", server.database, "--json", "--since", "2999-01-01T00:00:00Z"]).isEmpty)
        // Append-only on PostgreSQL too (the SQLite triggers are tested in ChatCoreTests).
        if server.database.hasPrefix("postgres") {
            #expect(throws: (any Error).self) { try ServerProcess.psql(server.database, "UPDATE audit_log SET outcome = 'ok'") }
            #expect(throws: (any Error).self) { try ServerProcess.psql(server.database, "DELETE FROM audit_log") }
        }
    }

    @Test("a full conversation exercises every operation", arguments: Transport.allCases)
    func everyOperation(transport: Transport) async throws {
        let server = try ServerProcess(transport)
        let alice = try server.client(actor: "alice", scopes: ["chat"])
        defer { alice.close() }
        let bob = alice.acting(as: "bob")
        let agent = try server.client(actor: "agent-runtime", scopes: ["agent"])
        let consumer = try server.client(actor: "indexer", scopes: ["events"])
        let ops = try server.client(actor: "ops", scopes: ["admin"])

        // Rooms
        let room = try await alice.createRoom(.with { $0.name = "General"; $0.roomType = .public; $0.topic = "hi" }).room
        #expect(room.roomType == .public && room.lastEventSeq == 2)
        let got = try await alice.getRoom(.with { $0.roomID = room.id })
        #expect(got.participant.role == .owner && got.hasParticipant)
        _ = try await bob.joinRoom(.with { $0.roomID = room.id })
        let updated = try await alice.updateRoom(.with { $0.roomID = room.id; $0.description_p = "the room" }).room
        #expect(updated.description_p == "the room" && updated.topic == "hi")
        let mine = try await bob.listMyRooms(.init())
        #expect(mine.rooms.map(\.room.id) == [room.id] && !mine.hasMore_p && mine.nextCursor.isEmpty)
        let found = try await bob.searchRooms(.with { $0.query = "gener" })
        #expect(found.rooms.count == 1)

        // Participants
        let added = try await alice.addParticipant(.with { $0.roomID = room.id; $0.profileID = "carol"; $0.role = .viewer })
        #expect(added.participant.role == .viewer)
        _ = try await alice.setParticipantRole(.with { $0.roomID = room.id; $0.profileID = "carol"; $0.role = .member })
        _ = try await alice.banParticipant(.with { $0.roomID = room.id; $0.profileID = "dave" })
        let unbanned = try await alice.unbanParticipant(.with { $0.roomID = room.id; $0.profileID = "dave" })
        #expect(unbanned.participant.status == .left)
        let kicked = try await alice.removeParticipant(.with { $0.roomID = room.id; $0.profileID = "carol" })
        #expect(kicked.participant.status == .kicked)
        let people = try await bob.listParticipants(.with { $0.roomID = room.id; $0.status = .active })
        #expect(people.participants.map(\.profileID) == ["alice", "bob"])
        let presence = try await bob.setOnlineStatus(.with { $0.onlineStatus = .online })
        #expect(presence.updatedRooms == 1)

        // Messages
        let first = try await alice.sendMessage(.with { $0.roomID = room.id; $0.content = "hello"; $0.clientRequestID = "k1" })
        #expect(!first.replayed)
        let again = try await alice.sendMessage(.with { $0.roomID = room.id; $0.content = "hello"; $0.clientRequestID = "k1" })
        #expect(again.replayed && again.message.id == first.message.id)
        let fetched = try await bob.getMessage(.with { $0.messageID = first.message.id })
        #expect(fetched.message.content == "hello")
        let edited = try await alice.editMessage(.with { $0.messageID = first.message.id; $0.content = "hello!" })
        #expect(edited.message.version == 2)
        let history = try await bob.getMessageHistory(.with { $0.messageID = first.message.id })
        #expect(history.versions.map(\.content) == ["hello", "hello!"])
        let second = try await bob.sendMessage(.with { $0.roomID = room.id; $0.content = "searchable words" })
        let page = try await bob.listRoomMessages(.with { $0.roomID = room.id; $0.limit = 1 })
        #expect(page.messages.map(\.id) == [second.message.id] && page.hasMore_p)
        let hits = try await alice.searchMessages(.with { $0.query = "searchable" })
        #expect(hits.messages.map(\.id) == [second.message.id])
        let unread = try await alice.getUnreadCounts(.init())
        #expect(unread.total == 1)
        let read = try await alice.markRead(.with { $0.roomID = room.id })
        #expect(read.unreadCount == 0)

        // Threads
        let thread = try await bob.startThread(.with { $0.roomID = room.id; $0.rootMessageID = first.message.id; $0.title = "t" })
        let reply = try await alice.sendMessage(.with {
            $0.roomID = room.id; $0.content = "in thread"; $0.threadID = thread.thread.id
        })
        _ = try await bob.sendMessage(.with {
            $0.roomID = room.id; $0.content = "answer"; $0.threadID = thread.thread.id; $0.replyToMessageID = reply.message.id
        })
        let t = try await alice.getThread(.with { $0.threadID = thread.thread.id })
        #expect(t.thread.messageCount == 2 && t.thread.participantCount == 2)
        #expect(try await alice.listRoomThreads(.with { $0.roomID = room.id }).threads.count == 1)
        #expect(try await alice.listThreadMessages(.with { $0.threadID = thread.thread.id }).messages.count == 2)
        #expect(try await alice.listReplies(.with { $0.threadID = thread.thread.id; $0.messageID = reply.message.id }).messages.count == 1)
        #expect(try await bob.resolveThread(.with { $0.threadID = thread.thread.id }).thread.isResolved)
        #expect(try await alice.reopenThread(.with { $0.threadID = thread.thread.id }).thread.isResolved == false)

        // Reactions
        #expect(try await bob.addReaction(.with { $0.messageID = first.message.id; $0.emoji = "🎉" }).added)
        let groups = try await alice.listReactions(.with { $0.messageID = first.message.id })
        #expect(groups.reactions.map(\.emoji) == ["🎉"] && groups.reactions[0].count == 1)
        #expect(try await bob.removeReaction(.with { $0.messageID = first.message.id; $0.emoji = "🎉" }).removed)
        let deleted = try await bob.deleteMessage(.with { $0.messageID = second.message.id })
        #expect(deleted.message.hasDeletedAt && deleted.message.content.isEmpty)

        // DMs
        let dm = try await alice.getOrCreateDM(.with { $0.profileA = "alice"; $0.profileB = "bob" })
        #expect(dm.room.id == "d68c0cb4-fe6f-5d49-ac32-f00f473a8856" && dm.room.roomType == .dm)

        // Agent sessions
        let created = try await alice.createAgentSession(.with {
            $0.agentID = "helper"; $0.allowedTools = ["notes.*"]; $0.maxMessages = 10; $0.sessionKey = "conv"
        })
        let sid = created.session.id
        #expect(created.session.isActive && created.room.roomType == .agent && !created.reused)
        #expect(try await alice.createAgentSession(.with { $0.agentID = "helper"; $0.sessionKey = "conv" }).reused)
        #expect(try await agent.getAgentSession(.with { $0.sessionID = sid }).session.agentProfileID == "agent:helper")
        #expect(try await alice.listAgentSessions(.init()).sessions.count == 1)
        let userMessage = try await alice.sendAgentUserMessage(.with { $0.sessionID = sid; $0.content = "find notes" })
        let call = try await agent.sendAgentReply(.with {
            $0.sessionID = sid; $0.kind = .tool; $0.messageType = .toolCall
            $0.toolCall = .with { $0.callID = "c1"; $0.name = "notes.search"; $0.arguments = #"{"q":"x"}"# }
        })
        #expect(call.message.role == .tool && call.message.senderProfileID == "agent:helper")
        await expectRPC("TOOL_NOT_ALLOWED", code: 7) {
            _ = try await agent.sendAgentReply(.with {
                $0.sessionID = sid; $0.kind = .tool; $0.toolCall = .with { $0.callID = "c2"; $0.name = "shell.exec" }
            })
        }
        _ = try await agent.sendAgentReply(.with {
            $0.sessionID = sid; $0.kind = .tool; $0.messageType = .toolResult
            $0.toolCall = .with { $0.callID = "c1"; $0.name = "notes.search"; $0.result = "[]" }
        })
        _ = try await agent.sendAgentReply(.with { $0.sessionID = sid; $0.content = "nothing found"; $0.tokensUsed = 42 })
        let check = try await alice.checkToolCall(.with { $0.sessionID = sid; $0.toolName = "notes.read" })
        #expect(check.allowed && check.matchedEntry == "notes.*")
        let config = try await alice.updateAgentSessionConfig(.with {
            $0.sessionID = sid; $0.allowedTools = .with { $0.tools = [] }; $0.maxTokens = 1000
        })
        #expect(config.session.allowedTools.isEmpty && config.session.maxTokens == 1000 && config.session.totalTokensUsed == 42)
        let context = try await agent.updateSessionContext(.with { $0.sessionID = sid; $0.mergePatch = #"{"step":1}"# })
        #expect(context.contextVersion == 2)
        #expect(try await alice.getSessionContext(.with { $0.sessionID = sid }).sessionContext == #"{"step":1}"#)
        #expect(try await alice.recordTurnOutcome(.with { $0.messageID = userMessage.message.id; $0.outcome = .running }).applied)
        let closed = try await alice.closeAgentSession(.with { $0.sessionID = sid })
        #expect(!closed.session.isActive && closed.session.inactiveReason == .closed)
        _ = try await alice.createAgentSession(.with { $0.agentID = "short"; $0.ttlSeconds = 1 })
        try await Task.sleep(for: .milliseconds(1100))
        #expect(try await ops.expireStaleSessions(.init()).expiredCount == 1)

        // Event log
        let roomLog = try await bob.listRoomEvents(.with { $0.roomID = room.id; $0.afterSeq = 0 })
        #expect(roomLog.events.map(\.seq) == Array(1...Int64(roomLog.events.count)))
        #expect(roomLog.headSeq == Int64(roomLog.events.count) && roomLog.events.first?.kind == .roomCreated)
        let tenantLog = try await consumer.listTenantEvents(.with { $0.limit = 200 })
        #expect(tenantLog.events.contains { $0.kind == .toolCallDenied && $0.subjectID == sid })
        #expect(tenantLog.events.map(\.eventID) == tenantLog.events.map(\.eventID).sorted())

        // Archive and delete last.
        _ = try await alice.archiveRoom(.with { $0.roomID = room.id })
        await expectRPC("ROOM_ARCHIVED", code: 9) {
            _ = try await bob.sendMessage(.with { $0.roomID = room.id; $0.content = "x" })
        }
        _ = try await alice.unarchiveRoom(.with { $0.roomID = room.id })
        _ = try await alice.deleteRoom(.with { $0.roomID = room.id })
        await expectRPC("NOT_FOUND", code: 5) { _ = try await bob.getRoom(.with { $0.roomID = room.id }) }
    }
}
