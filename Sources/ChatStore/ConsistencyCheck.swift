import ChatCore
import GRDB

extension SQLiteStorage {
    /// Checks the file and the invariants of the write path on a snapshot.
    public func checkConsistency() throws -> ConsistencyReport {
        try pool.read { db in
            let integrity = try String.fetchAll(db, sql: "PRAGMA integrity_check").joined(separator: "; ")
            var problems: [String] = []
            func collect(_ label: String, _ sql: String) throws {
                for row in try Row.fetchAll(db, sql: sql) {
                    problems.append("\(label): " + row.columnNames.map { "\($0)=\(row[$0] ?? "null")" }.joined(separator: " "))
                }
            }
            try collect("room seq", """
                SELECT r.tenant_id, r.id, r.last_event_seq, e.lo, e.hi, e.n FROM rooms r
                LEFT JOIN (SELECT tenant_id, room_id, min(seq) lo, max(seq) hi, count(*) n FROM room_events
                           GROUP BY tenant_id, room_id) e ON e.tenant_id = r.tenant_id AND e.room_id = r.id
                WHERE (e.n IS NULL AND r.last_event_seq != 0 AND NOT EXISTS (SELECT 1 FROM event_log_state))
                   OR (e.n IS NOT NULL AND (e.hi != r.last_event_seq OR e.n != e.hi - e.lo + 1))
                """)
            try collect("message without its event", """
                SELECT m.id, m.room_id, m.room_seq FROM messages m
                WHERE NOT EXISTS (SELECT 1 FROM event_log_state)
                  AND NOT EXISTS (SELECT 1 FROM room_events e WHERE e.tenant_id = m.tenant_id AND e.room_id = m.room_id
                                  AND e.seq = m.room_seq AND e.kind = 'MESSAGE_CREATED' AND e.subject_id = m.id)
                """)
            try collect("message never indexed for search", "SELECT pk FROM messages_fts_pending")
            try collect("thread counters", """
                SELECT t.id, t.message_count, t.participant_count,
                       (SELECT count(*) FROM messages m WHERE m.tenant_id = t.tenant_id AND m.thread_id = t.id) AS messages,
                       (SELECT count(*) FROM thread_senders s WHERE s.tenant_id = t.tenant_id AND s.thread_id = t.id) AS senders
                FROM threads t WHERE t.message_count != messages OR t.participant_count != senders
                """)
            try collect("session counters", """
                SELECT s.id, s.message_count,
                       (SELECT count(*) FROM messages m WHERE m.tenant_id = s.tenant_id AND m.agent_session_id = s.id) AS messages
                FROM agent_sessions s WHERE s.message_count != messages
                """)
            try collect("room last_message_at", """
                SELECT r.id, r.last_message_at,
                       (SELECT max(created_at) FROM messages m WHERE m.tenant_id = r.tenant_id AND m.room_id = r.id) AS newest
                FROM rooms r WHERE r.last_message_at IS NOT newest
                """)
            return ConsistencyReport(integrity: integrity, problems: problems)
        }
    }
}
