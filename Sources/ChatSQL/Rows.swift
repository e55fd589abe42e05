import ChatCore
import Foundation

/// Mapping between rows and domain values, once for every engine: per entity its column list (in the
/// order statements select and insert them), the values it inserts and the decoder. Domain types are
/// never records of an ORM: the schema and the domain change independently.
///
/// Adding a column to messages: a migration (`Migrations`), the `Message` field, and here its name in
/// `messageColumns`, its value in `values(_:)` and its read in `message(_:)` (same position in all three).
package enum Rows {
    /// One encoder and decoder for every call: they are immutable once configured and safe to share.
    private static let encoder: JSONEncoder = {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
        return encoder
    }()
    private static let decoder = JSONDecoder()

    static func json<T: Encodable>(_ value: T) -> String {
        // Domain values are plain structs of strings and numbers: encoding them cannot fail.
        String(decoding: (try? encoder.encode(value)) ?? Data("null".utf8), as: UTF8.self)
    }

    /// An event's entity snapshot; a plain message (most events) is written without the encoder.
    static func payload(_ entity: EventEntity) -> String {
        if case .message(let message) = entity, let text = message.eventPayloadJSON { return text }
        return json(entity)
    }

    /// A list (attachments, allowed tools): most are empty, which needs no encoder.
    static func json<E: Encodable>(_ list: [E]) -> String {
        list.isEmpty ? "[]" : String(decoding: (try? encoder.encode(list)) ?? Data("[]".utf8), as: UTF8.self)
    }

    static func decode<T: Decodable>(_ type: T.Type, _ text: String?) throws -> T? {
        guard let text else { return nil }
        return try decoder.decode(T.self, from: Data(text.utf8))
    }

    /// A stored list; "[]" (most rows) skips the decoder.
    static func list<E: Decodable>(_ type: E.Type, _ text: String) throws -> [E] {
        text == "[]" ? [] : try decoder.decode([E].self, from: Data(text.utf8))
    }

    /// `columns` with each name prefixed by `alias.`.
    static func qualified(_ columns: String, _ alias: String) -> String {
        columns.split(separator: ",").map { "\(alias).\($0.trimmingCharacters(in: .whitespaces))" }
            .joined(separator: ", ")
    }

    /// `INSERT INTO table (columns) VALUES (?1, …)`, followed by `suffix`; `buffered`: an engine may write it
    /// at the end of the batch with the other rows of the table (`SQLStatement.Deferral.buffered`).
    static func insert(_ table: String, _ columns: String, _ suffix: String = "", buffered: Bool = false) -> SQLStatement {
        let count = columns.split(separator: ",").count
        let prefix = "INSERT INTO \(table) (\(columns)) VALUES"
        return SQLStatement("\(prefix) (\((1...count).map { "?\($0)" }.joined(separator: ", ")))" + (suffix.isEmpty ? "" : " " + suffix),
                            deferral: buffered ? .buffered(table: table, prefix: prefix, width: count, suffix: suffix) : .none)
    }

    // MARK: Rooms

    static let roomColumns = """
        id, tenant_id, name, description, topic, avatar_url, room_type, status, max_participants, metadata, \
        created_by_profile_id, created_at, updated_at, last_message_at, last_event_seq
        """

    static let roomColumnCount = roomColumns.split(separator: ",").count

    static func values(_ r: Room) -> [any SQLBindable] {
        [r.id, r.tenantId, r.name, r.description, r.topic, r.avatarUrl, r.roomType.rawValue, r.status.rawValue,
         r.maxParticipants, r.metadata, r.createdByProfileId, r.createdAt, r.updatedAt, r.lastMessageAt, r.lastEventSeq]
    }

    static func room(_ r: any SQLRow) throws -> Room {
        Room(id: try r.text(0), tenantId: try r.text(1), name: try r.text(2), description: try r.text(3),
             topic: try r.text(4), avatarUrl: try r.text(5), roomType: try r.enumValue(6, "room_type"),
             status: try r.enumValue(7, "status"), maxParticipants: Int(try r.int(8)), metadata: try r.text(9),
             createdByProfileId: try r.text(10), createdAt: try r.int(11), updatedAt: try r.int(12),
             lastMessageAt: try r.optionalInt(13), lastEventSeq: try r.int(14))
    }

    // MARK: Participants

    static let participantColumns = """
        tenant_id, room_id, profile_id, role, status, online_status, last_read_seq, last_read_message_id, \
        last_seen_at, joined_at, nickname, is_muted, is_pinned
        """

    static func values(_ p: Participant) -> [any SQLBindable] {
        [p.tenantId, p.roomId, p.profileId, p.role.rawValue, p.status.rawValue, p.onlineStatus.rawValue,
         p.lastReadSeq, p.lastReadMessageId, p.lastSeenAt, p.joinedAt, p.nickname, p.isMuted, p.isPinned]
    }

    static func participant(_ r: any SQLRow) throws -> Participant {
        Participant(tenantId: try r.text(0), roomId: try r.text(1), profileId: try r.text(2),
                    role: try r.enumValue(3, "role"), status: try r.enumValue(4, "status"),
                    onlineStatus: try r.enumValue(5, "online_status"), lastReadSeq: try r.int(6),
                    lastReadMessageId: try r.optionalText(7), lastSeenAt: try r.optionalInt(8),
                    joinedAt: try r.int(9), nickname: try r.text(10), isMuted: try r.bool(11), isPinned: try r.bool(12))
    }

    // MARK: Messages

    static let messageColumns = """
        id, tenant_id, room_id, thread_id, reply_to_message_id, agent_session_id, sender_profile_id, role, \
        message_type, content, attachments, metadata, tool_call, created_at, edited_at, deleted_at, version, \
        room_seq, client_request_id, stream_state, delta_count, stream_stop_at, stream_finished_at, erased_at
        """

    static func values(_ m: Message) -> [any SQLBindable] {
        [m.id, m.tenantId, m.roomId, m.threadId, m.replyToMessageId, m.agentSessionId, m.senderProfileId,
         m.role.rawValue, m.messageType.rawValue, m.content, json(m.attachments), m.metadata, m.toolCall.map(json),
         m.createdAt, m.editedAt, m.deletedAt, m.version, m.roomSeq, m.clientRequestId, m.stream?.state.rawValue,
         m.stream?.deltaCount ?? 0, m.stream?.stopRequestedAt, m.stream?.finishedAt, m.erasedAt]
    }

    static func message(_ r: any SQLRow) throws -> Message {
        Message(id: try r.text(0), tenantId: try r.text(1), roomId: try r.text(2), threadId: try r.optionalText(3),
                replyToMessageId: try r.optionalText(4), agentSessionId: try r.optionalText(5),
                senderProfileId: try r.text(6), role: try r.enumValue(7, "role"),
                messageType: try r.enumValue(8, "message_type"), content: try r.text(9),
                attachments: try list(Attachment.self, try r.text(10)), metadata: try r.text(11),
                toolCall: try decode(ToolCallData.self, try r.optionalText(12)), createdAt: try r.int(13),
                editedAt: try r.optionalInt(14), deletedAt: try r.optionalInt(15), version: try r.int(16),
                roomSeq: try r.int(17), clientRequestId: try r.optionalText(18),
                stream: try r.optionalText(19).map { state in
                    ReplyStream(state: try enumValue(StreamState.self, state, "stream_state"), deltaCount: try r.int(20),
                                stopRequestedAt: try r.optionalInt(21), finishedAt: try r.optionalInt(22))
                }, erasedAt: try r.optionalInt(23))
    }

    private static func enumValue<E: RawRepresentable>(_ type: E.Type, _ text: String, _ column: String) throws -> E
        where E.RawValue == String {
        guard let value = E(rawValue: text) else { throw StorageCorruption("unexpected \(column) '\(text)'") }
        return value
    }

    static let deltaColumns = "tenant_id, message_id, idx, text, content_length, created_at"

    /// A delta selected as `deltaColumns`, of a message of `roomId`.
    static func delta(_ r: any SQLRow, roomId: String) throws -> ReplyDelta {
        ReplyDelta(tenantId: try r.text(0), roomId: roomId, messageId: try r.text(1), index: try r.int(2),
                   text: try r.text(3), contentLength: try r.int(4), createdAt: try r.int(5))
    }

    static let versionColumns = "message_id, version, content, edited_at"

    static func version(_ r: any SQLRow) throws -> MessageVersion {
        MessageVersion(messageId: try r.text(0), version: try r.int(1), content: try r.text(2), editedAt: try r.int(3))
    }

    // MARK: Threads

    static let threadColumns = """
        id, tenant_id, room_id, root_message_id, title, started_by_profile_id, is_resolved, resolved_at, \
        message_count, participant_count, last_message_at, created_at
        """

    static func values(_ t: ChatThread) -> [any SQLBindable] {
        [t.id, t.tenantId, t.roomId, t.rootMessageId, t.title, t.startedByProfileId, t.isResolved, t.resolvedAt,
         t.messageCount, t.participantCount, t.lastMessageAt, t.createdAt]
    }

    static func thread(_ r: any SQLRow) throws -> ChatThread {
        ChatThread(id: try r.text(0), tenantId: try r.text(1), roomId: try r.text(2), rootMessageId: try r.optionalText(3),
                   title: try r.text(4), startedByProfileId: try r.text(5), isResolved: try r.bool(6),
                   resolvedAt: try r.optionalInt(7), messageCount: try r.int(8), participantCount: try r.int(9),
                   lastMessageAt: try r.optionalInt(10), createdAt: try r.int(11))
    }

    // MARK: Reactions

    static let reactionColumns = "tenant_id, room_id, message_id, profile_id, emoji, created_at"

    static func values(_ r: Reaction) -> [any SQLBindable] {
        [r.tenantId, r.roomId, r.messageId, r.profileId, r.emoji, r.createdAt]
    }

    static func reaction(_ r: any SQLRow) throws -> Reaction {
        Reaction(tenantId: try r.text(0), roomId: try r.text(1), messageId: try r.text(2), profileId: try r.text(3),
                 emoji: try r.text(4), createdAt: try r.int(5))
    }

    // MARK: Agent sessions

    static let sessionColumns = """
        id, tenant_id, agent_id, agent_profile_id, participant_profile_id, room_id, status, inactive_reason, \
        allowed_tools, system_prompt, session_context, context_version, session_key, message_count, \
        total_tokens_used, max_tokens, max_messages, expires_at, last_message_at, closed_at, created_at, \
        approval_tools, busy_policy
        """

    static func values(_ s: AgentSession) -> [any SQLBindable] {
        [s.id, s.tenantId, s.agentId, s.agentProfileId, s.participantProfileId, s.roomId, s.status.rawValue,
         s.storedInactiveReason?.rawValue, json(s.allowedTools), s.systemPrompt, s.sessionContext, s.contextVersion,
         s.sessionKey, s.messageCount, s.totalTokensUsed, s.maxTokens, s.maxMessages, s.expiresAt, s.lastMessageAt,
         s.closedAt, s.createdAt, json(s.approvalTools), s.busyPolicy.rawValue]
    }

    static func session(_ r: any SQLRow) throws -> AgentSession {
        AgentSession(
            id: try r.text(0), tenantId: try r.text(1), agentId: try r.text(2), agentProfileId: try r.text(3),
            participantProfileId: try r.text(4), roomId: try r.text(5), status: try r.enumValue(6, "status"),
            allowedTools: try list(String.self, try r.text(8)), systemPrompt: try r.text(9),
            sessionContext: try r.text(10), contextVersion: try r.int(11), sessionKey: try r.optionalText(12),
            messageCount: try r.int(13), totalTokensUsed: try r.int(14), maxTokens: try r.int(15),
            maxMessages: try r.int(16), expiresAt: try r.optionalInt(17), lastMessageAt: try r.optionalInt(18),
            closedAt: try r.optionalInt(19), createdAt: try r.int(20),
            storedInactiveReason: try r.optionalText(7).flatMap(InactiveReason.init(rawValue:)),
            approvalTools: try list(String.self, try r.text(21)), busyPolicy: try r.enumValue(22, "busy_policy"))
    }

    static let toolCallColumns = """
        tenant_id, session_id, call_id, tool_name, call_message_id, result_message_id, approval_state, requested_at, \
        decided_by_profile_id, decision_reason, decided_at, claimed_at
        """

    static func values(_ c: ToolCallRecord) -> [any SQLBindable] {
        [c.tenantId, c.sessionId, c.callId, c.toolName, c.callMessageId, c.resultMessageId, c.approvalState?.rawValue,
         c.requestedAt, c.decidedByProfileId, c.decisionReason, c.decidedAt, c.claimedAt]
    }

    static func toolCall(_ r: any SQLRow) throws -> ToolCallRecord {
        ToolCallRecord(tenantId: try r.text(0), sessionId: try r.text(1), callId: try r.text(2), toolName: try r.text(3),
                       callMessageId: try r.text(4), resultMessageId: try r.optionalText(5),
                       approvalState: try r.optionalText(6).map { try enumValue(ApprovalState.self, $0, "approval_state") },
                       requestedAt: try r.int(7), decidedByProfileId: try r.optionalText(8),
                       decisionReason: try r.optionalText(9), decidedAt: try r.optionalInt(10), claimedAt: try r.optionalInt(11))
    }

    static let turnStateColumns = "tenant_id, message_id, outcome, continuation_id, settled_at"

    static func values(_ s: TurnState) -> [any SQLBindable] {
        [s.tenantId, s.messageId, s.outcome.rawValue, s.continuationId, s.settledAt]
    }

    static func turnState(_ r: any SQLRow) throws -> TurnState {
        TurnState(tenantId: try r.text(0), messageId: try r.text(1), outcome: try r.enumValue(2, "outcome"),
                  continuationId: try r.optionalText(3), settledAt: try r.int(4))
    }

    // MARK: Events

    /// Inserted without `event_id` (the engine assigns it); selected with it last.
    package static let eventColumns = "tenant_id, room_id, seq, kind, actor_profile_id, subject_id, created_at, payload"

    static func values(_ e: RoomEvent) -> [any SQLBindable] {
        [e.tenantId, e.roomId, e.seq, e.kind.rawValue, e.actorProfileId, e.subjectId, e.createdAt, e.entity.map(payload)]
    }

    static func event(_ r: any SQLRow) throws -> RoomEvent {
        RoomEvent(tenantId: try r.text(0), roomId: try r.text(1), seq: try r.int(2), eventId: try r.int(8),
                  kind: try r.enumValue(3, "kind"), actorProfileId: try r.text(4), subjectId: try r.text(5),
                  createdAt: try r.int(6), entity: try decode(EventEntity.self, try r.optionalText(7)))
    }

    // MARK: Credentials and the replay window

    static let apiKeyColumns = "key_id, secret, tenants, all_tenants, scopes, created_at, revoked_at"

    static func values(_ k: ApiKey) -> [any SQLBindable] {
        [k.keyId, k.secret, json(k.tenants), k.allTenants, json(k.scopes.map(\.rawValue).sorted()), k.createdAt, k.revokedAt]
    }

    static func apiKey(_ r: any SQLRow) throws -> ApiKey {
        ApiKey(keyId: try r.text(0), secret: try r.blob(1), tenants: try list(String.self, try r.text(2)),
               allTenants: try r.bool(3), scopes: Set(try list(String.self, try r.text(4)).compactMap(Scope.init(rawValue:))),
               createdAt: try r.int(5), revokedAt: try r.optionalInt(6))
    }

    static let auditColumns = "at, actor, action, tenant_id, subject, outcome, detail"

    static func values(_ e: AuditEntry) -> [any SQLBindable] {
        [e.at, e.actor, e.action.rawValue, e.tenantId, e.subject, e.outcome.rawValue, e.detail]
    }

    /// An audit line selected as `id, auditColumns`.
    static func auditEntry(_ r: any SQLRow) throws -> AuditEntry {
        AuditEntry(id: try r.int(0), at: try r.int(1), actor: try r.text(2), action: try r.enumValue(3, "action"),
                   tenantId: try r.optionalText(4), subject: try r.optionalText(5), outcome: try r.enumValue(6, "outcome"),
                   detail: try r.text(7))
    }

    static let replayColumns = "key_id, request_id, frame_hash, response, created_at"
    static let replayColumnCount = 5

    /// Inserted with whose call it answered (not selected: only erasure reads them).
    static let replayInsertColumns = replayColumns + ", tenant_id, actor_profile_id"

    static func values(_ e: ReplayEntry) -> [any SQLBindable] {
        [e.keyId, e.requestId, e.frameHash, e.response, e.createdAt, e.tenantId, e.actorProfileId]
    }

    static func replayEntry(_ r: any SQLRow) throws -> ReplayEntry {
        ReplayEntry(keyId: try r.text(0), requestId: try r.text(1), frameHash: try r.blob(2),
                    response: try r.optionalBlob(3), createdAt: try r.int(4))
    }
}
