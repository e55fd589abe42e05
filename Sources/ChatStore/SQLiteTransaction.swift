import ChatCore
import Foundation
import GRDB

/// `ChatTransaction` over one GRDB connection inside an open transaction. Every statement is bound to
/// the tenant. Not thread-safe: it lives for one transaction on the thread that runs it.
final class SQLiteTransaction: ChatTransaction {
    let db: Database
    /// Events appended so far, in log order (rolled back with their savepoint).
    private(set) var events: [RoomEvent] = []
    private var savepointDepth = 0
    /// Optimistic mode (the write path's first attempt at a batch): `savepoint` opens no SQL savepoint.
    /// A body that fails without having changed a row needs no rollback; one that fails after changing
    /// rows throws `SavepointRequired`, and the write path runs the batch again in the normal mode.
    let optimistic: Bool

    init(_ db: Database, optimistic: Bool = false) {
        self.db = db
        self.optimistic = optimistic
    }

    private func one(_ sql: String, _ arguments: StatementArguments) throws -> Row? {
        try Row.fetchOne(db.cachedStatement(sql: sql), arguments: arguments)
    }

    private func all(_ sql: String, _ arguments: StatementArguments) throws -> [Row] {
        try Row.fetchAll(db.cachedStatement(sql: sql), arguments: arguments)
    }

    private func run(_ sql: String, _ arguments: StatementArguments) throws {
        try db.cachedStatement(sql: sql).execute(arguments: arguments)
    }

    /// Indexes the messages queued by this transaction for full-text search (see `Schema.v3`). The write
    /// path calls it once per batch, outside every savepoint, right before the commit.
    func indexPendingMessages() throws {
        guard try Bool.fetchOne(db.cachedStatement(sql: "SELECT EXISTS (SELECT 1 FROM messages_fts_pending)")) == true
        else { return }
        try db.cachedStatement(sql: """
            INSERT INTO messages_fts(rowid, content)
            SELECT m.pk, m.content FROM messages_fts_pending p JOIN messages m ON m.pk = p.pk
            """).execute()
        try db.cachedStatement(sql: "DELETE FROM messages_fts_pending").execute()
    }

    func savepoint<T>(_ body: () throws -> T) throws -> T {
        if optimistic {
            let changes = db.totalChangesCount
            do {
                return try body()
            } catch let error as SavepointRequired {
                throw error
            } catch {
                // Nothing to undo when the body failed before its first write (validation, permissions:
                // nearly every refusal); otherwise only a real savepoint can undo part of a batch.
                guard db.totalChangesCount == changes else { throw SavepointRequired() }
                throw error
            }
        }
        savepointDepth += 1
        let name = "sp\(savepointDepth)"
        defer { savepointDepth -= 1 }
        let mark = events.count
        // Cached statements: every operation of a group commit opens and releases one.
        func run(_ sql: String) throws { try db.cachedStatement(sql: sql).execute() }
        try run("SAVEPOINT \(name)")
        do {
            let value = try body()
            try run("RELEASE \(name)")
            return value
        } catch {
            try run("ROLLBACK TO \(name)")
            try run("RELEASE \(name)")
            events.removeSubrange(mark...)
            throw error
        }
    }

    // MARK: Rooms

    func room(tenantId: String, id: String) throws -> Room? {
        try one("SELECT \(Rows.roomColumns) FROM rooms WHERE tenant_id = ? AND id = ?", [tenantId, id]).map(Rows.room)
    }

    func insertRoomIfAbsent(_ r: Room) throws -> Bool {
        try run("""
            INSERT INTO rooms (id, tenant_id, name, description, topic, avatar_url, room_type, status,
                max_participants, metadata, created_by_profile_id, created_at, updated_at, last_message_at,
                last_event_seq)
            VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, 0)
            ON CONFLICT (tenant_id, id) DO NOTHING
            """, [r.id, r.tenantId, r.name, r.description, r.topic, r.avatarUrl, r.roomType.rawValue,
                  r.status.rawValue, r.maxParticipants, r.metadata, r.createdByProfileId, r.createdAt,
                  r.updatedAt, r.lastMessageAt])
        return db.changesCount > 0
    }

    func updateRoom(_ r: Room) throws {
        try run("""
            UPDATE rooms SET name = ?, description = ?, topic = ?, avatar_url = ?, status = ?,
                max_participants = ?, metadata = ?, updated_at = ?, last_message_at = ?
            WHERE tenant_id = ? AND id = ?
            """, [r.name, r.description, r.topic, r.avatarUrl, r.status.rawValue, r.maxParticipants, r.metadata,
                  r.updatedAt, r.lastMessageAt, r.tenantId, r.id])
    }

    func roomsOfMember(
        tenantId: String, profileId: String, type: RoomType?, status: RoomStatus?, after: ActivityPosition?, limit: Int
    ) throws -> [Room] {
        try all("""
            SELECT \(Rows.roomColumnsR) FROM participants p JOIN rooms r ON r.tenant_id = p.tenant_id AND r.id = p.room_id
            WHERE p.tenant_id = ? AND p.profile_id = ? AND p.status = 'active' AND r.status != 'deleted'
              AND (?3 IS NULL OR r.room_type = ?3) AND (?4 IS NULL OR r.status = ?4)
              AND (?5 IS NULL OR coalesce(r.last_message_at, r.created_at) < ?5
                   OR (coalesce(r.last_message_at, r.created_at) = ?5 AND r.id < ?6))
            ORDER BY coalesce(r.last_message_at, r.created_at) DESC, r.id DESC
            LIMIT ?7
            """, [tenantId, profileId, type?.rawValue, status?.rawValue, after?.activityAt, after?.id, limit])
            .map(Rows.room)
    }

    func searchRooms(tenantId: String, profileId: String, query: String, after: ActivityPosition?, limit: Int) throws
        -> [Room] {
        let pattern = "%" + query.replacingOccurrences(of: "\\", with: "\\\\").replacingOccurrences(of: "%", with: "\\%")
            .replacingOccurrences(of: "_", with: "\\_") + "%"
        return try all("""
            SELECT \(Rows.roomColumnsR) FROM rooms r
            WHERE r.tenant_id = ?1 AND r.status != 'deleted'
              AND (r.room_type = 'public' OR EXISTS (SELECT 1 FROM participants p WHERE p.tenant_id = r.tenant_id
                   AND p.room_id = r.id AND p.profile_id = ?2 AND p.status = 'active'))
              AND (r.name LIKE ?3 ESCAPE '\\' OR r.description LIKE ?3 ESCAPE '\\' OR r.topic LIKE ?3 ESCAPE '\\')
              AND (?4 IS NULL OR coalesce(r.last_message_at, r.created_at) < ?4
                   OR (coalesce(r.last_message_at, r.created_at) = ?4 AND r.id < ?5))
            ORDER BY coalesce(r.last_message_at, r.created_at) DESC, r.id DESC
            LIMIT ?6
            """, [tenantId, profileId, pattern, after?.activityAt, after?.id, limit]).map(Rows.room)
    }

    // MARK: Participants

    func participant(tenantId: String, roomId: String, profileId: String) throws -> Participant? {
        try one("SELECT \(Rows.participantColumns) FROM participants WHERE tenant_id = ? AND room_id = ? AND profile_id = ?",
                [tenantId, roomId, profileId]).map(Rows.participant)
    }

    func upsertParticipant(_ p: Participant) throws {
        try run("""
            INSERT OR REPLACE INTO participants (tenant_id, room_id, profile_id, role, status, online_status,
                last_read_seq, last_read_message_id, last_seen_at, joined_at, nickname, is_muted, is_pinned)
            VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
            """, [p.tenantId, p.roomId, p.profileId, p.role.rawValue, p.status.rawValue, p.onlineStatus.rawValue,
                  p.lastReadSeq, p.lastReadMessageId, p.lastSeenAt, p.joinedAt, p.nickname, p.isMuted, p.isPinned])
    }

    func countActiveParticipants(tenantId: String, roomId: String, role: ParticipantRole?) throws -> Int {
        try Int.fetchOne(db.cachedStatement(sql: """
            SELECT count(*) FROM participants WHERE tenant_id = ? AND room_id = ? AND status = 'active'
              AND (?3 IS NULL OR role = ?3)
            """), arguments: [tenantId, roomId, role?.rawValue]) ?? 0
    }

    func participants(tenantId: String, roomId: String, status: ParticipantStatus?, afterProfileId: String?,
                      limit: Int) throws -> [Participant] {
        try all("""
            SELECT \(Rows.participantColumns) FROM participants WHERE tenant_id = ? AND room_id = ? AND (?3 IS NULL OR status = ?3)
              AND (?4 IS NULL OR profile_id > ?4)
            ORDER BY profile_id LIMIT ?5
            """, [tenantId, roomId, status?.rawValue, afterProfileId, limit]).map(Rows.participant)
    }

    func activeMemberships(tenantId: String, profileId: String) throws -> [Participant] {
        try all("""
            SELECT \(Rows.participantColumnsP) FROM participants p JOIN rooms r ON r.tenant_id = p.tenant_id AND r.id = p.room_id
            WHERE p.tenant_id = ? AND p.profile_id = ? AND p.status = 'active' AND r.status != 'deleted'
            ORDER BY p.room_id
            """, [tenantId, profileId]).map(Rows.participant)
    }

    func setOnlineStatus(tenantId: String, profileId: String, status: OnlineStatus, at: Int64) throws -> Int {
        try run("UPDATE participants SET online_status = ?, last_seen_at = ? WHERE tenant_id = ? AND profile_id = ?",
                [status.rawValue, at, tenantId, profileId])
        return db.changesCount
    }

    // MARK: Messages

    func message(tenantId: String, id: String) throws -> Message? {
        try one("SELECT \(Rows.messageColumns) FROM messages WHERE tenant_id = ? AND id = ?", [tenantId, id]).map(Rows.message)
    }

    func insertMessage(_ m: Message) throws {
        try run("""
            INSERT INTO messages (id, tenant_id, room_id, thread_id, reply_to_message_id, agent_session_id,
                sender_profile_id, role, message_type, content, attachments, metadata, tool_call, client_request_id,
                created_at, edited_at, deleted_at, version, room_seq)
            VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
            """, [m.id, m.tenantId, m.roomId, m.threadId, m.replyToMessageId, m.agentSessionId, m.senderProfileId,
                  m.role.rawValue, m.messageType.rawValue, m.content, Rows.json(m.attachments), m.metadata,
                  m.toolCall.map(Rows.json), m.clientRequestId, m.createdAt, m.editedAt, m.deletedAt, m.version,
                  m.roomSeq])
    }

    func updateMessage(_ m: Message) throws {
        try run("""
            UPDATE messages SET content = ?, attachments = ?, metadata = ?, edited_at = ?, deleted_at = ?, version = ?
            WHERE tenant_id = ? AND id = ?
            """, [m.content, Rows.json(m.attachments), m.metadata, m.editedAt, m.deletedAt, m.version, m.tenantId,
                  m.id])
    }

    func insertMessageVersion(tenantId: String, _ v: MessageVersion) throws {
        try run("INSERT INTO message_versions (tenant_id, message_id, version, content, edited_at) VALUES (?, ?, ?, ?, ?)",
                [tenantId, v.messageId, v.version, v.content, v.editedAt])
    }

    func messageVersions(tenantId: String, messageId: String, oldestFirst: Bool, limit: Int) throws -> [MessageVersion] {
        try all("""
            SELECT * FROM message_versions WHERE tenant_id = ? AND message_id = ?
            ORDER BY version \(oldestFirst ? "ASC" : "DESC") LIMIT ?
            """, [tenantId, messageId, limit]).map {
            MessageVersion(messageId: $0["message_id"], version: $0["version"], content: $0["content"],
                           editedAt: $0["edited_at"])
        }
    }

    func messages(_ q: MessageQuery) throws -> [Message] {
        let order = q.order == .newestFirst ? "DESC" : "ASC"
        let threadFilter: String
        if q.threadId != nil {
            threadFilter = "AND thread_id = ?3"
        } else if q.includeThreadReplies {
            threadFilter = "AND (?3 IS NULL)"
        } else {
            threadFilter = "AND thread_id IS NULL AND (?3 IS NULL)"
        }
        return try all("""
            SELECT \(Rows.messageColumns) FROM messages WHERE tenant_id = ?1 AND room_id = ?2 \(threadFilter)
              AND (?4 OR deleted_at IS NULL)
              AND (?5 IS NULL OR room_seq > ?5) AND (?6 IS NULL OR room_seq < ?6)
              AND (?7 IS NULL OR reply_to_message_id = ?7)
            ORDER BY room_seq \(order) LIMIT ?8
            """, [q.tenantId, q.roomId, q.threadId, q.includeDeleted, q.afterSeq, q.beforeSeq, q.replyToMessageId,
                  q.limit]).map(Rows.message)
    }

    func searchMessages(_ s: MessageSearch) throws -> [Message] {
        let match = s.terms.map { "\"" + $0.replacingOccurrences(of: "\"", with: "\"\"") + "\"" }.joined(separator: " ")
        return try all("""
            SELECT \(Rows.messageColumnsM) FROM messages_fts f
            JOIN messages m ON m.pk = f.rowid
            JOIN participants p ON p.tenant_id = m.tenant_id AND p.room_id = m.room_id AND p.profile_id = ?2
                AND p.status = 'active'
            JOIN rooms r ON r.tenant_id = m.tenant_id AND r.id = m.room_id AND r.status != 'deleted'
            WHERE messages_fts MATCH ?3 AND m.tenant_id = ?1 AND m.deleted_at IS NULL
              AND (?4 IS NULL OR m.room_id = ?4) AND (?5 IS NULL OR m.sender_profile_id = ?5)
              AND (?6 IS NULL OR m.message_type = ?6) AND (?7 IS NULL OR m.role = ?7)
              AND (?8 IS NULL OR m.created_at >= ?8) AND (?9 IS NULL OR m.created_at < ?9)
              AND (?10 IS NULL OR (?10 = (m.attachments != '[]')))
              AND (?11 IS NULL OR m.created_at < ?11 OR (m.created_at = ?11 AND m.id < ?12))
            ORDER BY m.created_at DESC, m.id DESC LIMIT ?13
            """, [s.tenantId, s.memberProfileId, match, s.roomId, s.senderProfileId, s.messageType?.rawValue,
                  s.role?.rawValue, s.since, s.until, s.hasAttachments, s.after?.createdAt, s.after?.id, s.limit])
            .map(Rows.message)
    }

    func unreadCount(tenantId: String, roomId: String, threadId: String?, afterSeq: Int64, excludingProfileId: String)
        throws -> Int64 {
        let sql = threadId == nil
            ? """
              SELECT count(*) FROM messages WHERE tenant_id = ?1 AND room_id = ?2 AND thread_id IS NULL AND (?3 IS NULL)
                AND room_seq > ?4 AND deleted_at IS NULL AND sender_profile_id != ?5
              """
            : """
              SELECT count(*) FROM messages WHERE tenant_id = ?1 AND room_id = ?2 AND thread_id = ?3
                AND room_seq > ?4 AND deleted_at IS NULL AND sender_profile_id != ?5
              """
        return try Int64.fetchOne(db.cachedStatement(sql: sql),
                                  arguments: [tenantId, roomId, threadId, afterSeq, excludingProfileId]) ?? 0
    }

    // MARK: Threads

    func thread(tenantId: String, id: String) throws -> ChatThread? {
        try one("SELECT * FROM threads WHERE tenant_id = ? AND id = ?", [tenantId, id]).map(Rows.thread)
    }

    func insertThread(_ t: ChatThread) throws {
        try run("""
            INSERT INTO threads (id, tenant_id, room_id, root_message_id, title, started_by_profile_id, is_resolved,
                resolved_at, message_count, participant_count, last_message_at, created_at)
            VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
            """, [t.id, t.tenantId, t.roomId, t.rootMessageId, t.title, t.startedByProfileId, t.isResolved,
                  t.resolvedAt, t.messageCount, t.participantCount, t.lastMessageAt, t.createdAt])
    }

    func updateThread(_ t: ChatThread) throws {
        try run("""
            UPDATE threads SET title = ?, is_resolved = ?, resolved_at = ?, message_count = ?, participant_count = ?,
                last_message_at = ?
            WHERE tenant_id = ? AND id = ?
            """, [t.title, t.isResolved, t.resolvedAt, t.messageCount, t.participantCount, t.lastMessageAt,
                  t.tenantId, t.id])
    }

    func threads(tenantId: String, roomId: String, onlyUnresolved: Bool, after: ActivityPosition?, limit: Int) throws
        -> [ChatThread] {
        try all("""
            SELECT * FROM threads WHERE tenant_id = ?1 AND room_id = ?2 AND (NOT ?3 OR is_resolved = 0)
              AND (?4 IS NULL OR coalesce(last_message_at, created_at) < ?4
                   OR (coalesce(last_message_at, created_at) = ?4 AND id < ?5))
            ORDER BY coalesce(last_message_at, created_at) DESC, id DESC LIMIT ?6
            """, [tenantId, roomId, onlyUnresolved, after?.activityAt, after?.id, limit]).map(Rows.thread)
    }

    func addThreadSender(tenantId: String, threadId: String, profileId: String) throws -> Bool {
        try run("INSERT OR IGNORE INTO thread_senders (tenant_id, thread_id, profile_id) VALUES (?, ?, ?)",
                [tenantId, threadId, profileId])
        return db.changesCount > 0
    }

    func threadsTakenPartIn(tenantId: String, profileId: String) throws -> [ChatThread] {
        try all("""
            SELECT t.* FROM threads t
            JOIN participants p ON p.tenant_id = t.tenant_id AND p.room_id = t.room_id AND p.profile_id = ?2
                AND p.status = 'active'
            JOIN rooms r ON r.tenant_id = t.tenant_id AND r.id = t.room_id AND r.status != 'deleted'
            WHERE t.tenant_id = ?1 AND (t.started_by_profile_id = ?2 OR EXISTS (SELECT 1 FROM thread_senders s
                WHERE s.tenant_id = t.tenant_id AND s.thread_id = t.id AND s.profile_id = ?2))
            ORDER BY t.id
            """, [tenantId, profileId]).map(Rows.thread)
    }

    func threadReadSeq(tenantId: String, threadId: String, profileId: String) throws -> Int64 {
        try Int64.fetchOne(db.cachedStatement(sql: """
            SELECT last_read_seq FROM thread_reads WHERE tenant_id = ? AND thread_id = ? AND profile_id = ?
            """), arguments: [tenantId, threadId, profileId]) ?? 0
    }

    func setThreadReadSeq(tenantId: String, threadId: String, profileId: String, seq: Int64) throws {
        try run("""
            INSERT INTO thread_reads (tenant_id, thread_id, profile_id, last_read_seq) VALUES (?, ?, ?, ?)
            ON CONFLICT (tenant_id, thread_id, profile_id) DO UPDATE SET last_read_seq = excluded.last_read_seq
            """, [tenantId, threadId, profileId, seq])
    }

    // MARK: Reactions

    func reaction(tenantId: String, messageId: String, profileId: String, emoji: String) throws -> Reaction? {
        try one("""
            SELECT * FROM reactions WHERE tenant_id = ? AND message_id = ? AND profile_id = ? AND emoji = ?
            """, [tenantId, messageId, profileId, emoji]).map {
            Reaction(tenantId: $0["tenant_id"], roomId: $0["room_id"], messageId: $0["message_id"],
                     profileId: $0["profile_id"], emoji: $0["emoji"], createdAt: $0["created_at"])
        }
    }

    func insertReaction(_ r: Reaction) throws {
        try run("""
            INSERT INTO reactions (tenant_id, room_id, message_id, profile_id, emoji, created_at) VALUES (?, ?, ?, ?, ?, ?)
            """, [r.tenantId, r.roomId, r.messageId, r.profileId, r.emoji, r.createdAt])
    }

    func deleteReaction(tenantId: String, messageId: String, profileId: String, emoji: String) throws -> Bool {
        try run("DELETE FROM reactions WHERE tenant_id = ? AND message_id = ? AND profile_id = ? AND emoji = ?",
                [tenantId, messageId, profileId, emoji])
        return db.changesCount > 0
    }

    func deleteReactions(tenantId: String, messageId: String) throws {
        try run("DELETE FROM reactions WHERE tenant_id = ? AND message_id = ?", [tenantId, messageId])
    }

    func reactionPairs(tenantId: String, messageId: String) throws -> [(emoji: String, profileId: String)] {
        try all("SELECT emoji, profile_id FROM reactions WHERE tenant_id = ? AND message_id = ? ORDER BY pk",
                [tenantId, messageId]).map { ($0["emoji"], $0["profile_id"]) }
    }

    func reactionProfiles(tenantId: String, messageId: String, emoji: String, afterProfileId: String?, limit: Int) throws
        -> [String] {
        try String.fetchAll(db.cachedStatement(sql: """
            SELECT profile_id FROM reactions WHERE tenant_id = ?1 AND message_id = ?2 AND emoji = ?3
              AND (?4 IS NULL OR profile_id > ?4) ORDER BY profile_id LIMIT ?5
            """), arguments: [tenantId, messageId, emoji, afterProfileId, limit])
    }

    func reactionCount(tenantId: String, messageId: String, emoji: String, profileId: String) throws
        -> (count: Int64, includesProfile: Bool) {
        let row = try Row.fetchOne(db.cachedStatement(sql: """
            SELECT COUNT(*) AS n, COALESCE(MAX(profile_id = ?4), 0) AS mine FROM reactions
            WHERE tenant_id = ?1 AND message_id = ?2 AND emoji = ?3
            """), arguments: [tenantId, messageId, emoji, profileId])
        return (row?["n"] ?? 0, (row?["mine"] as Int64? ?? 0) != 0)
    }

    func otherReactionEmojiCount(tenantId: String, messageId: String, emoji: String) throws -> Int {
        try Int.fetchOne(db.cachedStatement(sql: """
            SELECT COUNT(DISTINCT emoji) FROM reactions WHERE tenant_id = ? AND message_id = ? AND emoji <> ?
            """), arguments: [tenantId, messageId, emoji]) ?? 0
    }

    // MARK: Agent sessions

    func session(tenantId: String, id: String) throws -> AgentSession? {
        try one("SELECT * FROM agent_sessions WHERE tenant_id = ? AND id = ?", [tenantId, id]).map(Rows.session)
    }

    func insertSession(_ s: AgentSession) throws {
        try run("""
            INSERT INTO agent_sessions (id, tenant_id, agent_id, agent_profile_id, participant_profile_id, room_id,
                status, inactive_reason, allowed_tools, system_prompt, session_context, context_version, session_key,
                message_count, total_tokens_used, max_tokens, max_messages, expires_at, last_message_at, closed_at,
                created_at)
            VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
            """, [s.id, s.tenantId, s.agentId, s.agentProfileId, s.participantProfileId, s.roomId, s.status.rawValue,
                  s.storedInactiveReason?.rawValue, Rows.json(s.allowedTools), s.systemPrompt, s.sessionContext,
                  s.contextVersion, s.sessionKey, s.messageCount, s.totalTokensUsed, s.maxTokens, s.maxMessages,
                  s.expiresAt, s.lastMessageAt, s.closedAt, s.createdAt])
    }

    func updateSession(_ s: AgentSession) throws {
        try run("""
            UPDATE agent_sessions SET status = ?, inactive_reason = ?, allowed_tools = ?, system_prompt = ?,
                session_context = ?, context_version = ?, message_count = ?, total_tokens_used = ?, max_tokens = ?,
                max_messages = ?, expires_at = ?, last_message_at = ?, closed_at = ?
            WHERE tenant_id = ? AND id = ?
            """, [s.status.rawValue, s.storedInactiveReason?.rawValue, Rows.json(s.allowedTools), s.systemPrompt,
                  s.sessionContext, s.contextVersion, s.messageCount, s.totalTokensUsed, s.maxTokens, s.maxMessages,
                  s.expiresAt, s.lastMessageAt, s.closedAt, s.tenantId, s.id])
    }

    func activeSession(tenantId: String, agentId: String, participantProfileId: String, sessionKey: String?) throws
        -> AgentSession? {
        try one("""
            SELECT * FROM agent_sessions WHERE tenant_id = ? AND agent_id = ? AND participant_profile_id = ?
              AND ifnull(session_key, '') = ? AND status = 'active'
            """, [tenantId, agentId, participantProfileId, sessionKey ?? ""]).map(Rows.session)
    }

    func sessions(tenantId: String, participantProfileId: String, agentId: String?, statusActiveOnly: Bool,
                  after: ActivityPosition?, limit: Int) throws -> [AgentSession] {
        try all("""
            SELECT * FROM agent_sessions WHERE tenant_id = ?1 AND participant_profile_id = ?2
              AND (?3 IS NULL OR agent_id = ?3) AND (NOT ?4 OR status = 'active')
              AND (?5 IS NULL OR created_at < ?5 OR (created_at = ?5 AND id < ?6))
            ORDER BY created_at DESC, id DESC LIMIT ?7
            """, [tenantId, participantProfileId, agentId, statusActiveOnly, after?.activityAt, after?.id, limit])
            .map(Rows.session)
    }

    func statusActiveSessions(tenantId: String, agentId: String?) throws -> [AgentSession] {
        try all("""
            SELECT * FROM agent_sessions WHERE tenant_id = ?1 AND status = 'active' AND (?2 IS NULL OR agent_id = ?2)
            ORDER BY pk
            """, [tenantId, agentId]).map(Rows.session)
    }

    func tenantsWithActiveSessions() throws -> [String] {
        try String.fetchAll(db.cachedStatement(sql: "SELECT DISTINCT tenant_id FROM agent_sessions WHERE status = 'active'"))
    }

    func toolCall(tenantId: String, sessionId: String, callId: String) throws -> ToolCallRecord? {
        try one("SELECT * FROM tool_calls WHERE tenant_id = ? AND session_id = ? AND call_id = ?",
                [tenantId, sessionId, callId]).map {
            ToolCallRecord(tenantId: $0["tenant_id"], sessionId: $0["session_id"], callId: $0["call_id"],
                           toolName: $0["tool_name"], callMessageId: $0["call_message_id"],
                           resultMessageId: $0["result_message_id"])
        }
    }

    func insertToolCall(_ c: ToolCallRecord) throws {
        try run("""
            INSERT INTO tool_calls (tenant_id, session_id, call_id, tool_name, call_message_id, result_message_id)
            VALUES (?, ?, ?, ?, ?, ?)
            """, [c.tenantId, c.sessionId, c.callId, c.toolName, c.callMessageId, c.resultMessageId])
    }

    func setToolCallResult(tenantId: String, sessionId: String, callId: String, resultMessageId: String) throws {
        try run("UPDATE tool_calls SET result_message_id = ? WHERE tenant_id = ? AND session_id = ? AND call_id = ?",
                [resultMessageId, tenantId, sessionId, callId])
    }

    func turnState(tenantId: String, messageId: String) throws -> TurnState? {
        try one("SELECT * FROM turn_states WHERE tenant_id = ? AND message_id = ?", [tenantId, messageId]).map {
            TurnState(tenantId: $0["tenant_id"], messageId: $0["message_id"],
                      outcome: try Rows.enumValue($0, "outcome"), continuationId: $0["continuation_id"],
                      settledAt: $0["settled_at"])
        }
    }

    func upsertTurnState(_ s: TurnState) throws {
        try run("""
            INSERT OR REPLACE INTO turn_states (tenant_id, message_id, outcome, continuation_id, settled_at)
            VALUES (?, ?, ?, ?, ?)
            """, [s.tenantId, s.messageId, s.outcome.rawValue, s.continuationId, s.settledAt])
    }

    // MARK: Event log

    func nextRoomSeq(tenantId: String, roomId: String) throws -> Int64 {
        guard let seq = try Int64.fetchOne(db.cachedStatement(sql: """
            UPDATE rooms SET last_event_seq = last_event_seq + 1 WHERE tenant_id = ? AND id = ? RETURNING last_event_seq
            """), arguments: [tenantId, roomId]) else {
            throw DatabaseError(resultCode: .SQLITE_CONSTRAINT, message: "event for a missing room \(roomId)")
        }
        return seq
    }

    func nextMessageSeq(tenantId: String, roomId: String, at: Int64) throws -> Int64 {
        guard let seq = try Int64.fetchOne(db.cachedStatement(sql: """
            UPDATE rooms SET last_event_seq = last_event_seq + 1, last_message_at = ? WHERE tenant_id = ? AND id = ?
            RETURNING last_event_seq
            """), arguments: [at, tenantId, roomId]) else {
            throw DatabaseError(resultCode: .SQLITE_CONSTRAINT, message: "event for a missing room \(roomId)")
        }
        return seq
    }

    func appendEvent(_ event: RoomEvent) throws -> RoomEvent {
        try run("""
            INSERT INTO room_events (tenant_id, room_id, seq, kind, actor_profile_id, subject_id, created_at, payload)
            VALUES (?, ?, ?, ?, ?, ?, ?, ?)
            """, [event.tenantId, event.roomId, event.seq, event.kind.rawValue, event.actorProfileId, event.subjectId,
                  event.createdAt, event.entity.map(Rows.payload)])
        var stored = event
        stored.eventId = db.lastInsertedRowID
        events.append(stored)
        return stored
    }

    func roomEvents(tenantId: String, roomId: String, afterSeq: Int64, limit: Int) throws -> [RoomEvent] {
        try all("SELECT * FROM room_events WHERE tenant_id = ? AND room_id = ? AND seq > ? ORDER BY seq LIMIT ?",
                [tenantId, roomId, afterSeq, limit]).map(Rows.event)
    }

    func tenantEvents(tenantId: String, afterEventId: Int64, limit: Int) throws -> [RoomEvent] {
        try all("SELECT * FROM room_events WHERE tenant_id = ? AND event_id > ? ORDER BY event_id LIMIT ?",
                [tenantId, afterEventId, limit]).map(Rows.event)
    }

    func oldestRetainedSeq(tenantId: String, roomId: String) throws -> Int64? {
        try Int64.fetchOne(db.cachedStatement(sql: "SELECT min(seq) FROM room_events WHERE tenant_id = ? AND room_id = ?"),
                           arguments: [tenantId, roomId])
    }

    func purgedThroughEventId(tenantId: String) throws -> Int64 {
        try Int64.fetchOne(db.cachedStatement(sql: """
            SELECT purged_through_event_id FROM event_log_state WHERE tenant_id = ?
            """), arguments: [tenantId]) ?? 0
    }

    func headEventId(tenantId: String) throws -> Int64 {
        try Int64.fetchOne(db.cachedStatement(sql: "SELECT max(event_id) FROM room_events WHERE tenant_id = ?"),
                           arguments: [tenantId]) ?? 0
    }

    func purgeEvents(createdBefore cutoff: Int64) throws -> Int {
        try run("""
            INSERT INTO event_log_state (tenant_id, purged_through_event_id)
            SELECT tenant_id, max(event_id) FROM room_events WHERE created_at < ? GROUP BY tenant_id
            ON CONFLICT (tenant_id) DO UPDATE SET purged_through_event_id =
                max(purged_through_event_id, excluded.purged_through_event_id)
            """, [cutoff])
        try run("DELETE FROM room_events WHERE created_at < ?", [cutoff])
        return db.changesCount
    }

    // MARK: Service credentials and replay window

    private func apiKey(_ row: Row) throws -> ApiKey {
        let scopes = try Rows.decode([String].self, row["scopes"]) ?? []
        return ApiKey(keyId: row["key_id"], secret: [UInt8](row["secret"] as Data), tenants: try Rows.decode([String].self, row["tenants"]) ?? [],
                      allTenants: row["all_tenants"], scopes: Set(scopes.compactMap(Scope.init(rawValue:))),
                      createdAt: row["created_at"], revokedAt: row["revoked_at"])
    }

    func apiKey(id: String) throws -> ApiKey? {
        try one("SELECT * FROM api_keys WHERE key_id = ?", [id]).map(apiKey)
    }

    func apiKeyIsActive(id: String) throws -> Bool {
        try Bool.fetchOne(db.cachedStatement(sql: "SELECT revoked_at IS NULL FROM api_keys WHERE key_id = ?"),
                          arguments: [id]) ?? false
    }

    func insertApiKey(_ k: ApiKey) throws {
        try run("""
            INSERT INTO api_keys (key_id, secret, tenants, all_tenants, scopes, created_at, revoked_at)
            VALUES (?, ?, ?, ?, ?, ?, ?)
            """, [k.keyId, Data(k.secret), Rows.json(k.tenants), k.allTenants, Rows.json(k.scopes.map(\.rawValue).sorted()),
                  k.createdAt, k.revokedAt])
    }

    func apiKeys() throws -> [ApiKey] {
        try all("SELECT * FROM api_keys ORDER BY created_at, key_id", []).map(apiKey)
    }

    func revokeApiKey(id: String, at: Int64) throws -> Bool {
        try run("UPDATE api_keys SET revoked_at = coalesce(revoked_at, ?) WHERE key_id = ?", [at, id])
        return db.changesCount > 0
    }

    func replayEntry(keyId: String, requestId: String) throws -> ReplayEntry? {
        try one("SELECT * FROM replay_cache WHERE key_id = ? AND request_id = ?", [keyId, requestId]).map {
            let response: Data? = $0["response"]
            return ReplayEntry(keyId: $0["key_id"], requestId: $0["request_id"], frameHash: [UInt8]($0["frame_hash"] as Data),
                               response: response.map { [UInt8]($0) }, createdAt: $0["created_at"])
        }
    }

    func insertReplayEntry(_ e: ReplayEntry) throws -> Bool {
        try run("""
            INSERT INTO replay_cache (key_id, request_id, frame_hash, response, created_at) VALUES (?, ?, ?, ?, ?)
            ON CONFLICT (key_id, request_id) DO NOTHING
            """, [e.keyId, e.requestId, Data(e.frameHash), e.response.map { Data($0) }, e.createdAt])
        return db.changesCount > 0
    }

    func purgeReplayEntries(createdBefore cutoff: Int64) throws -> Int {
        try run("DELETE FROM replay_cache WHERE created_at < ?", [cutoff])
        return db.changesCount
    }
}

/// Thrown in optimistic mode by an operation that failed after changing rows: the batch must be run again
/// with a savepoint per operation.
struct SavepointRequired: Error {}
