/// The kinds of room (SPEC §3). `dm` and `agent` rooms are made by their own operations only.
public enum RoomType: String, Sendable, Codable, CaseIterable {
    case `public`, `private`, dm, agent
}

/// Lifecycle of a room. Archived rooms are read-only; deleted rooms are invisible to everyone.
public enum RoomStatus: String, Sendable, Codable, CaseIterable {
    case active, archived, deleted
}

/// A participant's role, from most to least powerful.
public enum ParticipantRole: String, Sendable, Codable, CaseIterable {
    case owner, admin, member, viewer

    /// Whether the role grants room administration (owner or admin).
    public var isAdmin: Bool { self == .owner || self == .admin }
}

/// A participant row's membership status. Only `active` counts as membership.
public enum ParticipantStatus: String, Sendable, Codable, CaseIterable {
    case active, left, kicked, banned
}

/// Presence as reported by the profile itself.
public enum OnlineStatus: String, Sendable, Codable, CaseIterable {
    case online, away, dnd, offline
}

/// Who speaks in a message.
public enum MessageRole: String, Sendable, Codable, CaseIterable {
    case user, assistant, system, tool
}

/// What a message carries.
public enum MessageType: String, Sendable, Codable, CaseIterable {
    case text, system, action, file
    case toolCall = "tool_call"
    case toolResult = "tool_result"
}

/// Stored status of an agent session; `isActive` is derived from it and the limits.
public enum SessionStatus: String, Sendable, Codable, CaseIterable {
    case active, closed, expired
}

/// Why a session is not active.
public enum InactiveReason: String, Sendable, Codable, CaseIterable {
    case closed, expired
    case messageLimit = "message_limit"
    case tokenLimit = "token_limit"
}

/// The kind of an agent reply.
public enum AgentReplyKind: String, Sendable, Codable, CaseIterable {
    case assistant, tool
}

/// Outcome of an agent turn (SPEC §12.7).
public enum TurnOutcome: String, Sendable, Codable, CaseIterable {
    case running, suspended, completed, cancelled, failed

    /// Terminal outcomes are final.
    public var isTerminal: Bool { self == .completed || self == .cancelled || self == .failed }
}

/// Service-credential scopes (SPEC §2).
public enum Scope: String, Sendable, Codable, CaseIterable, Hashable {
    case chat, agent, events, admin
}

/// Kinds of room event (SPEC §12.4). Raw values are stable: they are stored in the event log.
public enum EventKind: String, Sendable, Codable, CaseIterable {
    case roomCreated = "ROOM_CREATED"
    case roomUpdated = "ROOM_UPDATED"
    case roomArchived = "ROOM_ARCHIVED"
    case roomUnarchived = "ROOM_UNARCHIVED"
    case roomDeleted = "ROOM_DELETED"
    case participantJoined = "PARTICIPANT_JOINED"
    case participantLeft = "PARTICIPANT_LEFT"
    case participantKicked = "PARTICIPANT_KICKED"
    case participantBanned = "PARTICIPANT_BANNED"
    case participantUnbanned = "PARTICIPANT_UNBANNED"
    case participantRoleChanged = "PARTICIPANT_ROLE_CHANGED"
    case participantRead = "PARTICIPANT_READ"
    case messageCreated = "MESSAGE_CREATED"
    case messageEdited = "MESSAGE_EDITED"
    case messageDeleted = "MESSAGE_DELETED"
    case reactionAdded = "REACTION_ADDED"
    case reactionRemoved = "REACTION_REMOVED"
    case threadStarted = "THREAD_STARTED"
    case threadResolved = "THREAD_RESOLVED"
    case threadReopened = "THREAD_REOPENED"
    case sessionCreated = "SESSION_CREATED"
    case sessionUpdated = "SESSION_UPDATED"
    case sessionClosed = "SESSION_CLOSED"
    case sessionExpired = "SESSION_EXPIRED"
    case toolCallDenied = "TOOL_CALL_DENIED"
    case messageStreamFinished = "MESSAGE_STREAM_FINISHED"
    case replyStopRequested = "REPLY_STOP_REQUESTED"
    case toolApprovalRequested = "TOOL_APPROVAL_REQUESTED"
    case toolCallApproved = "TOOL_CALL_APPROVED"
    case toolCallRejected = "TOOL_CALL_REJECTED"
    case toolCallExpired = "TOOL_CALL_EXPIRED"
    case toolCallClaimed = "TOOL_CALL_CLAIMED"
    case roomMessagesPurged = "ROOM_MESSAGES_PURGED"
    case roomImported = "ROOM_IMPORTED"
    case profileErased = "PROFILE_ERASED"
}

/// Where a streamed agent reply stands (SPEC §13.1).
public enum StreamState: String, Sendable, Codable, CaseIterable {
    case streaming, completed, failed, stopped, interrupted
}

/// Where a tool call that needs approval stands (SPEC §13.2).
public enum ApprovalState: String, Sendable, Codable, CaseIterable {
    case pending, approved, rejected, expired
}

/// What a user message into a session with a streaming reply does (SPEC §13.3).
public enum BusyPolicy: String, Sendable, Codable, CaseIterable {
    case enqueue, reject, interrupt
}
