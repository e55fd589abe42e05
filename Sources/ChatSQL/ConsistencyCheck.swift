import ChatCore

/// The invariants of the write path, checked on one snapshot by `smrt-chatd check` on either engine:
/// gap-free room seqs matching their events, every message's event, exact thread and session counters,
/// and each room's last message time. Each query returns one line per problem.
package enum ConsistencyCheck {
    static let checks: [(label: String, statement: SQLStatement)] = [
        ("room seq", SQLStatement("""
            SELECT 'tenant=' || r.tenant_id || ' room=' || r.id || ' last_event_seq=' || r.last_event_seq
                   || ' events=' || coalesce(e.lo || '..' || e.hi || ' (' || e.n || ')', 'none')
            FROM rooms r
            LEFT JOIN (SELECT tenant_id, room_id, min(seq) lo, max(seq) hi, count(*) n FROM room_events
                       GROUP BY tenant_id, room_id) e ON e.tenant_id = r.tenant_id AND e.room_id = r.id
            WHERE (e.n IS NULL AND r.last_event_seq <> 0 AND NOT EXISTS (SELECT 1 FROM event_log_state))
               OR (e.n IS NOT NULL AND (e.hi <> r.last_event_seq OR e.n <> e.hi - e.lo + 1))
            """)),
        ("message without its event", SQLStatement("""
            SELECT 'message=' || m.id || ' room=' || m.room_id || ' room_seq=' || m.room_seq FROM messages m
            WHERE NOT EXISTS (SELECT 1 FROM event_log_state)
              AND NOT EXISTS (SELECT 1 FROM room_events e WHERE e.tenant_id = m.tenant_id AND e.room_id = m.room_id
                              AND e.seq = m.room_seq AND e.kind = 'MESSAGE_CREATED' AND e.subject_id = m.id)
            """)),
        ("thread counters", SQLStatement("""
            SELECT 'thread=' || c.id || ' message_count=' || c.message_count || ' messages=' || c.messages
                   || ' participant_count=' || c.participant_count || ' senders=' || c.senders
            FROM (SELECT t.id, t.message_count, t.participant_count,
                  t.purged_count + (SELECT count(*) FROM messages m WHERE m.tenant_id = t.tenant_id AND m.thread_id = t.id)
                    AS messages,
                  (SELECT count(*) FROM thread_senders s WHERE s.tenant_id = t.tenant_id AND s.thread_id = t.id) AS senders
                  FROM threads t) c
            WHERE c.message_count <> c.messages OR c.participant_count <> c.senders
            """)),
        ("session counters", SQLStatement("""
            SELECT 'session=' || c.id || ' message_count=' || c.message_count || ' messages=' || c.messages
            FROM (SELECT s.id, s.message_count,
                  s.purged_count + (SELECT count(*) FROM messages m WHERE m.tenant_id = s.tenant_id
                                    AND m.agent_session_id = s.id) AS messages
                  FROM agent_sessions s) c
            WHERE c.message_count <> c.messages
            """)),
        ("room last_message_at", SQLStatement("""
            SELECT 'room=' || c.id || ' last_message_at=' || coalesce(c.last_message_at || '', 'null')
                   || ' newest=' || coalesce(c.newest || '', 'null')
            FROM (SELECT r.id, r.last_message_at,
                  (SELECT max(created_at) FROM messages m WHERE m.tenant_id = r.tenant_id AND m.room_id = r.id) AS newest,
                  EXISTS (SELECT 1 FROM room_purges p WHERE p.tenant_id = r.tenant_id AND p.room_id = r.id) AS purged
                  FROM rooms r) c
            WHERE c.last_message_at IS DISTINCT FROM c.newest AND NOT c.purged
            """)),
    ]

    /// Every problem found, as "label: details" lines (empty when consistent).
    package static func problems(_ connection: any SQLConnection) throws -> [String] {
        var problems: [String] = []
        for check in checks {
            try connection.query(check.statement, []) { problems.append("\(check.label): " + (try $0.text(0))) }
        }
        return problems
    }
}
