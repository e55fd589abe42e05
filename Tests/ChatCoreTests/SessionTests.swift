@testable import ChatCore
import Testing

/// Creates a session for alice with the given tools and limits.
private func session(
    _ chat: TestChat, tools: [String] = ["notes.*", "web-search"], maxMessages: Int64 = 0, maxTokens: Int64 = 0,
    ttl: Int64 = 0, key: String? = nil, agent: String = "helper"
) async throws -> SessionCreation {
    try await chat.w(alice) {
        try $0.createAgentSession($1, $2, agentId: agent, allowedTools: tools, systemPrompt: "be brief",
                                  maxTokens: maxTokens, maxMessages: maxMessages, ttlSeconds: ttl, sessionKey: key)
    }
}

private func reply(
    _ chat: TestChat, _ id: String, _ content: String = "ok", kind: AgentReplyKind = .assistant,
    type: MessageType? = nil, tool: ToolCallInput? = nil, tokens: Int64 = 0, key: String? = nil
) async throws -> SendResult {
    try await chat.w(agentKey) {
        try $0.sendAgentReply($1, $2, sessionId: id, content: content, kind: kind, messageType: type, toolCall: tool,
                              tokensUsed: tokens, clientRequestId: key)
    }.get()
}

@Suite("Agent sessions and the tool gate (SPEC §5, §12.5–§12.7)")
struct SessionTests {
    @Test("create: agent room with the actor as owner and the derived agent profile as member; events in order")
    func create() async throws {
        let chat = try TestChat()
        let created = try await chat.wc(alice) { try $0.createAgentSession($1, $2, agentId: "helper", ttlSeconds: 60) }
        let s = created.value.session.session
        #expect(s.agentProfileId == "agent:helper" && s.participantProfileId == "alice" && s.contextVersion == 1)
        #expect(created.value.room.roomType == .agent && created.value.room.maxParticipants == 2 && !created.value.reused)
        #expect(s.expiresAt == s.createdAt + 60_000 && created.value.session.isActive)
        #expect(created.events.map(\.kind) == [.roomCreated, .participantJoined, .participantJoined, .sessionCreated])
        let room = try await chat.r(alice) { try $0.getRoom($1, $2, roomId: s.roomId) }
        #expect(room.participant?.role == .owner)
    }

    @Test("the agent profile must not be the actor; checked before reuse")
    func agentProfileInvalid() async throws {
        let chat = try TestChat()
        _ = try await session(chat)
        let error = try await expectRefusedWithoutWrites(chat, .agentProfileInvalid, .invalidArgument) {
            _ = try await chat.w(alice) { try $0.createAgentSession($1, $2, agentId: "helper", agentProfileId: "alice") }
        }
        #expect(error?.metadata["field"] == "agent_profile_id")
        try await expectRefusedWithoutWrites(chat, .validation) {
            _ = try await chat.w(alice) { try $0.createAgentSession($1, $2, agentId: "helper", allowedTools: ["*"]) }
        }
    }

    @Test("reuse by session key: same key reuses (ignoring other fields), other key or keyless does not")
    func reuse() async throws {
        let chat = try TestChat()
        let a = try await session(chat, key: "conv-1")
        let before = try chat.footprint()
        let again = try await chat.wc(alice) {
            try $0.createAgentSession($1, $2, agentId: "helper", allowedTools: ["other"], maxMessages: 1, sessionKey: "conv-1")
        }
        #expect(again.value.reused && again.value.session.session.id == a.session.session.id && again.events.isEmpty)
        #expect(again.value.session.session.allowedTools == ["notes.*", "web-search"])
        #expect(try chat.footprint() == before)
        let keyless = try await session(chat)
        #expect(!keyless.reused && keyless.session.session.id != a.session.session.id)
        let keyless2 = try await session(chat, key: "")
        #expect(keyless2.reused && keyless2.session.session.id == keyless.session.session.id, "\"\" is no key")
        let bobs = try await chat.w(bob) { try $0.createAgentSession($1, $2, agentId: "helper", sessionKey: "conv-1") }
        #expect(!bobs.reused)
    }

    @Test("an inactive session is never reused: it is expired with its reason in the same call")
    func noReuseOfInactive() async throws {
        let chat = try TestChat()
        let a = try await session(chat, ttl: 10, key: "k")
        chat.clock.advance(seconds: 11)
        let b = try await chat.wc(alice) { try $0.createAgentSession($1, $2, agentId: "helper", sessionKey: "k") }
        #expect(!b.value.reused && b.value.session.session.id != a.session.session.id)
        #expect(b.events.first?.kind == .sessionExpired && b.events.first?.subjectId == a.session.session.id)
        let old = try await chat.r(alice) { try $0.getAgentSession($1, $2, sessionId: a.session.session.id) }
        #expect(old.session.status == .expired && old.inactiveReason == .expired)
    }

    @Test("visibility: the participant and agent keys; others get NOT_FOUND")
    func visibility() async throws {
        let chat = try TestChat()
        let s = try await session(chat).session.session
        #expect(try await chat.r(alice) { try $0.getAgentSession($1, $2, sessionId: s.id) }.session.sessionContext == "{}")
        #expect(try await chat.r(agentKey) { try $0.getAgentSession($1, $2, sessionId: s.id) }.session.id == s.id)
        await expectFailure(.notFound) { _ = try await chat.r(bob) { try $0.getAgentSession($1, $2, sessionId: s.id) } }
        await expectFailure(.notFound) { _ = try await chat.r(mallory) { try $0.getAgentSession($1, $2, sessionId: s.id) } }
        let otherTenantAgent = CallActor(tenantId: "tenant-2", profileId: "x", scopes: [.agent])
        await expectFailure(.notFound) { _ = try await chat.r(otherTenantAgent) { try $0.getAgentSession($1, $2, sessionId: s.id) } }
        let list = try await chat.r(alice) { try $0.listAgentSessions($1, $2) }
        #expect(list.items.map(\.session.id) == [s.id])
        #expect(try await chat.r(bob) { try $0.listAgentSessions($1, $2) }.items.isEmpty)
    }

    @Test("user messages: participant only, counted, into the session room")
    func userMessages() async throws {
        let chat = try TestChat()
        let s = try await session(chat).session.session
        try await expectRefusedWithoutWrites(chat, .notFound) {
            _ = try await chat.w(bob) { try $0.sendAgentUserMessage($1, $2, sessionId: s.id, content: "hi") }
        }
        let asAgentOther = CallActor(tenantId: tenant, profileId: "bob", scopes: [.chat, .agent])
        try await expectRefusedWithoutWrites(chat, .notSessionParticipant, .permissionDenied) {
            _ = try await chat.w(asAgentOther) { try $0.sendAgentUserMessage($1, $2, sessionId: s.id, content: "hi") }
        }
        let sent = try await chat.w(alice) { try $0.sendAgentUserMessage($1, $2, sessionId: s.id, content: "hi", clientRequestId: "u1") }
        #expect(sent.message.role == .user && sent.message.agentSessionId == s.id && sent.message.roomId == s.roomId)
        let replayed = try await chat.w(alice) { try $0.sendAgentUserMessage($1, $2, sessionId: s.id, content: "hi", clientRequestId: "u1") }
        #expect(replayed.replayed)
        #expect(try await chat.r(alice) { try $0.getAgentSession($1, $2, sessionId: s.id) }.session.messageCount == 1)
    }

    @Test("agent replies need the agent scope and are authored by the agent profile")
    func replies() async throws {
        let chat = try TestChat()
        let s = try await session(chat).session.session
        let error = try await expectRefusedWithoutWrites(chat, .scopeMissing, .permissionDenied) {
            _ = try await chat.w(alice) { try $0.sendAgentReply($1, $2, sessionId: s.id, content: "fake") }
        }
        #expect(error?.metadata["scope"] == "agent")
        let r = try await reply(chat, s.id, "answer", tokens: 12)
        #expect(r.message.senderProfileId == "agent:helper" && r.message.role == .assistant && r.message.messageType == .text)
        let view = try await chat.r(alice) { try $0.getAgentSession($1, $2, sessionId: s.id) }
        #expect(view.session.totalTokensUsed == 12 && view.session.messageCount == 1)
        let events = try chat.events(s.roomId)
        #expect(events.last?.kind == .messageCreated)
        try await expectRefusedWithoutWrites(chat, .notFound) { _ = try await reply(chat, "missing") }
    }

    @Test("tool gate: missing name, disallowed name with one audit event, allowed with pairing")
    func toolGate() async throws {
        let chat = try TestChat()
        let s = try await session(chat).session.session
        try await expectRefusedWithoutWrites(chat, .toolNameMissing, .invalidArgument) {
            _ = try await reply(chat, s.id, kind: .tool, type: .toolCall, tool: nil)
        }
        try await expectRefusedWithoutWrites(chat, .toolNameMissing) {
            _ = try await reply(chat, s.id, kind: .tool, type: .toolCall, tool: ToolCallInput(callId: "c1", name: ""))
        }
        let noCallId = try await expectRefusedWithoutWrites(chat, .validation) {
            _ = try await reply(chat, s.id, kind: .tool, type: .toolCall, tool: ToolCallInput(callId: "", name: "notes.read"))
        }
        #expect(noCallId?.metadata["field"] == "tool_call.call_id")
        let textTool = try await expectRefusedWithoutWrites(chat, .validation) {
            _ = try await reply(chat, s.id, kind: .tool, type: .text, tool: ToolCallInput(callId: "c", name: "notes.read"))
        }
        #expect(textTool?.metadata["field"] == "message_type")

        let before = try chat.footprint()
        let mark = chat.committedEventCount
        await expectFailure(.toolNotAllowed, .permissionDenied) {
            _ = try await reply(chat, s.id, kind: .tool, type: .toolCall, tool: ToolCallInput(callId: "c9", name: "notes"))
        }
        let after = try chat.footprint()
        #expect(after["messages"] == before["messages"] && after["sessions_fp"] == before["sessions_fp"])
        #expect(after["room_events"] == before["room_events"]! + 1)
        let denied = chat.committedEvents(since: mark)
        #expect(denied.map(\.kind) == [.toolCallDenied])
        #expect(denied.first?.subjectId == s.id && denied.first?.actorProfileId == "agent:helper")
        if case .toolCallDenied(let d)? = denied.first?.entity {
            #expect(d == ToolCallDenied(sessionId: s.id, toolName: "notes", callId: "c9"))
        } else {
            Issue.record("TOOL_CALL_DENIED carries its entity")
        }
        await expectFailure(.toolNotAllowed) {
            _ = try await reply(chat, s.id, kind: .tool, type: .toolCall, tool: ToolCallInput(callId: "c9", name: "notesX"))
        }

        try await expectRefusedWithoutWrites(chat, .unknownToolCall, .failedPrecondition) {
            _ = try await reply(chat, s.id, kind: .tool, type: .toolResult, tool: ToolCallInput(callId: "c1", name: "notes.read", result: "{}"))
        }
        let call = try await reply(chat, s.id, "", kind: .tool, type: .toolCall,
                                   tool: ToolCallInput(callId: "c1", name: "notes.read", arguments: #"{"q":"x"}"#))
        #expect(call.message.role == .tool && call.message.toolCall?.arguments == #"{"q":"x"}"#)
        try await expectRefusedWithoutWrites(chat, .duplicateCallId, .alreadyExists) {
            _ = try await reply(chat, s.id, kind: .tool, type: .toolCall, tool: ToolCallInput(callId: "c1", name: "notes.read"))
        }
        try await expectRefusedWithoutWrites(chat, .unknownToolCall) {
            _ = try await reply(chat, s.id, kind: .tool, type: .toolResult, tool: ToolCallInput(callId: "c1", name: "web-search", result: "1"))
        }
        let result = try await reply(chat, s.id, "", kind: .tool, type: .toolResult,
                                     tool: ToolCallInput(callId: "c1", name: "notes.read", result: "[1,2]"))
        #expect(result.message.toolCall?.result == "[1,2]")
        try await expectRefusedWithoutWrites(chat, .toolCallAlreadyAnswered, .failedPrecondition) {
            _ = try await reply(chat, s.id, kind: .tool, type: .toolResult, tool: ToolCallInput(callId: "c1", name: "notes.read", result: "3"))
        }
        try await expectRefusedWithoutWrites(chat, .validation) {
            _ = try await reply(chat, s.id, kind: .tool, type: .toolCall, tool: ToolCallInput(callId: "c2", name: "web-search", arguments: "{bad"))
        }
        // An assistant tool_call is gated too; plain assistant text is not.
        await expectFailure(.toolNotAllowed) {
            _ = try await reply(chat, s.id, type: .toolCall, tool: ToolCallInput(callId: "c3", name: "rm-rf"))
        }
        _ = try await reply(chat, s.id, "plain text")
    }

    @Test("an empty allow-list allows no tool")
    func emptyAllowList() async throws {
        let chat = try TestChat()
        let s = try await session(chat, tools: []).session.session
        await expectFailure(.toolNotAllowed) {
            _ = try await reply(chat, s.id, kind: .tool, type: .toolCall, tool: ToolCallInput(callId: "c", name: "notes.read"))
        }
    }

    @Test("message limit N accepts exactly N messages on every path")
    func messageLimit() async throws {
        let chat = try TestChat()
        let s = try await session(chat, maxMessages: 3).session.session
        _ = try await chat.w(alice) { try $0.sendAgentUserMessage($1, $2, sessionId: s.id, content: "1") }
        _ = try await reply(chat, s.id, "2")
        _ = try await chat.w(alice) { try $0.sendMessage($1, $2, roomId: s.roomId, content: "3", agentSessionId: s.id) }
        let inactive = try await expectRefusedWithoutWrites(chat, .sessionInactive, .failedPrecondition) {
            _ = try await chat.w(alice) { try $0.sendAgentUserMessage($1, $2, sessionId: s.id, content: "4") }
        }
        #expect(inactive?.metadata["inactive_reason"] == "message_limit")
        try await expectRefusedWithoutWrites(chat, .sessionInactive) { _ = try await reply(chat, s.id, "4") }
        try await expectRefusedWithoutWrites(chat, .sessionInactive) {
            _ = try await chat.w(alice) { try $0.sendMessage($1, $2, roomId: s.roomId, content: "4", agentSessionId: s.id) }
        }
        let view = try await chat.r(alice) { try $0.getAgentSession($1, $2, sessionId: s.id) }
        #expect(view.session.messageCount == 3 && !view.isActive && view.inactiveReason == .messageLimit)
        #expect(view.session.status == .active, "reaching a limit does not flip the stored status")
        let check = try await chat.r(alice) { try $0.checkToolCall($1, $2, sessionId: s.id, toolName: "notes.read") }
        #expect(check == ToolCheck(allowed: false, matchedEntry: "notes.*", reason: .sessionInactive))
    }

    @Test("token limit: the reply that crosses it is stored, the next is refused")
    func tokenLimit() async throws {
        let chat = try TestChat()
        let s = try await session(chat, maxTokens: 100).session.session
        _ = try await reply(chat, s.id, "a", tokens: 60)
        _ = try await reply(chat, s.id, "b", tokens: 60)
        let error = try await expectRefusedWithoutWrites(chat, .sessionInactive) { _ = try await reply(chat, s.id, "c") }
        #expect(error?.metadata["inactive_reason"] == "token_limit")
        #expect(try await chat.r(alice) { try $0.getAgentSession($1, $2, sessionId: s.id) }.session.totalTokensUsed == 120)
    }

    @Test("expiry: ttl sets expires_at; past it the session is inactive; config ttl resets from now, 0 clears")
    func expiry() async throws {
        let chat = try TestChat()
        let s = try await session(chat, ttl: 30).session.session
        chat.clock.advance(seconds: 30)
        let error = try await expectRefusedWithoutWrites(chat, .sessionInactive) {
            _ = try await chat.w(alice) { try $0.sendAgentUserMessage($1, $2, sessionId: s.id, content: "late") }
        }
        #expect(error?.metadata["inactive_reason"] == "expired")
        let updated = try await chat.w(alice) { try $0.updateAgentSessionConfig($1, $2, sessionId: s.id, ttlSeconds: 10) }
        #expect(updated.isActive && updated.session.expiresAt == chat.clock.now + 10_000)
        let cleared = try await chat.w(alice) { try $0.updateAgentSessionConfig($1, $2, sessionId: s.id, ttlSeconds: 0) }
        #expect(cleared.session.expiresAt == nil)
    }

    @Test("config updates: participant only (NOT_SESSION_OWNER), supplied fields replace, SESSION_UPDATED")
    func config() async throws {
        let chat = try TestChat()
        let s = try await session(chat).session.session
        try await expectRefusedWithoutWrites(chat, .notSessionOwner, .permissionDenied) {
            _ = try await chat.w(agentKey) { try $0.updateAgentSessionConfig($1, $2, sessionId: s.id, systemPrompt: "x") }
        }
        try await expectRefusedWithoutWrites(chat, .notFound) {
            _ = try await chat.w(bob) { try $0.updateAgentSessionConfig($1, $2, sessionId: s.id, systemPrompt: "x") }
        }
        try await expectRefusedWithoutWrites(chat, .validation) {
            _ = try await chat.w(alice) { try $0.updateAgentSessionConfig($1, $2, sessionId: s.id, allowedTools: ["no*"]) }
        }
        let updated = try await chat.wc(alice) {
            try $0.updateAgentSessionConfig($1, $2, sessionId: s.id, allowedTools: [], maxMessages: 5)
        }
        #expect(updated.value.session.allowedTools == [] && updated.value.session.systemPrompt == "be brief")
        #expect(updated.value.session.maxMessages == 5 && updated.events.map(\.kind) == [.sessionUpdated])
        await expectFailure(.toolNotAllowed) {
            _ = try await reply(chat, s.id, kind: .tool, type: .toolCall, tool: ToolCallInput(callId: "c", name: "web-search"))
        }
    }

    @Test("context: merge patch and replace, versions grow by one, expected_version guards")
    func context() async throws {
        let chat = try TestChat()
        let s = try await session(chat).session.session
        let v2 = try await chat.wc(alice) {
            try $0.updateSessionContext($1, $2, sessionId: s.id, mergePatch: #"{"a":1,"b":{"c":2}}"#)
        }
        #expect(v2.value.version == 2 && v2.events.map(\.kind) == [.sessionUpdated])
        let v3 = try await chat.w(agentKey) {
            try $0.updateSessionContext($1, $2, sessionId: s.id, mergePatch: #"{"a":null,"b":{"d":3}}"#, expectedVersion: 2)
        }
        #expect(v3.context == #"{"b":{"c":2,"d":3}}"# && v3.version == 3)
        try await expectRefusedWithoutWrites(chat, .versionMismatch, .aborted) {
            _ = try await chat.w(alice) { try $0.updateSessionContext($1, $2, sessionId: s.id, replace: "{}", expectedVersion: 2) }
        }
        for (patch, replace) in [(String?.none, String?.none), ("{}", "{}"), ("[1]", nil), (nil, "3"), ("{", nil)] {
            try await expectRefusedWithoutWrites(chat, .validation, .invalidArgument) {
                _ = try await chat.w(alice) { try $0.updateSessionContext($1, $2, sessionId: s.id, mergePatch: patch, replace: replace) }
            }
        }
        let big = "{\"x\":\"\(String(repeating: "y", count: 64 * 1024))\"}"
        try await expectRefusedWithoutWrites(chat, .validation) {
            _ = try await chat.w(alice) { try $0.updateSessionContext($1, $2, sessionId: s.id, replace: big) }
        }
        let replaced = try await chat.w(alice) { try $0.updateSessionContext($1, $2, sessionId: s.id, replace: #"{"z":true}"#) }
        #expect(replaced.version == 4)
        let read = try await chat.r(agentKey) { try $0.getSessionContext($1, $2, sessionId: s.id) }
        #expect(read.context == #"{"z":true}"# && read.version == 4)
        await expectFailure(.notFound) { _ = try await chat.r(bob) { try $0.getSessionContext($1, $2, sessionId: s.id) } }
    }

    @Test("close: participant or agent key; closed sessions refuse messages; closing twice is a no-op")
    func close() async throws {
        let chat = try TestChat()
        let s = try await session(chat).session.session
        try await expectRefusedWithoutWrites(chat, .notFound) {
            _ = try await chat.w(bob) { try $0.closeAgentSession($1, $2, sessionId: s.id) }
        }
        let closed = try await chat.wc(agentKey) { try $0.closeAgentSession($1, $2, sessionId: s.id) }
        #expect(closed.value.session.status == .closed && closed.value.inactiveReason == .closed)
        #expect(closed.events.map(\.kind) == [.sessionClosed])
        let again = try await chat.wc(alice) { try $0.closeAgentSession($1, $2, sessionId: s.id) }
        #expect(again.events.isEmpty)
        let error = try await expectRefusedWithoutWrites(chat, .sessionInactive) { _ = try await reply(chat, s.id) }
        #expect(error?.metadata["inactive_reason"] == "closed")
        let fresh = try await session(chat)
        #expect(!fresh.reused)
    }

    @Test("ExpireStaleSessions: admin scope; inactive or idle sessions expire with one event each")
    func expireStale() async throws {
        let chat = try TestChat()
        let limited = try await session(chat, maxMessages: 1, agent: "a1").session.session
        _ = try await reply(chat, limited.id)
        let idle = try await session(chat, agent: "a2").session.session
        chat.clock.advance(seconds: 100)
        let fresh = try await session(chat, agent: "a3").session.session
        try await expectRefusedWithoutWrites(chat, .scopeMissing) {
            _ = try await chat.w(alice) { try $0.expireStaleSessions($1, $2, olderThanSeconds: 50) }
        }
        let count = try await chat.wc(adminKey) { try $0.expireStaleSessions($1, $2, olderThanSeconds: 50) }
        #expect(count.value == 2 && count.events.map(\.kind) == [.sessionExpired, .sessionExpired])
        #expect(count.events.allSatisfy { $0.actorProfileId == adminKey.profileId }, "a caller's run names the caller")
        let l = try await chat.r(alice) { try $0.getAgentSession($1, $2, sessionId: limited.id) }
        #expect(l.session.status == .expired && l.inactiveReason == .messageLimit)
        #expect(try await chat.r(alice) { try $0.getAgentSession($1, $2, sessionId: idle.id) }.session.status == .expired)
        #expect(try await chat.r(alice) { try $0.getAgentSession($1, $2, sessionId: fresh.id) }.isActive)
        let none = try await chat.wc(adminKey) { try $0.expireStaleSessions($1, $2, olderThanSeconds: 50) }
        #expect(none.value == 0 && none.events.isEmpty)
        chat.clock.advance(seconds: 5)
        let job = try await chat.wc(adminKey) { try $0.expireStaleSessions($1, $2, olderThanSeconds: 1, serverJob: true) }
        #expect(job.value == 1 && job.events.allSatisfy { $0.actorProfileId.isEmpty }, "the server's own run names nobody")
        _ = try await chat.w(adminKey) { try $0.expireStaleSessions($1, $2, olderThanSeconds: 1, serverJob: true) }
        // The audit trail: each call (even one that expired nothing), and the job's run that expired something;
        // not the refused call (SCOPE_MISSING before any write) nor the job's run that found nothing.
        let audit = try chat.storage.read { try $0.auditEntries(since: 0, afterId: 0, limit: 10) }
        #expect(audit.map(\.action) == [.sessionsExpire, .sessionsExpire, .sessionsExpire])
        #expect(audit.map(\.actor) == ["profile:\(adminKey.profileId)", "profile:\(adminKey.profileId)", "job"])
        #expect(audit.map(\.detail) == [#"{"expired":2,"older_than_seconds":50}"#, #"{"expired":0,"older_than_seconds":50}"#,
                                        #"{"expired":1,"older_than_seconds":1}"#])
        #expect(audit.allSatisfy { $0.tenantId == adminKey.tenantId && $0.outcome == .ok })
        #expect(audit.map(\.id) == audit.map(\.id).sorted() && Set(audit.map(\.id)).count == 3)
    }

    @Test("CheckToolCall answers allowed, TOOL_NAME_MISSING and TOOL_NOT_ALLOWED without failing")
    func checkToolCall() async throws {
        let chat = try TestChat()
        let s = try await session(chat).session.session
        let yes = try await chat.r(alice) { try $0.checkToolCall($1, $2, sessionId: s.id, toolName: "notes.read") }
        #expect(yes == ToolCheck(allowed: true, matchedEntry: "notes.*", reason: nil))
        let missing = try await chat.r(agentKey) { try $0.checkToolCall($1, $2, sessionId: s.id, toolName: "") }
        #expect(missing.reason == .toolNameMissing && !missing.allowed)
        let no = try await chat.r(alice) { try $0.checkToolCall($1, $2, sessionId: s.id, toolName: "notes") }
        #expect(no.reason == .toolNotAllowed)
        await expectFailure(.notFound) { _ = try await chat.r(bob) { try $0.checkToolCall($1, $2, sessionId: s.id, toolName: "x") } }
    }

    @Test("turn outcomes follow the state machine of SPEC §12.7")
    func turnOutcomes() async throws {
        let chat = try TestChat()
        let s = try await session(chat).session.session
        let user = try await chat.w(alice) { try $0.sendAgentUserMessage($1, $2, sessionId: s.id, content: "go") }.message
        func record(_ outcome: TurnOutcome, resumed: String? = nil, cont: String? = nil, as actor: CallActor = alice)
            async throws -> Bool {
            try await chat.w(actor) {
                try $0.recordTurnOutcome($1, $2, messageId: user.id, outcome: outcome, resumedFrom: resumed, continuationId: cont)
            }
        }
        try await expectRefusedWithoutWrites(chat, .validation) { _ = try await record(.suspended) }
        #expect(try await record(.running, resumed: "x") == false)
        #expect(try await record(.running))
        #expect(try await record(.running) == false, "running only first")
        #expect(try await record(.suspended, cont: "k1", as: agentKey))
        #expect(try await record(.completed) == false, "a suspended leg must resume first")
        #expect(try await record(.running, resumed: "other") == false)
        #expect(try await record(.running, resumed: "k1"))
        #expect(try await record(.completed, resumed: "wrong") == false)
        #expect(try await record(.completed, resumed: "k1"))
        #expect(try await record(.failed, resumed: "k1") == false, "terminal outcomes are final")
        let reply = try await reply(chat, s.id)
        await expectFailure(.notFound) {
            _ = try await chat.w(alice) { try $0.recordTurnOutcome($1, $2, messageId: reply.message.id, outcome: .running) }
        }
        let other = try await chat.w(alice) { try $0.sendAgentUserMessage($1, $2, sessionId: s.id, content: "2") }.message
        let stranger = CallActor(tenantId: tenant, profileId: "bob")
        await expectFailure(.notFound) {
            _ = try await chat.w(stranger) { try $0.recordTurnOutcome($1, $2, messageId: other.id, outcome: .running) }
        }
        #expect(try await chat.w(alice) { try $0.recordTurnOutcome($1, $2, messageId: other.id, outcome: .completed) })
    }

    @Test("racing identical transitions: exactly one applies")
    func racingTransitions() async throws {
        let chat = try TestChat()
        let s = try await session(chat).session.session
        let user = try await chat.w(alice) { try $0.sendAgentUserMessage($1, $2, sessionId: s.id, content: "go") }.message
        let applied = try await withThrowingTaskGroup(of: Bool.self) { group in
            for _ in 0..<16 {
                group.addTask { try await chat.w(alice) { try $0.recordTurnOutcome($1, $2, messageId: user.id, outcome: .running) } }
            }
            return try await group.reduce(0) { $0 + ($1 ? 1 : 0) }
        }
        #expect(applied == 1)
    }
}
