import ChatAPI
import ChatClient
import ChatStore
import Foundation
import GRDB
import Synchronization
import Testing

/// The server half of the hardening issue, against the real smrt-chatd: signed frames with extreme values,
/// deadlines and resends, request ids of failed reads, forged traffic, the database file's permissions,
/// reply sizes, and what the PUB socket reveals. Each test fails without its fix.
@Suite("Hardening: hostile signed frames against the real server (issue: hardening)", .serialized)
struct HardeningE2ETests {
    private func messages(_ client: ChatClient, _ room: String) async throws -> Int {
        try await client.listRoomMessages(.with { $0.roomID = room; $0.limit = 200 }).messages.count
    }

    @Test("signed frames with timestamps at Int64's edges are STALE_TIMESTAMP and the server keeps serving")
    func extremeTimestamps() async throws {
        let server = try ServerProcess(.tcp)
        let client = try server.client()
        defer { client.close() }
        let raw = try RawCaller(server.rpc)
        let payload = try Smrt_Chat_V1_ListMyRoomsRequest().serializedData()
        for ts in [Int64.min, Int64.min + 1, -1, 0, Int64.max] {
            let reply = try raw.call(client.frame("ListMyRooms", payload: payload, timestampUnixMs: ts))
            #expect(reply.status.reason == "STALE_TIMESTAMP", "timestamp \(ts): \(reply.status)")
        }
        #expect(server.isRunning)
        _ = try await client.listMyRooms(.init())
    }

    @Test("a resend past the deadline of a committed mutation gets the original answer; an expired call runs never")
    func deadlinesAndResends() async throws {
        let server = try ServerProcess(.tcp)
        let client = try server.client()
        defer { client.close() }
        let room = try await client.createRoom(.with { $0.name = "r"; $0.roomType = .public }).room
        let raw = try RawCaller(server.rpc)
        let payload = try Smrt_Chat_V1_SendMessageRequest.with { $0.roomID = room.id; $0.content = "once" }.serializedData()
        let now = Int64(Date().timeIntervalSince1970 * 1000)
        let frame = client.frame("SendMessage", payload: payload, deadlineUnixMs: now + 1500)
        let first = try raw.call(frame)
        #expect(first.status.code == .ok)
        try await Task.sleep(for: .milliseconds(1700))
        let resent = try raw.call(frame)
        #expect(resent.status.code == .ok && resent.payload == first.payload,
                "the resend was told \(resent.status.reason) although its original committed")
        #expect(try await messages(client, room.id) == 1)

        let expired = client.frame("SendMessage", payload: payload, deadlineUnixMs: now - 1)
        #expect(try raw.call(expired).status.reason == "DEADLINE_EXCEEDED")
        #expect(try raw.call(expired).status.reason == "DEADLINE_EXCEEDED", "a resend gets the same answer")
        #expect(try await messages(client, room.id) == 1, "an expired call wrote nothing")
    }

    @Test("the request id of a failed read is remembered: another frame with it is REQUEST_ID_REUSED")
    func failedReadIdRemembered() async throws {
        let server = try ServerProcess(.tcp)
        let client = try server.client()
        defer { client.close() }
        let raw = try RawCaller(server.rpc)
        let id = ChatClient.newRequestId()
        let missing = try Smrt_Chat_V1_GetRoomRequest.with { $0.roomID = "no-such-room" }.serializedData()
        #expect(try raw.call(client.frame("GetRoom", payload: missing, requestId: id)).status.reason == "NOT_FOUND")
        let other = try Smrt_Chat_V1_GetRoomRequest.with { $0.roomID = "another-room" }.serializedData()
        #expect(try raw.call(client.frame("GetRoom", payload: other, requestId: id)).status.reason == "REQUEST_ID_REUSED")
        let write = try Smrt_Chat_V1_CreateRoomRequest.with { $0.name = "x"; $0.roomType = .public }.serializedData()
        #expect(try raw.call(client.frame("CreateRoom", payload: write, requestId: id)).status.reason == "REQUEST_ID_REUSED")
        // Refused for its payload (not the method's request), yet authenticated: its id is taken too.
        let malformed = ChatClient.newRequestId()
        #expect(try raw.call(client.frame("GetRoom", payload: Data([0xff, 0xff]), requestId: malformed)).status.reason
                == "VALIDATION")
        #expect(try raw.call(client.frame("CreateRoom", payload: write, requestId: malformed)).status.reason
                == "REQUEST_ID_REUSED")
    }

    @Test("unknown keys and bad signatures are rate limited too, while a good key keeps being served")
    func failedAuthenticationIsLimited() async throws {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("smrtchat-rl-\(UUID().uuidString.prefix(8))")
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        let config = dir.appendingPathComponent("limits.conf")
        try "key_rate = 5\nkey_burst = 10\ntenant_rate = 1000\ntenant_burst = 2000\n".write(to: config, atomically: true,
                                                                                         encoding: .utf8)
        let server = try ServerProcess(.tcp, arguments: ["--no-jobs", "--config", config.path])
        let forger = try server.client()
        let good = try server.client()
        defer {
            forger.close()
            good.close()
        }
        // The good key is in steady state (known to the server): an unknown key's first call during a flood of
        // unknown keys waits like them (README: rate limits).
        _ = try await good.listMyRooms(.init())
        _ = try await forger.listMyRooms(.init())  // a real key whose id the bad signatures below claim
        let raw = try RawCaller(server.rpc)
        let payload = try Smrt_Chat_V1_ListMyRoomsRequest().serializedData()
        for (name, change) in [("unknown key", { (r: inout Smrt_Chat_V1_RpcRequest) in r.auth.keyID = "sk_forged" }),
                               ("bad signature", { (r: inout Smrt_Chat_V1_RpcRequest) in r.auth.signature = Data(count: 32) })] {
            var reasons: [String: Int] = [:]
            for _ in 0..<30 {
                let frame = try tamper(forger.frame("ListMyRooms", payload: payload), change)
                reasons[try raw.call(frame).status.reason, default: 0] += 1
            }
            #expect((reasons["RATE_LIMITED"] ?? 0) >= 15, "\(name): \(reasons)")
            #expect((reasons["INVALID_KEY"] ?? 0) + (reasons["BAD_SIGNATURE"] ?? 0) >= 10, "\(name): \(reasons)")
            _ = try await good.listMyRooms(.init())
        }
    }

    @Test("a new database is 0600 in a 0700 folder; a database others may read is refused at start")
    func privateDatabase() throws {
        let server = try ServerProcess(.ipc)
        guard !server.database.hasPrefix("postgres") else { return }  // a file's permissions: SQLite only
        let dir = server.directory.appendingPathComponent("private/data")
        let path = dir.appendingPathComponent("chat.sqlite").path
        _ = try ServerProcess.run(["migrate", "--db", path])
        let mode = { (p: String) in ((try? FileManager.default.attributesOfItem(atPath: p))?[.posixPermissions] as? Int) ?? -1 }
        #expect(mode(path) == 0o600)
        #expect(mode(dir.path) == 0o700)
        try FileManager.default.setAttributes([.posixPermissions: 0o644], ofItemAtPath: path)
        #expect(throws: (any Error).self) { _ = try ServerProcess.run(["migrate", "--db", path]) }
        #expect(throws: (any Error).self) { _ = try ServerProcess(.ipc, database: path) }
    }

    @Test("a page of maximum-size messages is read whole through ChatClient: replies stop at 4 MiB")
    func largePagesFitTheClient() async throws {
        let server = try ServerProcess(.tcp)
        let client = try server.client()
        defer { client.close() }
        let room = try await client.createRoom(.with { $0.name = "big"; $0.roomType = .public }).room
        let content = String(repeating: "x", count: 64 * 1024)
        let metadata = "{\"pad\":\"" + String(repeating: "y", count: 16 * 1024 - 12) + "\"}"
        for i in 0..<60 {
            _ = try await client.sendMessage(.with {
                $0.roomID = room.id; $0.content = content; $0.metadata = metadata; $0.clientRequestID = "big-\(i)"
            })
        }
        var total = 0
        var cursor = ""
        var pages = 0
        repeat {
            let page = try await client.listRoomMessages(.with { $0.roomID = room.id; $0.limit = 200; $0.cursor = cursor })
            total += page.messages.count
            cursor = page.hasMore_p ? page.nextCursor : ""
            pages += 1
        } while !cursor.isEmpty
        #expect(total == 60 && pages >= 2)
    }

    @Test("a PUB subscriber's SESSION_CREATED carries no system prompt or context")
    func subscribersSeeNoSessionSecrets() async throws {
        let server = try ServerProcess(.ipc)
        let alice = try server.client()
        let indexer = try server.client(actor: "indexer", scopes: ["events"])
        defer {
            alice.close()
            indexer.close()
        }
        let created = try await alice.createAgentSession(.with {
            $0.agentID = "bot"; $0.systemPrompt = "the secret prompt"
        })
        for try await event in indexer.events(.room(created.session.roomID, afterSeq: 0)) {
            guard event.kind == .sessionCreated else { continue }
            #expect(event.session.id == created.session.id)
            #expect(event.session.systemPrompt.isEmpty && event.session.sessionContext.isEmpty)
            break
        }
        #expect(try await alice.getAgentSession(.with { $0.sessionID = created.session.id }).session.systemPrompt
                == "the secret prompt")
    }

    @Test("SIGTERM under load: every write that committed was answered, and the server exits promptly")
    func shutdownAnswersEveryCall() async throws {
        let server = try ServerProcess(.ipc)
        guard !server.database.hasPrefix("postgres") else { return }  // counts rows in the SQLite file
        let key = try server.createKey()
        let setup = try server.client(key: key)
        let room = try await setup.createRoom(.with { $0.name = "load"; $0.roomType = .public }).room
        setup.close()
        let acked = AckedRequests()
        let rpc = server.rpc
        let started = Date()
        var stoppedAt = Date()
        await withTaskGroup(of: Void.self) { group in
            for i in 0..<16 {
                group.addTask {
                    guard let c = try? ChatClient(.init(rpcEndpoints: [rpc], tenantId: "tenant-1", actorProfileId: "alice",
                                                        keyId: key.keyId, secret: key.secret)
                        .with { $0.connections = 1; $0.timeoutMs = 3000; $0.retries = 0 }) else { return }
                    defer { c.close() }
                    for j in 0..<100_000 {
                        let crid = "c\(i)-\(j)"
                        do {
                            _ = try await c.sendMessage(.with { $0.roomID = room.id; $0.content = crid; $0.clientRequestID = crid })
                            acked.insert(crid)
                        } catch {
                            return
                        }
                    }
                }
            }
            try? await Task.sleep(for: .milliseconds(800))
            stoppedAt = Date()
            kill(server.pid, SIGTERM)
        }
        _ = server.stop()
        #expect(Date().timeIntervalSince(stoppedAt) < 10, "SIGTERM took too long")
        let storage = try SQLiteStorage(SQLiteConfiguration(path: server.database))
        defer { storage.close() }
        let committed = try storage.withSnapshot { db in
            Set(try String.fetchAll(db, sql: "SELECT client_request_id FROM messages WHERE client_request_id IS NOT NULL"))
        }
        let answered = acked.all
        #expect(!answered.isEmpty && started < stoppedAt)
        #expect(committed.subtracting(answered).isEmpty,
                "committed but never answered: \(committed.subtracting(answered).sorted().prefix(5))")
        #expect(answered.subtracting(committed).isEmpty, "answered but not committed")
    }
}

/// Client request ids whose call was answered OK, from many tasks.
private final class AckedRequests: Sendable {
    private let ids = Mutex<Set<String>>([])
    func insert(_ id: String) { _ = ids.withLock { $0.insert(id) } }
    var all: Set<String> { ids.withLock { $0 } }
}
