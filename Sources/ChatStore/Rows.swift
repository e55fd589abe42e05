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
        let raw: String = row[column]
        guard let value = E(rawValue: raw) else {
            throw DatabaseError(resultCode: .SQLITE_CORRUPT, message: "unexpected \(column) '\(raw)'")
        }
        return value
    }

    static func room(_ row: Row) throws -> Room {
        Room(id: row["id"], tenantId: row["tenant_id"], name: row["name"], description: row["description"],
             topic: row["topic"], avatarUrl: row["avatar_url"], roomType: try enumValue(row, "room_type"),
             status: try enumValue(row, "status"), maxParticipants: row["max_participants"],
             metadata: row["metadata"], createdByProfileId: row["created_by_profile_id"],
             createdAt: row["created_at"], updatedAt: row["updated_at"], lastMessageAt: row["last_message_at"],
             lastEventSeq: row["last_event_seq"])
    }

    static func participant(_ row: Row) throws -> Participant {
        Participant(tenantId: row["tenant_id"], roomId: row["room_id"], profileId: row["profile_id"],
                    role: try enumValue(row, "role"), status: try enumValue(row, "status"),
                    onlineStatus: try enumValue(row, "online_status"), lastReadSeq: row["last_read_seq"],
                    lastReadMessageId: row["last_read_message_id"], lastSeenAt: row["last_seen_at"],
                    joinedAt: row["joined_at"], nickname: row["nickname"], isMuted: row["is_muted"],
                    isPinned: row["is_pinned"])
    }

    static func message(_ row: Row) throws -> Message {
        Message(id: row["id"], tenantId: row["tenant_id"], roomId: row["room_id"], threadId: row["thread_id"],
                replyToMessageId: row["reply_to_message_id"], agentSessionId: row["agent_session_id"],
                senderProfileId: row["sender_profile_id"], role: try enumValue(row, "role"),
                messageType: try enumValue(row, "message_type"), content: row["content"],
                attachments: try list(Attachment.self, row["attachments"]), metadata: row["metadata"],
                toolCall: try decode(ToolCallData.self, row["tool_call"]), createdAt: row["created_at"],
                editedAt: row["edited_at"], deletedAt: row["deleted_at"], version: row["version"],
                roomSeq: row["room_seq"], clientRequestId: row["client_request_id"])
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
