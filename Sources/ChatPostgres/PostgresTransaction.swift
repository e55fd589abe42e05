import ChatCore
import Foundation
import Logging
import PostgresNIO

/// A value bound to a `$n` parameter. A nil binds an untyped NULL: the SQL casts such parameters.
protocol PGBindable {
    func bind(into bindings: inout PostgresBindings) throws
}

extension String: PGBindable { func bind(into b: inout PostgresBindings) throws { b.append(self) } }
extension Int64: PGBindable { func bind(into b: inout PostgresBindings) throws { b.append(self) } }
extension Int: PGBindable { func bind(into b: inout PostgresBindings) throws { b.append(Int64(self)) } }
extension Bool: PGBindable { func bind(into b: inout PostgresBindings) throws { b.append(self) } }
extension Data: PGBindable { func bind(into b: inout PostgresBindings) throws { try b.append(self) } }
extension Optional: PGBindable where Wrapped: PGBindable {
    func bind(into b: inout PostgresBindings) throws {
        if let value = self { try value.bind(into: &b) } else { b.appendNull() }
    }
}

/// An error of the PostgreSQL engine itself (not a server error).
public struct PostgresStorageError: Error, CustomStringConvertible {
    public let description: String
    public init(_ description: String) { self.description = description }
}

/// A row read by column name.
struct PGRow {
    let row: PostgresRandomAccessRow
    init(_ row: PostgresRow) { self.row = row.makeRandomAccess() }

    func callAsFunction<T: PostgresDecodable>(_ column: String, _ type: T.Type = T.self) throws -> T {
        try row[column].decode(T.self, context: .default)
    }
    func str(_ c: String) throws -> String { try self(c, String.self) }
    func ostr(_ c: String) throws -> String? { try self(c, String?.self) }
    func int(_ c: String) throws -> Int64 { try self(c, Int64.self) }
    func oint(_ c: String) throws -> Int64? { try self(c, Int64?.self) }
    func bool(_ c: String) throws -> Bool { try self(c, Bool.self) }
    func bytes(_ c: String) throws -> [UInt8] { [UInt8](try self(c, Data.self)) }
    func obytes(_ c: String) throws -> [UInt8]? { try self(c, Data?.self).map { [UInt8]($0) } }
    func enumValue<E: RawRepresentable>(_ c: String) throws -> E where E.RawValue == String {
        let raw = try str(c)
        guard let value = E(rawValue: raw) else { throw PostgresStorageError("unexpected \(c) '\(raw)'") }
        return value
    }
}

enum PGJSON {
    static func encode<T: Encodable>(_ value: T) -> String {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
        return String(decoding: (try? encoder.encode(value)) ?? Data("null".utf8), as: UTF8.self)
    }

    static func decode<T: Decodable>(_ type: T.Type, _ text: String?) throws -> T? {
        guard let text else { return nil }
        return try JSONDecoder().decode(T.self, from: Data(text.utf8))
    }
}

/// `ChatTransaction` over one PostgreSQL connection inside an open transaction. Statements are sent
/// one at a time and waited for on the calling (engine-owned) thread, never on the event loop.
///
/// Write transactions take `pg_advisory_xact_lock(7450, hashtext(tenant))` before their first
/// statement on a tenant: writes of one tenant are serialized across every instance (as SQLite's single
/// writer serializes them in one process), so domain read-modify-write rules stay correct, room seqs are
/// gap-free in commit order, and a tenant's event ids commit in increasing order (a `ListTenantEvents`
/// consumer can never skip an event that commits later with a smaller id).
final class PostgresTransaction: ChatTransaction {
    let connection: PostgresConnection
    let logger: Logger
    let writable: Bool
    private(set) var events: [RoomEvent] = []
    private var lockedTenants: Set<String> = []
    private var savepointDepth = 0

    init(_ connection: PostgresConnection, writable: Bool, logger: Logger) {
        self.connection = connection
        self.writable = writable
        self.logger = logger
    }

    @discardableResult
    func execute(_ sql: String, _ arguments: [any PGBindable] = []) throws -> PostgresQueryResult {
        var bindings = PostgresBindings(capacity: arguments.count)
        for argument in arguments { try argument.bind(into: &bindings) }
        return try connection.query(PostgresQuery(unsafeSQL: sql, binds: bindings), logger: logger).wait()
    }

    private func all(_ sql: String, _ arguments: [any PGBindable]) throws -> [PGRow] {
        try execute(sql, arguments).rows.map(PGRow.init)
    }

    private func one(_ sql: String, _ arguments: [any PGBindable]) throws -> PGRow? {
        try execute(sql, arguments).rows.first.map(PGRow.init)
    }

    private func changes(_ sql: String, _ arguments: [any PGBindable]) throws -> Int {
        try execute(sql, arguments).metadata.rows ?? 0
    }

    private func scalar<T: PostgresDecodable>(_ sql: String, _ arguments: [any PGBindable], _ type: T.Type) throws -> T?
        where T._DecodableType == T {
        guard let row = try execute(sql, arguments).rows.first else { return nil }
        return try row.makeRandomAccess()[0].decode(T?.self, context: .default)
    }

    /// Serializes this transaction with every other writer of `tenantId` (see the type's documentation).
    private func tenant(_ tenantId: String) throws {
        guard writable, !lockedTenants.contains(tenantId) else { return }
        try execute("SELECT pg_advisory_xact_lock(7450, hashtext($1))", [tenantId])
        lockedTenants.insert(tenantId)
    }

    func savepoint<T>(_ body: () throws -> T) throws -> T {
        savepointDepth += 1
        let name = "sp\(savepointDepth)"
        defer { savepointDepth -= 1 }
        let mark = events.count
        let locks = lockedTenants
        try execute("SAVEPOINT \(name)")
        do {
            let value = try body()
            try execute("RELEASE SAVEPOINT \(name)")
            return value
        } catch {
            try execute("ROLLBACK TO SAVEPOINT \(name)")
            try execute("RELEASE SAVEPOINT \(name)")
            events.removeSubrange(mark...)
            // Locks taken inside a rolled-back savepoint are released with it.
            lockedTenants = locks
            throw error
        }
    }

    // MARK: Rows

    static func room(_ r: PGRow) throws -> Room {
        Room(id: try r.str("id"), tenantId: try r.str("tenant_id"), name: try r.str("name"),
             description: try r.str("description"), topic: try r.str("topic"), avatarUrl: try r.str("avatar_url"),
             roomType: try r.enumValue("room_type"), status: try r.enumValue("status"),
             maxParticipants: Int(try r.int("max_participants")), metadata: try r.str("metadata"),
             createdByProfileId: try r.str("created_by_profile_id"), createdAt: try r.int("created_at"),
             updatedAt: try r.int("updated_at"), lastMessageAt: try r.oint("last_message_at"),
             lastEventSeq: try r.int("last_event_seq"))
    }

    static func participant(_ r: PGRow) throws -> Participant {
        Participant(tenantId: try r.str("tenant_id"), roomId: try r.str("room_id"), profileId: try r.str("profile_id"),
                    role: try r.enumValue("role"), status: try r.enumValue("status"),
                    onlineStatus: try r.enumValue("online_status"), lastReadSeq: try r.int("last_read_seq"),
                    lastReadMessageId: try r.ostr("last_read_message_id"), lastSeenAt: try r.oint("last_seen_at"),
                    joinedAt: try r.int("joined_at"), nickname: try r.str("nickname"), isMuted: try r.bool("is_muted"),
                    isPinned: try r.bool("is_pinned"))
    }

    static func message(_ r: PGRow) throws -> Message {
        Message(id: try r.str("id"), tenantId: try r.str("tenant_id"), roomId: try r.str("room_id"),
                threadId: try r.ostr("thread_id"), replyToMessageId: try r.ostr("reply_to_message_id"),
                agentSessionId: try r.ostr("agent_session_id"), senderProfileId: try r.str("sender_profile_id"),
                role: try r.enumValue("role"), messageType: try r.enumValue("message_type"),
                content: try r.str("content"),
                attachments: try PGJSON.decode([Attachment].self, try r.str("attachments")) ?? [],
                metadata: try r.str("metadata"), toolCall: try PGJSON.decode(ToolCallData.self, try r.ostr("tool_call")),
                createdAt: try r.int("created_at"), editedAt: try r.oint("edited_at"),
                deletedAt: try r.oint("deleted_at"), version: try r.int("version"), roomSeq: try r.int("room_seq"),
                clientRequestId: try r.ostr("client_request_id"))
    }

    static func thread(_ r: PGRow) throws -> ChatThread {
        ChatThread(id: try r.str("id"), tenantId: try r.str("tenant_id"), roomId: try r.str("room_id"),
                   rootMessageId: try r.ostr("root_message_id"), title: try r.str("title"),
                   startedByProfileId: try r.str("started_by_profile_id"), isResolved: try r.bool("is_resolved"),
                   resolvedAt: try r.oint("resolved_at"), messageCount: try r.int("message_count"),
                   participantCount: try r.int("participant_count"), lastMessageAt: try r.oint("last_message_at"),
                   createdAt: try r.int("created_at"))
    }

    static func session(_ r: PGRow) throws -> AgentSession {
        let reason = try r.ostr("inactive_reason")
        return AgentSession(
            id: try r.str("id"), tenantId: try r.str("tenant_id"), agentId: try r.str("agent_id"),
            agentProfileId: try r.str("agent_profile_id"), participantProfileId: try r.str("participant_profile_id"),
            roomId: try r.str("room_id"), status: try r.enumValue("status"),
            allowedTools: try PGJSON.decode([String].self, try r.str("allowed_tools")) ?? [],
            systemPrompt: try r.str("system_prompt"), sessionContext: try r.str("session_context"),
            contextVersion: try r.int("context_version"), sessionKey: try r.ostr("session_key"),
            messageCount: try r.int("message_count"), totalTokensUsed: try r.int("total_tokens_used"),
            maxTokens: try r.int("max_tokens"), maxMessages: try r.int("max_messages"),
            expiresAt: try r.oint("expires_at"), lastMessageAt: try r.oint("last_message_at"),
            closedAt: try r.oint("closed_at"), createdAt: try r.int("created_at"),
            storedInactiveReason: reason.flatMap(InactiveReason.init(rawValue:)))
    }

    static func event(_ r: PGRow) throws -> RoomEvent {
        RoomEvent(tenantId: try r.str("tenant_id"), roomId: try r.str("room_id"), seq: try r.int("seq"),
                  eventId: try r.int("event_id"), kind: try r.enumValue("kind"),
                  actorProfileId: try r.str("actor_profile_id"), subjectId: try r.str("subject_id"),
                  createdAt: try r.int("created_at"), entity: try PGJSON.decode(EventEntity.self, try r.ostr("payload")))
    }

    // MARK: Rooms

    func room(tenantId: String, id: String) throws -> Room? {
        try tenant(tenantId)
        return try one("SELECT * FROM rooms WHERE tenant_id = $1 AND id = $2", [tenantId, id]).map(Self.room)
    }

    func insertRoomIfAbsent(_ r: Room) throws -> Bool {
        try tenant(r.tenantId)
        return try changes("""
            INSERT INTO rooms (id, tenant_id, name, description, topic, avatar_url, room_type, status,
                max_participants, metadata, created_by_profile_id, created_at, updated_at, last_message_at,
                last_event_seq)
            VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14::bigint, 0)
            ON CONFLICT (tenant_id, id) DO NOTHING
            """, [r.id, r.tenantId, r.name, r.description, r.topic, r.avatarUrl, r.roomType.rawValue,
                  r.status.rawValue, r.maxParticipants, r.metadata, r.createdByProfileId, r.createdAt,
                  r.updatedAt, r.lastMessageAt]) > 0
    }

    func updateRoom(_ r: Room) throws {
        try tenant(r.tenantId)
        try execute("""
            UPDATE rooms SET name = $1, description = $2, topic = $3, avatar_url = $4, status = $5,
                max_participants = $6, metadata = $7, updated_at = $8, last_message_at = $9::bigint
            WHERE tenant_id = $10 AND id = $11
            """, [r.name, r.description, r.topic, r.avatarUrl, r.status.rawValue, r.maxParticipants, r.metadata,
                  r.updatedAt, r.lastMessageAt, r.tenantId, r.id])
    }

    func roomsOfMember(
        tenantId: String, profileId: String, type: RoomType?, status: RoomStatus?, after: ActivityPosition?, limit: Int
    ) throws -> [Room] {
        try tenant(tenantId)
        return try all("""
            SELECT r.* FROM participants p JOIN rooms r ON r.tenant_id = p.tenant_id AND r.id = p.room_id
            WHERE p.tenant_id = $1 AND p.profile_id = $2 AND p.status = 'active' AND r.status <> 'deleted'
              AND ($3::text IS NULL OR r.room_type = $3::text) AND ($4::text IS NULL OR r.status = $4::text)
              AND ($5::bigint IS NULL OR coalesce(r.last_message_at, r.created_at) < $5::bigint
                   OR (coalesce(r.last_message_at, r.created_at) = $5::bigint AND r.id < $6::text))
            ORDER BY coalesce(r.last_message_at, r.created_at) DESC, r.id DESC
            LIMIT $7
            """, [tenantId, profileId, type?.rawValue, status?.rawValue, after?.activityAt, after?.id, limit])
            .map(Self.room)
    }

    func searchRooms(tenantId: String, profileId: String, query: String, after: ActivityPosition?, limit: Int) throws
        -> [Room] {
        try tenant(tenantId)
        let pattern = "%" + query.replacingOccurrences(of: "\\", with: "\\\\").replacingOccurrences(of: "%", with: "\\%")
            .replacingOccurrences(of: "_", with: "\\_") + "%"
        return try all("""
            SELECT r.* FROM rooms r
            WHERE r.tenant_id = $1 AND r.status <> 'deleted'
              AND (r.room_type = 'public' OR EXISTS (SELECT 1 FROM participants p WHERE p.tenant_id = r.tenant_id
                   AND p.room_id = r.id AND p.profile_id = $2 AND p.status = 'active'))
              AND (r.name ILIKE $3 ESCAPE '\\' OR r.description ILIKE $3 ESCAPE '\\' OR r.topic ILIKE $3 ESCAPE '\\')
              AND ($4::bigint IS NULL OR coalesce(r.last_message_at, r.created_at) < $4::bigint
                   OR (coalesce(r.last_message_at, r.created_at) = $4::bigint AND r.id < $5::text))
            ORDER BY coalesce(r.last_message_at, r.created_at) DESC, r.id DESC
            LIMIT $6
            """, [tenantId, profileId, pattern, after?.activityAt, after?.id, limit]).map(Self.room)
    }

    // MARK: Participants

    func participant(tenantId: String, roomId: String, profileId: String) throws -> Participant? {
        try tenant(tenantId)
        return try one("SELECT * FROM participants WHERE tenant_id = $1 AND room_id = $2 AND profile_id = $3",
                       [tenantId, roomId, profileId]).map(Self.participant)
    }

    func upsertParticipant(_ p: Participant) throws {
        try tenant(p.tenantId)
        try execute("""
            INSERT INTO participants (tenant_id, room_id, profile_id, role, status, online_status,
                last_read_seq, last_read_message_id, last_seen_at, joined_at, nickname, is_muted, is_pinned)
            VALUES ($1, $2, $3, $4, $5, $6, $7, $8::text, $9::bigint, $10, $11, $12, $13)
            ON CONFLICT (tenant_id, room_id, profile_id) DO UPDATE SET role = excluded.role, status = excluded.status,
                online_status = excluded.online_status, last_read_seq = excluded.last_read_seq,
                last_read_message_id = excluded.last_read_message_id, last_seen_at = excluded.last_seen_at,
                joined_at = excluded.joined_at, nickname = excluded.nickname, is_muted = excluded.is_muted,
                is_pinned = excluded.is_pinned
            """, [p.tenantId, p.roomId, p.profileId, p.role.rawValue, p.status.rawValue, p.onlineStatus.rawValue,
                  p.lastReadSeq, p.lastReadMessageId, p.lastSeenAt, p.joinedAt, p.nickname, p.isMuted, p.isPinned])
    }

    func countActiveParticipants(tenantId: String, roomId: String, role: ParticipantRole?) throws -> Int {
        try tenant(tenantId)
        return Int(try scalar("""
            SELECT count(*) FROM participants WHERE tenant_id = $1 AND room_id = $2 AND status = 'active'
              AND ($3::text IS NULL OR role = $3::text)
            """, [tenantId, roomId, role?.rawValue], Int64.self) ?? 0)
    }

    func participants(tenantId: String, roomId: String, status: ParticipantStatus?, afterProfileId: String?,
                      limit: Int) throws -> [Participant] {
        try tenant(tenantId)
        return try all("""
            SELECT * FROM participants WHERE tenant_id = $1 AND room_id = $2 AND ($3::text IS NULL OR status = $3::text)
              AND ($4::text IS NULL OR profile_id > $4::text)
            ORDER BY profile_id LIMIT $5
            """, [tenantId, roomId, status?.rawValue, afterProfileId, limit]).map(Self.participant)
    }

    func activeMemberships(tenantId: String, profileId: String) throws -> [Participant] {
        try tenant(tenantId)
        return try all("""
            SELECT p.* FROM participants p JOIN rooms r ON r.tenant_id = p.tenant_id AND r.id = p.room_id
            WHERE p.tenant_id = $1 AND p.profile_id = $2 AND p.status = 'active' AND r.status <> 'deleted'
            ORDER BY p.room_id
            """, [tenantId, profileId]).map(Self.participant)
    }

    func setOnlineStatus(tenantId: String, profileId: String, status: OnlineStatus, at: Int64) throws -> Int {
        try tenant(tenantId)
        return try changes("""
            UPDATE participants SET online_status = $1, last_seen_at = $2 WHERE tenant_id = $3 AND profile_id = $4
            """, [status.rawValue, at, tenantId, profileId])
    }

    // MARK: Messages

    func message(tenantId: String, id: String) throws -> Message? {
        try tenant(tenantId)
        return try one("SELECT * FROM messages WHERE tenant_id = $1 AND id = $2", [tenantId, id]).map(Self.message)
    }

    func insertMessage(_ m: Message) throws {
        try tenant(m.tenantId)
        try execute("""
            INSERT INTO messages (id, tenant_id, room_id, thread_id, reply_to_message_id, agent_session_id,
                sender_profile_id, role, message_type, content, attachments, metadata, tool_call, client_request_id,
                created_at, edited_at, deleted_at, version, room_seq)
            VALUES ($1, $2, $3, $4::text, $5::text, $6::text, $7, $8, $9, $10, $11, $12, $13::text, $14::text, $15,
                    $16::bigint, $17::bigint, $18, $19)
            """, [m.id, m.tenantId, m.roomId, m.threadId, m.replyToMessageId, m.agentSessionId, m.senderProfileId,
                  m.role.rawValue, m.messageType.rawValue, m.content, PGJSON.encode(m.attachments), m.metadata,
                  m.toolCall.map(PGJSON.encode), m.clientRequestId, m.createdAt, m.editedAt, m.deletedAt, m.version,
                  m.roomSeq])
    }

    func updateMessage(_ m: Message) throws {
        try tenant(m.tenantId)
        try execute("""
            UPDATE messages SET content = $1, attachments = $2, metadata = $3, edited_at = $4::bigint,
                deleted_at = $5::bigint, version = $6
            WHERE tenant_id = $7 AND id = $8
            """, [m.content, PGJSON.encode(m.attachments), m.metadata, m.editedAt, m.deletedAt, m.version, m.tenantId,
                  m.id])
    }

    func insertMessageVersion(tenantId: String, _ v: MessageVersion) throws {
        try tenant(tenantId)
        try execute("""
            INSERT INTO message_versions (tenant_id, message_id, version, content, edited_at) VALUES ($1, $2, $3, $4, $5)
            """, [tenantId, v.messageId, v.version, v.content, v.editedAt])
    }

    func messageVersions(tenantId: String, messageId: String, oldestFirst: Bool, limit: Int) throws -> [MessageVersion] {
        try tenant(tenantId)
        return try all("""
            SELECT * FROM message_versions WHERE tenant_id = $1 AND message_id = $2
            ORDER BY version \(oldestFirst ? "ASC" : "DESC") LIMIT $3
            """, [tenantId, messageId, Int64(limit)]).map {
            MessageVersion(messageId: try $0.str("message_id"), version: try $0.int("version"),
                           content: try $0.str("content"), editedAt: try $0.int("edited_at"))
        }
    }

    func messages(_ q: MessageQuery) throws -> [Message] {
        try tenant(q.tenantId)
        let order = q.order == .newestFirst ? "DESC" : "ASC"
        let threadFilter: String
        if q.threadId != nil {
            threadFilter = "AND thread_id = $3::text"
        } else if q.includeThreadReplies {
            threadFilter = "AND ($3::text IS NULL)"
        } else {
            threadFilter = "AND thread_id IS NULL AND ($3::text IS NULL)"
        }
        return try all("""
            SELECT * FROM messages WHERE tenant_id = $1 AND room_id = $2 \(threadFilter)
              AND ($4::boolean OR deleted_at IS NULL)
              AND ($5::bigint IS NULL OR room_seq > $5::bigint) AND ($6::bigint IS NULL OR room_seq < $6::bigint)
              AND ($7::text IS NULL OR reply_to_message_id = $7::text)
            ORDER BY room_seq \(order) LIMIT $8
            """, [q.tenantId, q.roomId, q.threadId, q.includeDeleted, q.afterSeq, q.beforeSeq, q.replyToMessageId,
                  q.limit]).map(Self.message)
    }

    func searchMessages(_ s: MessageSearch) throws -> [Message] {
        try tenant(s.tenantId)
        // Every word must match: one phrase query per word (the words are bound, never parsed as query syntax).
        var arguments: [any PGBindable] = [s.tenantId, s.memberProfileId, s.roomId, s.senderProfileId,
                                           s.messageType?.rawValue, s.role?.rawValue, s.since, s.until,
                                           s.hasAttachments, s.after?.createdAt, s.after?.id, s.limit]
        var match: [String] = []
        for term in s.terms {
            arguments.append(term)
            match.append("phraseto_tsquery('simple'::regconfig, $\(arguments.count)::text)")
        }
        let condition = match.isEmpty ? "false" : "m.content_tsv @@ (\(match.joined(separator: " && ")))"
        return try all("""
            SELECT m.* FROM messages m
            JOIN participants p ON p.tenant_id = m.tenant_id AND p.room_id = m.room_id AND p.profile_id = $2
                AND p.status = 'active'
            JOIN rooms r ON r.tenant_id = m.tenant_id AND r.id = m.room_id AND r.status <> 'deleted'
            WHERE \(condition) AND m.tenant_id = $1 AND m.deleted_at IS NULL
              AND ($3::text IS NULL OR m.room_id = $3::text) AND ($4::text IS NULL OR m.sender_profile_id = $4::text)
              AND ($5::text IS NULL OR m.message_type = $5::text) AND ($6::text IS NULL OR m.role = $6::text)
              AND ($7::bigint IS NULL OR m.created_at >= $7::bigint) AND ($8::bigint IS NULL OR m.created_at < $8::bigint)
              AND ($9::boolean IS NULL OR ($9::boolean = (m.attachments <> '[]')))
              AND ($10::bigint IS NULL OR m.created_at < $10::bigint
                   OR (m.created_at = $10::bigint AND m.id < $11::text))
            ORDER BY m.created_at DESC, m.id DESC LIMIT $12
            """, arguments).map(Self.message)
    }

    func unreadCount(tenantId: String, roomId: String, threadId: String?, afterSeq: Int64, excludingProfileId: String)
        throws -> Int64 {
        try tenant(tenantId)
        let sql = threadId == nil
            ? """
              SELECT count(*) FROM messages WHERE tenant_id = $1 AND room_id = $2 AND thread_id IS NULL
                AND ($3::text IS NULL) AND room_seq > $4 AND deleted_at IS NULL AND sender_profile_id <> $5
              """
            : """
              SELECT count(*) FROM messages WHERE tenant_id = $1 AND room_id = $2 AND thread_id = $3::text
                AND room_seq > $4 AND deleted_at IS NULL AND sender_profile_id <> $5
              """
        return try scalar(sql, [tenantId, roomId, threadId, afterSeq, excludingProfileId], Int64.self) ?? 0
    }

    // MARK: Threads

    func thread(tenantId: String, id: String) throws -> ChatThread? {
        try tenant(tenantId)
        return try one("SELECT * FROM threads WHERE tenant_id = $1 AND id = $2", [tenantId, id]).map(Self.thread)
    }

    func insertThread(_ t: ChatThread) throws {
        try tenant(t.tenantId)
        try execute("""
            INSERT INTO threads (id, tenant_id, room_id, root_message_id, title, started_by_profile_id, is_resolved,
                resolved_at, message_count, participant_count, last_message_at, created_at)
            VALUES ($1, $2, $3, $4::text, $5, $6, $7, $8::bigint, $9, $10, $11::bigint, $12)
            """, [t.id, t.tenantId, t.roomId, t.rootMessageId, t.title, t.startedByProfileId, t.isResolved,
                  t.resolvedAt, t.messageCount, t.participantCount, t.lastMessageAt, t.createdAt])
    }

    func updateThread(_ t: ChatThread) throws {
        try tenant(t.tenantId)
        try execute("""
            UPDATE threads SET title = $1, is_resolved = $2, resolved_at = $3::bigint, message_count = $4,
                participant_count = $5, last_message_at = $6::bigint
            WHERE tenant_id = $7 AND id = $8
            """, [t.title, t.isResolved, t.resolvedAt, t.messageCount, t.participantCount, t.lastMessageAt,
                  t.tenantId, t.id])
    }

    func threads(tenantId: String, roomId: String, onlyUnresolved: Bool, after: ActivityPosition?, limit: Int) throws
        -> [ChatThread] {
        try tenant(tenantId)
        return try all("""
            SELECT * FROM threads WHERE tenant_id = $1 AND room_id = $2 AND (NOT $3::boolean OR NOT is_resolved)
              AND ($4::bigint IS NULL OR coalesce(last_message_at, created_at) < $4::bigint
                   OR (coalesce(last_message_at, created_at) = $4::bigint AND id < $5::text))
            ORDER BY coalesce(last_message_at, created_at) DESC, id DESC LIMIT $6
            """, [tenantId, roomId, onlyUnresolved, after?.activityAt, after?.id, limit]).map(Self.thread)
    }

    func addThreadSender(tenantId: String, threadId: String, profileId: String) throws -> Bool {
        try tenant(tenantId)
        return try changes("""
            INSERT INTO thread_senders (tenant_id, thread_id, profile_id) VALUES ($1, $2, $3) ON CONFLICT DO NOTHING
            """, [tenantId, threadId, profileId]) > 0
    }

    func threadsTakenPartIn(tenantId: String, profileId: String) throws -> [ChatThread] {
        try tenant(tenantId)
        return try all("""
            SELECT t.* FROM threads t
            JOIN participants p ON p.tenant_id = t.tenant_id AND p.room_id = t.room_id AND p.profile_id = $2
                AND p.status = 'active'
            JOIN rooms r ON r.tenant_id = t.tenant_id AND r.id = t.room_id AND r.status <> 'deleted'
            WHERE t.tenant_id = $1 AND (t.started_by_profile_id = $2 OR EXISTS (SELECT 1 FROM thread_senders s
                WHERE s.tenant_id = t.tenant_id AND s.thread_id = t.id AND s.profile_id = $2))
            ORDER BY t.id
            """, [tenantId, profileId]).map(Self.thread)
    }

    func threadReadSeq(tenantId: String, threadId: String, profileId: String) throws -> Int64 {
        try tenant(tenantId)
        return try scalar("""
            SELECT last_read_seq FROM thread_reads WHERE tenant_id = $1 AND thread_id = $2 AND profile_id = $3
            """, [tenantId, threadId, profileId], Int64.self) ?? 0
    }

    func setThreadReadSeq(tenantId: String, threadId: String, profileId: String, seq: Int64) throws {
        try tenant(tenantId)
        try execute("""
            INSERT INTO thread_reads (tenant_id, thread_id, profile_id, last_read_seq) VALUES ($1, $2, $3, $4)
            ON CONFLICT (tenant_id, thread_id, profile_id) DO UPDATE SET last_read_seq = excluded.last_read_seq
            """, [tenantId, threadId, profileId, seq])
    }

    // MARK: Reactions

    func reaction(tenantId: String, messageId: String, profileId: String, emoji: String) throws -> Reaction? {
        try tenant(tenantId)
        return try one("""
            SELECT * FROM reactions WHERE tenant_id = $1 AND message_id = $2 AND profile_id = $3 AND emoji = $4
            """, [tenantId, messageId, profileId, emoji]).map {
            Reaction(tenantId: try $0.str("tenant_id"), roomId: try $0.str("room_id"),
                     messageId: try $0.str("message_id"), profileId: try $0.str("profile_id"),
                     emoji: try $0.str("emoji"), createdAt: try $0.int("created_at"))
        }
    }

    func insertReaction(_ r: Reaction) throws {
        try tenant(r.tenantId)
        try execute("""
            INSERT INTO reactions (tenant_id, room_id, message_id, profile_id, emoji, created_at)
            VALUES ($1, $2, $3, $4, $5, $6)
            """, [r.tenantId, r.roomId, r.messageId, r.profileId, r.emoji, r.createdAt])
    }

    func deleteReaction(tenantId: String, messageId: String, profileId: String, emoji: String) throws -> Bool {
        try tenant(tenantId)
        return try changes("""
            DELETE FROM reactions WHERE tenant_id = $1 AND message_id = $2 AND profile_id = $3 AND emoji = $4
            """, [tenantId, messageId, profileId, emoji]) > 0
    }

    func deleteReactions(tenantId: String, messageId: String) throws {
        try tenant(tenantId)
        try execute("DELETE FROM reactions WHERE tenant_id = $1 AND message_id = $2", [tenantId, messageId])
    }

    func reactionPairs(tenantId: String, messageId: String) throws -> [(emoji: String, profileId: String)] {
        try tenant(tenantId)
        return try all("SELECT emoji, profile_id FROM reactions WHERE tenant_id = $1 AND message_id = $2 ORDER BY pk",
                       [tenantId, messageId]).map { (try $0.str("emoji"), try $0.str("profile_id")) }
    }

    func reactionProfiles(tenantId: String, messageId: String, emoji: String, afterProfileId: String?, limit: Int) throws
        -> [String] {
        try tenant(tenantId)
        return try all("""
            SELECT profile_id FROM reactions WHERE tenant_id = $1 AND message_id = $2 AND emoji = $3
              AND ($4::text IS NULL OR profile_id > $4) ORDER BY profile_id LIMIT $5
            """, [tenantId, messageId, emoji, afterProfileId, Int64(limit)]).map { try $0.str("profile_id") }
    }

    func reactionCount(tenantId: String, messageId: String, emoji: String, profileId: String) throws
        -> (count: Int64, includesProfile: Bool) {
        try tenant(tenantId)
        let row = try one("""
            SELECT COUNT(*)::bigint AS n, COALESCE(bool_or(profile_id = $4), false) AS mine FROM reactions
            WHERE tenant_id = $1 AND message_id = $2 AND emoji = $3
            """, [tenantId, messageId, emoji, profileId])
        return (try row?.int("n") ?? 0, try row?.bool("mine") ?? false)
    }

    func otherReactionEmojiCount(tenantId: String, messageId: String, emoji: String) throws -> Int {
        try tenant(tenantId)
        let row = try one("""
            SELECT COUNT(DISTINCT emoji)::bigint AS n FROM reactions
            WHERE tenant_id = $1 AND message_id = $2 AND emoji <> $3
            """, [tenantId, messageId, emoji])
        return Int(try row?.int("n") ?? 0)
    }

    // MARK: Agent sessions

    func session(tenantId: String, id: String) throws -> AgentSession? {
        try tenant(tenantId)
        return try one("SELECT * FROM agent_sessions WHERE tenant_id = $1 AND id = $2", [tenantId, id]).map(Self.session)
    }

    func insertSession(_ s: AgentSession) throws {
        try tenant(s.tenantId)
        try execute("""
            INSERT INTO agent_sessions (id, tenant_id, agent_id, agent_profile_id, participant_profile_id, room_id,
                status, inactive_reason, allowed_tools, system_prompt, session_context, context_version, session_key,
                message_count, total_tokens_used, max_tokens, max_messages, expires_at, last_message_at, closed_at,
                created_at)
            VALUES ($1, $2, $3, $4, $5, $6, $7, $8::text, $9, $10, $11, $12, $13::text, $14, $15, $16, $17,
                    $18::bigint, $19::bigint, $20::bigint, $21)
            """, [s.id, s.tenantId, s.agentId, s.agentProfileId, s.participantProfileId, s.roomId, s.status.rawValue,
                  s.storedInactiveReason?.rawValue, PGJSON.encode(s.allowedTools), s.systemPrompt, s.sessionContext,
                  s.contextVersion, s.sessionKey, s.messageCount, s.totalTokensUsed, s.maxTokens, s.maxMessages,
                  s.expiresAt, s.lastMessageAt, s.closedAt, s.createdAt])
    }

    func updateSession(_ s: AgentSession) throws {
        try tenant(s.tenantId)
        try execute("""
            UPDATE agent_sessions SET status = $1, inactive_reason = $2::text, allowed_tools = $3, system_prompt = $4,
                session_context = $5, context_version = $6, message_count = $7, total_tokens_used = $8,
                max_tokens = $9, max_messages = $10, expires_at = $11::bigint, last_message_at = $12::bigint,
                closed_at = $13::bigint
            WHERE tenant_id = $14 AND id = $15
            """, [s.status.rawValue, s.storedInactiveReason?.rawValue, PGJSON.encode(s.allowedTools), s.systemPrompt,
                  s.sessionContext, s.contextVersion, s.messageCount, s.totalTokensUsed, s.maxTokens, s.maxMessages,
                  s.expiresAt, s.lastMessageAt, s.closedAt, s.tenantId, s.id])
    }

    func activeSession(tenantId: String, agentId: String, participantProfileId: String, sessionKey: String?) throws
        -> AgentSession? {
        try tenant(tenantId)
        return try one("""
            SELECT * FROM agent_sessions WHERE tenant_id = $1 AND agent_id = $2 AND participant_profile_id = $3
              AND coalesce(session_key, '') = $4 AND status = 'active'
            """, [tenantId, agentId, participantProfileId, sessionKey ?? ""]).map(Self.session)
    }

    func sessions(tenantId: String, participantProfileId: String, agentId: String?, statusActiveOnly: Bool,
                  after: ActivityPosition?, limit: Int) throws -> [AgentSession] {
        try tenant(tenantId)
        return try all("""
            SELECT * FROM agent_sessions WHERE tenant_id = $1 AND participant_profile_id = $2
              AND ($3::text IS NULL OR agent_id = $3::text) AND (NOT $4::boolean OR status = 'active')
              AND ($5::bigint IS NULL OR created_at < $5::bigint OR (created_at = $5::bigint AND id < $6::text))
            ORDER BY created_at DESC, id DESC LIMIT $7
            """, [tenantId, participantProfileId, agentId, statusActiveOnly, after?.activityAt, after?.id, limit])
            .map(Self.session)
    }

    func statusActiveSessions(tenantId: String, agentId: String?) throws -> [AgentSession] {
        try tenant(tenantId)
        return try all("""
            SELECT * FROM agent_sessions WHERE tenant_id = $1 AND status = 'active'
              AND ($2::text IS NULL OR agent_id = $2::text)
            ORDER BY pk
            """, [tenantId, agentId]).map(Self.session)
    }

    func tenantsWithActiveSessions() throws -> [String] {
        // Sorted: a job that then locks several tenants takes their locks in one global order.
        try all("SELECT DISTINCT tenant_id FROM agent_sessions WHERE status = 'active' ORDER BY tenant_id", [])
            .map { try $0.str("tenant_id") }
    }

    func toolCall(tenantId: String, sessionId: String, callId: String) throws -> ToolCallRecord? {
        try tenant(tenantId)
        return try one("SELECT * FROM tool_calls WHERE tenant_id = $1 AND session_id = $2 AND call_id = $3",
                       [tenantId, sessionId, callId]).map {
            ToolCallRecord(tenantId: try $0.str("tenant_id"), sessionId: try $0.str("session_id"),
                           callId: try $0.str("call_id"), toolName: try $0.str("tool_name"),
                           callMessageId: try $0.str("call_message_id"),
                           resultMessageId: try $0.ostr("result_message_id"))
        }
    }

    func insertToolCall(_ c: ToolCallRecord) throws {
        try tenant(c.tenantId)
        try execute("""
            INSERT INTO tool_calls (tenant_id, session_id, call_id, tool_name, call_message_id, result_message_id)
            VALUES ($1, $2, $3, $4, $5, $6::text)
            """, [c.tenantId, c.sessionId, c.callId, c.toolName, c.callMessageId, c.resultMessageId])
    }

    func setToolCallResult(tenantId: String, sessionId: String, callId: String, resultMessageId: String) throws {
        try tenant(tenantId)
        try execute("""
            UPDATE tool_calls SET result_message_id = $1 WHERE tenant_id = $2 AND session_id = $3 AND call_id = $4
            """, [resultMessageId, tenantId, sessionId, callId])
    }

    func turnState(tenantId: String, messageId: String) throws -> TurnState? {
        try tenant(tenantId)
        return try one("SELECT * FROM turn_states WHERE tenant_id = $1 AND message_id = $2", [tenantId, messageId]).map {
            TurnState(tenantId: try $0.str("tenant_id"), messageId: try $0.str("message_id"),
                      outcome: try $0.enumValue("outcome"), continuationId: try $0.ostr("continuation_id"),
                      settledAt: try $0.int("settled_at"))
        }
    }

    func upsertTurnState(_ s: TurnState) throws {
        try tenant(s.tenantId)
        try execute("""
            INSERT INTO turn_states (tenant_id, message_id, outcome, continuation_id, settled_at)
            VALUES ($1, $2, $3, $4::text, $5)
            ON CONFLICT (tenant_id, message_id) DO UPDATE SET outcome = excluded.outcome,
                continuation_id = excluded.continuation_id, settled_at = excluded.settled_at
            """, [s.tenantId, s.messageId, s.outcome.rawValue, s.continuationId, s.settledAt])
    }

    // MARK: Event log

    func nextRoomSeq(tenantId: String, roomId: String) throws -> Int64 {
        try tenant(tenantId)
        guard let seq = try scalar("""
            UPDATE rooms SET last_event_seq = last_event_seq + 1 WHERE tenant_id = $1 AND id = $2
            RETURNING last_event_seq
            """, [tenantId, roomId], Int64.self) else {
            throw PostgresStorageError("event for a missing room \(roomId)")
        }
        return seq
    }

    func nextMessageSeq(tenantId: String, roomId: String, at: Int64) throws -> Int64 {
        try tenant(tenantId)
        guard let seq = try scalar("""
            UPDATE rooms SET last_event_seq = last_event_seq + 1, last_message_at = $3 WHERE tenant_id = $1 AND id = $2
            RETURNING last_event_seq
            """, [tenantId, roomId, at], Int64.self) else {
            throw PostgresStorageError("event for a missing room \(roomId)")
        }
        return seq
    }

    func appendEvent(_ event: RoomEvent) throws -> RoomEvent {
        try tenant(event.tenantId)
        guard let id = try scalar("""
            INSERT INTO room_events (tenant_id, room_id, seq, kind, actor_profile_id, subject_id, created_at, payload)
            VALUES ($1, $2, $3, $4, $5, $6, $7, $8::text) RETURNING event_id
            """, [event.tenantId, event.roomId, event.seq, event.kind.rawValue, event.actorProfileId, event.subjectId,
                  event.createdAt, event.entity.map(PGJSON.encode)], Int64.self) else {
            throw PostgresStorageError("event insert returned no id")
        }
        var stored = event
        stored.eventId = id
        events.append(stored)
        return stored
    }

    func roomEvents(tenantId: String, roomId: String, afterSeq: Int64, limit: Int) throws -> [RoomEvent] {
        try tenant(tenantId)
        return try all("""
            SELECT * FROM room_events WHERE tenant_id = $1 AND room_id = $2 AND seq > $3 ORDER BY seq LIMIT $4
            """, [tenantId, roomId, afterSeq, limit]).map(Self.event)
    }

    func tenantEvents(tenantId: String, afterEventId: Int64, limit: Int) throws -> [RoomEvent] {
        try tenant(tenantId)
        return try all("""
            SELECT * FROM room_events WHERE tenant_id = $1 AND event_id > $2 ORDER BY event_id LIMIT $3
            """, [tenantId, afterEventId, limit]).map(Self.event)
    }

    func oldestRetainedSeq(tenantId: String, roomId: String) throws -> Int64? {
        try tenant(tenantId)
        return try scalar("SELECT min(seq) FROM room_events WHERE tenant_id = $1 AND room_id = $2",
                          [tenantId, roomId], Int64.self)
    }

    func purgedThroughEventId(tenantId: String) throws -> Int64 {
        try tenant(tenantId)
        return try scalar("SELECT purged_through_event_id FROM event_log_state WHERE tenant_id = $1", [tenantId],
                          Int64.self) ?? 0
    }

    func headEventId(tenantId: String) throws -> Int64 {
        try tenant(tenantId)
        return try scalar("SELECT max(event_id) FROM room_events WHERE tenant_id = $1", [tenantId], Int64.self) ?? 0
    }

    func purgeEvents(createdBefore cutoff: Int64) throws -> Int {
        try execute("""
            INSERT INTO event_log_state (tenant_id, purged_through_event_id)
            SELECT tenant_id, max(event_id) FROM room_events WHERE created_at < $1 GROUP BY tenant_id
            ON CONFLICT (tenant_id) DO UPDATE SET purged_through_event_id =
                greatest(event_log_state.purged_through_event_id, excluded.purged_through_event_id)
            """, [cutoff])
        return try changes("DELETE FROM room_events WHERE created_at < $1", [cutoff])
    }

    // MARK: Service credentials and replay window

    private func apiKey(_ row: PGRow) throws -> ApiKey {
        let scopes = try PGJSON.decode([String].self, try row.str("scopes")) ?? []
        return ApiKey(keyId: try row.str("key_id"), secret: try row.bytes("secret"),
                      tenants: try PGJSON.decode([String].self, try row.str("tenants")) ?? [],
                      allTenants: try row.bool("all_tenants"), scopes: Set(scopes.compactMap(Scope.init(rawValue:))),
                      createdAt: try row.int("created_at"), revokedAt: try row.oint("revoked_at"))
    }

    func apiKey(id: String) throws -> ApiKey? {
        try one("SELECT * FROM api_keys WHERE key_id = $1", [id]).map(apiKey)
    }

    func apiKeyIsActive(id: String) throws -> Bool {
        try scalar("SELECT revoked_at IS NULL FROM api_keys WHERE key_id = $1", [id], Bool.self) ?? false
    }

    func insertApiKey(_ k: ApiKey) throws {
        try execute("""
            INSERT INTO api_keys (key_id, secret, tenants, all_tenants, scopes, created_at, revoked_at)
            VALUES ($1, $2, $3, $4, $5, $6, $7::bigint)
            """, [k.keyId, Data(k.secret), PGJSON.encode(k.tenants), k.allTenants,
                  PGJSON.encode(k.scopes.map(\.rawValue).sorted()), k.createdAt, k.revokedAt])
    }

    func apiKeys() throws -> [ApiKey] {
        try all("SELECT * FROM api_keys ORDER BY created_at, key_id", []).map(apiKey)
    }

    func revokeApiKey(id: String, at: Int64) throws -> Bool {
        try changes("UPDATE api_keys SET revoked_at = coalesce(revoked_at, $1) WHERE key_id = $2", [at, id]) > 0
    }

    func replayEntry(keyId: String, requestId: String) throws -> ReplayEntry? {
        if writable {
            // Two instances handling the same (key, request id) at once: the second waits for the first
            // to commit, then finds its stored response (a mutation executes once cluster-wide).
            try execute("SELECT pg_advisory_xact_lock(hashtextextended($1 || chr(10) || $2, 7450))", [keyId, requestId])
        }
        return try one("SELECT * FROM replay_cache WHERE key_id = $1 AND request_id = $2", [keyId, requestId]).map {
            ReplayEntry(keyId: try $0.str("key_id"), requestId: try $0.str("request_id"),
                        frameHash: try $0.bytes("frame_hash"), response: try $0.obytes("response"),
                        createdAt: try $0.int("created_at"))
        }
    }

    func insertReplayEntry(_ e: ReplayEntry) throws -> Bool {
        try changes("""
            INSERT INTO replay_cache (key_id, request_id, frame_hash, response, created_at) VALUES ($1, $2, $3, $4, $5)
            ON CONFLICT (key_id, request_id) DO NOTHING
            """, [e.keyId, e.requestId, Data(e.frameHash), e.response.map { Data($0) }, e.createdAt]) > 0
    }

    func purgeReplayEntries(createdBefore cutoff: Int64) throws -> Int {
        try changes("DELETE FROM replay_cache WHERE created_at < $1", [cutoff])
    }
}
