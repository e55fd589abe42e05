import ChatCore

/// `ChatTransaction` over one engine connection inside an open transaction: the catalog's statements,
/// bound and decoded once for every engine. Not thread-safe: it lives for one transaction on one thread.
///
/// Within its transaction it remembers the rooms it read or changed (a write transaction locks the rows it
/// reads on PostgreSQL, so no other writer changes them until the commit), whether each key it checked is
/// active, and the replay entries it recorded: a batch of sends to one room reads the room and the key once.
/// A rolled-back savepoint restores what it remembered before. With an engine that defers writes
/// (`SQLConnection.defersWrites`), a room's seq and last message time are kept here and written once per batch.
package final class SQLTransaction: ChatTransaction {
    package let connection: any SQLConnection
    /// Events appended so far, in log order (rolled back with their savepoint).
    package private(set) var events: [RoomEvent] = []
    /// Reply deltas to publish after the commit, in append order (rolled back with their savepoint).
    package private(set) var deltas: [ReplyDelta] = []
    private var savepointDepth = 0
    /// Optimistic mode (the write path's first attempt at a batch): `savepoint` opens no SQL savepoint.
    /// A body that fails without having changed a row needs no rollback; one that fails after changing
    /// rows throws `SavepointRequired`, and the write path runs the batch again in the normal mode.
    let optimistic: Bool
    /// What this transaction read or wrote and may answer again (a savepoint restores it). Only with an engine
    /// whose statements are round trips (`SQLConnection.defersWrites`): SQLite's are function calls, cheaper than
    /// the bookkeeping.
    private var memory: TransactionMemory?

    package init(_ connection: any SQLConnection, optimistic: Bool = false) {
        self.connection = connection
        self.optimistic = optimistic
        memory = connection.defersWrites ? TransactionMemory() : nil
    }

    private func all<T>(_ statement: SQLStatement, _ arguments: [any SQLBindable],
                        _ decode: (any SQLRow) throws -> T) throws -> [T] {
        var rows: [T] = []
        try connection.query(statement, arguments) { rows.append(try decode($0)) }
        return rows
    }

    private func one<T>(_ statement: SQLStatement, _ arguments: [any SQLBindable],
                        _ decode: (any SQLRow) throws -> T) throws -> T? {
        try all(statement, arguments, decode).first
    }

    private func int(_ statement: SQLStatement, _ arguments: [any SQLBindable]) throws -> Int64? {
        try one(statement, arguments) { try $0.optionalInt(0) } ?? nil
    }

    @discardableResult
    private func run(_ statement: SQLStatement, _ arguments: [any SQLBindable]) throws -> Int {
        try connection.execute(statement, arguments)
    }

    package func savepoint<T>(_ body: () throws -> T) throws -> T {
        if optimistic {
            let changes = connection.totalChanges
            do {
                return try body()
            } catch {
                if let batchFailure = batchFailure(error) { throw batchFailure }
                // Nothing to undo when the body failed before its first write (validation, permissions:
                // nearly every refusal); otherwise only a real savepoint can undo part of a batch.
                guard connection.totalChanges == changes, !connection.abortsTransaction(error) else {
                    throw SavepointRequired()
                }
                throw error
            }
        }
        savepointDepth += 1
        connection.depthChanged(savepointDepth)
        let name = "sp\(savepointDepth)"
        defer {
            savepointDepth -= 1
            connection.depthChanged(savepointDepth)
        }
        let mark = events.count
        let deltaMark = deltas.count
        let remembered = memory
        try connection.execute(raw: "SAVEPOINT \(name)")
        do {
            let value = try body()
            try connection.execute(raw: "RELEASE SAVEPOINT \(name)")
            return value
        } catch {
            if let batchFailure = batchFailure(error), batchFailure is TransactionAborted { throw batchFailure }
            try connection.execute(raw: "ROLLBACK TO SAVEPOINT \(name)")
            try connection.execute(raw: "RELEASE SAVEPOINT \(name)")
            connection.rolledBack(toDepth: savepointDepth)
            events.removeSubrange(mark...)
            deltas.removeSubrange(deltaMark...)
            memory = remembered
            throw error
        }
    }

    /// An error that fails the whole batch rather than one operation: the write path's own signals, and a
    /// conflict with another writer (wrapped, so that outer savepoints pass it on untouched).
    private func batchFailure(_ error: Error) -> Error? {
        if error is SavepointRequired || error is TransactionAborted { return error }
        return connection.isConflict(error) ? TransactionAborted(error: error) : nil
    }

    // MARK: Rooms

    package func room(tenantId: String, id: String) throws -> Room? {
        let key = RoomKey(tenantId: tenantId, id: id)
        if let room = memory?.rooms[key] { return room }
        let room = try one(Catalog.room, [tenantId, id], Rows.room)
        memory?.rooms[key] = room
        return room
    }

    package func insertRoomIfAbsent(_ r: Room) throws -> Bool {
        memory?.rooms[RoomKey(tenantId: r.tenantId, id: r.id)] = nil
        return try run(Catalog.insertRoom, Rows.values(r)) > 0
    }

    package func updateRoom(_ r: Room) throws {
        try run(Catalog.updateRoom, [r.name, r.description, r.topic, r.avatarUrl, r.status.rawValue, r.maxParticipants,
                                     r.metadata, r.updatedAt, r.lastMessageAt, r.tenantId, r.id])
        // The statement leaves last_event_seq as it is: the remembered room keeps its own.
        let key = RoomKey(tenantId: r.tenantId, id: r.id)
        if let cached = memory?.rooms[key] {
            var room = r
            room.lastEventSeq = cached.lastEventSeq
            memory?.rooms[key] = room
        }
    }

    package func roomsOfMember(tenantId: String, profileId: String, type: RoomType?, status: RoomStatus?,
                               after: ActivityPosition?, limit: Int) throws -> [Room] {
        try all(Catalog.roomsOfMember, [tenantId, profileId, type?.rawValue, after?.activityAt, after?.id,
                                                  limit, status?.rawValue], Rows.room)
    }

    package func searchRooms(tenantId: String, profileId: String, query: String, after: ActivityPosition?,
                             limit: Int) throws -> [Room] {
        let pattern = "%" + query.replacingOccurrences(of: "\\", with: "\\\\").replacingOccurrences(of: "%", with: "\\%")
            .replacingOccurrences(of: "_", with: "\\_") + "%"
        return try all(Catalog.searchRooms, [tenantId, profileId, pattern, after?.activityAt, after?.id, limit],
                       Rows.room)
    }

    // MARK: Participants

    package func participant(tenantId: String, roomId: String, profileId: String) throws -> Participant? {
        let key = ParticipantKey(tenantId: tenantId, roomId: roomId, profileId: profileId)
        if let participant = memory?.participants[key] { return participant }
        let participant = try one(Catalog.participant, [tenantId, roomId, profileId], Rows.participant)
        memory?.participants[key] = participant
        return participant
    }

    package func roomAndParticipant(tenantId: String, roomId: String, profileId: String) throws -> (Room, Participant?)? {
        let roomKey = RoomKey(tenantId: tenantId, id: roomId)
        let key = ParticipantKey(tenantId: tenantId, roomId: roomId, profileId: profileId)
        if let room = memory?.rooms[roomKey] {
            return (room, try participant(tenantId: tenantId, roomId: roomId, profileId: profileId))
        }
        guard let (room, participant) = try one(Catalog.roomAndParticipant, [tenantId, roomId, profileId], {
            (try Rows.room($0), try $0.optionalText(Rows.roomColumnCount) == nil ? nil : try Rows.participant(Offset($0, by: Rows.roomColumnCount)))
        }) else { return nil }
        memory?.rooms[roomKey] = room
        memory?.participants[key] = participant
        return (room, participant)
    }

    package func upsertParticipant(_ p: Participant) throws {
        try run(Catalog.upsertParticipant, Rows.values(p))
        memory?.participants[ParticipantKey(tenantId: p.tenantId, roomId: p.roomId, profileId: p.profileId)] = p
    }

    package func countActiveParticipants(tenantId: String, roomId: String, role: ParticipantRole?) throws -> Int {
        Int(try int(Catalog.countActiveParticipants, [tenantId, roomId, role?.rawValue]) ?? 0)
    }

    package func participants(tenantId: String, roomId: String, status: ParticipantStatus?, afterProfileId: String?,
                              limit: Int) throws -> [Participant] {
        try all(Catalog.participants, [tenantId, roomId, status?.rawValue, afterProfileId, limit],
                Rows.participant)
    }

    package func activeMemberships(tenantId: String, profileId: String) throws -> [Participant] {
        try all(Catalog.activeMemberships, [tenantId, profileId], Rows.participant)
    }

    package func setOnlineStatus(tenantId: String, profileId: String, status: OnlineStatus, at: Int64) throws -> Int {
        if let participants = memory?.participants {
            memory?.participants = participants.filter { $0.key.tenantId != tenantId || $0.key.profileId != profileId }
        }
        return try run(Catalog.setOnlineStatus, [status.rawValue, at, tenantId, profileId])
    }

    // MARK: Messages

    package func message(tenantId: String, id: String) throws -> Message? {
        try messageRow(tenantId: tenantId, id: id).map(withStreamContent)
    }

    package func messageRow(tenantId: String, id: String) throws -> Message? {
        try one(Catalog.message, [tenantId, id], Rows.message)
    }

    /// A streaming reply's row holds no content: its content and delta count are those of its stored deltas.
    private func withStreamContent(_ row: Message) throws -> Message {
        guard var stream = row.stream, stream.isStreaming else { return row }
        var message = row
        // Every delta is at least one byte of content, so the content limit bounds the rows read.
        let deltas = try replyDeltas(tenantId: row.tenantId, roomId: row.roomId, messageId: row.id, fromIndex: 0,
                                     limit: Int.max / 2)
        message.content = deltas.reduce(into: "") { $0 += $1.text }
        stream.deltaCount = Int64(deltas.count)
        message.stream = stream
        return message
    }

    package func insertMessage(_ m: Message) throws {
        try run(Catalog.insertMessage, Rows.values(m))
    }

    package func updateMessage(_ m: Message) throws {
        try run(Catalog.updateMessage, [m.content, Rows.json(m.attachments), m.metadata, m.editedAt,
                                                    m.deletedAt, m.version, m.tenantId, m.id])
    }

    package func insertMessageVersion(tenantId: String, _ v: MessageVersion) throws {
        try run(Catalog.insertMessageVersion, [tenantId, v.messageId, v.version, v.content, v.editedAt])
    }

    package func messageVersions(tenantId: String, messageId: String, oldestFirst: Bool, limit: Int) throws
        -> [MessageVersion] {
        try all(Catalog.messageVersions[oldestFirst ? 0 : 1], [tenantId, messageId, limit], Rows.version)
    }

    package func messages(_ q: MessageQuery) throws -> [Message] {
        let filter = q.threadId != nil ? 0 : q.includeThreadReplies ? 1 : 2
        return try all(Catalog.messages[filter][q.order == .newestFirst ? 0 : 1],
                       [q.tenantId, q.roomId, q.threadId, q.includeDeleted, q.afterSeq, q.beforeSeq,
                        q.replyToMessageId, q.limit], Rows.message).map(withStreamContent)
    }

    package func searchMessages(_ s: MessageSearch) throws -> [Message] {
        var arguments: [any SQLBindable] = [s.tenantId, s.memberProfileId, s.roomId, s.senderProfileId,
                                            s.messageType?.rawValue, s.role?.rawValue, s.since, s.until,
                                            s.hasAttachments, s.after?.createdAt, s.after?.id, s.limit]
        switch connection.dialect {
        case .sqlite:
            arguments.append(s.terms.map { "\"" + $0.replacingOccurrences(of: "\"", with: "\"\"") + "\"" }
                .joined(separator: " "))
        case .postgres:
            arguments += s.terms as [any SQLBindable]
        }
        let terms = connection.dialect == .sqlite ? 1 : s.terms.count
        return try all(Catalog.searchMessages(terms: terms), arguments, Rows.message)
    }

    package func unreadCount(tenantId: String, roomId: String, threadId: String?, afterSeq: Int64,
                             excludingProfileId: String, cap: Int64) throws -> Int64 {
        guard cap > 0 else { return 0 }
        let lastOffset = cap > Int64.max / 2 ? Int64.max : cap * 2 - 1  // the window's last message, 0-based
        return try int(Catalog.unreadCount[threadId == nil ? 0 : 1],
                       [tenantId, roomId, threadId, afterSeq, excludingProfileId, lastOffset, cap]) ?? 0
    }

    // MARK: Threads

    package func thread(tenantId: String, id: String) throws -> ChatThread? {
        try one(Catalog.thread, [tenantId, id], Rows.thread)
    }

    package func insertThread(_ t: ChatThread) throws {
        try run(Catalog.insertThread, Rows.values(t))
    }

    package func updateThread(_ t: ChatThread) throws {
        try run(Catalog.updateThread, [t.title, t.isResolved, t.resolvedAt, t.messageCount,
                                                   t.participantCount, t.lastMessageAt, t.tenantId, t.id])
    }

    package func threads(tenantId: String, roomId: String, onlyUnresolved: Bool, after: ActivityPosition?,
                         limit: Int) throws -> [ChatThread] {
        try all(Catalog.threads, [tenantId, roomId, onlyUnresolved, after?.activityAt, after?.id, limit],
                Rows.thread)
    }

    package func addThreadSender(tenantId: String, threadId: String, profileId: String) throws -> Bool {
        try run(Catalog.addThreadSender, [tenantId, threadId, profileId]) > 0
    }

    package func threadsTakenPartIn(tenantId: String, profileId: String) throws -> [ChatThread] {
        try all(Catalog.threadsTakenPartIn, [tenantId, profileId], Rows.thread)
    }

    package func threadReadSeq(tenantId: String, threadId: String, profileId: String) throws -> Int64 {
        try int(Catalog.threadReadSeq, [tenantId, threadId, profileId]) ?? 0
    }

    package func setThreadReadSeq(tenantId: String, threadId: String, profileId: String, seq: Int64) throws {
        try run(Catalog.setThreadReadSeq, [tenantId, threadId, profileId, seq])
    }

    // MARK: Reactions

    package func reaction(tenantId: String, messageId: String, profileId: String, emoji: String) throws -> Reaction? {
        try one(Catalog.reaction, [tenantId, messageId, profileId, emoji], Rows.reaction)
    }

    package func insertReaction(_ r: Reaction) throws {
        try run(Catalog.insertReaction, Rows.values(r))
    }

    package func deleteReaction(tenantId: String, messageId: String, profileId: String, emoji: String) throws -> Bool {
        try run(Catalog.deleteReaction, [tenantId, messageId, profileId, emoji]) > 0
    }

    package func deleteReactions(tenantId: String, messageId: String) throws {
        try run(Catalog.deleteReactions, [tenantId, messageId])
    }

    package func reactionPairs(tenantId: String, messageId: String) throws -> [(emoji: String, profileId: String)] {
        try all(Catalog.reactionPairs, [tenantId, messageId]) { (try $0.text(0), try $0.text(1)) }
    }

    package func reactionProfiles(tenantId: String, messageId: String, emoji: String, afterProfileId: String?,
                                  limit: Int) throws -> [String] {
        try all(Catalog.reactionProfiles, [tenantId, messageId, emoji, afterProfileId, limit]) { try $0.text(0) }
    }

    package func reactionCount(tenantId: String, messageId: String, emoji: String, profileId: String) throws
        -> (count: Int64, includesProfile: Bool) {
        try one(Catalog.reactionCount, [tenantId, messageId, emoji, profileId]) {
            (try $0.int(0), try $0.int(1) != 0)
        } ?? (0, false)
    }

    package func otherReactionEmojiCount(tenantId: String, messageId: String, emoji: String) throws -> Int {
        Int(try int(Catalog.otherReactionEmojiCount, [tenantId, messageId, emoji]) ?? 0)
    }

    // MARK: Agent sessions

    package func session(tenantId: String, id: String) throws -> AgentSession? {
        try one(Catalog.session, [tenantId, id], Rows.session)
    }

    package func insertSession(_ s: AgentSession) throws {
        try run(Catalog.insertSession, Rows.values(s))
    }

    package func updateSession(_ s: AgentSession) throws {
        try run(Catalog.updateSession, [
            s.status.rawValue, s.storedInactiveReason?.rawValue, Rows.json(s.allowedTools), s.systemPrompt,
            s.sessionContext, s.contextVersion, s.messageCount, s.totalTokensUsed, s.maxTokens, s.maxMessages,
            s.expiresAt, s.lastMessageAt, s.closedAt, s.tenantId, s.id, Rows.json(s.approvalTools), s.busyPolicy.rawValue,
        ])
    }

    package func activeSession(tenantId: String, agentId: String, participantProfileId: String, sessionKey: String?)
        throws -> AgentSession? {
        try one(Catalog.activeSession, [tenantId, agentId, participantProfileId, sessionKey ?? ""],
                Rows.session)
    }

    package func sessions(tenantId: String, participantProfileId: String, agentId: String?, statusActiveOnly: Bool,
                          after: ActivityPosition?, limit: Int) throws -> [AgentSession] {
        try all(Catalog.sessions, [tenantId, participantProfileId, agentId, statusActiveOnly,
                                             after?.activityAt, after?.id, limit], Rows.session)
    }

    package func statusActiveSessions(tenantId: String, agentId: String?) throws -> [AgentSession] {
        try all(Catalog.statusActiveSessions, [tenantId, agentId], Rows.session)
    }

    package func tenantsWithActiveSessions() throws -> [String] {
        try all(Catalog.tenantsWithActiveSessions, []) { try $0.text(0) }
    }

    package func toolCall(tenantId: String, sessionId: String, callId: String) throws -> ToolCallRecord? {
        try one(Catalog.toolCall, [tenantId, sessionId, callId], Rows.toolCall)
    }

    package func insertToolCall(_ c: ToolCallRecord) throws {
        try run(Catalog.insertToolCall, Rows.values(c))
    }

    package func updateToolCall(_ c: ToolCallRecord) throws {
        try run(Catalog.updateToolCall, [c.approvalState?.rawValue, c.decidedByProfileId, c.decisionReason, c.decidedAt,
                                         c.claimedAt, c.tenantId, c.sessionId, c.callId])
    }

    package func pendingToolCalls(tenantId: String, participantProfileId: String, sessionId: String?,
                                  after: ActivityPosition?, limit: Int) throws -> [ToolCallRecord] {
        try all(Catalog.pendingToolCalls, [tenantId, participantProfileId, sessionId, after?.activityAt, after?.id, limit],
                Rows.toolCall)
    }

    package func expiredApprovals(requestedBefore cutoff: Int64, limit: Int) throws -> [ToolCallRecord] {
        try all(Catalog.expiredApprovals, [cutoff, limit], Rows.toolCall)
    }

    // MARK: Streamed replies

    package func updateMessageStream(_ m: Message) throws {
        try run(Catalog.updateMessageStream, [m.content, m.stream?.deltaCount ?? 0, m.stream?.state.rawValue,
                                              m.stream?.stopRequestedAt, m.stream?.finishedAt, m.tenantId, m.id])
    }

    package func insertReplyDelta(_ d: ReplyDelta) throws {
        try run(Catalog.insertReplyDelta, [d.tenantId, d.messageId, d.index, d.text, d.contentLength, d.createdAt])
    }

    package func lastReplyDelta(tenantId: String, roomId: String, messageId: String) throws -> ReplyDelta? {
        try one(Catalog.lastReplyDelta, [tenantId, messageId]) { try Rows.delta($0, roomId: roomId) }
    }

    package func replyDelta(tenantId: String, roomId: String, messageId: String, index: Int64) throws -> ReplyDelta? {
        try one(Catalog.replyDelta, [tenantId, messageId, index]) { try Rows.delta($0, roomId: roomId) }
    }

    package func replyDeltas(tenantId: String, roomId: String, messageId: String, fromIndex: Int64, limit: Int) throws
        -> [ReplyDelta] {
        try all(Catalog.replyDeltas, [tenantId, messageId, fromIndex, limit]) { try Rows.delta($0, roomId: roomId) }
    }

    package func streamingReplies(tenantId: String, sessionId: String) throws -> [Message] {
        try all(Catalog.sessionStreamingReplies, [tenantId, sessionId], Rows.message)
    }

    package func streamingReplies(limit: Int) throws -> [Message] {
        try all(Catalog.streamingReplies, [limit], Rows.message)
    }

    package func dropReplyDeltas(finishedBefore cutoff: Int64) throws -> Int {
        try run(Catalog.dropReplyDeltas, [cutoff])
    }

    package func publish(_ delta: ReplyDelta) {
        deltas.append(delta)
    }

    package func setToolCallResult(tenantId: String, sessionId: String, callId: String, resultMessageId: String) throws {
        try run(Catalog.setToolCallResult, [resultMessageId, tenantId, sessionId, callId])
    }

    package func turnState(tenantId: String, messageId: String) throws -> TurnState? {
        try one(Catalog.turnState, [tenantId, messageId], Rows.turnState)
    }

    package func upsertTurnState(_ s: TurnState) throws {
        try run(Catalog.upsertTurnState, Rows.values(s))
    }

    // MARK: Event log

    package func nextRoomSeq(tenantId: String, roomId: String) throws -> Int64 {
        try nextSeq(tenantId: tenantId, roomId: roomId, messageAt: nil)
    }

    package func nextMessageSeq(tenantId: String, roomId: String, at: Int64) throws -> Int64 {
        try nextSeq(tenantId: tenantId, roomId: roomId, messageAt: at)
    }

    /// The room's next seq (and, for a message, its new last message time). With an engine that defers
    /// writes, a room this transaction read (and so locked) counts in memory and buffers one update.
    private func nextSeq(tenantId: String, roomId: String, messageAt: Int64?) throws -> Int64 {
        let key = RoomKey(tenantId: tenantId, id: roomId)
        if connection.defersWrites, var room = memory?.rooms[key] {
            room.lastEventSeq += 1
            room.lastMessageAt = messageAt ?? room.lastMessageAt
            memory?.rooms[key] = room
            try run(Catalog.setRoomCounters, [tenantId, roomId, room.lastEventSeq, room.lastMessageAt])
            return room.lastEventSeq
        }
        let statement = messageAt == nil ? Catalog.nextRoomSeq : Catalog.nextMessageSeq
        guard let seq = try int(statement, messageAt.map { [tenantId, roomId, $0] } ?? [tenantId, roomId]) else {
            throw StorageCorruption("event for a missing room \(roomId)")
        }
        memory?.rooms[key]?.lastEventSeq = seq
        if let messageAt { memory?.rooms[key]?.lastMessageAt = messageAt }
        return seq
    }

    /// Appends to the log. An engine that buffers the insert (PostgreSQL) returns no id yet: it assigns the
    /// ids when it writes the batch's events (`assignEventIds`), before `events` leave through the commit.
    package func appendEvent(_ event: RoomEvent) throws -> RoomEvent {
        var stored = event
        stored.eventId = try int(Catalog.appendEvent, Rows.values(event)) ?? 0
        events.append(stored)
        return stored
    }

    /// Sets the ids of the appended events, by (tenant, room, seq), once a buffering engine wrote them.
    package func assignEventIds(_ ids: [EventPosition: Int64]) {
        for i in events.indices {
            if let id = ids[EventPosition(tenantId: events[i].tenantId, roomId: events[i].roomId, seq: events[i].seq)] {
                events[i].eventId = id
            }
        }
    }

    package func roomEvents(tenantId: String, roomId: String, afterSeq: Int64, limit: Int) throws -> [RoomEvent] {
        try all(Catalog.roomEvents, [tenantId, roomId, afterSeq, limit], Rows.event)
    }

    package func tenantEvents(tenantId: String, afterEventId: Int64, limit: Int) throws -> [RoomEvent] {
        try all(Catalog.tenantEvents, [tenantId, afterEventId, limit], Rows.event)
    }

    package func oldestRetainedSeq(tenantId: String, roomId: String) throws -> Int64? {
        try int(Catalog.oldestRetainedSeq, [tenantId, roomId])
    }

    package func purgedThroughEventId(tenantId: String) throws -> Int64 {
        try int(Catalog.purgedThroughEventId, [tenantId]) ?? 0
    }

    package func headEventId(tenantId: String) throws -> Int64 {
        try int(Catalog.headEventId, [tenantId]) ?? 0
    }

    package func purgeEvents(createdBefore cutoff: Int64) throws -> Int {
        try run(Catalog.markPurged, [cutoff])
        return try run(Catalog.purgeEvents, [cutoff])
    }

    // MARK: Data lifecycle

    package func retentionDays(tenantId: String, roomId: String?) throws -> Int64? {
        try int(Catalog.retentionDays, [tenantId, roomId ?? ""])
    }

    package func setRetentionDays(tenantId: String, roomId: String?, days: Int64?, at: Int64) throws {
        if let days {
            try run(Catalog.setRetentionDays, [tenantId, roomId ?? "", days, at])
        } else {
            try run(Catalog.deleteRetention, [tenantId, roomId ?? ""])
        }
    }

    package func roomsWithRetention() throws -> [RoomRetention] {
        try all(Catalog.roomsWithRetention, []) {
            RoomRetention(tenantId: try $0.text(0), roomId: try $0.text(1), days: try $0.int(2))
        }
    }

    package func expiredMessageIds(tenantId: String, roomId: String, createdBefore cutoff: Int64, limit: Int) throws
        -> [String] {
        try all(Catalog.expiredMessages, [tenantId, roomId, cutoff, limit]) { try $0.text(0) }
    }

    package func exportPage(_ kind: ExportKind, scope: ExportFilter, after: ExportPosition, limit: Int) throws
        -> [ExportRow] {
        let t = scope.tenantId, r = scope.roomId, p = scope.profileId
        switch kind {
        case .room:
            return try all(Catalog.exportRooms, [t, r, p, after.text, limit]) { .room(try Rows.room($0)) }
        case .participant:
            return try all(Catalog.exportParticipants, [t, r, p, after.text, after.text2, limit]) {
                .participant(try Rows.participant($0))
            }
        case .thread:
            return try all(Catalog.exportThreads, [t, r, p, after.text, limit]) { .thread(try Rows.thread($0)) }
        case .message:
            let messages = try all(Catalog.exportMessages, [t, r, p, after.text, after.number, limit], Rows.message)
                .map(withStreamContent)
            var versions: [String: [MessageVersion]] = [:]
            let edited = messages.filter { $0.version > 1 }.map(\.id)
            if !edited.isEmpty {
                try connection.query(Catalog.exportVersions, [t, Rows.json(edited)]) {
                    let v = try Rows.version($0)
                    versions[v.messageId, default: []].append(v)
                }
            }
            return messages.map { .message($0, versions[$0.id] ?? []) }
        case .reaction:
            return try all(Catalog.exportReactions, [t, r, p, after.number, limit]) {
                .reaction(try Rows.reaction(Offset($0, by: 1)), position: try $0.int(0))
            }
        case .session:
            return try all(Catalog.exportSessions, [t, r, p, after.text, limit]) { .session(try Rows.session($0)) }
        case .toolCall:
            let width = Rows.toolCallColumns.split(separator: ",").count
            return try all(Catalog.exportToolCalls, [t, r, p, after.text, after.text2, limit]) {
                .toolCall(try Rows.toolCall($0), call: try Rows.decode(ToolCallData.self, try $0.optionalText(width)),
                          result: try Rows.decode(ToolCallData.self, try $0.optionalText(width + 1)))
            }
        case .turnState:
            return try all(Catalog.exportTurnStates, [t, r, p, after.text, limit]) { .turnState(try Rows.turnState($0)) }
        }
    }

    package func createExport(_ export: ExportRecord) throws {
        try run(Catalog.insertExport, [export.exportId, export.tenantId, export.scope.rawValue, export.subject,
                                       export.createdAt, export.expiresAt])
    }

    package func appendExportChunk(exportId: String, index: Int, data: String) throws {
        try run(Catalog.insertExportChunk, [exportId, index, data])
    }

    package func finishExport(exportId: String, chunks: Int, bytes: Int) throws {
        try run(Catalog.finishExport, [exportId, chunks, bytes])
    }

    package func exportChunk(tenantId: String, exportId: String, index: Int, now: Int64) throws
        -> (chunks: Int, data: String?)? {
        try one(Catalog.exportChunk, [exportId, tenantId, index, now]) { (Int(try $0.int(0)), try $0.optionalText(1)) }
    }

    package func dropExpiredExports(now: Int64) throws -> Int {
        try run(Catalog.dropExpiredExports, [now])
    }

    package func holdsChatData() throws -> Bool {
        try one(Catalog.anyChatData, []) { _ in true } ?? false
    }

    package func setThreadRoot(tenantId: String, threadId: String, rootMessageId: String) throws {
        try run(Catalog.setThreadRoot, [tenantId, threadId, rootMessageId])
    }

    package func finishImport(tenantId: String, roomSeqs: [String: Int64]) throws {
        for (room, seq) in roomSeqs { try run(Catalog.setRoomSeq, [tenantId, room, seq]) }
        for statement in Catalog.setPurgedCounts { try run(statement, [tenantId]) }
        try run(Catalog.markLogTrimmed, [tenantId])
        memory?.rooms.removeAll()
    }

    package func messagesToErase(tenantId: String, profileId: String) throws -> [(id: String, roomId: String)] {
        try all(Catalog.messagesToErase, [tenantId, profileId]) { (try $0.text(0), try $0.text(1)) }
    }

    package func sessionsOfParticipant(tenantId: String, profileId: String) throws -> [AgentSession] {
        try all(Catalog.sessionsOfParticipant, [tenantId, profileId], Rows.session)
    }

    package func roomsWithProfileRows(tenantId: String, profileId: String) throws -> [String] {
        try all(Catalog.roomsWithProfileRows, [tenantId, profileId]) { try $0.text(0) }
    }

    package func eraseProfileData(tenantId: String, profileId: String, messageIds: [String], sessions: [AgentSession],
                                  at: Int64) throws {
        var calls: [String] = []
        for session in sessions {
            calls += try all(Catalog.callIdsOfSession, [tenantId, session.id]) { try $0.text(0) }
            try run(Catalog.deleteSessionReplays, [tenantId, session.id])
        }
        // Events first: their subjects are looked up before the rows change.
        try run(Catalog.redactProfileEvents, [tenantId, profileId, Rows.json(messageIds), Rows.json(sessions.map(\.id)),
                                              Rows.json(sessions.map(\.roomId)), Rows.json(calls)])
        if !messageIds.isEmpty {
            let ids = Rows.json(messageIds)
            for statement in Catalog.eraseMessageRows { try run(statement, [tenantId, profileId, ids]) }
            try run(Catalog.eraseMessages, [tenantId, at, ids])
        }
        for statement in Catalog.eraseProfileRows { try run(statement, [tenantId, profileId]) }
        try run(Catalog.deleteTenantExports, [tenantId])
        // FTS5 keeps a deleted word in its old segments until they merge; PostgreSQL's index is the row's tsvector.
        // The pages it freed (zeroed by secure_delete) go back to the file system.
        if connection.dialect == .sqlite {
            try connection.execute(raw: "INSERT INTO messages_fts(messages_fts) VALUES ('optimize')")
            try connection.execute(raw: "PRAGMA incremental_vacuum")
        }
    }

    package func purgeMessages(tenantId: String, roomId: String, ids: [String], purgedBefore: Int64) throws -> Int {
        guard !ids.isEmpty else { return 0 }
        let list = Rows.json(ids)
        for statement in Catalog.purgeMessageRows { try run(statement, [tenantId, roomId, list]) }
        let deleted = try run(Catalog.deleteMessages, [tenantId, roomId, list])
        if deleted > 0 { try run(Catalog.recordPurge, [tenantId, roomId, deleted, purgedBefore]) }
        return deleted
    }

    // MARK: Service credentials and replay window

    package func apiKey(id: String) throws -> ApiKey? {
        try one(Catalog.apiKey, [id], Rows.apiKey)
    }

    package func apiKeyIsActive(id: String) throws -> Bool {
        if let active = memory?.activeKeys[id] { return active }
        let active = try one(Catalog.apiKeyIsActive, [id]) { try $0.bool(0) } ?? false
        memory?.activeKeys[id] = active
        return active
    }

    package func eventLogBounds() throws -> (first: Int64, last: Int64)? {
        try one(Catalog.eventLogBounds, []) { row -> (Int64, Int64)? in
            guard let first = try row.optionalInt(0), let last = try row.optionalInt(1) else { return nil }
            return (first, last)
        } ?? nil
    }

    package func appendAudit(_ entry: AuditEntry) throws {
        try run(Catalog.appendAudit, Rows.values(entry))
    }

    package func auditEntries(since: Int64, afterId: Int64, limit: Int) throws -> [AuditEntry] {
        try all(Catalog.auditEntries, [since, afterId, limit], Rows.auditEntry)
    }

    package func insertApiKey(_ k: ApiKey) throws {
        try run(Catalog.insertApiKey, Rows.values(k))
    }

    package func apiKeys() throws -> [ApiKey] {
        try all(Catalog.apiKeys, [], Rows.apiKey)
    }

    package func revokeApiKey(id: String, at: Int64) throws -> Bool {
        memory?.activeKeys[id] = nil
        return try run(Catalog.revokeApiKey, [at, id]) > 0
    }

    package func replayEntry(keyId: String, requestId: String) throws -> ReplayEntry? {
        let key = CallKey(keyId: keyId, requestId: requestId)
        if let recorded = memory?.recordedReplays[key] { return recorded }
        if memory?.unrecorded.contains(key) == true { return nil }
        return try one(Catalog.replayEntry, [keyId, requestId], Rows.replayEntry)
    }

    /// Reads what a batch's operations read first, in one exchange with the database: the records of their
    /// calls (with their keys' activity) and the rooms they name with each caller's participant row (in a write
    /// transaction on PostgreSQL the rooms are locked, in key order). The operations then find them in memory.
    /// Only with an engine that defers writes (see `memory`).
    /// Whether `prefetch` reads anything (the write path skips collecting a batch's keys otherwise).
    package var prefetches: Bool { memory != nil }

    package func prefetch(calls: [CallKey], rooms: Set<RoomAccess>) throws {
        guard memory != nil else { return }
        let calls = Array(Set(calls))
        let rooms = rooms.sorted { ($0.tenantId, $0.roomId, $0.profileId) < ($1.tenantId, $1.roomId, $1.profileId) }
        if calls.count == 1, rooms.count == 1 {
            // A batch of one call: one statement.
            let (call, room) = (calls[0], rooms[0])
            try connection.query(Catalog.callRecordAndRoom, [call.keyId, call.requestId, room.tenantId, room.roomId, room.profileId]) {
                try rememberCall(call, active: try $0.bool(0), row: Offset($0, by: 1))
                try rememberRoom(Offset($0, by: 1 + Rows.replayColumnCount))
            }
            return
        }
        var reads: [SQLRead] = []
        if calls.count == 1 {
            let call = calls[0]
            reads.append(SQLRead(Catalog.callRecord, [call.keyId, call.requestId]) { [self] in
                try rememberCall(call, active: try $0.bool(0), row: Offset($0, by: 1))
            })
        } else if calls.count > 1 {
            let values = calls.indices.map { "(?\(2 * $0 + 1):text, ?\(2 * $0 + 2):text)" }.joined(separator: ", ")
            var statement = SQLStatement("""
                WITH v(key_id, request_id) AS (VALUES \(values))
                SELECT coalesce((SELECT k.revoked_at IS NULL FROM api_keys k WHERE k.key_id = v.key_id), 1 = 0),
                       v.key_id, v.request_id, c.frame_hash, c.response, c.created_at
                FROM v LEFT JOIN replay_cache c ON c.key_id = v.key_id AND c.request_id = v.request_id
                """, deferral: .independent)
            statement.reusable = false
            reads.append(SQLRead(statement, calls.flatMap { [$0.keyId, $0.requestId] as [any SQLBindable] }) { [self] in
                try rememberCall(CallKey(keyId: try $0.text(1), requestId: try $0.text(2)), active: try $0.bool(0),
                                 row: Offset($0, by: 1))
            })
        }
        if !rooms.isEmpty { reads.append(roomsRead(rooms)) }
        try connection.query(reads)
    }

    /// Remembers a call's key activity and its record (`row`: the replay columns, the frame hash NULL when the
    /// call is not recorded).
    private func rememberCall(_ call: CallKey, active: Bool, row: any SQLRow) throws {
        memory?.activeKeys[call.keyId] = active
        if try row.optionalBlob(2) == nil {
            memory?.unrecorded.insert(call)
        } else {
            memory?.recordedReplays[call] = try Rows.replayEntry(row)
        }
    }

    /// Remembers a room and its participant (`row`: the room columns then the participant's, NULL when absent).
    private func rememberRoom(_ row: any SQLRow) throws {
        guard try row.optionalText(0) != nil else { return }
        let room = try Rows.room(row)
        memory?.rooms[RoomKey(tenantId: room.tenantId, id: room.id)] = room
        if try row.optionalText(Rows.roomColumnCount) != nil {
            let p = try Rows.participant(Offset(row, by: Rows.roomColumnCount))
            memory?.participants[ParticipantKey(tenantId: p.tenantId, roomId: p.roomId, profileId: p.profileId)] = p
        }
    }

    /// The read of `prefetch` for rooms and participants (one room: the catalog's prepared statement).
    private func roomsRead(_ rooms: [RoomAccess]) -> SQLRead {
        let statement: SQLStatement
        if rooms.count == 1 {
            statement = Catalog.roomAndParticipant
        } else {
            let values = "WITH v(tenant_id, room_id, profile_id) AS (VALUES "
                + rooms.indices.map { "(?\(3 * $0 + 1):text, ?\(3 * $0 + 2):text, ?\(3 * $0 + 3):text)" }.joined(separator: ", ") + ")"
            var many = SQLStatement("""
                \(values) SELECT \(Rows.qualified(Rows.roomColumns, "r")), \(Rows.qualified(Rows.participantColumns, "p"))
                FROM v JOIN rooms r ON r.tenant_id = v.tenant_id AND r.id = v.room_id
                LEFT JOIN participants p ON p.tenant_id = v.tenant_id AND p.room_id = v.room_id AND p.profile_id = v.profile_id
                """, deferral: .independent)
            many.postgresLocking = SQLStatement.render("""
                \(values), locked AS (SELECT \(Rows.roomColumns) FROM rooms WHERE (tenant_id, id) IN (SELECT tenant_id, room_id FROM v)
                                     ORDER BY tenant_id, id FOR NO KEY UPDATE)
                SELECT r.*, p.* FROM locked r JOIN v ON v.tenant_id = r.tenant_id AND v.room_id = r.id
                LEFT JOIN LATERAL (SELECT \(Rows.participantColumns) FROM participants
                                   WHERE tenant_id = v.tenant_id AND room_id = v.room_id AND profile_id = v.profile_id
                                   FOR NO KEY UPDATE) p ON true
                """, .postgres)
            many.reusable = false
            statement = many
        }
        return SQLRead(statement, rooms.flatMap { [$0.tenantId, $0.roomId, $0.profileId] as [any SQLBindable] }) { [self] in
            try rememberRoom($0)
        }
    }

    package func callRecord(keyId: String, requestId: String) throws -> (keyActive: Bool, entry: ReplayEntry?) {
        let key = CallKey(keyId: keyId, requestId: requestId)
        if memory?.activeKeys[keyId] != nil || memory?.recordedReplays[key] != nil {
            return (try apiKeyIsActive(id: keyId), try replayEntry(keyId: keyId, requestId: requestId))
        }
        let (active, entry) = try one(Catalog.callRecord, [keyId, requestId]) { row in
            (try row.bool(0), try row.optionalText(1) == nil ? nil : try Rows.replayEntry(Offset(row, by: 1)))
        } ?? (false, nil)
        memory?.activeKeys[keyId] = active
        return (active, entry)
    }

    /// Records a call. A buffering engine reports it recorded; a conflict it finds when it writes the batch
    /// (another instance recorded the same call meanwhile) fails the batch, which runs again and then finds it.
    package func insertReplayEntry(_ e: ReplayEntry) throws -> Bool {
        let key = CallKey(keyId: e.keyId, requestId: e.requestId)
        guard memory?.recordedReplays[key] == nil else { return false }
        let inserted = try run(Catalog.insertReplayEntry, Rows.values(e)) > 0
        if inserted {
            memory?.recordedReplays[key] = e
            memory?.unrecorded.remove(key)
        }
        return inserted
    }

    package func purgeReplayEntries(createdBefore cutoff: Int64) throws -> Int {
        try run(Catalog.purgeReplayEntries, [cutoff])
    }
}

/// Where an event sits in the log: unique per event.
package struct EventPosition: Hashable, Sendable {
    package let tenantId: String, roomId: String, seq: Int64
    package init(tenantId: String, roomId: String, seq: Int64) {
        self.tenantId = tenantId
        self.roomId = roomId
        self.seq = seq
    }
}

/// An operation conflicted with another writer: the transaction is rolled back and the batch runs again.
package struct TransactionAborted: Error {
    package let error: Error
}

/// Thrown in optimistic mode by an operation that failed after changing rows: the batch must be run again
/// with a savepoint per operation.
package struct SavepointRequired: Error {}

/// What a `SQLTransaction` remembers within its transaction.
private struct TransactionMemory {
    var rooms: [RoomKey: Room] = [:]
    var participants: [ParticipantKey: Participant] = [:]
    var activeKeys: [String: Bool] = [:]
    var recordedReplays: [CallKey: ReplayEntry] = [:]
    /// Calls read ahead and found unrecorded.
    var unrecorded: Set<CallKey> = []
}

private struct RoomKey: Hashable {
    let tenantId: String, id: String
}

private struct ParticipantKey: Hashable {
    let tenantId: String, roomId: String, profileId: String
}
