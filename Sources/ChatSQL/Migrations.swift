import ChatCore
import Foundation

/// The schema as one ordered list of named, append-only migrations for both engines, DDL written once
/// with the dialect's types; engine-specific statements only where the engines really differ (full-text
/// search, JSON functions). Never edit a migration that has shipped: add one.
///
/// By design: rowid keys are `INTEGER PRIMARY KEY` on SQLite and `bigint` identities on PostgreSQL, 0/1 flags
/// are checked integers on SQLite and `boolean` on PostgreSQL, JSON columns are text checked to parse, and
/// search is FTS5 (indexed once per commit, `v3`) on SQLite and a generated `tsvector` with a GIN index on
/// PostgreSQL.
package enum Migrations {
    package struct Migration: Sendable {
        package let name: String
        package let statements: @Sendable (SQLDialect) -> [String]
    }

    package static let all: [Migration] = [
        Migration(name: "v1-chat-core", statements: v1),
        Migration(name: "v2-rpc-service", statements: v2),
        Migration(name: "v3-deferred-fts") { $0 == .sqlite ? deferredFTS : [] },
        Migration(name: "v4-redact-session-events") { [redactSessionEvents($0)] },
        Migration(name: "v5-audit-log", statements: auditLog),
        Migration(name: "v6-streams-and-approvals", statements: streamsAndApprovals),
        Migration(name: "v7-data-lifecycle", statements: dataLifecycle),
        Migration(name: "v8-unread-roots") { _ in [unreadRoots] },
        Migration(name: "v9-check-lists") { $0 == .sqlite ? listChecksAsComparisons : [] },
    ]

    /// SQLite runs `column IN (a, b, c…)` with more than two constants by building a temporary b-tree of the list,
    /// once per run of the statement: every insert of a row whose table checks such a list paid for it, ~8 µs for the
    /// 35 event kinds a send's event is checked against, ~2 µs for each of its message's three lists. v9 rewrites each
    /// such list of the earlier migrations' table definitions as `(column = a OR column = b …)`: the same rule (a NULL
    /// passes both) at one comparison per value. SQLite keeps a table's constraints only in the text of its
    /// definition, and changing a CHECK constraint is done there (`writable_schema`, as SQLite's documentation on
    /// table changes describes for constraints): no row is rewritten, and every row met the old rule, so it meets
    /// this one. The text is matched exactly as the earlier migrations wrote it (SQLite keeps that text, and appends
    /// an added column's definition as written). PostgreSQL evaluates such lists as arrays: unchanged there.
    static let listChecksAsComparisons: [String] = {
        var replacements: [(table: String, old: String, new: String)] = []
        for statement in all.prefix(while: { $0.name != "v9-check-lists" }).flatMap({ $0.statements(.sqlite) }) {
            guard let table = statement.firstMatch(of: /^\s*(?:CREATE TABLE|ALTER TABLE) (\w+)/)?.1 else { continue }
            for list in statement.matches(of: /(\w+) IN \(((?:'\w+'|\d+)(?:, ?(?:'\w+'|\d+))*)\)/) {
                let values = list.2.split(separator: ",").map { $0.trimmingCharacters(in: .whitespaces) }
                guard values.count > 2 else { continue }
                let comparisons = values.map { "\(list.1) = \($0)" }.joined(separator: " OR ")
                replacements.append((String(table), String(list.0), "(\(comparisons))"))
            }
        }
        func quoted(_ text: String) -> String { "'" + text.replacingOccurrences(of: "'", with: "''") + "'" }
        return ["PRAGMA writable_schema = ON"] + replacements.map { r in
            "UPDATE sqlite_schema SET sql = replace(sql, \(quoted(r.old)), \(quoted(r.new))) WHERE type = 'table' AND name = \(quoted(r.table))"
        } + [
            // RESET: writing off, and this connection parses the new text now (its statements ran on the old one).
            "PRAGMA writable_schema = RESET",
            // A change of the schema's version makes every other connection parse it again too.
            "CREATE TABLE v9_schema_reload (x INTEGER)",
            "DROP TABLE v9_schema_reload",
        ]
    }()

    /// The room's unread count (`Catalog.unreadCount`) walks only root messages that are not deleted: through the room's
    /// seq index it also stepped over every thread reply and deleted message after the cursor, so a flood of thread
    /// replies slowed every member's GetRoom however low the count's cap. `thread_id` and `deleted_at` (always NULL
    /// here) make it a covering index: the count reads no table row.
    static let unreadRoots = """
        CREATE INDEX messages_unread_roots ON messages(tenant_id, room_id, room_seq, sender_profile_id, thread_id, deleted_at)
            WHERE thread_id IS NULL AND deleted_at IS NULL
        """

    /// SPEC §14: retention policies (a tenant default under room id '', per-room overrides), what purges removed
    /// (so counters stay exact: a thread's or session's message_count counts purged messages too), erased
    /// tombstones, and exports kept as NDJSON chunks until they expire.
    static func dataLifecycle(_ d: SQLDialect) -> [String] {
        [
            """
            CREATE TABLE retention_policies (
                tenant_id TEXT NOT NULL,
                room_id TEXT NOT NULL,
                message_retention_days \(d.int) NOT NULL CHECK (message_retention_days >= 0),
                updated_at \(d.int) NOT NULL,
                PRIMARY KEY (tenant_id, room_id)
            )\(d.withoutRowid)
            """,
            """
            CREATE TABLE room_purges (
                tenant_id TEXT NOT NULL,
                room_id TEXT NOT NULL,
                purged_count \(d.int) NOT NULL,
                purged_before \(d.int) NOT NULL,
                PRIMARY KEY (tenant_id, room_id)
            )\(d.withoutRowid)
            """,
            "ALTER TABLE threads ADD COLUMN purged_count \(d.int) NOT NULL DEFAULT 0",
            "ALTER TABLE agent_sessions ADD COLUMN purged_count \(d.int) NOT NULL DEFAULT 0",
            "ALTER TABLE messages ADD COLUMN erased_at \(d.int)",
            // Whose call a stored response answered: erasure deletes the stored responses of a profile's calls.
            "ALTER TABLE replay_cache ADD COLUMN tenant_id TEXT",
            "ALTER TABLE replay_cache ADD COLUMN actor_profile_id TEXT",
            """
            CREATE TABLE exports (
                export_id TEXT PRIMARY KEY NOT NULL,
                tenant_id TEXT NOT NULL,
                scope TEXT NOT NULL CHECK (scope IN ('tenant','room','profile')),
                subject TEXT NOT NULL,
                created_at \(d.int) NOT NULL,
                expires_at \(d.int) NOT NULL,
                chunks \(d.int) NOT NULL,
                bytes \(d.int) NOT NULL
            )\(d.withoutRowid)
            """,
            "CREATE INDEX exports_by_expiry ON exports(expires_at)",
            """
            CREATE TABLE export_chunks (
                export_id TEXT NOT NULL,
                chunk \(d.int) NOT NULL,
                data TEXT NOT NULL,
                PRIMARY KEY (export_id, chunk),
                FOREIGN KEY (export_id) REFERENCES exports(export_id) ON DELETE CASCADE
            )\(d.withoutRowid)
            """,
        ]
    }

    /// SPEC §13: a streamed reply's state on its message and its deltas in their own table (a delta is one
    /// inserted row, never a rewrite of the message); a tool call's approval, claim and decision; a session's
    /// approval list and busy policy.
    static func streamsAndApprovals(_ d: SQLDialect) -> [String] {
        let states = StreamState.allCases.map { "'\($0.rawValue)'" }.joined(separator: ",")
        let approvals = ApprovalState.allCases.map { "'\($0.rawValue)'" }.joined(separator: ",")
        let policies = BusyPolicy.allCases.map { "'\($0.rawValue)'" }.joined(separator: ",")
        return [
            "ALTER TABLE messages ADD COLUMN stream_state TEXT CHECK (stream_state IN (\(states)))",
            "ALTER TABLE messages ADD COLUMN delta_count \(d.int) NOT NULL DEFAULT 0",
            "ALTER TABLE messages ADD COLUMN stream_stop_at \(d.int)",
            "ALTER TABLE messages ADD COLUMN stream_finished_at \(d.int)",
            // The idle job's and the busy check's scan: only streaming replies are in it.
            "CREATE INDEX messages_streaming ON messages(tenant_id, agent_session_id) WHERE stream_state = 'streaming'",
            "CREATE INDEX messages_stream_finished ON messages(stream_finished_at) WHERE stream_finished_at IS NOT NULL",
            """
            CREATE TABLE reply_deltas (
                tenant_id TEXT NOT NULL,
                message_id TEXT NOT NULL,
                idx \(d.int) NOT NULL CHECK (idx >= 0),
                text TEXT NOT NULL,
                content_length \(d.int) NOT NULL,
                created_at \(d.int) NOT NULL,
                PRIMARY KEY (tenant_id, message_id, idx),
                FOREIGN KEY (tenant_id, message_id) REFERENCES messages(tenant_id, id)
            )\(d.withoutRowid)
            """,
            "ALTER TABLE tool_calls ADD COLUMN approval_state TEXT CHECK (approval_state IN (\(approvals)))",
            "ALTER TABLE tool_calls ADD COLUMN requested_at \(d.int) NOT NULL DEFAULT 0",
            "ALTER TABLE tool_calls ADD COLUMN decided_by_profile_id TEXT",
            "ALTER TABLE tool_calls ADD COLUMN decision_reason TEXT",
            "ALTER TABLE tool_calls ADD COLUMN decided_at \(d.int)",
            "ALTER TABLE tool_calls ADD COLUMN claimed_at \(d.int)",
            "CREATE INDEX tool_calls_pending ON tool_calls(tenant_id, requested_at, session_id, call_id) WHERE approval_state = 'pending'",
            "ALTER TABLE agent_sessions ADD COLUMN approval_tools TEXT NOT NULL DEFAULT '[]' \(d.json("approval_tools"))",
            "ALTER TABLE agent_sessions ADD COLUMN busy_policy TEXT NOT NULL DEFAULT 'enqueue' CHECK (busy_policy IN (\(policies)))",
        ]
    }

    /// The audit trail: an append-only table (triggers refuse updates and deletes on both engines).
    static func auditLog(_ d: SQLDialect) -> [String] {
        let table = """
            CREATE TABLE audit_log (
                id \(d == .sqlite ? "INTEGER PRIMARY KEY AUTOINCREMENT" : d.pk),
                at \(d.int) NOT NULL,
                actor TEXT NOT NULL,
                action TEXT NOT NULL,
                tenant_id TEXT,
                subject TEXT,
                outcome TEXT NOT NULL CHECK (outcome IN (\(AuditEntry.Outcome.allCases.map { "'\($0.rawValue)'" }.joined(separator: ",")))),
                detail TEXT NOT NULL \(d.json("detail"))
            )
            """
        let index = "CREATE INDEX audit_log_by_time ON audit_log(at, id)"
        if d == .sqlite {
            return [table, index] + ["UPDATE", "DELETE"].map { operation in
                """
                CREATE TRIGGER audit_log_no_\(operation.lowercased()) BEFORE \(operation) ON audit_log BEGIN
                    SELECT RAISE(ABORT, 'audit_log is append-only');
                END
                """
            }
        }
        return [table, index, """
            CREATE FUNCTION audit_log_append_only() RETURNS trigger LANGUAGE plpgsql AS $$
            BEGIN RAISE EXCEPTION 'audit_log is append-only'; END $$
            """, """
            CREATE TRIGGER audit_log_append_only BEFORE UPDATE OR DELETE OR TRUNCATE ON audit_log
                FOR EACH STATEMENT EXECUTE FUNCTION audit_log_append_only()
            """]
    }

    /// SESSION_* events no longer carry the system prompt or the session context (the log reaches `events`
    /// keys, which may not read them): this empties both in the events written before.
    package static func redactSessionEvents(_ d: SQLDialect) -> String {
        d == .sqlite ? """
            UPDATE room_events
            SET payload = json_set(payload, '$.session._0.systemPrompt', '', '$.session._0.sessionContext', '')
            WHERE kind LIKE 'SESSION_%' AND json_type(payload, '$.session._0') = 'object'
            """ : """
            UPDATE room_events
            SET payload = jsonb_set(jsonb_set(payload::jsonb, '{session,_0,systemPrompt}', '""'),
                                    '{session,_0,sessionContext}', '""')::text
            WHERE kind LIKE 'SESSION_%' AND jsonb_typeof(payload::jsonb #> '{session,_0}') = 'object'
            """
    }

    /// Full-text indexing once per commit instead of once per operation (SQLite).
    ///
    /// Every operation of a group commit runs in a savepoint, and FTS5 writes its pending terms to a new
    /// index segment at every savepoint it takes part in: a segment per message, then merges, which cost
    /// more than everything else a send does. New and edited messages are queued in `messages_fts_pending`
    /// (an ordinary table, so a rolled-back savepoint drops its entry) and the write path indexes the queue
    /// once, after the batch's operations and before its commit, in the same transaction. A row still queued
    /// has nothing in the index to remove when it is edited or deleted.
    static let deferredFTS: [String] = [
        "CREATE TABLE messages_fts_pending (pk INTEGER PRIMARY KEY NOT NULL)",
        "DROP TRIGGER messages_fts_insert",
        "DROP TRIGGER messages_fts_delete",
        "DROP TRIGGER messages_fts_update",
        """
        CREATE TRIGGER messages_fts_insert AFTER INSERT ON messages BEGIN
            INSERT INTO messages_fts_pending(pk) VALUES (new.pk);
        END
        """,
        """
        CREATE TRIGGER messages_fts_delete AFTER DELETE ON messages BEGIN
            INSERT INTO messages_fts(messages_fts, rowid, content) SELECT 'delete', old.pk, old.content
                WHERE NOT EXISTS (SELECT 1 FROM messages_fts_pending WHERE pk = old.pk);
            DELETE FROM messages_fts_pending WHERE pk = old.pk;
        END
        """,
        """
        CREATE TRIGGER messages_fts_update AFTER UPDATE OF content ON messages BEGIN
            INSERT INTO messages_fts(messages_fts, rowid, content) SELECT 'delete', old.pk, old.content
                WHERE NOT EXISTS (SELECT 1 FROM messages_fts_pending WHERE pk = old.pk);
            INSERT OR IGNORE INTO messages_fts_pending(pk) VALUES (new.pk);
        END
        """,
    ]

    @Sendable static func v2(_ d: SQLDialect) -> [String] {
        [
            """
            CREATE TABLE api_keys (
                key_id TEXT PRIMARY KEY NOT NULL,
                secret \(d.blob) NOT NULL CHECK (\(d == .sqlite ? "length" : "octet_length")(secret) >= 16),
                tenants TEXT NOT NULL DEFAULT '[]' \(d.json("tenants")),
                all_tenants \(d.flag("all_tenants")),
                scopes TEXT NOT NULL \(d.json("scopes")),
                created_at \(d.int) NOT NULL,
                revoked_at \(d.int)
            )\(d.withoutRowid)
            """,
            """
            CREATE TABLE replay_cache (
                key_id TEXT NOT NULL,
                request_id TEXT NOT NULL,
                frame_hash \(d.blob) NOT NULL,
                response \(d.blob),
                created_at \(d.int) NOT NULL,
                PRIMARY KEY (key_id, request_id)
            )\(d.withoutRowid)
            """,
            "CREATE INDEX replay_cache_by_created ON replay_cache(created_at)",
        ]
    }

    @Sendable static func v1(_ d: SQLDialect) -> [String] {
        let int = d.int
        let search: [String] = d == .sqlite ? [
            """
            CREATE VIRTUAL TABLE messages_fts USING fts5(
                content, content='messages', content_rowid='pk', tokenize='unicode61 remove_diacritics 2')
            """,
            """
            CREATE TRIGGER messages_fts_insert AFTER INSERT ON messages BEGIN
                INSERT INTO messages_fts(rowid, content) VALUES (new.pk, new.content);
            END
            """,
            """
            CREATE TRIGGER messages_fts_delete AFTER DELETE ON messages BEGIN
                INSERT INTO messages_fts(messages_fts, rowid, content) VALUES ('delete', old.pk, old.content);
            END
            """,
            """
            CREATE TRIGGER messages_fts_update AFTER UPDATE OF content ON messages BEGIN
                INSERT INTO messages_fts(messages_fts, rowid, content) VALUES ('delete', old.pk, old.content);
                INSERT INTO messages_fts(rowid, content) VALUES (new.pk, new.content);
            END
            """,
        ] : [
            // PostgreSQL has no forward references in CREATE TABLE: the threads → messages key comes after.
            """
            ALTER TABLE threads ADD CONSTRAINT threads_root_message_fk
                FOREIGN KEY (tenant_id, root_message_id) REFERENCES messages(tenant_id, id)
            """,
            "CREATE INDEX messages_fts ON messages USING GIN (content_tsv)",
        ]
        return [
            """
            CREATE TABLE rooms (
                pk \(d.pk),
                id TEXT NOT NULL,
                tenant_id TEXT NOT NULL,
                name TEXT NOT NULL,
                description TEXT NOT NULL DEFAULT '',
                topic TEXT NOT NULL DEFAULT '',
                avatar_url TEXT NOT NULL DEFAULT '',
                room_type TEXT NOT NULL CHECK (room_type IN ('public','private','dm','agent')),
                status TEXT NOT NULL CHECK (status IN ('active','archived','deleted')),
                max_participants \(int) NOT NULL DEFAULT 0 CHECK (max_participants >= 0),
                metadata TEXT NOT NULL DEFAULT '{}' \(d.json("metadata")),
                created_by_profile_id TEXT NOT NULL,
                created_at \(int) NOT NULL,
                updated_at \(int) NOT NULL,
                last_message_at \(int),
                last_event_seq \(int) NOT NULL DEFAULT 0 CHECK (last_event_seq >= 0),
                UNIQUE (tenant_id, id)
            )
            """,
            "CREATE INDEX rooms_public ON rooms(tenant_id, room_type, status)",
            """
            CREATE TABLE participants (
                tenant_id TEXT NOT NULL,
                room_id TEXT NOT NULL,
                profile_id TEXT NOT NULL,
                role TEXT NOT NULL CHECK (role IN ('owner','admin','member','viewer')),
                status TEXT NOT NULL CHECK (status IN ('active','left','kicked','banned')),
                online_status TEXT NOT NULL DEFAULT 'offline' CHECK (online_status IN ('online','away','dnd','offline')),
                last_read_seq \(int) NOT NULL DEFAULT 0,
                last_read_message_id TEXT,
                last_seen_at \(int),
                joined_at \(int) NOT NULL,
                nickname TEXT NOT NULL DEFAULT '',
                is_muted \(d.flag("is_muted")),
                is_pinned \(d.flag("is_pinned")),
                PRIMARY KEY (tenant_id, room_id, profile_id),
                FOREIGN KEY (tenant_id, room_id) REFERENCES rooms(tenant_id, id)
            )\(d.withoutRowid)
            """,
            "CREATE INDEX participants_by_profile ON participants(tenant_id, profile_id, status)",
            """
            CREATE TABLE threads (
                pk \(d.pk),
                id TEXT NOT NULL,
                tenant_id TEXT NOT NULL,
                room_id TEXT NOT NULL,
                root_message_id TEXT,
                title TEXT NOT NULL DEFAULT '',
                started_by_profile_id TEXT NOT NULL,
                is_resolved \(d.flag("is_resolved")),
                resolved_at \(int),
                message_count \(int) NOT NULL DEFAULT 0 CHECK (message_count >= 0),
                participant_count \(int) NOT NULL DEFAULT 0 CHECK (participant_count >= 0),
                last_message_at \(int),
                created_at \(int) NOT NULL,
                UNIQUE (tenant_id, id),
                FOREIGN KEY (tenant_id, room_id) REFERENCES rooms(tenant_id, id)\(d == .sqlite ? """
                ,
                    FOREIGN KEY (tenant_id, root_message_id) REFERENCES messages(tenant_id, id)
                """ : "")
            )
            """,
            "CREATE INDEX threads_by_activity ON threads(tenant_id, room_id, coalesce(last_message_at, created_at), id)",
            """
            CREATE TABLE agent_sessions (
                pk \(d.pk),
                id TEXT NOT NULL,
                tenant_id TEXT NOT NULL,
                agent_id TEXT NOT NULL,
                agent_profile_id TEXT NOT NULL,
                participant_profile_id TEXT NOT NULL,
                room_id TEXT NOT NULL,
                status TEXT NOT NULL CHECK (status IN ('active','closed','expired')),
                inactive_reason TEXT CHECK (inactive_reason IS NULL
                    OR inactive_reason IN ('closed','expired','message_limit','token_limit')),
                allowed_tools TEXT NOT NULL DEFAULT '[]' \(d.json("allowed_tools")),
                system_prompt TEXT NOT NULL DEFAULT '',
                session_context TEXT NOT NULL DEFAULT '{}' \(d.json("session_context")),
                context_version \(int) NOT NULL DEFAULT 1 CHECK (context_version >= 1),
                session_key TEXT,
                message_count \(int) NOT NULL DEFAULT 0 CHECK (message_count >= 0),
                total_tokens_used \(int) NOT NULL DEFAULT 0 CHECK (total_tokens_used >= 0),
                max_tokens \(int) NOT NULL DEFAULT 0 CHECK (max_tokens >= 0),
                max_messages \(int) NOT NULL DEFAULT 0 CHECK (max_messages >= 0),
                expires_at \(int),
                last_message_at \(int),
                closed_at \(int),
                created_at \(int) NOT NULL,
                UNIQUE (tenant_id, id),
                FOREIGN KEY (tenant_id, room_id) REFERENCES rooms(tenant_id, id)
            )
            """,
            """
            CREATE UNIQUE INDEX agent_sessions_active_key ON agent_sessions(
                tenant_id, agent_id, participant_profile_id, coalesce(session_key, '')) WHERE status = 'active'
            """,
            "CREATE INDEX agent_sessions_by_participant ON agent_sessions(tenant_id, participant_profile_id, created_at)",
            "CREATE INDEX agent_sessions_active ON agent_sessions(tenant_id, status)",
            """
            CREATE TABLE messages (
                pk \(d.pk),
                id TEXT NOT NULL,
                tenant_id TEXT NOT NULL,
                room_id TEXT NOT NULL,
                thread_id TEXT,
                reply_to_message_id TEXT,
                agent_session_id TEXT,
                sender_profile_id TEXT NOT NULL,
                role TEXT NOT NULL CHECK (role IN ('user','assistant','system','tool')),
                message_type TEXT NOT NULL
                    CHECK (message_type IN ('text','system','action','file','tool_call','tool_result')),
                content TEXT NOT NULL,
                attachments TEXT NOT NULL DEFAULT '[]' \(d.json("attachments")),
                metadata TEXT NOT NULL DEFAULT '{}' \(d.json("metadata")),
                tool_call TEXT \(d.json("tool_call")),
                client_request_id TEXT,
                created_at \(int) NOT NULL,
                edited_at \(int),
                deleted_at \(int),
                version \(int) NOT NULL DEFAULT 1 CHECK (version >= 1),
                room_seq \(int) NOT NULL CHECK (room_seq >= 1),\(d == .postgres ? """

                content_tsv TSVECTOR GENERATED ALWAYS AS (to_tsvector('simple'::regconfig, content)) STORED,
            """ : "")
                UNIQUE (tenant_id, id),
                UNIQUE (tenant_id, room_id, room_seq),
                FOREIGN KEY (tenant_id, room_id) REFERENCES rooms(tenant_id, id),
                FOREIGN KEY (tenant_id, thread_id) REFERENCES threads(tenant_id, id),
                FOREIGN KEY (tenant_id, reply_to_message_id) REFERENCES messages(tenant_id, id),
                FOREIGN KEY (tenant_id, agent_session_id) REFERENCES agent_sessions(tenant_id, id)
            )
            """,
            """
            CREATE UNIQUE INDEX messages_client_request ON messages(
                tenant_id, room_id, sender_profile_id, coalesce(thread_id, ''), client_request_id)
                WHERE client_request_id IS NOT NULL
            """,
            "CREATE INDEX messages_by_thread ON messages(tenant_id, thread_id, room_seq) WHERE thread_id IS NOT NULL",
            "CREATE INDEX messages_by_reply ON messages(tenant_id, reply_to_message_id) WHERE reply_to_message_id IS NOT NULL",
            "CREATE INDEX messages_by_created ON messages(tenant_id, created_at)",
        ] + search + [
            """
            CREATE TABLE message_versions (
                tenant_id TEXT NOT NULL,
                message_id TEXT NOT NULL,
                version \(int) NOT NULL CHECK (version >= 1),
                content TEXT NOT NULL,
                edited_at \(int) NOT NULL,
                PRIMARY KEY (tenant_id, message_id, version),
                FOREIGN KEY (tenant_id, message_id) REFERENCES messages(tenant_id, id)
            )\(d.withoutRowid)
            """,
            """
            CREATE TABLE thread_senders (
                tenant_id TEXT NOT NULL,
                thread_id TEXT NOT NULL,
                profile_id TEXT NOT NULL,
                PRIMARY KEY (tenant_id, thread_id, profile_id),
                FOREIGN KEY (tenant_id, thread_id) REFERENCES threads(tenant_id, id)
            )\(d.withoutRowid)
            """,
            "CREATE INDEX thread_senders_by_profile ON thread_senders(tenant_id, profile_id)",
            """
            CREATE TABLE thread_reads (
                tenant_id TEXT NOT NULL,
                thread_id TEXT NOT NULL,
                profile_id TEXT NOT NULL,
                last_read_seq \(int) NOT NULL,
                PRIMARY KEY (tenant_id, thread_id, profile_id),
                FOREIGN KEY (tenant_id, thread_id) REFERENCES threads(tenant_id, id)
            )\(d.withoutRowid)
            """,
            """
            CREATE TABLE reactions (
                pk \(d.pk),
                tenant_id TEXT NOT NULL,
                room_id TEXT NOT NULL,
                message_id TEXT NOT NULL,
                profile_id TEXT NOT NULL,
                emoji TEXT NOT NULL CHECK (length(emoji) > 0),
                created_at \(int) NOT NULL,
                UNIQUE (tenant_id, message_id, profile_id, emoji),
                FOREIGN KEY (tenant_id, message_id) REFERENCES messages(tenant_id, id)
            )
            """,
            """
            CREATE TABLE tool_calls (
                tenant_id TEXT NOT NULL,
                session_id TEXT NOT NULL,
                call_id TEXT NOT NULL,
                tool_name TEXT NOT NULL,
                call_message_id TEXT NOT NULL,
                result_message_id TEXT,
                PRIMARY KEY (tenant_id, session_id, call_id),
                FOREIGN KEY (tenant_id, session_id) REFERENCES agent_sessions(tenant_id, id),
                FOREIGN KEY (tenant_id, call_message_id) REFERENCES messages(tenant_id, id),
                FOREIGN KEY (tenant_id, result_message_id) REFERENCES messages(tenant_id, id)
            )\(d.withoutRowid)
            """,
            """
            CREATE TABLE turn_states (
                tenant_id TEXT NOT NULL,
                message_id TEXT NOT NULL,
                outcome TEXT NOT NULL CHECK (outcome IN ('running','suspended','completed','cancelled','failed')),
                continuation_id TEXT,
                settled_at \(int) NOT NULL,
                PRIMARY KEY (tenant_id, message_id),
                FOREIGN KEY (tenant_id, message_id) REFERENCES messages(tenant_id, id)
            )\(d.withoutRowid)
            """,
            """
            CREATE TABLE room_events (
                event_id \(d == .sqlite ? "INTEGER PRIMARY KEY AUTOINCREMENT" : d.pk),
                tenant_id TEXT NOT NULL,
                room_id TEXT NOT NULL,
                seq \(int) NOT NULL CHECK (seq >= 1),
                kind TEXT NOT NULL CHECK (kind IN (\(EventKind.allCases.map { "'\($0.rawValue)'" }.joined(separator: ",")))),
                actor_profile_id TEXT NOT NULL,
                subject_id TEXT NOT NULL,
                created_at \(int) NOT NULL,
                payload TEXT \(d.json("payload")),
                UNIQUE (tenant_id, room_id, seq),
                FOREIGN KEY (tenant_id, room_id) REFERENCES rooms(tenant_id, id)
            )
            """,
            "CREATE INDEX room_events_by_tenant ON room_events(tenant_id, event_id)",
            "CREATE INDEX room_events_by_created ON room_events(created_at)",
            """
            CREATE TABLE event_log_state (
                tenant_id TEXT PRIMARY KEY NOT NULL,
                purged_through_event_id \(int) NOT NULL DEFAULT 0
            )\(d.withoutRowid)
            """,
        ]
    }
}

extension SQLDialect {
    var int: String { self == .sqlite ? "INTEGER" : "BIGINT" }
    var blob: String { self == .sqlite ? "BLOB" : "BYTEA" }
    var pk: String { self == .sqlite ? "INTEGER PRIMARY KEY" : "BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY" }
    var withoutRowid: String { self == .sqlite ? " WITHOUT ROWID" : "" }

    /// A 0/1 flag: a checked integer on SQLite, a boolean on PostgreSQL.
    func flag(_ column: String) -> String {
        self == .sqlite ? "INTEGER NOT NULL DEFAULT 0 CHECK (\(column) IN (0,1))" : "BOOLEAN NOT NULL DEFAULT false"
    }

    /// `CHECK` that a text column holds JSON (on PostgreSQL an invalid value fails the cast, which rejects the row).
    func json(_ column: String) -> String {
        self == .sqlite ? "CHECK (\(column) IS NULL OR json_valid(\(column)))"
            : "CHECK ((\(column))::jsonb IS NOT NULL OR \(column) IS NULL)"
    }
}
