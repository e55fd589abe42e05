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
    /// A streamed agent reply's state (nil: the message never streamed).
    public var stream: ReplyStream?
    /// When its author's data was erased (EraseProfile): a tombstone without content, metadata or history.
    public var erasedAt: Int64?

    public init(
        id: String, tenantId: String, roomId: String, threadId: String? = nil, replyToMessageId: String? = nil,
        agentSessionId: String? = nil, senderProfileId: String, role: MessageRole, messageType: MessageType,
        content: String, attachments: [Attachment] = [], metadata: String = "{}", toolCall: ToolCallData? = nil,
        createdAt: Int64, editedAt: Int64? = nil, deletedAt: Int64? = nil, version: Int64 = 1, roomSeq: Int64 = 0,
        clientRequestId: String? = nil, stream: ReplyStream? = nil, erasedAt: Int64? = nil
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
        self.stream = stream
        self.erasedAt = erasedAt
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

/// The stream of a reply begun with BeginAgentReply (SPEC §13.1). While it streams, the message row keeps an
/// empty content: the content is the concatenation of its stored deltas (no row rewrite per delta), and
/// `deltaCount` is read from them; finishing writes both into the row.
public struct ReplyStream: Sendable, Codable, Equatable {
    public var state: StreamState
    public var deltaCount: Int64
    /// When the participant asked it to stop (or a busy session's interrupt did).
    public var stopRequestedAt: Int64?
    /// When it finished (its stored deltas are dropped delta_retention_seconds later).
    public var finishedAt: Int64?

    public init(state: StreamState, deltaCount: Int64 = 0, stopRequestedAt: Int64? = nil, finishedAt: Int64? = nil) {
        self.state = state
        self.deltaCount = deltaCount
        self.stopRequestedAt = stopRequestedAt
        self.finishedAt = finishedAt
    }

    public var isStreaming: Bool { state == .streaming }
}

/// One stored delta of a streamed reply; published live on the reply's stream topic.
public struct ReplyDelta: Sendable, Equatable {
    public var tenantId: String
    public var roomId: String
    public var messageId: String
    public var index: Int64
    public var text: String
    /// UTF-8 byte length of the content after this delta.
    public var contentLength: Int64
    public var createdAt: Int64

    public init(tenantId: String, roomId: String, messageId: String, index: Int64, text: String, contentLength: Int64,
                createdAt: Int64) {
        self.tenantId = tenantId
        self.roomId = roomId
        self.messageId = messageId
        self.index = index
        self.text = text
        self.contentLength = contentLength
        self.createdAt = createdAt
    }

    /// The pub/sub topic of a reply's deltas, outside the room and tenant event topics (SPEC §13.1).
    public static func topic(tenantId: String, roomId: String, messageId: String) -> String {
        "smrt.chat.v1.stream/\(tenantId)/\(roomId)/\(messageId)/"
    }

    public var topic: String { Self.topic(tenantId: tenantId, roomId: roomId, messageId: messageId) }
}
