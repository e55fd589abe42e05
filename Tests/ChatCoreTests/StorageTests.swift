@testable import ChatCore
import ChatStore
import Foundation
import GRDB
import Testing

@Suite("SQLite storage: schema, write path, durability (issue: chat core)")
struct StorageTests {
    @Test("the database is in WAL mode with foreign keys on and named migrations")
    func pragmas() async throws {
        let chat = try TestChat()
        let mode = try chat.storage.withSnapshot { try String.fetchOne($0, sql: "PRAGMA journal_mode") }
        #expect(mode == "wal")
        #expect(try chat.scalar("PRAGMA foreign_keys") == 1)
        let migrations = try SQLiteStorage.migrate(path: chat.directory.appendingPathComponent("other.sqlite").path)
        #expect(migrations == ["v1-chat-core", "v2-rpc-service", "v3-deferred-fts", "v4-redact-session-events", "v5-audit-log", "v6-streams-and-approvals", "v7-data-lifecycle", "v8-unread-roots", "v9-check-lists"])
    }

    @Test("the schema enforces uniqueness, foreign keys and enum checks on its own")
    func constraints() async throws {
        let chat = try TestChat()
        let room = try await chat.room()
        let m = try await chat.send(alice, room)
        let statements: [String] = [
            "INSERT INTO participants (tenant_id, room_id, profile_id, role, status, joined_at) VALUES ('\(tenant)', '\(room.id)', 'alice', 'member', 'active', 0)",
            "INSERT INTO participants (tenant_id, room_id, profile_id, role, status, joined_at) VALUES ('\(tenant)', 'no-room', 'x', 'member', 'active', 0)",
            "INSERT INTO participants (tenant_id, room_id, profile_id, role, status, joined_at) VALUES ('tenant-2', '\(room.id)', 'x', 'member', 'active', 0)",
            "INSERT INTO participants (tenant_id, room_id, profile_id, role, status, joined_at) VALUES ('\(tenant)', '\(room.id)', 'x', 'god', 'active', 0)",
            "UPDATE rooms SET status = 'gone'",
            "INSERT INTO reactions (tenant_id, room_id, message_id, profile_id, emoji, created_at) VALUES ('\(tenant)', '\(room.id)', '\(m.id)', 'a', 'x', 0), ('\(tenant)', '\(room.id)', '\(m.id)', 'a', 'x', 0)",
            "INSERT INTO messages (id, tenant_id, room_id, sender_profile_id, role, message_type, content, created_at, room_seq) VALUES ('x', '\(tenant)', '\(room.id)', 'a', 'user', 'text', '', 0, \(m.roomSeq))",
            "UPDATE messages SET metadata = 'not json'",
            "INSERT INTO room_events (tenant_id, room_id, seq, kind, actor_profile_id, subject_id, created_at) VALUES ('\(tenant)', '\(room.id)', 1, 'MESSAGE_CREATED', '', '', 0)",
        ]
        for sql in statements {
            #expect(throws: DatabaseError.self, "\(sql)") {
                try chat.storage.writeForTesting { try $0.execute(sql: sql) }
            }
        }
        let s = try await chat.w(alice) { try $0.createAgentSession($1, $2, agentId: "bot") }.session.session
        #expect(throws: DatabaseError.self, "one active session per (agent, participant, key)") {
            try chat.storage.writeForTesting {
                try $0.execute(sql: """
                    INSERT INTO agent_sessions (id, tenant_id, agent_id, agent_profile_id, participant_profile_id, room_id,
                        status, created_at) VALUES ('s2', '\(tenant)', 'bot', 'agent:bot', 'alice', '\(s.roomId)', 'active', 0)
                    """)
            }
        }
    }

    @Test("a failing operation in a group commit rolls back alone; the others commit")
    func savepointIsolation() async throws {
        let chat = try TestChat()
        let room = try await chat.room()
        let outcomes = await withTaskGroup(of: Bool.self) { group in
            for i in 0..<40 {
                group.addTask {
                    do {
                        if i % 4 == 0 {
                            // Writes a message, then fails: its message and event must vanish (the batch
                            // is run again with a savepoint per operation).
                            _ = try await chat.w(alice) { d, tx, a in
                                _ = try d.sendMessage(tx, a, roomId: room.id, content: "doomed \(i)")
                                throw ChatError.validation("test", "forced failure")
                            }
                        } else if i % 4 == 1 {
                            // Refused before any write (the common case, no savepoint needed).
                            try await chat.w(alice) { d, tx, a in
                                _ = try d.sendMessage(tx, a, roomId: "no-such-room", content: "lost \(i)")
                            }
                        } else {
                            try await chat.send(alice, room, "kept \(i)")
                        }
                        return true
                    } catch {
                        return false
                    }
                }
            }
            return await group.reduce(into: [Bool]()) { $0.append($1) }
        }
        #expect(outcomes.filter { $0 }.count == 20)
        #expect(try chat.scalar("SELECT count(*) FROM messages") == 20)
        #expect(try chat.scalar("SELECT count(*) FROM messages WHERE content NOT LIKE 'kept%'") == 0)
        let log = try chat.events(room.id)
        #expect(log.map(\.seq) == Array(1...Int64(log.count)) && log.count == 22)
        #expect(try chat.storage.checkConsistency().isConsistent)
    }

    @Test("committed writes survive closing and reopening the database file")
    func reopen() async throws {
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("smrtchat-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: directory) }
        let path = directory.appendingPathComponent("chat.sqlite").path
        var config = SQLiteConfiguration(path: path)
        config.durability = .full
        let first = try SQLiteStorage(config)
        let service = ChatService(storage: first)
        let room = try await service.write(alice) { try $0.createRoom($1, alice, name: "r", roomType: .public) }
        _ = try await service.write(alice) { try $0.sendMessage($1, alice, roomId: room.id, content: "persisted") }
        first.close()
        let second = try SQLiteStorage(SQLiteConfiguration(path: path))
        defer { second.close() }
        let page = try ChatService(storage: second).read(alice) { try $0.listRoomMessages($1, alice, roomId: room.id) }
        #expect(page.items.map(\.content) == ["persisted"])
        let integrity = try second.withSnapshot { try String.fetchOne($0, sql: "PRAGMA integrity_check") }
        #expect(integrity == "ok")
    }

    @Test("the audit trail is append-only: the database refuses to change or delete its lines")
    func auditAppendOnly() async throws {
        let chat = try TestChat()
        let entry = AuditEntry(at: 5, actor: "cli:root", action: .keyCreate, subject: "sk_1", detail: #"{"scopes":["chat"]}"#)
        try await chat.storage.write { try $0.appendAudit(entry) }
        #expect(throws: (any Error).self) { try chat.storage.writeForTesting { try $0.execute(sql: "UPDATE audit_log SET outcome = 'failed'") } }
        #expect(throws: (any Error).self) { try chat.storage.writeForTesting { try $0.execute(sql: "DELETE FROM audit_log") } }
        var stored = entry
        stored.id = 1
        #expect(try chat.storage.read { try $0.auditEntries(since: 0, afterId: 0, limit: 10) } == [stored])
        #expect(try chat.storage.read { try $0.auditEntries(since: 6, afterId: 0, limit: 10) }.isEmpty)
        #expect(try chat.storage.read { try $0.auditEntries(since: 0, afterId: 1, limit: 10) }.isEmpty)
    }

    @Test("writes after close are refused cleanly, not lost silently")
    func closed() async throws {
        let chat = try TestChat()
        chat.storage.close()
        await #expect(throws: ChatError.self) { _ = try await chat.room() }
    }

    @Test("writes committed on their caller's thread still get the WAL checkpointed (by the writer thread)")
    func callerThreadCommitsAreCheckpointed() async throws {
        let chat = try TestChat()
        let room = try await chat.room()
        let path = chat.directory.appendingPathComponent("chat.sqlite").path
        let size = { (try? FileManager.default.attributesOfItem(atPath: path)[.size] as? Int) ?? 0 }
        // The room's commit (on the writer thread) checkpointed the schema; what follows is only in the WAL.
        try await Task.sleep(for: .milliseconds(150))
        let before = size()
        // Sends as an RPC worker makes them: committed on the calling thread while the write path is idle. The last
        // one comes after the checkpoint interval, so the write path owes a checkpoint when it commits.
        let domain = chat.service.domain
        let send = { @Sendable (content: String) in
            let done = DispatchSemaphore(value: 0)
            chat.storage.submitWrite({ tx in
                try domain.sendMessage(tx, alice, roomId: room.id, content: content)
            }, options: WriteOptions(mayCommitOnCallerThread: true)) { result in
                if case .failure(let error) = result { Issue.record("send failed: \(error)") }
                done.signal()
            }
            done.wait()
        }
        let finished = DispatchSemaphore(value: 0)
        let thread = Thread {
            for i in 0..<200 { send(String(repeating: "x", count: 500) + "\(i)") }
            Thread.sleep(forTimeInterval: 0.15)
            send("last")
            finished.signal()
        }
        thread.start()
        await withCheckedContinuation { (c: CheckedContinuation<Void, Never>) in
            DispatchQueue.global().async { finished.wait(); c.resume() }
        }
        let deadline = Date().addingTimeInterval(3)
        while size() <= before && Date() < deadline { try await Task.sleep(for: .milliseconds(20)) }
        #expect(size() > before, "the database file grows only when a checkpoint copies the WAL into it")
    }
}
