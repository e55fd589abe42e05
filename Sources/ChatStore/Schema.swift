import ChatCore
import GRDB

/// The schema as named, append-only migrations. Never edit a migration that has shipped: add one.
enum Schema {
    static var migrator: DatabaseMigrator {
        var migrator = DatabaseMigrator()
        migrator.registerMigration("v1-chat-core") { db in
            for statement in v1 { try db.execute(sql: statement) }
        }
        migrator.registerMigration("v2-rpc-service") { db in
            for statement in v2 { try db.execute(sql: statement) }
        }
        migrator.registerMigration("v3-deferred-fts") { db in
            for statement in v3 { try db.execute(sql: statement) }
        }
        migrator.registerMigration("v4-redact-session-events") { db in try db.execute(sql: redactSessionEvents) }
        return migrator
    }

    /// SESSION_* events no longer carry the system prompt or the session context (the log reaches `events`
    /// keys, which may not read them): this empties both in the events written before.
    static let redactSessionEvents = """
        UPDATE room_events
        SET payload = json_set(payload, '$.session._0.systemPrompt', '', '$.session._0.sessionContext', '')
        WHERE kind LIKE 'SESSION_%' AND json_type(payload, '$.session._0') = 'object'
        """

    /// Full-text indexing once per commit instead of once per operation.
    ///
    /// Every operation of a group commit runs in a savepoint, and FTS5 writes its pending terms to a new
    /// index segment at every savepoint it takes part in: a segment per message, then merges, which cost
    /// more than everything else a send does. New and edited messages are now queued in
    /// `messages_fts_pending` (an ordinary table, so a rolled-back savepoint drops its entry) and the write
    /// path indexes the queue once, after the batch's operations and before its commit
    /// (`SQLiteTransaction.indexPendingMessages`), in the same transaction. A row still queued has nothing
    /// in the index to remove when it is edited or deleted.
    static let v3: [String] = [
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

    static let v2: [String] = [
        """
        CREATE TABLE api_keys (
            key_id TEXT PRIMARY KEY NOT NULL,
            secret BLOB NOT NULL CHECK (length(secret) >= 16),
            tenants TEXT NOT NULL DEFAULT '[]' CHECK (json_valid(tenants)),
            all_tenants INTEGER NOT NULL DEFAULT 0 CHECK (all_tenants IN (0,1)),
            scopes TEXT NOT NULL CHECK (json_valid(scopes)),
            created_at INTEGER NOT NULL,
            revoked_at INTEGER
        ) WITHOUT ROWID
        """,
        """
        CREATE TABLE replay_cache (
            key_id TEXT NOT NULL,
            request_id TEXT NOT NULL,
            frame_hash BLOB NOT NULL,
            response BLOB,
            created_at INTEGER NOT NULL,
            PRIMARY KEY (key_id, request_id)
        ) WITHOUT ROWID
        """,
        "CREATE INDEX replay_cache_by_created ON replay_cache(created_at)",
    ]

    static let roomTypes = "('public','private','dm','agent')"

    static let v1: [String] = [
        """
        CREATE TABLE rooms (
            pk INTEGER PRIMARY KEY,
            id TEXT NOT NULL,
            tenant_id TEXT NOT NULL,
            name TEXT NOT NULL,
            description TEXT NOT NULL DEFAULT '',
            topic TEXT NOT NULL DEFAULT '',
            avatar_url TEXT NOT NULL DEFAULT '',
            room_type TEXT NOT NULL CHECK (room_type IN \(roomTypes)),
            status TEXT NOT NULL CHECK (status IN ('active','archived','deleted')),
            max_participants INTEGER NOT NULL DEFAULT 0 CHECK (max_participants >= 0),
            metadata TEXT NOT NULL DEFAULT '{}' CHECK (json_valid(metadata)),
            created_by_profile_id TEXT NOT NULL,
            created_at INTEGER NOT NULL,
            updated_at INTEGER NOT NULL,
            last_message_at INTEGER,
            last_event_seq INTEGER NOT NULL DEFAULT 0 CHECK (last_event_seq >= 0),
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
            last_read_seq INTEGER NOT NULL DEFAULT 0,
            last_read_message_id TEXT,
            last_seen_at INTEGER,
            joined_at INTEGER NOT NULL,
            nickname TEXT NOT NULL DEFAULT '',
            is_muted INTEGER NOT NULL DEFAULT 0 CHECK (is_muted IN (0,1)),
            is_pinned INTEGER NOT NULL DEFAULT 0 CHECK (is_pinned IN (0,1)),
            PRIMARY KEY (tenant_id, room_id, profile_id),
            FOREIGN KEY (tenant_id, room_id) REFERENCES rooms(tenant_id, id)
        ) WITHOUT ROWID
        """,
        "CREATE INDEX participants_by_profile ON participants(tenant_id, profile_id, status)",
        """
        CREATE TABLE threads (
            pk INTEGER PRIMARY KEY,
            id TEXT NOT NULL,
            tenant_id TEXT NOT NULL,
            room_id TEXT NOT NULL,
            root_message_id TEXT,
            title TEXT NOT NULL DEFAULT '',
            started_by_profile_id TEXT NOT NULL,
            is_resolved INTEGER NOT NULL DEFAULT 0 CHECK (is_resolved IN (0,1)),
            resolved_at INTEGER,
            message_count INTEGER NOT NULL DEFAULT 0 CHECK (message_count >= 0),
            participant_count INTEGER NOT NULL DEFAULT 0 CHECK (participant_count >= 0),
            last_message_at INTEGER,
            created_at INTEGER NOT NULL,
            UNIQUE (tenant_id, id),
            FOREIGN KEY (tenant_id, room_id) REFERENCES rooms(tenant_id, id),
            FOREIGN KEY (tenant_id, root_message_id) REFERENCES messages(tenant_id, id)
        )
        """,
        "CREATE INDEX threads_by_activity ON threads(tenant_id, room_id, coalesce(last_message_at, created_at), id)",
        """
        CREATE TABLE agent_sessions (
            pk INTEGER PRIMARY KEY,
            id TEXT NOT NULL,
            tenant_id TEXT NOT NULL,
            agent_id TEXT NOT NULL,
            agent_profile_id TEXT NOT NULL,
            participant_profile_id TEXT NOT NULL,
            room_id TEXT NOT NULL,
            status TEXT NOT NULL CHECK (status IN ('active','closed','expired')),
            inactive_reason TEXT CHECK (inactive_reason IS NULL
                OR inactive_reason IN ('closed','expired','message_limit','token_limit')),
            allowed_tools TEXT NOT NULL DEFAULT '[]' CHECK (json_valid(allowed_tools)),
            system_prompt TEXT NOT NULL DEFAULT '',
            session_context TEXT NOT NULL DEFAULT '{}' CHECK (json_valid(session_context)),
            context_version INTEGER NOT NULL DEFAULT 1 CHECK (context_version >= 1),
            session_key TEXT,
            message_count INTEGER NOT NULL DEFAULT 0 CHECK (message_count >= 0),
            total_tokens_used INTEGER NOT NULL DEFAULT 0 CHECK (total_tokens_used >= 0),
            max_tokens INTEGER NOT NULL DEFAULT 0 CHECK (max_tokens >= 0),
            max_messages INTEGER NOT NULL DEFAULT 0 CHECK (max_messages >= 0),
            expires_at INTEGER,
            last_message_at INTEGER,
            closed_at INTEGER,
            created_at INTEGER NOT NULL,
            UNIQUE (tenant_id, id),
            FOREIGN KEY (tenant_id, room_id) REFERENCES rooms(tenant_id, id)
        )
        """,
        """
        CREATE UNIQUE INDEX agent_sessions_active_key ON agent_sessions(
            tenant_id, agent_id, participant_profile_id, ifnull(session_key, '')) WHERE status = 'active'
        """,
        "CREATE INDEX agent_sessions_by_participant ON agent_sessions(tenant_id, participant_profile_id, created_at)",
        "CREATE INDEX agent_sessions_active ON agent_sessions(tenant_id, status)",
        """
        CREATE TABLE messages (
            pk INTEGER PRIMARY KEY,
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
            attachments TEXT NOT NULL DEFAULT '[]' CHECK (json_valid(attachments)),
            metadata TEXT NOT NULL DEFAULT '{}' CHECK (json_valid(metadata)),
            tool_call TEXT CHECK (tool_call IS NULL OR json_valid(tool_call)),
            client_request_id TEXT,
            created_at INTEGER NOT NULL,
            edited_at INTEGER,
            deleted_at INTEGER,
            version INTEGER NOT NULL DEFAULT 1 CHECK (version >= 1),
            room_seq INTEGER NOT NULL CHECK (room_seq >= 1),
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
            tenant_id, room_id, sender_profile_id, ifnull(thread_id, ''), client_request_id)
            WHERE client_request_id IS NOT NULL
        """,
        "CREATE INDEX messages_by_thread ON messages(tenant_id, thread_id, room_seq) WHERE thread_id IS NOT NULL",
        "CREATE INDEX messages_by_reply ON messages(tenant_id, reply_to_message_id) WHERE reply_to_message_id IS NOT NULL",
        "CREATE INDEX messages_by_created ON messages(tenant_id, created_at)",
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
        """
        CREATE TABLE message_versions (
            tenant_id TEXT NOT NULL,
            message_id TEXT NOT NULL,
            version INTEGER NOT NULL CHECK (version >= 1),
            content TEXT NOT NULL,
            edited_at INTEGER NOT NULL,
            PRIMARY KEY (tenant_id, message_id, version),
            FOREIGN KEY (tenant_id, message_id) REFERENCES messages(tenant_id, id)
        ) WITHOUT ROWID
        """,
        """
        CREATE TABLE thread_senders (
            tenant_id TEXT NOT NULL,
            thread_id TEXT NOT NULL,
            profile_id TEXT NOT NULL,
            PRIMARY KEY (tenant_id, thread_id, profile_id),
            FOREIGN KEY (tenant_id, thread_id) REFERENCES threads(tenant_id, id)
        ) WITHOUT ROWID
        """,
        "CREATE INDEX thread_senders_by_profile ON thread_senders(tenant_id, profile_id)",
        """
        CREATE TABLE thread_reads (
            tenant_id TEXT NOT NULL,
            thread_id TEXT NOT NULL,
            profile_id TEXT NOT NULL,
            last_read_seq INTEGER NOT NULL,
            PRIMARY KEY (tenant_id, thread_id, profile_id),
            FOREIGN KEY (tenant_id, thread_id) REFERENCES threads(tenant_id, id)
        ) WITHOUT ROWID
        """,
        """
        CREATE TABLE reactions (
            pk INTEGER PRIMARY KEY,
            tenant_id TEXT NOT NULL,
            room_id TEXT NOT NULL,
            message_id TEXT NOT NULL,
            profile_id TEXT NOT NULL,
            emoji TEXT NOT NULL CHECK (length(emoji) > 0),
            created_at INTEGER NOT NULL,
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
        ) WITHOUT ROWID
        """,
        """
        CREATE TABLE turn_states (
            tenant_id TEXT NOT NULL,
            message_id TEXT NOT NULL,
            outcome TEXT NOT NULL CHECK (outcome IN ('running','suspended','completed','cancelled','failed')),
            continuation_id TEXT,
            settled_at INTEGER NOT NULL,
            PRIMARY KEY (tenant_id, message_id),
            FOREIGN KEY (tenant_id, message_id) REFERENCES messages(tenant_id, id)
        ) WITHOUT ROWID
        """,
        """
        CREATE TABLE room_events (
            event_id INTEGER PRIMARY KEY AUTOINCREMENT,
            tenant_id TEXT NOT NULL,
            room_id TEXT NOT NULL,
            seq INTEGER NOT NULL CHECK (seq >= 1),
            kind TEXT NOT NULL CHECK (kind IN (\(EventKind.allCases.map { "'\($0.rawValue)'" }.joined(separator: ",")))),
            actor_profile_id TEXT NOT NULL,
            subject_id TEXT NOT NULL,
            created_at INTEGER NOT NULL,
            payload TEXT CHECK (payload IS NULL OR json_valid(payload)),
            UNIQUE (tenant_id, room_id, seq),
            FOREIGN KEY (tenant_id, room_id) REFERENCES rooms(tenant_id, id)
        )
        """,
        "CREATE INDEX room_events_by_tenant ON room_events(tenant_id, event_id)",
        "CREATE INDEX room_events_by_created ON room_events(created_at)",
        """
        CREATE TABLE event_log_state (
            tenant_id TEXT PRIMARY KEY NOT NULL,
            purged_through_event_id INTEGER NOT NULL DEFAULT 0
        ) WITHOUT ROWID
        """,
    ]
}
