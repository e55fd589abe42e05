import ChatAPI
import ChatCore
import SwiftProtobuf

// Mapping between domain values and wire messages. The domain never sees protobuf types and the
// schema never sees wire types: each side can change without the other.


/// Converts a wire enum to its domain enum, by position: both list their cases in the same order and
/// the wire enum starts with `_UNSPECIFIED = 0`. Unspecified or unknown numbers are VALIDATION errors.
func domainEnum<D: CaseIterable, P: SwiftProtobuf.Enum>(_ value: P, _ field: String) throws -> D {
    let cases = Array(D.allCases)
    guard value.rawValue >= 1, value.rawValue <= cases.count else {
        throw ChatError.validation(field, "unknown or unspecified value \(value.rawValue)")
    }
    return cases[value.rawValue - 1]
}

/// Like `domainEnum`, but UNSPECIFIED means "not given".
func optionalDomainEnum<D: CaseIterable, P: SwiftProtobuf.Enum>(_ value: P, _ field: String) throws -> D? {
    value.rawValue == 0 ? nil : try domainEnum(value, field) as D
}

/// The wire enum of a domain enum value.
func wireEnum<P: SwiftProtobuf.Enum, D: CaseIterable & Equatable>(_ value: D) -> P {
    let index = Array(D.allCases).firstIndex(of: value)!
    return P(rawValue: index + 1)!
}

extension Room {
    var wire: Smrt_Chat_V1_Room {
        var r = Smrt_Chat_V1_Room()
        r.id = id
        r.tenantID = tenantId
        r.name = name
        r.description_p = description
        r.topic = topic
        r.avatarURL = avatarUrl
        r.roomType = wireEnum(roomType)
        r.status = wireEnum(status)
        r.maxParticipants = Int32(clamping: maxParticipants)
        r.metadata = metadata
        r.createdByProfileID = createdByProfileId
        r.createdAt = createdAt
        r.updatedAt = updatedAt
        if let lastMessageAt { r.lastMessageAt = lastMessageAt }
        r.lastEventSeq = lastEventSeq
        return r
    }
}

extension Participant {
    var wire: Smrt_Chat_V1_Participant {
        var p = Smrt_Chat_V1_Participant()
        p.tenantID = tenantId
        p.roomID = roomId
        p.profileID = profileId
        p.role = wireEnum(role)
        p.status = wireEnum(status)
        p.onlineStatus = wireEnum(onlineStatus)
        p.lastReadSeq = lastReadSeq
        p.lastReadMessageID = lastReadMessageId ?? ""
        if let lastSeenAt { p.lastSeenAt = lastSeenAt }
        p.joinedAt = joinedAt
        p.nickname = nickname
        p.isMuted = isMuted
        p.isPinned = isPinned
        return p
    }
}

extension Attachment {
    var wire: Smrt_Chat_V1_Attachment {
        var a = Smrt_Chat_V1_Attachment()
        a.id = id
        a.filename = filename
        a.contentType = contentType
        a.size = size
        if let url { a.url = url }
        return a
    }

    init(wire a: Smrt_Chat_V1_Attachment) {
        self.init(id: a.id, filename: a.filename, contentType: a.contentType, size: a.size,
                  url: a.hasURL ? a.url : nil)
    }
}

extension ChatCore.Message {
    var wire: Smrt_Chat_V1_Message {
        var m = Smrt_Chat_V1_Message()
        m.id = id
        m.tenantID = tenantId
        m.roomID = roomId
        m.threadID = threadId ?? ""
        m.replyToMessageID = replyToMessageId ?? ""
        m.agentSessionID = agentSessionId ?? ""
        m.senderProfileID = senderProfileId
        m.role = wireEnum(role)
        m.messageType = wireEnum(messageType)
        m.content = content
        m.attachments = attachments.map(\.wire)
        m.metadata = metadata
        if let toolCall {
            var t = Smrt_Chat_V1_ToolCall()
            t.callID = toolCall.callId
            t.name = toolCall.name
            if let arguments = toolCall.arguments { t.arguments = arguments }
            if let result = toolCall.result { t.result = result }
            t.isError = toolCall.isError
            m.toolCall = t
        }
        m.createdAt = createdAt
        if let editedAt { m.editedAt = editedAt }
        if let deletedAt { m.deletedAt = deletedAt }
        m.version = version
        m.roomSeq = roomSeq
        if let stream {
            m.streamState = wireEnum(stream.state)
            m.deltaCount = stream.deltaCount
        }
        m.erased = erasedAt != nil
        return m
    }
}

extension RetentionPolicy {
    var wire: Smrt_Chat_V1_RetentionPolicy {
        .with {
            $0.roomID = roomId ?? ""
            $0.messageRetentionDays = Int32(clamping: messageRetentionDays)
            $0.source = wireEnum(source)
        }
    }
}

extension ReplyDelta {
    var wire: Smrt_Chat_V1_ReplyDelta {
        var d = Smrt_Chat_V1_ReplyDelta()
        d.messageID = messageId
        d.index = index
        d.text = text
        d.contentLength = contentLength
        return d
    }
}

extension ToolCallApproval {
    var wire: Smrt_Chat_V1_ToolCallApproval {
        var a = Smrt_Chat_V1_ToolCallApproval()
        a.sessionID = sessionId
        a.messageID = messageId
        a.callID = callId
        a.toolName = toolName
        a.approvalState = approvalState.map { wireEnum($0) } ?? .unspecified
        if let decidedByProfileId { a.decidedByProfileID = decidedByProfileId }
        if let reason { a.reason = reason }
        if let claimedAt { a.claimedAt = claimedAt }
        a.requestedAt = requestedAt
        if let decidedAt { a.decidedAt = decidedAt }
        return a
    }
}

extension MessageVersion {
    var wire: Smrt_Chat_V1_MessageVersion {
        var v = Smrt_Chat_V1_MessageVersion()
        v.messageID = messageId
        v.version = version
        v.content = content
        v.editedAt = editedAt
        return v
    }
}

extension ChatThread {
    var wire: Smrt_Chat_V1_Thread {
        var t = Smrt_Chat_V1_Thread()
        t.id = id
        t.tenantID = tenantId
        t.roomID = roomId
        t.rootMessageID = rootMessageId ?? ""
        t.title = title
        t.startedByProfileID = startedByProfileId
        t.isResolved = isResolved
        if let resolvedAt { t.resolvedAt = resolvedAt }
        t.messageCount = messageCount
        t.participantCount = participantCount
        if let lastMessageAt { t.lastMessageAt = lastMessageAt }
        t.createdAt = createdAt
        return t
    }
}

extension Reaction {
    var wire: Smrt_Chat_V1_Reaction {
        var r = Smrt_Chat_V1_Reaction()
        r.tenantID = tenantId
        r.roomID = roomId
        r.messageID = messageId
        r.profileID = profileId
        r.emoji = emoji
        r.createdAt = createdAt
        return r
    }
}

extension ReactionGroup {
    var wire: Smrt_Chat_V1_ReactionGroup {
        var g = Smrt_Chat_V1_ReactionGroup()
        g.emoji = emoji
        g.count = count
        g.reactedByActor = reactedByActor
        g.profileIds = profileIds
        return g
    }
}

extension AgentSession {
    /// The session with its activity derived at `now`.
    func wire(now: Int64) -> Smrt_Chat_V1_AgentSession {
        var s = Smrt_Chat_V1_AgentSession()
        s.id = id
        s.tenantID = tenantId
        s.agentID = agentId
        s.agentProfileID = agentProfileId
        s.participantProfileID = participantProfileId
        s.roomID = roomId
        s.status = wireEnum(status)
        s.allowedTools = allowedTools
        s.systemPrompt = systemPrompt
        s.sessionContext = sessionContext
        s.contextVersion = contextVersion
        s.sessionKey = sessionKey ?? ""
        s.messageCount = messageCount
        s.totalTokensUsed = totalTokensUsed
        s.maxTokens = maxTokens
        s.maxMessages = maxMessages
        if let expiresAt { s.expiresAt = expiresAt }
        if let lastMessageAt { s.lastMessageAt = lastMessageAt }
        if let closedAt { s.closedAt = closedAt }
        s.createdAt = createdAt
        s.approvalTools = approvalTools
        s.busyPolicy = wireEnum(busyPolicy)
        let reason = inactiveReason(at: now)
        s.isActive = reason == nil
        s.inactiveReason = reason.map { wireEnum($0) } ?? .unspecified
        return s
    }
}

extension SessionView {
    var wire: Smrt_Chat_V1_AgentSession {
        var s = session.wire(now: 0)
        s.isActive = isActive
        s.inactiveReason = inactiveReason.map { wireEnum($0) } ?? .unspecified
        return s
    }
}

extension RoomEvent {
    /// The wire event; `includeEntity` false gives the `ids` payload mode.
    func wire(includeEntity: Bool, now: Int64) -> Smrt_Chat_V1_RoomEvent {
        var e = Smrt_Chat_V1_RoomEvent()
        e.tenantID = tenantId
        e.roomID = roomId
        e.seq = seq
        e.eventID = eventId
        e.kind = wireEnum(kind)
        e.actorProfileID = actorProfileId
        e.subjectID = subjectId
        e.createdAt = createdAt
        guard includeEntity, let entity else { return e }
        switch entity {
        case .room(let r): e.room = r.wire
        case .participant(let p): e.participant = p.wire
        case .message(let m): e.message = m.wire
        case .reaction(let r): e.reaction = r.wire
        case .thread(let t): e.thread = t.wire
        case .session(let s): e.session = s.wire(now: createdAt)
        case .toolCallDenied(let d):
            var w = Smrt_Chat_V1_ToolCallDenied()
            w.sessionID = d.sessionId
            w.toolName = d.toolName
            w.callID = d.callId
            e.toolCallDenied = w
        case .toolCallApproval(let a): e.toolCallApproval = a.wire
        case .messagesPurged(let p):
            e.messagesPurged = .with { $0.count = p.count; $0.purgedBeforeMs = p.purgedBeforeMs }
        case .profileErased(let p):
            e.profileErased = .with { $0.profileID = p.profileId; $0.messagesErased = p.messagesErased }
        }
        return e
    }
}

extension ChatError {
    /// The wire status of this error.
    var wireStatus: Smrt_Chat_V1_Status {
        var s = Smrt_Chat_V1_Status()
        s.code = Smrt_Chat_V1_Code(rawValue: code.rawValue) ?? .internal
        s.reason = reason.rawValue
        s.message = message
        s.metadata = metadata
        return s
    }
}
