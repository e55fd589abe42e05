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

    public init(
        id: String, tenantId: String, agentId: String, agentProfileId: String, participantProfileId: String,
        roomId: String, status: SessionStatus = .active, allowedTools: [String] = [], systemPrompt: String = "",
        sessionContext: String = "{}", contextVersion: Int64 = 1, sessionKey: String? = nil, messageCount: Int64 = 0,
        totalTokensUsed: Int64 = 0, maxTokens: Int64 = 0, maxMessages: Int64 = 0, expiresAt: Int64? = nil,
        lastMessageAt: Int64? = nil, closedAt: Int64? = nil, createdAt: Int64, storedInactiveReason: InactiveReason? = nil
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

/// A tool call of a session and whether it has been answered.
public struct ToolCallRecord: Sendable, Codable, Equatable {
    public var tenantId: String
    public var sessionId: String
    public var callId: String
    public var toolName: String
    public var callMessageId: String
    public var resultMessageId: String?

    public init(
        tenantId: String, sessionId: String, callId: String, toolName: String, callMessageId: String,
        resultMessageId: String? = nil
    ) {
        self.tenantId = tenantId
        self.sessionId = sessionId
        self.callId = callId
        self.toolName = toolName
        self.callMessageId = callMessageId
        self.resultMessageId = resultMessageId
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
