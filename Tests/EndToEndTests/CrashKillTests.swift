import ChatAPI
import ChatClient
import ChatStore
import GRDB
import Foundation
import Synchronization
import Testing

/// One request a client sent, its exact frame, and whether its reply came back.
private struct Sent: Sendable {
    enum Kind: Sendable, CaseIterable { case send, react, unreact, edit, agentReply, context }
    var kind: Kind
    var frame: [UInt8]
    /// The message id it creates or touches (deterministic for sends with a client_request_id).
    var messageId: String
    var acknowledged: Bool
}

private final class Ledger: Sendable {
    let entries = Mutex<[Sent]>([])
    func record(_ s: Sent) -> Int { entries.withLock { $0.append(s); return $0.count - 1 } }
    func acknowledge(_ i: Int) { entries.withLock { $0[i].acknowledged = true } }
    var all: [Sent] { entries.withLock { $0 } }
}

/// Rounds per durability mode: 2 in `make test`, 20 in `make soak` (SMRTCHAT_SOAK_ROUNDS).
private let rounds = Int(ProcessInfo.processInfo.environment["SMRTCHAT_SOAK_ROUNDS"] ?? "") ?? 2

@Suite("Crash-kill durability: kill -9 under load loses no acknowledged write", .serialized)
struct CrashKillTests {
    @Test("16 clients, kill -9 at a random moment, restart, verify", arguments: ["normal", "full"])
    func crashKill(durability: String) async throws {
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("smrtchat-crash-\(UUID().uuidString.prefix(8))")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: directory) }
        let database = directory.appendingPathComponent("chat.sqlite").path
        let arguments = ["--no-rate-limits", "--no-jobs", "--durability", durability]
        var server = try ServerProcess(.ipc, arguments: arguments, database: database, directory: directory.appendingPathComponent("r0"))
        let key = try server.createKey(scopes: ["chat", "agent"])
        let setup = try server.client(actor: "owner", key: key)
        let room = try await setup.createRoom(.with { $0.name = "load"; $0.roomType = .public }).room
        let session = try await setup.createAgentSession(.with { $0.agentID = "bot" }).session
        setup.close()

        // Figures for RELIABILITY.md (crashkill-<durability>.json when SMRTCHAT_RELIABILITY_OUT is set).
        var ackedTotal = 0, sentTotal = 0, lostAcked = 0, duplicates = 0, missing = 0, resendFailures = 0
        var integrityFailures = 0, nonIdempotentDuplicates = 0, nonIdempotentMissing = 0
        // What each kind of write leaves when it is applied once: one event of its kind (and for agent replies
        // one token, for context updates one context version). Counted cumulatively over the rounds.
        var expected = Effects()
        for round in 0..<rounds {
            let ledger = Ledger()
            let rpc = server.rpc
            let pid = server.pid
            let killAfter = Double.random(in: 0.3...1.2)
            await withTaskGroup(of: Void.self) { group in
                for i in 0..<16 {
                    group.addTask {
                        guard let c = try? ChatClient(.init(rpcEndpoints: [rpc], tenantId: "tenant-1",
                                                            actorProfileId: "owner", keyId: key.keyId, secret: key.secret)
                            .with { $0.connections = 1; $0.timeoutMs = 1000; $0.retries = 0 }) else { return }
                        defer { c.close() }
                        let me = c.acting(as: "w\(i)")
                        _ = try? await me.joinRoom(.with { $0.roomID = room.id })
                        var last: String?
                        for j in 0..<100_000 {
                            let crid = "r\(round)-c\(i)-\(j)"
                            let (kind, payload, messageId): (Sent.Kind, Data, String)
                            // Every kind but sends is not idempotent by itself: only the replay cache keeps an
                            // identical resend from applying twice.
                            switch (j % 6, last) {
                            case (1, let id?):
                                kind = .react
                                payload = try! Smrt_Chat_V1_AddReactionRequest.with { $0.messageID = id; $0.emoji = "e\(j)" }
                                    .serializedData()
                                messageId = id
                            case (2, let id?):
                                kind = .unreact
                                payload = try! Smrt_Chat_V1_RemoveReactionRequest.with { $0.messageID = id; $0.emoji = "e\(j - 1)" }
                                    .serializedData()
                                messageId = id
                            case (3, let id?):
                                kind = .edit
                                payload = try! Smrt_Chat_V1_EditMessageRequest.with { $0.messageID = id; $0.content = "edit \(j)" }
                                    .serializedData()
                                messageId = id
                            case (4, _):
                                kind = .agentReply
                                payload = try! Smrt_Chat_V1_SendAgentReplyRequest.with {
                                    $0.sessionID = session.id; $0.content = "reply \(crid)"; $0.tokensUsed = 1
                                }.serializedData()
                                messageId = ""
                            case (5, _):
                                kind = .context
                                payload = try! Smrt_Chat_V1_UpdateSessionContextRequest.with {
                                    $0.sessionID = session.id; $0.mergePatch = "{\"c\(i)\":\(j)}"
                                }.serializedData()
                                messageId = ""
                            default:
                                kind = .send
                                payload = try! Smrt_Chat_V1_SendMessageRequest.with {
                                    $0.roomID = room.id; $0.content = "m \(crid)"; $0.clientRequestID = crid
                                }.serializedData()
                                messageId = ""
                            }
                            let op = Self.operation[kind]!
                            let actor = kind == .agentReply ? c : me
                            let frame = actor.frame(op, payload: payload)
                            let index = ledger.record(Sent(kind: kind, frame: frame, messageId: messageId, acknowledged: false))
                            do {
                                switch kind {
                                case .send:
                                    let r: Smrt_Chat_V1_SendMessageResponse = try await me.send(frame: frame)
                                    last = r.message.id
                                    ledger.entries.withLock { $0[index].messageId = r.message.id }
                                case .agentReply:
                                    let r: Smrt_Chat_V1_SendAgentReplyResponse = try await c.send(frame: frame)
                                    ledger.entries.withLock { $0[index].messageId = r.message.id }
                                case .react:
                                    let _: Smrt_Chat_V1_AddReactionResponse = try await me.send(frame: frame)
                                case .unreact:
                                    let _: Smrt_Chat_V1_RemoveReactionResponse = try await me.send(frame: frame)
                                case .edit:
                                    let _: Smrt_Chat_V1_EditMessageResponse = try await me.send(frame: frame)
                                case .context:
                                    let _: Smrt_Chat_V1_UpdateSessionContextResponse = try await me.send(frame: frame)
                                }
                                ledger.acknowledge(index)
                            } catch {
                                return
                            }
                        }
                    }
                }
                group.addTask {
                    try? await Task.sleep(for: .seconds(killAfter))
                    kill(pid, SIGKILL)
                }
            }
            let sent = ledger.all
            let acked = sent.filter(\.acknowledged)
            #expect(!acked.isEmpty, "round \(round): some writes were acknowledged before the kill")
            ackedTotal += acked.count
            sentTotal += sent.count

            server = try ServerProcess(.ipc, arguments: arguments, database: database,
                                       directory: directory.appendingPathComponent("r\(round + 1)"))
            let checker = try server.client(actor: "owner", key: key)
            defer { checker.close() }
            // Every acknowledged message is there.
            for s in acked where s.kind == .send || s.kind == .agentReply {
                let found = try? await checker.getMessage(.with { $0.messageID = s.messageId })
                if found?.message.id != s.messageId { lostAcked += 1 }
                #expect(found?.message.id == s.messageId, "round \(round): acknowledged \(s.messageId) is present")
            }
            // Resending every unacknowledged request (the identical frame) succeeds exactly once.
            for s in sent where !s.acknowledged {
                do {
                    switch s.kind {
                    case .send: let _: Smrt_Chat_V1_SendMessageResponse = try await checker.send(frame: s.frame)
                    case .agentReply: let _: Smrt_Chat_V1_SendAgentReplyResponse = try await checker.send(frame: s.frame)
                    case .react: let _: Smrt_Chat_V1_AddReactionResponse = try await checker.send(frame: s.frame)
                    case .unreact: let _: Smrt_Chat_V1_RemoveReactionResponse = try await checker.send(frame: s.frame)
                    case .edit: let _: Smrt_Chat_V1_EditMessageResponse = try await checker.send(frame: s.frame)
                    case .context: let _: Smrt_Chat_V1_UpdateSessionContextResponse = try await checker.send(frame: s.frame)
                    }
                } catch let error as RPCError {
                    resendFailures += 1
                    Issue.record("round \(round): resending an unacknowledged \(s.kind) failed: \(error)")
                }
            }
            let sends = sent.filter { $0.kind == .send }.count
            for s in sent { expected.count(s.kind) }
            let stored = try await checker.listRoomEvents(.with { $0.roomID = room.id; $0.afterSeq = 0; $0.limit = 1 })
            #expect(stored.headSeq > 0)
            server.stop()
            let storage = try SQLiteStorage(SQLiteConfiguration(path: database))
            let report = try storage.checkConsistency()
            let rows = try storage.withSnapshot { db in
                try Int.fetchOne(db, sql: "SELECT count(*) FROM messages WHERE client_request_id LIKE ?",
                                 arguments: ["r\(round)-%"]) ?? 0
            }
            let found = try Effects(storage, sessionId: session.id)
            storage.close()
            for (name, want, got) in expected.compared(with: found) where want != got {
                Issue.record("round \(round): \(name) applied \(got) times for \(want) requests")
                nonIdempotentDuplicates += max(0, got - want)
                nonIdempotentMissing += max(0, want - got)
            }
            if !report.isConsistent { integrityFailures += 1 }
            duplicates += max(0, rows - sends)
            missing += max(0, sends - rows)
            #expect(report.isConsistent, "round \(round): \(report)")
            #expect(rows == sends, "round \(round): every send exactly once (\(rows) rows for \(sends) requests)")
            server = try ServerProcess(.ipc, arguments: arguments, database: database,
                                       directory: directory.appendingPathComponent("s\(round + 1)"))
        }
        server.stop()
        recordFigures("crashkill-\(durability)", [
            "rounds": Double(rounds), "requests_sent": Double(sentTotal), "acknowledged": Double(ackedTotal),
            "lost_acked": Double(lostAcked), "duplicates": Double(duplicates), "missing_after_resend": Double(missing),
            "resend_failures": Double(resendFailures), "integrity_failures": Double(integrityFailures),
            "nonidempotent_duplicates": Double(nonIdempotentDuplicates),
            "nonidempotent_missing": Double(nonIdempotentMissing),
        ])
    }

    private static let operation: [Sent.Kind: String] = [
        .send: "SendMessage", .react: "AddReaction", .unreact: "RemoveReaction", .edit: "EditMessage",
        .agentReply: "SendAgentReply", .context: "UpdateSessionContext",
    ]
}

/// The traces the non-idempotent writes leave: events by kind, the session's token total and context version.
private struct Effects {
    var reactionsAdded = 0, reactionsRemoved = 0, edits = 0, agentReplies = 0, tokens = 0, contextUpdates = 0

    init() {}

    /// What the database holds (the session was created with no tokens and context version 1).
    init(_ storage: SQLiteStorage, sessionId: String) throws {
        self = try storage.withSnapshot { db in
            var e = Effects()
            let byKind = try Dictionary(uniqueKeysWithValues: Row.fetchAll(db, sql: """
                SELECT kind, count(*) AS n FROM room_events GROUP BY kind
                """).map { ($0["kind"] as String, $0["n"] as Int) })
            e.reactionsAdded = byKind["REACTION_ADDED"] ?? 0
            e.reactionsRemoved = byKind["REACTION_REMOVED"] ?? 0
            e.edits = byKind["MESSAGE_EDITED"] ?? 0
            e.agentReplies = try Int.fetchOne(db, sql: "SELECT count(*) FROM messages WHERE agent_session_id = ? AND role = 'assistant'",
                                              arguments: [sessionId]) ?? 0
            let session = try Row.fetchOne(db, sql: "SELECT total_tokens_used, context_version FROM agent_sessions WHERE id = ?",
                                           arguments: [sessionId])
            e.tokens = session?["total_tokens_used"] ?? 0
            e.contextUpdates = (session?["context_version"] ?? 1) - 1
            return e
        }
    }

    /// Counts one request of `kind`, applied once.
    mutating func count(_ kind: Sent.Kind) {
        switch kind {
        case .send: break
        case .react: reactionsAdded += 1
        case .unreact: reactionsRemoved += 1
        case .edit: edits += 1
        case .agentReply: agentReplies += 1; tokens += 1
        case .context: contextUpdates += 1
        }
    }

    func compared(with found: Effects) -> [(String, Int, Int)] {
        [("AddReaction", reactionsAdded, found.reactionsAdded), ("RemoveReaction", reactionsRemoved, found.reactionsRemoved),
         ("EditMessage", edits, found.edits), ("SendAgentReply", agentReplies, found.agentReplies),
         ("SendAgentReply tokens", tokens, found.tokens), ("UpdateSessionContext", contextUpdates, found.contextUpdates)]
    }
}

extension ClientConfiguration {
    func with(_ change: (inout ClientConfiguration) -> Void) -> ClientConfiguration {
        var copy = self
        change(&copy)
        return copy
    }
}
