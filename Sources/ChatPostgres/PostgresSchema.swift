import ChatCore

/// The PostgreSQL schema: the same named, append-only migrations as the SQLite engine
/// (`v1-chat-core`, `v2-rpc-service`), recorded in `schema_migrations`. Never edit a shipped
/// migration: add one.
///
/// Differences from SQLite, by design: rowid keys are `bigint` identities, 0/1 flags are `boolean`,
/// blobs are `bytea`, JSON columns stay `text` (the domain merge-patches in Swift and round-trips the
/// exact text) with a `CHECK` that they parse as `jsonb`, and FTS5 becomes a generated `tsvector`
/// column with a GIN index. Forward foreign keys (threads ↔ messages) are added after both tables exist.
enum PostgresSchema {
    static let migrations: [(name: String, statements: [String])] = [
        ("v1-chat-core", v1),
        ("v2-rpc-service", v2),
        ("v4-redact-session-events", [redactSessionEvents]),
    ]

    /// SESSION_* events no longer carry the system prompt or the session context (see the SQLite schema's
    /// migration of the same name); `v3-deferred-fts` has no PostgreSQL counterpart.
    static let redactSessionEvents = """
        UPDATE room_events
        SET payload = jsonb_set(jsonb_set(payload::jsonb, '{session,_0,systemPrompt}', '""'),
                                '{session,_0,sessionContext}', '""')::text
        WHERE kind LIKE 'SESSION_%' AND jsonb_typeof(payload::jsonb #> '{session,_0}') = 'object'
        """

    /// `CHECK` that a text column holds JSON (an invalid value fails the cast, which rejects the row).
    static func json(_ column: String) -> String { "CHECK ((\(column))::jsonb IS NOT NULL OR \(column) IS NULL)" }

    static let v2: [String] = [
        """
        CREATE TABLE api_keys (
            key_id TEXT PRIMARY KEY NOT NULL,
            secret BYTEA NOT NULL CHECK (octet_length(secret) >= 16),
            tenants TEXT NOT NULL DEFAULT '[]' \(json("tenants")),
            all_tenants BOOLEAN NOT NULL DEFAULT false,
            scopes TEXT NOT NULL \(json("scopes")),
            created_at BIGINT NOT NULL,
            revoked_at BIGINT
        )
        """,
        """
        CREATE TABLE replay_cache (
            key_id TEXT NOT NULL,
            request_id TEXT NOT NULL,
            frame_hash BYTEA NOT NULL,
            response BYTEA,
            created_at BIGINT NOT NULL,
            PRIMARY KEY (key_id, request_id)
        )
        """,
        "CREATE INDEX replay_cache_by_created ON replay_cache(created_at)",
    ]

    static let roomTypes = "('public','private','dm','agent')"

    static let v1: [String] = [
        """
        CREATE TABLE rooms (
            pk BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
            id TEXT NOT NULL,
            tenant_id TEXT NOT NULL,
            name TEXT NOT NULL,
            description TEXT NOT NULL DEFAULT '',
            topic TEXT NOT NULL DEFAULT '',
            avatar_url TEXT NOT NULL DEFAULT '',
            room_type TEXT NOT NULL CHECK (room_type IN \(roomTypes)),
            status TEXT NOT NULL CHECK (status IN ('active','archived','deleted')),
            max_participants BIGINT NOT NULL DEFAULT 0 CHECK (max_participants >= 0),
            metadata TEXT NOT NULL DEFAULT '{}' \(json("metadata")),
            created_by_profile_id TEXT NOT NULL,
            created_at BIGINT NOT NULL,
            updated_at BIGINT NOT NULL,
            last_message_at BIGINT,
            last_event_seq BIGINT NOT NULL DEFAULT 0 CHECK (last_event_seq >= 0),
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
            last_read_seq BIGINT NOT NULL DEFAULT 0,
            last_read_message_id TEXT,
            last_seen_at BIGINT,
            joined_at BIGINT NOT NULL,
            nickname TEXT NOT NULL DEFAULT '',
            is_muted BOOLEAN NOT NULL DEFAULT false,
            is_pinned BOOLEAN NOT NULL DEFAULT false,
            PRIMARY KEY (tenant_id, room_id, profile_id),
            FOREIGN KEY (tenant_id, room_id) REFERENCES rooms(tenant_id, id)
        )
        """,
        "CREATE INDEX participants_by_profile ON participants(tenant_id, profile_id, status)",
        """
        CREATE TABLE threads (
            pk BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
            id TEXT NOT NULL,
            tenant_id TEXT NOT NULL,
            room_id TEXT NOT NULL,
            root_message_id TEXT,
            title TEXT NOT NULL DEFAULT '',
            started_by_profile_id TEXT NOT NULL,
            is_resolved BOOLEAN NOT NULL DEFAULT false,
            resolved_at BIGINT,
            message_count BIGINT NOT NULL DEFAULT 0 CHECK (message_count >= 0),
            participant_count BIGINT NOT NULL DEFAULT 0 CHECK (participant_count >= 0),
            last_message_at BIGINT,
            created_at BIGINT NOT NULL,
            UNIQUE (tenant_id, id),
            FOREIGN KEY (tenant_id, room_id) REFERENCES rooms(tenant_id, id)
        )
        """,
        "CREATE INDEX threads_by_activity ON threads(tenant_id, room_id, coalesce(last_message_at, created_at), id)",
        """
        CREATE TABLE agent_sessions (
            pk BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
            id TEXT NOT NULL,
            tenant_id TEXT NOT NULL,
            agent_id TEXT NOT NULL,
            agent_profile_id TEXT NOT NULL,
            participant_profile_id TEXT NOT NULL,
            room_id TEXT NOT NULL,
            status TEXT NOT NULL CHECK (status IN ('active','closed','expired')),
            inactive_reason TEXT CHECK (inactive_reason IS NULL
                OR inactive_reason IN ('closed','expired','message_limit','token_limit')),
            allowed_tools TEXT NOT NULL DEFAULT '[]' \(json("allowed_tools")),
            system_prompt TEXT NOT NULL DEFAULT '',
            session_context TEXT NOT NULL DEFAULT '{}' \(json("session_context")),
            context_version BIGINT NOT NULL DEFAULT 1 CHECK (context_version >= 1),
            session_key TEXT,
            message_count BIGINT NOT NULL DEFAULT 0 CHECK (message_count >= 0),
            total_tokens_used BIGINT NOT NULL DEFAULT 0 CHECK (total_tokens_used >= 0),
            max_tokens BIGINT NOT NULL DEFAULT 0 CHECK (max_tokens >= 0),
            max_messages BIGINT NOT NULL DEFAULT 0 CHECK (max_messages >= 0),
            expires_at BIGINT,
            last_message_at BIGINT,
            closed_at BIGINT,
            created_at BIGINT NOT NULL,
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
            pk BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
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
            attachments TEXT NOT NULL DEFAULT '[]' \(json("attachments")),
            metadata TEXT NOT NULL DEFAULT '{}' \(json("metadata")),
            tool_call TEXT \(json("tool_call")),
            client_request_id TEXT,
            created_at BIGINT NOT NULL,
            edited_at BIGINT,
            deleted_at BIGINT,
            version BIGINT NOT NULL DEFAULT 1 CHECK (version >= 1),
            room_seq BIGINT NOT NULL CHECK (room_seq >= 1),
            content_tsv TSVECTOR GENERATED ALWAYS AS (to_tsvector('simple'::regconfig, content)) STORED,
            UNIQUE (tenant_id, id),
            UNIQUE (tenant_id, room_id, room_seq),
            FOREIGN KEY (tenant_id, room_id) REFERENCES rooms(tenant_id, id),
            FOREIGN KEY (tenant_id, thread_id) REFERENCES threads(tenant_id, id),
            FOREIGN KEY (tenant_id, reply_to_message_id) REFERENCES messages(tenant_id, id),
            FOREIGN KEY (tenant_id, agent_session_id) REFERENCES agent_sessions(tenant_id, id)
        )
        """,
        """
        ALTER TABLE threads ADD CONSTRAINT threads_root_message_fk
            FOREIGN KEY (tenant_id, root_message_id) REFERENCES messages(tenant_id, id)
        """,
        """
        CREATE UNIQUE INDEX messages_client_request ON messages(
            tenant_id, room_id, sender_profile_id, coalesce(thread_id, ''), client_request_id)
            WHERE client_request_id IS NOT NULL
        """,
        "CREATE INDEX messages_by_thread ON messages(tenant_id, thread_id, room_seq) WHERE thread_id IS NOT NULL",
        "CREATE INDEX messages_by_reply ON messages(tenant_id, reply_to_message_id) WHERE reply_to_message_id IS NOT NULL",
        "CREATE INDEX messages_by_created ON messages(tenant_id, created_at)",
        "CREATE INDEX messages_fts ON messages USING GIN (content_tsv)",
        """
        CREATE TABLE message_versions (
            tenant_id TEXT NOT NULL,
            message_id TEXT NOT NULL,
            version BIGINT NOT NULL CHECK (version >= 1),
            content TEXT NOT NULL,
            edited_at BIGINT NOT NULL,
            PRIMARY KEY (tenant_id, message_id, version),
            FOREIGN KEY (tenant_id, message_id) REFERENCES messages(tenant_id, id)
        )
        """,
        """
        CREATE TABLE thread_senders (
            tenant_id TEXT NOT NULL,
            thread_id TEXT NOT NULL,
            profile_id TEXT NOT NULL,
            PRIMARY KEY (tenant_id, thread_id, profile_id),
            FOREIGN KEY (tenant_id, thread_id) REFERENCES threads(tenant_id, id)
        )
        """,
        "CREATE INDEX thread_senders_by_profile ON thread_senders(tenant_id, profile_id)",
        """
        CREATE TABLE thread_reads (
            tenant_id TEXT NOT NULL,
            thread_id TEXT NOT NULL,
            profile_id TEXT NOT NULL,
            last_read_seq BIGINT NOT NULL,
            PRIMARY KEY (tenant_id, thread_id, profile_id),
            FOREIGN KEY (tenant_id, thread_id) REFERENCES threads(tenant_id, id)
        )
        """,
        """
        CREATE TABLE reactions (
            pk BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
            tenant_id TEXT NOT NULL,
            room_id TEXT NOT NULL,
            message_id TEXT NOT NULL,
            profile_id TEXT NOT NULL,
            emoji TEXT NOT NULL CHECK (length(emoji) > 0),
            created_at BIGINT NOT NULL,
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
        )
        """,
        """
        CREATE TABLE turn_states (
            tenant_id TEXT NOT NULL,
            message_id TEXT NOT NULL,
            outcome TEXT NOT NULL CHECK (outcome IN ('running','suspended','completed','cancelled','failed')),
            continuation_id TEXT,
            settled_at BIGINT NOT NULL,
            PRIMARY KEY (tenant_id, message_id),
            FOREIGN KEY (tenant_id, message_id) REFERENCES messages(tenant_id, id)
        )
        """,
        """
        CREATE TABLE room_events (
            event_id BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
            tenant_id TEXT NOT NULL,
            room_id TEXT NOT NULL,
            seq BIGINT NOT NULL CHECK (seq >= 1),
            kind TEXT NOT NULL CHECK (kind IN (\(EventKind.allCases.map { "'\($0.rawValue)'" }.joined(separator: ",")))),
            actor_profile_id TEXT NOT NULL,
            subject_id TEXT NOT NULL,
            created_at BIGINT NOT NULL,
            payload TEXT \(json("payload")),
            UNIQUE (tenant_id, room_id, seq),
            FOREIGN KEY (tenant_id, room_id) REFERENCES rooms(tenant_id, id)
        )
        """,
        "CREATE INDEX room_events_by_tenant ON room_events(tenant_id, event_id)",
        "CREATE INDEX room_events_by_created ON room_events(created_at)",
        """
        CREATE TABLE event_log_state (
            tenant_id TEXT PRIMARY KEY NOT NULL,
            purged_through_event_id BIGINT NOT NULL DEFAULT 0
        )
        """,
    ]
}
