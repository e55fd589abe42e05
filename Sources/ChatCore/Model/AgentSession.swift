/// An AI agent conversation with its limits and tool allow-list (SPEC §3, §5).
public struct AgentSession: Sendable, Codable, Equatable {
    public var id: String
    public var tenantId: String
    /// The application's agent slug; not an author.
    public var agentId: String
    /// The profile the agent writes as.
    public var agentProfileId: String
    /// The human owner.
    public var participantProfileId: String
    public var roomId: String
    public var status: SessionStatus
    public var allowedTools: [String]
    public var systemPrompt: String
    /// A JSON object, as text.
    public var sessionContext: String
    public var contextVersion: Int64
    public var sessionKey: String?
    public var messageCount: Int64
    public var totalTokensUsed: Int64
    /// 0 = unlimited.
    public var maxTokens: Int64
    /// 0 = unlimited.
    public var maxMessages: Int64
    public var expiresAt: Int64?
    public var lastMessageAt: Int64?
    public var closedAt: Int64?
    public var createdAt: Int64
    /// The reason stored when the status was set to `expired` or `closed`.
    public var storedInactiveReason: InactiveReason?
    /// Tools whose calls wait for the participant's approval (SPEC §13.2).
    public var approvalTools: [String]
    /// What a user message does while one of the session's replies streams (SPEC §13.3).
    public var busyPolicy: BusyPolicy

    public init(
        id: String, tenantId: String, agentId: String, agentProfileId: String, participantProfileId: String,
        roomId: String, status: SessionStatus = .active, allowedTools: [String] = [], systemPrompt: String = "",
        sessionContext: String = "{}", contextVersion: Int64 = 1, sessionKey: String? = nil, messageCount: Int64 = 0,
        totalTokensUsed: Int64 = 0, maxTokens: Int64 = 0, maxMessages: Int64 = 0, expiresAt: Int64? = nil,
        lastMessageAt: Int64? = nil, closedAt: Int64? = nil, createdAt: Int64, storedInactiveReason: InactiveReason? = nil,
        approvalTools: [String] = [], busyPolicy: BusyPolicy = .enqueue
    ) {
        self.id = id
        self.tenantId = tenantId
        self.agentId = agentId
        self.agentProfileId = agentProfileId
        self.participantProfileId = participantProfileId
        self.roomId = roomId
        self.status = status
        self.allowedTools = allowedTools
        self.systemPrompt = systemPrompt
        self.sessionContext = sessionContext
        self.contextVersion = contextVersion
        self.sessionKey = sessionKey
        self.messageCount = messageCount
        self.totalTokensUsed = totalTokensUsed
        self.maxTokens = maxTokens
        self.maxMessages = maxMessages
        self.expiresAt = expiresAt
        self.lastMessageAt = lastMessageAt
        self.closedAt = closedAt
        self.createdAt = createdAt
        self.storedInactiveReason = storedInactiveReason
        self.approvalTools = approvalTools
        self.busyPolicy = busyPolicy
    }

    // Events written before approval_tools and busy_policy existed decode with their defaults.
    private enum CodingKeys: String, CodingKey {
        case id, tenantId, agentId, agentProfileId, participantProfileId, roomId, status, allowedTools, systemPrompt,
             sessionContext, contextVersion, sessionKey, messageCount, totalTokensUsed, maxTokens, maxMessages,
             expiresAt, lastMessageAt, closedAt, createdAt, storedInactiveReason, approvalTools, busyPolicy
    }

    public init(from decoder: any Decoder) throws {
        let c = try decoder.container(keyedBy: CodingKeys.self)
        self.init(
            id: try c.decode(String.self, forKey: .id), tenantId: try c.decode(String.self, forKey: .tenantId),
            agentId: try c.decode(String.self, forKey: .agentId),
            agentProfileId: try c.decode(String.self, forKey: .agentProfileId),
            participantProfileId: try c.decode(String.self, forKey: .participantProfileId),
            roomId: try c.decode(String.self, forKey: .roomId), status: try c.decode(SessionStatus.self, forKey: .status),
            allowedTools: try c.decode([String].self, forKey: .allowedTools),
            systemPrompt: try c.decode(String.self, forKey: .systemPrompt),
            sessionContext: try c.decode(String.self, forKey: .sessionContext),
            contextVersion: try c.decode(Int64.self, forKey: .contextVersion),
            sessionKey: try c.decodeIfPresent(String.self, forKey: .sessionKey),
            messageCount: try c.decode(Int64.self, forKey: .messageCount),
            totalTokensUsed: try c.decode(Int64.self, forKey: .totalTokensUsed),
            maxTokens: try c.decode(Int64.self, forKey: .maxTokens), maxMessages: try c.decode(Int64.self, forKey: .maxMessages),
            expiresAt: try c.decodeIfPresent(Int64.self, forKey: .expiresAt),
            lastMessageAt: try c.decodeIfPresent(Int64.self, forKey: .lastMessageAt),
            closedAt: try c.decodeIfPresent(Int64.self, forKey: .closedAt), createdAt: try c.decode(Int64.self, forKey: .createdAt),
            storedInactiveReason: try c.decodeIfPresent(InactiveReason.self, forKey: .storedInactiveReason),
            approvalTools: try c.decodeIfPresent([String].self, forKey: .approvalTools) ?? [],
            busyPolicy: try c.decodeIfPresent(BusyPolicy.self, forKey: .busyPolicy) ?? .enqueue)
    }

    /// Why the session is inactive at `now`, or nil when it is active (SPEC §12.6).
    public func inactiveReason(at now: Int64) -> InactiveReason? {
        switch status {
        case .closed: return .closed
        case .expired: return storedInactiveReason ?? .expired
        case .active: break
        }
        if let expiresAt, now >= expiresAt { return .expired }
        if maxMessages > 0, messageCount >= maxMessages { return .messageLimit }
        if maxTokens > 0, totalTokensUsed >= maxTokens { return .tokenLimit }
        return nil
    }

    /// Whether the session accepts messages at `now`.
    public func isActive(at now: Int64) -> Bool { inactiveReason(at: now) == nil }
}

/// A session as returned to a caller: derived activity, and the context only for those allowed to see it.
public struct SessionView: Sendable, Equatable {
    public var session: AgentSession
    public var isActive: Bool
    public var inactiveReason: InactiveReason?

    public init(_ session: AgentSession, now: Int64) {
        self.session = session
        self.inactiveReason = session.inactiveReason(at: now)
        self.isActive = inactiveReason == nil
    }
}

/// The audit entity of a refused tool call (SPEC §12.5).
public struct ToolCallDenied: Sendable, Codable, Equatable {
    public var sessionId: String
    public var toolName: String
    public var callId: String

    public init(sessionId: String, toolName: String, callId: String) {
        self.sessionId = sessionId
        self.toolName = toolName
        self.callId = callId
    }
}

/// A tool call of a session: whether it needs approval and how that stands, its claim, and its answer.
public struct ToolCallRecord: Sendable, Codable, Equatable {
    public var tenantId: String
    public var sessionId: String
    public var callId: String
    public var toolName: String
    public var callMessageId: String
    public var resultMessageId: String?
    /// nil: the call needs no approval.
    public var approvalState: ApprovalState?
    /// When the call was made.
    public var requestedAt: Int64
    public var decidedByProfileId: String?
    public var decisionReason: String?
    /// When it was decided or expired.
    public var decidedAt: Int64?
    /// When an agent claimed it to run it (once).
    public var claimedAt: Int64?

    public init(
        tenantId: String, sessionId: String, callId: String, toolName: String, callMessageId: String,
        resultMessageId: String? = nil, approvalState: ApprovalState? = nil, requestedAt: Int64 = 0,
        decidedByProfileId: String? = nil, decisionReason: String? = nil, decidedAt: Int64? = nil, claimedAt: Int64? = nil
    ) {
        self.tenantId = tenantId
        self.sessionId = sessionId
        self.callId = callId
        self.toolName = toolName
        self.callMessageId = callMessageId
        self.resultMessageId = resultMessageId
        self.approvalState = approvalState
        self.requestedAt = requestedAt
        self.decidedByProfileId = decidedByProfileId
        self.decisionReason = decisionReason
        self.decidedAt = decidedAt
        self.claimedAt = claimedAt
    }

    /// The call as approval UIs and the TOOL_CALL_* events carry it.
    public var approval: ToolCallApproval {
        ToolCallApproval(sessionId: sessionId, messageId: callMessageId, callId: callId, toolName: toolName,
                         approvalState: approvalState, decidedByProfileId: decidedByProfileId, reason: decisionReason,
                         claimedAt: claimedAt, requestedAt: requestedAt, decidedAt: decidedAt)
    }
}

/// A tool call's approval record (SPEC §13.2): the entity of TOOL_APPROVAL_REQUESTED and TOOL_CALL_* events.
public struct ToolCallApproval: Sendable, Codable, Equatable {
    public var sessionId: String
    public var messageId: String
    public var callId: String
    public var toolName: String
    public var approvalState: ApprovalState?
    public var decidedByProfileId: String?
    public var reason: String?
    public var claimedAt: Int64?
    public var requestedAt: Int64
    public var decidedAt: Int64?

    public init(sessionId: String, messageId: String, callId: String, toolName: String, approvalState: ApprovalState?,
                decidedByProfileId: String? = nil, reason: String? = nil, claimedAt: Int64? = nil, requestedAt: Int64,
                decidedAt: Int64? = nil) {
        self.sessionId = sessionId
        self.messageId = messageId
        self.callId = callId
        self.toolName = toolName
        self.approvalState = approvalState
        self.decidedByProfileId = decidedByProfileId
        self.reason = reason
        self.claimedAt = claimedAt
        self.requestedAt = requestedAt
        self.decidedAt = decidedAt
    }
}

/// The recorded outcome of the agent turn started by a user message (SPEC §12.7).
public struct TurnState: Sendable, Codable, Equatable {
    public var tenantId: String
    public var messageId: String
    public var outcome: TurnOutcome
    public var continuationId: String?
    public var settledAt: Int64

    public init(tenantId: String, messageId: String, outcome: TurnOutcome, continuationId: String?, settledAt: Int64) {
        self.tenantId = tenantId
        self.messageId = messageId
        self.outcome = outcome
        self.continuationId = continuationId
        self.settledAt = settledAt
    }
}

extension AgentSession {
    /// The session as SESSION_* events carry it: without `system_prompt` and `session_context` (both empty),
    /// which only the participant and `agent` keys may read (GetAgentSession, GetSessionContext), while the
    /// event log also reaches `events` keys and every PUB subscriber.
    public var eventCopy: AgentSession {
        var copy = self
        copy.systemPrompt = ""
        copy.sessionContext = ""
        return copy
    }
}
