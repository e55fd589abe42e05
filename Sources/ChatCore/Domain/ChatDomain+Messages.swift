/// The result of a send: the message, and whether it is the original of an earlier send with the
/// same client request id (`replayed`: nothing was written).
public struct SendResult: Sendable, Equatable {
    public var message: Message
    public var replayed: Bool
}

/// What a message page is anchored on (SPEC §4.3).
public enum MessageAnchor: Sendable, Equatable {
    case before(String)
    case after(String)
    case around(String)
}

/// Messages (SPEC §4.3).
extension ChatDomain {
    /// Sends a user message into a room.
    public func sendMessage(
        _ tx: any ChatTransaction, _ actor: CallActor, roomId: String, content: String,
        messageType: MessageType = .text, threadId: String? = nil, replyToMessageId: String? = nil,
        agentSessionId: String? = nil, attachments: [Attachment] = [], metadata: String? = nil,
        clientRequestId: String? = nil
    ) throws -> SendResult {
        try Validate.reference(roomId, "room_id")
        guard [.text, .action, .file].contains(messageType) else {
            throw ChatError.validation("message_type", "users may send text, action or file messages only")
        }
        let draft = try validateDraft(content: content, attachments: attachments, metadata: metadata,
                                      threadId: threadId, replyToMessageId: replyToMessageId,
                                      clientRequestId: clientRequestId)
        let sessionId = try Validate.optionalReference(agentSessionId, "agent_session_id")

        let (room, me) = try memberRoom(tx, actor, roomId)
        try requireWriter(me)
        try requireNotArchived(room)
        var session: AgentSession?
        if let sessionId {
            guard let s = try tx.session(tenantId: actor.tenantId, id: sessionId), s.roomId == roomId else {
                throw foreignReference("agent_session_id")
            }
            session = s
        }
        return try writeUserMessage(tx, room: room, draft: draft, sender: actor.profileId, type: messageType,
                                    session: session)
    }

    /// A user message, into a session (SPEC §13.3): while one of the session's replies streams, `reject`
    /// refuses it and `interrupt` asks the streaming replies to stop in the same commit.
    func writeUserMessage(
        _ tx: any ChatTransaction, room: Room, draft: Draft, sender: String, type: MessageType, session: AgentSession?
    ) throws -> SendResult {
        var streaming: [Message] = []
        let sent = try writeMessage(
            tx, room: room, draft: draft, sender: sender, role: .user, type: type, session: session, toolCall: nil,
            tokensUsed: 0,
            afterIdempotency: {
                guard let session, session.busyPolicy != .enqueue else { return }
                streaming = try streamingReplies(tx, session)
                if session.busyPolicy == .reject && !streaming.isEmpty {
                    throw ChatError.precondition(.sessionBusy, "a reply of the session is streaming",
                                                 metadata: ["message_id": streaming[0].id])
                }
            })
        for reply in streaming where reply.stream?.stopRequestedAt == nil {
            _ = try requestStop(tx, reply, now: sent.message.createdAt, actor: sender)
        }
        return sent
    }

    /// A validated message body, before any lookup.
    struct Draft {
        var content: String
        var attachments: [Attachment]
        /// As stored: with `clientRequestId` added when the send has one.
        var metadata: String
        var threadId: String?
        var replyToMessageId: String?
        var clientRequestId: String?
    }

    func validateDraft(
        content: String, attachments: [Attachment], metadata: String?, threadId: String?, replyToMessageId: String?,
        clientRequestId: String?, contentRequired: Bool = true
    ) throws -> Draft {
        try Validate.text(content, "content", max: limits.maxContentBytes)
        if contentRequired && content.trimmingWhitespace.isEmpty && attachments.isEmpty {
            throw ChatError.validation("content", "is required (or at least one attachment)")
        }
        guard attachments.count <= limits.maxAttachments else {
            throw ChatError.validation("attachments", "at most \(limits.maxAttachments) per message")
        }
        for a in attachments {
            try Validate.text(a.id, "attachments.id", max: 128, required: true)
            try Validate.text(a.filename, "attachments.filename", max: limits.maxNameBytes, required: true)
            try Validate.text(a.contentType, "attachments.content_type", max: limits.maxNameBytes)
            try Validate.text(a.url ?? "", "attachments.url", max: limits.maxUrlBytes)
            guard a.size >= 0 else { throw ChatError.validation("attachments.size", "must not be negative") }
        }
        let members = try Validate.jsonObjectMembers(metadata, "metadata", max: limits.maxMetadataBytes)
        let key = (clientRequestId?.isEmpty ?? true) ? nil : clientRequestId
        if let key { try Validate.text(key, "client_request_id", max: 128) }
        // The stored metadata is the parser's output (parsed once, here) and records the client request id.
        var stored = members
        if let key { stored["clientRequestId"] = .string(key) }
        return Draft(content: content, attachments: attachments, metadata: JSONValue.object(stored).text,
                     threadId: try Validate.optionalReference(threadId, "thread_id"),
                     replyToMessageId: try Validate.optionalReference(replyToMessageId, "reply_to_message_id"),
                     clientRequestId: key)
    }

    func foreignReference(_ field: String) -> ChatError {
        ChatError.precondition(.foreignReference, "\(field) does not belong to this room", metadata: ["field": field])
    }

    /// The shared tail of every send: references, session state, idempotency, then the write with its
    /// counters and event. `room` and `session` were loaded in this transaction.
    func writeMessage(
        _ tx: any ChatTransaction, room: Room, draft: Draft, sender: String, role: MessageRole, type: MessageType,
        session: AgentSession?, toolCall: ToolCallData?, tokensUsed: Int64,
        stream: ReplyStream? = nil, beforeIdempotency: (() throws -> Void)? = nil,
        afterIdempotency: (() throws -> Void)? = nil, afterInsert: ((String) throws -> Void)? = nil
    ) throws -> SendResult {
        let tenant = room.tenantId
        let now = clock()
        if let session, let reason = session.inactiveReason(at: now) {
            throw ChatError.precondition(.sessionInactive, "the agent session is not active (\(reason.rawValue))",
                                         metadata: ["inactive_reason": reason.rawValue])
        }
        if let session, session.totalTokensUsed.addingReportingOverflow(tokensUsed).overflow {
            throw ChatError.validation("tokens_used", "would overflow the session's total")
        }
        var thread: ChatThread?
        if let threadId = draft.threadId {
            guard let t = try tx.thread(tenantId: tenant, id: threadId), t.roomId == room.id else {
                throw foreignReference("thread_id")
            }
            thread = t
        }
        if let replyId = draft.replyToMessageId {
            guard let m = try tx.message(tenantId: tenant, id: replyId), m.roomId == room.id else {
                throw foreignReference("reply_to_message_id")
            }
        }
        try beforeIdempotency?()

        var id = Identifiers.newUUID()
        if let key = draft.clientRequestId {
            id = Identifiers.clientRequestMessageId(tenantId: tenant, roomId: room.id, threadId: draft.threadId,
                                                    actorProfileId: sender, clientRequestId: key)
            if let existing = try tx.message(tenantId: tenant, id: id) {
                guard try isSameSend(tx, existing, draft: draft, type: type, toolCall: toolCall, streamed: stream != nil) else {
                    throw ChatError(.alreadyExists, .clientRequestConflict,
                                    "client_request_id was already used for a different message",
                                    metadata: ["existing_message_id": existing.id])
                }
                return SendResult(message: existing, replayed: true)
            }
        }
        try afterIdempotency?()

        let seq = try tx.nextMessageSeq(tenantId: tenant, roomId: room.id, at: now)
        let message = Message(
            id: id, tenantId: tenant, roomId: room.id, threadId: draft.threadId,
            replyToMessageId: draft.replyToMessageId, agentSessionId: session?.id, senderProfileId: sender,
            role: role, messageType: type, content: draft.content, attachments: draft.attachments, metadata: draft.metadata,
            toolCall: toolCall, createdAt: now, roomSeq: seq, clientRequestId: draft.clientRequestId, stream: stream)
        try tx.insertMessage(message)
        try afterInsert?(id)

        if var thread {
            thread.messageCount += 1
            thread.lastMessageAt = now
            if try tx.addThreadSender(tenantId: tenant, threadId: thread.id, profileId: sender) {
                thread.participantCount += 1
            }
            try tx.updateThread(thread)
        }
        if var session {
            session.messageCount += 1
            session.totalTokensUsed += tokensUsed
            session.lastMessageAt = now
            try tx.updateSession(session)
        }
        _ = try tx.appendEvent(RoomEvent(
            tenantId: tenant, roomId: room.id, seq: seq, eventId: 0, kind: .messageCreated, actorProfileId: sender,
            subjectId: id, createdAt: now, entity: .message(message)))
        return SendResult(message: message, replayed: false)
    }

    /// Whether a resend carries what the original send carried (compared with its first text when
    /// edited since; a deleted original matches on everything but the cleared content).
    private func isSameSend(
        _ tx: any ChatTransaction, _ existing: Message, draft: Draft, type: MessageType, toolCall: ToolCallData?,
        streamed: Bool
    ) throws -> Bool {
        guard existing.messageType == type, existing.threadId == draft.threadId,
              existing.replyToMessageId == draft.replyToMessageId,
              existing.toolCall?.callId == toolCall?.callId, existing.toolCall?.name == toolCall?.name,
              (existing.stream != nil) == streamed else {
            return false
        }
        // A streamed reply's content comes from its deltas, not from the Begin call.
        if streamed { return true }
        if existing.deletedAt != nil { return true }
        if existing.version > 1 {
            let first = try tx.messageVersions(tenantId: existing.tenantId, messageId: existing.id, oldestFirst: true,
                                               limit: 1).first
            return first?.content == draft.content
        }
        return existing.content == draft.content
    }

    /// A message of a room the actor is a member of.
    public func getMessage(_ tx: any ChatTransaction, _ actor: CallActor, messageId: String) throws -> Message {
        try Validate.reference(messageId, "message_id")
        return try memberMessage(tx, actor, messageId).0
    }

    /// A page of a room's messages, newest first (SPEC §4.3).
    ///
    /// - Parameters:
    ///   - cursor: continue a previous page; excludes `anchor`.
    ///   - anchor: start before, after or around a message of this room.
    /// The room whose messages `actor` may list (ListRoomMessages' access rule, checked first): an active member's
    /// room. Its `lastEventSeq` moves with every change to what its history shows, except the content of replies
    /// still streaming.
    public func historyRoom(_ tx: any ChatTransaction, _ actor: CallActor, roomId: String) throws -> Room {
        try Validate.reference(roomId, "room_id")
        return try memberRoom(tx, actor, roomId).0
    }

    public func listRoomMessages(
        _ tx: any ChatTransaction, _ actor: CallActor, roomId: String, cursor: String? = nil,
        anchor: MessageAnchor? = nil, limit: Int = 0, includeThreadReplies: Bool = false,
        includeDeleted: Bool = false
    ) throws -> Page<Message> {
        try Validate.reference(roomId, "room_id")
        let limit = try Validate.pageSize(limit, limits: limits)
        if cursor?.isEmpty == false && anchor != nil {
            throw ChatError.validation("cursor", "give either a cursor or an anchor message, not both")
        }
        let scope = "\(actor.tenantId)/messages:\(roomId)"
        _ = try historyRoom(tx, actor, roomId: roomId)
        let decoded = try PageCursor.decode(cursor, scope: scope)
        var query = MessageQuery(tenantId: actor.tenantId, roomId: roomId, includeThreadReplies: includeThreadReplies,
                                 includeDeleted: includeDeleted, limit: limit + 1)

        func anchorSeq(_ id: String, _ field: String) throws -> Int64 {
            guard !id.isEmpty, let m = try tx.message(tenantId: actor.tenantId, id: id), m.roomId == roomId else {
                throw ChatError.validation(field, "is not a message of this room")
            }
            return m.roomSeq
        }
        func olderPage(_ rows: [Message]) -> Page<Message> {
            page(rows, limit: limit, scope: scope) { ($0.roomSeq, "b") }
        }

        if let decoded {
            if decoded.tiebreak == "a" {
                query.afterSeq = decoded.position
                return try newerPage(tx, query, limit: limit, scope: scope)
            }
            query.beforeSeq = decoded.position
            return olderPage(try tx.messages(query))
        }
        switch anchor {
        case nil:
            return olderPage(try tx.messages(query))
        case .before(let id):
            query.beforeSeq = try anchorSeq(id, "before")
            return olderPage(try tx.messages(query))
        case .after(let id):
            query.afterSeq = try anchorSeq(id, "after")
            return try newerPage(tx, query, limit: limit, scope: scope)
        case .around(let id):
            let seq = try anchorSeq(id, "around")
            var older = query
            older.beforeSeq = seq + 1
            older.limit = limit - limit / 2 + 1
            let olderRows = try tx.messages(older)
            var newer = query
            newer.afterSeq = seq
            newer.order = .oldestFirst
            newer.limit = limit / 2
            // Each side gets half the reply budget: the newer side nearest the anchor, the older side with a
            // cursor that continues where it ended.
            var half = limits
            half.maxReplyBytes /= 2
            let newerAll = try tx.messages(newer)
            let newerRows = Array(newerAll.prefix(half.fitting(newerAll, limit: limit)))
            let olderItems = Array(olderRows.prefix(half.fitting(olderRows, limit: limit - limit / 2)))
            let items = newerRows.reversed() + olderItems
            let hasMore = olderRows.count > olderItems.count
            let next = hasMore ? PageCursor(scope: scope, position: olderItems.last!.roomSeq, tiebreak: "b").text : ""
            return Page(items: items, nextCursor: next, hasMore: hasMore)
        }
    }

    /// The messages right after a position, newest first; the cursor continues towards newer ones.
    private func newerPage(_ tx: any ChatTransaction, _ query: MessageQuery, limit: Int, scope: String) throws
        -> Page<Message> {
        var q = query
        q.order = .oldestFirst
        let rows = try tx.messages(q)
        let limit = limits.fitting(rows, limit: limit)
        let items = Array(rows.prefix(limit))
        let hasMore = rows.count > limit
        let next = hasMore ? PageCursor(scope: scope, position: items.last!.roomSeq, tiebreak: "a").text : ""
        return Page(items: items.reversed(), nextCursor: next, hasMore: hasMore)
    }

    /// Edits a message's text, keeping the previous text in its history. Only the sender may edit (an
    /// agent reply: an `agent` key on that session).
    public func editMessage(
        _ tx: any ChatTransaction, _ actor: CallActor, messageId: String, content: String
    ) throws -> Message {
        try Validate.reference(messageId, "message_id")
        try Validate.text(content, "content", max: limits.maxContentBytes, required: true)
        var (message, room) = try authorizeAuthorAction(tx, actor, messageId, adminMayAct: false)
        try requireNotArchived(room)
        guard message.deletedAt == nil else {
            throw ChatError.precondition(.messageDeleted, "a deleted message cannot be edited")
        }
        if message.stream?.isStreaming == true {
            throw ChatError.precondition(.replyStreaming, "a streaming reply cannot be edited before it finishes")
        }
        guard message.content != content else { return message }
        let now = clock()
        let previousWrittenAt = message.editedAt ?? message.createdAt
        try tx.insertMessageVersion(tenantId: actor.tenantId, MessageVersion(
            messageId: message.id, version: message.version, content: message.content, editedAt: previousWrittenAt))
        message.content = content
        message.editedAt = now
        message.version += 1
        try tx.updateMessage(message)
        room = try tx.room(tenantId: room.tenantId, id: room.id) ?? room
        try emit(tx, .messageEdited, tenantId: room.tenantId, roomId: room.id, actor: actor.profileId,
                 subject: message.id, at: now, entity: .message(message))
        return message
    }

    /// Every version of a message, oldest first, the current text last.
    public func getMessageHistory(
        _ tx: any ChatTransaction, _ actor: CallActor, messageId: String
    ) throws -> [MessageVersion] {
        try Validate.reference(messageId, "message_id")
        let (message, _, _) = try memberMessage(tx, actor, messageId)
        // Edits are unbounded: read only the newest versions that can fit one reply (each counts at least
        // `ReplySized`'s 1 KiB allowance), keep those that do (the current text always does), oldest first.
        let current = MessageVersion(messageId: message.id, version: message.version, content: message.content,
                                     editedAt: message.editedAt ?? message.createdAt)
        let newest = [current] + (try tx.messageVersions(tenantId: actor.tenantId, messageId: messageId,
                                                          oldestFirst: false, limit: limits.maxReplyBytes / 1024))
        return Array(newest.prefix(limits.fitting(newest, limit: newest.count)).reversed())
    }

    /// Soft-deletes a message (its sender or a room admin): content and attachments cleared, reactions
    /// removed, the tombstone kept. Deleting a deleted message changes nothing.
    public func deleteMessage(_ tx: any ChatTransaction, _ actor: CallActor, messageId: String) throws -> Message {
        try Validate.reference(messageId, "message_id")
        var (message, room) = try authorizeAuthorAction(tx, actor, messageId, adminMayAct: true)
        try requireNotArchived(room)
        guard message.deletedAt == nil else { return message }
        let now = clock()
        if var stream = message.stream, stream.isStreaming {
            // A deleted reply streams no more: it finishes as stopped, empty.
            stream.state = .stopped
            stream.stopRequestedAt = stream.stopRequestedAt ?? now
            stream.finishedAt = now
            message.stream = stream
            message.content = ""
            try tx.updateMessageStream(message)
        }
        message.content = ""
        message.attachments = []
        message.deletedAt = now
        try tx.updateMessage(message)
        try tx.deleteReactions(tenantId: actor.tenantId, messageId: message.id)
        room = try tx.room(tenantId: room.tenantId, id: room.id) ?? room
        try emit(tx, .messageDeleted, tenantId: room.tenantId, roomId: room.id, actor: actor.profileId,
                 subject: message.id, at: now, entity: .message(message))
        return message
    }

    /// Who may edit or delete: the sender (a writer member), a room admin (delete only), or an `agent`
    /// key for the replies of a session's agent.
    private func authorizeAuthorAction(
        _ tx: any ChatTransaction, _ actor: CallActor, _ messageId: String, adminMayAct: Bool
    ) throws -> (Message, Room) {
        let (message, room, participant) = try visibleOrAgentMessage(tx, actor, messageId)
        if actor.has(.agent), let sessionId = message.agentSessionId, message.role != .user,
           let session = try tx.session(tenantId: actor.tenantId, id: sessionId),
           session.agentProfileId == message.senderProfileId {
            return (message, room)
        }
        guard let participant, participant.isActive else {
            throw ChatError.denied(.notMember, "the actor is not a member of the room")
        }
        try requireWriter(participant)
        if message.senderProfileId != actor.profileId {
            if adminMayAct {
                try requireAdmin(participant)
            } else {
                throw ChatError.denied(.notMessageSender, "only the sender may edit a message")
            }
        }
        return (message, room)
    }

    /// A message visible to the actor, or any message of an agent room to an `agent` key.
    private func visibleOrAgentMessage(_ tx: any ChatTransaction, _ actor: CallActor, _ messageId: String) throws
        -> (Message, Room, Participant?) {
        if actor.has(.agent), let message = try tx.message(tenantId: actor.tenantId, id: messageId),
           message.agentSessionId != nil, let room = try tx.room(tenantId: actor.tenantId, id: message.roomId),
           room.status != .deleted {
            let participant = try tx.participant(tenantId: actor.tenantId, roomId: room.id, profileId: actor.profileId)
            return (message, room, participant)
        }
        return try visibleMessage(tx, actor, messageId)
    }

    /// Full-text search over the rooms the actor is a member of, newest first.
    public func searchMessages(
        _ tx: any ChatTransaction, _ actor: CallActor, query: String, roomId: String? = nil,
        senderProfileId: String? = nil, messageType: MessageType? = nil, role: MessageRole? = nil,
        since: Int64? = nil, until: Int64? = nil, hasAttachments: Bool? = nil, cursor: String? = nil, limit: Int = 0
    ) throws -> Page<Message> {
        try Validate.text(query, "query", max: 1024, required: true)
        let limit = try Validate.pageSize(limit, limits: limits)
        let roomId = try Validate.optionalReference(roomId, "room_id")
        let scope = "\(actor.tenantId)/search:\(actor.profileId)"
        if let roomId { _ = try memberRoom(tx, actor, roomId) }
        let after = try PageCursor.decode(cursor, scope: scope)
        let terms = Self.searchTerms(query)
        guard !terms.isEmpty else { throw ChatError.validation("query", "has no searchable words") }
        var search = MessageSearch(tenantId: actor.tenantId, memberProfileId: actor.profileId, terms: terms,
                                   limit: limit + 1)
        search.roomId = roomId
        search.senderProfileId = (senderProfileId?.isEmpty ?? true) ? nil : senderProfileId
        if let sender = search.senderProfileId { try Validate.identifier(sender, "sender_profile_id") }
        search.messageType = messageType
        search.role = role
        search.since = since
        search.until = until
        search.hasAttachments = hasAttachments
        search.after = after.map { ($0.position, $0.tiebreak) }
        return page(try tx.searchMessages(search), limit: limit, scope: scope) { ($0.createdAt, $0.id) }
    }

    /// Splits a free-text query into words (letters and digits); engines match every word as a prefix-free term.
    static func searchTerms(_ query: String) -> [String] {
        var terms: [String] = []
        var current = ""
        for ch in query {
            if ch.isLetter || ch.isNumber { current.append(ch) } else if !current.isEmpty {
                terms.append(current)
                current = ""
            }
        }
        if !current.isEmpty { terms.append(current) }
        return Array(terms.prefix(16))
    }
}
