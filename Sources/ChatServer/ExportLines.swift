import ChatAPI
import ChatCore
import Foundation
import SwiftProtobuf

/// The NDJSON export format (SPEC §14, docs/export-format.md): a header line, then one line per entity
/// `{"type": …, "data": <the entity's proto3 JSON with the proto's field names>}`. Lines are written here and read
/// back by `smrt-chatd import`.
public enum ExportLines {
    public static let format = "smrt-chat-export"
    public static let version = 1

    private static let encoding: JSONEncodingOptions = {
        var options = JSONEncodingOptions()
        options.preserveProtoFieldNames = true
        return options
    }()

    private static let decoding: JSONDecodingOptions = {
        var options = JSONDecodingOptions()
        options.ignoreUnknownFields = true
        return options
    }()

    /// The first line.
    public static func header(_ record: ExportRecord) -> String {
        var text = JSONText(capacity: 256)
        text.beginObject()
        text.key("type")
        text.string("header")
        text.key("format")
        text.string(format)
        text.key("version")
        text.int(Int64(version))
        text.key("tenant_id")
        text.string(record.tenantId)
        text.key("scope")
        text.string(record.scope.rawValue)
        text.key("subject")
        text.string(record.subject)
        text.key("export_id")
        text.string(record.exportId)
        text.key("created_at")
        text.int(record.createdAt)
        text.endObject()
        return text.text
    }

    /// The line of one entity; a session's derived activity is as at `now` (the export's time).
    public static func line(_ row: ExportRow, now: Int64) throws -> String {
        let kind: ExportKind
        var data: String
        switch row {
        case .room(let room):
            kind = .room
            data = try room.wire.jsonString(options: encoding)
        case .participant(let participant):
            kind = .participant
            data = try participant.wire.jsonString(options: encoding)
        case .thread(let thread):
            kind = .thread
            data = try thread.wire.jsonString(options: encoding)
        case .message(let message, let versions):
            kind = .message
            data = try messageJSON(message) ?? message.wire.jsonString(options: encoding)
            if !versions.isEmpty {
                let list = try versions.map { try $0.wire.jsonString(options: encoding) }.joined(separator: ",")
                data = appending(data, raw: ["versions": "[" + list + "]"])
            }
        case .reaction(let reaction, _):
            kind = .reaction
            data = try reaction.wire.jsonString(options: encoding)
        case .session(let session):
            kind = .session
            data = try session.wire(now: now).jsonString(options: encoding)
        case .toolCall(let call, let callData, let resultData):
            kind = .toolCall
            data = try call.approval.wire.jsonString(options: encoding)
            var extra = JSONText(capacity: 256)
            extra.beginObject()
            extra.key("arguments")
            if let arguments = callData?.arguments { extra.string(arguments) } else { extra.null() }
            extra.key("result")
            if let result = resultData?.result { extra.string(result) } else { extra.null() }
            extra.key("is_error")
            extra.bool(resultData?.isError ?? false)
            extra.key("result_message_id")
            if let id = call.resultMessageId { extra.string(id) } else { extra.null() }
            extra.endObject()
            data = merged(data, extra.text)
        case .turnState(let state):
            kind = .turnState
            var text = JSONText(capacity: 192)
            text.beginObject()
            text.key("message_id")
            text.string(state.messageId)
            text.key("outcome")
            text.string("TURN_OUTCOME_" + state.outcome.rawValue.uppercased())  // the proto enum's name
            text.key("continuation_id")
            if let id = state.continuationId { text.string(id) } else { text.null() }
            text.key("settled_at")
            text.string(String(state.settledAt))
            text.endObject()
            data = text.text
        }
        return #"{"type":""# + kind.rawValue + #"","data":"# + data + "}"
    }

    /// A message's proto3 JSON (the proto's field names, defaults left out, int64 as strings, enums by name) written
    /// directly: the encoder's reflection was a third of an export's time. Messages with attachments or tool data
    /// (nil here) go through the encoder. The round-trip test reads these lines back with SwiftProtobuf.
    static func messageJSON(_ m: ChatCore.Message) -> String? {
        guard m.attachments.isEmpty, m.toolCall == nil else { return nil }
        var out = JSONText(capacity: 320 + m.content.utf8.count + m.metadata.utf8.count)
        func text(_ name: String, _ value: String?) {
            guard let value, !value.isEmpty else { return }
            out.key(name)
            out.string(value)
        }
        func int64(_ name: String, _ value: Int64?, always: Bool = false) {
            guard let value, value != 0 || always else { return }
            out.key(name)
            out.string(String(value))
        }
        out.beginObject()
        text("id", m.id)
        text("tenant_id", m.tenantId)
        text("room_id", m.roomId)
        text("thread_id", m.threadId)
        text("reply_to_message_id", m.replyToMessageId)
        text("agent_session_id", m.agentSessionId)
        text("sender_profile_id", m.senderProfileId)
        text("role", "MESSAGE_ROLE_" + m.role.rawValue.uppercased())
        text("message_type", "MESSAGE_TYPE_" + m.messageType.rawValue.uppercased())
        text("content", m.content)
        text("metadata", m.metadata)
        int64("created_at", m.createdAt)
        int64("edited_at", m.editedAt, always: true)
        int64("deleted_at", m.deletedAt, always: true)
        int64("version", m.version)
        int64("room_seq", m.roomSeq)
        if let stream = m.stream {
            text("stream_state", "STREAM_STATE_" + stream.state.rawValue.uppercased())
            int64("delta_count", stream.deltaCount)
        }
        if m.erasedAt != nil {
            out.key("erased")
            out.bool(true)
        }
        out.endObject()
        return out.text
    }

    /// `object` (a JSON object's text) with the members of `extra` (another object's text) added at its end.
    private static func merged(_ object: String, _ extra: String) -> String {
        guard object.hasSuffix("}"), extra.hasPrefix("{"), extra.count > 2 else { return object }
        let body = object.dropLast()
        return body + (body.hasSuffix("{") ? "" : ",") + extra.dropFirst()
    }

    private static func appending(_ object: String, raw members: [String: String]) -> String {
        var text = "{"
        text += members.map { "\"\($0.key)\":\($0.value)" }.joined(separator: ",")
        return merged(object, text + "}")
    }

    // MARK: Reading

    /// A line that is not an export line of this version.
    public struct FormatError: Error, CustomStringConvertible {
        public let description: String
    }

    /// The header's tenant and scope; refuses another format or version clearly.
    public static func readHeader(_ line: String) throws -> (tenantId: String, scope: String) {
        guard let object = try? JSONSerialization.jsonObject(with: Data(line.utf8)) as? [String: Any],
              object["type"] as? String == "header" else {
            throw FormatError(description: "the first line is not an export header")
        }
        guard object["format"] as? String == format else {
            throw FormatError(description: "not a smrt-chat export (format \(object["format"] ?? "missing"))")
        }
        let found = (object["version"] as? NSNumber)?.intValue ?? -1
        guard found == version else {
            throw FormatError(description: "export format version \(found) is not supported: this smrt-chatd reads version \(version)")
        }
        guard let tenant = object["tenant_id"] as? String, !tenant.isEmpty else {
            throw FormatError(description: "the header names no tenant_id")
        }
        return (tenant, object["scope"] as? String ?? "")
    }

    /// The entity of one line.
    public static func readLine(_ line: String, tenantId: String) throws -> ExportRow {
        guard let object = try? JSONSerialization.jsonObject(with: Data(line.utf8)) as? [String: Any],
              let type = object["type"] as? String, let kind = ExportKind(rawValue: type),
              let data = object["data"] as? [String: Any] else {
            throw FormatError(description: "not an entity line: \(line.prefix(80))")
        }
        let json = String(decoding: try JSONSerialization.data(withJSONObject: data), as: UTF8.self)
        switch kind {
        case .room:
            return .room(try Room(wire: try Smrt_Chat_V1_Room(jsonString: json, options: decoding)))
        case .participant:
            return .participant(try Participant(wire: try Smrt_Chat_V1_Participant(jsonString: json, options: decoding)))
        case .thread:
            return .thread(ChatThread(wire: try Smrt_Chat_V1_Thread(jsonString: json, options: decoding)))
        case .message:
            let message = try ChatCore.Message(wire: try Smrt_Chat_V1_Message(jsonString: json, options: decoding))
            let versions = try (data["versions"] as? [[String: Any]] ?? []).map { v in
                MessageVersion(wire: try Smrt_Chat_V1_MessageVersion(
                    jsonString: String(decoding: try JSONSerialization.data(withJSONObject: v), as: UTF8.self),
                    options: decoding))
            }
            return .message(message, versions)
        case .reaction:
            return .reaction(Reaction(wire: try Smrt_Chat_V1_Reaction(jsonString: json, options: decoding)), position: 0)
        case .session:
            return .session(try AgentSession(wire: try Smrt_Chat_V1_AgentSession(jsonString: json, options: decoding)))
        case .toolCall:
            let approval = try Smrt_Chat_V1_ToolCallApproval(jsonString: json, options: decoding)
            var call = try ToolCallRecord(wire: approval, tenantId: tenantId)
            call.resultMessageId = data["result_message_id"] as? String
            return .toolCall(call, call: nil, result: nil)
        case .turnState:
            guard let messageId = data["message_id"] as? String, let name = data["outcome"] as? String,
                  name.hasPrefix("TURN_OUTCOME_"),
                  let outcome = TurnOutcome(rawValue: name.dropFirst("TURN_OUTCOME_".count).lowercased()),
                  let settled = Int64("\(data["settled_at"] ?? "")") else {
                throw FormatError(description: "a turn_outcome line lacks message_id, outcome or settled_at")
            }
            return .turnState(TurnState(tenantId: tenantId, messageId: messageId, outcome: outcome,
                                        continuationId: data["continuation_id"] as? String, settledAt: settled))
        }
    }
}

// MARK: Wire to domain (import)

extension Room {
    init(wire r: Smrt_Chat_V1_Room) throws {
        self.init(id: r.id, tenantId: r.tenantID, name: r.name, description: r.description_p, topic: r.topic,
                  avatarUrl: r.avatarURL, roomType: try domainEnum(r.roomType, "room_type"),
                  status: try domainEnum(r.status, "status"), maxParticipants: Int(r.maxParticipants), metadata: r.metadata,
                  createdByProfileId: r.createdByProfileID, createdAt: r.createdAt, updatedAt: r.updatedAt,
                  lastMessageAt: r.hasLastMessageAt ? r.lastMessageAt : nil, lastEventSeq: 0)
    }
}

extension Participant {
    init(wire p: Smrt_Chat_V1_Participant) throws {
        self.init(tenantId: p.tenantID, roomId: p.roomID, profileId: p.profileID, role: try domainEnum(p.role, "role"),
                  status: try domainEnum(p.status, "status"), onlineStatus: try domainEnum(p.onlineStatus, "online_status"),
                  lastReadSeq: p.lastReadSeq, lastReadMessageId: p.lastReadMessageID.isEmpty ? nil : p.lastReadMessageID,
                  lastSeenAt: p.hasLastSeenAt ? p.lastSeenAt : nil, joinedAt: p.joinedAt, nickname: p.nickname,
                  isMuted: p.isMuted, isPinned: p.isPinned)
    }
}

extension ChatThread {
    init(wire t: Smrt_Chat_V1_Thread) {
        self.init(id: t.id, tenantId: t.tenantID, roomId: t.roomID, rootMessageId: t.rootMessageID.isEmpty ? nil : t.rootMessageID,
                  title: t.title, startedByProfileId: t.startedByProfileID, isResolved: t.isResolved,
                  resolvedAt: t.hasResolvedAt ? t.resolvedAt : nil, messageCount: t.messageCount,
                  participantCount: t.participantCount, lastMessageAt: t.hasLastMessageAt ? t.lastMessageAt : nil,
                  createdAt: t.createdAt)
    }
}

extension MessageVersion {
    init(wire v: Smrt_Chat_V1_MessageVersion) {
        self.init(messageId: v.messageID, version: v.version, content: v.content, editedAt: v.editedAt)
    }
}

extension ChatCore.Message {
    init(wire m: Smrt_Chat_V1_Message) throws {
        let tool = m.hasToolCall ? ToolCallData(callId: m.toolCall.callID, name: m.toolCall.name,
                                                arguments: m.toolCall.hasArguments ? m.toolCall.arguments : nil,
                                                result: m.toolCall.hasResult ? m.toolCall.result : nil,
                                                isError: m.toolCall.isError) : nil
        // The client request id is kept in the metadata (SPEC §9.2).
        let metadata = (try? JSONSerialization.jsonObject(with: Data(m.metadata.utf8))) as? [String: Any]
        var stream: ReplyStream?
        if m.streamState != .unspecified {
            // A reply that was streaming when exported streams no more: its deltas are not exported.
            let state: StreamState = try domainEnum(m.streamState, "stream_state")
            stream = ReplyStream(state: state == .streaming ? .interrupted : state, deltaCount: m.deltaCount,
                                 finishedAt: m.createdAt)
        }
        self.init(id: m.id, tenantId: m.tenantID, roomId: m.roomID, threadId: m.threadID.isEmpty ? nil : m.threadID,
                  replyToMessageId: m.replyToMessageID.isEmpty ? nil : m.replyToMessageID,
                  agentSessionId: m.agentSessionID.isEmpty ? nil : m.agentSessionID, senderProfileId: m.senderProfileID,
                  role: try domainEnum(m.role, "role"), messageType: try domainEnum(m.messageType, "message_type"),
                  content: m.content, attachments: m.attachments.map(Attachment.init(wire:)), metadata: m.metadata,
                  toolCall: tool, createdAt: m.createdAt, editedAt: m.hasEditedAt ? m.editedAt : nil,
                  deletedAt: m.hasDeletedAt ? m.deletedAt : nil, version: m.version, roomSeq: m.roomSeq,
                  clientRequestId: metadata?["clientRequestId"] as? String, stream: stream,
                  erasedAt: m.erased ? (m.hasDeletedAt ? m.deletedAt : m.createdAt) : nil)
    }
}

extension Reaction {
    init(wire r: Smrt_Chat_V1_Reaction) {
        self.init(tenantId: r.tenantID, roomId: r.roomID, messageId: r.messageID, profileId: r.profileID, emoji: r.emoji,
                  createdAt: r.createdAt)
    }
}

extension AgentSession {
    init(wire s: Smrt_Chat_V1_AgentSession) throws {
        self.init(id: s.id, tenantId: s.tenantID, agentId: s.agentID, agentProfileId: s.agentProfileID,
                  participantProfileId: s.participantProfileID, roomId: s.roomID, status: try domainEnum(s.status, "status"),
                  allowedTools: s.allowedTools, systemPrompt: s.systemPrompt, sessionContext: s.sessionContext,
                  contextVersion: s.contextVersion, sessionKey: s.sessionKey.isEmpty ? nil : s.sessionKey,
                  messageCount: s.messageCount, totalTokensUsed: s.totalTokensUsed, maxTokens: s.maxTokens,
                  maxMessages: s.maxMessages, expiresAt: s.hasExpiresAt ? s.expiresAt : nil,
                  lastMessageAt: s.hasLastMessageAt ? s.lastMessageAt : nil, closedAt: s.hasClosedAt ? s.closedAt : nil,
                  createdAt: s.createdAt,
                  storedInactiveReason: s.status == .active ? nil : try optionalDomainEnum(s.inactiveReason, "inactive_reason"),
                  approvalTools: s.approvalTools,
                  busyPolicy: try optionalDomainEnum(s.busyPolicy, "busy_policy") ?? .enqueue)
    }
}

extension ToolCallRecord {
    init(wire a: Smrt_Chat_V1_ToolCallApproval, tenantId: String) throws {
        self.init(tenantId: tenantId, sessionId: a.sessionID, callId: a.callID, toolName: a.toolName,
                  callMessageId: a.messageID, approvalState: try optionalDomainEnum(a.approvalState, "approval_state"),
                  requestedAt: a.requestedAt, decidedByProfileId: a.hasDecidedByProfileID ? a.decidedByProfileID : nil,
                  decisionReason: a.hasReason ? a.reason : nil, decidedAt: a.hasDecidedAt ? a.decidedAt : nil,
                  claimedAt: a.hasClaimedAt ? a.claimedAt : nil)
    }
}
