import ChatAPI
import ChatClient
import Foundation
import Nanomsg
import Testing

/// Sends raw frames over a REQ socket of its own.
final class RawCaller: @unchecked Sendable {
    let socket: NanoSocket

    init(_ endpoint: String, timeoutMs: Int = 5000) throws {
        socket = try NanoSocket(.req)
        try socket.setReceiveTimeout(milliseconds: timeoutMs)
        try socket.setSendTimeout(milliseconds: timeoutMs)
        _ = try socket.connect(endpoint)
    }

    /// The reply to `frame` (blocking; tests call it from a detached thread context).
    func call(_ frame: [UInt8]) throws -> Smrt_Chat_V1_RpcResponse {
        try socket.send(frame)
        return try Smrt_Chat_V1_RpcResponse(serializedBytes: try socket.receive())
    }

    deinit { socket.close() }
}

/// Re-encodes a signed frame after changing it (without re-signing).
func tamper(_ frame: [UInt8], _ change: (inout Smrt_Chat_V1_RpcRequest) -> Void) throws -> [UInt8] {
    var request = try Smrt_Chat_V1_RpcRequest(serializedBytes: frame)
    change(&request)
    return try request.serializedBytes()
}

@Suite("Authentication, authorization and replays (SPEC §2, §7.3, §7.4, §12.3)", .serialized)
struct SecurityTests {
    @Test("every forged, stale, unknown, revoked or missing credential is UNAUTHENTICATED", arguments: Transport.allCases)
    func unauthenticated(transport: Transport) async throws {
        let server = try ServerProcess(transport)
        let key = try server.createKey()
        let client = try server.client(key: key)
        defer { client.close() }
        let room = try await client.createRoom(.with { $0.name = "r"; $0.roomType = .public }).room
        let raw = try RawCaller(server.rpc)
        let payload = try Smrt_Chat_V1_SendMessageRequest.with { $0.roomID = room.id; $0.content = "hi" }.serializedData()
        func signed(requestId: String = ChatClient.newRequestId(), ts: Int64? = nil) -> [UInt8] {
            client.frame("SendMessage", payload: payload, requestId: requestId, timestampUnixMs: ts)
        }
        let other = try server.createKey()
        let revoked = try server.createKey()
        try server.revokeKey(revoked.keyId)
        let revokedClient = try server.client(key: revoked)
        let otherPayload = try Smrt_Chat_V1_SendMessageRequest.with { $0.roomID = room.id; $0.content = "evil" }.serializedData()
        let cases: [(String, [UInt8])] = [
            ("MISSING_CREDENTIALS", try tamper(signed()) { $0.clearAuth() }),
            ("MISSING_CREDENTIALS", try tamper(signed()) { $0.auth.signature = Data() }),
            ("MISSING_CREDENTIALS", try tamper(signed()) { $0.auth.keyID = "" }),
            ("INVALID_KEY", try tamper(signed()) { $0.auth.keyID = "sk_nope" }),
            ("INVALID_KEY", revokedClient.frame("SendMessage", payload: payload)),
            ("BAD_SIGNATURE", try tamper(signed()) { $0.auth.keyID = other.keyId }),
            ("BAD_SIGNATURE", try tamper(signed()) { $0.payload = otherPayload }),
            ("BAD_SIGNATURE", try tamper(signed()) { $0.context.tenantID = "tenant-2" }),
            ("BAD_SIGNATURE", try tamper(signed()) { $0.context.actorProfileID = "mallory" }),
            ("BAD_SIGNATURE", try tamper(signed()) { $0.context.requestID = "changed" }),
            ("BAD_SIGNATURE", try tamper(signed()) { $0.auth.timestampUnixMs += 1 }),
            ("BAD_SIGNATURE", try tamper(signed()) { $0.auth.signature = Data(repeating: 7, count: 32) }),
            ("STALE_TIMESTAMP", signed(ts: Int64(Date().timeIntervalSince1970 * 1000) - 301_000)),
            ("STALE_TIMESTAMP", signed(ts: Int64(Date().timeIntervalSince1970 * 1000) + 301_000)),
        ]
        for (reason, frame) in cases {
            let reply = try raw.call(frame)
            #expect(reply.status.code == .unauthenticated && reply.status.reason == reason, "\(reason): \(reply.status)")
            #expect(!reply.status.message.contains(RequestSigning.hex(key.secret)))
        }
        let messages = try await client.listRoomMessages(.with { $0.roomID = room.id })
        #expect(messages.messages.isEmpty, "no refused call wrote anything")
    }

    /// Whether the key served writes before its revocation (the write path saw it) or only reads (only the read
    /// path's cache did: each read must check its revocation in its own snapshot).
    enum KeyUse: String, CaseIterable, Sendable { case writes, readsOnly }

    @Test("a key revoked while the server runs stops working at once, for writes and reads, whichever path cached it",
          arguments: KeyUse.allCases)
    func revokedWhileServing(use: KeyUse) async throws {
        let server = try ServerProcess(.ipc)
        let owner = try server.client()
        defer { owner.close() }
        let room = try await owner.createRoom(.with { $0.name = "r"; $0.roomType = .public }).room
        let key = try server.createKey()
        let client = try server.client(key: key)
        defer { client.close() }
        for i in 0..<3 {
            switch use {
            case .writes: _ = try await client.sendMessage(.with { $0.roomID = room.id; $0.content = "before \(i)" })
            case .readsOnly: _ = try await client.getRoom(.with { $0.roomID = room.id })
            }
        }
        try server.revokeKey(key.keyId)
        let raw = try RawCaller(server.rpc)
        let read = try raw.call(client.frame("GetRoom", payload: try Smrt_Chat_V1_GetRoomRequest.with {
            $0.roomID = room.id
        }.serializedData()))
        #expect(read.status.reason == "INVALID_KEY", "\(read.status)")
        let payload = try Smrt_Chat_V1_SendMessageRequest.with { $0.roomID = room.id; $0.content = "after" }.serializedData()
        let send = try raw.call(client.frame("SendMessage", payload: payload))
        #expect(send.status.reason == "INVALID_KEY", "\(send.status)")
        // A revoked key is INVALID_KEY before anything else is checked (SPEC §12.3), signature included.
        let forged = try raw.call(try tamper(client.frame("SendMessage", payload: payload)) {
            $0.auth.signature = Data(repeating: 1, count: 32)
        })
        #expect(forged.status.reason == "INVALID_KEY", "\(forged.status)")
        let page = try await owner.listRoomMessages(.with { $0.roomID = room.id })
        #expect(page.messages.map(\.content).sorted() == (use == .writes ? ["before 0", "before 1", "before 2"] : []),
                "nothing written after")
    }

    @Test("a resent request is answered from the first execution; reuse with changes is refused")
    func replays() async throws {
        let server = try ServerProcess(.ipc)
        let client = try server.client()
        defer { client.close() }
        let room = try await client.createRoom(.with { $0.name = "r"; $0.roomType = .public }).room
        let raw = try RawCaller(server.rpc)
        let payload = try Smrt_Chat_V1_SendMessageRequest.with { $0.roomID = room.id; $0.content = "once" }.serializedData()
        let frame = client.frame("SendMessage", payload: payload, requestId: "retry-1")
        let first = try raw.call(frame)
        let second = try raw.call(frame)
        #expect(first.status.code == .ok && second == first, "the resend gets the stored response")
        let page = try await client.listRoomMessages(.with { $0.roomID = room.id })
        #expect(page.messages.count == 1, "executed once")
        let changed = client.frame("SendMessage", payload: try Smrt_Chat_V1_SendMessageRequest.with {
            $0.roomID = room.id; $0.content = "different"
        }.serializedData(), requestId: "retry-1")
        let reused = try raw.call(changed)
        #expect(reused.status.code == .unauthenticated && reused.status.reason == "REQUEST_ID_REUSED")
        // Reads: a byte-identical resend is simply answered again; a changed reuse is refused too.
        let read = client.frame("GetRoom", payload: try Smrt_Chat_V1_GetRoomRequest.with { $0.roomID = room.id }.serializedData(),
                                requestId: "read-1")
        #expect(try raw.call(read).status.code == .ok)
        #expect(try raw.call(read).status.code == .ok)
        let readChanged = client.frame("GetRoom", payload: try Smrt_Chat_V1_GetRoomRequest.with { $0.roomID = "x" }.serializedData(),
                                       requestId: "read-1")
        #expect(try raw.call(readChanged).status.reason == "REQUEST_ID_REUSED")
        // A refused mutation is replayed as the same refusal, without a second audit event.
        let agentKey = try server.createKey(scopes: ["agent"])
        let agent = try server.client(actor: "agent-x", key: agentKey)
        let session = try await client.createAgentSession(.with { $0.agentID = "bot" }).session
        let denied = agent.frame("SendAgentReply", payload: try Smrt_Chat_V1_SendAgentReplyRequest.with {
            $0.sessionID = session.id; $0.kind = .tool; $0.toolCall = .with { $0.callID = "c"; $0.name = "rm" }
        }.serializedData(), requestId: "deny-1")
        let d1 = try raw.call(denied)
        let d2 = try raw.call(denied)
        #expect(d1.status.reason == "TOOL_NOT_ALLOWED" && d2 == d1)
        let log = try await client.listRoomEvents(.with { $0.roomID = session.roomID })
        #expect(log.events.filter { $0.kind == .toolCallDenied }.count == 1)
    }

    @Test("keys without the tenant or the scope are PERMISSION_DENIED")
    func grants() async throws {
        let server = try ServerProcess(.ipc)
        let chatOnly = try server.client()
        defer { chatOnly.close() }
        let otherTenant = try server.client(key: try server.createKey(tenants: ["tenant-2"]))
        await expectRPC("TENANT_NOT_GRANTED", code: 7) { _ = try await otherTenant.listMyRooms(.init()) }
        let tenantEvents = await expectRPC("SCOPE_MISSING", code: 7) { _ = try await chatOnly.listTenantEvents(.init()) }
        #expect(tenantEvents?.metadata["scope"] == "events")
        let reply = await expectRPC("SCOPE_MISSING", code: 7) {
            _ = try await chatOnly.sendAgentReply(.with { $0.sessionID = "s"; $0.content = "x" })
        }
        #expect(reply?.metadata["scope"] == "agent")
        let admin = await expectRPC("SCOPE_MISSING") { _ = try await chatOnly.expireStaleSessions(.init()) }
        #expect(admin?.metadata["scope"] == "admin")
        let eventsOnly = try server.client(scopes: ["events"])
        await expectRPC("SCOPE_MISSING") { _ = try await eventsOnly.createRoom(.with { $0.name = "x"; $0.roomType = .public }) }
        let everywhere = try server.client(tenant: "tenant-9", key: try server.createKey(scopes: ["chat"], allTenants: true))
        _ = try await everywhere.listMyRooms(.init())
    }

    @Test("a call past its deadline is not executed")
    func deadline() async throws {
        let server = try ServerProcess(.ipc)
        let client = try server.client()
        defer { client.close() }
        let raw = try RawCaller(server.rpc)
        let payload = try Smrt_Chat_V1_CreateRoomRequest.with { $0.name = "late"; $0.roomType = .public }.serializedData()
        let frame = client.frame("CreateRoom", payload: payload, deadlineUnixMs: Int64(Date().timeIntervalSince1970 * 1000) - 1)
        let reply = try raw.call(frame)
        #expect(reply.status.code == .deadlineExceeded && reply.status.reason == "DEADLINE_EXCEEDED")
        #expect(try await client.listMyRooms(.init()).rooms.isEmpty)
    }

    @Test("a key over its rate gets RATE_LIMITED with retry_after_ms while other keys are served")
    func rateLimits() async throws {
        // A low key rate, so that one sequential client exceeds it on any engine and build.
        let config = FileManager.default.temporaryDirectory.appendingPathComponent("smrtchat-limits-\(UUID().uuidString).conf")
        try "key_rate = 20\nkey_burst = 20\n".write(to: config, atomically: true, encoding: .utf8)
        defer { try? FileManager.default.removeItem(at: config) }
        let server = try ServerProcess(.ipc, arguments: ["--no-jobs", "--config", config.path])
        let greedy = try server.client()
        let polite = try server.client(actor: "bob")
        defer { greedy.close(); polite.close() }
        var limited: RPCError?
        for _ in 0..<1000 where limited == nil {
            do { _ = try await greedy.listMyRooms(.init()) } catch let error as RPCError { limited = error }
        }
        #expect(limited?.code == 8 && limited?.reason == "RATE_LIMITED")
        #expect(Int(limited?.metadata["retry_after_ms"] ?? "") ?? 0 > 0)
        _ = try await polite.listMyRooms(.init())
    }
}
