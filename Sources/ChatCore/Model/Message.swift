/// A file or link attached to a message.
public struct Attachment: Sendable, Codable, Equatable {
    public var id: String
    public var filename: String
    public var contentType: String
    public var size: Int64
    public var url: String?

    public init(id: String, filename: String, contentType: String, size: Int64, url: String? = nil) {
        self.id = id
        self.filename = filename
        self.contentType = contentType
        self.size = size
        self.url = url
    }
}

/// Tool data of a `tool_call` or `tool_result` message.
public struct ToolCallData: Sendable, Codable, Equatable {
    public var callId: String
    public var name: String
    /// JSON text of the call's arguments (tool_call).
    public var arguments: String?
    /// JSON text of the result (tool_result).
    public var result: String?
    public var isError: Bool

    public init(callId: String, name: String, arguments: String? = nil, result: String? = nil, isError: Bool = false) {
        self.callId = callId
        self.name = name
        self.arguments = arguments
        self.result = result
        self.isError = isError
    }
}

/// A chat message (SPEC §3).
public struct Message: Sendable, Codable, Equatable {
    public var id: String
    public var tenantId: String
    public var roomId: String
    public var threadId: String?
    public var replyToMessageId: String?
    public var agentSessionId: String?
    public var senderProfileId: String
    public var role: MessageRole
    public var messageType: MessageType
    public var content: String
    public var attachments: [Attachment]
    /// A JSON object, as text; holds `clientRequestId` when sent with one.
    public var metadata: String
    public var toolCall: ToolCallData?
    public var createdAt: Int64
    public var editedAt: Int64?
    public var deletedAt: Int64?
    /// 1 + number of edits.
    public var version: Int64
    /// The room event sequence at which the message was created; orders a room's messages.
    public var roomSeq: Int64
    /// The client request id it was sent with, if any (also inside `metadata`).
    public var clientRequestId: String?

    public init(
        id: String, tenantId: String, roomId: String, threadId: String? = nil, replyToMessageId: String? = nil,
        agentSessionId: String? = nil, senderProfileId: String, role: MessageRole, messageType: MessageType,
        content: String, attachments: [Attachment] = [], metadata: String = "{}", toolCall: ToolCallData? = nil,
        createdAt: Int64, editedAt: Int64? = nil, deletedAt: Int64? = nil, version: Int64 = 1, roomSeq: Int64 = 0,
        clientRequestId: String? = nil
    ) {
        self.id = id
        self.tenantId = tenantId
        self.roomId = roomId
        self.threadId = threadId
        self.replyToMessageId = replyToMessageId
        self.agentSessionId = agentSessionId
        self.senderProfileId = senderProfileId
        self.role = role
        self.messageType = messageType
        self.content = content
        self.attachments = attachments
        self.metadata = metadata
        self.toolCall = toolCall
        self.createdAt = createdAt
        self.editedAt = editedAt
        self.deletedAt = deletedAt
        self.version = version
        self.roomSeq = roomSeq
        self.clientRequestId = clientRequestId
    }

    /// Whether the message is a soft-deleted tombstone.
    public var isDeleted: Bool { deletedAt != nil }
}

/// One entry of a message's edit history.
public struct MessageVersion: Sendable, Codable, Equatable {
    public var messageId: String
    public var version: Int64
    public var content: String
    /// When this text was replaced (for the current version: when it was written).
    public var editedAt: Int64

    public init(messageId: String, version: Int64, content: String, editedAt: Int64) {
        self.messageId = messageId
        self.version = version
        self.content = content
        self.editedAt = editedAt
    }
}
