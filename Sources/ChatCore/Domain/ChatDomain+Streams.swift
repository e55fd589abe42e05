/// The answer of AppendReplyDelta: the stored delta and the reply's delta count after it.
public struct DeltaAppend: Sendable, Equatable {
    public var delta: ReplyDelta
    public var deltaCount: Int64
}

/// A page of a reply's stored deltas, with the reply's state when read.
public struct DeltaPage: Sendable, Equatable {
    public var deltas: [ReplyDelta]
    public var hasMore: Bool
    public var state: StreamState
    public var deltaCount: Int64
}

/// What one run of the stream and approval job did.
public struct StreamJobReport: Sendable, Equatable {
    public var interrupted = 0
    public var stopped = 0
    public var approvalsExpired = 0
    public var deltasDropped = 0

    public init() {}
}

/// Streamed agent replies and tool approvals (SPEC §13).
extension ChatDomain {
    // MARK: Streamed replies (§13.1)

    /// Starts a streamed `assistant` reply of the session's agent profile: STREAMING, empty, counted once
    /// towards max_messages. A client request id works as in SendMessage, the agent profile as the sender.
    public func beginAgentReply(
        _ tx: any ChatTransaction, _ actor: CallActor, sessionId: String, threadId: String? = nil,
        replyToMessageId: String? = nil, clientRequestId: String? = nil
    ) throws -> SendResult {
        try actor.require(.agent)
        let draft = try validateDraft(content: "", attachments: [], metadata: nil, threadId: threadId,
                                      replyToMessageId: replyToMessageId, clientRequestId: clientRequestId,
                                      contentRequired: false)
        let session = try visibleSession(tx, actor, sessionId)
        guard let room = try tx.room(tenantId: actor.tenantId, id: session.roomId), room.status != .deleted else {
            throw ChatError.notFound("session")
        }
        try requireNotArchived(room)
        return try writeMessage(tx, room: room, draft: draft, sender: session.agentProfileId, role: .assistant,
                                type: .text, session: session, toolCall: nil, tokensUsed: 0,
                                stream: ReplyStream(state: .streaming))
    }

    /// Appends delta `index` to a streaming reply and publishes it on the reply's stream topic. A stored
    /// index with the same text is answered again (a retry); state checks come before index checks.
    public func appendReplyDelta(
        _ tx: any ChatTransaction, _ actor: CallActor, messageId: String, index: Int64, text: String
    ) throws -> DeltaAppend {
        try actor.require(.agent)
        try Validate.reference(messageId, "message_id")
        guard index >= 0 else { throw ChatError.validation("index", "must not be negative") }
        guard !text.isEmpty else { throw ChatError.validation("text", "is required (at least 1 byte)") }
        try Validate.text(text, "text", max: limits.maxDeltaBytes)
        let (row, _) = try agentReply(tx, actor, messageId)
        let stream = try requireStreamed(row)
        try requireAppendable(stream)
        let last = try tx.lastReplyDelta(tenantId: row.tenantId, roomId: row.roomId, messageId: row.id)
        let count = (last?.index ?? -1) + 1
        if index < count {
            guard let stored = try tx.replyDelta(tenantId: row.tenantId, roomId: row.roomId, messageId: row.id,
                                                 index: index), stored.text == text else {
                throw ChatError(.aborted, .deltaConflict, "delta \(index) was stored with other text",
                                metadata: ["index": String(index)])
            }
            return DeltaAppend(delta: stored, deltaCount: count)
        }
        guard index == count else {
            throw ChatError.precondition(.deltaOutOfOrder, "the next delta index is \(count), not \(index)",
                                         metadata: ["expected_index": String(count)])
        }
        let length = (last?.contentLength ?? 0) + Int64(text.utf8.count)
        guard length <= Int64(limits.maxContentBytes) else {
            throw ChatError.validation("text", "the reply's content would pass \(limits.maxContentBytes) bytes")
        }
        let delta = ReplyDelta(tenantId: row.tenantId, roomId: row.roomId, messageId: row.id, index: index, text: text,
                               contentLength: length, createdAt: clock())
        try tx.insertReplyDelta(delta)
        tx.publish(delta)
        return DeltaAppend(delta: delta, deltaCount: count + 1)
    }

    /// Finishes a streaming reply as `completed` or `failed` (`stopped` when a stop was requested), writing its
    /// content once and adding its tokens to the session. Finishing again with the stored status is a no-op.
    public func finishAgentReply(
        _ tx: any ChatTransaction, _ actor: CallActor, messageId: String, status: StreamState, tokensUsed: Int64 = 0
    ) throws -> Message {
        try actor.require(.agent)
        try Validate.reference(messageId, "message_id")
        guard status == .completed || status == .failed else {
            throw ChatError.validation("status", "must be COMPLETED or FAILED")
        }
        guard tokensUsed >= 0 else { throw ChatError.validation("tokens_used", "must not be negative") }
        guard tokensUsed <= limits.maxTokensPerReply else {
            throw ChatError.validation("tokens_used", "must be at most \(limits.maxTokensPerReply)")
        }
        let (row, session) = try agentReply(tx, actor, messageId)
        let stream = try requireStreamed(row)
        if !stream.isStreaming {
            if stream.state == status || (stream.state == .stopped && stream.stopRequestedAt != nil) { return row }
            throw ChatError.precondition(.replyFinished, "the reply already finished as \(stream.state.rawValue)")
        }
        if session.totalTokensUsed.addingReportingOverflow(tokensUsed).overflow {
            throw ChatError.validation("tokens_used", "would overflow the session's total")
        }
        let now = clock()
        let finished = try finish(tx, row, as: stream.stopRequestedAt != nil ? .stopped : status, now: now,
                                  actor: session.agentProfileId)
        if tokensUsed > 0 {
            var s = session
            s.totalTokensUsed += tokensUsed
            try tx.updateSession(s)
        }
        return finished
    }

    /// The session's participant asks a streaming reply to stop. On a finished reply, or a second time, a no-op.
    public func stopReply(_ tx: any ChatTransaction, _ actor: CallActor, messageId: String) throws -> Message {
        try actor.require(.chat)
        try Validate.reference(messageId, "message_id")
        let (message, _, _) = try visibleMessage(tx, actor, messageId)
        guard let sessionId = message.agentSessionId, let session = try tx.session(tenantId: actor.tenantId, id: sessionId)
        else { throw ChatError.precondition(.notStreamed, "the message is not a streamed reply") }
        guard session.participantProfileId == actor.profileId else {
            throw ChatError.denied(.notSessionParticipant, "only the session's participant may stop its replies")
        }
        let stream = try requireStreamed(message)
        guard stream.isStreaming, stream.stopRequestedAt == nil else { return message }
        return try requestStop(tx, message, now: clock(), actor: actor.profileId)
    }

    /// Stored deltas of a streamed reply from `fromIndex` on, in index order. Members of its room (`chat`),
    /// `events` and `agent` keys. Deltas dropped after the reply finished: OUT_OF_RANGE RESYNC_REQUIRED.
    public func listReplyDeltas(
        _ tx: any ChatTransaction, _ actor: CallActor, messageId: String, fromIndex: Int64 = 0, limit: Int = 0
    ) throws -> DeltaPage {
        try actor.require(.chat, .events, .agent)
        try Validate.reference(messageId, "message_id")
        guard fromIndex >= 0 else { throw ChatError.validation("from_index", "must not be negative") }
        let pageSize = limit == 0 ? Self.defaultDeltaPage : limit
        guard pageSize > 0, pageSize <= Self.maxDeltaPage else {
            throw ChatError.validation("limit", "must be between 1 and \(Self.maxDeltaPage)")
        }
        let row: Message
        if actor.has(.events) || actor.has(.agent) {
            guard let m = try tx.messageRow(tenantId: actor.tenantId, id: messageId),
                  let room = try tx.room(tenantId: actor.tenantId, id: m.roomId), room.status != .deleted else {
                throw ChatError.notFound("message")
            }
            row = m
        } else {
            _ = try memberMessage(tx, actor, messageId)
            guard let m = try tx.messageRow(tenantId: actor.tenantId, id: messageId) else { throw ChatError.notFound("message") }
            row = m
        }
        let stream = try requireStreamed(row)
        let rows = try tx.replyDeltas(tenantId: row.tenantId, roomId: row.roomId, messageId: row.id, fromIndex: fromIndex,
                                      limit: pageSize + 1)
        var count = stream.deltaCount
        if stream.isStreaming {
            count = rows.count > pageSize || rows.isEmpty
                ? (try tx.lastReplyDelta(tenantId: row.tenantId, roomId: row.roomId, messageId: row.id)?.index ?? -1) + 1
                : rows[rows.count - 1].index + 1
        } else if rows.isEmpty && fromIndex < count {
            throw ChatError(.outOfRange, .resyncRequired,
                            "the reply's deltas are no longer kept: read its content with GetMessage",
                            metadata: ["delta_count": String(count)])
        }
        let fit = limits.fitting(rows, limit: pageSize)
        return DeltaPage(deltas: Array(rows.prefix(fit)), hasMore: rows.count > fit, state: stream.state, deltaCount: count)
    }

    static let defaultDeltaPage = 500
    static let maxDeltaPage = 2000

    /// A message of an agent session as an `agent` key sees it, with its session (NOT_FOUND otherwise).
    private func agentReply(_ tx: any ChatTransaction, _ actor: CallActor, _ messageId: String) throws
        -> (Message, AgentSession) {
        guard let row = try tx.messageRow(tenantId: actor.tenantId, id: messageId), let sessionId = row.agentSessionId,
              let session = try tx.session(tenantId: actor.tenantId, id: sessionId),
              session.agentProfileId == row.senderProfileId,
              let room = try tx.room(tenantId: actor.tenantId, id: row.roomId), room.status != .deleted else {
            throw ChatError.notFound("message")
        }
        return (row, session)
    }

    private func requireStreamed(_ message: Message) throws -> ReplyStream {
        guard let stream = message.stream else {
            throw ChatError.precondition(.notStreamed, "the message is not a streamed reply")
        }
        return stream
    }

    private func requireAppendable(_ stream: ReplyStream) throws {
        guard stream.isStreaming else {
            throw ChatError.precondition(.replyFinished, "the reply finished as \(stream.state.rawValue)")
        }
        if stream.stopRequestedAt != nil { throw ChatError.precondition(.replyStopped, "a stop was requested for the reply") }
    }

    /// Records a stop request on a streaming reply and appends REPLY_STOP_REQUESTED; returns the message.
    func requestStop(_ tx: any ChatTransaction, _ message: Message, now: Int64, actor: String) throws -> Message {
        guard var row = try tx.messageRow(tenantId: message.tenantId, id: message.id) else { return message }
        row.stream?.stopRequestedAt = now
        try tx.updateMessageStream(row)
        guard let current = try tx.message(tenantId: message.tenantId, id: message.id) else { return message }
        try emit(tx, .replyStopRequested, tenantId: current.tenantId, roomId: current.roomId, actor: actor,
                 subject: current.id, at: now, entity: .message(current))
        return current
    }

    /// Writes a streaming reply's content (its deltas' concatenation) and final state; MESSAGE_STREAM_FINISHED.
    func finish(_ tx: any ChatTransaction, _ row: Message, as state: StreamState, now: Int64, actor: String) throws
        -> Message {
        guard var message = try tx.message(tenantId: row.tenantId, id: row.id) else { throw ChatError.notFound("message") }
        message.stream?.state = state
        message.stream?.finishedAt = now
        try tx.updateMessageStream(message)
        try emit(tx, .messageStreamFinished, tenantId: message.tenantId, roomId: message.roomId, actor: actor,
                 subject: message.id, at: now, entity: .message(message))
        return message
    }

    /// Streaming replies of a session (the busy check of SPEC §13.3).
    func streamingReplies(_ tx: any ChatTransaction, _ session: AgentSession) throws -> [Message] {
        try tx.streamingReplies(tenantId: session.tenantId, sessionId: session.id)
    }

    // MARK: Tool approvals (§13.2)

    /// Whether a pending approval is past its time to live at `now`.
    func approvalExpired(_ call: ToolCallRecord, now: Int64) -> Bool {
        guard call.approvalState == .pending else { return false }
        let ttl = limits.approvalTtlSeconds.multipliedReportingOverflow(by: 1000)
        let deadline = call.requestedAt.addingReportingOverflow(ttl.partialValue)
        return !ttl.overflow && !deadline.overflow && now >= deadline.partialValue
    }

    /// The approval state a call has at `now` (a pending one past its time to live is expired).
    func effectiveApproval(_ call: ToolCallRecord, now: Int64) -> ApprovalState? {
        approvalExpired(call, now: now) ? .expired : call.approvalState
    }

    /// The session's participant approves or rejects a pending tool call, once.
    public func decideToolCall(
        _ tx: any ChatTransaction, _ actor: CallActor, sessionId: String, callId: String, approve: Bool,
        reason: String? = nil
    ) throws -> ToolCallApproval {
        try actor.require(.chat)
        try Validate.reference(sessionId, "session_id")
        try Validate.text(callId, "call_id", max: 128, required: true)
        if let reason { try Validate.text(reason, "reason", max: limits.maxDecisionReasonBytes) }
        guard let session = try tx.session(tenantId: actor.tenantId, id: sessionId) else {
            throw ChatError.notFound("session")
        }
        // SPEC §13.2: anyone but the participant (the agent's profile included: it never approves its own calls).
        guard session.participantProfileId == actor.profileId else {
            throw ChatError.denied(.notSessionParticipant, "only the session's participant may decide its tool calls")
        }
        guard var call = try tx.toolCall(tenantId: actor.tenantId, sessionId: sessionId, callId: callId) else {
            throw ChatError.notFound("tool_call")
        }
        let now = clock()
        let decision: ApprovalState = approve ? .approved : .rejected
        switch effectiveApproval(call, now: now) {
        case nil:
            throw ChatError.precondition(.toolCallNoApprovalNeeded, "tool call '\(callId)' needs no approval")
        case .expired?:
            throw ChatError.precondition(.toolCallExpired, "the approval of tool call '\(callId)' expired")
        case let decided? where decided != .pending:
            guard decided == decision else {
                throw ChatError.precondition(.toolCallAlreadyDecided, "tool call '\(callId)' was already \(decided.rawValue)")
            }
            return call.approval
        default:
            break
        }
        call.approvalState = decision
        call.decidedByProfileId = actor.profileId
        call.decisionReason = reason
        call.decidedAt = now
        try tx.updateToolCall(call)
        try emit(tx, approve ? .toolCallApproved : .toolCallRejected, tenantId: session.tenantId, roomId: session.roomId,
                 actor: actor.profileId, subject: callId, at: now, entity: .toolCallApproval(call.approval))
        return call.approval
    }

    /// The agent claims a tool call to run it: once for an approved call or an open call that needs no approval.
    public func claimToolCall(
        _ tx: any ChatTransaction, _ actor: CallActor, sessionId: String, callId: String
    ) throws -> (approval: ToolCallApproval, message: Message) {
        try actor.require(.agent)
        try Validate.text(callId, "call_id", max: 128, required: true)
        let session = try visibleSession(tx, actor, sessionId)
        guard var call = try tx.toolCall(tenantId: actor.tenantId, sessionId: session.id, callId: callId) else {
            throw ChatError.notFound("tool_call")
        }
        let now = clock()
        if call.claimedAt != nil {
            throw ChatError.precondition(.toolCallAlreadyClaimed, "tool call '\(callId)' was already claimed")
        }
        switch effectiveApproval(call, now: now) {
        case nil, .approved?: break
        case let state?:
            throw ChatError.precondition(.toolCallNotApproved, "tool call '\(callId)' is \(state.rawValue), not approved")
        }
        if call.resultMessageId != nil {
            throw ChatError.precondition(.toolCallAlreadyAnswered, "tool call '\(callId)' was already answered")
        }
        guard let message = try tx.message(tenantId: actor.tenantId, id: call.callMessageId) else {
            throw ChatError.notFound("tool_call")
        }
        call.claimedAt = now
        try tx.updateToolCall(call)
        try emit(tx, .toolCallClaimed, tenantId: session.tenantId, roomId: session.roomId, actor: session.agentProfileId,
                 subject: callId, at: now, entity: .toolCallApproval(call.approval))
        return (call.approval, message)
    }

    /// Tool calls pending in the actor's own sessions (optionally one), oldest first.
    public func listPendingToolCalls(
        _ tx: any ChatTransaction, _ actor: CallActor, sessionId: String? = nil, cursor: String? = nil, limit: Int = 0
    ) throws -> Page<ToolCallApproval> {
        try actor.require(.chat)
        let sessionId = try Validate.optionalReference(sessionId, "session_id")
        let limit = try Validate.pageSize(limit, limits: limits)
        if let sessionId {
            guard let session = try tx.session(tenantId: actor.tenantId, id: sessionId),
                  session.participantProfileId == actor.profileId else { throw ChatError.notFound("session") }
        }
        let scope = "\(actor.tenantId)/pending:\(actor.profileId):\(sessionId ?? "")"
        var position = try activityCursor(cursor, scope: scope)
        let now = clock()
        var rows: [ToolCallRecord] = []
        var more = true
        // Approvals past their time to live wait for the job: skip them, reading on until the page is full.
        while rows.count <= limit && more {
            let batch = try tx.pendingToolCalls(tenantId: actor.tenantId, participantProfileId: actor.profileId,
                                                sessionId: sessionId, after: position, limit: limit + 1)
            more = batch.count == limit + 1
            if let last = batch.last { position = (last.requestedAt, last.callMessageId) }
            rows += batch.filter { !approvalExpired($0, now: now) }
        }
        let p = page(rows.map(\.approval), limit: limit, scope: scope) { ($0.requestedAt, $0.messageId) }
        return p
    }

    // MARK: The server job

    /// Finishes idle streaming replies (`interrupted`) and stopped ones not finished in time (`stopped`), expires
    /// approvals past their time to live, and drops the deltas of replies finished longer ago than their retention.
    /// The server's periodic job: its events name no actor.
    public func runStreamJob(_ tx: any ChatTransaction) throws -> StreamJobReport {
        let now = clock()
        var report = StreamJobReport()
        let idle = limits.streamIdleSeconds * 1000
        for row in try tx.streamingReplies(limit: 1000) {
            guard let stream = row.stream else { continue }
            if let stoppedAt = stream.stopRequestedAt {
                if now - stoppedAt >= idle {
                    _ = try finish(tx, row, as: .stopped, now: now, actor: "")
                    report.stopped += 1
                }
                continue
            }
            let lastActivity = try tx.lastReplyDelta(tenantId: row.tenantId, roomId: row.roomId, messageId: row.id)?
                .createdAt ?? row.createdAt
            if now - lastActivity >= idle {
                _ = try finish(tx, row, as: .interrupted, now: now, actor: "")
                report.interrupted += 1
            }
        }
        let ttl = limits.approvalTtlSeconds * 1000
        for var call in try tx.expiredApprovals(requestedBefore: now - ttl + 1, limit: 1000) {
            guard let session = try tx.session(tenantId: call.tenantId, id: call.sessionId) else { continue }
            call.approvalState = .expired
            call.decidedAt = now
            try tx.updateToolCall(call)
            try emit(tx, .toolCallExpired, tenantId: session.tenantId, roomId: session.roomId, actor: "",
                     subject: call.callId, at: now, entity: .toolCallApproval(call.approval))
            report.approvalsExpired += 1
        }
        report.deltasDropped = try tx.dropReplyDeltas(finishedBefore: now - limits.deltaRetentionSeconds * 1000)
        return report
    }
}
