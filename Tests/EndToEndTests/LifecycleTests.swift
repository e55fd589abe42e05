import ChatAPI
import ChatClient
import Foundation
import GRDB
import SwiftProtobuf
import Synchronization
import Testing

private let day: Int64 = 86_400_000

/// Ids acknowledged to concurrent writers.
private final class AckedIds: Sendable {
    let ids = Mutex<[String]>([])
}

/// A flag set once, read by concurrent tasks.
private final class StopFlag: Sendable {
    private let value = Atomic<Bool>(false)
    var isSet: Bool { value.load(ordering: .relaxed) }
    func set() { value.store(true, ordering: .relaxed) }
}

private func nowMs() -> Int64 { Int64(Date().timeIntervalSince1970 * 1000) }

/// `smrt-chatd purge` on the server's database as at `at`; returns its report line.
@discardableResult
private func purge(_ server: ServerProcess, at: Int64, eventRetentionSeconds: Int64? = nil) throws -> String {
    try ServerProcess.run(["purge", "--db", server.database, "--now-ms", String(at)]
                          + (eventRetentionSeconds.map { ["--retention-seconds", String($0)] } ?? []))
}

private func fileSize(_ path: String) -> Int64 {
    ((try? FileManager.default.attributesOfItem(atPath: path))?[.size] as? NSNumber)?.int64Value ?? 0
}

@Suite("Data lifecycle: retention, purge, backup (SPEC §14)", .serialized)
struct LifecycleTests {
    @Test("retention policies: the tenant default is admin's, a room's its owner's or admin's; sources and removal")
    func policies() async throws {
        let server = try ServerProcess(.ipc)
        let alice = try server.client(actor: "alice")
        let bob = try server.client(actor: "bob")
        let admin = try server.client(actor: "ops", scopes: ["admin"])
        defer { alice.close(); bob.close(); admin.close() }
        let room = try await alice.createRoom(.with { $0.name = "kept"; $0.roomType = .public }).room
        _ = try await bob.joinRoom(.with { $0.roomID = room.id })
        let secret = try await alice.createRoom(.with { $0.name = "secret"; $0.roomType = .private }).room

        var got = try await alice.getRetentionPolicy(.with { $0.roomID = room.id }).policy
        #expect(got.source == .default && got.messageRetentionDays == 0)
        await expectRPC("SCOPE_MISSING") { _ = try await alice.setRetentionPolicy(.with { $0.messageRetentionDays = 30 }) }
        await expectRPC("SCOPE_MISSING") { _ = try await alice.getRetentionPolicy(.init()) }
        let tenant = try await admin.setRetentionPolicy(.with { $0.messageRetentionDays = 30 }).policy
        #expect(tenant.source == .tenant && tenant.messageRetentionDays == 30 && tenant.roomID.isEmpty)
        got = try await bob.getRetentionPolicy(.with { $0.roomID = room.id }).policy
        #expect(got.source == .tenant && got.messageRetentionDays == 30)

        await expectRPC("NOT_ROOM_OWNER", code: 7) {
            _ = try await bob.setRetentionPolicy(.with { $0.roomID = room.id; $0.messageRetentionDays = 1 })
        }
        await expectRPC("NOT_FOUND") {
            _ = try await bob.setRetentionPolicy(.with { $0.roomID = secret.id; $0.messageRetentionDays = 1 })
        }
        await expectRPC("NOT_FOUND") { _ = try await bob.getRetentionPolicy(.with { $0.roomID = secret.id }) }
        await expectRPC("VALIDATION") {
            _ = try await alice.setRetentionPolicy(.with { $0.roomID = room.id; $0.messageRetentionDays = -1 })
        }
        await expectRPC("VALIDATION") {
            _ = try await alice.setRetentionPolicy(.with { $0.roomID = room.id; $0.messageRetentionDays = 36_501 })
        }
        let own = try await alice.setRetentionPolicy(.with { $0.roomID = room.id; $0.messageRetentionDays = 7 }).policy
        #expect(own.source == .room && own.messageRetentionDays == 7 && own.roomID == room.id)
        // 0 on a room keeps its messages forever, whatever the tenant says; unset removes the override.
        let forever = try await admin.setRetentionPolicy(.with { $0.roomID = room.id; $0.messageRetentionDays = 0 }).policy
        #expect(forever.source == .room && forever.messageRetentionDays == 0)
        let removed = try await alice.setRetentionPolicy(.with { $0.roomID = room.id }).policy
        #expect(removed.source == .tenant && removed.messageRetentionDays == 30)
        let other = try server.client(actor: "ops", tenant: "tenant-2", scopes: ["admin"])
        defer { other.close() }
        #expect(try await other.getRetentionPolicy(.init()).policy.source == .default)
        await expectRPC("NOT_FOUND") { _ = try await other.getRetentionPolicy(.with { $0.roomID = room.id }) }
        let audit = try ServerProcess.run(["audit", "--db", server.database])
        #expect(audit.components(separatedBy: "retention.set").count - 1 == 4)
    }

    @Test("the purge deletes messages past the effective retention for good, with one ROOM_MESSAGES_PURGED per room")
    func purgeMessages() async throws {
        let server = try ServerProcess(.ipc)
        let alice = try server.client(actor: "alice")
        let admin = try server.client(actor: "ops", scopes: ["admin"])
        defer { alice.close(); admin.close() }
        func room(_ name: String) async throws -> Smrt_Chat_V1_Room {
            try await alice.createRoom(.with { $0.name = name; $0.roomType = .public }).room
        }
        let short = try await room("one day"), long = try await room("five days"), plain = try await room("tenant")
        _ = try await alice.setRetentionPolicy(.with { $0.roomID = short.id; $0.messageRetentionDays = 1 })
        _ = try await alice.setRetentionPolicy(.with { $0.roomID = long.id; $0.messageRetentionDays = 5 })
        _ = try await admin.setRetentionPolicy(.with { $0.messageRetentionDays = 3 })
        // A conversation with everything that hangs off messages: a thread, a reply, an edit, reactions.
        var ids: [String: [String]] = [:]
        for r in [short, long, plain] {
            let root = try await alice.sendMessage(.with { $0.roomID = r.id; $0.content = "root" }).message
            let thread = try await alice.startThread(.with { $0.roomID = r.id; $0.rootMessageID = root.id }).thread
            let inThread = try await alice.sendMessage(.with { $0.roomID = r.id; $0.threadID = thread.id; $0.content = "in" }).message
            let reply = try await alice.sendMessage(.with { $0.roomID = r.id; $0.content = "re"; $0.replyToMessageID = root.id }).message
            _ = try await alice.editMessage(.with { $0.messageID = reply.id; $0.content = "re, edited" })
            _ = try await alice.addReaction(.with { $0.messageID = root.id; $0.emoji = "👍" })
            ids[r.id] = [root.id, inThread.id, reply.id]
        }
        let start = nowMs()
        #expect(try purge(server, at: start).hasPrefix("purged 0 messages"))
        #expect(try purge(server, at: start + 2 * day).hasPrefix("purged 3 messages in 1 rooms"))
        func messages(_ r: Smrt_Chat_V1_Room) async throws -> [Smrt_Chat_V1_Message] {
            try await alice.listRoomMessages(.with { $0.roomID = r.id; $0.includeThreadReplies = true; $0.limit = 50 }).messages
        }
        #expect(try await messages(short).isEmpty)
        let (longCount, plainCount) = (try await messages(long).count, try await messages(plain).count)
        #expect(longCount == 3 && plainCount == 3)
        for id in ids[short.id]! {
            await expectRPC("NOT_FOUND") { _ = try await alice.getMessage(.with { $0.messageID = id }) }
        }
        let events = try await alice.listRoomEvents(.with { $0.roomID = short.id; $0.limit = 100 }).events
        let purged = events.filter { $0.kind == .roomMessagesPurged }
        #expect(purged.count == 1 && purged[0].messagesPurged.count == 3 && purged[0].actorProfileID.isEmpty
                && purged[0].subjectID == short.id && purged[0].messagesPurged.purgedBeforeMs == start + day)
        // The log keeps its events, without the content they carried.
        let about = events.filter { ids[short.id]!.contains($0.subjectID) }
        #expect(!about.isEmpty && about.allSatisfy { $0.entity == nil })
        #expect(events.map(\.seq) == Array(1...Int64(events.count)))
        // The thread stays, without its root.
        let threads = try await alice.listRoomThreads(.with { $0.roomID = short.id }).threads
        #expect(threads.count == 1 && threads[0].rootMessageID.isEmpty && threads[0].messageCount == 1)

        #expect(try purge(server, at: start + 2 * day).hasPrefix("purged 0 messages"))
        #expect(try purge(server, at: start + 4 * day).hasPrefix("purged 3 messages in 1 rooms"))
        let (plainLeft, longLeft) = (try await messages(plain).count, try await messages(long).count)
        #expect(plainLeft == 0 && longLeft == 3)
        #expect(try purge(server, at: start + 6 * day).hasPrefix("purged 3 messages in 1 rooms"))
        let check = try ServerProcess.run(["check", "--db", server.database])
        #expect(check.contains("consistent"), "\(check)")
        // New messages go on in a purged room, seqs gap-free.
        _ = try await alice.sendMessage(.with { $0.roomID = short.id; $0.content = "after" })
        #expect(try await messages(short).map(\.content) == ["after"])
    }

    @Test("space is freed: under steady sends with a one-day policy and the clock advanced, the file stops growing")
    func spaceIsFreed() async throws {
        let server = try ServerProcess(.ipc)
        guard !server.database.hasPrefix("postgres") else { return }  // SQLite's file; PostgreSQL: autovacuum
        let alice = try server.client(actor: "alice")
        defer { alice.close() }
        let room = try await alice.createRoom(.with { $0.name = "busy"; $0.roomType = .public }).room
        _ = try await alice.setRetentionPolicy(.with { $0.roomID = room.id; $0.messageRetentionDays = 1 })
        let body = String(repeating: "steady load ", count: 80)
        var sizes: [Int64] = []
        // Each cycle sends a batch, then purges as at one day after the cycle began: what the earlier cycles sent
        // is past the policy, what this one sent is kept (the steady state holds one cycle of messages). The event
        // log's retention is a day too, so the events of purged messages go with them.
        for cycle in 0..<8 {
            let began = nowMs()
            try await withThrowingTaskGroup(of: Void.self) { group in
                for worker in 0..<8 {
                    group.addTask {
                        for i in 0..<150 {
                            _ = try await alice.sendMessage(.with { $0.roomID = room.id; $0.content = "\(cycle)-\(worker)-\(i) \(body)" })
                        }
                    }
                }
                try await group.waitForAll()
            }
            let report = try purge(server, at: began + day, eventRetentionSeconds: 86_400)
            #expect(report.hasPrefix(cycle == 0 ? "purged 0 messages" : "purged 1200 messages"), "\(report)")
            sizes.append(fileSize(server.database))
        }
        sizes.removeFirst()  // before the first purge cycle
        let first = Double(sizes[0])
        #expect(sizes.dropFirst().allSatisfy { Double($0) <= first * 1.1 }, "file sizes per cycle: \(sizes)")
        #expect(try await alice.listRoomMessages(.with { $0.roomID = room.id; $0.limit = 200 }).messages.count == 200)
    }

    @Test("a backup taken during a write load passes check and holds every write acknowledged before it started")
    func backupWhileServing() async throws {
        let server = try ServerProcess(.ipc)
        guard !server.database.hasPrefix("postgres") else { return }  // PostgreSQL has its own tools
        let alice = try server.client(actor: "alice")
        defer { alice.close() }
        let room = try await alice.createRoom(.with { $0.name = "load"; $0.roomType = .public }).room
        let acked = AckedIds()
        let stop = StopFlag()
        let load = Task {
            await withTaskGroup(of: Void.self) { group in
                for worker in 0..<6 {
                    group.addTask {
                        var i = 0
                        while !stop.isSet {
                            i += 1
                            if let m = try? await alice.sendMessage(.with { $0.roomID = room.id; $0.content = "w\(worker)-\(i)" }) {
                                acked.ids.withLock { $0.append(m.message.id) }
                            }
                        }
                    }
                }
            }
        }
        try await Task.sleep(for: .milliseconds(500))
        let before = acked.ids.withLock { $0 }
        let out = server.directory.appendingPathComponent("backup.sqlite").path
        let report = try ServerProcess.run(["backup", "--db", server.database, out])
        #expect(report.hasPrefix("backed up"))
        try await Task.sleep(for: .milliseconds(300))
        stop.set()
        await load.value
        #expect(before.count > 20 && acked.ids.withLock { $0.count } > before.count)
        let check = try ServerProcess.run(["check", "--db", out])
        #expect(check.contains("consistent"), "\(check)")
        let copy = try DatabaseQueue(path: out)
        let stored = try await copy.read { db in Set(try String.fetchAll(db, sql: "SELECT id FROM messages")) }
        #expect(before.allSatisfy(stored.contains), "\(before.filter { !stored.contains($0) }.count) acknowledged writes missing")
        // A damaged copy fails the check.
        let handle = try FileHandle(forWritingTo: URL(fileURLWithPath: out))
        try handle.seek(toOffset: 4096 * 3)
        try handle.write(contentsOf: Data(repeating: 0xA5, count: 4096 * 2))
        try handle.close()
        #expect(throws: (any Error).self) { try ServerProcess.run(["check", "--db", out]) }
        // It never overwrites a file.
        #expect(throws: (any Error).self) { try ServerProcess.run(["backup", "--db", server.database, out]) }
    }

    @Test("erasure leaves no trace: a marker sent everywhere a profile's data goes is in no byte of the database")
    func eraseLeavesNoTrace() async throws {
        let server = try ServerProcess(.ipc)
        // Lower case: the search index keeps words lower-cased; its leaves may share a word's prefix with the word
        // before, so the files are searched for the marker's tail too.
        let marker = "mrk" + UUID().uuidString.replacingOccurrences(of: "-", with: "").prefix(20).lowercased()
        let victim = try server.client(actor: "victim")
        let bob = try server.client(actor: "bob")
        let agent = try server.client(actor: "agent-runtime", scopes: ["agent"])
        let admin = try server.client(actor: "ops", scopes: ["admin"])
        defer { victim.close(); bob.close(); agent.close(); admin.close() }

        let room = try await bob.createRoom(.with { $0.name = "shared"; $0.roomType = .public }).room
        _ = try await victim.joinRoom(.with { $0.roomID = room.id })
        let bobs = try await bob.sendMessage(.with { $0.roomID = room.id; $0.content = "bob's question" }).message
        // A message, its edit, metadata, a thread reply, a reply, a reaction emoji, a DM.
        let firstFrame = victim.frame("SendMessage", payload: try Smrt_Chat_V1_SendMessageRequest.with {
            $0.roomID = room.id; $0.content = "first \(marker)"; $0.metadata = "{\"note\":\"\(marker)\"}"
            $0.clientRequestID = "c-1"
        }.serializedData())
        let said: Smrt_Chat_V1_Message = try await victim.send(frame: firstFrame, as: Smrt_Chat_V1_SendMessageResponse.self).message
        _ = try await victim.editMessage(.with { $0.messageID = said.id; $0.content = "edited \(marker)" })
        let thread = try await bob.startThread(.with { $0.roomID = room.id; $0.rootMessageID = bobs.id; $0.title = "topic" }).thread
        _ = try await victim.sendMessage(.with { $0.roomID = room.id; $0.threadID = thread.id; $0.content = "in thread \(marker)" })
        _ = try await victim.sendMessage(.with { $0.roomID = room.id; $0.content = "reply \(marker)"; $0.replyToMessageID = bobs.id })
        _ = try await victim.addReaction(.with { $0.messageID = bobs.id; $0.emoji = String(marker) })
        let dm = try await victim.getOrCreateDM(.with { $0.profileA = "victim"; $0.profileB = "bob" }).room
        _ = try await victim.sendMessage(.with { $0.roomID = dm.id; $0.content = "psst \(marker)" })
        // A session: prompt, context, an agent reply, a streamed reply, a tool call with arguments and result.
        let session = try await victim.createAgentSession(.with {
            $0.agentID = "helper"; $0.systemPrompt = "prompt \(marker)"; $0.allowedTools = ["kb.*"]; $0.approvalTools = ["kb.write"]
            $0.sessionKey = "key-\(marker)"
        }).session
        _ = try await victim.updateSessionContext(.with { $0.sessionID = session.id; $0.mergePatch = "{\"memo\":\"\(marker)\"}" })
        _ = try await agent.updateSessionContext(.with { $0.sessionID = session.id; $0.mergePatch = "{\"agent\":\"\(marker)\"}" })
        _ = try await victim.sendAgentUserMessage(.with { $0.sessionID = session.id; $0.content = "ask \(marker)" })
        _ = try await agent.sendAgentReply(.with { $0.sessionID = session.id; $0.content = "answer \(marker)" })
        let streamed = try await agent.beginAgentReply(.with { $0.sessionID = session.id }).message
        _ = try await agent.appendReplyDelta(.with { $0.messageID = streamed.id; $0.index = 0; $0.text = "stream \(marker)" })
        _ = try await agent.finishAgentReply(.with { $0.messageID = streamed.id; $0.status = .completed })
        let open = try await agent.beginAgentReply(.with { $0.sessionID = session.id }).message
        _ = try await agent.appendReplyDelta(.with { $0.messageID = open.id; $0.index = 0; $0.text = "still \(marker)" })
        _ = try await agent.sendAgentReply(.with {
            $0.sessionID = session.id; $0.kind = .tool; $0.messageType = .toolCall
            $0.toolCall = .with { $0.callID = "k1"; $0.name = "kb.write"; $0.arguments = "{\"q\":\"\(marker)\"}" }
        })
        _ = try await victim.decideToolCall(.with { $0.sessionID = session.id; $0.callID = "k1"; $0.decision = .approve; $0.reason = "ok \(marker)" })
        _ = try await agent.claimToolCall(.with { $0.sessionID = session.id; $0.callID = "k1" })
        _ = try await agent.sendAgentReply(.with {
            $0.sessionID = session.id; $0.kind = .tool; $0.messageType = .toolResult
            $0.toolCall = .with { $0.callID = "k1"; $0.name = "kb.write"; $0.result = "{\"r\":\"\(marker)\"}" }
        })

        // Bob's own session uses the same call id: its events are none of the victim's data.
        let bobSession = try await bob.createAgentSession(.with { $0.agentID = "helper"; $0.allowedTools = ["kb.*"]; $0.approvalTools = ["kb.*"] }).session
        _ = try await agent.sendAgentReply(.with {
            $0.sessionID = bobSession.id; $0.kind = .tool; $0.messageType = .toolCall
            $0.toolCall = .with { $0.callID = "k1"; $0.name = "kb.read"; $0.arguments = "{}" }
        })
        let earlier = try await admin.exportTenant(.init())
        await expectRPC("SCOPE_MISSING") { _ = try await victim.eraseProfile(.with { $0.profileID = "victim" }) }
        await expectRPC("VALIDATION") { _ = try await admin.eraseProfile(.with { $0.profileID = "" }) }
        let erased = try await admin.eraseProfile(.with { $0.profileID = "victim" })
        #expect(erased.messagesErased == 10 && erased.sessionsErased == 1 && erased.rooms == 3, "\(erased)")

        // Threads and the others' messages stay readable; the victim's are erased tombstones.
        let left = try await bob.listRoomMessages(.with { $0.roomID = room.id; $0.includeDeleted = true; $0.includeThreadReplies = true })
        #expect(left.messages.contains { $0.id == bobs.id && $0.content == "bob's question" })
        let tomb = try await bob.getMessage(.with { $0.messageID = said.id }).message
        #expect(tomb.erased && tomb.content.isEmpty && tomb.metadata == "{}" && tomb.hasDeletedAt)
        #expect(try await bob.getThread(.with { $0.threadID = thread.id }).thread.title == "topic")
        let history = try await bob.getMessageHistory(.with { $0.messageID = said.id }).versions
        #expect(history.allSatisfy { !$0.content.contains(marker) })
        let erasedEvents = try await bob.listRoomEvents(.with { $0.roomID = room.id; $0.limit = 200 }).events
            .filter { $0.kind == .profileErased }
        #expect(erasedEvents.count == 1 && erasedEvents[0].subjectID == "victim" && erasedEvents[0].actorProfileID == "ops"
                && erasedEvents[0].profileErased.messagesErased == 3)
        let bobsEvents = try await bob.listRoomEvents(.with { $0.roomID = bobSession.roomID; $0.limit = 100 }).events
        #expect(bobsEvents.contains { $0.kind == .toolApprovalRequested && $0.subjectID == "k1" && $0.toolCallApproval.toolName == "kb.read" })
        // An export made before holds the erased data: it is gone too.
        await expectRPC("NOT_FOUND") { _ = try await admin.exportPage(.with { $0.exportID = earlier.exportID }) }
        let closed = try await agent.getAgentSession(.with { $0.sessionID = session.id }).session
        #expect(closed.status == .closed && closed.systemPrompt.isEmpty && closed.sessionContext == "{}")
        // An identical resend of the victim's send is answered as a new call would be (its stored answer, with the
        // marker, is gone): the victim is no member any more.
        await expectRPC("NOT_MEMBER") { _ = try await victim.send(frame: firstFrame, as: Smrt_Chat_V1_SendMessageResponse.self) }

        // Nothing of the marker is left anywhere.
        if server.database.hasPrefix("postgres") {
            let hits = try postgresTextHits(server.database, marker: String(marker))
            #expect(hits.isEmpty, "marker found in \(hits)")
        } else {
            server.stop()  // SIGTERM: the WAL is checkpointed and truncated
            for suffix in ["", "-wal", "-shm"] {
                let bytes = (try? Data(contentsOf: URL(fileURLWithPath: server.database + suffix))) ?? Data()
                #expect(bytes.range(of: Data(marker.utf8)) == nil, "marker found in chat.sqlite\(suffix)")
                #expect(bytes.range(of: Data(marker.suffix(14).utf8)) == nil, "marker's tail found in chat.sqlite\(suffix)")
            }
        }
    }
}

extension LifecycleTests {
    @Test("round trip: a tenant exported and imported into an empty database answers every List and Get the same")
    func exportImportRoundTrip() async throws {
        let server = try ServerProcess(.ipc)
        let key = try server.createKey(scopes: ["chat", "agent", "admin"])
        let alice = try server.client(actor: "alice", key: key)
        let bob = alice.acting(as: "bob"), carol = alice.acting(as: "carol")
        defer { alice.close() }
        // Rooms of every kind, roles, read state, threads (one resolved), edits, a deletion, reactions, replies.
        let general = try await alice.createRoom(.with { $0.name = "general"; $0.roomType = .public; $0.topic = "all" }).room
        let secret = try await alice.createRoom(.with { $0.name = "secret"; $0.roomType = .private }).room
        _ = try await bob.joinRoom(.with { $0.roomID = general.id })
        _ = try await carol.joinRoom(.with { $0.roomID = general.id })
        _ = try await alice.addParticipant(.with { $0.roomID = secret.id; $0.profileID = "carol"; $0.role = .admin })
        let dm = try await alice.getOrCreateDM(.with { $0.profileA = "alice"; $0.profileB = "bob" }).room
        var last: Smrt_Chat_V1_Message?
        for i in 0..<30 {
            let who = [alice, bob][i % 2]
            last = try await who.sendMessage(.with {
                $0.roomID = general.id; $0.content = "hello \(i)"; $0.clientRequestID = "m\(i)"
                if let last, i % 7 == 0 { $0.replyToMessageID = last.id }
                if i % 5 == 0 { $0.metadata = "{\"n\":\(i)}" }
            }).message
        }
        let root = try await alice.sendMessage(.with { $0.roomID = general.id; $0.content = "thread root" }).message
        let thread = try await bob.startThread(.with { $0.roomID = general.id; $0.rootMessageID = root.id; $0.title = "t1" }).thread
        for i in 0..<4 {
            _ = try await [alice, bob][i % 2].sendMessage(.with { $0.roomID = general.id; $0.threadID = thread.id; $0.content = "in \(i)" })
        }
        let other = try await alice.startThread(.with { $0.roomID = general.id; $0.title = "loose" }).thread
        _ = try await alice.resolveThread(.with { $0.threadID = other.id })
        _ = try await alice.editMessage(.with { $0.messageID = root.id; $0.content = "thread root, edited" })
        _ = try await alice.editMessage(.with { $0.messageID = root.id; $0.content = "thread root, edited twice" })
        _ = try await bob.deleteMessage(.with { $0.messageID = last!.id })
        _ = try await bob.addReaction(.with { $0.messageID = root.id; $0.emoji = "👍" })
        _ = try await carol.addReaction(.with { $0.messageID = root.id; $0.emoji = "👍" })
        _ = try await alice.addReaction(.with { $0.messageID = root.id; $0.emoji = "🎉" })
        _ = try await carol.sendMessage(.with { $0.roomID = secret.id; $0.content = "psst" })
        _ = try await bob.sendMessage(.with { $0.roomID = dm.id; $0.content = "hi alice" })
        _ = try await bob.markRead(.with { $0.roomID = general.id; $0.messageID = root.id })
        // A session with context, a reply, a streamed reply, tool calls (one pending, one answered) and a turn outcome.
        let session = try await alice.createAgentSession(.with {
            $0.agentID = "helper"; $0.systemPrompt = "be kind"; $0.allowedTools = ["kb.*"]; $0.approvalTools = ["kb.write"]
            $0.busyPolicy = .reject; $0.maxMessages = 100
        }).session
        _ = try await alice.updateSessionContext(.with { $0.sessionID = session.id; $0.mergePatch = "{\"topic\":\"x\"}" })
        let ask = try await alice.sendAgentUserMessage(.with { $0.sessionID = session.id; $0.content = "question" }).message
        _ = try await alice.recordTurnOutcome(.with { $0.messageID = ask.id; $0.outcome = .completed })
        _ = try await alice.sendAgentReply(.with { $0.sessionID = session.id; $0.content = "answer"; $0.tokensUsed = 12 })
        let streamed = try await alice.beginAgentReply(.with { $0.sessionID = session.id }).message
        _ = try await alice.appendReplyDelta(.with { $0.messageID = streamed.id; $0.index = 0; $0.text = "str" })
        _ = try await alice.finishAgentReply(.with { $0.messageID = streamed.id; $0.status = .completed })
        for (call, tool) in [("c1", "kb.read"), ("c2", "kb.write")] {
            _ = try await alice.sendAgentReply(.with {
                $0.sessionID = session.id; $0.kind = .tool; $0.messageType = .toolCall
                $0.toolCall = .with { $0.callID = call; $0.name = tool; $0.arguments = "{\"q\":1}" }
            })
        }
        _ = try await alice.sendAgentReply(.with {
            $0.sessionID = session.id; $0.kind = .tool; $0.messageType = .toolResult
            $0.toolCall = .with { $0.callID = "c1"; $0.name = "kb.read"; $0.result = "{\"r\":2}" }
        })

        // Export, then import into an empty database and serve it.
        let started = try await alice.exportTenant(.init())
        var file = ""
        var cursor = ""
        repeat {
            let page = try await alice.exportPage(.with { $0.exportID = started.exportID; $0.cursor = cursor })
            file += page.data
            cursor = page.hasMore_p ? page.nextCursor : ""
        } while !cursor.isEmpty
        let lines = file.split(separator: "\n")
        #expect(lines.first?.contains(#""format":"smrt-chat-export","version":1"#) == true)
        // Entity lines in the format's order.
        let order = ["room", "participant", "thread", "message", "reaction", "agent_session", "tool_call", "turn_outcome"]
        let types = lines.dropFirst().compactMap { line in order.firstIndex { line.hasPrefix(#"{"type":""# + $0 + "\"") } }
        #expect(types.count == lines.count - 1 && types == types.sorted() && Set(types).count == order.count)
        // A room's export holds that room only; a profile's what it authored or took part in.
        func exportLines(of export: String) async throws -> [Substring] {
            try await alice.exportPage(.with { $0.exportID = export }).data.split(separator: "\n")
        }
        let roomLines = try await exportLines(of: try await alice.exportRoom(.with { $0.roomID = secret.id }).exportID)
        #expect(roomLines.count == 1 + 1 + 2 + 1 && roomLines.dropFirst().allSatisfy { $0.contains(secret.id) })
        let carolLines = try await exportLines(of: try await alice.exportProfile(.with { $0.profileID = "carol" }).exportID)
        #expect(carolLines.filter { $0.hasPrefix(#"{"type":"message""#) }.count == 1)
        #expect(carolLines.filter { $0.hasPrefix(#"{"type":"participant""#) }.count == 2)
        #expect(carolLines.filter { $0.hasPrefix(#"{"type":"reaction""#) }.count == 1)
        await expectRPC("NOT_FOUND") { _ = try await alice.exportRoom(.with { $0.roomID = "no-such-room" }) }
        // A profile's export is a copy for the person, not a database: import refuses it.
        let carolFile = server.directory.appendingPathComponent("carol.ndjson").path
        try (carolLines.joined(separator: "\n") + "\n").write(toFile: carolFile, atomically: true, encoding: .utf8)
        #expect(throws: (any Error).self) {
            try ServerProcess.run(["import", "--db", server.directory.appendingPathComponent("p.sqlite").path, carolFile])
        }
        await expectRPC("NOT_FOUND") { _ = try await alice.exportPage(.with { $0.exportID = "no-such-export" }) }
        await expectRPC("SCOPE_MISSING") { _ = try await server.client(actor: "alice").exportTenant(.init()) }
        let path = server.directory.appendingPathComponent("tenant.ndjson").path
        try file.write(toFile: path, atomically: true, encoding: .utf8)
        let target = server.database.hasPrefix("postgres")
            ? try ServerProcess.createDatabase(admin: ServerProcess.postgresAdminURL!)
            : server.directory.appendingPathComponent("imported.sqlite").path
        let report = try ServerProcess.run(["import", "--db", target, path])
        #expect(report.contains("imported tenant tenant-1"), "\(report)")
        // A second import is refused: the database is no longer empty. Another version is refused clearly.
        #expect(throws: (any Error).self) { try ServerProcess.run(["import", "--db", target, path]) }
        let future = server.directory.appendingPathComponent("v2.ndjson").path
        try file.replacingOccurrences(of: #""version":1"#, with: #""version":2"#).write(toFile: future, atomically: true, encoding: .utf8)
        #expect(throws: (any Error).self) { try ServerProcess.run(["import", "--db", server.directory.appendingPathComponent("x.sqlite").path, future]) }

        let copy = try ServerProcess(.ipc, database: target)
        let copyKey = try copy.createKey(scopes: ["chat", "agent", "admin"])
        let twin = try copy.client(actor: "alice", key: copyKey)
        defer { twin.close() }
        let check = try ServerProcess.run(["check", "--db", target])
        #expect(check.contains("consistent"), "\(check)")
        for actor in ["alice", "bob", "carol"] {
            let before = try await answers(alice.acting(as: actor)), after = try await answers(twin.acting(as: actor))
            #expect(before.count == after.count && before.count > 20)
            for (a, b) in zip(before, after) { #expect(a == b) }
        }
        // The imported room's log starts with ROOM_IMPORTED after the highest room_seq of its messages.
        let maxSeq = try await alice.listRoomMessages(.with {
            $0.roomID = general.id; $0.limit = 1; $0.includeThreadReplies = true; $0.includeDeleted = true
        }).messages.first?.roomSeq ?? 0
        let log = try await twin.listRoomEvents(.with { $0.roomID = general.id; $0.afterSeq = maxSeq })
        #expect(log.events.map(\.kind) == [.roomImported] && log.events.first?.seq == maxSeq + 1 && log.headSeq == maxSeq + 1)
        await expectRPC("RESYNC_REQUIRED") { _ = try await twin.listRoomEvents(.with { $0.roomID = general.id; $0.afterSeq = 0 }) }
        // New messages continue the room's seq.
        let next = try await twin.sendMessage(.with { $0.roomID = general.id; $0.content = "after import" }).message
        #expect(next.roomSeq == maxSeq + 2)
    }
}

/// What a client reads of everything it can see, as JSON strings in a fixed order (room sequence numbers aside:
/// an imported room's log starts anew).
private func answers(_ c: ChatClient) async throws -> [String] {
    func text(_ m: some SwiftProtobuf.Message) throws -> String {
        try m.jsonString().replacingOccurrences(of: #","lastEventSeq":"[0-9]+""#, with: "", options: .regularExpression)
            .replacingOccurrences(of: #""lastEventSeq":"[0-9]+",?"#, with: "", options: .regularExpression)
    }
    var out: [String] = []
    let rooms = try await c.listMyRooms(.with { $0.limit = 200 })
    out.append(try text(rooms))
    out.append(try text(try await c.getUnreadCounts(.init())))
    for summary in rooms.rooms {
        let room = summary.room.id
        out.append(try text(try await c.getRoom(.with { $0.roomID = room })))
        out.append(try text(try await c.listParticipants(.with { $0.roomID = room; $0.limit = 200 })))
        let messages = try await c.listRoomMessages(.with {
            $0.roomID = room; $0.limit = 200; $0.includeDeleted = true; $0.includeThreadReplies = true
        })
        out.append(try text(messages))
        for message in messages.messages {
            out.append(try text(try await c.getMessageHistory(.with { $0.messageID = message.id })))
            out.append(try text(try await c.listReactions(.with { $0.messageID = message.id })))
        }
        let threads = try await c.listRoomThreads(.with { $0.roomID = room; $0.limit = 200 })
        out.append(try text(threads))
        for thread in threads.threads {
            out.append(try text(try await c.getThread(.with { $0.threadID = thread.id })))
            out.append(try text(try await c.listThreadMessages(.with { $0.threadID = thread.id; $0.limit = 200 })))
        }
    }
    let sessions = try await c.listAgentSessions(.with { $0.limit = 200 })
    out.append(try text(sessions))
    for session in sessions.sessions {
        out.append(try text(try await c.getAgentSession(.with { $0.sessionID = session.id })))
        out.append(try text(try await c.getSessionContext(.with { $0.sessionID = session.id })))
    }
    out.append(try text(try await c.listPendingToolCalls(.with { $0.limit = 200 })))
    out.append(try text(try await c.searchMessages(.with { $0.query = "hello"; $0.limit = 200 })))
    return out
}

/// Every text-like column of every table in `url`'s public schema that holds `marker`, as "table.column".
private func postgresTextHits(_ url: String, marker: String) throws -> [String] {
    let columns = try ServerProcess.psql(url, """
        SELECT table_name || '.' || column_name || '.' || data_type FROM information_schema.columns
        WHERE table_schema = 'public' AND data_type IN ('text', 'character varying', 'jsonb', 'json', 'bytea', 'tsvector')
        """)
    var hits: [String] = []
    for column in columns {
        let parts = column.split(separator: ".").map(String.init)
        let (table, name) = ("\"\(parts[0])\"", "\"\(parts[1])\"")
        // bytea: the marker's bytes; text-like: the marker (a tsvector holds it lower-cased).
        let condition = parts[2] == "bytea"
            ? "position(convert_to('\(marker)', 'UTF8') in \(name)) > 0"
            : "\(name)::text LIKE '%\(marker)%' OR \(name)::text LIKE '%\(marker.lowercased())%'"
        let count = try ServerProcess.psql(url, "SELECT count(*) FROM \(table) WHERE \(condition)")
        if count.first != "0" { hits.append("\(parts[0]).\(parts[1])") }
    }
    return hits
}


