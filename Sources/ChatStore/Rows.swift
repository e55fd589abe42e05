import ChatCore
import Foundation
import GRDB

/// Mapping between rows and domain values. Domain types are never GRDB records: the schema and the
/// domain change independently, and the same domain values come out of every engine.
enum Rows {
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
    static func list<E: Decodable>(_ type: E.Type, _ text: String?) throws -> [E] {
        guard let text, text != "[]" else { return [] }
        return try decoder.decode([E].self, from: Data(text.utf8))
    }

    static func enumValue<E: RawRepresentable>(_ row: Row, _ column: String) throws -> E where E.RawValue == String {
        try enumValue(row[column], column)
    }

    static func enumValue<E: RawRepresentable>(_ raw: String, _ column: String) throws -> E where E.RawValue == String {
        guard let value = E(rawValue: raw) else {
            throw DatabaseError(resultCode: .SQLITE_CORRUPT, message: "unexpected \(column) '\(raw)'")
        }
        return value
    }

    // The hot rows (rooms, participants, messages) are selected with explicit column lists and read by
    // position: GRDB's lookup by name lower-cases the name on every access.

    /// `columns` with each name prefixed by `alias.`.
    static func qualified(_ columns: String, _ alias: String) -> String {
        columns.split(separator: ",").map { "\(alias).\($0.trimmingCharacters(in: .whitespaces))" }
            .joined(separator: ", ")
    }

    static let roomColumns = """
        id, tenant_id, name, description, topic, avatar_url, room_type, status, max_participants, metadata, \
        created_by_profile_id, created_at, updated_at, last_message_at, last_event_seq
        """
    static let roomColumnsR = qualified(roomColumns, "r")

    static func room(_ row: Row) throws -> Room {
        Room(id: row[0], tenantId: row[1], name: row[2], description: row[3], topic: row[4], avatarUrl: row[5],
             roomType: try enumValue(row[6], "room_type"), status: try enumValue(row[7], "status"),
             maxParticipants: row[8], metadata: row[9], createdByProfileId: row[10], createdAt: row[11],
             updatedAt: row[12], lastMessageAt: row[13], lastEventSeq: row[14])
    }

    static let participantColumns = """
        tenant_id, room_id, profile_id, role, status, online_status, last_read_seq, last_read_message_id, \
        last_seen_at, joined_at, nickname, is_muted, is_pinned
        """
    static let participantColumnsP = qualified(participantColumns, "p")

    static func participant(_ row: Row) throws -> Participant {
        Participant(tenantId: row[0], roomId: row[1], profileId: row[2], role: try enumValue(row[3], "role"),
                    status: try enumValue(row[4], "status"), onlineStatus: try enumValue(row[5], "online_status"),
                    lastReadSeq: row[6], lastReadMessageId: row[7], lastSeenAt: row[8], joinedAt: row[9],
                    nickname: row[10], isMuted: row[11], isPinned: row[12])
    }

    static let messageColumns = """
        id, tenant_id, room_id, thread_id, reply_to_message_id, agent_session_id, sender_profile_id, role, \
        message_type, content, attachments, metadata, tool_call, created_at, edited_at, deleted_at, version, \
        room_seq, client_request_id
        """
    static let messageColumnsM = qualified(messageColumns, "m")

    static func message(_ row: Row) throws -> Message {
        Message(id: row[0], tenantId: row[1], roomId: row[2], threadId: row[3], replyToMessageId: row[4],
                agentSessionId: row[5], senderProfileId: row[6], role: try enumValue(row[7], "role"),
                messageType: try enumValue(row[8], "message_type"), content: row[9],
                attachments: try list(Attachment.self, row[10]), metadata: row[11],
                toolCall: try decode(ToolCallData.self, row[12]), createdAt: row[13], editedAt: row[14],
                deletedAt: row[15], version: row[16], roomSeq: row[17], clientRequestId: row[18])
    }

    static func thread(_ row: Row) throws -> ChatThread {
        ChatThread(id: row["id"], tenantId: row["tenant_id"], roomId: row["room_id"],
                   rootMessageId: row["root_message_id"], title: row["title"],
                   startedByProfileId: row["started_by_profile_id"], isResolved: row["is_resolved"],
                   resolvedAt: row["resolved_at"], messageCount: row["message_count"],
                   participantCount: row["participant_count"], lastMessageAt: row["last_message_at"],
                   createdAt: row["created_at"])
    }

    static func session(_ row: Row) throws -> AgentSession {
        let reason: String? = row["inactive_reason"]
        return AgentSession(
            id: row["id"], tenantId: row["tenant_id"], agentId: row["agent_id"],
            agentProfileId: row["agent_profile_id"], participantProfileId: row["participant_profile_id"],
            roomId: row["room_id"], status: try enumValue(row, "status"),
            allowedTools: try list(String.self, row["allowed_tools"]), systemPrompt: row["system_prompt"],
            sessionContext: row["session_context"], contextVersion: row["context_version"],
            sessionKey: row["session_key"], messageCount: row["message_count"],
            totalTokensUsed: row["total_tokens_used"], maxTokens: row["max_tokens"], maxMessages: row["max_messages"],
            expiresAt: row["expires_at"], lastMessageAt: row["last_message_at"], closedAt: row["closed_at"],
            createdAt: row["created_at"], storedInactiveReason: reason.flatMap(InactiveReason.init(rawValue:)))
    }

    static func event(_ row: Row) throws -> RoomEvent {
        RoomEvent(tenantId: row["tenant_id"], roomId: row["room_id"], seq: row["seq"], eventId: row["event_id"],
                  kind: try enumValue(row, "kind"), actorProfileId: row["actor_profile_id"],
                  subjectId: row["subject_id"], createdAt: row["created_at"],
                  entity: try decode(EventEntity.self, row["payload"]))
    }
}
