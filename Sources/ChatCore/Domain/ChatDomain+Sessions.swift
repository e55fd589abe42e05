/// A created or reused agent session and its room.
public struct SessionCreation: Sendable, Equatable {
    public var session: SessionView
    public var room: Room
    public var reused: Bool
}

/// The answer of CheckToolCall.
public struct ToolCheck: Sendable, Equatable {
    public var allowed: Bool
    public var matchedEntry: String?
    /// TOOL_NOT_ALLOWED, TOOL_NAME_MISSING or SESSION_INACTIVE when not allowed.
    public var reason: ErrorReason?
    /// Whether a call of the tool waits for the participant's approval (SPEC §13.2).
    public var requiresApproval = false
}

/// The tool data of an agent reply.
public struct ToolCallInput: Sendable, Equatable {
    public var callId: String
    public var name: String
    public var arguments: String?
    public var result: String?
    public var isError: Bool

    public init(callId: String, name: String, arguments: String? = nil, result: String? = nil, isError: Bool = false) {
        self.callId = callId
        self.name = name
        self.arguments = arguments
        self.result = result
        self.isError = isError
    }
}

/// Agent sessions and the tool gate (SPEC §5, §12.6, §12.7).
extension ChatDomain {
    /// Creates an agent session with its `agent` room, or returns the caller's active session with the
    /// same (agent, session key) untouched (`reused`).
    public func createAgentSession(
        _ tx: any ChatTransaction, _ actor: CallActor, agentId: String, agentProfileId: String? = nil,
        allowedTools: [String] = [], systemPrompt: String? = nil, maxTokens: Int64 = 0, maxMessages: Int64 = 0,
        ttlSeconds: Int64 = 0, sessionKey: String? = nil, approvalTools: [String] = [], busyPolicy: BusyPolicy = .enqueue
    ) throws -> SessionCreation {
        try Validate.identifier(agentId, "agent_id")
        let givenProfile = (agentProfileId?.isEmpty ?? true) ? nil : agentProfileId
        if let givenProfile { try Validate.identifier(givenProfile, "agent_profile_id") }
        let tools = try ToolAllowList(validating: allowedTools, limits: limits)
        let approvals = try ToolAllowList(validating: approvalTools, limits: limits, field: "approval_tools")
        try Validate.text(systemPrompt ?? "", "system_prompt", max: limits.maxSystemPromptBytes)
        guard maxTokens >= 0 else { throw ChatError.validation("max_tokens", "must not be negative") }
        guard maxMessages >= 0 else { throw ChatError.validation("max_messages", "must not be negative") }
        try Validate.duration(ttlSeconds, "ttl_seconds", limits: limits)
        let key = (sessionKey?.isEmpty ?? true) ? nil : sessionKey
        if let key { try Validate.text(key, "session_key", max: 128) }
        let agentProfile = givenProfile ?? Identifiers.derivedAgentProfileId(agentId: agentId)
        guard agentProfile != actor.profileId else {
            throw ChatError(.invalidArgument, .agentProfileInvalid, "the agent profile must not be the actor",
                            metadata: ["field": "agent_profile_id"])
        }

        let tenant = actor.tenantId
        let now = clock()
        if let existing = try tx.activeSession(tenantId: tenant, agentId: agentId,
                                               participantProfileId: actor.profileId, sessionKey: key) {
            if existing.isActive(at: now), let room = try tx.room(tenantId: tenant, id: existing.roomId) {
                return SessionCreation(session: SessionView(existing, now: now), room: room, reused: true)
            }
            try expire(tx, existing, now: now, actor: actor.profileId)
        }

        let room = Room(id: Identifiers.newUUID(), tenantId: tenant, name: agentId, roomType: .agent,
                        maxParticipants: 2, createdByProfileId: actor.profileId, createdAt: now, updatedAt: now)
        _ = try tx.insertRoomIfAbsent(room)
        let owner = Participant(tenantId: tenant, roomId: room.id, profileId: actor.profileId, role: .owner, joinedAt: now)
        let agent = Participant(tenantId: tenant, roomId: room.id, profileId: agentProfile, role: .member, joinedAt: now)
        try tx.upsertParticipant(owner)
        try tx.upsertParticipant(agent)
        let session = AgentSession(
            id: Identifiers.newUUID(), tenantId: tenant, agentId: agentId, agentProfileId: agentProfile,
            participantProfileId: actor.profileId, roomId: room.id, allowedTools: tools.entries,
            systemPrompt: systemPrompt ?? "", sessionKey: key, maxTokens: maxTokens, maxMessages: maxMessages,
            expiresAt: ttlSeconds > 0 ? now + ttlSeconds * 1000 : nil, createdAt: now, approvalTools: approvals.entries,
            busyPolicy: busyPolicy)
        try tx.insertSession(session)
        try emit(tx, .roomCreated, tenantId: tenant, roomId: room.id, actor: actor.profileId, subject: room.id,
                 at: now, entity: .room(room))
        try emit(tx, .participantJoined, tenantId: tenant, roomId: room.id, actor: actor.profileId,
                 subject: owner.profileId, at: now, entity: .participant(owner))
        try emit(tx, .participantJoined, tenantId: tenant, roomId: room.id, actor: actor.profileId,
                 subject: agent.profileId, at: now, entity: .participant(agent))
        try emit(tx, .sessionCreated, tenantId: tenant, roomId: room.id, actor: actor.profileId, subject: session.id,
                 at: now, entity: .session(session.eventCopy))
        let stored = try tx.room(tenantId: tenant, id: room.id) ?? room
        return SessionCreation(session: SessionView(session, now: now), room: stored, reused: false)
    }

    /// Sets a status-`active` session to `expired` with its reason and appends SESSION_EXPIRED.
    func expire(_ tx: any ChatTransaction, _ session: AgentSession, now: Int64, actor: String) throws {
        var s = session
        s.status = .expired
        s.storedInactiveReason = session.inactiveReason(at: now) ?? .expired
        try tx.updateSession(s)
        try emit(tx, .sessionExpired, tenantId: s.tenantId, roomId: s.roomId, actor: actor, subject: s.id, at: now,
                 entity: .session(s.eventCopy))
    }

    /// A session visible to the actor: its participant, or any `agent` key of the tenant.
    func visibleSession(_ tx: any ChatTransaction, _ actor: CallActor, _ sessionId: String) throws -> AgentSession {
        try Validate.reference(sessionId, "session_id")
        guard let session = try tx.session(tenantId: actor.tenantId, id: sessionId),
              session.participantProfileId == actor.profileId || actor.has(.agent) else {
            throw ChatError.notFound("session")
        }
        return session
    }

    /// A session for a participant-only operation: NOT_FOUND if invisible, `reason` when an `agent` key
    /// calls as a profile that is not the participant.
    func participantSession(
        _ tx: any ChatTransaction, _ actor: CallActor, _ sessionId: String, reason: ErrorReason
    ) throws -> AgentSession {
        let session = try visibleSession(tx, actor, sessionId)
        guard session.participantProfileId == actor.profileId else {
            throw ChatError.denied(reason, "only the session's participant may do this")
        }
        return session
    }

    /// A session with its derived activity.
    public func getAgentSession(_ tx: any ChatTransaction, _ actor: CallActor, sessionId: String) throws -> SessionView {
        try actor.require(.chat, .agent)
        return SessionView(try visibleSession(tx, actor, sessionId), now: clock())
    }

    /// The actor's own sessions, newest first.
    public func listAgentSessions(
        _ tx: any ChatTransaction, _ actor: CallActor, agentId: String? = nil, activeOnly: Bool = false,
        cursor: String? = nil, limit: Int = 0
    ) throws -> Page<SessionView> {
        let agentId = (agentId?.isEmpty ?? true) ? nil : agentId
        if let agentId { try Validate.identifier(agentId, "agent_id") }
        let limit = try Validate.pageSize(limit, limits: limits)
        let scope = "\(actor.tenantId)/sessions:\(actor.profileId)"
        let after = try activityCursor(cursor, scope: scope)
        let now = clock()
        var rows: [AgentSession] = []
        var position = after
        var more = true
        // Derived inactivity is filtered here, so keep reading until the page is full.
        while rows.count <= limit && more {
            let batch = try tx.sessions(tenantId: actor.tenantId, participantProfileId: actor.profileId,
                                        agentId: agentId, statusActiveOnly: activeOnly, after: position,
                                        limit: limit + 1)
            more = batch.count == limit + 1
            if let last = batch.last { position = (last.createdAt, last.id) }
            rows += activeOnly ? batch.filter { $0.isActive(at: now) } : batch
        }
        let p = page(rows, limit: limit, scope: scope) { ($0.createdAt, $0.id) }
        return Page(items: p.items.map { SessionView($0, now: now) }, nextCursor: p.nextCursor, hasMore: p.hasMore)
    }

    /// The session's participant writes a `user` message into the session room.
    public func sendAgentUserMessage(
        _ tx: any ChatTransaction, _ actor: CallActor, sessionId: String, content: String,
        clientRequestId: String? = nil, attachments: [Attachment] = [], metadata: String? = nil
    ) throws -> SendResult {
        let draft = try validateDraft(content: content, attachments: attachments, metadata: metadata, threadId: nil,
                                      replyToMessageId: nil, clientRequestId: clientRequestId)
        let session = try participantSession(tx, actor, sessionId, reason: .notSessionParticipant)
        let (room, me) = try memberRoom(tx, actor, session.roomId)
        try requireWriter(me)
        try requireNotArchived(room)
        return try writeUserMessage(tx, room: room, draft: draft, sender: actor.profileId, type: .text, session: session)
    }

    /// The agent (an `agent` key) writes a reply as the session's agent profile; tool messages pass the
    /// fail-closed tool gate, whose refusal commits only a TOOL_CALL_DENIED audit event (SPEC §12.5).
    public func sendAgentReply(
        _ tx: any ChatTransaction, _ actor: CallActor, sessionId: String, content: String,
        kind: AgentReplyKind = .assistant, messageType: MessageType? = nil, toolCall: ToolCallInput? = nil,
        threadId: String? = nil, replyToMessageId: String? = nil, tokensUsed: Int64 = 0,
        clientRequestId: String? = nil, metadata: String? = nil
    ) throws -> Committing<SendResult> {
        try actor.require(.agent)
        let type = messageType ?? (kind == .tool ? .toolCall : .text)
        if kind == .tool && type != .toolCall && type != .toolResult {
            throw ChatError.validation("message_type", "tool replies must be tool_call or tool_result")
        }
        guard type != .system else { throw ChatError.validation("message_type", "agents may not send system messages") }
        let gated = kind == .tool || type == .toolCall || type == .toolResult
        guard tokensUsed >= 0 else { throw ChatError.validation("tokens_used", "must not be negative") }
        guard tokensUsed <= limits.maxTokensPerReply else {
            throw ChatError.validation("tokens_used", "must be at most \(limits.maxTokensPerReply)")
        }
        let draft = try validateDraft(content: content, attachments: [], metadata: metadata, threadId: threadId,
                                      replyToMessageId: replyToMessageId, clientRequestId: clientRequestId,
                                      contentRequired: !gated)
        var data: ToolCallData?
        if gated {
            guard let toolCall, !toolCall.name.isEmpty else {
                throw ChatError(.invalidArgument, .toolNameMissing, "tool messages must name their tool",
                                metadata: ["field": "tool_call.name"])
            }
            guard !toolCall.callId.isEmpty else { throw ChatError.validation("tool_call.call_id", "is required") }
            try Validate.text(toolCall.callId, "tool_call.call_id", max: 128)
            try Validate.text(toolCall.name, "tool_call.name", max: limits.maxToolNameBytes)
            let arguments = try Validate.json(toolCall.arguments, "tool_call.arguments", max: limits.maxToolPayloadBytes)
            let result = try Validate.json(toolCall.result, "tool_call.result", max: limits.maxToolPayloadBytes)
            data = ToolCallData(callId: toolCall.callId, name: toolCall.name,
                                arguments: type == .toolCall ? arguments : nil,
                                result: type == .toolResult ? result : nil,
                                isError: type == .toolResult && toolCall.isError)
        }

        let session = try visibleSession(tx, actor, sessionId)
        guard let room = try tx.room(tenantId: actor.tenantId, id: session.roomId), room.status != .deleted else {
            throw ChatError.notFound("session")
        }
        let now = clock()
        if let data, ToolAllowList(trusted: session.allowedTools).match(data.name) == nil {
            try emit(tx, .toolCallDenied, tenantId: room.tenantId, roomId: room.id, actor: session.agentProfileId,
                     subject: session.id, at: now,
                     entity: .toolCallDenied(ToolCallDenied(sessionId: session.id, toolName: data.name,
                                                            callId: data.callId)))
            return .refused(ChatError(.permissionDenied, .toolNotAllowed,
                                      "tool '\(data.name)' is not allowed in this session", metadata: ["tool": data.name]))
        }
        try requireNotArchived(room)
        let needsApproval = data.map { type == .toolCall && ToolAllowList(trusted: session.approvalTools).match($0.name) != nil }
            ?? false
        let sent = try writeMessage(
            tx, room: room, draft: draft, sender: session.agentProfileId, role: kind == .tool ? .tool : .assistant,
            type: type, session: session, toolCall: data, tokensUsed: tokensUsed,
            beforeIdempotency: {
                guard let data, type == .toolResult else { return }
                guard let call = try tx.toolCall(tenantId: session.tenantId, sessionId: session.id, callId: data.callId),
                      call.toolName == data.name else {
                    throw ChatError.precondition(.unknownToolCall, "no open tool call '\(data.callId)' of tool '\(data.name)'")
                }
                switch effectiveApproval(call, now: now) {
                case .approved? where call.claimedAt == nil:
                    throw ChatError.precondition(.toolCallNotClaimed, "tool call '\(data.callId)' must be claimed first")
                case let state? where state != .approved:
                    throw ChatError.precondition(.toolCallNotApproved, "tool call '\(data.callId)' is \(state.rawValue), not approved")
                default: break
                }
                if call.resultMessageId != nil {
                    throw ChatError.precondition(.toolCallAlreadyAnswered, "tool call '\(data.callId)' was already answered")
                }
            },
            afterIdempotency: {
                guard let data, type == .toolCall else { return }
                if try tx.toolCall(tenantId: session.tenantId, sessionId: session.id, callId: data.callId) != nil {
                    throw ChatError(.alreadyExists, .duplicateCallId,
                                    "call id '\(data.callId)' is already used in this session",
                                    metadata: ["call_id": data.callId])
                }
            },
            afterInsert: { messageId in
                guard let data else { return }
                if type == .toolCall {
                    try tx.insertToolCall(ToolCallRecord(tenantId: session.tenantId, sessionId: session.id,
                                                         callId: data.callId, toolName: data.name,
                                                         callMessageId: messageId,
                                                         approvalState: needsApproval ? .pending : nil, requestedAt: now))
                } else {
                    try tx.setToolCallResult(tenantId: session.tenantId, sessionId: session.id, callId: data.callId,
                                             resultMessageId: messageId)
                }
            })
        if needsApproval, !sent.replayed, let data,
           let call = try tx.toolCall(tenantId: session.tenantId, sessionId: session.id, callId: data.callId) {
            try emit(tx, .toolApprovalRequested, tenantId: room.tenantId, roomId: room.id, actor: session.agentProfileId,
                     subject: data.callId, at: now, entity: .toolCallApproval(call.approval))
        }
        return .value(sent)
    }

    /// Whether the session's allow-list lets the application run `toolName` now.
    public func checkToolCall(
        _ tx: any ChatTransaction, _ actor: CallActor, sessionId: String, toolName: String
    ) throws -> ToolCheck {
        try actor.require(.chat, .agent)
        try Validate.text(toolName, "tool_name", max: limits.maxToolNameBytes)
        let session = try visibleSession(tx, actor, sessionId)
        guard !toolName.isEmpty else { return ToolCheck(allowed: false, matchedEntry: nil, reason: .toolNameMissing) }
        guard let entry = ToolAllowList(trusted: session.allowedTools).match(toolName) else {
            return ToolCheck(allowed: false, matchedEntry: nil, reason: .toolNotAllowed)
        }
        if !session.isActive(at: clock()) {
            return ToolCheck(allowed: false, matchedEntry: entry, reason: .sessionInactive)
        }
        return ToolCheck(allowed: true, matchedEntry: entry, reason: nil,
                         requiresApproval: ToolAllowList(trusted: session.approvalTools).match(toolName) != nil)
    }

    /// Replaces the supplied configuration fields (the participant only). A ttl sets expires_at = now + ttl
    /// (0 clears it). Closed or expired sessions cannot be reconfigured (SESSION_INACTIVE).
    public func updateAgentSessionConfig(
        _ tx: any ChatTransaction, _ actor: CallActor, sessionId: String, allowedTools: [String]? = nil,
        systemPrompt: String? = nil, maxTokens: Int64? = nil, maxMessages: Int64? = nil, ttlSeconds: Int64? = nil,
        approvalTools: [String]? = nil, busyPolicy: BusyPolicy? = nil
    ) throws -> SessionView {
        let tools = try allowedTools.map { try ToolAllowList(validating: $0, limits: limits) }
        let approvals = try approvalTools.map { try ToolAllowList(validating: $0, limits: limits, field: "approval_tools") }
        if let systemPrompt { try Validate.text(systemPrompt, "system_prompt", max: limits.maxSystemPromptBytes) }
        if let maxTokens, maxTokens < 0 { throw ChatError.validation("max_tokens", "must not be negative") }
        if let maxMessages, maxMessages < 0 { throw ChatError.validation("max_messages", "must not be negative") }
        if let ttlSeconds { try Validate.duration(ttlSeconds, "ttl_seconds", limits: limits) }
        var session = try participantSession(tx, actor, sessionId, reason: .notSessionOwner)
        try requireStatusActive(session)
        let before = session
        let now = clock()
        if let tools { session.allowedTools = tools.entries }
        if let systemPrompt { session.systemPrompt = systemPrompt }
        if let maxTokens { session.maxTokens = maxTokens }
        if let maxMessages { session.maxMessages = maxMessages }
        if let ttlSeconds { session.expiresAt = ttlSeconds > 0 ? now + ttlSeconds * 1000 : nil }
        if let approvals { session.approvalTools = approvals.entries }
        if let busyPolicy { session.busyPolicy = busyPolicy }
        guard session != before else { return SessionView(session, now: now) }
        try tx.updateSession(session)
        try emit(tx, .sessionUpdated, tenantId: session.tenantId, roomId: session.roomId, actor: actor.profileId,
                 subject: session.id, at: now, entity: .session(session.eventCopy))
        return SessionView(session, now: now)
    }

    private func requireStatusActive(_ session: AgentSession) throws {
        guard session.status == .active else {
            let reason = session.inactiveReason(at: clock()) ?? .closed
            throw ChatError.precondition(.sessionInactive, "the agent session is \(session.status.rawValue)",
                                         metadata: ["inactive_reason": reason.rawValue])
        }
    }

    /// The session's context and its version.
    public func getSessionContext(
        _ tx: any ChatTransaction, _ actor: CallActor, sessionId: String
    ) throws -> (context: String, version: Int64) {
        try actor.require(.chat, .agent)
        let session = try visibleSession(tx, actor, sessionId)
        return (session.sessionContext, session.contextVersion)
    }

    /// Applies exactly one of a merge patch (RFC 7396) or a replacement to the context, optionally only if
    /// the version still matches (ABORTED VERSION_MISMATCH). The version grows by 1 per applied update.
    public func updateSessionContext(
        _ tx: any ChatTransaction, _ actor: CallActor, sessionId: String, mergePatch: String? = nil,
        replace: String? = nil, expectedVersion: Int64? = nil
    ) throws -> (context: String, version: Int64) {
        try actor.require(.chat, .agent)
        guard (mergePatch == nil) != (replace == nil) else {
            throw ChatError.validation("merge_patch", "give exactly one of merge_patch or replace")
        }
        let field = mergePatch != nil ? "merge_patch" : "replace"
        let text = mergePatch ?? replace ?? ""
        guard text.utf8.count <= limits.maxContextBytes else {
            throw ChatError.validation(field, "is larger than \(limits.maxContextBytes) bytes")
        }
        let value = try JSONValue.parse(text, field: field)
        guard case .object = value else { throw ChatError.validation(field, "must be a JSON object") }
        var session = try visibleSession(tx, actor, sessionId)
        try requireStatusActive(session)
        if let expectedVersion, expectedVersion != session.contextVersion {
            throw ChatError(.aborted, .versionMismatch,
                            "context version is \(session.contextVersion), not \(expectedVersion)",
                            metadata: ["current_version": String(session.contextVersion)])
        }
        let merged = mergePatch != nil
            ? try JSONValue.parse(session.sessionContext, field: "session_context").merging(patch: value).text
            : value.text
        guard merged.utf8.count <= limits.maxContextBytes else {
            throw ChatError.validation(field, "the resulting context is larger than \(limits.maxContextBytes) bytes")
        }
        let now = clock()
        session.sessionContext = merged
        session.contextVersion += 1
        try tx.updateSession(session)
        try emit(tx, .sessionUpdated, tenantId: session.tenantId, roomId: session.roomId, actor: actor.profileId,
                 subject: session.id, at: now, entity: .session(session.eventCopy))
        return (merged, session.contextVersion)
    }

    /// Closes a session (participant or `agent` key). Closing a closed or expired session changes nothing.
    public func closeAgentSession(_ tx: any ChatTransaction, _ actor: CallActor, sessionId: String) throws -> SessionView {
        try actor.require(.chat, .agent)
        let session = try visibleSession(tx, actor, sessionId)
        let now = clock()
        guard session.status == .active else { return SessionView(session, now: now) }
        return SessionView(try close(tx, session, now: now, actor: actor.profileId), now: now)
    }

    /// Sets a status-`active` session `closed` and appends SESSION_CLOSED.
    func close(_ tx: any ChatTransaction, _ session: AgentSession, now: Int64, actor: String) throws -> AgentSession {
        var session = session
        session.status = .closed
        session.closedAt = now
        session.storedInactiveReason = .closed
        try tx.updateSession(session)
        try emit(tx, .sessionClosed, tenantId: session.tenantId, roomId: session.roomId, actor: actor,
                 subject: session.id, at: now, entity: .session(session.eventCopy))
        return session
    }

    /// Expires every status-`active` session of the tenant that is no longer active, or whose last
    /// activity is older than `olderThanSeconds` (0: no age criterion); returns the count.
    ///
    /// - Parameter serverJob: the server's own periodic run: its SESSION_EXPIRED events name no actor (SPEC
    ///   §12.8); a caller's run names the caller.
    public func expireStaleSessions(
        _ tx: any ChatTransaction, _ actor: CallActor, olderThanSeconds: Int64, agentId: String? = nil,
        serverJob: Bool = false
    ) throws -> Int {
        try actor.require(.admin)
        try Validate.duration(olderThanSeconds, "older_than_seconds", limits: limits)
        let agentId = (agentId?.isEmpty ?? true) ? nil : agentId
        if let agentId { try Validate.identifier(agentId, "agent_id") }
        let now = clock()
        var count = 0
        for session in try tx.statusActiveSessions(tenantId: actor.tenantId, agentId: agentId) {
            let idle = olderThanSeconds > 0 && (session.lastMessageAt ?? session.createdAt) < now - olderThanSeconds * 1000
            if !session.isActive(at: now) || idle {
                try expire(tx, session, now: now, actor: serverJob ? "" : actor.profileId)
                count += 1
            }
        }
        // Audited: every call, and a server job run that expired something.
        if !serverJob || count > 0 {
            try tx.appendAudit(AuditEntry(at: now, actor: serverJob ? "job" : actor.auditName, action: .sessionsExpire,
                                          tenantId: actor.tenantId, subject: agentId,
                                          detail: AuditEntry.detail(["expired": count, "older_than_seconds": olderThanSeconds])))
        }
        return count
    }

    /// Records the outcome of the agent turn a user message started (SPEC §12.7); returns whether it applied.
    public func recordTurnOutcome(
        _ tx: any ChatTransaction, _ actor: CallActor, messageId: String, outcome: TurnOutcome,
        resumedFrom: String? = nil, continuationId: String? = nil
    ) throws -> Bool {
        try actor.require(.chat, .agent)
        try Validate.reference(messageId, "message_id")
        let resumedFrom = (resumedFrom?.isEmpty ?? true) ? nil : resumedFrom
        let continuationId = (continuationId?.isEmpty ?? true) ? nil : continuationId
        if let resumedFrom { try Validate.text(resumedFrom, "resumed_from", max: 128) }
        if let continuationId { try Validate.text(continuationId, "continuation_id", max: 128) }
        if outcome == .suspended && continuationId == nil {
            throw ChatError.validation("continuation_id", "is required for a suspended outcome")
        }
        guard let message = try tx.message(tenantId: actor.tenantId, id: messageId), message.role == .user,
              message.agentSessionId != nil,
              message.senderProfileId == actor.profileId || actor.has(.agent),
              let room = try tx.room(tenantId: actor.tenantId, id: message.roomId), room.status != .deleted else {
            throw ChatError.notFound("message")
        }
        let state = try tx.turnState(tenantId: actor.tenantId, messageId: messageId)
        let current = state?.outcome
        let recorded = state?.continuationId
        let applies: Bool
        if let current, current.isTerminal {
            applies = false
        } else if outcome == .running {
            applies = resumedFrom == nil ? current == nil : (current == .suspended && recorded == resumedFrom)
        } else {
            switch current {
            case .running?: applies = recorded == resumedFrom
            case nil: applies = resumedFrom == nil
            default: applies = false
            }
        }
        guard applies else { return false }
        try tx.upsertTurnState(TurnState(tenantId: actor.tenantId, messageId: messageId, outcome: outcome,
                                         continuationId: outcome == .suspended ? continuationId : resumedFrom,
                                         settledAt: clock()))
        return true
    }
}
