import ChatCore

/// Every statement of the domain's storage, written once (see `SQLStatement` for the dialect's notation).
/// Statements on tenant data are bound to the tenant: none returns another tenant's rows.
package enum Catalog {
    typealias S = SQLStatement
    static let room = S("SELECT \(Rows.roomColumns) FROM rooms WHERE tenant_id = ?1 AND id = ?2", deferral: .independent,
                        locking: true)
    static let insertRoom = Rows.insert("rooms", Rows.roomColumns, "ON CONFLICT (tenant_id, id) DO NOTHING")
    static let updateRoom = S("""
        UPDATE rooms SET name = ?1, description = ?2, topic = ?3, avatar_url = ?4, status = ?5, max_participants = ?6,
            metadata = ?7, updated_at = ?8, last_message_at = ?9:int
        WHERE tenant_id = ?10 AND id = ?11
        """)
    /// Activity order, newest first, continuing after (?4 activity, ?5 id).
    private static let activityPage = """
        AND (?4:int IS NULL OR coalesce(r.last_message_at, r.created_at) < ?4:int
             OR (coalesce(r.last_message_at, r.created_at) = ?4:int AND r.id < ?5:text))
        ORDER BY coalesce(r.last_message_at, r.created_at) DESC, r.id DESC LIMIT ?6
        """
    static let roomsOfMember = S("""
        SELECT \(Rows.qualified(Rows.roomColumns, "r")) FROM participants p
        JOIN rooms r ON r.tenant_id = p.tenant_id AND r.id = p.room_id
        WHERE p.tenant_id = ?1 AND p.profile_id = ?2 AND p.status = 'active' AND r.status <> 'deleted'
          AND (?3:text IS NULL OR r.room_type = ?3:text) AND (?7:text IS NULL OR r.status = ?7:text)
        \(activityPage)
        """)
    static let searchRooms = S("""
        SELECT \(Rows.qualified(Rows.roomColumns, "r")) FROM rooms r
        WHERE r.tenant_id = ?1 AND r.status <> 'deleted'
          AND (r.room_type = 'public' OR EXISTS (SELECT 1 FROM participants p WHERE p.tenant_id = r.tenant_id
               AND p.room_id = r.id AND p.profile_id = ?2 AND p.status = 'active'))
          AND (r.name {like} ?3 ESCAPE '\\' OR r.description {like} ?3 ESCAPE '\\' OR r.topic {like} ?3 ESCAPE '\\')
        \(activityPage)
        """)

    /// A room with one profile's participant row. PostgreSQL's write transactions lock both (a lateral
    /// subquery, since the participant may be missing).
    static let roomAndParticipant: SQLStatement = {
        var statement = S(sqlite: """
            SELECT \(Rows.qualified(Rows.roomColumns, "r")), \(Rows.qualified(Rows.participantColumns, "p"))
            FROM rooms r LEFT JOIN participants p ON p.tenant_id = r.tenant_id AND p.room_id = r.id AND p.profile_id = ?3
            WHERE r.tenant_id = ?1 AND r.id = ?2
            """, postgres: """
            SELECT \(Rows.qualified(Rows.roomColumns, "r")), \(Rows.qualified(Rows.participantColumns, "p"))
            FROM rooms r LEFT JOIN participants p ON p.tenant_id = r.tenant_id AND p.room_id = r.id AND p.profile_id = ?3
            WHERE r.tenant_id = ?1 AND r.id = ?2
            """)
        statement.deferral = .independent
        statement.postgresLocking = SQLStatement.render("""
            SELECT r.*, p.* FROM (SELECT \(Rows.roomColumns) FROM rooms WHERE tenant_id = ?1 AND id = ?2 FOR NO KEY UPDATE) r
            LEFT JOIN LATERAL (SELECT \(Rows.participantColumns) FROM participants
                               WHERE tenant_id = ?1 AND room_id = ?2 AND profile_id = ?3 FOR NO KEY UPDATE) p ON true
            """, .postgres)
        return statement
    }()
    static let participant = S("""
        SELECT \(Rows.participantColumns) FROM participants WHERE tenant_id = ?1 AND room_id = ?2 AND profile_id = ?3
        """, deferral: .independent, locking: true)
    static let upsertParticipant = Rows.insert("participants", Rows.participantColumns, """
        ON CONFLICT (tenant_id, room_id, profile_id) DO UPDATE SET role = excluded.role, status = excluded.status,
            online_status = excluded.online_status, last_read_seq = excluded.last_read_seq,
            last_read_message_id = excluded.last_read_message_id, last_seen_at = excluded.last_seen_at,
            joined_at = excluded.joined_at, nickname = excluded.nickname, is_muted = excluded.is_muted,
            is_pinned = excluded.is_pinned
        """)
    static let countActiveParticipants = S("""
        SELECT count(*) FROM participants WHERE tenant_id = ?1 AND room_id = ?2 AND status = 'active'
          AND (?3:text IS NULL OR role = ?3:text)
        """)
    static let participants = S("""
        SELECT \(Rows.participantColumns) FROM participants WHERE tenant_id = ?1 AND room_id = ?2
          AND (?3:text IS NULL OR status = ?3:text) AND profile_id > coalesce(?4:text, '')
        ORDER BY profile_id LIMIT ?5
        """)
    static let activeMemberships = S("""
        SELECT \(Rows.qualified(Rows.participantColumns, "p")) FROM participants p
        JOIN rooms r ON r.tenant_id = p.tenant_id AND r.id = p.room_id
        WHERE p.tenant_id = ?1 AND p.profile_id = ?2 AND p.status = 'active' AND r.status <> 'deleted'
        ORDER BY p.room_id
        """)
    static let setOnlineStatus = S("""
        UPDATE participants SET online_status = ?1, last_seen_at = ?2 WHERE tenant_id = ?3 AND profile_id = ?4
        """)

    static let message = S("SELECT \(Rows.messageColumns) FROM messages WHERE tenant_id = ?1 AND id = ?2", locking: true)
    static let insertMessage = Rows.insert("messages", Rows.messageColumns, buffered: true)
    static let updateMessage = S("""
        UPDATE messages SET content = ?1, attachments = ?2, metadata = ?3, edited_at = ?4:int, deleted_at = ?5:int,
            version = ?6
        WHERE tenant_id = ?7 AND id = ?8
        """)
    static let insertMessageVersion = S("""
        INSERT INTO message_versions (tenant_id, message_id, version, content, edited_at) VALUES (?1, ?2, ?3, ?4, ?5)
        """)
    static let messageVersions = [true, false].map { oldestFirst in
        S("""
          SELECT \(Rows.versionColumns) FROM message_versions WHERE tenant_id = ?1 AND message_id = ?2
          ORDER BY version \(oldestFirst ? "ASC" : "DESC") LIMIT ?3
          """)
    }
    /// By thread filter (a thread, every message, root messages only) and order (newest first, oldest first).
    /// The seq bounds are plain comparisons with a constant (`coalesce` of the cursor), which both engines read as an
    /// index range; `(?5 IS NULL OR room_seq > ?5)` made SQLite walk the room from its newest message down to the
    /// cursor, so each page cost more the further back it was (700 µs of CPU per page of 50 in a 19,200-message room).
    static let messages: [[SQLStatement]] = [
        "AND thread_id = ?3:text", "AND (?3:text IS NULL)", "AND thread_id IS NULL AND (?3:text IS NULL)",
    ].map { threadFilter in
        ["DESC", "ASC"].map { order in
            S("""
              SELECT \(Rows.messageColumns) FROM messages WHERE tenant_id = ?1 AND room_id = ?2 \(threadFilter)
                AND (?4:bool OR deleted_at IS NULL)
                AND room_seq > coalesce(?5:int, 0) AND room_seq < coalesce(?6:int, 9223372036854775807)
                AND (?7:text IS NULL OR reply_to_message_id = ?7:text)
              ORDER BY room_seq \(order) LIMIT ?8
              """)
        }
    }
    /// Full-text search: FTS5 on SQLite (?13 the quoted terms), a generated `tsvector` on PostgreSQL (one
    /// phrase query per term from ?13 on). Every term must match; no query syntax reaches the engine.
    static func searchMessages(terms: Int) -> SQLStatement {
        let filters = """
            AND m.tenant_id = ?1 AND m.deleted_at IS NULL
              AND (?3:text IS NULL OR m.room_id = ?3:text) AND (?4:text IS NULL OR m.sender_profile_id = ?4:text)
              AND (?5:text IS NULL OR m.message_type = ?5:text) AND (?6:text IS NULL OR m.role = ?6:text)
              AND (?7:int IS NULL OR m.created_at >= ?7:int) AND (?8:int IS NULL OR m.created_at < ?8:int)
              AND (?9:bool IS NULL OR (?9:bool = (m.attachments <> '[]')))
              AND (?10:int IS NULL OR m.created_at < ?10:int OR (m.created_at = ?10:int AND m.id < ?11:text))
            ORDER BY m.created_at DESC, m.id DESC LIMIT ?12
            """
        let member = """
            JOIN participants p ON p.tenant_id = m.tenant_id AND p.room_id = m.room_id AND p.profile_id = ?2
                AND p.status = 'active'
            JOIN rooms r ON r.tenant_id = m.tenant_id AND r.id = m.room_id AND r.status <> 'deleted'
            """
        let match = (0..<terms).map { "phraseto_tsquery('simple'::regconfig, ?\(13 + $0):text)" }.joined(separator: " && ")
        return S(sqlite: """
                 SELECT \(Rows.qualified(Rows.messageColumns, "m")) FROM messages_fts f JOIN messages m ON m.pk = f.rowid
                 \(member) WHERE messages_fts MATCH ?13 \(filters)
                 """,
                 postgres: """
                 SELECT \(Rows.qualified(Rows.messageColumns, "m")) FROM messages m \(member)
                 WHERE \(terms == 0 ? "false" : "m.content_tsv @@ (\(match))") \(filters)
                 """)
    }
    /// Unread messages up to the (?6 + 1)-th past the read cursor (`SQLTransaction.unreadCount`: twice the count's cap),
    /// found by an OFFSET walk of the same index, so a count costs at most about twice ?6 index entries however many
    /// messages follow the cursor; the count stops at ?7 (the cap). A room's count walks its root messages that are not
    /// deleted (`messages_unread_roots`, covering); a thread's bound counts its deleted messages too. A window taken by
    /// a `LIMIT` subquery cost more per message (a co-routine step each: GetRoom's bare snapshot 18.5 against
    /// 16.3 µs at 50 unread, 213 against 158 µs at 1,000; `smrtbench sqlite-read`).
    static let unreadCount = [
        S("""
          SELECT count(*) FROM (
            SELECT 1 FROM messages WHERE tenant_id = ?1 AND room_id = ?2 AND thread_id IS NULL AND (?3:text IS NULL)
              AND room_seq > ?4 AND deleted_at IS NULL AND sender_profile_id <> ?5
              AND room_seq <= coalesce((
                SELECT room_seq FROM messages WHERE tenant_id = ?1 AND room_id = ?2 AND thread_id IS NULL
                  AND room_seq > ?4 AND deleted_at IS NULL ORDER BY room_seq LIMIT 1 OFFSET ?6
              ), 9223372036854775807)
            LIMIT ?7) AS unread
          """),
        S("""
          SELECT count(*) FROM (
            SELECT 1 FROM messages WHERE tenant_id = ?1 AND room_id = ?2 AND thread_id = ?3:text
              AND room_seq > ?4 AND deleted_at IS NULL AND sender_profile_id <> ?5
              AND room_seq <= coalesce((
                SELECT room_seq FROM messages WHERE tenant_id = ?1 AND thread_id = ?3:text AND room_seq > ?4
                ORDER BY room_seq LIMIT 1 OFFSET ?6
              ), 9223372036854775807)
            LIMIT ?7) AS unread
          """),
    ]

    static let thread = S("SELECT \(Rows.threadColumns) FROM threads WHERE tenant_id = ?1 AND id = ?2",
                          deferral: .independent, locking: true)
    static let insertThread = Rows.insert("threads", Rows.threadColumns)
    static let updateThread = S("""
        UPDATE threads SET title = ?1, is_resolved = ?2, resolved_at = ?3:int, message_count = ?4,
            participant_count = ?5, last_message_at = ?6:int
        WHERE tenant_id = ?7 AND id = ?8
        """)
    static let threads = S("""
        SELECT \(Rows.threadColumns) FROM threads WHERE tenant_id = ?1 AND room_id = ?2 AND (NOT ?3:bool OR NOT is_resolved)
          AND (?4:int IS NULL OR coalesce(last_message_at, created_at) < ?4:int
               OR (coalesce(last_message_at, created_at) = ?4:int AND id < ?5:text))
        ORDER BY coalesce(last_message_at, created_at) DESC, id DESC LIMIT ?6
        """)
    static let addThreadSender = S("""
        INSERT INTO thread_senders (tenant_id, thread_id, profile_id) VALUES (?1, ?2, ?3) ON CONFLICT DO NOTHING
        """)
    static let threadsTakenPartIn = S("""
        SELECT \(Rows.qualified(Rows.threadColumns, "t")) FROM threads t
        JOIN participants p ON p.tenant_id = t.tenant_id AND p.room_id = t.room_id AND p.profile_id = ?2
            AND p.status = 'active'
        JOIN rooms r ON r.tenant_id = t.tenant_id AND r.id = t.room_id AND r.status <> 'deleted'
        WHERE t.tenant_id = ?1 AND (t.started_by_profile_id = ?2 OR EXISTS (SELECT 1 FROM thread_senders s
            WHERE s.tenant_id = t.tenant_id AND s.thread_id = t.id AND s.profile_id = ?2))
        ORDER BY t.id
        """)
    static let threadReadSeq = S("""
        SELECT last_read_seq FROM thread_reads WHERE tenant_id = ?1 AND thread_id = ?2 AND profile_id = ?3
        """)
    static let setThreadReadSeq = S("""
        INSERT INTO thread_reads (tenant_id, thread_id, profile_id, last_read_seq) VALUES (?1, ?2, ?3, ?4)
        ON CONFLICT (tenant_id, thread_id, profile_id) DO UPDATE SET last_read_seq = excluded.last_read_seq
        """)

    static let reaction = S("""
        SELECT \(Rows.reactionColumns) FROM reactions
        WHERE tenant_id = ?1 AND message_id = ?2 AND profile_id = ?3 AND emoji = ?4
        """)
    static let insertReaction = Rows.insert("reactions", Rows.reactionColumns)
    static let deleteReaction = S("""
        DELETE FROM reactions WHERE tenant_id = ?1 AND message_id = ?2 AND profile_id = ?3 AND emoji = ?4
        """)
    static let deleteReactions = S("DELETE FROM reactions WHERE tenant_id = ?1 AND message_id = ?2")
    static let reactionPairs = S("""
        SELECT emoji, profile_id FROM reactions WHERE tenant_id = ?1 AND message_id = ?2 ORDER BY pk
        """)
    static let reactionProfiles = S("""
        SELECT profile_id FROM reactions WHERE tenant_id = ?1 AND message_id = ?2 AND emoji = ?3
          AND profile_id > coalesce(?4:text, '') ORDER BY profile_id LIMIT ?5
        """)
    static let reactionCount = S("""
        SELECT count(*), coalesce(max(CASE WHEN profile_id = ?4 THEN 1 ELSE 0 END), 0) FROM reactions
        WHERE tenant_id = ?1 AND message_id = ?2 AND emoji = ?3
        """)
    static let otherReactionEmojiCount = S("""
        SELECT count(DISTINCT emoji) FROM reactions WHERE tenant_id = ?1 AND message_id = ?2 AND emoji <> ?3
        """)

    static let session = S("SELECT \(Rows.sessionColumns) FROM agent_sessions WHERE tenant_id = ?1 AND id = ?2",
                           deferral: .independent, locking: true)
    static let insertSession = Rows.insert("agent_sessions", Rows.sessionColumns)
    static let updateSession = S("""
        UPDATE agent_sessions SET status = ?1, inactive_reason = ?2:text, allowed_tools = ?3, system_prompt = ?4,
            session_context = ?5, context_version = ?6, message_count = ?7, total_tokens_used = ?8, max_tokens = ?9,
            max_messages = ?10, expires_at = ?11:int, last_message_at = ?12:int, closed_at = ?13:int,
            approval_tools = ?16, busy_policy = ?17
        WHERE tenant_id = ?14 AND id = ?15
        """)
    static let activeSession = S("""
        SELECT \(Rows.sessionColumns) FROM agent_sessions WHERE tenant_id = ?1 AND agent_id = ?2
          AND participant_profile_id = ?3 AND coalesce(session_key, '') = ?4 AND status = 'active'
        """)
    static let sessions = S("""
        SELECT \(Rows.sessionColumns) FROM agent_sessions WHERE tenant_id = ?1 AND participant_profile_id = ?2
          AND (?3:text IS NULL OR agent_id = ?3:text) AND (NOT ?4:bool OR status = 'active')
          AND (?5:int IS NULL OR created_at < ?5:int OR (created_at = ?5:int AND id < ?6:text))
        ORDER BY created_at DESC, id DESC LIMIT ?7
        """)
    static let statusActiveSessions = S("""
        SELECT \(Rows.sessionColumns) FROM agent_sessions WHERE tenant_id = ?1 AND status = 'active'
          AND (?2:text IS NULL OR agent_id = ?2:text)
        ORDER BY pk
        """)
    static let tenantsWithActiveSessions = S("SELECT DISTINCT tenant_id FROM agent_sessions WHERE status = 'active'")
    static let toolCall = S("""
        SELECT \(Rows.toolCallColumns) FROM tool_calls WHERE tenant_id = ?1 AND session_id = ?2 AND call_id = ?3
        """, locking: true)
    static let updateToolCall = S("""
        UPDATE tool_calls SET approval_state = ?1:text, decided_by_profile_id = ?2:text, decision_reason = ?3:text,
            decided_at = ?4:int, claimed_at = ?5:int
        WHERE tenant_id = ?6 AND session_id = ?7 AND call_id = ?8
        """)
    /// Pending calls of the sessions a profile is the participant of, oldest first (position: requested_at,
    /// tiebreak: the call's message id).
    static let pendingToolCalls = S("""
        SELECT \(Rows.qualified(Rows.toolCallColumns, "c")) FROM tool_calls c
          JOIN agent_sessions s ON s.tenant_id = c.tenant_id AND s.id = c.session_id
        WHERE c.tenant_id = ?1 AND c.approval_state = 'pending' AND s.participant_profile_id = ?2
          AND (?3:text IS NULL OR c.session_id = ?3:text)
          AND (?4:int IS NULL OR c.requested_at > ?4:int OR (c.requested_at = ?4:int AND c.call_message_id > ?5:text))
        ORDER BY c.requested_at, c.call_message_id LIMIT ?6
        """)
    static let expiredApprovals = S("""
        SELECT \(Rows.toolCallColumns) FROM tool_calls WHERE approval_state = 'pending' AND requested_at < ?1
        ORDER BY requested_at LIMIT ?2
        """)

    static let updateMessageStream = S("""
        UPDATE messages SET content = ?1, delta_count = ?2, stream_state = ?3, stream_stop_at = ?4:int,
            stream_finished_at = ?5:int
        WHERE tenant_id = ?6 AND id = ?7
        """)
    static let insertReplyDelta = Rows.insert("reply_deltas", Rows.deltaColumns)
    static let lastReplyDelta = S("""
        SELECT \(Rows.deltaColumns) FROM reply_deltas WHERE tenant_id = ?1 AND message_id = ?2 ORDER BY idx DESC LIMIT 1
        """)
    static let replyDelta = S("""
        SELECT \(Rows.deltaColumns) FROM reply_deltas WHERE tenant_id = ?1 AND message_id = ?2 AND idx = ?3
        """)
    static let replyDeltas = S("""
        SELECT \(Rows.deltaColumns) FROM reply_deltas WHERE tenant_id = ?1 AND message_id = ?2 AND idx >= ?3
        ORDER BY idx LIMIT ?4
        """)
    static let sessionStreamingReplies = S("""
        SELECT \(Rows.messageColumns) FROM messages
        WHERE tenant_id = ?1 AND agent_session_id = ?2 AND stream_state = 'streaming'
        ORDER BY room_seq
        """)
    static let streamingReplies = S("""
        SELECT \(Rows.messageColumns) FROM messages WHERE stream_state = 'streaming' ORDER BY tenant_id, room_seq LIMIT ?1
        """)
    /// Deltas of replies that finished before ?1 (the table holds only streaming and recently finished replies).
    static let dropReplyDeltas = S("""
        DELETE FROM reply_deltas WHERE EXISTS (
            SELECT 1 FROM messages m WHERE m.tenant_id = reply_deltas.tenant_id AND m.id = reply_deltas.message_id
              AND m.stream_finished_at < ?1)
        """)
    static let insertToolCall = Rows.insert("tool_calls", Rows.toolCallColumns)
    static let setToolCallResult = S("""
        UPDATE tool_calls SET result_message_id = ?1 WHERE tenant_id = ?2 AND session_id = ?3 AND call_id = ?4
        """)
    static let turnState = S("SELECT \(Rows.turnStateColumns) FROM turn_states WHERE tenant_id = ?1 AND message_id = ?2")
    static let upsertTurnState = Rows.insert("turn_states", Rows.turnStateColumns, """
        ON CONFLICT (tenant_id, message_id) DO UPDATE SET outcome = excluded.outcome,
            continuation_id = excluded.continuation_id, settled_at = excluded.settled_at
        """)

    static let nextRoomSeq = nextSeq("last_event_seq = last_event_seq + 1")
    static let nextMessageSeq = nextSeq("last_event_seq = last_event_seq + 1, last_message_at = ?3")

    /// A room's seq counted up (with `set`), returning the new seq; in SQLite read back after the update.
    private static func nextSeq(_ set: String) -> SQLStatement {
        let update = "UPDATE rooms SET \(set) WHERE tenant_id = ?1 AND id = ?2"
        return S(update + " RETURNING last_event_seq", deferral: .independent)
            .returningInSQLite(.reread(update: update, select: "SELECT last_event_seq FROM rooms WHERE tenant_id = ?1 AND id = ?2"))
    }
    /// A room's counters as the transaction counted them (engines that defer writes: one update per room and
    /// batch, see `SQLTransaction.nextSeq`).
    static let setRoomCounters = S("""
        UPDATE rooms SET last_event_seq = ?3, last_message_at = ?4:int WHERE tenant_id = ?1 AND id = ?2
        """, deferral: .buffered(table: "rooms", prefix: "", width: 4, suffix: ""))
    /// Buffered: an engine that defers it assigns the event ids when it writes the batch's events (see
    /// `SQLTransaction.appendEvent`).
    static let appendEvent = Rows.insert("room_events", Rows.eventColumns, "RETURNING event_id", buffered: true)
        .returningInSQLite(.rowid(insert: Rows.insert("room_events", Rows.eventColumns).sqlite))
    static let roomEvents = S("""
        SELECT \(Rows.eventColumns), event_id FROM room_events WHERE tenant_id = ?1 AND room_id = ?2 AND seq > ?3
        ORDER BY seq LIMIT ?4
        """)
    static let tenantEvents = S("""
        SELECT \(Rows.eventColumns), event_id FROM room_events WHERE tenant_id = ?1 AND event_id > ?2
        ORDER BY event_id LIMIT ?3
        """)
    static let oldestRetainedSeq = S("SELECT min(seq) FROM room_events WHERE tenant_id = ?1 AND room_id = ?2")
    static let purgedThroughEventId = S("SELECT purged_through_event_id FROM event_log_state WHERE tenant_id = ?1")
    static let headEventId = S("SELECT max(event_id) FROM room_events WHERE tenant_id = ?1")
    static let markPurged = S("""
        INSERT INTO event_log_state (tenant_id, purged_through_event_id)
        SELECT tenant_id, max(event_id) FROM room_events WHERE created_at < ?1 GROUP BY tenant_id
        ON CONFLICT (tenant_id) DO UPDATE SET purged_through_event_id = CASE
            WHEN excluded.purged_through_event_id > event_log_state.purged_through_event_id
            THEN excluded.purged_through_event_id ELSE event_log_state.purged_through_event_id END
        """)
    static let purgeEvents = S("DELETE FROM room_events WHERE created_at < ?1")

    // MARK: Data lifecycle (SPEC §14)

    /// `column IN` the JSON array of text parameter `?n`, in each engine's JSON functions.
    static func inJSONArray(_ column: String, _ n: Int) -> (sqlite: String, postgres: String) {
        ("\(column) IN (SELECT value FROM json_each(?\(n)))",
         // Typed as text first: the driver sends the list as text, which jsonb's binary input does not read.
         "\(column) IN (SELECT jsonb_array_elements_text(?\(n):text::jsonb))")
    }

    /// A statement whose only engine difference is `inJSONArray` (written `{ids}` in `template`).
    static func withIds(_ template: String, column: String, parameter: Int) -> SQLStatement {
        let list = inJSONArray(column, parameter)
        return S(sqlite: template.replacingOccurrences(of: "{ids}", with: list.sqlite),
                 postgres: template.replacingOccurrences(of: "{ids}", with: list.postgres))
    }

    static let retentionDays = S("""
        SELECT message_retention_days FROM retention_policies WHERE tenant_id = ?1 AND room_id = ?2
        """)
    static let setRetentionDays = S("""
        INSERT INTO retention_policies (tenant_id, room_id, message_retention_days, updated_at) VALUES (?1, ?2, ?3, ?4)
        ON CONFLICT (tenant_id, room_id) DO UPDATE SET message_retention_days = excluded.message_retention_days,
            updated_at = excluded.updated_at
        """)
    static let deleteRetention = S("DELETE FROM retention_policies WHERE tenant_id = ?1 AND room_id = ?2")
    /// Rooms (not deleted) whose effective policy keeps messages for a limited time: their own, else the tenant's.
    static let roomsWithRetention = S("""
        SELECT r.tenant_id, r.id, coalesce(rp.message_retention_days, tp.message_retention_days) FROM rooms r
        LEFT JOIN retention_policies rp ON rp.tenant_id = r.tenant_id AND rp.room_id = r.id
        LEFT JOIN retention_policies tp ON tp.tenant_id = r.tenant_id AND tp.room_id = ''
        WHERE r.status <> 'deleted' AND coalesce(rp.message_retention_days, tp.message_retention_days, 0) > 0
          AND (rp.tenant_id IS NOT NULL OR tp.tenant_id IS NOT NULL)
        ORDER BY r.tenant_id, r.id
        """)
    static let expiredMessages = S("""
        SELECT id FROM messages WHERE tenant_id = ?1 AND created_at < ?3 AND room_id = ?2
        ORDER BY created_at, id LIMIT ?4
        """)
    /// The rows that hang off messages about to be deleted, then the messages (?1 tenant, ?2 room, ?3 the ids).
    static let purgeMessageRows: [SQLStatement] = [
        withIds("DELETE FROM message_versions WHERE tenant_id = ?1 AND {ids}", column: "message_id", parameter: 3),
        withIds("DELETE FROM reactions WHERE tenant_id = ?1 AND {ids}", column: "message_id", parameter: 3),
        withIds("DELETE FROM reply_deltas WHERE tenant_id = ?1 AND {ids}", column: "message_id", parameter: 3),
        withIds("DELETE FROM turn_states WHERE tenant_id = ?1 AND {ids}", column: "message_id", parameter: 3),
        withIds("DELETE FROM tool_calls WHERE tenant_id = ?1 AND {ids}", column: "call_message_id", parameter: 3),
        withIds("UPDATE tool_calls SET result_message_id = NULL WHERE tenant_id = ?1 AND {ids}",
                column: "result_message_id", parameter: 3),
        withIds("UPDATE threads SET root_message_id = NULL WHERE tenant_id = ?1 AND room_id = ?2 AND {ids}",
                column: "root_message_id", parameter: 3),
        withIds("UPDATE messages SET reply_to_message_id = NULL WHERE tenant_id = ?1 AND {ids}",
                column: "reply_to_message_id", parameter: 3),
        // Counters keep counting what was posted: the purged part is recorded beside them.
        withIds("""
            UPDATE threads SET purged_count = purged_count + (
                SELECT count(*) FROM messages m WHERE m.tenant_id = threads.tenant_id AND m.thread_id = threads.id
                  AND {ids})
            WHERE tenant_id = ?1 AND room_id = ?2 AND id IN (
                SELECT m.thread_id FROM messages m WHERE m.tenant_id = ?1 AND m.thread_id IS NOT NULL AND {ids})
            """, column: "m.id", parameter: 3),
        withIds("""
            UPDATE agent_sessions SET purged_count = purged_count + (
                SELECT count(*) FROM messages m WHERE m.tenant_id = agent_sessions.tenant_id
                  AND m.agent_session_id = agent_sessions.id AND {ids})
            WHERE tenant_id = ?1 AND room_id = ?2 AND id IN (
                SELECT m.agent_session_id FROM messages m WHERE m.tenant_id = ?1 AND m.agent_session_id IS NOT NULL AND {ids})
            """, column: "m.id", parameter: 3),
        // Their events stay (the log is gap-free) without the content they carried.
        withIds("UPDATE room_events SET payload = NULL WHERE tenant_id = ?1 AND room_id = ?2 AND {ids}",
                column: "subject_id", parameter: 3),
    ]
    static let deleteMessages = withIds("DELETE FROM messages WHERE tenant_id = ?1 AND room_id = ?2 AND {ids}",
                                        column: "id", parameter: 3)
    // Export: ?1 tenant, ?2 a room (or NULL), ?3 a profile (or NULL), then the page's position and size.
    private static let inRoom = "(?2:text IS NULL OR room_id = ?2:text)"
    private static let sessionsInScope = """
        SELECT id FROM agent_sessions WHERE tenant_id = ?1 AND (?2:text IS NULL OR room_id = ?2:text)
          AND (?3:text IS NULL OR participant_profile_id = ?3:text)
        """
    private static let messagesInScope = """
        tenant_id = ?1 AND \(inRoom) AND (?3:text IS NULL OR sender_profile_id = ?3:text OR agent_session_id IN (
            SELECT id FROM agent_sessions WHERE tenant_id = ?1 AND participant_profile_id = ?3:text))
        """
    static let exportRooms = S("""
        SELECT \(Rows.roomColumns) FROM rooms WHERE tenant_id = ?1 AND (?2:text IS NULL OR id = ?2:text)
          AND (?3:text IS NULL OR id IN (SELECT room_id FROM participants WHERE tenant_id = ?1 AND profile_id = ?3:text))
          AND id > ?4 ORDER BY id LIMIT ?5
        """)
    static let exportParticipants = S("""
        SELECT \(Rows.participantColumns) FROM participants WHERE tenant_id = ?1 AND \(inRoom)
          AND (?3:text IS NULL OR profile_id = ?3:text) AND (room_id, profile_id) > (?4, ?5)
        ORDER BY room_id, profile_id LIMIT ?6
        """)
    static let exportThreads = S("""
        SELECT \(Rows.threadColumns) FROM threads WHERE tenant_id = ?1 AND \(inRoom) AND ?3:text IS NULL AND id > ?4
        ORDER BY id LIMIT ?5
        """)
    static let exportMessages = S("""
        SELECT \(Rows.messageColumns) FROM messages WHERE \(messagesInScope)
          AND (room_id, room_seq) > (?4, ?5) ORDER BY room_id, room_seq LIMIT ?6
        """)
    static let exportVersions = withIds("""
        SELECT message_id, version, content, edited_at FROM message_versions WHERE tenant_id = ?1 AND {ids}
        ORDER BY message_id, version
        """, column: "message_id", parameter: 2)
    static let exportReactions = S("""
        SELECT pk, \(Rows.reactionColumns) FROM reactions WHERE tenant_id = ?1 AND \(inRoom)
          AND (?3:text IS NULL OR profile_id = ?3:text) AND pk > ?4 ORDER BY pk LIMIT ?5
        """)
    static let exportSessions = S("""
        SELECT \(Rows.sessionColumns) FROM agent_sessions WHERE id IN (\(sessionsInScope)) AND tenant_id = ?1 AND id > ?4
        ORDER BY id LIMIT ?5
        """)
    /// A call with the tool data of its call and result messages.
    static let exportToolCalls = S("""
        SELECT \(Rows.qualified(Rows.toolCallColumns, "c")), cm.tool_call, rm.tool_call FROM tool_calls c
          JOIN messages cm ON cm.tenant_id = c.tenant_id AND cm.id = c.call_message_id
          LEFT JOIN messages rm ON rm.tenant_id = c.tenant_id AND rm.id = c.result_message_id
        WHERE c.tenant_id = ?1 AND c.session_id IN (\(sessionsInScope))
          AND (c.session_id, c.call_id) > (?4, ?5) ORDER BY c.session_id, c.call_id LIMIT ?6
        """)
    static let exportTurnStates = S("""
        SELECT \(Rows.turnStateColumns) FROM turn_states WHERE tenant_id = ?1
          AND message_id IN (SELECT id FROM messages WHERE \(messagesInScope)) AND message_id > ?4
        ORDER BY message_id LIMIT ?5
        """)
    static let insertExport = S("""
        INSERT INTO exports (export_id, tenant_id, scope, subject, created_at, expires_at, chunks, bytes)
        VALUES (?1, ?2, ?3, ?4, ?5, ?6, 0, 0)
        """)
    static let insertExportChunk = S("INSERT INTO export_chunks (export_id, chunk, data) VALUES (?1, ?2, ?3)")
    static let finishExport = S("UPDATE exports SET chunks = ?2, bytes = ?3 WHERE export_id = ?1")
    static let exportChunk = S("""
        SELECT e.chunks, c.data FROM exports e LEFT JOIN export_chunks c ON c.export_id = e.export_id AND c.chunk = ?3
        WHERE e.export_id = ?1 AND e.tenant_id = ?2 AND e.expires_at > ?4
        """)
    static let dropExpiredExports = S("DELETE FROM exports WHERE expires_at <= ?1")
    static let anyChatData = S("SELECT 1 FROM rooms LIMIT 1")
    static let markLogTrimmed = S("""
        INSERT INTO event_log_state (tenant_id, purged_through_event_id) VALUES (?1, 0) ON CONFLICT (tenant_id) DO NOTHING
        """)
    static let setThreadRoot = S("UPDATE threads SET root_message_id = ?3 WHERE tenant_id = ?1 AND id = ?2")
    static let setRoomSeq = S("UPDATE rooms SET last_event_seq = ?3 WHERE tenant_id = ?1 AND id = ?2")
    static let setPurgedCounts: [SQLStatement] = [
        S("""
          UPDATE threads SET purged_count = message_count - (SELECT count(*) FROM messages m
              WHERE m.tenant_id = threads.tenant_id AND m.thread_id = threads.id) WHERE tenant_id = ?1
          """),
        S("""
          UPDATE agent_sessions SET purged_count = message_count - (SELECT count(*) FROM messages m
              WHERE m.tenant_id = agent_sessions.tenant_id AND m.agent_session_id = agent_sessions.id) WHERE tenant_id = ?1
          """),
        S("""
          INSERT INTO room_purges (tenant_id, room_id, purged_count, purged_before)
          SELECT r.tenant_id, r.id, 0, 0 FROM rooms r WHERE r.tenant_id = ?1 AND r.last_message_at IS DISTINCT FROM
              (SELECT max(created_at) FROM messages m WHERE m.tenant_id = r.tenant_id AND m.room_id = r.id)
          ON CONFLICT (tenant_id, room_id) DO NOTHING
          """),
    ]

    // Erasure: ?1 tenant, ?2 profile.
    /// The profile's messages and every message of the sessions it is the participant of: (id, room).
    static let messagesToErase = S("""
        SELECT id, room_id FROM messages WHERE tenant_id = ?1 AND (sender_profile_id = ?2 OR agent_session_id IN (
            SELECT id FROM agent_sessions WHERE tenant_id = ?1 AND participant_profile_id = ?2))
        ORDER BY room_id, room_seq
        """)
    static let sessionsOfParticipant = S("""
        SELECT \(Rows.sessionColumns) FROM agent_sessions WHERE tenant_id = ?1 AND participant_profile_id = ?2 ORDER BY pk
        """)
    /// Rooms where the profile has a participant row or a reaction.
    static let roomsWithProfileRows = S("""
        SELECT room_id FROM participants WHERE tenant_id = ?1 AND profile_id = ?2
        UNION SELECT room_id FROM reactions WHERE tenant_id = ?1 AND profile_id = ?2
        """)
    /// Tombstones (?3: the ids as a JSON array, ?4: now) and what hangs off them.
    static let eraseMessageRows: [SQLStatement] = [
        withIds("DELETE FROM message_versions WHERE tenant_id = ?1 AND {ids}", column: "message_id", parameter: 3),
        withIds("DELETE FROM reactions WHERE tenant_id = ?1 AND {ids}", column: "message_id", parameter: 3),
        withIds("DELETE FROM reply_deltas WHERE tenant_id = ?1 AND {ids}", column: "message_id", parameter: 3),
        withIds("DELETE FROM turn_states WHERE tenant_id = ?1 AND {ids}", column: "message_id", parameter: 3),
    ]
    static let eraseMessages = withIds("""
        UPDATE messages SET content = '', attachments = '[]', metadata = '{}', tool_call = NULL,
            deleted_at = coalesce(deleted_at, ?2), erased_at = ?2
        WHERE tenant_id = ?1 AND {ids}
        """, column: "id", parameter: 3)
    static let eraseProfileRows: [SQLStatement] = [
        S("DELETE FROM reactions WHERE tenant_id = ?1 AND profile_id = ?2"),
        S("DELETE FROM participants WHERE tenant_id = ?1 AND profile_id = ?2"),
        S("DELETE FROM thread_reads WHERE tenant_id = ?1 AND profile_id = ?2"),
        S("""
          UPDATE agent_sessions SET system_prompt = '', session_context = '{}', session_key = NULL
          WHERE tenant_id = ?1 AND participant_profile_id = ?2
          """),
        S("""
          UPDATE tool_calls SET decision_reason = NULL WHERE tenant_id = ?1 AND session_id IN (
              SELECT id FROM agent_sessions WHERE tenant_id = ?1 AND participant_profile_id = ?2)
          """),
        S("DELETE FROM replay_cache WHERE tenant_id = ?1 AND actor_profile_id = ?2"),
    ]
    /// Exports made before an erasure may hold the erased data.
    static let deleteTenantExports = S("DELETE FROM exports WHERE tenant_id = ?1")
    /// Events the profile acted in or that are about it, its messages (?3) or its sessions (?4), and in its sessions'
    /// rooms (?5) the events of their tool calls (?6: call ids are unique only within a session).
    static let redactProfileEvents: SQLStatement = {
        let messages = inJSONArray("subject_id", 3), sessions = inJSONArray("subject_id", 4)
        let rooms = inJSONArray("room_id", 5), calls = inJSONArray("subject_id", 6)
        func render(_ m: String, _ s: String, _ r: String, _ c: String) -> String {
            """
            UPDATE room_events SET payload = NULL WHERE tenant_id = ?1 AND payload IS NOT NULL
              AND (actor_profile_id = ?2 OR subject_id = ?2 OR \(m) OR \(s) OR (\(r) AND \(c)))
            """
        }
        return S(sqlite: render(messages.sqlite, sessions.sqlite, rooms.sqlite, calls.sqlite),
                 postgres: render(messages.postgres, sessions.postgres, rooms.postgres, calls.postgres))
    }()
    /// Stored responses that carry a session's data (its id is in every message of it): ?1 tenant, ?2 session id.
    static let deleteSessionReplays = S(
        sqlite: "DELETE FROM replay_cache WHERE tenant_id = ?1 AND instr(response, CAST(?2 AS BLOB)) > 0",
        postgres: "DELETE FROM replay_cache WHERE tenant_id = ?1 AND position(convert_to(?2, 'UTF8') in response) > 0")
    static let callIdsOfSession = S("SELECT call_id FROM tool_calls WHERE tenant_id = ?1 AND session_id = ?2")

    static let recordPurge = S("""
        INSERT INTO room_purges (tenant_id, room_id, purged_count, purged_before) VALUES (?1, ?2, ?3, ?4)
        ON CONFLICT (tenant_id, room_id) DO UPDATE SET purged_count = room_purges.purged_count + excluded.purged_count,
            purged_before = CASE WHEN excluded.purged_before > room_purges.purged_before
                THEN excluded.purged_before ELSE room_purges.purged_before END
        """)

    static let apiKey = S("SELECT \(Rows.apiKeyColumns) FROM api_keys WHERE key_id = ?1", deferral: .independent)
    static let apiKeyIsActive = S("SELECT revoked_at IS NULL FROM api_keys WHERE key_id = ?1", deferral: .independent)
    static let insertApiKey = Rows.insert("api_keys", Rows.apiKeyColumns)
    static let apiKeys = S("SELECT \(Rows.apiKeyColumns) FROM api_keys ORDER BY created_at, key_id")
    static let revokeApiKey = S("UPDATE api_keys SET revoked_at = coalesce(revoked_at, ?1) WHERE key_id = ?2")
    /// Independent: the entries this transaction recorded are found in memory first (`SQLTransaction.replayEntry`).
    static let replayEntry = S("SELECT \(Rows.replayColumns) FROM replay_cache WHERE key_id = ?1 AND request_id = ?2",
                               deferral: .independent)
    static let insertReplayEntry = Rows.insert("replay_cache", Rows.replayInsertColumns, "ON CONFLICT (key_id, request_id) DO NOTHING",
                                               buffered: true)
    /// A key's activity and one of its calls' records (?1 key, ?2 request id): no row for an unknown key.
    private static let callRecordSQL = """
        SELECT k.revoked_at IS NULL AS active, \(Rows.qualified(Rows.replayColumns, "c")) FROM api_keys k
        LEFT JOIN replay_cache c ON c.key_id = k.key_id AND c.request_id = ?2 WHERE k.key_id = ?1
        """
    static let callRecord = S(callRecordSQL, deferral: .independent)
    /// `callRecord` (?1, ?2) and `roomAndParticipant` (?3, ?4, ?5) in one statement, for a batch of one call:
    /// always one row, a side NULL when absent (an unknown key is inactive).
    static let callRecordAndRoom: SQLStatement = {
        var statement = S("""
            SELECT coalesce(a.active, 1 = 0), \(Rows.qualified(Rows.replayColumns, "a")), \(Rows.qualified(Rows.roomColumns, "r")), \(Rows.qualified(Rows.participantColumns, "p"))
            FROM (SELECT 1 AS one) o LEFT JOIN (\(callRecordSQL)) a ON true
            LEFT JOIN rooms r ON r.tenant_id = ?3 AND r.id = ?4
            LEFT JOIN participants p ON p.tenant_id = r.tenant_id AND p.room_id = r.id AND p.profile_id = ?5
            """, deferral: .independent)
        statement.postgresLocking = SQLStatement.render("""
            SELECT coalesce(a.active, 1 = 0), \(Rows.qualified(Rows.replayColumns, "a")), r.*, p.* FROM (SELECT 1 AS one) o LEFT JOIN (\(callRecordSQL)) a ON true
            LEFT JOIN LATERAL (SELECT \(Rows.roomColumns) FROM rooms WHERE tenant_id = ?3 AND id = ?4 FOR NO KEY UPDATE) r ON true
            LEFT JOIN LATERAL (SELECT \(Rows.participantColumns) FROM participants
                               WHERE tenant_id = ?3 AND room_id = ?4 AND profile_id = ?5 FOR NO KEY UPDATE) p ON r.id IS NOT NULL
            """, .postgres)
        return statement
    }()
    static let purgeReplayEntries = S("DELETE FROM replay_cache WHERE created_at < ?1")
    static let appendAudit = Rows.insert("audit_log", Rows.auditColumns)
    static let eventLogBounds = S("SELECT min(event_id), max(event_id) FROM room_events")
    static let auditEntries = S("""
        SELECT id, \(Rows.auditColumns) FROM audit_log WHERE at >= ?1 AND id > ?2 ORDER BY id LIMIT ?3
        """)
}
