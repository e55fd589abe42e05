/// Threads (SPEC §4.4).
extension ChatDomain {
    /// Starts a thread in a room, optionally rooted on one of its messages (several threads may share a root).
    public func startThread(
        _ tx: any ChatTransaction, _ actor: CallActor, roomId: String, rootMessageId: String? = nil,
        title: String? = nil
    ) throws -> ChatThread {
        try Validate.reference(roomId, "room_id")
        let rootId = try Validate.optionalReference(rootMessageId, "root_message_id")
        try Validate.text(title ?? "", "title", max: limits.maxNameBytes)
        let (room, me) = try memberRoom(tx, actor, roomId)
        try requireWriter(me)
        try requireNotArchived(room)
        if let rootId {
            guard let root = try tx.message(tenantId: actor.tenantId, id: rootId), root.roomId == roomId else {
                throw foreignReference("root_message_id")
            }
        }
        let now = clock()
        let thread = ChatThread(id: Identifiers.newUUID(), tenantId: actor.tenantId, roomId: roomId,
                                rootMessageId: rootId, title: title ?? "", startedByProfileId: actor.profileId,
                                createdAt: now)
        try tx.insertThread(thread)
        try emit(tx, .threadStarted, tenantId: room.tenantId, roomId: room.id, actor: actor.profileId,
                 subject: thread.id, at: now, entity: .thread(thread))
        return thread
    }

    /// A thread of a room the actor is a member of.
    public func getThread(_ tx: any ChatTransaction, _ actor: CallActor, threadId: String) throws -> ChatThread {
        try Validate.reference(threadId, "thread_id")
        return try memberThread(tx, actor, threadId).0
    }

    /// A room's threads, newest activity first.
    public func listRoomThreads(
        _ tx: any ChatTransaction, _ actor: CallActor, roomId: String, onlyUnresolved: Bool = false,
        cursor: String? = nil, limit: Int = 0
    ) throws -> Page<ChatThread> {
        try Validate.reference(roomId, "room_id")
        let limit = try Validate.pageSize(limit, limits: limits)
        let scope = "\(actor.tenantId)/threads:\(roomId)"
        _ = try memberRoom(tx, actor, roomId)
        let after = try activityCursor(cursor, scope: scope)
        let rows = try tx.threads(tenantId: actor.tenantId, roomId: roomId, onlyUnresolved: onlyUnresolved,
                                  after: after, limit: limit + 1)
        return page(rows, limit: limit, scope: scope) { ($0.activityAt, $0.id) }
    }

    /// A thread's messages in conversation order (oldest first). With `latest`, the newest `limit`
    /// messages (still oldest first) and a cursor towards older ones.
    public func listThreadMessages(
        _ tx: any ChatTransaction, _ actor: CallActor, threadId: String, cursor: String? = nil, limit: Int = 0,
        latest: Bool = false, includeDeleted: Bool = false
    ) throws -> Page<Message> {
        try Validate.reference(threadId, "thread_id")
        let limit = try Validate.pageSize(limit, limits: limits)
        let scope = "\(actor.tenantId)/thread:\(threadId)"
        let (thread, _, _) = try memberThread(tx, actor, threadId)
        let decoded = try PageCursor.decode(cursor, scope: scope)
        var query = MessageQuery(tenantId: actor.tenantId, roomId: thread.roomId, threadId: thread.id,
                                 includeThreadReplies: true, includeDeleted: includeDeleted, limit: limit + 1)
        let backwards = latest || decoded?.tiebreak == "l"
        if backwards {
            query.order = .newestFirst
            query.beforeSeq = decoded?.position
            let rows = try tx.messages(query)
            let limit = limits.fitting(rows, limit: limit)
            let items = Array(rows.prefix(limit))
            let hasMore = rows.count > limit
            let next = hasMore ? PageCursor(scope: scope, position: items.last!.roomSeq, tiebreak: "l").text : ""
            return Page(items: items.reversed(), nextCursor: next, hasMore: hasMore)
        }
        query.order = .oldestFirst
        query.afterSeq = decoded?.position
        return page(try tx.messages(query), limit: limit, scope: scope) { ($0.roomSeq, "f") }
    }

    /// Messages of a thread that reply to one message, oldest first.
    public func listReplies(
        _ tx: any ChatTransaction, _ actor: CallActor, threadId: String, messageId: String, cursor: String? = nil,
        limit: Int = 0, includeDeleted: Bool = false
    ) throws -> Page<Message> {
        try Validate.reference(threadId, "thread_id")
        try Validate.reference(messageId, "message_id")
        let limit = try Validate.pageSize(limit, limits: limits)
        let scope = "\(actor.tenantId)/replies:\(threadId):\(messageId)"
        let (thread, _, _) = try memberThread(tx, actor, threadId)
        let decoded = try PageCursor.decode(cursor, scope: scope)
        guard let target = try tx.message(tenantId: actor.tenantId, id: messageId), target.roomId == thread.roomId else {
            throw ChatError.notFound("message")
        }
        let query = MessageQuery(tenantId: actor.tenantId, roomId: thread.roomId, threadId: thread.id,
                                 includeThreadReplies: true, includeDeleted: includeDeleted, afterSeq: decoded?.position,
                                 replyToMessageId: target.id, order: .oldestFirst, limit: limit + 1)
        return page(try tx.messages(query), limit: limit, scope: scope) { ($0.roomSeq, "f") }
    }

    /// Marks a thread resolved (its starter or a room admin). Posting into it stays allowed.
    public func resolveThread(_ tx: any ChatTransaction, _ actor: CallActor, threadId: String) throws -> ChatThread {
        try setThreadResolved(tx, actor, threadId: threadId, resolved: true)
    }

    /// Reopens a resolved thread (its starter or a room admin).
    public func reopenThread(_ tx: any ChatTransaction, _ actor: CallActor, threadId: String) throws -> ChatThread {
        try setThreadResolved(tx, actor, threadId: threadId, resolved: false)
    }

    private func setThreadResolved(
        _ tx: any ChatTransaction, _ actor: CallActor, threadId: String, resolved: Bool
    ) throws -> ChatThread {
        try Validate.reference(threadId, "thread_id")
        var (thread, room, me) = try memberThread(tx, actor, threadId)
        try requireWriter(me)
        if thread.startedByProfileId != actor.profileId { try requireAdmin(me) }
        try requireNotArchived(room)
        guard thread.isResolved != resolved else { return thread }
        let now = clock()
        thread.isResolved = resolved
        thread.resolvedAt = resolved ? now : nil
        try tx.updateThread(thread)
        try emit(tx, resolved ? .threadResolved : .threadReopened, tenantId: room.tenantId, roomId: room.id,
                 actor: actor.profileId, subject: thread.id, at: now, entity: .thread(thread))
        return thread
    }
}
