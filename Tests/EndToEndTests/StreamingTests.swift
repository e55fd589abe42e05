import ChatAPI
import ChatClient
import Foundation
import Synchronization
import Testing

/// A session with its participant (alice, a `chat` key) and the agent runtime (an `agent` key).
private struct AgentSetup {
    let alice: ChatClient
    let agent: ChatClient
    let session: Smrt_Chat_V1_AgentSession

    init(_ server: ServerProcess, allowed: [String] = [], approval: [String] = [],
         busy: Smrt_Chat_V1_BusyPolicy = .unspecified, maxMessages: Int64 = 0) async throws {
        alice = try server.client(actor: "alice")
        agent = try server.client(actor: "agent-runtime", scopes: ["agent"])
        session = try await alice.createAgentSession(.with {
            // Each setup its own agent: alice's active session of an agent would be reused.
            $0.agentID = "writer-\(UUID().uuidString.prefix(8).lowercased())"
            $0.allowedTools = allowed
            $0.approvalTools = approval
            $0.busyPolicy = busy
            $0.maxMessages = maxMessages
        }).session
    }

    func begin(_ key: String = "") async throws -> Smrt_Chat_V1_Message {
        try await agent.beginAgentReply(.with { $0.sessionID = session.id; $0.clientRequestID = key }).message
    }

    @discardableResult
    func append(_ message: Smrt_Chat_V1_Message, _ index: Int64, _ text: String) async throws
        -> Smrt_Chat_V1_AppendReplyDeltaResponse {
        try await agent.appendReplyDelta(.with { $0.messageID = message.id; $0.index = index; $0.text = text })
    }

    func finish(_ message: Smrt_Chat_V1_Message, _ status: Smrt_Chat_V1_StreamState = .completed, tokens: Int64 = 0)
        async throws -> Smrt_Chat_V1_Message {
        try await agent.finishAgentReply(.with { $0.messageID = message.id; $0.status = status; $0.tokensUsed = tokens }).message
    }

    func toolCall(_ callId: String, _ tool: String, arguments: String = "{}") async throws -> Smrt_Chat_V1_Message {
        try await agent.sendAgentReply(.with {
            $0.sessionID = session.id
            $0.kind = .tool
            $0.messageType = .toolCall
            $0.toolCall = .with { $0.callID = callId; $0.name = tool; $0.arguments = arguments }
        }).message
    }

    func toolResult(_ callId: String, _ tool: String) async throws -> Smrt_Chat_V1_Message {
        try await agent.sendAgentReply(.with {
            $0.sessionID = session.id
            $0.kind = .tool
            $0.messageType = .toolResult
            $0.toolCall = .with { $0.callID = callId; $0.name = tool; $0.result = "{\"ok\":true}" }
        }).message
    }

    func decide(_ callId: String, approve: Bool, as client: ChatClient? = nil) async throws -> Smrt_Chat_V1_ToolCallApproval {
        try await (client ?? alice).decideToolCall(.with {
            $0.sessionID = session.id
            $0.callID = callId
            $0.decision = approve ? .approve : .reject
            $0.reason = approve ? "fine" : "no"
        }).approval
    }

    func claim(_ callId: String, as client: ChatClient? = nil) async throws -> Smrt_Chat_V1_ClaimToolCallResponse {
        try await (client ?? agent).claimToolCall(.with { $0.sessionID = session.id; $0.callID = callId })
    }

    func events() async throws -> [Smrt_Chat_V1_RoomEvent] {
        try await alice.listRoomEvents(.with { $0.roomID = session.roomID; $0.limit = 200 }).events
    }

    func close() {
        alice.close()
        agent.close()
    }
}

/// The outcome of an async call, as a value (for calls raced against each other).
private func outcome<T>(_ body: () async throws -> T) async -> Result<T, Error> {
    do { return .success(try await body()) } catch { return .failure(error) }
}

/// A server configuration file in the server's directory (jobs on, with short times).
private func jobConfig(_ lines: [String]) throws -> String {
    let path = FileManager.default.temporaryDirectory.appendingPathComponent("smrtchat-jobs-\(UUID().uuidString.prefix(8)).conf").path
    try lines.joined(separator: "\n").write(toFile: path, atomically: true, encoding: .utf8)
    return path
}

@Suite("Streamed agent replies and tool approvals (SPEC §13)", .serialized)
struct StreamingTests {
    @Test("a reply streams, resumes from any index, and finishes as one message; every denial holds")
    func streamedReply() async throws {
        let server = try ServerProcess(.ipc)
        let s = try await AgentSetup(server)
        defer { s.close() }
        let begun = try await s.begin("turn-1")
        #expect(begun.streamState == .streaming && begun.content.isEmpty && begun.deltaCount == 0)
        #expect(begun.senderProfileID == s.session.agentProfileID && begun.role == .assistant)
        // The same client request id again answers with the same message (counted once).
        let again = try await s.agent.beginAgentReply(.with { $0.sessionID = s.session.id; $0.clientRequestID = "turn-1" })
        #expect(again.replayed && again.message.id == begun.id)

        let pieces = (0..<40).map { "tok\($0)é " }
        for (i, text) in pieces.prefix(25).enumerated() {
            let r = try await s.append(begun, Int64(i), text)
            #expect(r.deltaCount == Int64(i + 1))
            #expect(r.delta.contentLength == Int64(pieces.prefix(i + 1).joined().utf8.count))
        }
        // Mid-stream: GetMessage has the content so far.
        let partial = try await s.alice.getMessage(.with { $0.messageID = begun.id }).message
        #expect(partial.content == pieces.prefix(25).joined() && partial.deltaCount == 25 && partial.streamState == .streaming)

        // Retry, conflict, gap, limits: state first, then index, then content.
        _ = try await s.append(begun, 3, pieces[3])
        await expectRPC("DELTA_CONFLICT", code: 10) { try await s.append(begun, 3, "other") }
        let gap = await expectRPC("DELTA_OUT_OF_ORDER", code: 9) { try await s.append(begun, 30, "x") }
        #expect(gap?.metadata["expected_index"] == "25")
        await expectRPC("VALIDATION") { try await s.append(begun, 25, "") }
        await expectRPC("VALIDATION") { try await s.append(begun, 25, String(repeating: "x", count: 16 * 1024 + 1)) }
        await expectRPC("VALIDATION") { try await s.append(begun, -1, "x") }
        // Scopes and visibility: a chat key may not append; another tenant's agent sees no such message.
        let chatAsAgent = s.alice.acting(as: s.session.agentProfileID)
        await expectRPC("SCOPE_MISSING") { _ = try await chatAsAgent.appendReplyDelta(.with { $0.messageID = begun.id; $0.index = 25; $0.text = "x" }) }
        let foreign = try server.client(actor: "agent-runtime", tenant: "tenant-2", scopes: ["agent"])
        defer { foreign.close() }
        await expectRPC("NOT_FOUND") { _ = try await foreign.appendReplyDelta(.with { $0.messageID = begun.id; $0.index = 25; $0.text = "x" }) }
        let bob = try server.client(actor: "bob")
        defer { bob.close() }
        await expectRPC("NOT_FOUND") { _ = try await bob.listReplyDeltas(.with { $0.messageID = begun.id }) }
        await expectRPC("NOT_FOUND") { _ = try await bob.stopReply(.with { $0.messageID = begun.id }) }

        // A subscriber that joins mid-stream ends with exactly the final content.
        let collected = Mutex<[Smrt_Chat_V1_ReplyDelta]>([])
        let reader = Task {
            for try await delta in s.alice.replyStream(messageId: begun.id, roomId: begun.roomID, idleCatchUpMs: 300) {
                collected.withLock { $0.append(delta) }
            }
        }
        for i in 25..<40 {
            try await s.append(begun, Int64(i), pieces[i])
            try await Task.sleep(for: .milliseconds(5))
        }
        let done = try await s.finish(begun, tokens: 42)
        try await reader.value
        let got = collected.withLock { $0 }
        #expect(got.map(\.index) == Array(0..<40))
        #expect(got.map(\.text).joined() == done.content)
        #expect(done.content == pieces.joined() && done.streamState == .completed && done.deltaCount == 40)
        let fetched = try await s.alice.getMessage(.with { $0.messageID = begun.id }).message
        #expect(fetched.content == done.content && fetched.streamState == .completed)
        // Resume from any index; finishing again: same status no-op, other status refused; appends refused.
        let tail = try await s.agent.listReplyDeltas(.with { $0.messageID = begun.id; $0.fromIndex = 37 })
        #expect(tail.deltas.map(\.index) == [37, 38, 39] && !tail.hasMore_p && tail.streamState == .completed)
        // An events key reads any room's deltas (an indexer), as members and agent keys do.
        let indexer = try server.client(actor: "indexer", scopes: ["events"])
        defer { indexer.close() }
        let indexed = try await indexer.listReplyDeltas(.with { $0.messageID = begun.id; $0.fromIndex = 38 })
        #expect(indexed.deltas.map(\.index) == [38, 39])
        await expectRPC("VALIDATION") { _ = try await indexer.listReplyDeltas(.with { $0.messageID = begun.id; $0.limit = 2001 }) }
        let paged = try await s.alice.listReplyDeltas(.with { $0.messageID = begun.id; $0.fromIndex = 0; $0.limit = 10 })
        #expect(paged.deltas.count == 10 && paged.hasMore_p && paged.deltaCount == 40)
        #expect(try await s.finish(begun).streamState == .completed)
        await expectRPC("REPLY_FINISHED") { _ = try await s.finish(begun, .failed) }
        await expectRPC("REPLY_FINISHED") { try await s.append(begun, 40, "late") }
        await expectRPC("VALIDATION") { _ = try await s.finish(begun, .stopped) }
        let session = try await s.alice.getAgentSession(.with { $0.sessionID = s.session.id }).session
        #expect(session.totalTokensUsed == 42 && session.messageCount == 1)
        // The log: MESSAGE_CREATED then MESSAGE_STREAM_FINISHED with the final content; deltas are no events.
        let kinds = try await s.events().map(\.kind)
        #expect(kinds.filter { $0 == .messageCreated }.count == 1 && kinds.filter { $0 == .messageStreamFinished }.count == 1)
        let finishedEvent = try await s.events().first { $0.kind == .messageStreamFinished }
        #expect(finishedEvent?.message.content == done.content)
        // A message that never streamed has no deltas.
        let plain = try await s.agent.sendAgentReply(.with { $0.sessionID = s.session.id; $0.content = "hi" }).message
        await expectRPC("NOT_STREAMED") { _ = try await s.alice.listReplyDeltas(.with { $0.messageID = plain.id }) }
        await expectRPC("NOT_STREAMED") { try await s.append(plain, 0, "x") }
        // A user's message is no reply of the agent's.
        let mine = try await s.alice.sendAgentUserMessage(.with { $0.sessionID = s.session.id; $0.content = "hi" }).message
        await expectRPC("NOT_FOUND") { try await s.append(mine, 0, "x") }
        // An inactive session begins no reply, but a reply begun before may still finish.
        let limited = try await AgentSetup(server, maxMessages: 1)
        defer { limited.close() }
        let only = try await limited.begin()
        await expectRPC("SESSION_INACTIVE") { _ = try await limited.begin() }
        try await limited.append(only, 0, "still")
        #expect(try await limited.finish(only).content == "still")
    }

    @Test("a page of history read again shows a streaming reply's content as it grows (its deltas move no log position)")
    func historyPagesFollowDeltas() async throws {
        let server = try ServerProcess(.ipc)
        let s = try await AgentSetup(server)
        defer { s.close() }
        let reply = try await s.begin()
        let request = Smrt_Chat_V1_ListRoomMessagesRequest.with { $0.roomID = s.session.roomID; $0.limit = 5 }
        func content() async throws -> String? {
            try await s.alice.listRoomMessages(request).messages.first { $0.id == reply.id }?.content
        }
        try await s.append(reply, 0, "one ")
        #expect(try await content() == "one ")
        try await s.append(reply, 1, "two")
        #expect(try await content() == "one two")
        _ = try await s.finish(reply)
        #expect(try await content() == "one two")
        #expect(try await content() == "one two")
    }

    @Test("a stop request: appends refused, the reply finishes as stopped with its partial content")
    func stopReply() async throws {
        let server = try ServerProcess(.ipc)
        let s = try await AgentSetup(server)
        defer { s.close() }
        let reply = try await s.begin()
        try await s.append(reply, 0, "partial ")
        await expectRPC("SCOPE_MISSING") { _ = try await s.agent.stopReply(.with { $0.messageID = reply.id }) }
        let stopped = try await s.alice.stopReply(.with { $0.messageID = reply.id }).message
        #expect(stopped.streamState == .streaming && stopped.content == "partial ")
        _ = try await s.alice.stopReply(.with { $0.messageID = reply.id })
        await expectRPC("REPLY_STOPPED") { try await s.append(reply, 1, "more") }
        let done = try await s.finish(reply, .completed)
        #expect(done.streamState == .stopped && done.content == "partial ")
        #expect(try await s.finish(reply, .failed).streamState == .stopped)
        let kinds = try await s.events().map(\.kind)
        #expect(kinds.filter { $0 == .replyStopRequested }.count == 1)
        _ = try await s.alice.stopReply(.with { $0.messageID = reply.id })
        #expect(try await s.events().map(\.kind).filter { $0 == .replyStopRequested }.count == 1)
    }

    @Test("busy sessions: reject refuses a user message while a reply streams, interrupt stops the reply")
    func busyPolicy() async throws {
        let server = try ServerProcess(.ipc)
        let rejecting = try await AgentSetup(server, busy: .reject)
        defer { rejecting.close() }
        #expect(rejecting.session.busyPolicy == .reject)
        let reply = try await rejecting.begin()
        await expectRPC("SESSION_BUSY", code: 9) {
            _ = try await rejecting.alice.sendAgentUserMessage(.with { $0.sessionID = rejecting.session.id; $0.content = "hey" })
        }
        await expectRPC("SESSION_BUSY") {
            _ = try await rejecting.alice.sendMessage(.with {
                $0.roomID = rejecting.session.roomID; $0.content = "hey"; $0.agentSessionID = rejecting.session.id
            })
        }
        _ = try await rejecting.finish(reply)
        _ = try await rejecting.alice.sendAgentUserMessage(.with { $0.sessionID = rejecting.session.id; $0.content = "now" })

        let interrupting = try await AgentSetup(server, busy: .interrupt)
        defer { interrupting.close() }
        let streaming = try await interrupting.begin()
        _ = try await interrupting.alice.sendAgentUserMessage(.with { $0.sessionID = interrupting.session.id; $0.content = "stop that" })
        await expectRPC("REPLY_STOPPED") { try await interrupting.append(streaming, 0, "x") }
        let kinds = try await interrupting.events().map(\.kind)
        #expect(Array(kinds.suffix(2)) == [.messageCreated, .replyStopRequested])
        // enqueue (the default) accepts and leaves the reply streaming; the policy can be changed.
        let queueing = try await AgentSetup(server)
        defer { queueing.close() }
        let going = try await queueing.begin()
        _ = try await queueing.alice.sendAgentUserMessage(.with { $0.sessionID = queueing.session.id; $0.content = "also" })
        try await queueing.append(going, 0, "fine")
        let updated = try await queueing.alice.updateAgentSessionConfig(.with {
            $0.sessionID = queueing.session.id; $0.busyPolicy = .reject
        }).session
        #expect(updated.busyPolicy == .reject)
        await expectRPC("SESSION_BUSY") {
            _ = try await queueing.alice.sendAgentUserMessage(.with { $0.sessionID = queueing.session.id; $0.content = "x" })
        }
    }

    @Test("tool approvals: pending until the participant decides, claimed exactly once, the result after the claim")
    func approvals() async throws {
        let server = try ServerProcess(.ipc)
        let s = try await AgentSetup(server, allowed: ["fs.*"], approval: ["fs.write"])
        defer { s.close() }
        #expect(s.session.approvalTools == ["fs.write"])
        let check = try await s.alice.checkToolCall(.with { $0.sessionID = s.session.id; $0.toolName = "fs.write" })
        #expect(check.allowed && check.requiresApproval)
        #expect(!(try await s.alice.checkToolCall(.with { $0.sessionID = s.session.id; $0.toolName = "fs.read" })).requiresApproval)

        let call = try await s.toolCall("c1", "fs.write", arguments: "{\"path\":\"/tmp/x\"}")
        let kinds = try await s.events().map(\.kind)
        #expect(Array(kinds.suffix(2)) == [.messageCreated, .toolApprovalRequested])
        let requested = try await s.events().last!
        #expect(requested.subjectID == "c1" && requested.toolCallApproval.approvalState == .pending
                && requested.toolCallApproval.messageID == call.id)
        let pending = try await s.alice.listPendingToolCalls(.init())
        #expect(pending.approvals.map(\.callID) == ["c1"] && pending.approvals[0].toolName == "fs.write")
        let bob = try server.client(actor: "bob")
        defer { bob.close() }
        #expect(try await bob.listPendingToolCalls(.init()).approvals.isEmpty)

        // Nothing runs before the decision; nobody but the participant decides.
        await expectRPC("TOOL_CALL_NOT_APPROVED") { _ = try await s.claim("c1") }
        await expectRPC("TOOL_CALL_NOT_APPROVED") { _ = try await s.toolResult("c1", "fs.write") }
        await expectRPC("NOT_SESSION_PARTICIPANT", code: 7) { _ = try await s.decide("c1", approve: true, as: bob) }
        let stranger = try server.client(actor: "bob", tenant: "tenant-2")
        defer { stranger.close() }
        await expectRPC("NOT_FOUND") { _ = try await s.decide("c1", approve: true, as: stranger) }
        let agentAsChat = try server.client(actor: s.session.agentProfileID)
        defer { agentAsChat.close() }
        await expectRPC("NOT_SESSION_PARTICIPANT", code: 7) { _ = try await s.decide("c1", approve: true, as: agentAsChat) }
        await expectRPC("SCOPE_MISSING") { _ = try await s.decide("c1", approve: true, as: s.agent) }
        await expectRPC("NOT_FOUND") { _ = try await s.decide("nope", approve: true) }

        let approved = try await s.decide("c1", approve: true)
        #expect(approved.approvalState == .approved && approved.decidedByProfileID == "alice" && approved.reason == "fine")
        #expect(try await s.decide("c1", approve: true).approvalState == .approved)
        await expectRPC("TOOL_CALL_ALREADY_DECIDED") { _ = try await s.decide("c1", approve: false) }
        await expectRPC("TOOL_CALL_NOT_CLAIMED") { _ = try await s.toolResult("c1", "fs.write") }
        #expect(try await s.alice.listPendingToolCalls(.init()).approvals.isEmpty)

        // Two runtimes race to claim: exactly one wins.
        let second = try server.client(actor: "agent-runtime-2", scopes: ["agent"])
        defer { second.close() }
        async let a = outcome { try await s.claim("c1") }
        async let b = outcome { try await s.claim("c1", as: second) }
        let outcomes = await [a, b]
        let wins = outcomes.compactMap { try? $0.get() }
        #expect(wins.count == 1)
        #expect(wins.first?.message.toolCall.arguments == "{\"path\":\"/tmp/x\"}")
        #expect(wins.first?.approval.hasClaimedAt == true)
        for case .failure(let error as RPCError) in outcomes { #expect(error.reason == "TOOL_CALL_ALREADY_CLAIMED") }
        _ = try await s.toolResult("c1", "fs.write")
        await expectRPC("TOOL_CALL_ALREADY_CLAIMED") { _ = try await s.claim("c1") }
        let claimedEvent = try await s.events().first { $0.kind == .toolCallClaimed }
        #expect(claimedEvent?.actorProfileID == s.session.agentProfileID)

        // Rejected calls never run; calls that need no approval are claimed once, and cannot be decided.
        _ = try await s.toolCall("c2", "fs.write")
        #expect(try await s.decide("c2", approve: false).approvalState == .rejected)
        await expectRPC("TOOL_CALL_NOT_APPROVED") { _ = try await s.claim("c2") }
        await expectRPC("TOOL_CALL_NOT_APPROVED") { _ = try await s.toolResult("c2", "fs.write") }
        _ = try await s.toolCall("c3", "fs.read")
        await expectRPC("TOOL_CALL_NO_APPROVAL_NEEDED") { _ = try await s.decide("c3", approve: true) }
        _ = try await s.claim("c3")
        await expectRPC("TOOL_CALL_ALREADY_CLAIMED") { _ = try await s.claim("c3") }
        _ = try await s.toolResult("c3", "fs.read")
        _ = try await s.toolCall("c4", "fs.read")
        _ = try await s.toolResult("c4", "fs.read")
        await expectRPC("TOOL_CALL_ALREADY_ANSWERED") { _ = try await s.claim("c4") }
        await expectRPC("NOT_FOUND") { _ = try await s.claim("unknown") }
        // Session events carry neither the system prompt nor the context.
        let sessionEvents = try await s.events().filter { $0.kind == .sessionCreated }
        #expect(sessionEvents.allSatisfy { $0.session.systemPrompt.isEmpty && $0.session.sessionContext.isEmpty })
    }

    @Test("the job: idle replies interrupted, stopped replies finished, approvals expired, deltas dropped")
    func jobs() async throws {
        let config = try jobConfig([
            "stream_job_interval = 1", "stream_idle_seconds = 1", "approval_ttl_seconds = 2",
            "delta_retention_seconds = 1", "retention_interval = 0", "session_expiry_interval = 0",
            "export_ttl_seconds = 1",
        ])
        defer { try? FileManager.default.removeItem(atPath: config) }
        let server = try ServerProcess(.ipc, arguments: ["--no-rate-limits", "--config", config])
        let s = try await AgentSetup(server, allowed: ["fs.*"], approval: ["fs.*"])
        defer { s.close() }
        // export_ttl_seconds (SPEC §14): an export is readable until it expires, then NOT_FOUND.
        let admin = try server.client(actor: "ops", scopes: ["admin"])
        defer { admin.close() }
        let export = try await admin.exportRoom(.with { $0.roomID = s.session.roomID })
        _ = try await admin.exportPage(.with { $0.exportID = export.exportID })
        let idle = try await s.begin()
        try await s.append(idle, 0, "half an ans")
        let stopped = try await s.begin()
        _ = try await s.alice.stopReply(.with { $0.messageID = stopped.id })
        _ = try await s.toolCall("late", "fs.delete")
        let deadline = Date().addingTimeInterval(20)
        var state: (Smrt_Chat_V1_StreamState, Smrt_Chat_V1_StreamState, Bool) = (.streaming, .streaming, false)
        while Date() < deadline {
            let a = try await s.alice.getMessage(.with { $0.messageID = idle.id }).message.streamState
            let b = try await s.alice.getMessage(.with { $0.messageID = stopped.id }).message.streamState
            let expired = try await s.events().contains { $0.kind == .toolCallExpired }
            state = (a, b, expired)
            if a != .streaming && b != .streaming && expired { break }
            try await Task.sleep(for: .milliseconds(200))
        }
        #expect(state.0 == .interrupted && state.1 == .stopped && state.2)
        await expectRPC("NOT_FOUND") { _ = try await admin.exportPage(.with { $0.exportID = export.exportID }) }
        #expect(try await s.alice.getMessage(.with { $0.messageID = idle.id }).message.content == "half an ans")
        await expectRPC("TOOL_CALL_EXPIRED") { _ = try await s.decide("late", approve: true) }
        await expectRPC("TOOL_CALL_NOT_APPROVED") { _ = try await s.claim("late") }
        let finishedEvents = try await s.events().filter { $0.kind == .messageStreamFinished }
        #expect(finishedEvents.count == 2 && finishedEvents.allSatisfy { $0.actorProfileID.isEmpty })
        // After the retention the stored deltas are gone: RESYNC_REQUIRED, and a stream reader reads the content.
        var resync: RPCError?
        while Date() < deadline, resync == nil {
            do {
                _ = try await s.alice.listReplyDeltas(.with { $0.messageID = idle.id })
                try await Task.sleep(for: .milliseconds(200))
            } catch let error as RPCError { resync = error }
        }
        #expect(resync?.reason == "RESYNC_REQUIRED" && resync?.code == 11)
        var text = ""
        for try await delta in s.alice.replyStream(messageId: idle.id, roomId: idle.roomID) { text += delta.text }
        #expect(text == "half an ans")
    }

    @Test("kill -9 mid-stream and mid-approval: the reply resumes with nothing lost or doubled, the approval waits, one claim wins")
    func killMidStream() async throws {
        let first = try ServerProcess(.ipc)
        let key = try first.createKey(scopes: ["chat", "agent"])
        let s = try await AgentSetup(first, allowed: ["pay.*"], approval: ["pay.send"])
        let reply = try await s.begin()
        _ = try await s.toolCall("pay-1", "pay.send")
        // An appender keeps going while the server is killed: every acknowledged delta must survive.
        let fast = try first.client(actor: "agent-runtime", key: key) { $0.timeoutMs = 1000; $0.retries = 0 }
        defer { fast.close() }
        let acked = Mutex<[Int64: String]>([:])
        let appender = Task {
            for i in 0..<100_000 {
                let text = "d\(i) "
                do {
                    _ = try await fast.appendReplyDelta(.with { $0.messageID = reply.id; $0.index = Int64(i); $0.text = text })
                    acked.withLock { $0[Int64(i)] = text }
                } catch { return }
            }
        }
        try await Task.sleep(for: .milliseconds(400))
        for instance in first.pids.indices { first.kill(instance: instance) }
        await appender.value
        s.close()
        let ackedNow = acked.withLock { $0 }
        #expect(ackedNow.count > 5)

        let server = try ServerProcess(.ipc, database: first.database)
        let agent = try server.client(actor: "agent-runtime", key: key)
        let alice = try server.client(actor: "alice", key: key)
        defer { agent.close(); alice.close() }
        // Resume: the stored deltas are contiguous from 0, hold every acknowledged one, nothing twice.
        var stored: [Smrt_Chat_V1_ReplyDelta] = []
        var from: Int64 = 0
        while true {
            let page = try await agent.listReplyDeltas(.with { $0.messageID = reply.id; $0.fromIndex = from })
            stored += page.deltas
            from = (stored.last?.index ?? -1) + 1
            if !page.hasMore_p { #expect(page.deltaCount == Int64(stored.count)); break }
        }
        #expect(stored.map(\.index) == Array(0..<Int64(stored.count)))
        for (index, text) in ackedNow { #expect(stored[Int(index)].text == text) }
        for delta in stored { #expect(delta.text == "d\(delta.index) ") }
        // The runtime goes on from delta_count (its unacknowledged delta, if stored, is answered as a retry).
        let next = Int64(stored.count)
        _ = try await agent.appendReplyDelta(.with { $0.messageID = reply.id; $0.index = next; $0.text = "end" })
        let done = try await agent.finishAgentReply(.with { $0.messageID = reply.id; $0.status = .completed }).message
        #expect(done.content == stored.map(\.text).joined() + "end")
        // The approval is still pending; after it, two runtimes claim and one wins.
        let pending = try await alice.listPendingToolCalls(.init()).approvals
        #expect(pending.map(\.callID) == ["pay-1"])
        _ = try await alice.decideToolCall(.with { $0.sessionID = s.session.id; $0.callID = "pay-1"; $0.decision = .approve })
        let other = try server.client(actor: "agent-runtime-2", key: key)
        defer { other.close() }
        async let a = outcome { try await agent.claimToolCall(.with { $0.sessionID = s.session.id; $0.callID = "pay-1" }) }
        async let b = outcome { try await other.claimToolCall(.with { $0.sessionID = s.session.id; $0.callID = "pay-1" }) }
        let outcomes = await [a, b]
        #expect(outcomes.filter { (try? $0.get()) != nil }.count == 1)
        withExtendedLifetime(first) {}
    }
}
